/**
 * The STM32 image header the STM32MP ROM reads in front of the FSBL (and TF-A, OP-TEE, U-Boot):
 * v1 (MP15, 256 bytes) and v2 (MP13, a 128-byte base and extension headers; `stm32image` writes a
 * padding extension up to 512 bytes). Fields are little-endian; the header version is bytes
 * `00 minor major 00` at 0x48. The checksum is the byte sum of the payload; the v1 signature is
 * ECDSA P-256 (raw r ‖ s) over SHA-256 of the header from 0x48 to its end, then the payload, and
 * the key it verifies with (X ‖ Y at 0x6C) must hash to the PKH the OTP holds in words 24..31.
 * @module
 */
import { type AsymKey, constantTimeEqual, ecdsaSign, ecdsaVerify, hash, importRawPublicKey, rawPublicKey } from '../crypto/index.ts';
import { readU32be, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';

export const STM32_MAGIC: Uint8Array = Uint8Array.of(0x53, 0x54, 0x4d, 0x32);
export const HEADER_V1_SIZE = 0x100;
export const HEADER_V2_BASE = 0x80;
/** What `stm32image -m 2` writes: a padding extension bringing the header to 512 bytes. */
export const V2_PADDING_LENGTH = 0x180;
/** v1 option flags bit 0: no signature (honoured on open devices only). */
export const OPTION_NO_SIGNATURE = 1;
/** v2 extension flags. */
export const EXT_FLAG = { AUTHENTICATION: 1 << 0, DECRYPTION: 1 << 1, PADDING: 0x8000_0000 } as const;
export const EXTENSION_TYPES: Readonly<Record<string, string>> = {
  '5354ffff': 'padding',
  '54530002': 'authentication',
  '53540002': 'authentication',
  '53540001': 'fsbl-decryption',
};
/** `ecdsa_algorithm` values. */
export const ECDSA_ALGORITHM = { P256: 1, BRAINPOOL256: 2 } as const;
/** OTP words holding the public key hash (MP15): word 24 + i is PKH bytes 4i..4i+3, big-endian. */
export const PKH_OTP_FIRST_WORD = 24;

/** The binary type's meaning (byte 0xFF in v1, u32 at 0x6C in v2). */
export function binaryTypeName(t: number): string {
  if (t === 0x00) return 'U-Boot';
  if (t >= 0x10 && t <= 0x1f) return 'TF-A';
  if (t >= 0x20 && t <= 0x2f) return 'OP-TEE';
  if (t === 0x30) return 'coprocessor';
  return 'unknown';
}

export interface Stm32Extension {
  readonly type: string;
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

/** An STM32 image header (v1 or v2). */
export interface Stm32Header {
  readonly major: number;
  readonly minor: number;
  readonly headerSize: number;
  readonly signature: Uint8Array;
  readonly checksum: number;
  readonly imageLength: number;
  readonly entryPoint: number;
  readonly loadAddress: number;
  readonly imageVersion: number;
  /** v1 option flags, or v2 extension flags. */
  readonly flags: number;
  /** v1 only: ECDSA algorithm and public key X ‖ Y. */
  readonly algorithm?: number;
  readonly publicKey?: Uint8Array;
  readonly binaryType: number;
  /** v2: the extension headers after the 128-byte base. */
  readonly extensions: readonly Stm32Extension[];
  /** Fields the format wants zero that are not (reserved words, v1 padding). */
  readonly nonZeroReserved: readonly string[];
}

/** A parsed STM32 image: header and payload. */
export interface Stm32Image {
  readonly header: Stm32Header;
  /** The header bytes as they are in the file. */
  readonly headerBytes: Uint8Array;
  /** `imageLength` bytes after the header. */
  readonly payload: Uint8Array;
  /** Bytes in the file after the payload. */
  readonly trailing: number;
}

const bad = (code: 'E_BAD_MAGIC' | 'E_TRUNCATED' | 'E_BAD_FIELD' | 'E_BOUNDS', msg: string, field: string, offset: number): RseError =>
  new RseError(code, msg, { field, offset });

const isZero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** Reads a v1 or v2 header and finds its payload; every length is checked against the file. */
export function parseStm32Image(bytes: Uint8Array): Stm32Image {
  if (bytes.length < 4 || !STM32_MAGIC.every((b, i) => bytes[i] === b))
    throw bad('E_BAD_MAGIC', "no STM32 header: the file does not start with 'S' 'T' 'M' 0x32", 'magic', 0);
  if (bytes.length < HEADER_V2_BASE) throw bad('E_TRUNCATED', `${bytes.length} bytes: shorter than any STM32 header`, 'header', 0);
  const minor = bytes[0x49] as number;
  const major = bytes[0x4a] as number;
  if (major !== 1 && major !== 2)
    throw bad('E_BAD_FIELD', `header version ${major}.${minor}: only 1.x (MP15) and 2.x (MP13) are known`, 'header_version', 0x4a);
  const u32 = (off: number): number => readU32le(bytes, off);
  const nonZero: string[] = [];
  if (bytes[0x48] !== 0 || bytes[0x4b] !== 0) nonZero.push('header_version');
  if (u32(0x54) !== 0) nonZero.push('reserved1');
  if (u32(0x5c) !== 0) nonZero.push('reserved2');
  let headerSize: number;
  const extensions: Stm32Extension[] = [];
  let binaryType: number;
  let algorithm: number | undefined;
  let publicKey: Uint8Array | undefined;
  if (major === 1) {
    if (bytes.length < HEADER_V1_SIZE) throw bad('E_TRUNCATED', `${bytes.length} bytes: a v1 header is 256`, 'header', 0);
    headerSize = HEADER_V1_SIZE;
    algorithm = u32(0x68);
    publicKey = bytes.slice(0x6c, 0xac);
    binaryType = bytes[0xff] as number;
    if (!isZero(bytes.subarray(0xac, 0xff))) nonZero.push('padding');
  } else {
    const extLength = u32(0x68);
    binaryType = u32(0x6c);
    if (!isZero(bytes.subarray(0x70, 0x80))) nonZero.push('padding');
    if (extLength > bytes.length - HEADER_V2_BASE)
      throw bad('E_TRUNCATED', `extension headers of ${extLength} bytes run past the end of the file`, 'extension_headers_length', 0x68);
    headerSize = HEADER_V2_BASE + extLength;
    for (let at = HEADER_V2_BASE; at < headerSize; ) {
      if (headerSize - at < 8) throw bad('E_BOUNDS', `extension header at 0x${at.toString(16)} crosses the header end`, 'extension', at);
      const type = Buffer.from(bytes.subarray(at, at + 4)).toString('hex');
      const length = u32(at + 4);
      if (length < 8 || length > headerSize - at)
        throw bad(
          'E_BAD_FIELD',
          `extension header at 0x${at.toString(16)}: length ${length} outside 8..${headerSize - at}`,
          'extension.length',
          at + 4,
        );
      extensions.push({ type, name: EXTENSION_TYPES[type] ?? 'unknown', offset: at, length });
      at += length;
    }
  }
  const imageLength = u32(0x4c);
  if (imageLength > bytes.length - headerSize)
    throw bad(
      'E_TRUNCATED',
      `image length ${imageLength} but the file has ${bytes.length - headerSize} bytes after the ${headerSize}-byte header`,
      'image_length',
      0x4c,
    );
  const header: Stm32Header = {
    major,
    minor,
    headerSize,
    signature: bytes.slice(0x04, 0x44),
    checksum: u32(0x44),
    imageLength,
    entryPoint: u32(0x50),
    loadAddress: u32(0x58),
    imageVersion: u32(0x60),
    flags: u32(0x64),
    ...(algorithm === undefined ? {} : { algorithm }),
    ...(publicKey === undefined ? {} : { publicKey }),
    binaryType,
    extensions,
    nonZeroReserved: nonZero,
  };
  return {
    header,
    headerBytes: bytes.subarray(0, headerSize),
    payload: bytes.subarray(headerSize, headerSize + imageLength),
    trailing: bytes.length - headerSize - imageLength,
  };
}

/** The payload checksum: the sum of its bytes, modulo 2^32. */
export function payloadChecksum(payload: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) sum += payload[i] as number;
  return sum >>> 0;
}

/** SHA-256 of the public key X ‖ Y: what OTP words 24..31 hold. */
export function publicKeyHash(xy: Uint8Array): Uint8Array {
  return hash('sha256', xy);
}

/** The PKH as the eight OTP words (24..31) the fuses hold. */
export function pkhOtpWords(pkh: Uint8Array): number[] {
  if (pkh.length !== 32) throw new RseError('E_ARGUMENT', `a PKH is 32 bytes, not ${pkh.length}`, { field: 'pkh' });
  return Array.from({ length: 8 }, (_, i) => readU32be(pkh, 4 * i));
}

/** X ‖ Y of a P-256 key. */
export function p256PublicXY(key: AsymKey): Uint8Array {
  if (key.type !== 'ecdsa-p256') throw new RseError('E_KEY', `STM32 images are signed with ECDSA P-256, not ${key.type}`, { field: 'key' });
  return rawPublicKey(key).subarray(1);
}

/** What {@link createStm32Image} makes: payload, addresses, binary type, version and the signing key. */
export interface Stm32CreateOptions {
  readonly payload: Uint8Array;
  readonly loadAddress: number;
  readonly entryPoint: number;
  readonly binaryType: number;
  readonly imageVersion?: number;
  /** Header version: 1 (MP15, default) or 2 (MP13). */
  readonly major?: 1 | 2;
  readonly minor?: number;
  /** Signs (v1): P-256 private key. Without one the image is unsigned (option bit 0 set), as stm32image makes it. */
  readonly key?: AsymKey;
}

const u32Field = (v: number, field: string): number => {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RseError('E_ARGUMENT', `${field} ${v} does not fit 32 bits`, { field });
  return v;
};

/** Makes an image: what `stm32image` makes unsigned, and with a key the signed v1 the ROM authenticates. */
export function createStm32Image(o: Stm32CreateOptions): Uint8Array {
  const major = o.major ?? 1;
  const minor = o.minor ?? 0;
  if (!Number.isInteger(minor) || minor < 0 || minor > 0xff)
    throw new RseError('E_ARGUMENT', `minor version ${minor} is not a byte`, { field: 'minor' });
  if (major === 2 && o.key !== undefined)
    throw new RseError('E_UNSUPPORTED', 'signing a v2 header needs its authentication extension, whose layout ST does not publish', {
      field: 'key',
    });
  if (major === 1 && (o.binaryType < 0 || o.binaryType > 0xff))
    throw new RseError('E_ARGUMENT', `binary type 0x${o.binaryType.toString(16)}: v1 holds one byte`, { field: 'binary-type' });
  const headerSize = major === 1 ? HEADER_V1_SIZE : HEADER_V2_BASE + V2_PADDING_LENGTH;
  if (o.payload.length > 0xffffffff - headerSize)
    throw new RseError('E_SIZE', 'the payload is too large for a 32-bit length', { field: 'input' });
  const out = new Uint8Array(headerSize + o.payload.length);
  const put = (off: number, v: number, field: string): void => out.set(u32le(u32Field(v, field)), off);
  out.set(STM32_MAGIC, 0);
  put(0x44, payloadChecksum(o.payload), 'checksum');
  out[0x49] = minor;
  out[0x4a] = major;
  put(0x4c, o.payload.length, 'length');
  put(0x50, o.entryPoint, 'entry point');
  put(0x58, o.loadAddress, 'load address');
  put(0x60, o.imageVersion ?? 0, 'image version');
  if (major === 1) {
    put(0x64, o.key === undefined ? OPTION_NO_SIGNATURE : 0, 'option flags');
    put(0x68, ECDSA_ALGORITHM.P256, 'algorithm');
    out[0xff] = o.binaryType;
  } else {
    put(0x64, EXT_FLAG.PADDING, 'extension flags');
    put(0x68, V2_PADDING_LENGTH, 'extension headers length');
    put(0x6c, o.binaryType, 'binary type');
    out.set(Uint8Array.of(0x53, 0x54, 0xff, 0xff), HEADER_V2_BASE);
    put(HEADER_V2_BASE + 4, V2_PADDING_LENGTH, 'extension length');
  }
  out.set(o.payload, headerSize);
  if (o.key !== undefined) {
    out.set(p256PublicXY(o.key), 0x6c);
    if (o.key.privateKey === undefined && o.key.token === undefined)
      throw new RseError('E_KEY', 'signing needs a private key', { field: 'key' });
    out.set(ecdsaSign(o.key, [out.subarray(0x48, headerSize), o.payload], 'ieee-p1363'), 0x04);
  }
  return out;
}

/** One check of {@link checkStm32Image}, in the ROM's order. */
export interface Stm32Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What the ROM checks an FSBL against: the OTP PKH, and whether the device is closed. */
export interface Stm32CheckOptions {
  /** The PKH the device's OTP holds (a closed device always has one). */
  readonly pkh?: Uint8Array;
  /** The device is closed: the signature is checked whatever the option flag says. */
  readonly closed?: boolean;
}

/**
 * The ROM's checks of an FSBL: header version, payload checksum, then (signed, or any image on a
 * closed device) the algorithm, the key against the OTP PKH and the signature.
 */
export function checkStm32Image(img: Stm32Image, o: Stm32CheckOptions = {}): Stm32Check[] {
  const h = img.header;
  const out: Stm32Check[] = [];
  const check = (name: string, ok: boolean, detail: string): boolean => {
    out.push({ check: name, ok, detail });
    return ok;
  };
  check('header version', h.major === 1, `${h.major}.${h.minor}${h.major === 1 ? '' : ': this check covers v1 (MP15) headers'}`);
  const sum = payloadChecksum(img.payload);
  check(
    'checksum',
    sum === h.checksum,
    `byte sum 0x${sum.toString(16).padStart(8, '0')}, header 0x${h.checksum.toString(16).padStart(8, '0')}`,
  );
  const signed = h.major === 1 && (h.flags & OPTION_NO_SIGNATURE) === 0;
  if (!signed && o.closed !== true) {
    check('signature', true, 'not signed (option bit 0), and the device is open: not checked');
    return out;
  }
  if (h.major !== 1 || h.publicKey === undefined) {
    check('signature', false, 'a closed device needs a signed v1 header');
    return out;
  }
  if (!signed) check('option flags', false, 'unsigned image (option bit 0) on a closed device: the ROM requires a signature');
  if (
    !check(
      'algorithm',
      h.algorithm === ECDSA_ALGORITHM.P256,
      `${h.algorithm} (${h.algorithm === 2 ? 'brainpoolP256t1, not supported' : h.algorithm === 1 ? 'P-256' : 'unknown'})`,
    )
  )
    return out;
  const pkh = publicKeyHash(h.publicKey);
  if (o.pkh !== undefined) {
    const same = o.pkh.length === pkh.length && constantTimeEqual(o.pkh, pkh);
    if (
      !check(
        'public key hash',
        same,
        same ? 'SHA-256(X ‖ Y) equals the OTP PKH' : `SHA-256(X ‖ Y) ${toHexShort(pkh)} != OTP PKH ${toHexShort(o.pkh)}`,
      )
    )
      return out;
  }
  let key: AsymKey;
  try {
    key = importRawPublicKey('ecdsa-p256', Uint8Array.of(4, ...h.publicKey));
  } catch {
    check('public key', false, 'X ‖ Y at 0x6C is not a point on P-256');
    return out;
  }
  const ok = ecdsaVerify(key, [img.headerBytes.subarray(0x48), img.payload], h.signature, 'ieee-p1363');
  check('signature', ok, 'ECDSA P-256 over SHA-256(header[0x48..] ‖ payload)');
  return out;
}

const toHexShort = (b: Uint8Array): string => `${toHex(b.subarray(0, 8))}…`;
