/**
 * Leighton-Micali signatures (RFC 8554) with SHA-256 and 32-byte outputs: LM-OTS types 1..4
 * (W = 1, 2, 4, 8), LMS types 5..9 (H = 5..25), verification of LMS and HSS signatures, and a
 * stateful LMS signer. Private keys are pyhsslms `.prv` files (the format TF-M's BL1 tooling
 * uses, `bl1/bl1_2/bl1_dummy_rotpk.prv`), so keys move between rsekit and TF-M's scripts; the
 * one-time keys are derived from the seed as RFC 8554 Appendix A (and that pyhsslms) does, so a
 * key's public key is the same in both. Every hash is node:crypto SHA-256.
 * @module
 */
import { hash as nodeHash } from 'node:crypto';
import { readU32be, u32be } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hash } from './index.ts';

const sha256 = (...parts: readonly Uint8Array[]): Uint8Array => hash('sha256', ...parts);
// The Winternitz chains (2^h * p * (2^w - 1) hashes of one 55-byte block each, the whole cost of
// a key) use node:crypto's one-shot hash on one reused buffer instead.

const N = 32;
const I_LEN = 16;

/** LM-OTS parameter sets: type → (w, p, ls). */
export const LMOTS_TYPES: Readonly<Record<number, { name: string; w: number; p: number; ls: number }>> = {
  1: { name: 'LMOTS_SHA256_N32_W1', w: 1, p: 265, ls: 7 },
  2: { name: 'LMOTS_SHA256_N32_W2', w: 2, p: 133, ls: 6 },
  3: { name: 'LMOTS_SHA256_N32_W4', w: 4, p: 67, ls: 4 },
  4: { name: 'LMOTS_SHA256_N32_W8', w: 8, p: 34, ls: 0 },
};

/** LMS parameter sets: type → tree height. */
export const LMS_TYPES: Readonly<Record<number, { name: string; h: number }>> = {
  5: { name: 'LMS_SHA256_M32_H5', h: 5 },
  6: { name: 'LMS_SHA256_M32_H10', h: 10 },
  7: { name: 'LMS_SHA256_M32_H15', h: 15 },
  8: { name: 'LMS_SHA256_M32_H20', h: 20 },
  9: { name: 'LMS_SHA256_M32_H25', h: 25 },
};

const D_PBLC = Uint8Array.of(0x80, 0x80);
const D_MESG = Uint8Array.of(0x81, 0x81);
const D_LEAF = Uint8Array.of(0x82, 0x82);
const D_INTR = Uint8Array.of(0x83, 0x83);

/** Size of an LM-OTS signature of `type`. */
export function lmotsSignatureSize(type: number): number {
  const t = LMOTS_TYPES[type];
  return t === undefined ? 0 : 4 + N * (t.p + 1);
}

/** Size of an LMS signature for the given types (q, OTS signature, type, path). */
export function lmsSignatureSize(lmsType: number, otsType: number): number {
  const l = LMS_TYPES[lmsType];
  const o = lmotsSignatureSize(otsType);
  return l === undefined || o === 0 ? 0 : 4 + o + 4 + N * l.h;
}

function coef(s: Uint8Array, i: number, w: number): number {
  const byte = s[(i * w) >> 3] as number;
  return (byte >> (8 - (w * (i % (8 / w)) + w))) & ((1 << w) - 1);
}

/** The message hash with its checksum appended (RFC 8554 section 4.4). */
function digits(q: Uint8Array, w: number, ls: number): Uint8Array {
  let sum = 0;
  const count = (N * 8) / w;
  const max = (1 << w) - 1;
  for (let i = 0; i < count; i++) sum += max - coef(q, i, w);
  const v = new Uint8Array(N + 2);
  v.set(q);
  const c = (sum << ls) & 0xffff;
  v[N] = c >> 8;
  v[N + 1] = c & 0xff;
  return v;
}

/** One Winternitz chain step input: I || u32(q) || u16(i) || u8(j) || tmp (55 bytes). */
function chain(I: Uint8Array, qBytes: Uint8Array, i: number, from: number, to: number, start: Uint8Array): Uint8Array {
  const buf = new Uint8Array(I_LEN + 4 + 2 + 1 + N);
  buf.set(I, 0);
  buf.set(qBytes, I_LEN);
  buf[I_LEN + 4] = i >> 8;
  buf[I_LEN + 5] = i & 0xff;
  let tmp = start;
  for (let j = from; j < to; j++) {
    buf[I_LEN + 6] = j;
    buf.set(tmp, I_LEN + 7);
    tmp = new Uint8Array(nodeHash('sha256', buf, 'buffer'));
  }
  return tmp;
}

/** Algorithm 4b: the candidate OTS public key from a signature; `undefined` if malformed. */
function otsCandidate(I: Uint8Array, q: number, otsType: number, sig: Uint8Array, msg: Uint8Array): Uint8Array | undefined {
  const t = LMOTS_TYPES[otsType];
  if (t === undefined || sig.length !== lmotsSignatureSize(otsType) || readU32be(sig, 0) !== otsType) return undefined;
  const qb = u32be(q);
  const C = sig.subarray(4, 4 + N);
  const Q = digits(sha256(I, qb, D_MESG, C, msg), t.w, t.ls);
  const z: Uint8Array[] = [I, qb, D_PBLC];
  const max = (1 << t.w) - 1;
  for (let i = 0; i < t.p; i++) {
    const y = sig.subarray(4 + N * (i + 1), 4 + N * (i + 2));
    z.push(chain(I, qb, i, coef(Q, i, t.w), max, y));
  }
  return sha256(...z);
}

/** An LMS public key: type ‖ OTS type ‖ I ‖ T[1] (56 bytes with M = 32). */
export interface LmsPublicKey {
  readonly lmsType: number;
  readonly otsType: number;
  readonly I: Uint8Array;
  readonly root: Uint8Array;
}

export function encodeLmsPublicKey(k: LmsPublicKey): Uint8Array {
  const out = new Uint8Array(8 + I_LEN + N);
  out.set(u32be(k.lmsType), 0);
  out.set(u32be(k.otsType), 4);
  out.set(k.I, 8);
  out.set(k.root, 8 + I_LEN);
  return out;
}

/** Parses a 56-byte LMS public key, or a 60-byte HSS one with one level (a pyhsslms `.pub`). */
export function decodeLmsPublicKey(b: Uint8Array, field = 'lms public key'): LmsPublicKey {
  let k = b;
  if (b.length === 60) {
    if (readU32be(b, 0) !== 1) throw new RseError('E_KEY', `${field}: an HSS key with ${readU32be(b, 0)} levels; BL1 uses one`, { field });
    k = b.subarray(4);
  }
  if (k.length !== 8 + I_LEN + N)
    throw new RseError('E_KEY', `${field}: ${b.length} bytes is not an LMS public key (56, or 60 with the HSS level count)`, { field });
  const lmsType = readU32be(k, 0);
  const otsType = readU32be(k, 4);
  if (LMS_TYPES[lmsType] === undefined) throw new RseError('E_KEY', `${field}: unsupported LMS type ${lmsType}`, { field, offset: 0 });
  if (LMOTS_TYPES[otsType] === undefined) throw new RseError('E_KEY', `${field}: unsupported LM-OTS type ${otsType}`, { field, offset: 4 });
  return { lmsType, otsType, I: k.slice(8, 8 + I_LEN), root: k.slice(8 + I_LEN) };
}

/** Why an LMS signature did not verify, or `undefined` when it did. */
export function lmsVerifyProblem(pub: LmsPublicKey, msg: Uint8Array, sig: Uint8Array): string | undefined {
  const l = LMS_TYPES[pub.lmsType];
  if (l === undefined) return `unsupported LMS type ${pub.lmsType}`;
  const size = lmsSignatureSize(pub.lmsType, pub.otsType);
  if (sig.length !== size) return `signature is ${sig.length} bytes, ${size} expected`;
  const q = readU32be(sig, 0);
  if (q >= 2 ** l.h) return `leaf index q = ${q} is beyond the tree (2^${l.h} leaves)`;
  const otsLen = lmotsSignatureSize(pub.otsType);
  const ots = sig.subarray(4, 4 + otsLen);
  if (readU32be(ots, 0) !== pub.otsType) return `LM-OTS type ${readU32be(ots, 0)} in the signature, ${pub.otsType} in the key`;
  if (readU32be(sig, 4 + otsLen) !== pub.lmsType)
    return `LMS type ${readU32be(sig, 4 + otsLen)} in the signature, ${pub.lmsType} in the key`;
  const kc = otsCandidate(pub.I, q, pub.otsType, ots, msg);
  if (kc === undefined) return 'malformed LM-OTS signature';
  let node = 2 ** l.h + q;
  let tmp = sha256(pub.I, u32be(node), D_LEAF, kc);
  const path = sig.subarray(8 + otsLen);
  for (let i = 0; i < l.h; i++) {
    const p = path.subarray(N * i, N * (i + 1));
    const parent = Math.floor(node / 2);
    tmp = node % 2 === 1 ? sha256(pub.I, u32be(parent), D_INTR, p, tmp) : sha256(pub.I, u32be(parent), D_INTR, tmp, p);
    node = parent;
  }
  let diff = 0;
  for (let i = 0; i < N; i++) diff |= (tmp[i] as number) ^ (pub.root[i] as number);
  return diff === 0 ? undefined : `the signature does not lead to the key's root (leaf q = ${q})`;
}

export function lmsVerify(pub: LmsPublicKey, msg: Uint8Array, sig: Uint8Array): boolean {
  return lmsVerifyProblem(pub, msg, sig) === undefined;
}

/** HSS verification (RFC 8554 section 6.3): `pub` is u32 L ‖ LMS key, `sig` is u32 Nspk ‖ .... */
export function hssVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (pub.length < 4 || sig.length < 4) return false;
  const levels = readU32be(pub, 0);
  if (levels < 1 || levels > 8 || readU32be(sig, 0) !== levels - 1) return false;
  let key: LmsPublicKey;
  try {
    key = decodeLmsPublicKey(pub.subarray(4));
  } catch {
    return false;
  }
  let at = 4;
  for (let i = 0; i < levels - 1; i++) {
    if (sig.length < at + 8) return false;
    const otsType = readU32be(sig, at + 4);
    const otsLen = lmotsSignatureSize(otsType);
    if (otsLen === 0 || sig.length < at + 4 + otsLen + 4) return false;
    const lmsType = readU32be(sig, at + 4 + otsLen);
    const len = lmsSignatureSize(lmsType, otsType);
    if (len === 0 || sig.length < at + len + 56) return false;
    const childPub = sig.subarray(at + len, at + len + 56);
    if (!lmsVerify(key, childPub, sig.subarray(at, at + len))) return false;
    try {
      key = decodeLmsPublicKey(childPub);
    } catch {
      return false;
    }
    at += len + 56;
  }
  return lmsVerify(key, msg, sig.subarray(at));
}

// ---------------------------------------------------------------------------------------------
// Private keys

/** A one-level LMS private key as pyhsslms stores it; `q` is the next unused leaf. */
export interface LmsPrivateKey {
  readonly lmsType: number;
  readonly otsType: number;
  readonly seed: Uint8Array;
  readonly I: Uint8Array;
  q: number;
  /** The bytes before the LMS body in the file, kept when it is written back. */
  readonly header: Uint8Array;
}

const BODY = 8 + N + I_LEN + 4;

/**
 * Parses a pyhsslms `.prv`: u32 levels (1) ‖ a header (remaining signatures, or in TF-M's older
 * copy two more words) ‖ LMS type ‖ OTS type ‖ SEED ‖ I ‖ q, all big-endian.
 */
export function decodeLmsPrivateKey(b: Uint8Array, field = 'lms private key'): LmsPrivateKey {
  if (b.length < 4 + 4 + BODY || b.length > 4 + 8 + BODY) {
    throw new RseError('E_KEY', `${field}: ${b.length} bytes is not a pyhsslms LMS private key`, { field });
  }
  if (readU32be(b, 0) !== 1)
    throw new RseError('E_KEY', `${field}: an HSS key with ${readU32be(b, 0)} levels; BL1 signs with one`, { field, offset: 0 });
  const at = b.length - BODY;
  const lmsType = readU32be(b, at);
  const otsType = readU32be(b, at + 4);
  if (LMS_TYPES[lmsType] === undefined) throw new RseError('E_KEY', `${field}: unsupported LMS type ${lmsType}`, { field, offset: at });
  if (LMOTS_TYPES[otsType] === undefined)
    throw new RseError('E_KEY', `${field}: unsupported LM-OTS type ${otsType}`, { field, offset: at + 4 });
  return {
    lmsType,
    otsType,
    seed: b.slice(at + 8, at + 8 + N),
    I: b.slice(at + 8 + N, at + 8 + N + I_LEN),
    q: readU32be(b, at + 8 + N + I_LEN),
    header: b.slice(0, at),
  };
}

/** The `.prv` bytes; the "remaining signatures" word of the 8-byte header follows q. */
export function encodeLmsPrivateKey(k: LmsPrivateKey): Uint8Array {
  const out = new Uint8Array(k.header.length + BODY);
  out.set(k.header);
  const h = LMS_TYPES[k.lmsType]?.h ?? 0;
  if (k.header.length === 8) out.set(u32be(Math.max(0, 2 ** h - k.q)), 4);
  let at = k.header.length;
  out.set(u32be(k.lmsType), at);
  out.set(u32be(k.otsType), at + 4);
  out.set(k.seed, at + 8);
  out.set(k.I, at + 8 + N);
  at += 8 + N + I_LEN;
  out.set(u32be(k.q), at);
  return out;
}

/** A fresh key (pyhsslms's current file layout: levels, remaining signatures, body). */
export function newLmsPrivateKey(lmsType: number, otsType: number, random: (n: number) => Uint8Array): LmsPrivateKey {
  const l = LMS_TYPES[lmsType];
  if (l === undefined || LMOTS_TYPES[otsType] === undefined)
    throw new RseError('E_ARGUMENT', `unsupported LMS/LM-OTS types ${lmsType}/${otsType}`);
  const header = new Uint8Array(8);
  header.set(u32be(1), 0);
  return { lmsType, otsType, seed: random(N), I: random(I_LEN), q: 0, header };
}

/**
 * The one-time key's chain starts, RFC 8554 Appendix A: H(I ‖ u32(q) ‖ u16(i) ‖ 0xFF ‖ SEED), as
 * the pyhsslms that made TF-M's dummy BL1 key does (its public key reproduces from its seed).
 */
function otsSecret(k: LmsPrivateKey, qb: Uint8Array, i: number): Uint8Array {
  return sha256(k.I, qb, Uint8Array.of(i >> 8, i & 0xff, 0xff), k.seed);
}

function otsPublic(k: LmsPrivateKey, q: number): Uint8Array {
  const t = LMOTS_TYPES[k.otsType] as { w: number; p: number };
  const qb = u32be(q);
  const max = (1 << t.w) - 1;
  const z: Uint8Array[] = [k.I, qb, D_PBLC];
  for (let i = 0; i < t.p; i++) z.push(chain(k.I, qb, i, 0, max, otsSecret(k, qb, i)));
  return sha256(...z);
}

/**
 * The whole Merkle tree, nodes 1 .. 2^(h+1) - 1 at (r - 1) * 32. This is the expensive part of
 * LMS (2^h one-time public keys); `onLeaf` reports progress.
 */
export function lmsTree(k: LmsPrivateKey, onLeaf?: (done: number, total: number) => void): Uint8Array {
  const h = (LMS_TYPES[k.lmsType] as { h: number }).h;
  const leaves = 2 ** h;
  const nodes = new Uint8Array((2 * leaves - 1) * N);
  for (let q = 0; q < leaves; q++) {
    const r = leaves + q;
    nodes.set(sha256(k.I, u32be(r), D_LEAF, otsPublic(k, q)), (r - 1) * N);
    onLeaf?.(q + 1, leaves);
  }
  for (let r = leaves - 1; r >= 1; r--) {
    nodes.set(
      sha256(k.I, u32be(r), D_INTR, nodes.subarray(2 * r * N - N, 2 * r * N), nodes.subarray(2 * r * N, 2 * r * N + N)),
      (r - 1) * N,
    );
  }
  return nodes;
}

export function lmsPublicKey(k: LmsPrivateKey, tree: Uint8Array): LmsPublicKey {
  return { lmsType: k.lmsType, otsType: k.otsType, I: k.I.slice(), root: tree.slice(0, N) };
}

/**
 * Signs with leaf `q` (the caller persists q + 1 first). `random` gives the 32-byte C.
 * Returns the LMS signature (no HSS level prefix), as BL1 images carry it.
 */
export function lmsSignWithLeaf(
  k: LmsPrivateKey,
  tree: Uint8Array,
  q: number,
  msg: Uint8Array,
  random: (n: number) => Uint8Array,
): Uint8Array {
  const l = LMS_TYPES[k.lmsType] as { h: number };
  const t = LMOTS_TYPES[k.otsType] as { w: number; p: number; ls: number };
  if (!Number.isInteger(q) || q < 0 || q >= 2 ** l.h)
    throw new RseError('E_KEY', `leaf ${q} is beyond the key's ${2 ** l.h} signatures`, { field: 'q' });
  const qb = u32be(q);
  const C = random(N);
  const Q = digits(sha256(k.I, qb, D_MESG, C, msg), t.w, t.ls);
  const out = new Uint8Array(lmsSignatureSize(k.lmsType, k.otsType));
  out.set(qb, 0);
  out.set(u32be(k.otsType), 4);
  out.set(C, 8);
  for (let i = 0; i < t.p; i++) out.set(chain(k.I, qb, i, 0, coef(Q, i, t.w), otsSecret(k, qb, i)), 8 + N + N * i);
  let at = 8 + N * (t.p + 1);
  out.set(u32be(k.lmsType), at);
  at += 4;
  let node = 2 ** l.h + q;
  while (node > 1) {
    const sib = node % 2 === 1 ? node - 1 : node + 1;
    out.set(tree.subarray((sib - 1) * N, sib * N), at);
    at += N;
    node = Math.floor(node / 2);
  }
  return out;
}
