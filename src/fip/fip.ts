/**
 * The Firmware Image Package (FIP): a 16-byte ToC header, 40-byte ToC entries ended by a
 * null-UUID terminator, then the images. Parsing follows fiptool's acceptance rules (and its
 * messages) exactly, except that a UUID listed twice is a clean error instead of an abort;
 * {@link checkFipForFirmware} applies the stricter rules of TF-A's `io_fip` driver.
 * @module
 */
import { formatUuid } from '../crypto/uuid.ts';
import { RseError } from '../lib/errors.ts';

/** `TOC_HEADER_NAME`. */
export const FIP_TOC_NAME = 0xaa640001;
/** `TOC_HEADER_SERIAL_NUMBER`, written by fiptool on every pack. */
export const FIP_SERIAL_NUMBER = 0x12345678;
export const FIP_HEADER_SIZE = 16;
export const FIP_ENTRY_SIZE = 40;
/** Largest FIP we build in memory (fiptool has no limit; a 2^40 alignment would fill a disk). */
export const FIP_MAX_SIZE = 0x7fff_ffff;

/** One ToC entry: UUID, offset, size and flags. */
export interface FipEntry {
  /** Position in the ToC (0 = first entry). */
  readonly index: number;
  readonly uuid: Uint8Array;
  readonly offset: number;
  readonly size: number;
  /** The entry's 64-bit flags word. */
  readonly flags: bigint;
  /** The image bytes (a view into the parsed buffer). */
  readonly data: Uint8Array;
}

/** A parsed FIP: its ToC header and entries. */
export interface Fip {
  readonly name: number;
  readonly serialNumber: number;
  /** The header's 64-bit flags word; bits 32..47 are the platform ToC flags. */
  readonly flags: bigint;
  readonly entries: readonly FipEntry[];
  /** Offset of the terminator entry and the offset it records. */
  readonly terminator: { readonly at: number; readonly offset: bigint };
}

/** fiptool's text form: the 16 bytes in storage order, uppercase, grouped 8-4-4-4-12. */
export const fipUuidToString = (u: Uint8Array): string => formatUuid(u);

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Parses fiptool's UUID text (exactly 36 characters, any hex case); undefined if malformed. */
export function fipUuidFromString(s: string): Uint8Array | undefined {
  if (!UUID_TEXT.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s.replaceAll('-', ''), 'hex'));
}

const isNullUuid = (b: Uint8Array, at: number): boolean => {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
};

/**
 * Parses a FIP the way fiptool does (`bytes` may be just the start of a `fileLength`-byte file
 * when only the ToC is needed: entry data views then stop at the bytes given): header name checked (serial and flags are not), entries
 * walked while a whole entry fits, each entry must lie inside the file, a null UUID must end
 * the ToC. Overlapping entries, size-0 entries and any terminator offset are accepted, as in
 * fiptool. `source` names the input in messages (fiptool prints the path).
 */
export function parseFip(bytes: Uint8Array, source = 'input', fileLength = bytes.length): Fip {
  if (fileLength < FIP_HEADER_SIZE) {
    throw new RseError('E_TRUNCATED', `FIP ${source} is truncated`, { field: 'toc_header', offset: 0 });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const name = dv.getUint32(0, true);
  if (name !== FIP_TOC_NAME) {
    throw new RseError('E_BAD_MAGIC', `${source} is not a FIP file`, { field: 'toc_header.name', offset: 0 });
  }
  const serialNumber = dv.getUint32(4, true);
  const flags = dv.getBigUint64(8, true);
  const entries: FipEntry[] = [];
  const seen = new Map<string, number>();
  const fileSize = BigInt(fileLength);
  let at = FIP_HEADER_SIZE;
  let index = 0;
  while (at + FIP_ENTRY_SIZE <= fileLength) {
    if (at + FIP_ENTRY_SIZE > bytes.length) {
      throw new RseError('E_TRUNCATED', `FIP ${source}: the ToC runs past the ${bytes.length} bytes read`, {
        field: 'head',
        offset: bytes.length,
      });
    }
    if (isNullUuid(bytes, at)) {
      return { name, serialNumber, flags, entries, terminator: { at, offset: dv.getBigUint64(at + 16, true) } };
    }
    const uuid = bytes.slice(at, at + 16);
    const offset = dv.getBigUint64(at + 16, true);
    const size = dv.getBigUint64(at + 24, true);
    if (size > 0xffff_ffff_ffff_ffffn - offset) {
      throw new RseError('E_BOUNDS', `FIP ${source} is corrupted: entry size exceeds 64 bit address space`, {
        field: `toc_entry[${index}].size`,
        offset: at + 24,
      });
    }
    if (offset + size > fileSize) {
      throw new RseError('E_BOUNDS', `FIP ${source} is corrupted: entry size exceeds FIP file size`, {
        field: `toc_entry[${index}].${offset > fileSize ? 'offset_address' : 'size'}`,
        offset: at + (offset > fileSize ? 16 : 24),
      });
    }
    const key = fipUuidToString(uuid);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new RseError('E_DUPLICATE', `FIP ${source} is corrupted: UUID ${key} appears in ToC entries ${first} and ${index}`, {
        field: `toc_entry[${index}].uuid`,
        offset: at,
      });
    }
    seen.set(key, index);
    const o = Number(offset);
    const n = Number(size);
    entries.push({ index, uuid, offset: o, size: n, flags: dv.getBigUint64(at + 32, true), data: bytes.subarray(o, o + n) });
    at += FIP_ENTRY_SIZE;
    index++;
  }
  throw new RseError('E_NO_TERMINATOR', `FIP ${source} does not have a ToC terminator entry`, { field: 'toc_terminator', offset: at });
}

/** An image to pack: its bytes, or anything with a length that stands for them (a file slice). */
export interface FipImage<D extends { readonly length: number } = Uint8Array> {
  readonly uuid: Uint8Array;
  readonly data: D;
  /** The entry flags word (0 for an image read from a file). */
  readonly flags?: bigint;
}

/** How {@link packFip} lays out a FIP: alignment and the ToC flags. */
export interface PackOptions {
  /** Each image starts at a multiple of this power of two (default 1). */
  readonly align?: number;
  /** The header's 64-bit flags word. */
  readonly flags?: bigint;
}

/** A FIP laid out: the ToC bytes and the entries, ready for {@link fipBytes} or streaming. */
export interface PackedFip<D extends { readonly length: number } = Uint8Array> {
  /** The FIP as consecutive pieces (ToC area, zero gaps, the images themselves, uncopied). */
  readonly parts: readonly (Uint8Array | D)[];
  /** Total length (= the terminator's offset). */
  readonly size: number;
  /** Bytes of header + ToC area (fiptool's "Metadata size"). */
  readonly metadataSize: number;
  /** Sum of the image sizes (fiptool's "Payload size"). */
  readonly payloadSize: number;
  readonly entries: readonly { readonly uuid: Uint8Array; readonly offset: number; readonly size: number }[];
}

/** The packed FIP as one buffer. */
export function fipBytes(p: PackedFip): Uint8Array {
  const out = new Uint8Array(p.size);
  let at = 0;
  for (const part of p.parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Packs images in the order given, exactly as fiptool's `pack_images`: the ToC area has a slot
 * for every image (a zero-length one gets no entry, but its slot stays reserved), each image
 * starts at the next multiple of `align`, and the file is padded with zeros to the aligned end,
 * which the terminator records. The result references the image bytes rather than copying them.
 */
export function packFip<D extends { readonly length: number } = Uint8Array>(
  images: readonly FipImage<D>[],
  options: PackOptions = {},
): PackedFip<D> {
  const align = options.align ?? 1;
  if (!Number.isSafeInteger(align) || align < 1 || (align & (align - 1)) !== 0 || align > 0x4000_0000) {
    throw new RseError('E_ARGUMENT', `invalid alignment ${align}: a power of two up to 2^30 is required`, { field: 'align' });
  }
  const up = (n: number): number => Math.ceil(n / align) * align;
  const metadataSize = FIP_HEADER_SIZE + FIP_ENTRY_SIZE * (images.length + 1);
  let cursor = metadataSize;
  let payloadSize = 0;
  const placed: { uuid: Uint8Array; offset: number; size: number; flags: bigint; data: D }[] = [];
  for (const img of images) {
    payloadSize += img.data.length;
    if (img.data.length === 0) continue;
    cursor = up(cursor);
    placed.push({ uuid: img.uuid, offset: cursor, size: img.data.length, flags: img.flags ?? 0n, data: img.data });
    cursor += img.data.length;
  }
  const total = up(cursor);
  if (total > FIP_MAX_SIZE) {
    throw new RseError('E_SIZE', `the FIP would be ${total} bytes, more than the ${FIP_MAX_SIZE} this tool builds`, { field: 'size' });
  }
  const toc = new Uint8Array(metadataSize);
  const dv = new DataView(toc.buffer);
  dv.setUint32(0, FIP_TOC_NAME, true);
  dv.setUint32(4, FIP_SERIAL_NUMBER, true);
  dv.setBigUint64(8, BigInt.asUintN(64, options.flags ?? 0n), true);
  let at = FIP_HEADER_SIZE;
  for (const p of placed) {
    toc.set(p.uuid.subarray(0, 16), at);
    dv.setBigUint64(at + 16, BigInt(p.offset), true);
    dv.setBigUint64(at + 24, BigInt(p.size), true);
    dv.setBigUint64(at + 32, BigInt.asUintN(64, p.flags), true);
    at += FIP_ENTRY_SIZE;
  }
  dv.setBigUint64(at + 16, BigInt(total), true);
  const zeros = new Uint8Array(Math.min(align, total));
  const parts: (Uint8Array | D)[] = [toc];
  let end = metadataSize;
  for (const p of placed) {
    if (p.offset > end) parts.push(zeros.subarray(0, p.offset - end));
    parts.push(p.data);
    end = p.offset + p.size;
  }
  if (total > end) parts.push(zeros.subarray(0, total - end));
  return { parts, size: total, metadataSize, payloadSize, entries: placed.map(({ uuid, offset, size }) => ({ uuid, offset, size })) };
}

/** Platform ToC flags: bits 32..47 of the header flags. */
export const platTocFlags = (headerFlags: bigint): number => Number((headerFlags >> 32n) & 0xffffn);

/**
 * What TF-A's firmware FIP driver (`io_fip.c`) requires of the FIP it loads `uuid` from: a
 * header with the FIP name and a non-zero serial number, a ToC inside `regionLength`, and the
 * first entry with that UUID of non-zero size inside the region. Returns the entry.
 */
export function checkFipForFirmware(bytes: Uint8Array, uuid: Uint8Array, regionLength = bytes.length): { offset: number; size: number } {
  const len = Math.min(regionLength, bytes.length);
  if (len < FIP_HEADER_SIZE + FIP_ENTRY_SIZE) {
    throw new RseError('E_TRUNCATED', 'the FIP region is smaller than a header and one ToC entry', { field: 'toc_header', offset: 0 });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== FIP_TOC_NAME)
    throw new RseError('E_BAD_MAGIC', 'not a FIP: bad ToC header name', { field: 'toc_header.name', offset: 0 });
  if (dv.getUint32(4, true) === 0)
    throw new RseError('E_BAD_FIELD', 'FIP ToC header serial number is 0', { field: 'toc_header.serial_number', offset: 4 });
  const want = fipUuidToString(uuid);
  for (let at = FIP_HEADER_SIZE; ; at += FIP_ENTRY_SIZE) {
    if (at + FIP_ENTRY_SIZE > len) throw new RseError('E_BOUNDS', 'FIP ToC runs out of the region', { field: 'toc_entry', offset: at });
    if (isNullUuid(bytes, at)) break;
    if (fipUuidToString(bytes.subarray(at, at + 16)) !== want) continue;
    const offset = dv.getBigUint64(at + 16, true);
    const size = dv.getBigUint64(at + 24, true);
    const field = `toc_entry[${(at - FIP_HEADER_SIZE) / FIP_ENTRY_SIZE}]`;
    if (size === 0n) throw new RseError('E_BAD_FIELD', `FIP entry ${want} has size 0`, { field: `${field}.size`, offset: at + 24 });
    if (offset >= BigInt(len) || offset + size > BigInt(len)) {
      throw new RseError('E_BOUNDS', `FIP entry ${want} lies outside the ${len}-byte region`, {
        field: `${field}.offset_address`,
        offset: at + 16,
      });
    }
    return { offset: Number(offset), size: Number(size) };
  }
  throw new RseError('E_NOT_FOUND', `FIP has no entry ${want}`, { field: 'uuid' });
}
