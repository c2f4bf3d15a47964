/**
 * GUID Partition Table disks: the protective MBR, primary and backup headers and entry arrays
 * with their CRC32s, for 512- and 4096-byte sectors. The writer places partitions with sgdisk's
 * rules (`--new N:start:end`, alignment), so a disk described with sgdisk's arguments comes out
 * byte-identical; the reader validates every field, falls back to the backup header and says
 * exactly what was wrong.
 * @module
 */

import { formatUuid, uuid5 } from '../crypto/uuid.ts';
import { RseError } from '../lib/errors.ts';
import { guidFromBytes, guidToBytes } from './guid.ts';

export type SectorSize = 512 | 4096;

export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION = 0x0001_0000;
export const GPT_HEADER_SIZE = 92;
export const GPT_ENTRY_COUNT = 128;
export const GPT_ENTRY_SIZE = 128;
/** gdisk's default alignment: 1 MiB worth of sectors. */
export const defaultAlignment = (sectorSize: SectorSize): number => (2048 * 512) / sectorSize;
/** The largest disk image we build in memory. */
export const GPT_MAX_IMAGE = 0x7fff_ffff;

/** Known partition types: sgdisk's hex code, its name, and our short alias. */
export const PARTITION_TYPES: readonly { code: number; guid: string; name: string; alias?: string }[] = [
  { code: 0x8300, guid: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'Linux filesystem', alias: 'linux' },
  { code: 0xef00, guid: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'EFI system partition', alias: 'esp' },
  { code: 0x0700, guid: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', name: 'Microsoft basic data', alias: 'basic' },
  { code: 0xef02, guid: '21686148-6449-6E6F-744E-656564454649', name: 'BIOS boot partition' },
  { code: 0x8200, guid: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', name: 'Linux swap' },
  { code: 0x8e00, guid: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', name: 'Linux LVM' },
];
/** TF-A's FIP partition type (CI / TC scripts: `uuidgen --sha1 --namespace @dns --name fip_type_uuid`). */
export const FIP_TYPE_GUID = '0D5C011F-0776-5B38-8E81-36FBDF6743E2';
/** PSA FWU metadata partition type. */
export const FWU_METADATA_TYPE_GUID = '8A7A84A0-8387-40F6-AB41-A8B9A5A60D23';

/** Resolves a type given as a GUID, an sgdisk hex code (`8300`) or an alias (`fip`, `fwu-metadata`, `linux`). */
export function resolveType(t: string): string {
  const s = t.trim();
  if (/^fip$/i.test(s)) return FIP_TYPE_GUID;
  if (/^fwu(-metadata)?$/i.test(s)) return FWU_METADATA_TYPE_GUID;
  const byAlias = PARTITION_TYPES.find((p) => p.alias === s.toLowerCase());
  if (byAlias) return byAlias.guid;
  if (/^(0x)?[0-9a-f]{1,4}$/i.test(s)) {
    const code = Number.parseInt(s.replace(/^0x/i, ''), 16);
    const known = PARTITION_TYPES.find((p) => p.code === code);
    if (known === undefined) throw new RseError('E_ARGUMENT', `unknown partition type code ${s}; give the type GUID`, { field: 'type' });
    return known.guid;
  }
  return guidFromBytes(guidToBytes(s, 'type'));
}

/** One partition entry. */
export interface GptPartition {
  /** 1-based slot in the entry array. */
  readonly number: number;
  readonly type: string;
  readonly guid: string;
  readonly firstLba: number;
  /** Inclusive. */
  readonly lastLba: number;
  readonly attributes: bigint;
  readonly name: string;
}

/** A GPT disk's layout: sector size, GUID, usable range and partitions. */
export interface GptLayout {
  readonly sectorSize: SectorSize;
  readonly totalSectors: number;
  readonly diskGuid: string;
  readonly firstUsable: number;
  readonly lastUsable: number;
  readonly entryCount: number;
  readonly entrySize: number;
  readonly partitions: readonly GptPartition[];
}

/** A corrupt field the reader found, and where. */
export interface GptProblem {
  readonly code: 'E_CRC' | 'E_BAD_MAGIC' | 'E_BAD_FIELD' | 'E_BOUNDS' | 'E_OVERLAP' | 'E_TRUNCATED';
  readonly where: 'mbr' | 'primary' | 'backup' | 'entries';
  readonly message: string;
  readonly offset?: number;
}

/** A GPT read back from a disk, with the problems found (and repaired from the backup). */
export interface GptDisk extends GptLayout {
  /** Which header the partitions were read from. */
  readonly source: 'primary' | 'backup';
  readonly problems: readonly GptProblem[];
}

export const entriesSectors = (ss: SectorSize, count = GPT_ENTRY_COUNT, size = GPT_ENTRY_SIZE): number => Math.ceil((count * size) / ss);

/** First and last usable LBAs of a disk with the standard 128-entry arrays. */
export function usableRange(totalSectors: number, ss: SectorSize): { first: number; last: number } {
  const n = entriesSectors(ss);
  return { first: 2 + n, last: totalSectors - 2 - n };
}

// --- sgdisk-style planning --------------------------------------------------------------------

/** One `--new N:START:END` with its name/type/GUID; fields as sgdisk takes them. */
export interface PartitionRequest {
  /** Slot number (1-based); 0 or undefined = the first free slot. */
  readonly number?: number;
  /** sgdisk start: a sector, 0 (first sector of the largest free block), `+size`/`-size` or a size with K/M/G/T. */
  readonly start?: string;
  /** sgdisk end: `+size` (sectors or K/M/G/T), an absolute sector, `-size`, or 0 (end of the free block). */
  readonly end?: string;
  readonly name?: string;
  readonly type?: string;
  readonly guid?: string;
  readonly attributes?: bigint;
}

/** What {@link planGpt} lays out, with sgdisk's arguments. */
export interface PlanOptions {
  readonly totalSectors: number;
  readonly sectorSize: SectorSize;
  readonly diskGuid: string;
  /** sgdisk `--set-alignment` (default 2048 for 512-byte sectors). */
  readonly alignment?: number;
  readonly partitions: readonly PartitionRequest[];
}

export const UNITS: Record<string, number> = { K: 1, M: 2, G: 3, T: 4, P: 5 };

/** gdisk's IeeeToInt: a number of sectors, or of bytes with a binary unit; `+`/`-` relative to low/high. */
export function ieeeToInt(s: string, ss: number, low: number, high: number, def: number, field: string): number {
  const m = /^([+-]?)([0-9]+)([KMGTP]?)(i?B)?$/i.exec(s.trim());
  if (m === null) throw new RseError('E_ARGUMENT', `'${s}' is not a sector number or size (e.g. 2048, +256, +128K, 0)`, { field });
  const [, sign, digits, unit] = m as unknown as [string, string, string, string];
  let v = Number(digits);
  if (unit !== '') v = Math.floor((v * 1024 ** (UNITS[unit.toUpperCase()] as number)) / ss);
  if (sign === '' && unit === '' && v === 0) return def;
  if (sign === '+') return v > 0 ? low + v - 1 : def;
  if (sign === '-') return high - v;
  return v;
}

/** Computes the partition table sgdisk would make for these requests (processed in order). */
export function planGpt(opts: PlanOptions): GptLayout {
  const ss = opts.sectorSize;
  if (ss !== 512 && ss !== 4096)
    throw new RseError('E_ARGUMENT', `sector size ${ss}: only 512 and 4096 are supported`, { field: 'sectorSize' });
  const { first: firstUsable, last: lastUsable } = usableRange(opts.totalSectors, ss);
  if (!Number.isSafeInteger(opts.totalSectors) || lastUsable < firstUsable) {
    throw new RseError(
      'E_SIZE',
      `a disk of ${opts.totalSectors} sectors is too small for a GPT (needs more than ${2 * (firstUsable - 1)})`,
      { field: 'size' },
    );
  }
  if (opts.totalSectors * ss > GPT_MAX_IMAGE)
    throw new RseError('E_SIZE', `a ${opts.totalSectors * ss}-byte disk image is larger than this tool builds`, { field: 'size' });
  const align = opts.alignment ?? defaultAlignment(ss);
  if (!Number.isSafeInteger(align) || align < 1)
    throw new RseError('E_ARGUMENT', `alignment ${align} must be a positive integer`, { field: 'alignment' });
  const parts: GptPartition[] = [];
  const isFree = (s: number): boolean => s >= firstUsable && s <= lastUsable && !parts.some((p) => s >= p.firstLba && s <= p.lastLba);
  const firstAvailable = (from: number): number => {
    let s = Math.max(from, firstUsable);
    for (let moved = true; moved; ) {
      moved = false;
      for (const p of parts) {
        if (s >= p.firstLba && s <= p.lastLba) {
          s = p.lastLba + 1;
          moved = true;
        }
      }
    }
    return s > lastUsable ? 0 : s;
  };
  const lastInFree = (start: number): number => {
    let end = lastUsable;
    for (const p of parts) if (p.firstLba > start && p.firstLba - 1 < end) end = p.firstLba - 1;
    return end;
  };
  const firstInLargest = (): number => {
    let best = 0;
    let bestSize = 0;
    for (let s = firstAvailable(0); s !== 0; ) {
      const e = lastInFree(s);
      if (e - s + 1 > bestSize) {
        bestSize = e - s + 1;
        best = s;
      }
      s = e + 1 > lastUsable ? 0 : firstAvailable(e + 1);
    }
    return best;
  };
  const alignUpFree = (s: number): number => {
    if (s % align === 0) return s;
    const up = Math.ceil(s / align) * align;
    for (let x = s; x <= up; x++) if (!isFree(x)) return s;
    return up;
  };

  opts.partitions.forEach((req, i) => {
    const field = `partition[${i}]`;
    let number = req.number ?? 0;
    if (number === 0) {
      number = 1;
      while (parts.some((p) => p.number === number)) number++;
    }
    if (!Number.isInteger(number) || number < 1 || number > GPT_ENTRY_COUNT) {
      throw new RseError('E_ARGUMENT', `partition number ${number} is outside 1..${GPT_ENTRY_COUNT}`, { field });
    }
    if (parts.some((p) => p.number === number)) throw new RseError('E_DUPLICATE', `partition ${number} is defined twice`, { field });
    const lo = firstAvailable(0);
    if (lo === 0) throw new RseError('E_SIZE', `no free space left for partition ${number}`, { field });
    const def = alignUpFree(firstInLargest());
    const requested = ieeeToInt(req.start ?? '0', ss, firstUsable, lastUsable, def, `${field}.start`);
    const end = ieeeToInt(req.end ?? '0', ss, requested, lastUsable, lastInFree(requested), `${field}.end`);
    const start = alignUpFree(requested);
    const name = req.name ?? '';
    if (!isFree(start))
      throw new RseError('E_OVERLAP', `partition ${number}: start sector ${start} is not free`, { field: `${field}.start` });
    if (end < start)
      throw new RseError('E_ARGUMENT', `partition ${number}: end sector ${end} is before start sector ${start}`, { field: `${field}.end` });
    if (end > lastUsable) {
      throw new RseError(
        'E_SIZE',
        `partition ${number} (${name || 'unnamed'}) ends at sector ${end}, beyond the last usable sector ${lastUsable}`,
        {
          field: `${field}.end`,
        },
      );
    }
    // start is free and end within the usable range (checked above): only another partition can intersect.
    const other = parts.find((p) => p.firstLba <= end && start <= p.lastLba);
    if (other !== undefined) {
      throw new RseError(
        'E_OVERLAP',
        `partition ${number} (${start}-${end}) overlaps partition ${other.number} (${other.firstLba}-${other.lastLba})`,
        {
          field,
        },
      );
    }
    if ([...name].length > 36)
      throw new RseError('E_ARGUMENT', `partition name '${name}' is longer than 36 characters`, { field: `${field}.name` });
    parts.push({
      number,
      type: resolveType(req.type ?? '8300'),
      guid: req.guid === undefined ? derivedGuid(opts.diskGuid, number) : guidFromBytes(guidToBytes(req.guid, `${field}.guid`)),
      firstLba: start,
      lastLba: end,
      attributes: req.attributes ?? 0n,
      name,
    });
  });
  return {
    sectorSize: ss,
    totalSectors: opts.totalSectors,
    diskGuid: guidFromBytes(guidToBytes(opts.diskGuid, 'diskGuid')),
    firstUsable,
    lastUsable,
    entryCount: GPT_ENTRY_COUNT,
    entrySize: GPT_ENTRY_SIZE,
    partitions: parts.sort((a, b) => a.number - b.number),
  };
}

/**
 * The unique GUID of a partition given none: a name-based (v5) UUID of the disk GUID and the
 * slot number, so the same description always makes the same disk (sgdisk would randomise).
 */
export function derivedGuid(diskGuid: string, number: number): string {
  return formatUuid(uuid5(guidToBytes(diskGuid), `gpt-partition-${number}`));
}
