/**
 * A stateful LMS signing key on disk: `KEY.prv` (pyhsslms format, the next leaf q inside),
 * `KEY.pub` (HSS public key, one level) and `KEY.tree`, rsekit's cache of the Merkle tree, so
 * signing costs one one-time signature instead of 2^h of them. The next leaf is persisted,
 * durably and atomically, before a signature leaves the signer: a crash can waste a leaf but
 * never hand out one twice. Asking for a leaf below q is refused.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  decodeLmsPrivateKey,
  decodeLmsPublicKey,
  encodeLmsPrivateKey,
  encodeLmsPublicKey,
  LMS_TYPES,
  type LmsPrivateKey,
  type LmsPublicKey,
  lmsPublicKey,
  lmsSignatureSize,
  lmsSignWithLeaf,
  lmsTree,
  lmsVerifyProblem,
  newLmsPrivateKey,
} from '../crypto/lms.ts';
import { readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { asU8, bytesEqual, readU32be, u32be } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

const TREE_MAGIC = new TextEncoder().encode('RSEKIT-LMS-TREE1');

/** The three file names of a key called `base` (`base` may end in `.prv`). */
export function lmsKeyFiles(base: string): { prv: string; pub: string; tree: string } {
  const b = base.replace(/\.(prv|pub|tree)$/, '');
  return { prv: `${b}.prv`, pub: `${b}.pub`, tree: `${b}.tree` };
}

function treeFile(k: LmsPrivateKey, nodes: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + 16 + 8 + nodes.length);
  out.set(TREE_MAGIC, 0);
  out.set(k.I, 16);
  out.set(u32be(k.lmsType), 32);
  out.set(u32be(k.otsType), 36);
  out.set(nodes, 40);
  return out;
}

/** The cached tree if it belongs to this key, else `undefined`; a file of another size is not read. */
function readTree(
  path: string,
  k: LmsPrivateKey,
  size = 40 + (2 ** ((LMS_TYPES[k.lmsType] as { h: number }).h + 1) - 1) * 32,
): Uint8Array | undefined {
  let b: Uint8Array | undefined;
  try {
    b = readStateFile(path, size);
  } catch {
    return undefined;
  }
  if (b === undefined) return undefined;
  if (b.length !== size || !bytesEqual(b.subarray(0, 16), TREE_MAGIC) || !bytesEqual(b.subarray(16, 32), k.I)) return undefined;
  if (readU32be(b, 32) !== k.lmsType || readU32be(b, 36) !== k.otsType) return undefined;
  return b.subarray(40);
}

export interface LmsKeygenOptions {
  readonly lmsType?: number;
  readonly otsType?: number;
  readonly random: (n: number) => Uint8Array;
  readonly onLeaf?: ((done: number, total: number) => void) | undefined;
}

/** Makes a new key: writes `.prv`, `.pub` and `.tree`; refuses to overwrite a `.prv`. */
export function lmsKeygen(base: string, o: LmsKeygenOptions): LmsPublicKey {
  const files = lmsKeyFiles(base);
  if (existsSync(files.prv))
    throw new RseError('E_EXISTS', `${files.prv} exists: an LMS key is never regenerated in place`, { field: files.prv });
  const k = newLmsPrivateKey(o.lmsType ?? 6, o.otsType ?? 4, o.random);
  const nodes = lmsTree(k, o.onLeaf);
  const pub = lmsPublicKey(k, nodes);
  writeFileAtomic(files.tree, treeFile(k, nodes), { durable: true });
  writeFileAtomic(files.pub, hssPublic(pub), { durable: true });
  writeFileAtomic(files.prv, encodeLmsPrivateKey(k), { durable: true, secret: true });
  return pub;
}

/** The 60-byte HSS form (level count 1) pyhsslms writes as `.pub`. */
export function hssPublic(pub: LmsPublicKey): Uint8Array {
  const out = new Uint8Array(60);
  out.set(u32be(1), 0);
  out.set(encodeLmsPublicKey(pub), 4);
  return out;
}

/** LMS types whose tree rsekit builds and signs with: BL1_2's H10 (type 6) and H5 (type 5, quick tests). */
export const LMS_SIGNING_TYPES: readonly number[] = [5, 6];

/** The largest `.prv` (HSS header of up to 8 bytes and the body). */
const PRV_MAX = 4 + 8 + 64;

function readPrivate(prv: string): LmsPrivateKey {
  const b = readStateFile(prv, PRV_MAX + 1);
  if (b === undefined) throw new RseError('E_KEY', `${prv}: no such LMS private key`, { field: prv });
  return decodeLmsPrivateKey(b, prv);
}

/** What `lms info` says of a key, read from its files alone: no tree is ever built. */
export interface LmsKeyInfo {
  readonly files: { prv: string; pub: string; tree: string };
  readonly key: LmsPrivateKey;
  /** From `.pub` (checked against the `.prv`'s types and I). */
  readonly publicKey: LmsPublicKey;
  readonly capacity: number;
  /** The tree cache: `cached`, or missing / not this key's (the next signature rebuilds it). */
  readonly tree: 'cached' | 'missing' | 'stale';
}

/** Reads a key's state and public key without building its tree. */
export function lmsKeyInfo(base: string): LmsKeyInfo {
  const files = lmsKeyFiles(base);
  const key = readPrivate(files.prv);
  const raw = readStateFile(files.pub, 1024);
  if (raw === undefined)
    throw new RseError('E_KEY', `${files.pub} is missing: the public key is the tree's root, which lms info does not rebuild`, {
      field: files.pub,
    });
  const publicKey = decodeLmsPublicKey(raw, files.pub);
  if (publicKey.lmsType !== key.lmsType || publicKey.otsType !== key.otsType || !bytesEqual(publicKey.I, key.I))
    throw new RseError('E_KEY', `${files.pub} is not the public key of ${files.prv} (types or I differ)`, { field: files.pub });
  const h = (LMS_TYPES[key.lmsType] as { h: number }).h;
  const size = 40 + (2 ** (h + 1) - 1) * 32;
  let tree: LmsKeyInfo['tree'] = 'missing';
  if (existsSync(files.tree))
    tree = LMS_SIGNING_TYPES.includes(key.lmsType) && readTree(files.tree, key, size) !== undefined ? 'cached' : 'stale';
  return { files, key, publicKey, capacity: 2 ** h, tree };
}

/** An opened key: its state, public key and tree. */
export class LmsSigner {
  readonly files: { prv: string; pub: string; tree: string };
  readonly key: LmsPrivateKey;
  readonly publicKey: LmsPublicKey;
  private readonly nodes: Uint8Array;

  private constructor(files: { prv: string; pub: string; tree: string }, key: LmsPrivateKey, nodes: Uint8Array, pub: LmsPublicKey) {
    this.files = files;
    this.key = key;
    this.nodes = nodes;
    this.publicKey = pub;
  }

  /**
   * Opens `base`(.prv); builds and caches the tree when there is none (2^h one-time keys), for
   * the heights of {@link LMS_SIGNING_TYPES} only.
   */
  static open(base: string, onLeaf?: (done: number, total: number) => void): LmsSigner {
    const files = lmsKeyFiles(base);
    const key = readPrivate(files.prv);
    const h = (LMS_TYPES[key.lmsType] as { h: number }).h;
    if (!LMS_SIGNING_TYPES.includes(key.lmsType))
      throw new RseError(
        'E_KEY',
        `${files.prv} is ${LMS_TYPES[key.lmsType]?.name}: rsekit signs with H5 or H10 keys (BL1_2 verifies H10); its tree would take 2^${h} one-time keys`,
        { field: files.prv },
      );
    let nodes = readTree(files.tree, key);
    if (nodes === undefined) {
      nodes = lmsTree(key, onLeaf);
      writeFileAtomic(files.tree, treeFile(key, nodes), { durable: true });
    }
    const pub = lmsPublicKey(key, nodes);
    if (existsSync(files.pub)) {
      const stored = decodeLmsPublicKey(asU8(readFileSync(files.pub)), files.pub);
      if (!bytesEqual(encodeLmsPublicKey(stored), encodeLmsPublicKey(pub))) {
        throw new RseError('E_KEY', `${files.pub} is not the public key of ${files.prv} (or ${files.tree} is stale: delete it)`, {
          field: files.pub,
        });
      }
    }
    return new LmsSigner(files, key, nodes, pub);
  }

  get capacity(): number {
    return 2 ** (LMS_TYPES[this.key.lmsType] as { h: number }).h;
  }

  /**
   * Signs `msg` with leaf `index` (default: the next unused one). The state moves past the leaf,
   * durably, before the signature is made; the signature is checked before it is returned.
   */
  sign(msg: Uint8Array, random: (n: number) => Uint8Array, index?: number): { signature: Uint8Array; q: number } {
    const q = index ?? this.key.q;
    if (q < this.key.q) {
      throw new RseError(
        'E_KEY',
        `LMS leaf ${q} is already used (the key's next unused leaf is ${this.key.q}): a reused index is refused`,
        {
          field: 'index',
        },
      );
    }
    if (q >= this.capacity) throw new RseError('E_KEY', `the LMS key is exhausted: ${this.capacity} signatures`, { field: 'index' });
    this.key.q = q + 1;
    writeFileAtomic(this.files.prv, encodeLmsPrivateKey(this.key), { durable: true, secret: true });
    const signature = lmsSignWithLeaf(this.key, this.nodes, q, msg, random);
    const problem = lmsVerifyProblem(this.publicKey, msg, signature);
    if (problem !== undefined)
      throw new RseError('E_KEY', `the new signature does not verify (${problem}): ${this.files.tree} may be corrupt`);
    return { signature, q };
  }
}

/**
 * `sign(path, message)` over stateful keys, as a build needs it: each key (`KEY.prv` or `KEY`) is
 * opened once, and every call signs with its next unused leaf. Returns the signature and the
 * key's encoded public key.
 */
export function lmsSignerPool(
  random: (n: number) => Uint8Array,
): (path: string, message: Uint8Array) => { signature: Uint8Array; publicKey: Uint8Array } {
  const open = new Map<string, LmsSigner>();
  return (path, message) => {
    const base = path.replace(/\.prv$/, '');
    let signer = open.get(base);
    if (signer === undefined) {
      signer = LmsSigner.open(base);
      open.set(base, signer);
    }
    return { signature: signer.sign(message, random).signature, publicKey: encodeLmsPublicKey(signer.publicKey) };
  };
}

/**
 * The same shape as {@link lmsSignerPool} without spending anything: each key's real public key
 * and a zero signature of the right length. A build run with it first finds every error a real
 * build would before any one-time leaf is used.
 */
export function lmsDryRunPool(): (path: string, message: Uint8Array) => { signature: Uint8Array; publicKey: Uint8Array } {
  const open = new Map<string, LmsSigner>();
  return (path) => {
    const base = path.replace(/\.prv$/, '');
    let signer = open.get(base);
    if (signer === undefined) {
      signer = LmsSigner.open(base);
      open.set(base, signer);
    }
    return {
      signature: new Uint8Array(lmsSignatureSize(signer.key.lmsType, signer.key.otsType)),
      publicKey: encodeLmsPublicKey(signer.publicKey),
    };
  };
}
