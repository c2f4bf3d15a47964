/**
 * The BL2 image BL1_2 loads from TF-M 2.2 on (`struct bl1_2_image_t`,
 * `bl1/bl1_2/lib/interface/image_layout_bl1_2.h`), as `bl1/bl1_2/scripts/create_bl2_img.py`
 * makes it: a header of [CTR IV] [binding tag] and one slot per signer (the signer's public key
 * and its length, the signature and its length), then the protected values: version {major u8,
 * minor u8, revision u16, build u32}, security counter, [0xDEADBEEF decrypt magic] and the BL2
 * code zero-padded to `IMAGE_BL2_CODE_SIZE`; the file is the whole partition. The signatures
 * cover the plaintext protected values: LMS (RFC 8554, BL1_2's LMS_SHA256_M32_H10 /
 * LMOTS_SHA256_N32_W8) over the bytes, or ECDSA P-256/SHA-256 or P-384/SHA-384 over their hash
 * with RFC 6979 nonces, stored as r ‖ s. Encryption is AES-256-CTR from the IV over magic and
 * code, under the key TF-M 2.2+'s SP 800-108 CMAC KDF (big-endian counter and L) derives from
 * the BL2 encryption key and the security counter.
 * @module
 */

import { ecdsaSignDeterministic, ecdsaVerifyParts } from '../crypto/ecdsa-digest.ts';
import { type AsymKey, aesCtr, constantTimeEqual, exportPublicDer, hash, importPublicDer } from '../crypto/index.ts';
import { decodeLmsPublicKey, lmsVerifyProblem } from '../crypto/lms.ts';
import { bl2DecryptionKey } from '../crypto/rse-keys.ts';
import { readU16le, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { RSE_2_3 } from '../profiles/rse-2.3.ts';
import type { Bl1ImageV2Config } from '../profiles/types.ts';
import type { Bl1Version } from './image.ts';

export type { Bl1ImageV2Config } from '../profiles/types.ts';

/** TF-M 2.3.1's RSE on TC (one LMS signer, encrypted): the `rse-2.3` profile's shape. */
export const BL1_IMAGE_V2_RSE_2_3: Bl1ImageV2Config = RSE_2_3.bl1.imageV2 as Bl1ImageV2Config;

export const BL1_V2_DECRYPT_MAGIC = 0xdeadbeef;

/** One signer: LMS through a stateful key, or an ECDSA key signing deterministically. */
export type Bl1V2Signer =
  | {
      readonly alg: 'lms';
      /** Signs the message (persisting the key's state first); returns the bare RFC 8554 signature and the 56-byte public key. */
      readonly sign: (message: Uint8Array) => { readonly signature: Uint8Array; readonly publicKey: Uint8Array };
    }
  | { readonly alg: 'ecdsa'; readonly key: AsymKey };

export interface Bl1V2SignInput {
  readonly code: Uint8Array;
  readonly version: Bl1Version;
  readonly securityCounter: number;
  /** One per signer slot, in order (CM ROTPK 0, then DM). */
  readonly signers: readonly Bl1V2Signer[];
  /** With encryption: the OTP BL2 encryption key and the 16-byte initial counter block. */
  readonly encryptionKey?: Uint8Array;
  readonly iv?: Uint8Array;
}

/** Where each part of an image of shape `c` sits. */
export function bl1V2Offsets(c: Bl1ImageV2Config): {
  readonly iv: number | undefined;
  readonly bindingTag: number | undefined;
  readonly sigs: readonly { readonly rotpk: number; readonly rotpkLen: number; readonly sig: number; readonly sigLen: number }[];
  readonly version: number;
  readonly securityCounter: number;
  readonly magic: number | undefined;
  readonly code: number;
  readonly codeSize: number;
} {
  let at = 0;
  const iv = c.encryption ? at : undefined;
  if (c.encryption) at += 16;
  const bindingTag = c.binding ? at : undefined;
  if (c.binding) at += 16;
  const sigs = Array.from({ length: c.signers }, () => {
    const s = { rotpk: at, rotpkLen: at + c.rotpkMaxSize, sig: at + c.rotpkMaxSize + 4, sigLen: at + c.rotpkMaxSize + 4 + c.sigMaxSize };
    at = s.sigLen + 4;
    return s;
  });
  const version = at;
  const securityCounter = at + 8;
  at += 12;
  const magic = c.encryption ? at : undefined;
  if (c.encryption) at += 4;
  return { iv, bindingTag, sigs, version, securityCounter, magic, code: at, codeSize: c.partitionSize - c.headerMaxSize };
}

/** The signed message: the plaintext protected values. */
export function bl1V2ProtectedValues(c: Bl1ImageV2Config, i: Pick<Bl1V2SignInput, 'code' | 'version' | 'securityCounter'>): Uint8Array {
  const o = bl1V2Offsets(c);
  if (i.code.length > o.codeSize)
    throw new RseError('E_SIZE', `BL2 is ${i.code.length} bytes; the image holds ${o.codeSize} (IMAGE_BL2_CODE_SIZE)`, { field: 'code' });
  const v = i.version;
  const out = new Uint8Array(12 + (c.encryption ? 4 : 0) + o.codeSize);
  out.set([v.major & 0xff, v.minor & 0xff, v.revision & 0xff, (v.revision >> 8) & 0xff], 0);
  out.set(u32le(v.build >>> 0), 4);
  out.set(u32le(i.securityCounter >>> 0), 8);
  let at = 12;
  if (c.encryption) {
    out.set(u32le(BL1_V2_DECRYPT_MAGIC), at);
    at += 4;
  }
  out.set(i.code, at);
  return out;
}

/** Makes the image BL1_2 of shape `c` loads; the file is the whole BL2 partition. */
export function signBl1ImageV2(c: Bl1ImageV2Config, i: Bl1V2SignInput): Uint8Array {
  if (i.signers.length !== c.signers)
    throw new RseError('E_ARGUMENT', `the image has ${c.signers} signer slot(s); ${i.signers.length} signer(s) given`, {
      field: 'signers',
    });
  const o = bl1V2Offsets(c);
  if (o.code > c.headerMaxSize)
    throw new RseError('E_SIZE', `the header is ${o.code} bytes, more than TFM_BL1_2_HEADER_MAX_SIZE ${c.headerMaxSize}`, {
      field: 'header',
    });
  const pv = bl1V2ProtectedValues(c, i);
  const image = new Uint8Array(c.partitionSize);
  i.signers.forEach((s, n) => {
    const slot = o.sigs[n] as (typeof o.sigs)[number];
    let rotpk: Uint8Array;
    let sig: Uint8Array;
    if (s.alg === 'lms') {
      const r = s.sign(pv);
      rotpk = r.publicKey;
      sig = r.signature;
    } else {
      rotpk = exportPublicDer(s.key, 'spki');
      sig = ecdsaSignDeterministic(s.key, pv);
    }
    if (rotpk.length > c.rotpkMaxSize || sig.length > c.sigMaxSize)
      throw new RseError('E_SIZE', `signer ${n}: key ${rotpk.length} / signature ${sig.length} bytes exceed the slot`, {
        field: `sigs[${n}]`,
      });
    image.set(rotpk, slot.rotpk);
    image.set(u32le(rotpk.length), slot.rotpkLen);
    image.set(sig, slot.sig);
    image.set(u32le(sig.length), slot.sigLen);
  });
  let body = pv;
  if (c.encryption) {
    if (i.encryptionKey === undefined || i.encryptionKey.length !== 32 || i.iv === undefined || i.iv.length !== 16)
      throw new RseError('E_ARGUMENT', 'an encrypted image needs the 32-byte BL2 encryption key and a 16-byte IV', { field: 'encryption' });
    const key = bl2DecryptionKey('cmac-counter-be', i.encryptionKey, i.securityCounter);
    body = new Uint8Array(pv);
    body.set(aesCtr(key, i.iv, pv.subarray(12)), 12);
    image.set(i.iv, o.iv as number);
  }
  image.set(body, o.version);
  return image;
}

/** The clear parts of an image of shape `c` (what BL1_2 reads before it decrypts). */
export interface Bl1ImageV2 {
  readonly iv: Uint8Array | undefined;
  readonly bindingTag: Uint8Array | undefined;
  readonly sigs: readonly { readonly rotpk: Uint8Array; readonly signature: Uint8Array }[];
  readonly version: Bl1Version;
  readonly securityCounter: number;
}

/** Reads the clear parts of an image of shape `c`; every length is checked against its slot. */
export function parseBl1ImageV2(c: Bl1ImageV2Config, b: Uint8Array, source = 'BL1_2 image'): Bl1ImageV2 {
  const o = bl1V2Offsets(c);
  if (b.length < c.partitionSize)
    throw new RseError('E_TRUNCATED', `${source} is ${b.length} bytes; the BL2 partition is ${c.partitionSize}`, {
      field: 'image',
      offset: b.length,
    });
  const sigs = o.sigs.map((s, n) => {
    const rl = readU32le(b, s.rotpkLen);
    const sl = readU32le(b, s.sigLen);
    if (rl > c.rotpkMaxSize)
      throw new RseError('E_BOUNDS', `${source}: rotpk_len ${rl} of signer ${n} exceeds ${c.rotpkMaxSize}`, {
        field: `sigs[${n}].rotpk_len`,
        offset: s.rotpkLen,
      });
    if (sl > c.sigMaxSize)
      throw new RseError('E_BOUNDS', `${source}: sig_len ${sl} of signer ${n} exceeds ${c.sigMaxSize}`, {
        field: `sigs[${n}].sig_len`,
        offset: s.sigLen,
      });
    return { rotpk: b.slice(s.rotpk, s.rotpk + rl), signature: b.slice(s.sig, s.sig + sl) };
  });
  return {
    iv: o.iv === undefined ? undefined : b.slice(o.iv, o.iv + 16),
    bindingTag: o.bindingTag === undefined ? undefined : b.slice(o.bindingTag, o.bindingTag + 16),
    sigs,
    version: {
      major: b[o.version] as number,
      minor: b[o.version + 1] as number,
      revision: readU16le(b, o.version + 2),
      build: readU32le(b, o.version + 4),
    },
    securityCounter: readU32le(b, o.securityCounter),
  };
}

/** What BL1_2 knows about signer slot n: the ROTPK hash OTP holds for it and its policy. */
export interface Bl1V2SignerTrust {
  /** SHA-256 of the signer's key, as the CM ROTPK array holds it. */
  readonly rotpkHash: Uint8Array;
  /** `required` (SIG_REQUIRED): the slot must verify; `optional` (SIG_OPTIONAL): a failure is ignored. */
  readonly policy: 'required' | 'optional';
}

/** One check of {@link checkBl1ImageV2}. */
export interface Bl1V2Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * BL1_2's checks of a v2 image (`bl1/bl1_2/main.c`): decrypt and check the magic, then for each
 * signer slot the embedded key's hash against the OTP ROTPK and the signature over the plaintext
 * protected values (LMS, or ECDSA of the curve's hash); a slot whose policy is optional may fail.
 * Returns every check, whether the image passes, and the plaintext protected values.
 */
export function checkBl1ImageV2(
  c: Bl1ImageV2Config,
  image: Uint8Array,
  trust: readonly Bl1V2SignerTrust[],
  encryptionKey?: Uint8Array,
): { readonly ok: boolean; readonly checks: readonly Bl1V2Check[]; readonly protectedValues?: Uint8Array } {
  const checks: Bl1V2Check[] = [];
  const check = (name: string, ok: boolean, detail: string): boolean => {
    checks.push({ check: name, ok, detail });
    return ok;
  };
  const h = parseBl1ImageV2(c, image);
  const o = bl1V2Offsets(c);
  const pv = image.slice(o.version, o.code + o.codeSize);
  if (c.encryption) {
    if (encryptionKey === undefined)
      throw new RseError('E_ARGUMENT', 'an encrypted image needs the BL2 encryption key', { field: 'encryption' });
    const key = bl2DecryptionKey('cmac-counter-be', encryptionKey, h.securityCounter);
    pv.set(aesCtr(key, h.iv as Uint8Array, pv.subarray(12)), 12);
    const magic = readU32le(pv, 12);
    if (!check('decryption magic', magic === BL1_V2_DECRYPT_MAGIC, `first word 0x${magic.toString(16)}`)) return { ok: false, checks };
  }
  let ok = true;
  h.sigs.forEach((s, n) => {
    const t = trust[n];
    const tag = `signer ${n}`;
    const pass = ((): boolean => {
      if (t === undefined) return check(`${tag}: ROTPK`, false, 'no ROTPK is provisioned for this slot');
      const keyHash = hash('sha256', s.rotpk);
      if (
        !check(
          `${tag}: ROTPK`,
          keyHash.length === t.rotpkHash.length && constantTimeEqual(keyHash, t.rotpkHash),
          'SHA-256 of the embedded key vs the OTP ROTPK',
        )
      )
        return false;
      let problem: string | undefined;
      if (s.rotpk.length === 56) problem = lmsVerifyProblem(decodeLmsPublicKey(s.rotpk, `${tag} rotpk`), pv, s.signature);
      else {
        let key: AsymKey;
        try {
          key = importPublicDer(s.rotpk);
        } catch {
          return check(`${tag}: signature`, false, 'the embedded key is neither an LMS key nor a DER public key');
        }
        problem = ecdsaVerifyParts(key, s.signature, pv) ? undefined : 'the ECDSA signature does not verify';
      }
      return check(`${tag}: signature`, problem === undefined, problem ?? (s.rotpk.length === 56 ? 'LMS verifies' : 'ECDSA verifies'));
    })();
    if (!pass && t?.policy !== 'optional') ok = false;
  });
  return ok ? { ok, checks, protectedValues: pv } : { ok, checks };
}
