/**
 * SFI images (Secure Firmware Install, AN4992) in rsekit's documented layout (docs/sfi-format.md):
 * ST's byte layout is not public, its semantics are: one authenticated header, then areas each
 * encrypted with AES-128-GCM under the OEM firmware key, IV = the 12-byte nonce with the area
 * index added to bytes 8..11 (little-endian), AAD = the area descriptor, and a left-truncated
 * SHA-256 of the plaintext in the descriptor.
 * @module
 */
import { aesGcmDecrypt, aesGcmEncrypt, constantTimeEqual, hash } from '../crypto/index.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const SFI_MAGIC = 0x49465352; // 'RSFI'
export const AREA_MAGIC = 0x41494653; // 'SFIA'
export const SFI_PROTOCOL_VERSION = 2;
export const HEADER_SIZE = 48;
export const DESCRIPTOR_SIZE = 52;
export const AAD_SIZE = 36;
export const MAX_AREAS = 256;

/**
 * Area types: F internal firmware, C configuration (option bytes, applied last), M module,
 * X external-flash firmware (re-encrypted for OTFDEC), K the OTFDEC global key.
 */
export const AREA_TYPES = { F: 'firmware', C: 'configuration', M: 'module', X: 'external firmware', K: 'OTFDEC key' } as const;
export type AreaType = keyof typeof AREA_TYPES;
/** X areas: flags bit 0 = OTFDEC key unique to the device (else the global key of the K area). */
export const FLAG_UNIQUE_KEY = 1;

export interface SfiHeader {
  readonly protocolVersion: number;
  readonly areaCount: number;
  readonly imageVersion: number;
  readonly nonce: Uint8Array;
  readonly tag: Uint8Array;
}

export interface SfiArea {
  readonly type: AreaType;
  readonly flags: number;
  readonly index: number;
  readonly total: number;
  readonly destination: number;
  readonly length: number;
  readonly hash: Uint8Array;
  readonly tag: Uint8Array;
  /** Offset of the descriptor in the image. */
  readonly offset: number;
  readonly descriptor: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** A parsed SFI image: header and areas. */
export interface SfiImage {
  readonly header: SfiHeader;
  readonly headerBytes: Uint8Array;
  readonly areas: readonly SfiArea[];
}

export interface AreaInput {
  readonly type: AreaType;
  readonly destination: number;
  readonly data: Uint8Array;
  readonly flags?: number;
}

/** The IV of area `index`: the nonce with `index` added to its bytes 8..11 as a little-endian u32. */
export function areaIv(nonce: Uint8Array, index: number): Uint8Array {
  const iv = nonce.slice();
  const dv = new DataView(iv.buffer);
  dv.setUint32(8, (dv.getUint32(8, true) + index) >>> 0, true);
  return iv;
}

const truncatedHash = (b: Uint8Array): Uint8Array => hash('sha256', b).subarray(16);

function checkKey(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 16)
    throw new RseError('E_ARGUMENT', `the SFI firmware key is 16 bytes (AES-128), got ${key.length}`, { field: 'key' });
  if (nonce.length !== 12) throw new RseError('E_ARGUMENT', `the SFI nonce is 12 bytes, got ${nonce.length}`, { field: 'nonce' });
}

/** STM32 Trusted Package Creator's job: the header, then each area encrypted under the key. */
export function packageSfi(o: { key: Uint8Array; nonce: Uint8Array; imageVersion?: number; areas: readonly AreaInput[] }): Uint8Array {
  checkKey(o.key, o.nonce);
  const n = o.areas.length;
  if (n === 0 || n > MAX_AREAS) throw new RseError('E_ARGUMENT', `an SFI image holds 1..${MAX_AREAS} areas, not ${n}`, { field: 'areas' });
  const configs = o.areas.filter((a) => a.type === 'C').length;
  if (configs > 1) throw new RseError('E_ARGUMENT', 'an SFI image holds at most one configuration area', { field: 'areas' });
  if (configs === 1 && o.areas.at(-1)?.type !== 'C')
    throw new RseError('E_ARGUMENT', 'the configuration area comes last (option bytes are applied after the firmware)', { field: 'areas' });
  const header = new Uint8Array(HEADER_SIZE);
  header.set(u32le(SFI_MAGIC), 0);
  header.set(u32le(SFI_PROTOCOL_VERSION), 4);
  header.set(u32le(n), 8);
  header.set(u32le(o.imageVersion ?? 0), 12);
  header.set(o.nonce, 16);
  header.set(aesGcmEncrypt(o.key, o.nonce, header.subarray(0, 32), new Uint8Array(0)).tag, 32);
  const parts: Uint8Array[] = [header];
  o.areas.forEach((a, i) => {
    if (!Object.hasOwn(AREA_TYPES, a.type))
      throw new RseError('E_ARGUMENT', `area type ${a.type} is not one of ${Object.keys(AREA_TYPES).join(' ')}`, { field: 'areas' });
    const d = new Uint8Array(DESCRIPTOR_SIZE);
    d.set(u32le(AREA_MAGIC), 0);
    d[4] = a.type.charCodeAt(0);
    d[5] = (a.flags ?? 0) & 0xff;
    new DataView(d.buffer).setUint16(6, i, true);
    d.set(u32le(n), 8);
    d.set(u32le(a.destination >>> 0), 12);
    d.set(u32le(a.data.length), 16);
    d.set(truncatedHash(a.data), 20);
    const { ciphertext, tag } = aesGcmEncrypt(o.key, areaIv(o.nonce, i), d.subarray(0, AAD_SIZE), a.data);
    d.set(tag, AAD_SIZE);
    parts.push(d, ciphertext);
  });
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const field = (
  msg: string,
  f: string,
  offset: number,
  code: 'E_BAD_FIELD' | 'E_TRUNCATED' | 'E_BAD_MAGIC' | 'E_BOUNDS' = 'E_BAD_FIELD',
): RseError => new RseError(code, msg, { field: f, offset });

/** Reads an SFI image's structure (no key needed); every length and offset is checked. */
export function parseSfi(b: Uint8Array): SfiImage {
  if (b.length < HEADER_SIZE)
    throw field(`an SFI image starts with a ${HEADER_SIZE}-byte header; ${b.length} bytes`, 'header', 0, 'E_TRUNCATED');
  if (readU32le(b, 0) !== SFI_MAGIC) throw field(`magic 0x${readU32le(b, 0).toString(16)} is not 'RSFI'`, 'header.magic', 0, 'E_BAD_MAGIC');
  const protocolVersion = readU32le(b, 4);
  if (protocolVersion !== SFI_PROTOCOL_VERSION)
    throw field(`SFI protocol version ${protocolVersion}, not ${SFI_PROTOCOL_VERSION}`, 'header.protocol_version', 4);
  const areaCount = readU32le(b, 8);
  if (areaCount === 0 || areaCount > MAX_AREAS) throw field(`area count ${areaCount} (1..${MAX_AREAS})`, 'header.area_count', 8);
  if (!b.subarray(28, 32).every((x) => x === 0)) throw field('reserved header bytes are not zero', 'header.reserved', 28);
  const header: SfiHeader = { protocolVersion, areaCount, imageVersion: readU32le(b, 12), nonce: b.slice(16, 28), tag: b.slice(32, 48) };
  const areas: SfiArea[] = [];
  let off = HEADER_SIZE;
  for (let i = 0; i < areaCount; i++) {
    if (off + DESCRIPTOR_SIZE > b.length)
      throw field(`area ${i}: descriptor runs past the end (${b.length} bytes)`, `area[${i}]`, off, 'E_TRUNCATED');
    if (readU32le(b, off) !== AREA_MAGIC)
      throw field(`area ${i}: magic 0x${readU32le(b, off).toString(16)} is not 'SFIA'`, `area[${i}].magic`, off, 'E_BAD_MAGIC');
    const type = String.fromCharCode(b[off + 4] as number);
    if (!Object.hasOwn(AREA_TYPES, type))
      throw field(`area ${i}: type ${JSON.stringify(type)} is not one of ${Object.keys(AREA_TYPES).join(' ')}`, `area[${i}].type`, off + 4);
    const index = (b[off + 6] as number) | ((b[off + 7] as number) << 8);
    if (index !== i) throw field(`area ${i}: index field says ${index}`, `area[${i}].index`, off + 6);
    const total = readU32le(b, off + 8);
    if (total !== areaCount) throw field(`area ${i}: total ${total}, the header says ${areaCount}`, `area[${i}].total`, off + 8);
    const length = readU32le(b, off + 16);
    const start = off + DESCRIPTOR_SIZE;
    if (length > b.length - start)
      throw field(`area ${i}: ${length} bytes of ciphertext, ${b.length - start} left`, `area[${i}].length`, off + 16, 'E_BOUNDS');
    areas.push({
      type: type as AreaType,
      flags: b[off + 5] as number,
      index,
      total,
      destination: readU32le(b, off + 12),
      length,
      hash: b.slice(off + 20, off + 36),
      tag: b.slice(off + 36, off + 52),
      offset: off,
      descriptor: b.slice(off, off + AAD_SIZE),
      ciphertext: b.subarray(start, start + length),
    });
    off = start + length;
  }
  if (off !== b.length) throw field(`${b.length - off} bytes after the last area`, 'trailing', off, 'E_BOUNDS');
  const c = areas.findIndex((a) => a.type === 'C');
  if (c >= 0 && c !== areas.length - 1)
    throw field('the configuration area is not the last one', `area[${c}].type`, (areas[c] as SfiArea).offset + 4);
  return { header, headerBytes: b.slice(0, HEADER_SIZE), areas };
}

/** The header tag under `key`: a wrong key (another OEM's package) fails here, before any area. */
export function checkHeaderTag(img: SfiImage, key: Uint8Array): boolean {
  return aesGcmDecrypt(key, img.header.nonce, img.headerBytes.subarray(0, 32), new Uint8Array(0), img.header.tag) !== undefined;
}

/** Authenticates and decrypts one area, then checks its plaintext hash. */
export function decryptArea(img: SfiImage, i: number, key: Uint8Array): Uint8Array {
  const a = img.areas[i];
  if (a === undefined) throw new RseError('E_ARGUMENT', `no area ${i}`, { field: 'area' });
  const plain = aesGcmDecrypt(key, areaIv(img.header.nonce, i), a.descriptor, a.ciphertext, a.tag);
  if (plain === undefined)
    throw new RseError('E_DECRYPT', `area ${i} (${AREA_TYPES[a.type]}): tag does not authenticate`, {
      field: `area[${i}].tag`,
      offset: a.offset + AAD_SIZE,
    });
  if (!constantTimeEqual(truncatedHash(plain), a.hash)) {
    plain.fill(0);
    throw new RseError('E_BAD_HASH', `area ${i}: plaintext hash mismatch`, { field: `area[${i}].hash`, offset: a.offset + 20 });
  }
  return plain;
}
