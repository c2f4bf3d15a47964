/**
 * TF-M 2.3.1's RSE OTP map (`platform/ext/target/arm/rse/common/rse_otp_layout.h` with the
 * default sub-platform configuration `rse_otp_config.h`, and the LCM's own header from
 * `drivers/lcm/lcm_otp_layout.h`), laid out from its C structs: the header (LCM hardware area,
 * the area-info words with their zero counts for the CM, BL1_2, DM, dynamic and SoC areas, the
 * KRTL usage and lifetime counters, device status, the DMA ICS), the CM area (policies, TRNG and
 * entropy configuration, the Chip Output Data CMAC and RAK public key, four CM ROTPK arrays), the
 * BL1_2 area, the DM area (eight DM ROTPK arrays), the dynamic area (re-provisioning and ROTPK
 * revocation counters, security-version counters) and the SoC area (unique id, family id, IEEE
 * ECID). Field names are the struct paths TF-M's `create_otp_layout_specification.py` prints.
 * The behaviour of this map (integrity, revocation, provisioning) belongs to the `rse-2.3`
 * profile; this file is its data.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { LCM_OTP, OTP_SIZE, type OtpArea, type OtpField, type OtpKind, type OtpLayout } from './otp-layout.ts';

/** `COUNTER_BYTES(max)`: a bit-field counter of `max` steps, rounded up to whole words. */
const counterBytes = (max: number): number => Math.ceil(Math.ceil(max / 8) / 4) * 4;

/** The default sub-platform configuration (`rse_otp_config.h`, TC4 defaults). */
export const RSE_2_3_OTP_CONFIG = {
  cmRotpkAreas: 4,
  cmRotpksPerArea: 4,
  dmRotpkAreas: 8,
  dmRotpksPerArea: 3,
  /** max(BL1_2, MCUboot and DM-sign-key ROTPK hash sizes): all SHA-256. */
  rotpkSize: 32,
  bl1_2HashSize: 48,
  bl1_2MaxSize: 0x2000,
  dmaIcsSize: 0x108,
  krtlUsageMax: 64,
  lifetimeMax: 512,
  reprovisioningMax: 32,
  revocationMax: 32,
  securityVersionBanks: 1,
  securityVersionCounters: 8,
  securityVersionMax: 256,
  socCfgReserved: 0x12d4,
  /** The dynamic area's size in the header's area info (the region struct itself is smaller). */
  dynamicAreaSize: 0x43c,
} as const;

class Builder {
  readonly fields: OtpField[] = [];
  at = 0;
  field(name: string, size: number, area: OtpArea, kind: OtpKind, doc: string): this {
    this.fields.push({ name, offset: this.at, size, area, kind, doc });
    this.at += size;
    return this;
  }
  /** Skips what the spec table does not list as a field (the BL1_2 image bytes, area padding). */
  skip(size: number): this {
    this.at += size;
    return this;
  }
}

/** `areas` ROTPK arrays of an area: zero count, policy word, `perArea` key hashes each. */
function rotpkArrays(b: Builder, who: 'cm' | 'dm', areas: number, perArea: number): void {
  const area: OtpArea = who === 'cm' ? 'cm-locked' : 'dm-locked';
  const name = who.toUpperCase();
  for (let a = 0; a < areas; a++) {
    b.field(`${who}.rotpk_areas_${a}.zero_count`, 4, 'integrity', 'u32', `zero count of ${name} ROTPK array ${a}`);
    b.field(`${who}.rotpk_areas_${a}.${who}_rotpk_policies`, 4, area, 'config', `policies of ${name} ROTPK array ${a}`);
    for (let k = 0; k < perArea; k++)
      b.field(
        `${who}.rotpk_areas_${a}.rotpk_${k}`,
        RSE_2_3_OTP_CONFIG.rotpkSize,
        area,
        'hash',
        `${name} ROTPK ${k} of array ${a} (hash of the key)`,
      );
  }
}

function rse23(): OtpField[] {
  const c = RSE_2_3_OTP_CONFIG;
  const b = new Builder();
  const lcm = (name: keyof typeof LCM_OTP, size: number, kind: OtpKind, doc: string): void => {
    b.at = LCM_OTP[name];
    b.field(`header.lcm_hardware_area.${name}`, size, 'lcm', kind, doc);
  };
  lcm('huk', 32, 'key', 'hardware unique key');
  lcm('guk', 32, 'key', 'group unique key');
  lcm('kp_cm', 32, 'key', 'CM provisioning key slot');
  lcm('kce_cm', 32, 'key', 'CM code-encryption key');
  lcm('kp_dm', 32, 'key', 'DM provisioning key slot');
  lcm('kce_dm', 32, 'key', 'DM code-encryption key');
  lcm('rotpk', 32, 'hash', 'LCM ROTPK slot (hardware zero count in cm_config_2)');
  lcm('tp_mode_config', 4, 'config', 'TP mode: 0 Virgin, 0x0000FFFF TCI, 0xFFFF0000 PCI');
  lcm('cm_config_1', 4, 'config', 'written at CM to DM');
  lcm('cm_config_2', 4, 'config', 'ROTPK zero count, GPPC');
  lcm('dm_config', 4, 'config', 'written at DM to SE');
  lcm('cm_rma_flag', 4, 'config', 'all ones once the device entered RMA');
  lcm('dm_rma_flag', 4, 'config', 'all ones once the device entered RMA');
  b.at = LCM_OTP.user_data;
  for (const area of ['cm', 'bl1_2', 'dm', 'dynamic', 'soc'] as const) {
    b.field(`header.${area}_area_info.offset`, 2, 'integrity', 'u32', `OTP offset of the ${area} area`);
    b.field(`header.${area}_area_info.size`, 2, 'integrity', 'u32', `size of the ${area} area`);
    b.field(`header.${area}_area_info_zero_count`, 4, 'integrity', 'u32', `zero count of the ${area} area info`);
  }
  b.field('header.krtl_usage_counter', counterBytes(c.krtlUsageMax), 'unlocked', 'counter', 'how often the RTL key was used');
  b.field('header.lft_counter', counterBytes(c.lifetimeMax), 'unlocked', 'counter', 'lifetime counter (re-provisioning cycles)');
  b.field('header.device_status', 4, 'unlocked', 'u32', 'device status word');
  b.field('header.dma_ics_size', 4, 'ics', 'u32', 'size of the OTP DMA initial command sequence');
  b.field('header.dma_ics', c.dmaIcsSize, 'ics', 'bytes', 'OTP part of the DMA initial command sequence');
  // CM area.
  b.field('cm.zero_count', 4, 'integrity', 'u32', 'zero count of the CM area');
  b.field('cm.provisioning_blob_version', 4, 'cm-locked', 'u32', 'version of the CM provisioning blob');
  b.field('cm.cm_policies', 4, 'cm-locked', 'config', 'CM policies');
  b.field('cm.cca_system_properties', 4, 'cm-locked', 'u32', 'CCA system properties (attestation claim)');
  b.field('cm.cc_trng_config.trng_rosc_sc', 16, 'cm-locked', 'config', 'TRNG ring-oscillator sample counts');
  b.field('cm.cc_trng_config.trng_in_use', 1, 'cm-locked', 'config', 'which TRNG ring oscillator is in use');
  b.field('cm.cc_trng_config.padding', 3, 'cm-locked', 'bytes', 'padding');
  b.field('cm.entropy_config.high_threshold', 4, 'cm-locked', 'config', 'entropy health test: high threshold');
  b.field('cm.entropy_config.repetition_count', 4, 'cm-locked', 'config', 'entropy health test: repetition count');
  b.field('cm.cod.cod_cmac', 16, 'cm-locked', 'bytes', 'CMAC of the Chip Output Data');
  b.field('cm.cod.rak_pub', 96, 'cm-locked', 'ec-point', 'RSE attestation key public part (raw P-384 X‖Y)');
  b.field('cm.reserved', 4, 'cm-locked', 'bytes', 'reserved');
  rotpkArrays(b, 'cm', c.cmRotpkAreas, c.cmRotpksPerArea);
  // BL1_2 area.
  b.field('bl1_2.zero_count', 4, 'integrity', 'u32', 'zero count of the BL1_2 area');
  b.field('bl1_2.bl1_2_size', 4, 'bl1_2', 'u32', 'size of the BL1_2 image');
  b.field('bl1_2.version', 4, 'bl1_2', 'u32', 'BL1_2 version');
  b.field('bl1_2.bl1_2_hash', c.bl1_2HashSize, 'bl1_2', 'hash', 'hash of the BL1_2 image');
  b.skip(c.bl1_2MaxSize);
  // DM area.
  b.field('dm.zero_count', 4, 'integrity', 'u32', 'zero count of the DM area');
  b.field('dm.provisioning_blob_version', 4, 'dm-locked', 'u32', 'version of the DM provisioning blob');
  b.field('dm.dm_policies', 4, 'dm-locked', 'config', 'DM policies');
  rotpkArrays(b, 'dm', c.dmRotpkAreas, c.dmRotpksPerArea);
  // Dynamic area.
  const dynamic = b.at;
  b.field('dynamic.cm_reprovisioning', counterBytes(c.reprovisioningMax), 'unlocked', 'counter', 'CM re-provisioning counter');
  b.field('dynamic.cm_rotpk_revocation', counterBytes(c.revocationMax), 'unlocked', 'counter', 'CM ROTPK revocation counter');
  b.field('dynamic.dm_rotpk_revocation', counterBytes(c.revocationMax), 'unlocked', 'counter', 'DM ROTPK revocation counter');
  for (let bank = 0; bank < c.securityVersionBanks; bank++)
    for (let i = 0; i < c.securityVersionCounters; i++)
      b.field(
        `dynamic.security_version_counters_bank_${bank}_${i}`,
        counterBytes(c.securityVersionMax),
        'unlocked',
        'counter',
        `security-version (NV) counter ${i} of bank ${bank}`,
      );
  b.at = dynamic + c.dynamicAreaSize;
  // SoC area.
  b.field('soc.soc_id_area.zero_count_unique_id', 4, 'integrity', 'u32', 'zero count of the SoC unique id');
  b.field('soc.soc_id_area.unique_id', 12, 'soc', 'bytes', 'SoC unique id (personalised blobs are bound to it)');
  b.field('soc.soc_id_area.zero_count_id', 4, 'integrity', 'u32', 'zero count of the family id and IEEE ECID');
  b.field('soc.soc_id_area.family_id', 4, 'soc', 'u32', 'SoC family id');
  b.field('soc.soc_id_area.ieee_ecid', 16, 'soc', 'bytes', 'IEEE electronic chip id');
  b.field('soc.soc_cfg_area.soc_cfg_data_zc', 4, 'integrity', 'u32', 'zero count of the SoC configuration data');
  b.field('soc.soc_cfg_area.soc_cfg_data_size', 4, 'soc', 'u32', 'size of the SoC configuration data');
  b.field('soc.soc_cfg_area.reserved', c.socCfgReserved, 'soc', 'bytes', 'SoC configuration data');
  if (b.at > OTP_SIZE) throw new RseError('E_CONFIG', `the rse-2.3 OTP map ends at 0x${b.at.toString(16)}, past the OTP`, { field: 'otp' });
  return b.fields;
}

/** The fields of TF-M 2.3.1's RSE OTP, in offset order. */
export const OTP_RSE_2_3_FIELDS: readonly OtpField[] = rse23();

const field = (name: string): OtpField => OTP_RSE_2_3_FIELDS.find((f) => f.name === name) as OtpField;

/** Where each area of the 2.3 OTP starts and how big its area info says it is (`set_cm_offsets_automatically`). */
export const RSE_2_3_AREAS = {
  cm: { offset: field('cm.zero_count').offset, size: field('bl1_2.zero_count').offset - field('cm.zero_count').offset },
  bl1_2: { offset: field('bl1_2.zero_count').offset, size: field('dm.zero_count').offset - field('bl1_2.zero_count').offset },
  dm: {
    offset: field('dm.zero_count').offset,
    size: field('dynamic.cm_reprovisioning').offset - field('dm.zero_count').offset,
  },
  dynamic: { offset: field('dynamic.cm_reprovisioning').offset, size: RSE_2_3_OTP_CONFIG.dynamicAreaSize },
  soc: {
    offset: field('soc.soc_id_area.zero_count_unique_id').offset,
    size: OTP_SIZE - field('soc.soc_id_area.zero_count_unique_id').offset,
  },
} as const;

/** The BL1_2 image inside the BL1_2 area, right after its hash (not a row of TF-M's layout table). */
const BL1_2_IMAGE: OtpField = {
  name: 'bl1_2.bl1_2',
  offset: field('bl1_2.bl1_2_hash').offset + field('bl1_2.bl1_2_hash').size,
  size: RSE_2_3_OTP_CONFIG.bl1_2MaxSize,
  area: 'bl1_2',
  kind: 'image',
  doc: 'BL1_2 image (its length in bl1_2.bl1_2_size)',
};

/** TF-M 2.3.1's RSE OTP map as a profile's OTP layout. */
export const OTP_RSE_2_3: OtpLayout = {
  fields: [
    ...OTP_RSE_2_3_FIELDS.filter((f) => f.offset < BL1_2_IMAGE.offset),
    BL1_2_IMAGE,
    ...OTP_RSE_2_3_FIELDS.filter((f) => f.offset > BL1_2_IMAGE.offset),
  ],
  counterEncoding: 'bits',
  bl1_2End: BL1_2_IMAGE.offset + BL1_2_IMAGE.size,
  bl1_2MaxSize: BL1_2_IMAGE.size,
  bl1_2Placement: 'field',
  bl1_2HashField: 'bl1_2.bl1_2_hash',
  integrity: 'area-zero-counts',
  rotpkMap: { cm: { bl1: 0, bl2: 1, host: 2, secureDebug: 3 }, dm: { bl1: 0, bl2: 1, host: 2 } },
  bl1Counter: 'dynamic.security_version_counters_bank_0_0',
  reprovisioningField: 'dynamic.cm_reprovisioning',
  // `rse_nv_counter_mapping.c`: bank 0 holds BL1, the 4 BL2 images, then the host counters (no PS on RSE).
  nsCounters: [5, 6, 7].map((i) => `dynamic.security_version_counters_bank_0_${i}`),
};
