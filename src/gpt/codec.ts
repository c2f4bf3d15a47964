/**
 * GPT disks in bytes: writing the protective MBR, both headers and entry arrays with their CRCs;
 * reading them back checking every CRC and bound, falling back to the backup header and naming the
 * corrupt field and offset; finding a partition by name, number or GUID.
 * @module
 */

import { crc32 } from 'node:zlib';
import { RseError } from '../lib/errors.ts';
import {
  entriesSectors,
  GPT_HEADER_SIZE,
  GPT_REVISION,
  GPT_SIGNATURE,
  type GptDisk,
  type GptLayout,
  type GptPartition,
  type GptProblem,
  type SectorSize,
} from './gpt.ts';
import { guidFromBytes, guidToBytes } from './guid.ts';

// --- writing ------------------------------------------------------------------------------

/** sgdisk's CHS for the protective MBR: 255 heads x 63 sectors, FF FF FF past cylinder 1023. */
export function chs(lba: number): [number, number, number] {
  const c = Math.floor(lba / (255 * 63));
  if (c > 1023) return [0xff, 0xff, 0xff];
  const h = Math.floor(lba / 63) % 255;
  const s = (lba % 63) + 1;
  return [h, s | ((c >> 2) & 0xc0), c & 0xff];
}

export function encodeEntries(layout: GptLayout): Uint8Array {
  const out = new Uint8Array(layout.entryCount * layout.entrySize);
  const dv = new DataView(out.buffer);
  for (const p of layout.partitions) {
    const at = (p.number - 1) * layout.entrySize;
    out.set(guidToBytes(p.type), at);
    out.set(guidToBytes(p.guid), at + 16);
    dv.setBigUint64(at + 32, BigInt(p.firstLba), true);
    dv.setBigUint64(at + 40, BigInt(p.lastLba), true);
    dv.setBigUint64(at + 48, p.attributes, true);
    const units = [...p.name].flatMap((ch) => {
      const cp = ch.codePointAt(0) as number;
      return cp > 0xffff ? [0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)] : [cp];
    });
    units.slice(0, 36).forEach((u, k) => {
      dv.setUint16(at + 56 + 2 * k, u, true);
    });
  }
  return out;
}

export function encodeHeader(layout: GptLayout, myLba: number, altLba: number, entriesLba: number, entriesCrc: number): Uint8Array {
  const h = new Uint8Array(layout.sectorSize);
  const dv = new DataView(h.buffer);
  h.set(new TextEncoder().encode(GPT_SIGNATURE), 0);
  dv.setUint32(8, GPT_REVISION, true);
  dv.setUint32(12, GPT_HEADER_SIZE, true);
  dv.setBigUint64(24, BigInt(myLba), true);
  dv.setBigUint64(32, BigInt(altLba), true);
  dv.setBigUint64(40, BigInt(layout.firstUsable), true);
  dv.setBigUint64(48, BigInt(layout.lastUsable), true);
  h.set(guidToBytes(layout.diskGuid), 56);
  dv.setBigUint64(72, BigInt(entriesLba), true);
  dv.setUint32(80, layout.entryCount, true);
  dv.setUint32(84, layout.entrySize, true);
  dv.setUint32(88, entriesCrc, true);
  dv.setUint32(16, crc32(h.subarray(0, GPT_HEADER_SIZE)), true);
  return h;
}

/**
 * Writes the protective MBR, both headers and both entry arrays into `image` (a new zeroed
 * image of the disk's size when omitted); partition contents are left as they are.
 */
export function writeGpt(layout: GptLayout, image?: Uint8Array): Uint8Array {
  const ss = layout.sectorSize;
  const size = layout.totalSectors * ss;
  const out = image ?? new Uint8Array(size);
  if (out.length !== size) throw new RseError('E_SIZE', `the image is ${out.length} bytes, the disk ${size}`, { field: 'image' });
  const last = layout.totalSectors - 1;
  const entries = encodeEntries(layout);
  const ecrc = crc32(entries);
  const n = entriesSectors(ss, layout.entryCount, layout.entrySize);
  // Protective MBR (sgdisk: no boot code, disk signature 0, one 0xEE record).
  out.fill(0, 0, ss);
  const mbr = new DataView(out.buffer, out.byteOffset, ss);
  out.set([0x00, 0x00, 0x02, 0x00, 0xee, ...chs(Math.min(last, 0xffff_ffff))], 0x1be);
  mbr.setUint32(0x1be + 8, 1, true);
  mbr.setUint32(0x1be + 12, Math.min(last, 0xffff_ffff), true);
  out[510] = 0x55;
  out[511] = 0xaa;
  out.set(encodeHeader(layout, 1, last, 2, ecrc), ss);
  out.set(entries, 2 * ss);
  out.fill(0, 2 * ss + entries.length, (2 + n) * ss);
  out.set(entries, (last - n) * ss);
  out.fill(0, (last - n) * ss + entries.length, last * ss);
  out.set(encodeHeader(layout, last, 1, last - n, ecrc), last * ss);
  return out;
}

// --- reading ------------------------------------------------------------------------------

export interface HeaderRead {
  readonly ok: boolean;
  readonly problems: GptProblem[];
  readonly layout?: GptLayout;
  readonly entriesLba?: number;
  readonly altLba?: number;
}

export function readHeader(bytes: Uint8Array, ss: SectorSize, lba: number, where: 'primary' | 'backup'): HeaderRead {
  const problems: GptProblem[] = [];
  const at = lba * ss;
  const bad = (code: GptProblem['code'], message: string, offset: number): HeaderRead => {
    problems.push({ code, where, message: `${where} header: ${message}`, offset });
    return { ok: false, problems };
  };
  if (lba < 1 || at + ss > bytes.length) return bad('E_TRUNCATED', `LBA ${lba} lies outside the ${bytes.length}-byte image`, at);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, ss);
  if (Buffer.from(bytes.subarray(at, at + 8)).toString('latin1') !== GPT_SIGNATURE)
    return bad('E_BAD_MAGIC', `no "EFI PART" signature at LBA ${lba}`, at);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < GPT_HEADER_SIZE || headerSize > ss) return bad('E_BAD_FIELD', `header size ${headerSize} is outside 92..${ss}`, at + 12);
  const stored = dv.getUint32(16, true);
  const copy = bytes.slice(at, at + headerSize);
  new DataView(copy.buffer).setUint32(16, 0, true);
  const computed = crc32(copy);
  if (computed !== stored) {
    return bad(
      'E_CRC',
      `header CRC32 is 0x${stored.toString(16).padStart(8, '0')}, the header's bytes give 0x${computed.toString(16).padStart(8, '0')}`,
      at + 16,
    );
  }
  const myLba = Number(dv.getBigUint64(24, true));
  if (myLba !== lba)
    problems.push({ code: 'E_BAD_FIELD', where, message: `${where} header: my_lba is ${myLba}, but it is at LBA ${lba}`, offset: at + 24 });
  const altLba = Number(dv.getBigUint64(32, true));
  const firstUsable = Number(dv.getBigUint64(40, true));
  const lastUsable = Number(dv.getBigUint64(48, true));
  const entriesLba = Number(dv.getBigUint64(72, true));
  const entryCount = dv.getUint32(80, true);
  const entrySize = dv.getUint32(84, true);
  if (entrySize < 128 || entrySize % 8 !== 0 || entrySize > 4096)
    return bad('E_BAD_FIELD', `entry size ${entrySize} is not a multiple of 8 in 128..4096`, at + 84);
  if (entryCount === 0 || entryCount > 4096) return bad('E_BAD_FIELD', `entry count ${entryCount} is outside 1..4096`, at + 80);
  const arrayBytes = entryCount * entrySize;
  const total = Math.floor(bytes.length / ss);
  if (entriesLba < 1 || entriesLba * ss + arrayBytes > bytes.length) {
    return bad('E_BOUNDS', `entry array at LBA ${entriesLba} (${arrayBytes} bytes) runs past the end of the image`, at + 72);
  }
  if (firstUsable > lastUsable || lastUsable >= total) {
    return bad('E_BOUNDS', `usable range ${firstUsable}..${lastUsable} does not fit a ${total}-sector disk`, at + 40);
  }
  const entries = bytes.subarray(entriesLba * ss, entriesLba * ss + arrayBytes);
  const ecrc = crc32(entries);
  const storedE = dv.getUint32(88, true);
  if (ecrc !== storedE) {
    problems.push({
      code: 'E_CRC',
      where: 'entries',
      message: `${where} partition entries CRC32 is 0x${storedE.toString(16).padStart(8, '0')}, the entries give 0x${ecrc.toString(16).padStart(8, '0')}`,
      offset: at + 88,
    });
    return { ok: false, problems };
  }
  const edv = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  const parts: GptPartition[] = [];
  for (let k = 0; k < entryCount; k++) {
    const e = k * entrySize;
    const type = entries.subarray(e, e + 16);
    if (type.every((b) => b === 0)) continue;
    const firstLba = Number(edv.getBigUint64(e + 32, true));
    const lastLba = Number(edv.getBigUint64(e + 40, true));
    const units: number[] = [];
    for (let c = 0; c < 36; c++) {
      const u = edv.getUint16(e + 56 + 2 * c, true);
      if (u === 0) break;
      units.push(u);
    }
    const p: GptPartition = {
      number: k + 1,
      type: guidFromBytes(type),
      guid: guidFromBytes(entries.subarray(e + 16, e + 32)),
      firstLba,
      lastLba,
      attributes: edv.getBigUint64(e + 48, true),
      name: String.fromCharCode(...units),
    };
    const off = entriesLba * ss + e;
    if (lastLba < firstLba)
      problems.push({
        code: 'E_BAD_FIELD',
        where: 'entries',
        message: `partition ${k + 1} ends (${lastLba}) before it starts (${firstLba})`,
        offset: off + 32,
      });
    else if (firstLba < firstUsable || lastLba > lastUsable) {
      problems.push({
        code: 'E_BOUNDS',
        where: 'entries',
        message: `partition ${k + 1} (${firstLba}-${lastLba}) lies outside the usable sectors ${firstUsable}-${lastUsable}`,
        offset: off + 32,
      });
    }
    for (const q of parts) {
      if (p.firstLba <= q.lastLba && q.firstLba <= p.lastLba) {
        problems.push({ code: 'E_OVERLAP', where: 'entries', message: `partitions ${q.number} and ${p.number} overlap`, offset: off + 32 });
      }
    }
    parts.push(p);
  }
  return {
    ok: true,
    problems,
    entriesLba,
    altLba,
    layout: {
      sectorSize: ss,
      totalSectors: total,
      diskGuid: guidFromBytes(bytes.subarray(at + 56, at + 72)),
      firstUsable,
      lastUsable,
      entryCount,
      entrySize,
      partitions: parts,
    },
  };
}

/** Finds the sector size: the one whose LBA 1 (or last LBA) holds a GPT header. */
export function detectSectorSize(bytes: Uint8Array): SectorSize {
  for (const ss of [512, 4096] as const) {
    if (bytes.length >= 2 * ss && Buffer.from(bytes.subarray(ss, ss + 8)).toString('latin1') === GPT_SIGNATURE) return ss;
  }
  for (const ss of [512, 4096] as const) {
    const last = Math.floor(bytes.length / ss) - 1;
    if (last > 1 && Buffer.from(bytes.subarray(last * ss, last * ss + 8)).toString('latin1') === GPT_SIGNATURE) return ss;
  }
  return 512;
}

/**
 * Reads a GPT disk image: checks the protective MBR, the primary header and entries (CRCs,
 * bounds, overlaps) and the backup; uses the backup when the primary is unusable. Throws a
 * typed error naming the first problem when neither header is usable.
 */
export function readGpt(bytes: Uint8Array, sectorSize?: SectorSize): GptDisk {
  const ss = sectorSize ?? detectSectorSize(bytes);
  const problems: GptProblem[] = [];
  if (bytes.length < 512) throw new RseError('E_TRUNCATED', `a ${bytes.length}-byte image is too small for a GPT disk`, { offset: 0 });
  if (bytes[510] !== 0x55 || bytes[511] !== 0xaa)
    problems.push({ code: 'E_BAD_MAGIC', where: 'mbr', message: 'MBR: no 55 AA signature at byte 510', offset: 510 });
  else if (bytes[0x1be + 4] !== 0xee)
    problems.push({
      code: 'E_BAD_FIELD',
      where: 'mbr',
      message: `MBR: first record has type 0x${(bytes[0x1be + 4] as number).toString(16)}, not 0xEE (protective)`,
      offset: 0x1be + 4,
    });
  else {
    const firstLba = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0x1be + 8, true);
    if (firstLba !== 1)
      problems.push({
        code: 'E_BAD_FIELD',
        where: 'mbr',
        message: `MBR: protective record starts at LBA ${firstLba}, not 1`,
        offset: 0x1be + 8,
      });
  }
  const total = Math.floor(bytes.length / ss);
  const primary = readHeader(bytes, ss, 1, 'primary');
  problems.push(...primary.problems);
  const backupLba = primary.ok && primary.altLba !== undefined && primary.altLba > 1 && primary.altLba < total ? primary.altLba : total - 1;
  const backup = readHeader(bytes, ss, backupLba, 'backup');
  problems.push(...backup.problems);
  if (primary.ok && backup.ok && primary.layout && backup.layout) {
    const a = primary.layout;
    const b = backup.layout;
    if (
      a.diskGuid !== b.diskGuid ||
      a.firstUsable !== b.firstUsable ||
      a.lastUsable !== b.lastUsable ||
      JSON.stringify(a.partitions, big) !== JSON.stringify(b.partitions, big)
    ) {
      problems.push({ code: 'E_BAD_FIELD', where: 'backup', message: 'backup header or entries differ from the primary' });
    }
    if (backupLba !== total - 1)
      problems.push({
        code: 'E_BAD_FIELD',
        where: 'backup',
        message: `backup header is at LBA ${backupLba}, not at the last LBA ${total - 1}`,
      });
  }
  const use = primary.ok ? primary : backup.ok ? backup : undefined;
  if (use?.layout === undefined) {
    const first = problems.find((p) => p.where !== 'mbr') ?? problems[0];
    throw new RseError(first?.code ?? 'E_BAD_MAGIC', `no valid GPT: ${problems.map((p) => p.message).join('; ')}`, {
      field: first?.where ?? 'gpt',
      ...(first?.offset === undefined ? {} : { offset: first.offset }),
    });
  }
  return { ...use.layout, source: primary.ok ? 'primary' : 'backup', problems };
}

export const big = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** A partition by name (first match), type GUID or unique GUID. */
export function findPartition(disk: GptLayout, key: string): GptPartition {
  const k = key.toUpperCase();
  const p =
    disk.partitions.find((x) => x.name === key) ?? disk.partitions.find((x) => x.guid === k) ?? disk.partitions.find((x) => x.type === k);
  if (p === undefined)
    throw new RseError(
      'E_NOT_FOUND',
      `no partition named '${key}' (partitions: ${disk.partitions.map((x) => x.name || `#${x.number}`).join(', ') || 'none'})`,
      { field: key },
    );
  return p;
}

/** Byte range of a partition. */
export const partitionBytes = (disk: GptLayout, p: GptPartition): { offset: number; size: number } => ({
  offset: p.firstLba * disk.sectorSize,
  size: (p.lastLba - p.firstLba + 1) * disk.sectorSize,
});
