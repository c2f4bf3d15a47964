/**
 * Parsing MCUboot images: the 32-byte header, the protected (0x6908) and unprotected (0x6907)
 * TLV areas with the bootloader's bound rules, and the trailer at the end of a padded slot.
 * Every length is checked before it is used; failures are `RseError`s with the offset.
 * @module
 */
import type { HashAlg } from '../crypto/index.ts';
import { ByteReader, type Endian } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import {
  BOOT_MAGIC,
  BOOT_MAGIC_SIZE,
  BOOT_MAGIC_TAIL,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  isTfm23KnownTlv,
  TLV,
  TLV_INFO_MAGIC,
  TLV_INFO_SIZE,
  TLV_PROT_INFO_MAGIC,
  TLV_SIZE,
} from './constants.ts';
import type { ImageVersion } from './version.ts';

/** The image hash TLVs and their hash algorithms. */
export const HASH_TLV_ALG: ReadonlyMap<number, HashAlg> = new Map<number, HashAlg>([
  [TLV.SHA256, 'sha256'],
  [TLV.SHA384, 'sha384'],
  [TLV.SHA512, 'sha512'],
]);

/** The 32-byte MCUboot image header. */
export interface ImageHeader {
  readonly magic: number;
  readonly loadAddr: number;
  readonly hdrSize: number;
  readonly protectTlvSize: number;
  readonly imgSize: number;
  readonly flags: number;
  readonly version: ImageVersion;
}

/** One TLV: type, offset and value. */
export interface TlvEntry {
  readonly type: number;
  /** Offset of the entry header in the image. */
  readonly offset: number;
  readonly value: Uint8Array;
}

/** A TLV area: its info header and entries. */
export interface TlvArea {
  readonly magic: number;
  /** `it_tlv_tot`: size of the area including its 4-byte info header. */
  readonly tot: number;
  readonly offset: number;
  readonly entries: readonly TlvEntry[];
}

/** An MCUboot image: header, protected and unprotected TLV areas, where the hashed part ends. */
export interface ParsedImage {
  readonly header: ImageHeader;
  readonly protectedArea: TlvArea | undefined;
  readonly unprotectedArea: TlvArea;
  /** End of the hashed region: header + payload + protected TLVs. */
  readonly hashedEnd: number;
  /** End of the unprotected TLV area. */
  readonly tlvEnd: number;
}

/**
 * The header fields as the bootloader reads them into `struct image_header`: little-endian,
 * nothing checked (MCUboot decides later what a bad magic or size means). `b` has 32 bytes.
 */
export function decodeHeaderFields(b: Uint8Array): ImageHeader {
  const dv = new DataView(b.buffer, b.byteOffset, IMAGE_HEADER_SIZE);
  return {
    magic: dv.getUint32(0, true),
    loadAddr: dv.getUint32(4, true),
    hdrSize: dv.getUint16(8, true),
    protectTlvSize: dv.getUint16(10, true),
    imgSize: dv.getUint32(12, true),
    flags: dv.getUint32(16, true),
    version: { major: dv.getUint8(20), minor: dv.getUint8(21), revision: dv.getUint16(22, true), build: dv.getUint32(24, true) },
  };
}

/** The image's byte order, from its header magic. */
export function imageEndian(bytes: Uint8Array): Endian {
  if (bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) === IMAGE_MAGIC) return 'big';
  return 'little';
}

/** Reads the 32-byte header; checks the magic. */
export function parseHeader(bytes: Uint8Array, endian: Endian = 'little'): ImageHeader {
  const r = new ByteReader(bytes, 0, bytes.length, endian);
  r.need(IMAGE_HEADER_SIZE, 'header');
  const magic = r.u32('header.ih_magic');
  if (magic !== IMAGE_MAGIC) {
    throw new RseError('E_BAD_MAGIC', `Invalid image magic ${hex0x(magic, 8)}; is this an MCUboot image?`, {
      field: 'header.ih_magic',
      offset: 0,
    });
  }
  const loadAddr = r.u32('header.ih_load_addr');
  const hdrSize = r.u16('header.ih_hdr_size');
  const protectTlvSize = r.u16('header.ih_protect_tlv_size');
  const imgSize = r.u32('header.ih_img_size');
  const flags = r.u32('header.ih_flags');
  const major = r.u8('header.iv_major');
  const minor = r.u8('header.iv_minor');
  const revision = r.u16('header.iv_revision');
  const build = r.u32('header.iv_build_num');
  if (hdrSize < IMAGE_HEADER_SIZE) {
    throw new RseError('E_BAD_FIELD', `header size ${hex0x(hdrSize)} is smaller than the 32-byte header`, {
      field: 'header.ih_hdr_size',
      offset: 8,
    });
  }
  return { magic, loadAddr, hdrSize, protectTlvSize, imgSize, flags, version: { major, minor, revision, build } };
}

function parseArea(bytes: Uint8Array, offset: number, expectMagic: number, name: string, endian: Endian): TlvArea {
  const r = new ByteReader(bytes, 0, bytes.length, endian);
  if (offset > bytes.length) {
    throw new RseError('E_TRUNCATED', `${name} TLV area at ${hex0x(offset)} starts past the end of the ${bytes.length}-byte file`, {
      field: `${name}.it_magic`,
      offset,
    });
  }
  r.skip(offset, 'image');
  const magic = r.u16(`${name}.it_magic`);
  const tot = r.u16(`${name}.it_tlv_tot`);
  if (magic !== expectMagic) {
    throw new RseError('E_BAD_MAGIC', `Invalid TLV info magic ${hex0x(magic, 4)} at ${hex0x(offset)}; is this an MCUboot image?`, {
      field: `${name}.it_magic`,
      offset,
    });
  }
  if (tot < TLV_INFO_SIZE) {
    throw new RseError('E_BAD_FIELD', `${name} TLV area size ${tot} is smaller than its own info header`, {
      field: `${name}.it_tlv_tot`,
      offset: offset + 2,
    });
  }
  const end = offset + tot;
  if (end > bytes.length) {
    throw new RseError('E_TRUNCATED', `${name} TLV area ends at ${hex0x(end)}, past the end of the ${bytes.length}-byte file`, {
      field: `${name}.it_tlv_tot`,
      offset: offset + 2,
    });
  }
  const entries: TlvEntry[] = [];
  const er = new ByteReader(bytes, offset + TLV_INFO_SIZE, end, endian);
  while (er.remaining > 0) {
    const at = er.pos;
    const field = `${name}[${entries.length}]`;
    if (er.remaining < TLV_SIZE) {
      throw new RseError('E_BOUNDS', `${field}: TLV header crosses the end of the ${name} area`, { field, offset: at });
    }
    const raw = er.u16(`${field}.it_type`);
    // imgtool writes the tags it knows as `u8 type, u8 0` in either byte order: big endian, that
    // reads as type << 8.
    const type = endian === 'big' && (raw & 0xff) === 0 && isTfm23KnownTlv(raw >> 8) ? raw >> 8 : raw;
    const len = er.u16(`${field}.it_len`);
    if (len > er.remaining) {
      throw new RseError('E_BOUNDS', `${field}: TLV ${hex0x(type, 2)} of ${len} byte(s) crosses the end of the ${name} area`, {
        field: `${field}.it_len`,
        offset: at + 2,
      });
    }
    entries.push({ type, offset: at, value: er.bytesView(len, `${field}.value`) });
  }
  return { magic, tot, offset, entries };
}

/**
 * Parses header and TLV areas the way MCUboot's TLV iterator does: a protected area must match
 * `ih_protect_tlv_size` exactly, the unprotected area must follow it, and every entry must lie
 * inside its area.
 */
export function parseImage(bytes: Uint8Array, endian: Endian = 'little'): ParsedImage {
  const header = parseHeader(bytes, endian);
  const tlvOff = header.hdrSize + header.imgSize;
  if (tlvOff > bytes.length) {
    throw new RseError(
      'E_TRUNCATED',
      `header declares ${hex0x(header.hdrSize)} + ${hex0x(header.imgSize)} bytes before the TLVs but the file has ${hex0x(bytes.length)}`,
      { field: 'header.ih_img_size', offset: 12 },
    );
  }
  let protectedArea: TlvArea | undefined;
  const r = new ByteReader(bytes, 0, bytes.length, endian);
  r.skip(tlvOff, 'image');
  r.need(TLV_INFO_SIZE, 'tlv_info.it_magic');
  const firstMagic = r.u16('tlv_info.it_magic');
  if (firstMagic === TLV_PROT_INFO_MAGIC) {
    protectedArea = parseArea(bytes, tlvOff, TLV_PROT_INFO_MAGIC, 'protected', endian);
    if (protectedArea.tot !== header.protectTlvSize) {
      throw new RseError('E_BAD_FIELD', `protected TLV area is ${protectedArea.tot} bytes but the header says ${header.protectTlvSize}`, {
        field: 'header.ih_protect_tlv_size',
        offset: 10,
      });
    }
  } else if (header.protectTlvSize !== 0) {
    throw new RseError(
      'E_BAD_MAGIC',
      `header declares ${header.protectTlvSize} bytes of protected TLVs but there is no protected TLV area at ${hex0x(tlvOff)}`,
      { field: 'protected.it_magic', offset: tlvOff },
    );
  }
  const hashedEnd = tlvOff + header.protectTlvSize;
  const unprotectedArea = parseArea(bytes, hashedEnd, TLV_INFO_MAGIC, 'unprotected', endian);
  return { header, protectedArea, unprotectedArea, hashedEnd, tlvEnd: hashedEnd + unprotectedArea.tot };
}

export type FlagState = 'SET' | 'UNSET' | 'BAD';

/** The image trailer of a padded slot: magic, flags and alignment. */
export interface TrailerInfo {
  readonly magic: Uint8Array;
  /** `good` (a valid magic), `unset` (all erased) or `bad`. */
  readonly magicState: 'good' | 'unset' | 'bad';
  /** max_align deduced from the magic; undefined when the magic is not valid. */
  readonly maxAlign: number | undefined;
  readonly imageOk?: number;
  readonly copyDone?: number;
  readonly swapInfo?: number;
  readonly swapSize?: number;
}

/** max_align encoded by a trailer magic, or undefined when it is not a valid magic. */
export function magicMaxAlign(magic: Uint8Array): number | undefined {
  if (magic.length !== BOOT_MAGIC_SIZE) return undefined;
  if (magic.every((b, i) => b === BOOT_MAGIC[i])) return 8;
  if (magic.subarray(2).every((b, i) => b === BOOT_MAGIC_TAIL[i])) {
    const a = (magic[0] as number) | ((magic[1] as number) << 8);
    if (a === 16 || a === 32 || a === 8) return a;
  }
  return undefined;
}

/**
 * Reads the trailer at the end of `bytes` (a whole slot). The field offsets follow from the
 * max_align that the magic encodes; an invalid magic leaves them undefined.
 */
export function readTrailer(bytes: Uint8Array, erasedVal = 0xff): TrailerInfo | undefined {
  if (bytes.length < BOOT_MAGIC_SIZE) return undefined;
  const magic = bytes.subarray(bytes.length - BOOT_MAGIC_SIZE);
  const maxAlign = magicMaxAlign(magic);
  const magicState = maxAlign !== undefined ? 'good' : magic.every((b) => b === erasedVal) ? 'unset' : 'bad';
  if (maxAlign === undefined) return { magic, magicState, maxAlign };
  let off = bytes.length - Math.max(maxAlign, BOOT_MAGIC_SIZE) - maxAlign;
  if (off - 3 * maxAlign < 0) return { magic, magicState, maxAlign };
  const imageOk = bytes[off] as number;
  off -= maxAlign;
  const copyDone = bytes[off] as number;
  off -= maxAlign;
  const swapInfo = bytes[off] as number;
  off -= maxAlign;
  const swapSize = new DataView(bytes.buffer, bytes.byteOffset + off, 4).getUint32(0, true);
  return { magic, magicState, maxAlign, imageOk, copyDone, swapInfo, swapSize };
}

/** MCUboot's decoding of a one-byte trailer flag. */
export function flagState(v: number, erasedVal = 0xff): FlagState {
  return v === erasedVal ? 'UNSET' : v === 1 ? 'SET' : 'BAD';
}
