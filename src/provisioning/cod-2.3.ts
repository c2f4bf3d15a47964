/**
 * The SoC identity and the Chip Output Data of TF-M 2.3.1's RSE. The SoC's debug and configuration
 * unit (DCSU) asks BL1 to generate the SoC unique id from the TRNG (`rse_soc_uid.c`) and writes the
 * family id and IEEE ECID into the SoC area (`rse_dcsu_hal.c`); with `RSE_ENABLE_CHIP_OUTPUT_DATA`
 * CM provisioning derives the RSE attestation key (RAK) and records a CMAC'd summary of the chip
 * in the CM area (`cm_provisioning_code.c`, `rse_chip_output_data.c`), which the DCSU reads back
 * as a `CHIP_OUTPUT_DATA` reply (`dcsu_hal_read_cod_data`).
 *
 * Two steps of TF-M 2.3.1 cannot be reproduced off the chip, and rsekit does what their comments
 * describe instead: `rse_generate_chip_output_data` passes `&cod_fields, sizeof(cod_fields)` (the
 * 4 bytes of a pointer on the stack) to the CMAC, where rsekit MACs the whole record; and
 * `rse_chip_output_data_setup_key` passes the family id's value as the KEXPORT_CM context pointer,
 * where rsekit uses the family id's 4 bytes. The record is filled as TF-M fills it:
 * `rse_fetch_cod_data_fields_from_otp` never reads the family id or the die id, so both are 0.
 * @module
 */
import { constantTimeEqual, hash } from '../crypto/index.ts';
import { aesCmac, cc3xxDeriveEcKey, kdfCmacCounterBe } from '../crypto/kdf.ts';
import type { Device } from '../device/device.ts';
import { concatBytes, readU32le, u32le } from '../lib/bytes.ts';
import { zeroBits } from '../otp/lcm.ts';
import { writeSocAreaInfo, zcRegion } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import { krtlOrZero } from './message-shape-2.3.ts';
import { refuse } from './refusal-2.3.ts';

/** `RSE_PROVISIONING_REPLY_TYPE_CHIP_OUTPUT_DATA`. */
export const COD_REPLY_TYPE = 0x33330c0d;
/** `rse_chip_output_data_fields_t`: SoC UID, family id, IEEE ECID, die id, RAK, CM blob version, BL1_2 hash, DMA ICS hash. */
export const COD_FIELDS_SIZE = 12 + 4 + 16 + 4 + 96 + 4 + RSE_2_3_OTP_CONFIG.bl1_2HashSize + 48;
/** The reply: type and data_length, `cod_metadata`, the CMAC, the fields. */
export const COD_REPLY_SIZE = 8 + 4 + 16 + COD_FIELDS_SIZE;

/** The Chip Output Data fields, as the record holds them. */
export interface CodFields {
  readonly socUid: Uint8Array;
  readonly familyId: number;
  readonly ieeeEcid: Uint8Array;
  readonly dieId: number;
  /** The RAK's public key, raw P-384 X ‖ Y. */
  readonly rakPublic: Uint8Array;
  readonly cmBlobVersion: number;
  readonly bl1_2Hash: Uint8Array;
  /** SHA-384 of the OTP DMA ICS. */
  readonly dmaIcsHash: Uint8Array;
}

/** `rse_chip_output_data_fields_t`, packed. */
export function encodeCodFields(f: CodFields): Uint8Array {
  return concatBytes([
    f.socUid,
    u32le(f.familyId >>> 0),
    f.ieeeEcid,
    u32le(f.dieId >>> 0),
    f.rakPublic,
    u32le(f.cmBlobVersion >>> 0),
    f.bl1_2Hash,
    f.dmaIcsHash,
  ]);
}

const nonZero = (b: Uint8Array): boolean => b.some((x) => x !== 0);

/** The SoC identity in OTP: the unique id, family id and IEEE ECID (zero until written). */
export function socIdentity(dev: Device): { readonly socUid: Uint8Array; readonly familyId: number; readonly ieeeEcid: Uint8Array } {
  return {
    socUid: dev.plat.read('soc.soc_id_area.unique_id'),
    familyId: readU32le(dev.plat.read('soc.soc_id_area.family_id')),
    ieeeEcid: dev.plat.read('soc.soc_id_area.ieee_ecid'),
  };
}

/**
 * The DCSU's SoC identity commands, as a rig sends them: `GENERATE_SOC_UNIQUE_ID` (12 bytes from
 * the TRNG and their zero count; refused once generated), then `WRITE_OTP` of the family id and
 * the IEEE ECID (refused before the unique id exists) and of their zero count once both are set.
 * OTP bits only set, so rewriting a different value fails as the LCM does.
 */
export function writeSocIdentity(
  dev: Device,
  o: { readonly generateUid?: boolean; readonly familyId?: number; readonly ieeeEcid?: Uint8Array },
): { readonly generated: boolean } {
  writeSocAreaInfo(dev.lcm);
  let generated = false;
  if (o.generateUid === true) {
    if (nonZero(socIdentity(dev).socUid)) refuse('SOC_UID_ALREADY_GENERATED', 'the SoC unique id is already generated');
    const uid = dev.trng(12);
    dev.lcm.otpWrite(dev.plat.field('soc.soc_id_area.unique_id').offset, uid, 'SoC unique id (TRNG)');
    const r = zcRegion(dev.otp, 'soc-uid');
    dev.lcm.otpWrite(r.zcAt, u32le(zeroBits(dev.otp.subarray(r.start, r.start + r.size))), 'SoC unique id zero count');
    generated = true;
  }
  if (o.familyId !== undefined || o.ieeeEcid !== undefined) {
    if (!nonZero(socIdentity(dev).socUid))
      refuse('SOC_UID_NOT_GENERATED', 'the DCSU writes no OTP field before the SoC unique id is generated (GENERATE_SOC_UNIQUE_ID_NI)');
    if (o.familyId !== undefined)
      dev.lcm.otpWrite(dev.plat.field('soc.soc_id_area.family_id').offset, u32le(o.familyId >>> 0), 'SoC family id');
    if (o.ieeeEcid !== undefined) dev.lcm.otpWrite(dev.plat.field('soc.soc_id_area.ieee_ecid').offset, o.ieeeEcid, 'IEEE ECID');
    const now = socIdentity(dev);
    const r = zcRegion(dev.otp, 'soc-ids');
    if (now.familyId !== 0 && nonZero(now.ieeeEcid) && readU32le(dev.otp, r.zcAt) === 0)
      dev.lcm.otpWrite(r.zcAt, u32le(zeroBits(dev.otp.subarray(r.start, r.start + r.size))), 'SoC family id and IEEE ECID zero count');
  }
  return { generated };
}

/** `rse_fetch_cod_data_fields_from_otp` without the CM area: SoC UID and ECID checked and read, BL1_2 hash, DMA ICS hash. */
function fetchCodFields(dev: Device): Omit<CodFields, 'rakPublic' | 'cmBlobVersion'> {
  const id = socIdentity(dev);
  if (!nonZero(id.socUid)) refuse('SOC_UID_NOT_GENERATED', 'COD: the SoC unique id is not generated (DCSU GENERATE_SOC_UNIQUE_ID)');
  if (!nonZero(id.ieeeEcid)) refuse('IEEE_ECID_NOT_GENERATED', 'COD: the IEEE ECID is not written (DCSU WRITE_OTP IEEE_ECID)');
  return {
    socUid: id.socUid,
    familyId: 0,
    ieeeEcid: id.ieeeEcid,
    dieId: 0,
    bl1_2Hash: dev.plat.read('bl1_2.bl1_2_hash'),
    dmaIcsHash: hash('sha384', dev.plat.read('header.dma_ics')),
  };
}

/** KEXPORT_CM: KMASTER_CM from the RTL key (zero in TCI; each use of the KRTL counted), then the family id. */
export function codKey(krtl: Uint8Array, familyId: number): Uint8Array {
  const master = kdfCmacCounterBe(krtl, 'KMASTER_CM', new Uint8Array(1), 32);
  return kdfCmacCounterBe(master, 'KEXPORT_CM', u32le(familyId >>> 0), 32);
}

/** The RAK as CM provisioning derives it: IAK seed = KDF(HUK, boot state of the re-provisioning bits), RAK = cc3xx derivation "RAPK_PRIV". */
export function deriveRak(huk: Uint8Array, reprovisioningBits: number): Uint8Array {
  const seed = kdfCmacCounterBe(huk, 'BL1_IAK_SEED_DERIVATION', hash('sha256', u32le(reprovisioningBits >>> 0)), 32);
  const rak = cc3xxDeriveEcKey('P-384', seed, 'RAPK_PRIV', new Uint8Array(0));
  seed.fill(0);
  rak.privateKey.fill(0);
  return rak.publicKey.subarray(1);
}

/**
 * The COD step of CM provisioning, between the HUK and the CM area: the RAK from the HUK just
 * written, the fields from OTP, KEXPORT_CM, the CMAC. Returns the CM area with `cod` filled in.
 */
export function chipOutputDataForCm(dev: Device, cmArea: Uint8Array, huk: Uint8Array): Uint8Array {
  const out = cmArea.slice();
  const version = readU32le(cmArea, 4);
  const rakPublic = deriveRak(huk, readU32le(dev.plat.read('dynamic.cm_reprovisioning')));
  const fields = { ...fetchCodFields(dev), rakPublic, cmBlobVersion: version };
  const familyId = socIdentity(dev).familyId;
  if (familyId === 0) refuse('SOC_UID_NOT_GENERATED', 'COD: the SoC family id is not written (DCSU WRITE_OTP FAMILY_ID)');
  const cmac = aesCmac(codKey(krtlOrZero(dev), familyId), encodeCodFields(fields));
  const at = dev.plat.field('cm.cod.cod_cmac').offset - dev.plat.field('cm.zero_count').offset;
  out.set(cmac, at);
  out.set(rakPublic, at + 16);
  return out;
}

/** What `rse provision cod` reports: the DCSU reply, its fields and the CMAC. */
export interface ChipOutputData {
  readonly reply: Uint8Array;
  readonly cmac: Uint8Array;
  readonly fields: CodFields;
  /** The family id in the SoC area, which KEXPORT_CM was derived with (the record itself holds 0). */
  readonly socFamilyId: number;
}

/** `dcsu_hal_read_cod_data` / `rse_get_chip_output_data`: the reply a DCSU read returns, or TF-M's error. */
export function readChipOutputData(dev: Device): ChipOutputData {
  const cmac = dev.plat.read('cm.cod.cod_cmac');
  const rakPublic = dev.plat.read('cm.cod.rak_pub');
  if (readU32le(dev.otp, dev.plat.field('header.cm_area_info.offset').offset) === 0 || !nonZero(cmac) || !nonZero(rakPublic))
    refuse(
      'COD_DATA_NOT_PROVISIONED',
      'no Chip Output Data in the CM area (CM provisioning of a build with RSE_ENABLE_CHIP_OUTPUT_DATA writes it)',
    );
  const fields: CodFields = {
    ...fetchCodFields(dev),
    rakPublic,
    cmBlobVersion: readU32le(dev.plat.read('cm.provisioning_blob_version')),
  };
  const body = concatBytes([u32le(0), cmac, encodeCodFields(fields)]);
  return { reply: concatBytes([u32le(COD_REPLY_TYPE, body.length), body]), cmac, fields, socFamilyId: socIdentity(dev).familyId };
}

/** Checks a COD record's CMAC with the RTL key the CM holds (zero for a TCI chip), in constant time. */
export function codCmacVerifies(cod: ChipOutputData, krtl: Uint8Array): boolean {
  return constantTimeEqual(aesCmac(codKey(krtl, cod.socFamilyId), encodeCodFields(cod.fields)), cod.cmac);
}
