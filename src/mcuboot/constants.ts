/**
 * MCUboot image format constants (spec: shared/spec/mcuboot.md §2).
 * @module
 */

export const IMAGE_MAGIC = 0x96f3b83d;
export const IMAGE_HEADER_SIZE = 32;
export const TLV_INFO_MAGIC = 0x6907;
export const TLV_PROT_INFO_MAGIC = 0x6908;
export const TLV_INFO_SIZE = 4;
export const TLV_SIZE = 4;
export const TLV_VENDOR_MIN = 0x00a0;
export const TLV_VENDOR_MAX = 0xfffe;

/** MCUboot image header flags (`ih_flags`). */
export const IMAGE_FLAGS = {
  PIC: 0x001,
  ENCRYPTED_AES128: 0x004,
  ENCRYPTED_AES256: 0x008,
  NON_BOOTABLE: 0x010,
  RAM_LOAD: 0x020,
  ROM_FIXED: 0x100,
  COMPRESSED_LZMA1: 0x200,
  COMPRESSED_LZMA2: 0x400,
  COMPRESSED_ARM_THUMB: 0x800,
} as const;

/** Named TLV types, with imgtool's names (dumpinfo prints these). */
export const TLV = {
  KEYHASH: 0x01,
  PUBKEY: 0x02,
  SHA256: 0x10,
  SHA384: 0x11,
  SHA512: 0x12,
  RSA2048: 0x20,
  ECDSASIG: 0x22,
  RSA3072: 0x23,
  ED25519: 0x24,
  SIG_PURE: 0x25,
  ENCRSA2048: 0x30,
  ENCKW: 0x31,
  ENCEC256: 0x32,
  ENCX25519: 0x33,
  ENCX25519_SHA512: 0x34,
  DEPENDENCY: 0x40,
  SEC_CNT: 0x50,
  BOOT_RECORD: 0x60,
  DECOMP_SIZE: 0x70,
  DECOMP_SHA: 0x71,
  DECOMP_SIGNATURE: 0x72,
  COMP_DEC_SIZE: 0x73,
  UUID_VID: 0x74,
  UUID_CID: 0x75,
} as const;

export type TlvName = keyof typeof TLV;

const TLV_NAMES = new Map<number, TlvName>(Object.entries(TLV).map(([k, v]) => [v, k as TlvName]));

/** imgtool's name for a TLV type, or `UNKNOWN`. */
export function tlvName(type: number): TlvName | 'UNKNOWN' {
  return TLV_NAMES.get(type) ?? 'UNKNOWN';
}

export function isPredefinedTlv(type: number): boolean {
  return TLV_NAMES.has(type);
}

/** The boot magic for max_align 8, and the tail of the magic for other alignments. */
export const BOOT_MAGIC: Uint8Array = new Uint8Array([
  0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
]);
export const BOOT_MAGIC_TAIL: Uint8Array = new Uint8Array([
  0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a,
]);
export const BOOT_MAGIC_SIZE = 16;
export const DEFAULT_MAX_SECTORS = 128;
export const DEFAULT_MAX_ALIGN = 8;
export const MAX_SW_TYPE_LENGTH = 12;

/**
 * The TLVs MCUboot accepts outside the protected area (`allowed_unprot_tlvs`): keys, hashes,
 * signatures (0x21 is the retired RSA-PSS TLV) and encryption key wraps. Anything else must be
 * covered by the hash.
 */
export const UNPROTECTED_TLV_ALLOW_LIST: ReadonlySet<number> = new Set<number>([
  TLV.KEYHASH,
  TLV.PUBKEY,
  TLV.SHA256,
  TLV.SHA384,
  TLV.RSA2048,
  0x21,
  TLV.ECDSASIG,
  TLV.RSA3072,
  TLV.ED25519,
  TLV.ENCRSA2048,
  TLV.ENCKW,
  TLV.ENCEC256,
  TLV.ENCX25519,
]);

/** The TLVs the imgtool of MCUboot's `tfm-2.3.0` branch adds (TF-M 2.3's RSE): key id and image binding. */
export const TLV_TFM_2_3 = { KEYID: 0x03, BIND_METADATA: 0xa4, BIND_TAG: 0xa5 } as const;

/** Whether that imgtool knows `type` (its `TLV_VALUES`): such tags are written `type, 0` in either endianness. */
export function isTfm23KnownTlv(type: number): boolean {
  return isPredefinedTlv(type) || Object.values(TLV_TFM_2_3).includes(type as 0x03);
}
