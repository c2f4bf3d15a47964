/**
 * The crypto partition's PSA Crypto subset (TF-M 2.1 `tfm_crypto_api.c`), for partitions and, where
 * the permission table allows it, the host: keys (import, generate, destroy, export, export public,
 * get attributes; volatile keys owned by the caller's client id), hash, HMAC, AEAD (AES-GCM,
 * AES-CCM, ChaCha20-Poly1305), ECDSA of a hash or a message, HKDF derivation and random bytes; the
 * key policies (usage flags, permitted algorithm with PSA's hash wildcard) and RSE's builtin keys
 * (`crypto_keys.c`): the IAK signs only for initial attestation, the DAK seed derives only for
 * delegated attestation, the HUK derives for anyone, the host ROTPKs verify for the non-secure
 * side; builtin private material never leaves.
 * @module
 */

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ecdsaSignDigest, ecdsaVerifyDigest } from '../crypto/ecdsa-digest.ts';
import { constantTimeEqual, ecPublicFromPrivate, HASH_SIZES, type HashAlg, hash, hkdf, hmac, randomBytes } from '../crypto/index.ts';
import { psaDeriveEcPrivate } from '../crypto/kdf.ts';
import { u32le } from '../lib/bytes.ts';
import {
  ALG,
  ATTRIBUTES_SIZE,
  BUILTIN_KEY,
  CRYPTO_FN,
  decodeAttributes,
  decodePackIovec,
  encodeAttributes,
  HASHES,
  hashOf,
  KDF_STEP,
  KEY_TYPE,
  type KeyAttributes,
  NS_USER,
  PARTITION,
  type PackIovec,
  PSA_ERROR_INSUFFICIENT_DATA,
  PSA_ERROR_INVALID_SIGNATURE,
  USAGE,
} from './crypto-wire.ts';
import { PSA, type PsaCall, type PsaReply, reply } from './psa.ts';

export interface Key extends KeyAttributes {
  readonly owner: number;
  readonly material: Uint8Array;
  /** Builtin keys: their usage per user (undefined: the same for every user). */
  readonly perUser?: ReadonlyMap<number, number>;
  readonly builtin?: boolean;
}

export interface KdfOp {
  readonly owner: number;
  /** The HKDF algorithm id (a key fed in must permit it) and its hash. */
  readonly alg: number;
  readonly hash: HashAlg;
  capacity: number;
  salt?: Uint8Array;
  secret?: Uint8Array;
  info?: Uint8Array;
  stream?: { okm: Uint8Array; pos: number };
}

/** `PSA_KEY_ID_VOLATILE_MIN` with 32 key slots; TFM_CRYPTO_CONC_OPER_NUM operations. */
export const VOLATILE_MIN = 0x7fffffe0;
export const KEY_SLOTS = 32;
export const MAX_OPS = 8;

export interface BuiltinKeys {
  readonly huk: Uint8Array;
  readonly iakPrivate: Uint8Array;
  readonly dakSeed: Uint8Array;
  /** Host ROTPKs: points (0x04 ‖ X ‖ Y, verification keys) or hashes (raw data the host may export). */
  readonly hostRotpks: readonly { readonly keyId: number; readonly form: 'point' | 'hash'; readonly material: Uint8Array }[];
}

export class CryptoService {
  private readonly keys = new Map<number, Key>();
  private readonly ops = new Map<number, KdfOp>();
  private readonly random: (n: number) => Uint8Array;

  constructor(b: BuiltinKeys, random: (n: number) => Uint8Array = randomBytes) {
    this.random = random;
    const ecc = (material: Uint8Array): { type: number; bits: number } => ({
      type: KEY_TYPE.ECC_PAIR_R1,
      bits: material.length === 32 ? 256 : 384,
    });
    const builtin = (id: number, k: Omit<Key, 'id' | 'owner' | 'lifetime' | 'builtin'>): void => {
      this.keys.set(id, { ...k, id, owner: 0, lifetime: 0x00000101, builtin: true });
    };
    builtin(BUILTIN_KEY.HUK, { type: KEY_TYPE.DERIVE, bits: b.huk.length * 8, usage: USAGE.DERIVE, alg: ALG.hkdf(0x09), material: b.huk });
    builtin(BUILTIN_KEY.IAK, {
      ...ecc(b.iakPrivate),
      usage: 0,
      alg: ALG.ecdsa(ALG.ANY_HASH),
      material: b.iakPrivate,
      perUser: new Map([[PARTITION.INITIAL_ATTESTATION.id, USAGE.SIGN_HASH]]),
    });
    builtin(BUILTIN_KEY.DAK_SEED, {
      type: KEY_TYPE.DERIVE,
      bits: b.dakSeed.length * 8,
      usage: 0,
      alg: ALG.hkdf(0x09),
      material: b.dakSeed,
      perUser: new Map([[PARTITION.DELEGATED_ATTESTATION.id, USAGE.DERIVE]]),
    });
    for (const k of b.hostRotpks)
      builtin(
        k.keyId,
        k.form === 'point'
          ? {
              type: KEY_TYPE.ECC_PUB_R1,
              bits: k.material.length === 97 ? 384 : 256,
              usage: 0,
              alg: ALG.ecdsa(ALG.ANY_HASH),
              material: k.material,
              perUser: new Map([[NS_USER, USAGE.VERIFY_HASH]]),
            }
          : // tfm_plat_load_cm/dm_host_key with RSE_OTP_*_ROTPK_IS_HASH_NOT_KEY: vendor raw data, exportable by NS.
            {
              type: KEY_TYPE.VENDOR_RAW,
              bits: k.material.length * 8,
              usage: 0,
              alg: 0,
              material: k.material,
              perUser: new Map([[NS_USER, USAGE.EXPORT]]),
            },
      );
  }

  /** The builtin-key user a client id is: its partition, or every NS caller as one. */
  private static user(clientId: number): number {
    return clientId < 0 ? NS_USER : clientId;
  }

  /** A key the caller may use with `usage` for `alg`, or the status that refuses it. */
  private use(clientId: number, keyId: number, usage: number, alg?: number): Key | number {
    const k = this.keys.get(keyId);
    if (k === undefined || (!k.builtin && k.owner !== clientId)) return PSA.ERROR_INVALID_HANDLE;
    const granted = k.perUser === undefined ? k.usage : k.perUser.get(CryptoService.user(clientId));
    if (granted === undefined) return PSA.ERROR_NOT_PERMITTED;
    // SIGN_HASH / VERIFY_HASH imply their message forms (psa_extend_key_usage_flags).
    const eff =
      granted |
      ((granted & USAGE.SIGN_HASH) !== 0 ? USAGE.SIGN_MESSAGE : 0) |
      ((granted & USAGE.VERIFY_HASH) !== 0 ? USAGE.VERIFY_MESSAGE : 0);
    if ((eff & usage) !== usage) return PSA.ERROR_NOT_PERMITTED;
    if (alg !== undefined && !algPermitted(k.alg, alg)) return PSA.ERROR_NOT_PERMITTED;
    return k;
  }

  /** Lets a partition use a builtin key in-process, under the same policy as over the wire. */
  authorize(clientId: number, keyId: number, usage: number, alg: number): number {
    const k = this.use(clientId, keyId, usage, alg);
    return typeof k === 'number' ? k : PSA.SUCCESS;
  }

  private store(owner: number, a: KeyAttributes, material: Uint8Array): PsaReply {
    if (a.lifetime !== 0) return reply(PSA.ERROR_NOT_SUPPORTED);
    let id = VOLATILE_MIN;
    while (id < VOLATILE_MIN + KEY_SLOTS && this.keys.has(id)) id++;
    if (id === VOLATILE_MIN + KEY_SLOTS) return reply(PSA.ERROR_INSUFFICIENT_MEMORY);
    this.keys.set(id, { ...a, bits: a.bits === 0 ? keyBits(a.type, material) : a.bits, id, owner, material: material.slice() });
    return reply(PSA.SUCCESS, u32le(id));
  }

  call(c: PsaCall): PsaReply {
    const iovBytes = c.inVecs[0];
    if (iovBytes?.length !== 56) return reply(PSA.ERROR_PROGRAMMER_ERROR);
    const iov = decodePackIovec(iovBytes);
    const [, in1, in2] = c.inVecs;
    const cap = c.outCaps[0] ?? 0;
    const out = (b: Uint8Array): PsaReply => (b.length > cap ? reply(PSA.ERROR_BUFFER_TOO_SMALL) : reply(PSA.SUCCESS, b));
    switch (iov.functionId) {
      case CRYPTO_FN.GENERATE_RANDOM:
        return reply(PSA.SUCCESS, cap === 0 ? new Uint8Array(0) : this.random(cap));
      case CRYPTO_FN.IMPORT_KEY: {
        if (in1?.length !== ATTRIBUTES_SIZE || in2 === undefined) return reply(PSA.ERROR_PROGRAMMER_ERROR);
        const a = decodeAttributes(in1);
        const bad = checkMaterial(a, in2);
        return bad === undefined ? this.store(c.clientId, a, in2) : reply(bad);
      }
      case CRYPTO_FN.GENERATE_KEY: {
        if (in1?.length !== ATTRIBUTES_SIZE) return reply(PSA.ERROR_PROGRAMMER_ERROR);
        const a = decodeAttributes(in1);
        const m = this.generate(a);
        return typeof m === 'number' ? reply(m) : this.store(c.clientId, a, m);
      }
      case CRYPTO_FN.DESTROY_KEY: {
        const k = this.keys.get(iov.keyId);
        if (k === undefined || k.owner !== c.clientId)
          return reply(k?.builtin === true ? PSA.ERROR_NOT_PERMITTED : PSA.ERROR_INVALID_HANDLE);
        this.keys.delete(iov.keyId);
        return reply(PSA.SUCCESS);
      }
      case CRYPTO_FN.GET_KEY_ATTRIBUTES: {
        const k = this.use(c.clientId, iov.keyId, 0);
        return typeof k === 'number' ? reply(k) : out(encodeAttributes(k));
      }
      case CRYPTO_FN.EXPORT_KEY: {
        const k = this.use(c.clientId, iov.keyId, USAGE.EXPORT);
        if (typeof k === 'number') return reply(k);
        // A builtin key leaves only when its policy grants this user EXPORT (a host ROTPK hash).
        return out(k.material);
      }
      case CRYPTO_FN.EXPORT_PUBLIC_KEY: {
        const k = this.use(c.clientId, iov.keyId, 0);
        if (typeof k === 'number') return reply(k);
        if (k.type === KEY_TYPE.ECC_PUB_R1) return out(k.material);
        if (k.type !== KEY_TYPE.ECC_PAIR_R1) return reply(PSA.ERROR_INVALID_ARGUMENT);
        return out(ecPublicFromPrivate(k.bits === 256 ? 'P-256' : 'P-384', k.material));
      }
      case CRYPTO_FN.HASH_COMPUTE:
      case CRYPTO_FN.HASH_COMPARE: {
        const h = hashOf(iov.alg);
        if (h === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
        const d = hash(h, in1 ?? new Uint8Array(0));
        if (iov.functionId === CRYPTO_FN.HASH_COMPUTE) return out(d);
        return reply(in2 !== undefined && in2.length === d.length && constantTimeEqual(in2, d) ? PSA.SUCCESS : PSA_ERROR_INVALID_SIGNATURE);
      }
      case CRYPTO_FN.MAC_COMPUTE:
      case CRYPTO_FN.MAC_VERIFY: {
        const verify = iov.functionId === CRYPTO_FN.MAC_VERIFY;
        const h = (iov.alg & 0x7fc00000) === 0x03800000 ? HASHES[iov.alg & 0xff] : undefined;
        if (h === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
        const k = this.use(c.clientId, iov.keyId, verify ? USAGE.VERIFY_MESSAGE : USAGE.SIGN_MESSAGE, iov.alg);
        if (typeof k === 'number') return reply(k);
        if (k.type !== KEY_TYPE.HMAC) return reply(PSA.ERROR_INVALID_ARGUMENT);
        const mac = hmac(h, k.material, in1 ?? new Uint8Array(0));
        if (!verify) return out(mac);
        return reply(
          in2 !== undefined && in2.length === mac.length && constantTimeEqual(in2, mac) ? PSA.SUCCESS : PSA_ERROR_INVALID_SIGNATURE,
        );
      }
      case CRYPTO_FN.AEAD_ENCRYPT:
      case CRYPTO_FN.AEAD_DECRYPT:
        return this.aead(c, iov, cap);
      case CRYPTO_FN.SIGN_HASH:
      case CRYPTO_FN.SIGN_MESSAGE:
      case CRYPTO_FN.VERIFY_HASH:
      case CRYPTO_FN.VERIFY_MESSAGE:
        return this.signature(c, iov, cap);
      default:
        if (iov.functionId >> 8 === 9) return this.kdf(c, iov, cap);
        return reply(PSA.ERROR_NOT_SUPPORTED);
    }
  }

  private generate(a: KeyAttributes): Uint8Array | number {
    switch (a.type) {
      case KEY_TYPE.AES:
        return [128, 192, 256].includes(a.bits) ? this.random(a.bits / 8) : PSA.ERROR_INVALID_ARGUMENT;
      case KEY_TYPE.CHACHA20:
        return a.bits === 256 ? this.random(32) : PSA.ERROR_INVALID_ARGUMENT;
      case KEY_TYPE.HMAC:
      case KEY_TYPE.DERIVE:
      case KEY_TYPE.RAW_DATA:
        return a.bits > 0 && a.bits % 8 === 0 && a.bits <= 8192 ? this.random(a.bits / 8) : PSA.ERROR_INVALID_ARGUMENT;
      case KEY_TYPE.ECC_PAIR_R1:
        if (a.bits !== 256 && a.bits !== 384) return PSA.ERROR_NOT_SUPPORTED;
        return psaDeriveEcPrivate(a.bits === 256 ? 'P-256' : 'P-384', (n) => this.random(n));
      default:
        return PSA.ERROR_NOT_SUPPORTED;
    }
  }

  private aead(c: PsaCall, iov: PackIovec, cap: number): PsaReply {
    const encrypt = iov.functionId === CRYPTO_FN.AEAD_ENCRYPT;
    const k = this.use(c.clientId, iov.keyId, encrypt ? USAGE.ENCRYPT : USAGE.DECRYPT, iov.alg);
    if (typeof k === 'number') return reply(k);
    const base = iov.alg & ~0x003f0000;
    const tagLen = (iov.alg >> 16) & 0x3f;
    const cipher =
      base === (ALG.GCM & ~0x003f0000) && k.type === KEY_TYPE.AES
        ? `aes-${k.bits}-gcm`
        : base === (ALG.CCM & ~0x003f0000) && k.type === KEY_TYPE.AES
          ? `aes-${k.bits}-ccm`
          : base === (ALG.CHACHA20_POLY1305 & ~0x003f0000) && k.type === KEY_TYPE.CHACHA20 && tagLen === 16
            ? 'chacha20-poly1305'
            : undefined;
    if (cipher === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
    const data = c.inVecs[1] ?? new Uint8Array(0);
    const aad = c.inVecs[2] ?? new Uint8Array(0);
    const opts = { authTagLength: tagLen } as const;
    try {
      if (encrypt) {
        if (data.length + tagLen > cap) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
        const e = createCipheriv(cipher as 'aes-256-gcm', k.material, iov.nonce, opts);
        e.setAAD(aad, { plaintextLength: data.length });
        return reply(PSA.SUCCESS, new Uint8Array(Buffer.concat([e.update(data), e.final(), e.getAuthTag()])));
      }
      if (data.length < tagLen) return reply(PSA_ERROR_INVALID_SIGNATURE);
      if (data.length - tagLen > cap) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
      const d = createDecipheriv(cipher as 'aes-256-gcm', k.material, iov.nonce, opts);
      d.setAuthTag(data.subarray(data.length - tagLen));
      d.setAAD(aad, { plaintextLength: data.length - tagLen });
      const body = d.update(data.subarray(0, data.length - tagLen));
      return reply(PSA.SUCCESS, new Uint8Array(Buffer.concat([body, d.final()])));
    } catch {
      // A nonce or tag length the mode refuses, or a tag that does not authenticate.
      return reply(encrypt ? PSA.ERROR_INVALID_ARGUMENT : PSA_ERROR_INVALID_SIGNATURE);
    }
  }

  private signature(c: PsaCall, iov: PackIovec, cap: number): PsaReply {
    const fn = iov.functionId;
    const sign = fn === CRYPTO_FN.SIGN_HASH || fn === CRYPTO_FN.SIGN_MESSAGE;
    const message = fn === CRYPTO_FN.SIGN_MESSAGE || fn === CRYPTO_FN.VERIFY_MESSAGE;
    const usage = sign ? (message ? USAGE.SIGN_MESSAGE : USAGE.SIGN_HASH) : message ? USAGE.VERIFY_MESSAGE : USAGE.VERIFY_HASH;
    if ((iov.alg & 0x7ffffe00) !== 0x06000600 || (iov.alg & 0xff) === 0xff) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const h = HASHES[iov.alg & 0xff];
    if (h === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
    const k = this.use(c.clientId, iov.keyId, usage, iov.alg);
    if (typeof k === 'number') return reply(k);
    if (k.type !== KEY_TYPE.ECC_PAIR_R1 && (sign || k.type !== KEY_TYPE.ECC_PUB_R1)) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const curve = k.bits === 256 ? 'P-256' : 'P-384';
    const input = c.inVecs[1] ?? new Uint8Array(0);
    const digest = message ? hash(h, input) : input;
    if (!message && digest.length !== HASH_SIZES[h]) return reply(PSA.ERROR_INVALID_ARGUMENT);
    if (sign) {
      if (cap < 2 * (k.bits / 8)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
      return reply(PSA.SUCCESS, ecdsaSignDigest(curve, k.material, digest));
    }
    const pub = k.type === KEY_TYPE.ECC_PUB_R1 ? k.material : ecPublicFromPrivate(curve, k.material);
    return reply(ecdsaVerifyDigest(curve, pub, digest, c.inVecs[2] ?? new Uint8Array(0)) ? PSA.SUCCESS : PSA_ERROR_INVALID_SIGNATURE);
  }

  private kdf(c: PsaCall, iov: PackIovec, cap: number): PsaReply {
    if (iov.functionId === CRYPTO_FN.KDF_SETUP) {
      const h = (iov.alg & 0x7fffff00) === 0x08000100 ? HASHES[iov.alg & 0xff] : undefined;
      if (h === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
      let handle = 1;
      while (handle <= MAX_OPS && this.ops.has(handle)) handle++;
      if (handle > MAX_OPS) return reply(PSA.ERROR_INSUFFICIENT_MEMORY);
      this.ops.set(handle, { owner: c.clientId, alg: iov.alg, hash: h, capacity: 255 * HASH_SIZES[h] });
      return reply(PSA.SUCCESS, u32le(handle));
    }
    const op = this.ops.get(iov.opHandle);
    if (op === undefined || op.owner !== c.clientId) return reply(PSA.ERROR_BAD_STATE);
    switch (iov.functionId) {
      case CRYPTO_FN.KDF_ABORT:
        this.ops.delete(iov.opHandle);
        return reply(PSA.SUCCESS, u32le(0));
      case CRYPTO_FN.KDF_GET_CAPACITY: {
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, op.capacity, true);
        return reply(PSA.SUCCESS, b);
      }
      case CRYPTO_FN.KDF_SET_CAPACITY:
        if (iov.capacity > op.capacity) return reply(PSA.ERROR_INVALID_ARGUMENT);
        op.capacity = iov.capacity;
        return reply(PSA.SUCCESS);
      case CRYPTO_FN.KDF_INPUT_BYTES:
      case CRYPTO_FN.KDF_INPUT_KEY: {
        let data = c.inVecs[1] ?? new Uint8Array(0);
        if (iov.functionId === CRYPTO_FN.KDF_INPUT_KEY) {
          const k = this.use(
            c.clientId,
            iov.keyId,
            USAGE.DERIVE,
            ALG.hkdf(op.hash === 'sha256' ? 0x09 : op.hash === 'sha384' ? 0x0a : 0x0b),
          );
          if (typeof k === 'number') return reply(k);
          data = k.material;
        }
        return reply(this.input(op, iov.step, data));
      }
      case CRYPTO_FN.KDF_OUTPUT_BYTES: {
        const b = this.output(op, cap);
        return typeof b === 'number' ? reply(b) : reply(PSA.SUCCESS, b);
      }
      case CRYPTO_FN.KDF_OUTPUT_KEY: {
        const attrs = c.inVecs[1];
        if (attrs?.length !== ATTRIBUTES_SIZE) return reply(PSA.ERROR_PROGRAMMER_ERROR);
        const a = decodeAttributes(attrs);
        let material: Uint8Array | number;
        if (a.type === KEY_TYPE.ECC_PAIR_R1) {
          if (a.bits !== 256 && a.bits !== 384) return reply(PSA.ERROR_NOT_SUPPORTED);
          let err: number | undefined;
          const m = psaDeriveEcPrivate(a.bits === 256 ? 'P-256' : 'P-384', (n) => {
            const b = this.output(op, n);
            if (typeof b === 'number') {
              err = b;
              return new Uint8Array(n);
            }
            return b;
          });
          material = err ?? m;
        } else material = a.bits > 0 && a.bits % 8 === 0 ? this.output(op, a.bits / 8) : PSA.ERROR_INVALID_ARGUMENT;
        return typeof material === 'number' ? reply(material) : this.store(c.clientId, a, material);
      }
      default:
        return reply(PSA.ERROR_NOT_SUPPORTED);
    }
  }

  /** HKDF inputs in PSA's order: an optional salt, the secret, then info. */
  private input(op: KdfOp, step: number, data: Uint8Array): number {
    if (op.stream !== undefined) return PSA.ERROR_BAD_STATE;
    if (step === KDF_STEP.SALT && op.salt === undefined && op.secret === undefined) op.salt = data.slice();
    else if (step === KDF_STEP.SECRET && op.secret === undefined) op.secret = data.slice();
    else if (step === KDF_STEP.INFO && op.info === undefined && op.secret !== undefined) op.info = data.slice();
    else
      return step === KDF_STEP.SALT || step === KDF_STEP.SECRET || step === KDF_STEP.INFO
        ? PSA.ERROR_BAD_STATE
        : PSA.ERROR_INVALID_ARGUMENT;
    return PSA.SUCCESS;
  }

  private output(op: KdfOp, n: number): Uint8Array | number {
    if (op.secret === undefined || op.info === undefined) return PSA.ERROR_BAD_STATE;
    if (n > op.capacity) {
      op.capacity = 0;
      return PSA_ERROR_INSUFFICIENT_DATA;
    }
    op.stream ??= { okm: hkdf(op.hash, op.secret, op.salt ?? new Uint8Array(0), op.info, op.capacity), pos: 0 };
    const b = op.stream.okm.slice(op.stream.pos, op.stream.pos + n);
    op.stream.pos += n;
    op.capacity -= n;
    return b;
  }
}

/** PSA's policy rule: the exact algorithm, or the key's hash wildcard matching the request's hash. */
export function algPermitted(policy: number, alg: number): boolean {
  if (policy === alg) return true;
  if ((policy & 0xff) === 0xff && (alg & 0xff) !== 0xff && (policy & ~0xff) === (alg & ~0xff)) return true;
  return false;
}

export function keyBits(type: number, material: Uint8Array): number {
  if (type === KEY_TYPE.ECC_PAIR_R1) return material.length === 32 ? 256 : 384;
  if (type === KEY_TYPE.ECC_PUB_R1) return material.length === 65 ? 256 : 384;
  return material.length * 8;
}

/** Import checks: the material fits the type (and the declared bits, if any). */
export function checkMaterial(a: KeyAttributes, m: Uint8Array): number | undefined {
  const bits = keyBits(a.type, m);
  if (a.bits !== 0 && a.bits !== bits) return PSA.ERROR_INVALID_ARGUMENT;
  switch (a.type) {
    case KEY_TYPE.AES:
      return [16, 24, 32].includes(m.length) ? undefined : PSA.ERROR_INVALID_ARGUMENT;
    case KEY_TYPE.CHACHA20:
      return m.length === 32 ? undefined : PSA.ERROR_INVALID_ARGUMENT;
    case KEY_TYPE.HMAC:
    case KEY_TYPE.DERIVE:
    case KEY_TYPE.RAW_DATA:
      return m.length > 0 ? undefined : PSA.ERROR_INVALID_ARGUMENT;
    case KEY_TYPE.ECC_PAIR_R1: {
      if (m.length !== 32 && m.length !== 48) return PSA.ERROR_NOT_SUPPORTED;
      try {
        ecPublicFromPrivate(m.length === 32 ? 'P-256' : 'P-384', m);
        return undefined;
      } catch {
        return PSA.ERROR_INVALID_ARGUMENT;
      }
    }
    case KEY_TYPE.ECC_PUB_R1:
      return (m.length === 65 || m.length === 97) && m[0] === 0x04 ? undefined : PSA.ERROR_INVALID_ARGUMENT;
    default:
      return PSA.ERROR_NOT_SUPPORTED;
  }
}
