/**
 * PSA FWU metadata version 2 (the A/B bank record TF-A's BL2 reads): writer, reader with TF-A's
 * sanity checks and CRC, bank switching and the alternate-bank rule.
 * @module
 */
import { crc32 } from 'node:zlib';
import { RseError } from '../lib/errors.ts';
import { guidFromBytes, guidToBytes } from './guid.ts';

export const FWU_VERSION = 2;
export const FWU_HEADER_SIZE = 32;
export const FWU_DESC_OFFSET = 0x20;
export const FWU_BANK_INFO_SIZE = 24;
export const FWU_MAX_BANKS = 4;
/** TF-A's ARM_FIP_IMG_TYPE_GUID: how BL2 finds the FIP image entry. */
export const ARM_FIP_IMG_TYPE_GUID = '78C312E5-9FCC-491A-A78F-D2689C359E22';

export type BankState = 'accepted' | 'valid' | 'invalid';
const STATE_BYTE: Record<BankState, number> = { accepted: 0xfc, valid: 0xfe, invalid: 0xff };
export const bankStateFromByte = (b: number): BankState | 'unknown' =>
  b === 0xfc ? 'accepted' : b === 0xfe ? 'valid' : b === 0xff ? 'invalid' : 'unknown';

export interface FwuBankInfo {
  readonly guid: string;
  readonly accepted: boolean;
}

/** One image of the FWU metadata: its type and its location in each bank. */
export interface FwuImage {
  readonly typeGuid: string;
  readonly locationGuid: string;
  /** One entry per bank. */
  readonly banks: readonly FwuBankInfo[];
}

/** PSA FWU metadata (v2) as TF-A reads it: active and previous bank, bank states, images. */
export interface FwuMetadata {
  readonly activeIndex: number;
  readonly previousActiveIndex: number;
  /** One per bank. */
  readonly bankStates: readonly BankState[];
  readonly images: readonly FwuImage[];
}

export const imgEntrySize = (banks: number): number => 32 + FWU_BANK_INFO_SIZE * banks;
export const metadataSize = (banks: number, images: number): number => FWU_HEADER_SIZE + 8 + imgEntrySize(banks) * images;

export function encodeFwuMetadata(m: FwuMetadata): Uint8Array {
  const banks = m.bankStates.length;
  if (banks < 1 || banks > FWU_MAX_BANKS)
    throw new RseError('E_ARGUMENT', `${banks} banks: 1..${FWU_MAX_BANKS} are supported`, { field: 'banks' });
  if (m.activeIndex >= banks || m.previousActiveIndex >= banks) {
    throw new RseError('E_ARGUMENT', `active ${m.activeIndex} / previous ${m.previousActiveIndex} must be below the ${banks} banks`, {
      field: 'active_index',
    });
  }
  const size = metadataSize(banks, m.images.length);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, FWU_VERSION, true);
  dv.setUint32(8, m.activeIndex, true);
  dv.setUint32(12, m.previousActiveIndex, true);
  dv.setUint32(16, size, true);
  dv.setUint16(20, FWU_DESC_OFFSET, true);
  out.fill(0xff, 24, 28);
  m.bankStates.forEach((s, i) => {
    out[24 + i] = STATE_BYTE[s];
  });
  out[32] = banks;
  dv.setUint16(34, m.images.length, true);
  dv.setUint16(36, imgEntrySize(banks), true);
  dv.setUint16(38, FWU_BANK_INFO_SIZE, true);
  m.images.forEach((img, k) => {
    if (img.banks.length !== banks)
      throw new RseError('E_ARGUMENT', `image ${k} lists ${img.banks.length} banks, the metadata ${banks}`, { field: `img_entry[${k}]` });
    const at = 40 + k * imgEntrySize(banks);
    out.set(guidToBytes(img.typeGuid), at);
    out.set(guidToBytes(img.locationGuid), at + 16);
    img.banks.forEach((b, i) => {
      const bi = at + 32 + i * FWU_BANK_INFO_SIZE;
      out.set(guidToBytes(b.guid), bi);
      dv.setUint32(bi + 16, b.accepted ? 1 : 0, true);
    });
  });
  dv.setUint32(0, crc32(out.subarray(4)), true);
  return out;
}

export interface FwuReadOptions {
  /** TF-A's NR_OF_FW_BANKS (default 2). */
  readonly banks?: number;
  /** TF-A's NR_OF_IMAGES_IN_FW_BANK (default 1). */
  readonly imagesPerBank?: number;
}

/** Parses metadata with TF-A's checks (`fwu_metadata_sanity_check`, then the CRC). */
export function parseFwuMetadata(
  bytes: Uint8Array,
  options: FwuReadOptions = {},
): FwuMetadata & { readonly crc: number; readonly size: number } {
  const banks = options.banks ?? 2;
  const maxImages = options.imagesPerBank ?? 1;
  const maxSize = metadataSize(banks, maxImages);
  if (bytes.length < FWU_HEADER_SIZE)
    throw new RseError('E_TRUNCATED', `FWU metadata is ${bytes.length} bytes, less than its 32-byte header`, { offset: 0 });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (code: 'E_BAD_FIELD' | 'E_CRC' | 'E_TRUNCATED', msg: string, field: string, offset: number): never => {
    throw new RseError(code, `FWU metadata: ${msg}`, { field, offset });
  };
  const version = dv.getUint32(4, true);
  if (version !== FWU_VERSION) fail('E_BAD_FIELD', `version ${version}, expected 2`, 'version', 4);
  const active = dv.getUint32(8, true);
  const previous = dv.getUint32(12, true);
  if (active >= banks) fail('E_BAD_FIELD', `active_index ${active} is not below ${banks}`, 'active_index', 8);
  if (previous >= banks) fail('E_BAD_FIELD', `previous_active_index ${previous} is not below ${banks}`, 'previous_active_index', 12);
  const size = dv.getUint32(16, true);
  if (size < 0x20 || size > maxSize) fail('E_BAD_FIELD', `metadata_size ${size} is outside 32..${maxSize}`, 'metadata_size', 16);
  if (size > bytes.length) fail('E_TRUNCATED', `metadata_size ${size} is more than the ${bytes.length} bytes given`, 'metadata_size', 16);
  const descOffset = dv.getUint16(20, true);
  if (descOffset !== FWU_DESC_OFFSET) fail('E_BAD_FIELD', `desc_offset ${descOffset}, expected 0x20`, 'desc_offset', 20);
  if (size < FWU_HEADER_SIZE + 8) fail('E_BAD_FIELD', `metadata_size ${size} leaves no room for the store descriptor`, 'metadata_size', 16);
  if (bytes[32] !== banks) fail('E_BAD_FIELD', `num_banks ${bytes[32]}, expected ${banks}`, 'fw_desc.num_banks', 32);
  const images = dv.getUint16(34, true);
  if (images > maxImages) fail('E_BAD_FIELD', `num_images ${images} is more than ${maxImages}`, 'fw_desc.num_images', 34);
  if (dv.getUint16(36, true) !== imgEntrySize(banks))
    fail('E_BAD_FIELD', `img_entry_size ${dv.getUint16(36, true)}, expected ${imgEntrySize(banks)}`, 'fw_desc.img_entry_size', 36);
  if (dv.getUint16(38, true) !== FWU_BANK_INFO_SIZE)
    fail('E_BAD_FIELD', `bank_info_entry_size ${dv.getUint16(38, true)}, expected 24`, 'fw_desc.bank_info_entry_size', 38);
  const stored = dv.getUint32(0, true);
  const computed = crc32(bytes.subarray(4, size));
  if (stored !== computed)
    fail(
      'E_CRC',
      `CRC32 is 0x${stored.toString(16).padStart(8, '0')}, the bytes give 0x${computed.toString(16).padStart(8, '0')}`,
      'crc_32',
      0,
    );
  // TF-A reads the whole structure whatever metadata_size says; so do we, once the CRC held.
  if (40 + images * imgEntrySize(banks) > bytes.length)
    fail('E_TRUNCATED', `${images} image entries need ${40 + images * imgEntrySize(banks)} bytes`, 'fw_desc.num_images', 34);
  const states: BankState[] = [];
  for (let i = 0; i < banks; i++) {
    const s = bankStateFromByte(bytes[24 + i] as number);
    if (s === 'unknown') fail('E_BAD_FIELD', `bank_state[${i}] is 0x${(bytes[24 + i] as number).toString(16)}`, `bank_state[${i}]`, 24 + i);
    states.push(s as BankState);
  }
  const imgs: FwuImage[] = [];
  for (let k = 0; k < images; k++) {
    const at = 40 + k * imgEntrySize(banks);
    const bankInfo: FwuBankInfo[] = [];
    for (let i = 0; i < banks; i++) {
      const bi = at + 32 + i * FWU_BANK_INFO_SIZE;
      bankInfo.push({ guid: guidFromBytes(bytes.subarray(bi, bi + 16)), accepted: (dv.getUint32(bi + 16, true) & 1) === 1 });
    }
    imgs.push({
      typeGuid: guidFromBytes(bytes.subarray(at, at + 16)),
      locationGuid: guidFromBytes(bytes.subarray(at + 16, at + 32)),
      banks: bankInfo,
    });
  }
  return { activeIndex: active, previousActiveIndex: previous, bankStates: states, images: imgs, crc: stored, size };
}

/** Makes `bank` active (the old active becomes previous), as an FWU agent does after an update. */
export function switchActiveBank(m: FwuMetadata, bank: number): FwuMetadata {
  if (!Number.isInteger(bank) || bank < 0 || bank >= m.bankStates.length) {
    throw new RseError('E_ARGUMENT', `bank ${bank} does not exist (banks 0..${m.bankStates.length - 1})`, { field: 'active_index' });
  }
  return { ...m, previousActiveIndex: m.activeIndex, activeIndex: bank };
}

/** TF-A's `fwu_get_alternate_boot_bank`: previous if accepted, any other accepted, previous if valid, any other valid; else undefined. */
export function alternateBank(m: FwuMetadata): number | undefined {
  const others = m.bankStates.map((_, i) => i).filter((i) => i !== m.activeIndex);
  for (const want of ['accepted', 'valid'] as const) {
    if (m.previousActiveIndex !== m.activeIndex && m.bankStates[m.previousActiveIndex] === want) return m.previousActiveIndex;
    const other = others.find((i) => m.bankStates[i] === want);
    if (other !== undefined) return other;
  }
  return undefined;
}
