/**
 * ECDSA over a caller-supplied digest (PSA `psa_sign_hash` / `psa_verify_hash`) on P-256 and
 * P-384: node:crypto always hashes its input, and Node 20's OpenSSL 3.0 has no deterministic
 * nonces. The nonce comes from node's CSPRNG, or, asked for, from RFC 6979's HMAC-DRBG
 * (deterministic signatures, as TF-M's scripts sign BL1_2 images and `--deterministic` signs).
 * Signing keeps secrets out of variable-time code: R = kG is OpenSSL's scalar multiplication, and
 * s = k⁻¹(z + rd) is computed on values blinded by a fresh random factor b (s = (kb)⁻¹(bz + brd)),
 * so the BigInt arithmetic only ever sees uniformly random numbers. Signatures are raw r ‖ s as
 * PSA formats them. Verification of a digest (public data) is plain Jacobian arithmetic.
 * @module
 */
import { createECDH, verify } from 'node:crypto';
import { RseError } from '../lib/errors.ts';
import type { AsymKey } from './asym.ts';
import { hash, hmac, randomBytes } from './hash.ts';

interface Curve {
  readonly p: bigint;
  readonly b: bigint;
  readonly n: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
  readonly size: number;
}

export const ECDSA_CURVES: Readonly<Record<'P-256' | 'P-384', Curve>> = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    size: 32,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    size: 48,
  },
};

const mod = (a: bigint, m: bigint): bigint => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, t0, t1] = [mod(a, m), m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return mod(t0, m);
}

type Jac = readonly [bigint, bigint, bigint];
const INF: Jac = [0n, 1n, 0n];

function dbl(c: Curve, [x, y, z]: Jac): Jac {
  if (z === 0n || y === 0n) return INF;
  const { p } = c;
  const yy = mod(y * y, p);
  const s = mod(4n * x * yy, p);
  const zz = mod(z * z, p);
  const m = mod(3n * (x - zz) * (x + zz), p); // a = -3
  const x3 = mod(m * m - 2n * s, p);
  return [x3, mod(m * (s - x3) - 8n * yy * yy, p), mod(2n * y * z, p)];
}

function add(c: Curve, a: Jac, b: Jac): Jac {
  if (a[2] === 0n) return b;
  if (b[2] === 0n) return a;
  const { p } = c;
  const z1z1 = mod(a[2] * a[2], p);
  const z2z2 = mod(b[2] * b[2], p);
  const u1 = mod(a[0] * z2z2, p);
  const u2 = mod(b[0] * z1z1, p);
  const s1 = mod(a[1] * b[2] * z2z2, p);
  const s2 = mod(b[1] * a[2] * z1z1, p);
  if (u1 === u2) return s1 === s2 ? dbl(c, a) : INF;
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const hh = mod(h * h, p);
  const hhh = mod(h * hh, p);
  const v = mod(u1 * hh, p);
  const x3 = mod(r * r - hhh - 2n * v, p);
  return [x3, mod(r * (v - x3) - s1 * hhh, p), mod(a[2] * b[2] * h, p)];
}

function mul(c: Curve, k: bigint, pt: Jac): Jac {
  let acc = INF;
  for (let i = BigInt(k.toString(2).length - 1); i >= 0n; i--) {
    acc = dbl(c, acc);
    if ((k >> i) & 1n) acc = add(c, acc, pt);
  }
  return acc;
}

function affineX(c: Curve, [x, , z]: Jac): bigint {
  const zi = inv(z, c.p);
  return mod(x * zi * zi, c.p);
}

const big = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`));
const bytes = (v: bigint, n: number): Uint8Array => Uint8Array.from(Buffer.from(v.toString(16).padStart(2 * n, '0'), 'hex'));

/** The digest as an integer: its leftmost bits, as many as the order has (SEC 1 4.1.3). */
function e(c: Curve, digest: Uint8Array): bigint {
  const v = big(digest);
  const excess = digest.length * 8 - c.size * 8;
  return excess > 0 ? v >> BigInt(excess) : v;
}

/**
 * RFC 6979 §3.2's nonces for private scalar `d` and `digest`, with HMAC over `hashAlg` (the
 * digest's hash): the first candidate, then the next ones if a signature needs another.
 */
function* rfc6979Nonces(c: Curve, d: bigint, digest: Uint8Array, hashAlg: 'sha256' | 'sha384'): Generator<bigint> {
  const qlen = c.n.toString(2).length;
  const bits2int = (b: Uint8Array): bigint => {
    const v = big(b);
    const excess = b.length * 8 - qlen;
    return excess > 0 ? v >> BigInt(excess) : v;
  };
  const x = bytes(d, c.size);
  const h = bytes(mod(bits2int(digest), c.n), c.size);
  const hlen = hashAlg === 'sha256' ? 32 : 48;
  let v: Uint8Array = new Uint8Array(hlen).fill(1);
  let k: Uint8Array = new Uint8Array(hlen);
  k = hmac(hashAlg, k, v, Uint8Array.of(0), x, h);
  v = hmac(hashAlg, k, v);
  k = hmac(hashAlg, k, v, Uint8Array.of(1), x, h);
  v = hmac(hashAlg, k, v);
  for (;;) {
    const t: Uint8Array[] = [];
    let have = 0;
    while (have < qlen) {
      v = hmac(hashAlg, k, v);
      t.push(v);
      have += v.length * 8;
    }
    const cand = bits2int(Buffer.concat(t));
    if (cand >= 1n && cand < c.n) yield cand;
    k = hmac(hashAlg, k, v, Uint8Array.of(0));
    v = hmac(hashAlg, k, v);
  }
}

/**
 * Signs `digest` with the private scalar `d`: r ‖ s. With `deterministic`, the nonce is RFC
 * 6979's with HMAC over that hash (the same key and digest always give the same signature).
 */
export function ecdsaSignDigest(
  curve: 'P-256' | 'P-384',
  d: Uint8Array,
  digest: Uint8Array,
  deterministic?: 'sha256' | 'sha384',
): Uint8Array {
  const c = ECDSA_CURVES[curve];
  const dv = big(d);
  if (dv <= 0n || dv >= c.n) throw new RseError('E_KEY', `the ${curve} private scalar is out of range`, { field: 'key' });
  const z = e(c, digest);
  const nonces = deterministic === undefined ? undefined : rfc6979Nonces(c, dv, digest, deterministic);
  const point = createECDH(curve === 'P-256' ? 'prime256v1' : 'secp384r1');
  const scalar = (): bigint => mod(big(randomBytes(c.size + 8)), c.n - 1n) + 1n;
  for (;;) {
    const k = nonces === undefined ? scalar() : (nonces.next().value as bigint);
    // R = kG by OpenSSL (constant-time scalar multiplication); r is its x coordinate mod n.
    point.setPrivateKey(Buffer.from(bytes(k, c.size)));
    const r = mod(big(point.getPublicKey().subarray(1, 1 + c.size)), c.n);
    if (r === 0n) continue;
    // s = k⁻¹(z + rd), blinded: the arithmetic sees kb, bz and (bd)r, never k or d alone.
    const b = scalar();
    const bd = mod(b * dv, c.n);
    const s = mod(inv(mod(k * b, c.n), c.n) * mod(b * z + bd * r, c.n), c.n);
    if (s === 0n) continue;
    const out = new Uint8Array(2 * c.size);
    out.set(bytes(r, c.size), 0);
    out.set(bytes(s, c.size), c.size);
    return out;
  }
}

/** A raw r ‖ s signature as DER (`Ecdsa-Sig-Value`, what OpenSSL and imgtool write). */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const int = (v: Uint8Array): Uint8Array => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const t = v.subarray(i);
    const body = (t[0] as number) & 0x80 ? Uint8Array.of(0, ...t) : t;
    return Uint8Array.of(0x02, body.length, ...body);
  };
  const seq = [...int(raw.subarray(0, half)), ...int(raw.subarray(half))];
  return Uint8Array.from(seq.length < 0x80 ? [0x30, seq.length, ...seq] : [0x30, 0x81, seq.length, ...seq]);
}

/** The private scalar of an ECDSA key, left-padded to the curve's size. */
function privateScalar(key: AsymKey, size: number): Uint8Array {
  const d = key.privateKey?.export({ format: 'jwk' }).d;
  if (d === undefined) throw new RseError('E_KEY', 'signing needs the private key', { field: 'key' });
  const raw = new Uint8Array(Buffer.from(d, 'base64url'));
  const scalar = new Uint8Array(size);
  scalar.set(raw.subarray(Math.max(0, raw.length - size)), Math.max(0, size - raw.length));
  raw.fill(0);
  return scalar;
}

/** Signs a digest (of `hashAlg`) with an rsekit ECDSA key and RFC 6979 nonces: raw r ‖ s. */
export function ecdsaSignDigestRfc6979(key: AsymKey, digest: Uint8Array, hashAlg: 'sha256' | 'sha384'): Uint8Array {
  const p = ecdsaKeyParams(key);
  const d = privateScalar(key, p.size);
  try {
    return ecdsaSignDigest(p.curve, d, digest, hashAlg);
  } finally {
    d.fill(0);
  }
}

/** Verifies r ‖ s over `digest` with the uncompressed public point 0x04 ‖ X ‖ Y. */
export function ecdsaVerifyDigest(curve: 'P-256' | 'P-384', pub: Uint8Array, digest: Uint8Array, sig: Uint8Array): boolean {
  const c = ECDSA_CURVES[curve];
  if (sig.length !== 2 * c.size || pub.length !== 1 + 2 * c.size || pub[0] !== 0x04) return false;
  const r = big(sig.subarray(0, c.size));
  const s = big(sig.subarray(c.size));
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const q: Jac = [big(pub.subarray(1, 1 + c.size)), big(pub.subarray(1 + c.size)), 1n];
  const w = inv(s, c.n);
  const pt = add(c, mul(c, mod(e(c, digest) * w, c.n), [c.gx, c.gy, 1n]), mul(c, mod(r * w, c.n), q));
  return pt[2] !== 0n && mod(affineX(c, pt), c.n) === r;
}

/** The curve, hash and scalar size of an ECDSA P-256 (SHA-256) or P-384 (SHA-384) key. */
export function ecdsaKeyParams(key: AsymKey): { curve: 'P-256' | 'P-384'; hash: 'sha256' | 'sha384'; size: number } {
  if (key.type === 'ecdsa-p256') return { curve: 'P-256', hash: 'sha256', size: 32 };
  if (key.type === 'ecdsa-p384') return { curve: 'P-384', hash: 'sha384', size: 48 };
  throw new RseError('E_KEY', `an ECDSA P-256 or P-384 key is needed, not ${key.type}`, { field: 'key' });
}

/** Signs the curve's hash of `parts` with an rsekit key, RFC 6979 (as TF-M's scripts sign): raw r ‖ s. */
export function ecdsaSignDeterministic(key: AsymKey, ...parts: readonly Uint8Array[]): Uint8Array {
  const p = ecdsaKeyParams(key);
  // A token key signs the digest in the token, with the token's own nonce.
  if (key.token !== undefined) return key.token.sign(hash(p.hash, ...parts));
  return ecdsaSignDigestRfc6979(key, hash(p.hash, ...parts), p.hash);
}

/** Verifies raw r ‖ s over the curve's hash of `parts` with an rsekit key (through OpenSSL). */
export function ecdsaVerifyParts(key: AsymKey, sig: Uint8Array, ...parts: readonly Uint8Array[]): boolean {
  const p = ecdsaKeyParams(key);
  if (sig.length !== 2 * p.size) return false;
  try {
    return verify(p.hash, Buffer.concat(parts), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}
