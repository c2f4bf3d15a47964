/**
 * The key-derivation constructs of the RSE's CryptoCell-312 ROM driver, restated from the
 * algorithm descriptions in TF-M (`cc3xx_kdf.c` of TF-M 2.1, `cc312_rom_crypto.c` of TF-M 1.7):
 * AES-CMAC (RFC 4493), the NIST SP 800-108 counter-mode CMAC KDF with the K(0) hardening, the
 * TF-M 1.7 hash-then-ECB KDF, and PSA's deterministic ECC key derivation.
 * @module
 */
import { concatBytes, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { aesCbcMacLastBlock, aesEcbEncrypt, ecPublicFromPrivate, hash, hkdf } from './index.ts';

const BLOCK = 16;

function shiftLeft1(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = ((b[i] as number) << 1) | ((b[i + 1] ?? 0) >> 7);
  return out;
}

function subkey(l: Uint8Array): Uint8Array {
  const k = shiftLeft1(l);
  if (((l[0] as number) & 0x80) !== 0) k[BLOCK - 1] = (k[BLOCK - 1] as number) ^ 0x87;
  return k;
}

/** AES-CMAC (RFC 4493) with a 16- or 32-byte key, over the concatenation of `parts`. */
export function aesCmac(key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const msg = concatBytes(parts);
  const k1 = subkey(aesEcbEncrypt(key, new Uint8Array(BLOCK)));
  const n = Math.max(1, Math.ceil(msg.length / BLOCK));
  const complete = msg.length > 0 && msg.length % BLOCK === 0;
  // The last block is XORed with K1 (complete) or padded and XORed with K2, then CBC-MAC.
  const padded = new Uint8Array(n * BLOCK);
  padded.set(msg);
  const lastOff = (n - 1) * BLOCK;
  const k = complete ? k1 : subkey(k1);
  if (!complete) padded[msg.length] = 0x80;
  for (let i = 0; i < BLOCK; i++) padded[lastOff + i] = (padded[lastOff + i] as number) ^ (k[i] as number);
  return aesCbcMacLastBlock(key, padded);
}

/** A KDF label: a string is taken as a C string, so its NUL terminator is part of it. */
export type KdfLabel = string | Uint8Array;

function labelBytes(label: KdfLabel): Uint8Array {
  if (typeof label !== 'string') return label;
  const t = new TextEncoder().encode(label);
  const out = new Uint8Array(t.length + 1);
  out.set(t);
  return out;
}

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length <= 0 || length > 0x10000) {
    throw new RseError('E_ARGUMENT', `KDF output length must be 1..65536 bytes, got ${length}`, { field: 'kdf.length' });
  }
}

/**
 * NIST SP 800-108 counter-mode KDF with AES-CMAC as the PRF (the TF-M 2.1 `cc3xx_kdf`):
 * fixed = label ‖ 0x00 ‖ context ‖ L (u32 LE, L in bytes); K0 = CMAC(K, fixed);
 * block i = CMAC(K, i (u32 LE) ‖ fixed ‖ K0) for i = 1, 2, …; output truncated to `length`.
 */
export function kdfCmacCounter(key: Uint8Array, label: KdfLabel, context: Uint8Array, length: number): Uint8Array {
  checkLength(length);
  const fixed = [labelBytes(label), new Uint8Array(1), context, u32le(length)];
  const k0 = aesCmac(key, ...fixed);
  const out = new Uint8Array(Math.ceil(length / BLOCK) * BLOCK);
  for (let i = 1; (i - 1) * BLOCK < length; i++) out.set(aesCmac(key, u32le(i), ...fixed, k0), (i - 1) * BLOCK);
  return out.slice(0, length);
}

/**
 * The same NIST SP 800-108 counter-mode AES-CMAC KDF as TF-M 2.2+ computes it (its
 * `tools/modules/key_derivation.py` and the RSE's KMASTER/KPROV derivations): the counter i and
 * L are big-endian u32 and L counts bits; fixed = label ‖ 0x00 ‖ context ‖ L; K0 = CMAC(K, fixed);
 * block i = CMAC(K, i ‖ fixed ‖ K0).
 */
export function kdfCmacCounterBe(key: Uint8Array, label: KdfLabel, context: Uint8Array, length: number): Uint8Array {
  checkLength(length);
  const be = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const fixed = [labelBytes(label), new Uint8Array(1), context, be(length * 8)];
  const k0 = aesCmac(key, ...fixed);
  const out = new Uint8Array(Math.ceil(length / BLOCK) * BLOCK);
  for (let i = 1; (i - 1) * BLOCK < length; i++) out.set(aesCmac(key, be(i), ...fixed, k0), (i - 1) * BLOCK);
  return out.slice(0, length);
}

/**
 * The TF-M 1.7 BL1 KDF (hash then encrypt): block i = AES-256-ECB(K, SHA-256(i (u32 LE) ‖ label ‖
 * 0x00 ‖ context ‖ L (u32 LE))), 32 bytes per block, for i = 1, 2, …, truncated to `length`.
 */
export function kdfHashEcb(key: Uint8Array, label: KdfLabel, context: Uint8Array, length: number): Uint8Array {
  checkLength(length);
  const out = new Uint8Array(Math.ceil(length / 32) * 32);
  for (let i = 1; (i - 1) * 32 < length; i++) {
    const digest = hash('sha256', u32le(i), labelBytes(label), new Uint8Array(1), context, u32le(length));
    out.set(aesEcbEncrypt(key, digest), (i - 1) * 32);
  }
  return out.slice(0, length);
}

const CURVE_ORDERS = {
  'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  'P-384': 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  'P-521':
    0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
} as const;

/** Bit size of each curve's order. */
const CURVE_BITS = { 'P-256': 256, 'P-384': 384, 'P-521': 521 } as const;

export type PsaCurve = keyof typeof CURVE_ORDERS;

function bigFromBytes(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function bytesFromBig(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * PSA Crypto's deterministic derivation of a Weierstrass private key from a byte stream (the
 * rule `psa_key_derivation_output_key` follows for SECP_R1 keys): draw ⌈bits/8⌉ bytes, clear the
 * bits of the first byte above the order's size (P-521: the top 7), read them as a big-endian k,
 * draw again while k > n − 2, and take k + 1. `stream(n)` yields the next n
 * bytes of the derivation's output.
 */
export function psaDeriveEcPrivate(curve: PsaCurve, stream: (n: number) => Uint8Array): Uint8Array {
  const order = CURVE_ORDERS[curve];
  const bits = CURVE_BITS[curve];
  const size = Math.ceil(bits / 8);
  const topMask = 0xff >> (size * 8 - bits);
  for (let attempt = 0; attempt < 64; attempt++) {
    const draw = stream(size).slice();
    draw[0] = (draw[0] as number) & topMask;
    const k = bigFromBytes(draw);
    if (k <= order - 2n) return bytesFromBig(k + 1n, size);
  }
  throw new RseError('E_BAD_FIELD', 'PSA key derivation drew 64 out-of-range scalars', { field: 'psa.derive' });
}

/**
 * The RSE's IAK (CPAK) and DAK derivation: PSA HKDF-SHA-256 with the 32-byte seed as the secret,
 * no salt and `info` (empty for the IAK, the measured-boot state for the DAK), feeding {@link psaDeriveEcPrivate}. Returns the private scalar and the
 * uncompressed public point.
 */
export function deriveHkdfEcKey(
  curve: PsaCurve,
  seed: Uint8Array,
  info: Uint8Array = new Uint8Array(0),
): { privateKey: Uint8Array; publicKey: Uint8Array } {
  // HKDF-SHA-256 can produce up to 255 × 32 bytes; the first few draws are all anyone needs.
  const okm = hkdf('sha256', seed, new Uint8Array(0), info, 255 * 32);
  let pos = 0;
  const privateKey = psaDeriveEcPrivate(curve, (n) => {
    if (pos + n > okm.length) throw new RseError('E_BAD_FIELD', 'HKDF output exhausted', { field: 'psa.derive' });
    const b = okm.slice(pos, pos + n);
    pos += n;
    return b;
  });
  return { privateKey, publicKey: ecPublicFromPrivate(curve, privateKey) };
}

/**
 * CryptoCell's deterministic ECDSA key derivation (`cc3xx_lowlevel_ecdsa_derive_key`, used by
 * TF-M 2.3's BL1 as `bl1_ecc_derive_key`): the big-endian counter KDF draws the curve's bits plus
 * 64 (FIPS 186-5 A.2.1), rounded up to whole CMAC blocks, read as a big-endian number and reduced
 * modulo the order. Returns the private scalar (the curve's size) and the uncompressed public point.
 */
export function cc3xxDeriveEcKey(
  curve: 'P-256' | 'P-384',
  key: Uint8Array,
  label: KdfLabel,
  context: Uint8Array,
): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const size = CURVE_BITS[curve] / 8;
  const draw = Math.ceil((size + 8) / BLOCK) * BLOCK;
  const d = bigFromBytes(kdfCmacCounterBe(key, label, context, draw)) % CURVE_ORDERS[curve];
  if (d === 0n) throw new RseError('E_BAD_FIELD', 'the derived ECDSA key is zero', { field: 'ecdsa.derive' });
  const privateKey = bytesFromBig(d, size);
  return { privateKey, publicKey: ecPublicFromPrivate(curve, privateKey) };
}
