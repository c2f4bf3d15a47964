/**
 * gdisk's text: sizes in IEEE-1541 units, the `sgdisk -p` listing, `sgdisk -i N` details and
 * the `sgdisk -v` summary, reproduced exactly so scripts that parse them keep working.
 * @module
 */
import { type GptLayout, type GptPartition, PARTITION_TYPES, type SectorSize } from './gpt.ts';

/** gdisk's BytesToIeee (its float arithmetic included). */
export function bytesToIeee(sectors: number, sectorSize: number): string {
  let size = sectors * sectorSize;
  let previous = size;
  let index = 0;
  const prefixes = ' KMGTPEZ';
  while (size > 1024 && index < prefixes.length - 1) {
    index++;
    previous = size;
    size = Math.floor(size / 1024);
  }
  if (index === 0) return `${size} bytes`;
  let decimal = Math.trunc(Math.fround((Math.fround(previous) - Math.fround(size) * 1024.0 + 51.2) / 102.4));
  if (decimal >= 10) {
    decimal = 0;
    size++;
  }
  return `${size}.${decimal} ${prefixes[index]}iB`;
}

/** The alignment gdisk infers from the partitions' start sectors. */
export function computeAlignment(disk: GptLayout): number {
  let exponent = Math.log2((2048 * 512) / disk.sectorSize);
  let align = 2 ** exponent;
  for (const p of disk.partitions) {
    for (;;) {
      align = 2 ** exponent;
      if (p.firstLba % align === 0) break;
      exponent--;
    }
  }
  if (align < 8 && disk.totalSectors >= 6442450944) align = 8;
  return align;
}

export interface FreeSpace {
  readonly total: number;
  readonly segments: number;
  readonly largest: number;
}

export function freeSpace(disk: GptLayout): FreeSpace {
  const sorted = [...disk.partitions].sort((a, b) => a.firstLba - b.firstLba);
  let total = 0;
  let segments = 0;
  let largest = 0;
  let cursor = disk.firstUsable;
  const gap = (from: number, to: number): void => {
    if (to < from) return;
    const n = to - from + 1;
    total += n;
    segments++;
    largest = Math.max(largest, n);
  };
  for (const p of sorted) {
    gap(cursor, Math.min(p.firstLba - 1, disk.lastUsable));
    cursor = Math.max(cursor, p.lastLba + 1);
  }
  gap(cursor, disk.lastUsable);
  return { total, segments, largest };
}

export const typeCode = (type: string): number => PARTITION_TYPES.find((t) => t.guid === type)?.code ?? 0xffff;
export const typeName = (type: string): string => PARTITION_TYPES.find((t) => t.guid === type)?.name ?? 'Unknown';

function displayName(name: string): string {
  return [...name].length > 22 ? `${[...name].slice(0, 19).join('')}...` : name;
}

/** One row of the partition table, as gdisk's ShowSummary prints it. */
export function summaryLine(p: GptPartition, ss: SectorSize): string {
  const size = bytesToIeee(p.lastLba - p.firstLba + 1, ss);
  const code = typeCode(p.type).toString(16).toUpperCase().padStart(4, '0');
  return `${String(p.number).padStart(4)}  ${String(p.firstLba).padStart(14)}  ${String(p.lastLba).padStart(14)}   ${size}  ${' '.repeat(Math.max(0, 10 - size.length))}${code}  ${displayName(p.name)}\n`;
}

/** `sgdisk -p FILE` (the device name is printed as given). */
export function listText(disk: GptLayout, device: string): string {
  const ss = disk.sectorSize;
  const free = freeSpace(disk);
  const entriesEnd = 2 + Math.ceil((disk.entryCount * disk.entrySize) / ss) - 1;
  return (
    `Disk ${device}: ${disk.totalSectors} sectors, ${bytesToIeee(disk.totalSectors, ss)}\n` +
    `Sector size (logical): ${ss} bytes\n` +
    `Disk identifier (GUID): ${disk.diskGuid}\n` +
    `Partition table holds up to ${disk.entryCount} entries\n` +
    `Main partition table begins at sector 2 and ends at sector ${entriesEnd}\n` +
    `First usable sector is ${disk.firstUsable}, last usable sector is ${disk.lastUsable}\n` +
    `Partitions will be aligned on ${computeAlignment(disk)}-sector boundaries\n` +
    `Total free space is ${free.total} sectors (${bytesToIeee(free.total, ss)})\n` +
    '\nNumber  Start (sector)    End (sector)  Size       Code  Name\n' +
    [...disk.partitions]
      .sort((a, b) => a.number - b.number)
      .map((p) => summaryLine(p, ss))
      .join('')
  );
}

/** `sgdisk -i N FILE`. */
export function infoText(disk: GptLayout, p: GptPartition): string {
  const ss = disk.sectorSize;
  const n = p.lastLba - p.firstLba + 1;
  return (
    `Partition GUID code: ${p.type} (${typeName(p.type)})\n` +
    `Partition unique GUID: ${p.guid}\n` +
    `First sector: ${p.firstLba} (at ${bytesToIeee(p.firstLba, ss)})\n` +
    `Last sector: ${p.lastLba} (at ${bytesToIeee(p.lastLba, ss)})\n` +
    `Partition size: ${n} sectors (${bytesToIeee(n, ss)})\n` +
    `Attribute flags: ${p.attributes.toString(16).toUpperCase().padStart(16, '0')}\n` +
    `Partition name: '${p.name}'\n`
  );
}

/** The alignment cautions and the free-space summary of `sgdisk -v` for a disk without problems. */
export function verifyText(disk: GptLayout): string {
  const align = computeAlignment(disk);
  let text = '';
  for (const p of [...disk.partitions].sort((a, b) => a.number - b.number)) {
    if ((p.lastLba + 1) % align !== 0) {
      text += `\nCaution: Partition ${p.number} doesn't end on a ${align}-sector boundary. This may\nresult in problems with some disk encryption tools.\n`;
    }
  }
  const free = freeSpace(disk);
  const ss = disk.sectorSize;
  return `${text}\nNo problems found. ${free.total} free sectors (${bytesToIeee(free.total, ss)}) available in ${free.segments}\nsegments, the largest of which is ${free.largest} (${bytesToIeee(free.largest, ss)}) in size.\n`;
}
