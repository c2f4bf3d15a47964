/**
 * Intel HEX (I8HEX/I32HEX) reading and writing. The writer produces the same records as the
 * Python `intelhex` package that imgtool uses: data records of up to 16 bytes that start at the
 * first byte of each contiguous run (not at 16-byte boundaries) and never cross a 64 KiB page,
 * a type-04 record whenever the upper 16 address bits grow (only if some address is above
 * 0xffff), `\n` line ends and a final `:00000001FF`.
 * @module
 */
import { RseError } from './errors.ts';

/** A contiguous run of bytes at an absolute address. */
export interface HexSegment {
  readonly address: number;
  readonly data: Uint8Array;
}

/** What a HEX file holds: its segments in address order, and a start address if it has one. */
export interface HexImage {
  readonly segments: readonly HexSegment[];
  readonly startAddress?: number;
}

function hexError(line: number, msg: string): RseError {
  return new RseError('E_HEX', `Intel HEX line ${line}: ${msg}`, { field: `line ${line}` });
}

/** Parses Intel HEX text; overlapping data is an error. */
export function parseIntelHex(text: string): HexImage {
  const bytes = new Map<number, number>();
  let upper = 0;
  let startAddress: number | undefined;
  let sawEof = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    const no = i + 1;
    if (sawEof) throw hexError(no, 'data after end-of-file record');
    if (!line.startsWith(':') || line.length < 11 || line.length % 2 === 0 || !/^:[0-9a-fA-F]+$/.test(line)) {
      throw hexError(no, 'not a valid record');
    }
    const rec = Buffer.from(line.slice(1), 'hex');
    const len = rec[0] ?? 0;
    if (rec.length !== len + 5) throw hexError(no, `length byte says ${len}, record holds ${rec.length - 5}`);
    let sum = 0;
    for (const b of rec) sum = (sum + b) & 0xff;
    if (sum !== 0) throw hexError(no, 'checksum mismatch');
    const offset = ((rec[1] ?? 0) << 8) | (rec[2] ?? 0);
    const type = rec[3];
    const data = rec.subarray(4, 4 + len);
    switch (type) {
      case 0:
        for (let j = 0; j < len; j++) {
          const addr = upper + ((offset + j) & 0xffff);
          if (bytes.has(addr)) throw hexError(no, `address 0x${addr.toString(16)} written twice`);
          bytes.set(addr, data[j] ?? 0);
        }
        break;
      case 1:
        sawEof = true;
        break;
      case 2:
        if (len !== 2) throw hexError(no, 'extended segment address record must hold 2 bytes');
        upper = (((data[0] ?? 0) << 8) | (data[1] ?? 0)) * 16;
        break;
      case 4:
        if (len !== 2) throw hexError(no, 'extended linear address record must hold 2 bytes');
        upper = (((data[0] ?? 0) << 8) | (data[1] ?? 0)) * 0x10000;
        break;
      case 3:
      case 5:
        if (len !== 4) throw hexError(no, 'start address record must hold 4 bytes');
        startAddress = data.readUInt32BE(0);
        break;
      default:
        throw hexError(no, `unknown record type ${type}`);
    }
  }
  const addrs = [...bytes.keys()].sort((a, b) => a - b);
  const segments: HexSegment[] = [];
  let runStart = 0;
  for (let i = 1; i <= addrs.length; i++) {
    const a = addrs[i];
    const prev = addrs[i - 1] as number;
    if (a === undefined || a !== prev + 1) {
      const start = addrs[runStart] as number;
      const data = new Uint8Array(prev - start + 1);
      for (let j = 0; j < data.length; j++) data[j] = bytes.get(start + j) ?? 0;
      segments.push({ address: start, data });
      runStart = i;
    }
  }
  return startAddress === undefined ? { segments } : { segments, startAddress };
}

/** Largest span {@link hexToBinary} will flatten unless told otherwise: 256 MiB. */
export const MAX_FLAT_HEX_SIZE = 256 * 1024 * 1024;

/**
 * Flattens a HEX image from its lowest to its highest address, filling gaps with `fill`. Two
 * records far apart would ask for gigabytes: a span over `maxSize` is an `E_HEX` error.
 */
export function hexToBinary(img: HexImage, fill = 0xff, maxSize = MAX_FLAT_HEX_SIZE): { base: number; data: Uint8Array } {
  const first = img.segments[0];
  if (first === undefined) return { base: 0, data: new Uint8Array(0) };
  const last = img.segments[img.segments.length - 1] as HexSegment;
  const end = last.address + last.data.length;
  if (end - first.address > maxSize) {
    throw new RseError(
      'E_HEX',
      `Intel HEX data spans 0x${first.address.toString(16)}..0x${end.toString(16)} (${end - first.address} bytes), more than ${maxSize}`,
      { field: 'address range' },
    );
  }
  const data = new Uint8Array(end - first.address).fill(fill);
  for (const s of img.segments) data.set(s.data, s.address - first.address);
  return { base: first.address, data };
}

function record(type: number, offset: number, data: Uint8Array): string {
  const rec = new Uint8Array(data.length + 5);
  rec[0] = data.length;
  rec[1] = (offset >> 8) & 0xff;
  rec[2] = offset & 0xff;
  rec[3] = type;
  rec.set(data, 4);
  let sum = 0;
  for (let i = 0; i < rec.length - 1; i++) sum = (sum + (rec[i] as number)) & 0xff;
  rec[rec.length - 1] = (0x100 - sum) & 0xff;
  return `:${Buffer.from(rec).toString('hex').toUpperCase()}\n`;
}

/**
 * Serialises segments as Intel HEX. Later segments overwrite earlier ones where they overlap.
 */
export function writeIntelHex(segments: readonly HexSegment[]): string {
  const sorted = mergeSegments(segments);
  const out: string[] = [];
  const maxAddr = sorted.length === 0 ? 0 : (sorted.at(-1) as HexSegment).address + (sorted.at(-1) as HexSegment).data.length - 1;
  const needUpper = maxAddr > 0xffff;
  let upper = -1;
  for (const seg of sorted) {
    let addr = seg.address;
    let at = 0;
    while (at < seg.data.length) {
      const hi = Math.floor(addr / 0x10000);
      if (needUpper && hi !== upper) {
        out.push(record(4, 0, new Uint8Array([(hi >> 8) & 0xff, hi & 0xff])));
        upper = hi;
      }
      const low = addr & 0xffff;
      const n = Math.min(16, 0x10000 - low, seg.data.length - at);
      out.push(record(0, low, seg.data.subarray(at, at + n)));
      at += n;
      addr += n;
    }
  }
  out.push(':00000001FF\n');
  return out.join('');
}

/** Sorts segments and merges touching or overlapping ones (later data wins). */
export function mergeSegments(segments: readonly HexSegment[]): HexSegment[] {
  const order = [...segments].sort((a, b) => a.address - b.address);
  const merged: { address: number; parts: HexSegment[]; end: number }[] = [];
  for (const s of order) {
    if (s.data.length === 0) continue;
    const last = merged.at(-1);
    if (last !== undefined && s.address <= last.end) {
      last.parts.push(s);
      last.end = Math.max(last.end, s.address + s.data.length);
    } else {
      merged.push({ address: s.address, parts: [s], end: s.address + s.data.length });
    }
  }
  return merged.map((m) => {
    if (m.parts.length === 1) return m.parts[0] as HexSegment;
    const data = new Uint8Array(m.end - m.address);
    // Apply in the callers' original order so later segments win.
    for (const s of segments) {
      if (s.address >= m.address && s.address + s.data.length <= m.end && m.parts.includes(s)) {
        data.set(s.data, s.address - m.address);
      }
    }
    return { address: m.address, data };
  });
}
