/**
 * The image BL1_2 loads (BL2), as `bl1/bl1_2/scripts/create_bl2_img.py` makes it and
 * `bl1/bl1_2/lib/image.c` checks it: IV ‖ LMS signature ‖ version ‖ security counter ‖
 * AES-256-CTR(0xDEADBEEF ‖ zero pad to 0x800 ‖ BL2 code ‖ zero pad to the partition). The
 * signature covers version ‖ counter ‖ the plaintext; its SHA-256 is the "BL2 image hash" a BL1
 * without post-quantum crypto (and RSS 1.7's ROM bundle) carries.
 * @module
 */
import { aesCtr, hash } from '../crypto/index.ts';
import { lmsSignatureSize } from '../crypto/lms.ts';
import { bl2DecryptionKey, type RseKdf } from '../crypto/rse-keys.ts';
import { readU32be, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const BL1_IV_SIZE = 16;
/** LMS_SHA256_M32_H10 with LMOTS_SHA256_N32_W8, without the HSS level count. */
export const BL1_SIG_SIZE = lmsSignatureSize(6, 4);
export const BL1_VERSION_AT = BL1_IV_SIZE + BL1_SIG_SIZE;
export const BL1_COUNTER_AT = BL1_VERSION_AT + 8;
export const BL1_ENCRYPTED_AT = BL1_COUNTER_AT + 4;
/** `BL1_HEADER_SIZE`: BL2's code starts here, in the image and in SRAM. */
export const BL1_HEADER_SIZE = 0x800;
export const BL1_MAGIC = 0xdeadbeef;
/** BL1_2 refuses a security counter at or above this (one LMS H=10 key's signatures). */
export const BL1_MAX_SECURITY_COUNTER = 1024;

export interface Bl1Version {
  readonly major: number;
  readonly minor: number;
  readonly revision: number;
  readonly build: number;
}

/** `maj[.min[.rev]][+build]`, as the upstream script parses it (missing parts are 0). */
export function parseBl1Version(s: string): Bl1Version {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\+(\d+))?$/.exec(s.trim());
  if (m === null) throw new RseError('E_ARGUMENT', `'${s}' is not a version (maj.min.rev+build)`, { field: 'version' });
  const v = { major: Number(m[1]), minor: Number(m[2] ?? 0), revision: Number(m[3] ?? 0), build: Number(m[4] ?? 0) };
  if (v.major > 0xff || v.minor > 0xff || v.revision > 0xffff || v.build > 0xffffffff) {
    throw new RseError('E_ARGUMENT', `version ${s}: major and minor fit a byte, revision 16 bits, build 32 bits`, { field: 'version' });
  }
  return v;
}

export function encodeBl1Version(v: Bl1Version): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, v.major);
  dv.setUint8(1, v.minor);
  dv.setUint16(2, v.revision, true);
  dv.setUint32(4, v.build, true);
  return out;
}

export function formatBl1Version(v: Bl1Version): string {
  return `${v.major}.${v.minor}.${v.revision}+${v.build}`;
}

export interface Bl1SignInput {
  readonly code: Uint8Array;
  readonly version: Bl1Version;
  readonly securityCounter: number;
  /** The OTP `bl2_encryption_key` the per-counter AES key is derived from. */
  readonly encryptionKey: Uint8Array;
  readonly kdf: RseKdf;
  readonly partitionSize: number;
  /** Signs the message with the LMS key (returns the 1452-byte LMS signature). */
  readonly sign: (msg: Uint8Array) => Uint8Array;
  readonly random: (n: number) => Uint8Array;
}

/** The signed message: version ‖ counter ‖ plaintext. */
function signedMessage(version: Uint8Array, counter: number, plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + plaintext.length);
  out.set(version, 0);
  out.set(u32le(counter), 8);
  out.set(plaintext, 12);
  return out;
}

/** Builds a BL1_2-loadable image; `hash` is SHA-256 of the signed message. */
export function signBl1Image(o: Bl1SignInput): { image: Uint8Array; hash: Uint8Array } {
  if (!Number.isInteger(o.securityCounter) || o.securityCounter < 0 || o.securityCounter >= BL1_MAX_SECURITY_COUNTER) {
    throw new RseError('E_ARGUMENT', `security counter ${o.securityCounter}: BL1_2 takes 0..${BL1_MAX_SECURITY_COUNTER - 1}`, {
      field: 'security-counter',
    });
  }
  if (o.encryptionKey.length !== 32) throw new RseError('E_KEY', 'the BL2 encryption key is 32 bytes', { field: 'encrypt-key' });
  const plainSize = o.partitionSize - BL1_ENCRYPTED_AT;
  const codeAt = BL1_HEADER_SIZE - BL1_ENCRYPTED_AT;
  if (codeAt + o.code.length > plainSize) {
    throw new RseError('E_SIZE', `BL2 is ${o.code.length} bytes; ${plainSize - codeAt} fit a ${o.partitionSize}-byte partition`, {
      field: 'input',
    });
  }
  const plaintext = new Uint8Array(plainSize);
  plaintext.set(u32le(BL1_MAGIC), 0);
  plaintext.set(o.code, codeAt);
  const version = encodeBl1Version(o.version);
  const msg = signedMessage(version, o.securityCounter, plaintext);
  const signature = o.sign(msg);
  if (signature.length !== BL1_SIG_SIZE) {
    throw new RseError('E_KEY', `an LMS_SHA256_M32_H10/LMOTS_SHA256_N32_W8 key is needed (signature of ${signature.length} bytes)`, {
      field: 'key',
    });
  }
  const iv = new Uint8Array(BL1_IV_SIZE);
  iv.set(o.random(12));
  const key = bl2DecryptionKey(o.kdf, o.encryptionKey, o.securityCounter);
  const image = new Uint8Array(o.partitionSize);
  image.set(iv, 0);
  image.set(signature, BL1_IV_SIZE);
  image.set(version, BL1_VERSION_AT);
  image.set(u32le(o.securityCounter), BL1_COUNTER_AT);
  image.set(aesCtr(key, iv, plaintext), BL1_ENCRYPTED_AT);
  return { image, hash: hash('sha256', msg) };
}

/** The clear fields of an image. */
export interface Bl1ImageHeader {
  readonly iv: Uint8Array;
  readonly signature: Uint8Array;
  readonly version: Bl1Version;
  readonly securityCounter: number;
  readonly encrypted: Uint8Array;
}

export function parseBl1Image(b: Uint8Array, source = 'BL1 image'): Bl1ImageHeader {
  if (b.length < BL1_HEADER_SIZE) {
    throw new RseError('E_TRUNCATED', `${source} is ${b.length} bytes; the header alone is ${BL1_HEADER_SIZE}`, {
      field: 'image',
      offset: b.length,
    });
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    iv: b.subarray(0, BL1_IV_SIZE),
    signature: b.subarray(BL1_IV_SIZE, BL1_VERSION_AT),
    version: {
      major: dv.getUint8(BL1_VERSION_AT),
      minor: dv.getUint8(BL1_VERSION_AT + 1),
      revision: dv.getUint16(BL1_VERSION_AT + 2, true),
      build: dv.getUint32(BL1_VERSION_AT + 4, true),
    },
    securityCounter: readU32le(b, BL1_COUNTER_AT),
    encrypted: b.subarray(BL1_ENCRYPTED_AT),
  };
}

/**
 * What makes `h` not a BL1 image, read from its clear header alone: the LMS signature's own
 * type codes (LMOTS_SHA256_N32_W8 = 4 at byte 4, LMS_SHA256_M32_H10 = 6 after the one-time
 * signature), its leaf inside the 1024 of the tree, and the security counter's range.
 */
export function bl1HeaderProblem(h: Bl1ImageHeader): string | undefined {
  const sig = h.signature;
  const lmsAt = 4 + 4 + 32 + 34 * 32;
  if (sig.length < lmsAt + 4) return `the signature area is ${sig.length} bytes`;
  const ots = readU32be(sig, 4);
  const lms = readU32be(sig, lmsAt);
  if (ots !== 4 || lms !== 6)
    return `the signature's type codes are ${ots} and ${lms}, not LMOTS_SHA256_N32_W8 (4) and LMS_SHA256_M32_H10 (6)`;
  const q = readU32be(sig, 0);
  if (q >= 1024) return `the signature's leaf ${q} is outside the 1024 of an H10 tree`;
  if (h.securityCounter >= BL1_MAX_SECURITY_COUNTER) return `security counter ${h.securityCounter} is over ${BL1_MAX_SECURITY_COUNTER - 1}`;
  return undefined;
}

/** Decrypts the image body with the key for its counter; returns the plaintext and signed message. */
export function decryptBl1Image(h: Bl1ImageHeader, encryptionKey: Uint8Array, kdf: RseKdf): { plaintext: Uint8Array; message: Uint8Array } {
  if (encryptionKey.length !== 32)
    throw new RseError('E_KEY', `the BL2 encryption key is 32 bytes, got ${encryptionKey.length}`, { field: 'encrypt-key' });
  const key = bl2DecryptionKey(kdf, encryptionKey, h.securityCounter);
  const plaintext = aesCtr(key, h.iv, h.encrypted);
  return { plaintext, message: signedMessage(encodeBl1Version(h.version), h.securityCounter, plaintext) };
}
