/**
 * Hashes, MACs, HKDF, AES-CTR, constant-time comparison and the random source, over node:crypto.
 * @module
 */
import {
  createCipheriv,
  createHash,
  createHmac,
  hkdfSync,
  type KeyObject,
  randomBytes as nodeRandomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export type { KeyObject };

export type HashAlg = 'sha256' | 'sha384' | 'sha512';

export const HASH_SIZES: Readonly<Record<HashAlg, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/** Hashes the concatenation of `parts` without concatenating them. */
export function hash(alg: HashAlg, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** A hash fed piece by piece (a payload too large to hold at once). */
export interface Hasher {
  update(piece: Uint8Array): void;
  digest(): Uint8Array;
}

export function hasher(alg: HashAlg): Hasher {
  const h = createHash(alg);
  return {
    update: (piece) => {
      h.update(piece);
    },
    digest: () => asU8(h.digest()),
  };
}

export function sha1(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

export function hmac(alg: HashAlg, key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac(alg, key);
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** HKDF (RFC 5869); an empty salt is the same as HashLen zero bytes. */
export function hkdf(alg: HashAlg, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync(alg, ikm, salt, info, length));
}

/** AES-CTR with a 16-byte initial counter block (128-bit big-endian counter). Encrypts or decrypts. */
export function aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) {
    throw new RseError('E_BAD_FIELD', `AES key must be 16 or 32 bytes, got ${key.length}`, { field: 'aes key' });
  }
  const c = createCipheriv(key.length === 16 ? 'aes-128-ctr' : 'aes-256-ctr', key, counter);
  const out = new Uint8Array(data.length);
  const a = c.update(data);
  out.set(a, 0);
  out.set(c.final(), a.length);
  return out;
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Random bytes; callers that need determinism in tests inject their own source instead. */
export function randomBytes(n: number): Uint8Array {
  return asU8(nodeRandomBytes(n));
}

export type RandomSource = (n: number) => Uint8Array;
