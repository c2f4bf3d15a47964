/**
 * BL1_1's provisioning by messages (TF-M 2.3.1 `provisioning/bl1_1_provisioning.c`,
 * `rse_provisioning_message_handler.c`, `rse_provisioning_auth_message_handler.c`,
 * `rse_provisioning_aes_key.c`, `rse_provisioning_rotpk.c`) and the native semantics of the CM,
 * DM and combined blobs' `do_provision` (`bundle/cm_provisioning_code.c`, `dm_provisioning_code.c`,
 * `combined_provisioning_code.c`). Every check the ROM makes is made in its order and fails with
 * its `tfm_plat_err_t` name and number; the blob is authenticated and decrypted exactly as the ROM
 * does, but its Cortex-M code is not executed: what it would do is done here, write for write.
 * @module
 */
import { EC_SPKI_PREFIX } from '../crypto/asym.ts';
import { ecdsaVerifyParts } from '../crypto/ecdsa-digest.ts';
import { aesCcmDecrypt, aesCtr, hash, importRawPublicKey } from '../crypto/index.ts';
import { kdfCmacCounterBe } from '../crypto/kdf.ts';
import type { Device } from '../device/device.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { isRseError, RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { LCM_OTP, type LcsName, zeroBits } from '../otp/lcm.ts';
import { DM_ROTPK_AREA_SIZE, rotpkArrayIndex, SOC_AREA_INFO, writeSocAreaInfo } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_AREAS, RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { BLOB_AUTH_HEADER_SIZE, MESSAGE_HEADER_SIZE, PROVISIONING_MESSAGE_TYPE } from './message.ts';
import { describeFailure, type RigInput, type RomEvent, type RomOutcome } from './rom.ts';

/** The `tfm_plat_err_t` values of TF-M 2.3.1's RSE (`platform_error_codes.h`, base 1) the handler returns. */
export const PROVISIONING_ERROR = {
  PROVISIONING_INVALID_TP_MODE: 0x29,
  PROVISIONING_INVALID_SP_MODE: 0x2a,
  PROVISIONING_INVALID_MESSAGE_SEQUENCING: 0x2c,
  PROVISIONING_INVALID_BLOB_PERSONALIZATION: 0x2d,
  PROVISIONING_DERIVATION_INVALID_LCS: 0x31,
  PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK_LCS: 0x32,
  PROVISIONING_AUTH_MSG_INVALID_DM_ROTPK_LCS: 0x33,
  PROVISIONING_AUTH_MSG_INVALID_NOT_IN_ROM_ROTPK_CONFIG: 0x35,
  PROVISIONING_AUTH_MSG_INVALID_CODE_SIZE: 0x36,
  PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE: 0x37,
  PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE: 0x38,
  PROVISIONING_AUTH_MSG_INVALID_TAG_LEN: 0x39,
  PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK: 0x3a,
  PROVISIONING_AUTH_MSG_INVALID_HASH_VALUE: 0x3d,
  PROVISIONING_AUTH_MSG_INVALID_SIZE: 0x3f,
  PROVISIONING_BLOB_ZERO_CODE_SIZE: 0x40,
  PROVISIONING_BLOB_INVALID_DM_ROTPK_SIGNATURE: 0x41,
  PROVISIONING_MESSAGE_INVALID_TYPE: 0x45,
  PROVISIONING_MESSAGE_NO_PLAIN_DATA_HANDLER: 0x47,
  PROVISIONING_MESSAGE_NO_AUTH_PLAIN_DATA_HANDLER: 0x48,
  PROVISIONING_MESSAGE_NO_CERT_HANDLER: 0x49,
  PROVISIONING_MESSAGE_INVALID_SIZE: 0x4a,
  PROVISIONING_BUNDLE_COMBINED_INVALID_LCS: 0x4e,
  PROVISIONING_SIGNATURE_TYPE_NOT_SUPPORTED: 0x4f,
  PROVISIONING_AUTH_MSG_INVALID_DECRYPTION_CONFIG: 0x50,
  PROVISIONING_AUTH_MSG_INVALID_PURPOSE: 0x51,
  PROVISIONING_AUTH_MSG_INVALID_TP_MODE: 0x53,
  PROVISIONING_DEVICE_STATUS_TAMPERING_DETECTED: 0x54,
  PROVISIONING_CM_TAMPERING_DETECTED: 0x55,
  PROVISIONING_DEBUG_DISABLE_FAILED: 0x57,
  PROVISIONING_MESSAGE_NOT_FOUND: 0x59,
  DM_PROVISIONING_INVALID_DM_AREA_SIZE: 0x28,
  SET_OTP_COUNTER_MAX_VALUE: 0x78,
  PROVISIONING_MESSAGE_NO_BLOB_HANDLER: 0x46,
  PROVISIONING_AUTH_PLAIN_DATA_INVALID_SIZE: 0x42,
  PROVISIONING_AUTH_PLAIN_DATA_INVALID_ROTPK: 0x43,
  PROVISIONING_AUTH_PLAIN_DATA_INVALID_NON_ROM_ROTPK: 0x44,
  PROVISIONING_PLAIN_DATA_NO_TYPE: 0x5a,
  PROVISIONING_PLAIN_DATA_TYPE_INVALID: 0x5b,
  PROVISIONING_PLAIN_DATA_INVALID_REVOCATION_SIZE: 0x5c,
  PROVISIONING_PLAIN_DATA_INVALID_NUM_ROTPKS: 0x5f,
  PROVISIONING_PLAIN_DATA_INVALID_ROTPK_SIZE: 0x60,
  PROVISIONING_PLAIN_DATA_INVALID_LCS: 0x61,
  PROVISIONING_PLAIN_DATA_INVALID_AUTH: 0x62,
  ROTPK_REVOCATION_INVALID_INDEX: 0x22,
  CM_ROTPK_UPDATE_INVALID_AREA: 0x24,
  DM_ROTPK_UPDATE_REVOCATION_NOT_PERMITTED: 0x27,
  /** A PSA AEAD/ECDSA failure the ROM passes on (`PSA_ERROR_INVALID_SIGNATURE`, -149). */
  PSA_ERROR_INVALID_SIGNATURE: -149,
} as const;
export type ProvisioningErrorName = keyof typeof PROVISIONING_ERROR;

/** A refusal of the handler: TF-M's name for it, and where in the message it was found. */
export class Refused extends RseError {
  readonly errName: ProvisioningErrorName;
  readonly why: string;
  constructor(errName: ProvisioningErrorName, why: string, offset?: number) {
    super('E_AUTH', why, { field: 'provisioning message', ...(offset === undefined ? {} : { offset }) });
    this.name = 'Refused';
    this.errName = errName;
    this.why = why;
  }
}
export const refuse = (n: ProvisioningErrorName, why: string, offset?: number): never => {
  throw new Refused(n, why, offset);
};

/** The code rsekit's message builder puts in a blob: a marker, then the DATA section's length and the flow. */
export const RSEKIT_PROVISIONING_CODE_MAGIC = 'RSEKIT-PROVCODE\0';
export type BlobFlow = 'cm' | 'dm' | 'combined';

/** rsekit's provisioning code for a blob: its marker, the length of DATA before the values, the flow. */
export function rsekitProvisioningCode(flow: BlobFlow, dataSectionLength: number): Uint8Array {
  const code = new Uint8Array(32);
  code.set(new TextEncoder().encode(RSEKIT_PROVISIONING_CODE_MAGIC));
  code.set(u32le(1, dataSectionLength, ['cm', 'dm', 'combined'].indexOf(flow)), 16);
  return code;
}

/** Where the OTP CM area struct starts in `rse_non_secret_cm_provisioning_values_t`: after 4 area infos and the DMA ICS with its size. */
const CM_STRUCT_AT = 4 * 4 + RSE_2_3_OTP_CONFIG.dmaIcsSize + 4;

/** Sizes of the provisioning values structs of TF-M 2.3.1 with the default OTP configuration. */
export const VALUES_SIZE = {
  cmNonSecret: CM_STRUCT_AT + RSE_2_3_AREAS.cm.size + RSE_2_3_AREAS.bl1_2.size,
  dmNonSecret: RSE_2_3_AREAS.dm.size,
  cmSecret: 96,
  dmSecret: 64,
} as const;

const AUTH = MESSAGE_HEADER_SIZE; // the authentication header starts after the message header
export const H = {
  sigSize: AUTH + 0x00,
  sig: AUTH + 0x04,
  metadata: AUTH + 0x64,
  purpose: AUTH + 0x68,
  iv: AUTH + 0x70,
  socUid: AUTH + 0x78,
  batchId: AUTH + 0x84,
  dmNumber: AUTH + 0x88,
  codeSize: AUTH + 0x8c,
  dataSize: AUTH + 0x90,
  valuesSize: AUTH + 0x94,
  publicKey: AUTH + 0x98,
  body: AUTH + BLOB_AUTH_HEADER_SIZE,
} as const;

/** Bits `at`..`at + width - 1` of a header word. */
export const bits = (w: number, at: number, width: number): number => (w >>> at) & ((1 << width) - 1);
/** The purpose word's valid-LCS bit of each LCS. */
export const LCS_BIT: Readonly<Record<LcsName, number>> = { CM: 1, DM: 2, SE: 4, RMA: 8, INVALID: 0 };

/** The staged message, as the ROM sees it: VM1 from `PROVISIONING_MESSAGE_START`. */
export function messageArea(dev: Device, cfg: MessageProvisioning): Uint8Array {
  return dev.vm1.subarray(cfg.messageOffset, cfg.messageOffset + cfg.messageMaxSize);
}

/** Stages a provisioning message where BL1_1 reads it (VM1 + `PROVISIONING_MESSAGE_START`), as a rig does. */
export function stageMessage(dev: Device, bytes: Uint8Array): void {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined) throw new RseError('E_USAGE', `${dev.profile.name} devices are not provisioned by messages`);
  if (bytes.length > cfg.messageMaxSize)
    throw new RseError('E_SIZE', `the message is ${bytes.length} bytes; the staging area holds ${cfg.messageMaxSize}`, {
      field: 'message',
    });
  const area = messageArea(dev, cfg);
  area.fill(0);
  area.set(bytes);
  dev.saveSram('vm1');
}

/** The ROM's provisioning public key for a TP mode (`tci_rotpk` / `pci_rotpk`), raw X ‖ Y. */
export const ROM_ROTPK_FILE = { TCI: 'rom-rotpk-tci.bin', PCI: 'rom-rotpk-pci.bin' } as const;

/** The KMASTER → KPROV derivation of `rse_provisioning_setup_aes_key`. */
export function provisioningKey23(krtl: Uint8Array, owner: 'CM' | 'DM', number: number): Uint8Array {
  const master = kdfCmacCounterBe(krtl, `KMASTER_${owner}`, u32le(number >>> 0), 32);
  return kdfCmacCounterBe(master, `KPROV_${owner}`, new Uint8Array(0), 32);
}

export interface Unpacked {
  readonly code: Uint8Array;
  readonly data: Uint8Array;
  readonly values: Uint8Array;
}

/** `validate_and_unpack_message` for a blob: sizes, then the CCM tag or the ECDSA signature. */
export function validateAndUnpack(dev: Device, cfg: MessageProvisioning, m: Uint8Array, msgSize: number, lcs: LcsName): Unpacked {
  const u = (o: number): number => readU32le(m, o);
  const [code, data, values] = [u(H.codeSize), u(H.dataSize), u(H.valuesSize)];
  const rest = msgSize - BLOB_AUTH_HEADER_SIZE;
  if (msgSize < BLOB_AUTH_HEADER_SIZE || code > rest || data > rest - code || values !== rest - code - data)
    refuse(
      'PROVISIONING_AUTH_MSG_INVALID_SIZE',
      `code ${code} + data ${data} + values ${values} do not fill the ${rest} bytes after the header`,
      H.codeSize,
    );
  const metadata = u(H.metadata);
  const sigConfig = bits(metadata, 28, 2);
  const symmetricConfig = sigConfig === 1;
  const ecdsaConfig = sigConfig === 2 || sigConfig === 3;
  if ((cfg.symmetric && !symmetricConfig) || (!cfg.symmetric && !ecdsaConfig))
    refuse('PROVISIONING_SIGNATURE_TYPE_NOT_SUPPORTED', `signature config ${sigConfig} is not one this ROM was built for`, H.metadata);
  const sigSize = u(H.sigSize);
  if (symmetricConfig && sigSize < 16)
    refuse('PROVISIONING_AUTH_MSG_INVALID_TAG_LEN', `signature_size ${sigSize} is shorter than the 16-byte tag`, H.sigSize);
  if (code > cfg.codeMax) refuse('PROVISIONING_AUTH_MSG_INVALID_CODE_SIZE', `code_size ${code} exceeds ${cfg.codeMax}`, H.codeSize);
  if (data > cfg.dataMax) refuse('PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE', `data_size ${data} exceeds ${cfg.dataMax}`, H.dataSize);
  if (values > cfg.valuesMax)
    refuse('PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE', `secret_values_size ${values} exceeds ${cfg.valuesMax}`, H.valuesSize);
  const codeDataAes = bits(metadata, 0, 2) === 1;
  const secretsAes = bits(metadata, 2, 2) === 1;
  if (codeDataAes && !secretsAes)
    refuse('PROVISIONING_AUTH_MSG_INVALID_DECRYPTION_CONFIG', 'code and data are encrypted but the secret values are not', H.metadata);
  const header148 = m.subarray(H.metadata, H.body);
  const bodyAt = H.body;
  const encLen = (codeDataAes ? code + data : 0) + (secretsAes ? values : 0);
  const clearLen = code + data + values - encLen;
  const clear = m.subarray(bodyAt, bodyAt + clearLen);
  const cipher = m.subarray(bodyAt + clearLen, bodyAt + clearLen + encLen);
  let key: Uint8Array | undefined;
  if (symmetricConfig || encLen > 0) key = setupAesKey(dev, m, lcs);
  let plain: Uint8Array;
  const iv = m.slice(H.iv, H.iv + 8);
  if (symmetricConfig) {
    const p = aesCcmDecrypt(key as Uint8Array, iv, Buffer.concat([header148, clear]), cipher, m.slice(H.sig, H.sig + 16));
    if (p === undefined) refuse('PSA_ERROR_INVALID_SIGNATURE', 'the AES-CCM tag does not authenticate the message', H.sig);
    plain = p as Uint8Array;
  } else {
    plain = encLen > 0 ? aesCtr(key as Uint8Array, Uint8Array.of(...iv, 0, 0, 0, 0, 0, 0, 0, 0), cipher) : new Uint8Array(0);
    const body = new Uint8Array(Buffer.concat([clear, plain]));
    const point = rotpkFor(dev, cfg, m, lcs);
    const n = cfg.curve === 'P-256' ? 32 : 48;
    const sig = m.slice(H.sig, H.sig + Math.min(sigSize, 96));
    let verified = false;
    try {
      const pub = importRawPublicKey(cfg.curve === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384', Uint8Array.of(4, ...point));
      verified = sig.length === 2 * n && ecdsaVerifyParts(pub, sig, header148, body);
    } catch (e) {
      if (!isRseError(e)) throw e;
    }
    if (!verified) refuse('PSA_ERROR_INVALID_SIGNATURE', 'the ECDSA signature does not verify with the provisioning key', H.sig);
    plain = body.subarray(clearLen);
  }
  const all = new Uint8Array(Buffer.concat([clear, plain]));
  return { code: all.slice(0, code), data: all.slice(code, code + data), values: all.slice(code + data) };
}

/** `rse_provisioning_setup_aes_key`: KPROV_CM (CM, or a combined blob) or KPROV_DM from the KRTL (zero in TCI). */
function setupAesKey(dev: Device, m: Uint8Array, lcs: LcsName): Uint8Array {
  if (lcs !== 'CM' && lcs !== 'DM') refuse('PROVISIONING_DERIVATION_INVALID_LCS', `no provisioning key can be derived in LCS ${lcs}`);
  const combined = bits(readU32le(m, H.purpose), 0, 8) === 2;
  const cm = lcs === 'CM' || combined;
  const krtl = dev.lcm.tpMode === 'TCI' ? new Uint8Array(32) : dev.krtl;
  return provisioningKey23(krtl, cm ? 'CM' : 'DM', readU32le(m, cm ? H.batchId : H.dmNumber));
}

/** `provisioning_rotpk_get`: the ROM key of the TP mode, or the key in the message checked against a CM ROTPK hash. */
function rotpkFor(dev: Device, cfg: MessageProvisioning, m: Uint8Array, lcs: LcsName): Uint8Array {
  const n = cfg.curve === 'P-256' ? 32 : 48;
  const metadata = readU32le(m, H.metadata);
  if (bits(metadata, 28, 2) === 3) {
    const pk = bits(metadata, 26, 2);
    if (pk === 2) {
      if (!cfg.rotpkRevocation || lcs !== 'SE')
        refuse('PROVISIONING_AUTH_MSG_INVALID_DM_ROTPK_LCS', `a DM ROTPK cannot sign in LCS ${lcs}`, H.metadata);
    } else if (pk !== 0)
      refuse('PROVISIONING_AUTH_MSG_INVALID_NOT_IN_ROM_ROTPK_CONFIG', `non-ROM key type ${pk} is not a CM or DM ROTPK`, H.metadata);
    else if (!(lcs === 'DM' || (lcs === 'SE' && (cfg.rotpkRevocation || cfg.nonEndorsedDm))))
      refuse('PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK_LCS', `a CM ROTPK cannot sign in LCS ${lcs}`, H.metadata);
    const num = bits(metadata, 8, 9);
    const who = pk === 2 ? 'dm' : 'cm';
    const perArea = who === 'cm' ? RSE_2_3_OTP_CONFIG.cmRotpksPerArea : RSE_2_3_OTP_CONFIG.dmRotpksPerArea;
    if (num >= perArea) refuse('PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK', `ROTPK number ${num} does not exist`, H.metadata);
    const point = m.slice(H.publicKey, H.publicKey + 2 * n);
    const spki = new Uint8Array(Buffer.concat([EC_SPKI_PREFIX[cfg.curve], Uint8Array.of(4), point]));
    const index = rotpkArrayIndex(dev.otp, who);
    const field = `${who}.rotpk_areas_${index}.rotpk_${num}`;
    const stored = dev.plat.read(field);
    const policies = readU32le(dev.plat.read(`${who}.rotpk_areas_${index}.${who}_rotpk_policies`));
    const alg = bits(policies, 12 + num, 1) === 1 ? 'sha384' : 'sha256';
    const digest = hash(alg, spki).subarray(0, 32);
    if (Buffer.compare(Buffer.from(digest), Buffer.from(stored)) !== 0)
      refuse('PROVISIONING_AUTH_MSG_INVALID_HASH_VALUE', `the message's public key does not hash to ${field}`, H.publicKey);
    return point;
  }
  const mode = dev.lcm.tpMode === 'TCI' ? 'TCI' : 'PCI';
  const raw = dev.store.read(ROM_ROTPK_FILE[mode]);
  if (raw === undefined || raw.length !== 2 * n)
    refuse('PSA_ERROR_INVALID_SIGNATURE', `the ROM holds no ${cfg.curve} provisioning key for ${mode} (${ROM_ROTPK_FILE[mode]})`);
  return raw as Uint8Array;
}

/** Where the non-secret values start in the unpacked DATA (after the code's own DATA section). */
function valuesOffset(u: Unpacked, size: number, flow: BlobFlow, events: RomEvent[]): number {
  const magic = new TextDecoder().decode(u.code.subarray(0, 16));
  if (magic === RSEKIT_PROVISIONING_CODE_MAGIC && u.code.length >= 32) {
    const at = readU32le(u.code, 20);
    if (at > u.data.length - size)
      refuse('PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE', `the code puts the values at DATA offset ${at}; DATA holds ${u.data.length} bytes`);
    return at;
  }
  // Foreign provisioning code (not executed): the values end within 12 zero bytes of padding, and a
  // CM struct starts with the CM area info.
  for (let pad = 12; pad >= 0; pad -= 4) {
    const at = u.data.length - size - pad;
    if (at < 0 || u.data.subarray(at + size).some((b) => b !== 0)) continue;
    if (flow !== 'dm' && readU32le(u.data, at) !== (RSE_2_3_AREAS.cm.offset | (RSE_2_3_AREAS.cm.size << 16))) continue;
    events.push({ message: `the blob's code is not rsekit's: its provisioning values were found at DATA offset ${at}` });
    return at;
  }
  return refuse('DM_PROVISIONING_INVALID_DM_AREA_SIZE', 'the provisioning values are not where the blob code would find them');
}

/** `do_cm_provision`, natively: GUK, KP_CM, DMA ICS, area infos, BL1_2, HUK, CM area, KCE_CM, then DM LCS. */
function doCmProvision(dev: Device, cfg: MessageProvisioning, v: Uint8Array, s: Uint8Array, events: RomEvent[]): void {
  const otp = dev.otp;
  const lcm = dev.lcm;
  const status = readU32le(otp, fieldAt(dev, 'header.device_status'));
  if (status !== 0) refuse('PROVISIONING_DEVICE_STATUS_TAMPERING_DETECTED', `device_status is ${hex0x(status, 8)} before CM provisioning`);
  const cmInfo = readU32le(v, 0);
  const cmOff = cmInfo & 0xffff;
  const cmSize = cmInfo >>> 16;
  const region = otp.subarray(Math.min(cmOff, otp.length), Math.min(cmOff + cmSize, otp.length));
  if (cmOff + cmSize > otp.length || zeroBits(region) !== 8 * cmSize)
    refuse('PROVISIONING_CM_TAMPERING_DETECTED', `the CM area ${hex0x(cmOff, 4)}+${hex0x(cmSize)} is not blank before CM provisioning`);
  const krtlUses = 64 - zeroBits(otp.subarray(fieldAt(dev, 'header.krtl_usage_counter'), fieldAt(dev, 'header.krtl_usage_counter') + 8));
  if (krtlUses > cfg.maxKrtlUsage) refuse('SET_OTP_COUNTER_MAX_VALUE', `the KRTL was used ${krtlUses} times (at most ${cfg.maxKrtlUsage})`);
  lcm.otpWrite(LCM_OTP.guk, s.subarray(0, 32), 'GUK');
  lcm.otpWrite(LCM_OTP.kp_cm, s.subarray(32, 64), 'KP_CM');
  const icsSize = readU32le(v, 16 + 0x108);
  if (icsSize > RSE_2_3_OTP_CONFIG.dmaIcsSize)
    refuse('PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE', `otp_dma_ics_size ${icsSize} exceeds ${RSE_2_3_OTP_CONFIG.dmaIcsSize}`);
  lcm.otpWrite(fieldAt(dev, 'header.dma_ics'), v.subarray(16, 16 + icsSize), 'DMA ICS');
  lcm.otpWrite(fieldAt(dev, 'header.cm_area_info.offset'), v.subarray(0, 4), 'CM area info');
  lcm.otpWrite(fieldAt(dev, 'header.bl1_2_area_info.offset'), v.subarray(4, 8), 'BL1_2 area info');
  lcm.otpWrite(fieldAt(dev, 'header.soc_area_info.offset'), u32le(SOC_AREA_INFO), 'SoC area info');
  lcm.otpWrite(fieldAt(dev, 'header.dm_area_info.offset'), v.subarray(8, 12), 'DM area info');
  lcm.otpWrite(fieldAt(dev, 'header.dynamic_area_info.offset'), v.subarray(12, 16), 'dynamic area info');
  const bl1_2Info = readU32le(v, 4);
  const bl1_2 = v.subarray(CM_STRUCT_AT + RSE_2_3_AREAS.cm.size, CM_STRUCT_AT + RSE_2_3_AREAS.cm.size + RSE_2_3_AREAS.bl1_2.size);
  lcm.otpWrite(bl1_2Info & 0xffff, bl1_2, 'BL1_2 area');
  lcm.otpWrite(LCM_OTP.huk, dev.trng(32), 'HUK (TRNG)');
  lcm.otpWrite(cmOff, v.subarray(CM_STRUCT_AT, CM_STRUCT_AT + RSE_2_3_AREAS.cm.size), 'CM area');
  lcm.otpWrite(LCM_OTP.kce_cm, s.subarray(64, 96), 'KCE_CM');
  events.push({ message: 'CM values written: GUK, KP_CM, DMA ICS, area infos, BL1_2, HUK (TRNG), CM area, KCE_CM' });
  dev.plat.writeLcs('DM');
}

/** `do_dm_provision`, natively: KP_DM, KCE_DM, the DM area and its ROTPK arrays, then SE LCS. */
function doDmProvision(dev: Device, v: Uint8Array, s: Uint8Array, events: RomEvent[]): void {
  const lcm = dev.lcm;
  lcm.otpWrite(LCM_OTP.kp_dm, s.subarray(0, 32), 'KP_DM');
  lcm.otpWrite(LCM_OTP.kce_dm, s.subarray(32, 64), 'KCE_DM');
  const info = readU32le(dev.otp, fieldAt(dev, 'header.dm_area_info.offset'));
  if (v.length !== info >>> 16)
    refuse('DM_PROVISIONING_INVALID_DM_AREA_SIZE', `the DM values are ${v.length} bytes, the DM area ${info >>> 16}`);
  const arrays = RSE_2_3_OTP_CONFIG.dmRotpkAreas * DM_ROTPK_AREA_SIZE;
  lcm.otpWrite(info & 0xffff, v.subarray(0, v.length - arrays), 'DM area');
  lcm.otpWrite((info & 0xffff) + v.length - arrays, v.subarray(v.length - arrays), 'DM ROTPK arrays');
  events.push({ message: 'DM values written: KP_DM, KCE_DM, DM area, DM ROTPK arrays' });
  dev.plat.writeLcs('SE');
}

function fieldAt(dev: Device, name: string): number {
  return dev.plat.field(name).offset;
}

/** `default_blob_handler` up to running the blob, then the blob's `do_provision`. */
function blobHandler(dev: Device, cfg: MessageProvisioning, m: Uint8Array, size: number, events: RomEvent[]): RomOutcome {
  const lcs = dev.lcm.getLcs();
  const tp = dev.lcm.tpMode;
  const metadata = readU32le(m, H.metadata);
  const purpose = readU32le(m, H.purpose);
  const want = bits(purpose, 9, 2);
  if (want > 2) refuse('PROVISIONING_AUTH_MSG_INVALID_TP_MODE', `required TP mode ${want} is not Virgin, PCI or TCI`, H.purpose);
  const wanted = (['VIRGIN', 'PCI', 'TCI'] as const)[want] as 'VIRGIN' | 'PCI' | 'TCI';
  if (wanted !== tp) {
    if (tp === 'VIRGIN' && wanted !== 'VIRGIN') {
      dev.lcm.setTpMode(wanted);
      events.push({ message: `TP mode set to ${wanted} from the message; the handler stops (INVALID_TP_MODE) until the next cold reset` });
      return { kind: 'reset', cold: true, reason: `TP mode ${wanted} set` };
    }
    refuse('PROVISIONING_INVALID_TP_MODE', `the message needs TP mode ${wanted}, the device is in ${tp}`, H.purpose);
  }
  if ((bits(purpose, 28, 4) & LCS_BIT[lcs]) === 0)
    refuse('PROVISIONING_AUTH_MSG_INVALID_PURPOSE', `the message is not valid in LCS ${lcs}`, H.purpose);
  const spRequired = bits(purpose, 11, 1) === 1;
  if (spRequired && !dev.lcm.spEnabled) {
    dev.lcm.setSpEnabled();
    events.push({ message: 'secure provisioning mode enabled; the RSE resets (the message stays staged)' });
    return { kind: 'reset', cold: false, reason: 'secure provisioning mode enabled' };
  }
  if (!spRequired && dev.lcm.spEnabled) return { kind: 'reset', cold: true, reason: 'the message needs SP mode off' };
  if (bits(purpose, 27, 1) === 1) refuse('PROVISIONING_INVALID_MESSAGE_SEQUENCING', 'a chained message cannot be the first one', H.purpose);
  if (bits(metadata, 30, 2) === 1) {
    const uid = dev.plat.read('soc.soc_id_area.unique_id');
    if (Buffer.compare(Buffer.from(uid), Buffer.from(m.subarray(H.socUid, H.socUid + 12))) !== 0)
      refuse('PROVISIONING_INVALID_BLOB_PERSONALIZATION', 'the blob is personalised for another SoC UID', H.socUid);
  }
  if (readU32le(m, H.codeSize) === 0) refuse('PROVISIONING_BLOB_ZERO_CODE_SIZE', 'the blob has no code', H.codeSize);
  if (bits(metadata, 28, 2) === 3 && bits(metadata, 26, 2) === 2)
    refuse('PROVISIONING_BLOB_INVALID_DM_ROTPK_SIGNATURE', 'a blob cannot be signed by a DM ROTPK', H.metadata);
  const u = validateAndUnpack(dev, cfg, m, size, lcs);
  events.push({
    message: `blob authenticated (${cfg.symmetric ? 'AES-CCM' : `ECDSA ${cfg.curve}`}) and unpacked: code ${u.code.length}, data ${u.data.length}, values ${u.values.length} bytes`,
  });
  const type = bits(purpose, 0, 8);
  // The blob's code reads its secrets from the values area: they must all be there.
  const secrets = type === 2 ? VALUES_SIZE.cmSecret + VALUES_SIZE.dmSecret : lcs === 'CM' ? VALUES_SIZE.cmSecret : VALUES_SIZE.dmSecret;
  if (u.values.length < secrets)
    refuse(
      'PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE',
      `the secret values are ${u.values.length} bytes; the code reads ${secrets}`,
      H.valuesSize,
    );
  try {
    if (type === 2) {
      if (lcs !== 'CM' && lcs !== 'DM') refuse('PROVISIONING_BUNDLE_COMBINED_INVALID_LCS', `a combined blob runs in CM or DM, not ${lcs}`);
      const at = valuesOffset(u, VALUES_SIZE.cmNonSecret + VALUES_SIZE.dmNonSecret, 'combined', events);
      if (lcs === 'CM')
        doCmProvision(dev, cfg, u.data.subarray(at, at + VALUES_SIZE.cmNonSecret), u.values.subarray(0, VALUES_SIZE.cmSecret), events);
      else
        doDmProvision(
          dev,
          u.data.subarray(at + VALUES_SIZE.cmNonSecret, at + VALUES_SIZE.cmNonSecret + VALUES_SIZE.dmNonSecret),
          u.values.subarray(VALUES_SIZE.cmSecret, VALUES_SIZE.cmSecret + VALUES_SIZE.dmSecret),
          events,
        );
    } else if (lcs === 'CM') {
      const at = valuesOffset(u, VALUES_SIZE.cmNonSecret, 'cm', events);
      doCmProvision(dev, cfg, u.data.subarray(at, at + VALUES_SIZE.cmNonSecret), u.values.subarray(0, VALUES_SIZE.cmSecret), events);
    } else if (lcs === 'DM') {
      const at = valuesOffset(u, VALUES_SIZE.dmNonSecret, 'dm', events);
      doDmProvision(dev, u.data.subarray(at, at + VALUES_SIZE.dmNonSecret), u.values.subarray(0, VALUES_SIZE.dmSecret), events);
    } else refuse('PROVISIONING_AUTH_MSG_INVALID_PURPOSE', `no blob flow runs in LCS ${lcs}`);
  } finally {
    u.values.fill(0);
  }
  return { kind: 'reset', cold: true, reason: `${lcs} provisioning finished` };
}

/** `handle_provisioning_message` with BL1_1's handler set (a blob handler only). */
function handleMessage(dev: Device, cfg: MessageProvisioning, m: Uint8Array, events: RomEvent[]): RomOutcome {
  const length = readU32le(m, 4);
  if (length > m.length - MESSAGE_HEADER_SIZE)
    refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} exceeds the ${m.length - MESSAGE_HEADER_SIZE}-byte area`, 4);
  const type = readU32le(m, 0);
  if (type === PROVISIONING_MESSAGE_TYPE.BLOB) return blobHandler(dev, cfg, m, length, events);
  if (type === PROVISIONING_MESSAGE_TYPE.PLAIN_DATA)
    refuse('PROVISIONING_MESSAGE_NO_PLAIN_DATA_HANDLER', 'BL1_1 has no plain data handler', 0);
  if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA)
    refuse('PROVISIONING_MESSAGE_NO_AUTH_PLAIN_DATA_HANDLER', 'BL1_1 has no authenticated plain data handler', 0);
  if (type === PROVISIONING_MESSAGE_TYPE.CERTIFICATE) refuse('PROVISIONING_MESSAGE_NO_CERT_HANDLER', 'BL1_1 has no certificate handler', 0);
  return refuse('PROVISIONING_MESSAGE_INVALID_TYPE', `message type ${hex0x(type, 8)} is unknown`, 0);
}

/**
 * One pass of `tfm_plat_provisioning_perform` (BL1_1, message provisioning) from the current LCS:
 * the SoC area info written at init, then the staged message handled. A refused message is wiped
 * and BL1_1 stops with TF-M's error; nothing is written to OTP for it.
 */
export function messageProvisioning(dev: Device, _rig: RigInput, events: RomEvent[]): RomOutcome {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined) return { kind: 'error', reason: `${dev.profile.name} has no message provisioning`, code: 'E_CONFIG' };
  const area = messageArea(dev, cfg);
  try {
    writeSocAreaInfo(dev.lcm);
    const lcs = dev.lcm.getLcs();
    if (lcs !== 'CM' && lcs !== 'DM') {
      events.push({ message: `LCS ${lcs}: provisioning not required` });
      return { kind: 'not-required' };
    }
    const type = readU32le(area, 0);
    const known = [PROVISIONING_MESSAGE_TYPE.BLOB, PROVISIONING_MESSAGE_TYPE.CERTIFICATE, PROVISIONING_MESSAGE_TYPE.PLAIN_DATA] as number[];
    if (!known.includes(type)) {
      events.push({ message: `LCS ${lcs}: no provisioning message staged at VM1+${hex0x(cfg.messageOffset)} (MESSAGE_NOT_FOUND)` });
      return { kind: 'wait', reason: 'message' };
    }
    events.push({ message: `LCS ${lcs}: handling the staged message (${hex0x(type, 8)}, ${readU32le(area, 4)} bytes)` });
    const out = handleMessage(dev, cfg, area, events);
    if (out.kind === 'reset' && out.cold && out.reason.endsWith('provisioning finished'))
      events.push({ message: `${out.reason}; the RSE resets` });
    return out;
  } catch (e) {
    if (e instanceof Refused) return refusalOutcome(dev, area, e, events);
    return { kind: 'error', ...describeFailure(e) };
  }
}

/** A refused message: wiped from SRAM, and BL1 stops with TF-M's error name and number. */
export function refusalOutcome(dev: Device, area: Uint8Array, e: Refused, events: RomEvent[]): RomOutcome {
  area.fill(0);
  dev.saveSram('vm1');
  const code = PROVISIONING_ERROR[e.errName];
  const name = e.errName.startsWith('PSA_') ? e.errName : `TFM_PLAT_ERR_${e.errName}`;
  events.push({ message: `message refused: ${e.why} (${name}, ${code < 0 ? code : hex0x(code)}); the message is wiped` });
  return {
    kind: 'error',
    reason: e.why,
    code: name,
    field: 'provisioning message',
    ...(e.offset === undefined ? {} : { offset: e.offset }),
  };
}
