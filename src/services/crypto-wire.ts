/**
 * The crypto partition's wire format and constants (TF-M 2.1 `tfm_crypto_api.c`): function ids
 * `group << 8 | index`, the 56-byte `tfm_crypto_pack_iovec` every call starts with, the 24-byte
 * client view of `psa_key_attributes_t`, key types, usages, algorithms, RSE's builtin key ids and
 * the partitions. The service itself is `crypto.ts`.
 * @module
 */

import type { HashAlg } from '../crypto/index.ts';
import { readU16le, readU32le } from '../lib/bytes.ts';

/** Function ids (TF-M 2.1: group << 8 | index). */
export const CRYPTO_FN = {
  GENERATE_RANDOM: 0x0100,
  GET_KEY_ATTRIBUTES: 0x0200,
  IMPORT_KEY: 0x0203,
  DESTROY_KEY: 0x0204,
  EXPORT_KEY: 0x0205,
  EXPORT_PUBLIC_KEY: 0x0206,
  GENERATE_KEY: 0x0209,
  HASH_COMPUTE: 0x0300,
  HASH_COMPARE: 0x0301,
  MAC_COMPUTE: 0x0400,
  MAC_VERIFY: 0x0401,
  AEAD_ENCRYPT: 0x0600,
  AEAD_DECRYPT: 0x0601,
  SIGN_MESSAGE: 0x0700,
  VERIFY_MESSAGE: 0x0701,
  SIGN_HASH: 0x0702,
  VERIFY_HASH: 0x0703,
  KDF_SETUP: 0x0901,
  KDF_GET_CAPACITY: 0x0902,
  KDF_SET_CAPACITY: 0x0903,
  KDF_INPUT_BYTES: 0x0904,
  KDF_INPUT_KEY: 0x0905,
  KDF_OUTPUT_BYTES: 0x0908,
  KDF_OUTPUT_KEY: 0x0909,
  KDF_ABORT: 0x090a,
} as const;

export const KEY_TYPE = {
  RAW_DATA: 0x1001,
  /** `PSA_KEY_TYPE_VENDOR_FLAG | PSA_KEY_TYPE_CATEGORY_RAW`: RSE's ROTPK hashes as builtin keys. */
  VENDOR_RAW: 0x9000,
  HMAC: 0x1100,
  DERIVE: 0x1200,
  AES: 0x2400,
  CHACHA20: 0x2004,
  ECC_PAIR_R1: 0x7112,
  ECC_PUB_R1: 0x4112,
} as const;
export const USAGE = {
  EXPORT: 0x1,
  ENCRYPT: 0x100,
  DECRYPT: 0x200,
  SIGN_MESSAGE: 0x400,
  VERIFY_MESSAGE: 0x800,
  SIGN_HASH: 0x1000,
  VERIFY_HASH: 0x2000,
  DERIVE: 0x4000,
} as const;
export const ALG = {
  ANY_HASH: 0x020000ff,
  hmac: (h: number): number => 0x03800000 | (h & 0xff),
  ecdsa: (h: number): number => 0x06000600 | (h & 0xff),
  hkdf: (h: number): number => 0x08000100 | (h & 0xff),
  GCM: 0x05500200,
  CCM: 0x05500100,
  CHACHA20_POLY1305: 0x05100500,
} as const;
export const KDF_STEP = { SECRET: 0x0101, SALT: 0x0202, INFO: 0x0203 } as const;
export const PSA_ERROR_INVALID_SIGNATURE = -149;
export const PSA_ERROR_INSUFFICIENT_DATA = -143;

/** RSE's builtin key ids (`tfm_builtin_key_ids.h`, with delegated attestation). */
export const BUILTIN_KEY = {
  HUK: 0x7fff815c,
  IAK: 0x7fff815d,
  DAK_SEED: 0x7fff815e,
  HOST_S_ROTPK: 0x7fff816c,
  HOST_NS_ROTPK: 0x7fff816d,
  HOST_CCA_ROTPK: 0x7fff816e,
} as const;

/** The secure partitions, their isolation level and the services their manifests depend on. */
export const PARTITION = {
  CRYPTO: { id: 256, level: 'psa-rot' },
  PLATFORM: { id: 257, level: 'psa-rot' },
  INITIAL_ATTESTATION: { id: 258, level: 'psa-rot' },
  MEASURED_BOOT: { id: 259, level: 'psa-rot' },
  DELEGATED_ATTESTATION: { id: 260, level: 'psa-rot' },
} as const;
/** `TFM_NS_PARTITION_ID`: how builtin-key policies name every non-secure caller. */
export const NS_USER = -1;

export const HASHES: Readonly<Record<number, HashAlg>> = { 9: 'sha256', 10: 'sha384', 11: 'sha512' };
/** The hash a PSA hash algorithm id names, if the RSE builds it in. */
export const hashOf = (alg: number): HashAlg | undefined => ((alg & 0x7fffff00) === 0x02000000 ? HASHES[alg & 0xff] : undefined);

/** The client view of `psa_key_attributes_t` (24 bytes). */
export interface KeyAttributes {
  readonly type: number;
  readonly bits: number;
  readonly lifetime: number;
  readonly usage: number;
  readonly alg: number;
  readonly id: number;
}
export const ATTRIBUTES_SIZE = 24;

export function encodeAttributes(a: KeyAttributes): Uint8Array {
  const b = new Uint8Array(ATTRIBUTES_SIZE);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, a.type, true);
  dv.setUint16(2, a.bits, true);
  dv.setUint32(4, a.lifetime, true);
  dv.setUint32(8, a.usage, true);
  dv.setUint32(12, a.alg, true);
  dv.setUint32(20, a.id, true);
  return b;
}

export function decodeAttributes(b: Uint8Array): KeyAttributes {
  return {
    type: readU16le(b, 0),
    bits: readU16le(b, 2),
    lifetime: readU32le(b, 4),
    usage: readU32le(b, 8),
    alg: readU32le(b, 12),
    id: readU32le(b, 20),
  };
}

/** The 56-byte `tfm_crypto_pack_iovec`. */
export interface PackIovec {
  readonly keyId: number;
  readonly alg: number;
  readonly opHandle: number;
  readonly nonce: Uint8Array;
  readonly functionId: number;
  readonly step: number;
  readonly capacity: number;
}

export function encodePackIovec(p: Partial<PackIovec> & { functionId: number }): Uint8Array {
  const b = new Uint8Array(56);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, p.keyId ?? 0, true);
  dv.setUint32(4, p.alg ?? 0, true);
  dv.setUint32(8, p.opHandle ?? 0, true);
  const nonce = p.nonce ?? new Uint8Array(0);
  b.set(nonce.subarray(0, 16), 20);
  dv.setUint32(36, Math.min(nonce.length, 16), true);
  dv.setUint16(40, p.functionId, true);
  dv.setUint16(42, p.step ?? 0, true);
  dv.setBigUint64(48, BigInt(p.capacity ?? 0), true);
  return b;
}

export function decodePackIovec(b: Uint8Array): PackIovec {
  const n = Math.min(readU32le(b, 36), 16);
  const cap = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(48, true);
  return {
    keyId: readU32le(b, 0),
    alg: readU32le(b, 4),
    opHandle: readU32le(b, 8),
    nonce: b.slice(20, 20 + n),
    functionId: readU16le(b, 40),
    step: readU16le(b, 42),
    capacity: cap > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(cap),
  };
}
