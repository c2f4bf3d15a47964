/** `rse gpt` (create, list, info, verify, write, extract) and `rse fwu` (create, info, switch). @module */
import { Command, Option } from '@commander-js/extra-typings';
import { formatUuid, NAMESPACE_DNS, uuid5 } from '../crypto/uuid.ts';
import { parseFip } from '../fip/fip.ts';
import { findPartition, partitionBytes, readGpt, writeGpt } from '../gpt/codec.ts';
import { alternateBank, type BankState, encodeFwuMetadata, type FwuMetadata, parseFwuMetadata, switchActiveBank } from '../gpt/fwu.ts';
import { FWU_METADATA_TYPE_GUID, type GptDisk, type GptLayout, type PartitionRequest, planGpt, type SectorSize } from '../gpt/gpt.ts';
import { guidFromBytes, guidToBytes } from '../gpt/guid.ts';
import { infoText, listText, typeCode, verifyText } from '../gpt/sgdisk.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { parseSizeText } from '../lib/cnum.ts';
import { RseError } from '../lib/errors.ts';
import { cliStatus, collect, io, printJson, readInput } from './common.ts';

function sectorSizeOpt(v: string): SectorSize {
  if (v !== '512' && v !== '4096')
    throw new RseError('E_ARGUMENT', `sector size ${v}: only 512 and 4096 are supported`, { field: 'sector-size' });
  return Number(v) as SectorSize;
}

/** A size in bytes: decimal, 0x hex, or with a K/M/G suffix (binary units). */
export function parseSize(v: string, field: string): number {
  const n = parseSizeText(v);
  if (n === undefined) throw new RseError('E_ARGUMENT', `'${v}' is not a size (bytes, 0x..., or with K/M/G)`, { field });
  return n;
}

/** `N:VALUE` pairs of sgdisk options, keyed by partition number. */
function byNumber(values: readonly string[], what: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const v of values) {
    const i = v.indexOf(':');
    const n = Number(v.slice(0, i));
    if (i < 1 || !Number.isInteger(n) || n < 0) throw new RseError('E_USAGE', `${what} takes N:VALUE, got '${v}'`, { field: what });
    m.set(n, v.slice(i + 1));
  }
  return m;
}

/** The disk GUID given none: name-based, so the same file name gives the same disk. */
export const diskGuidFor = (name: string): string => formatUuid(uuid5(NAMESPACE_DNS, `rsekit-gpt-disk:${name}`));

function loadDisk(path: string, sectorSize: SectorSize | undefined): { bytes: Uint8Array; disk: GptDisk } {
  const bytes = readInput(path, 'disk image');
  const disk = readGpt(bytes, sectorSize);
  return { bytes, disk };
}

function warnProblems(disk: GptDisk): void {
  for (const p of disk.problems) io.err(`rse gpt: warning: ${p.message} [${p.code}]\n`);
  if (disk.source === 'backup') io.err('rse gpt: warning: the primary GPT is damaged; using the backup header and entries\n');
}

const partitionJson = (disk: GptLayout) =>
  disk.partitions.map((p) => ({
    number: p.number,
    name: p.name,
    firstLba: p.firstLba,
    lastLba: p.lastLba,
    sectors: p.lastLba - p.firstLba + 1,
    ...partitionBytes(disk, p),
    code: typeCode(p.type).toString(16).toUpperCase().padStart(4, '0'),
    type: p.type,
    guid: p.guid,
    attributes: `0x${p.attributes.toString(16).padStart(16, '0')}`,
  }));

function gptCreate() {
  return new Command('create')
    .summary('make a GPT disk image (sgdisk options)')
    .description(
      'Make a GPT disk image with a protective MBR, primary and backup headers and entry arrays.\n' +
        "Partitions are placed with sgdisk's rules, so sgdisk's own arguments give the same bytes:\n" +
        '  rse gpt create disk.bin --sectors 608 -a 16 -U <guid> -n 1:0:+256 \\\n' +
        '      -c 1:FIP_A -t 1:fip -u 1:<guid>\n' +
        'Start 0 = first sector of the largest free block (aligned); END is +SECTORS, +SIZE{K,M,G},\n' +
        'an absolute sector, or 0 for the end of the free block. Types: a GUID, an sgdisk code\n' +
        '(8300, EF00, 0700...) or fip / fwu-metadata. GUIDs not given are derived from the disk\n' +
        'GUID and the partition number (reproducible); the disk GUID from the file name.',
    )
    .argument('<disk>', 'image file to write')
    .option('--size <bytes>', 'disk size in bytes (K/M/G suffixes allowed)')
    .option('--sectors <n>', 'disk size in sectors')
    .addOption(new Option('--sector-size <n>', 'logical sector size').choices(['512', '4096']).default('512'))
    .option('-a, --set-alignment <sectors>', 'alignment of partition starts (sgdisk default 2048 sectors for 512-byte sectors)')
    .option('-U, --disk-guid <guid>', 'disk GUID')
    .option('-n, --new <n:start:end>', 'new partition (repeatable)', collect, [] as string[])
    .option('-c, --change-name <n:name>', 'partition name (repeatable)', collect, [] as string[])
    .option('-t, --typecode <n:type>', 'partition type (repeatable)', collect, [] as string[])
    .option('-u, --partition-guid <n:guid>', 'partition unique GUID (repeatable)', collect, [] as string[])
    .option('-A, --attributes <n:hex>', 'partition attribute bits as 16 hex digits (repeatable)', collect, [] as string[])
    .option('--json', 'print the resulting table as JSON')
    .action((diskPath, o) => {
      const ss = sectorSizeOpt(o.sectorSize);
      let sectors: number;
      if (o.sectors !== undefined) sectors = parseSize(o.sectors, 'sectors');
      else if (o.size !== undefined) {
        const bytes = parseSize(o.size, 'size');
        if (bytes % ss !== 0)
          throw new RseError('E_ARGUMENT', `--size ${o.size} is not a multiple of the ${ss}-byte sector`, { field: 'size' });
        sectors = bytes / ss;
      } else throw new RseError('E_USAGE', 'give the disk size with --size or --sectors');
      const names = byNumber(o.changeName, '--change-name');
      const types = byNumber(o.typecode, '--typecode');
      const guids = byNumber(o.partitionGuid, '--partition-guid');
      const attrs = byNumber(o.attributes, '--attributes');
      const diskGuid = o.diskGuid ?? diskGuidFor(diskPath);
      const requests: PartitionRequest[] = o.new.map((spec) => {
        const [n, start, end, extra] = spec.split(':');
        if (extra !== undefined || n === undefined || !/^[0-9]+$/.test(n))
          throw new RseError('E_USAGE', `--new takes N:START:END, got '${spec}'`, { field: '--new' });
        const number = Number(n);
        const attr = attrs.get(number);
        return {
          number,
          start: start || '0',
          end: end || '0',
          ...(names.has(number) ? { name: names.get(number) as string } : {}),
          ...(types.has(number) ? { type: types.get(number) as string } : {}),
          ...(guids.has(number) ? { guid: guids.get(number) as string } : {}),
          ...(attr === undefined ? {} : { attributes: BigInt(`0x${attr.replace(/^0x/i, '')}`) }),
        };
      });
      const layout = planGpt({
        totalSectors: sectors,
        sectorSize: ss,
        diskGuid,
        ...(o.setAlignment === undefined ? {} : { alignment: parseSize(o.setAlignment, 'alignment') }),
        partitions: requests,
      });
      writeFileAtomic(diskPath, writeGpt(layout), { durable: false });
      if (o.json === true)
        printJson({ disk: diskPath, sectorSize: ss, sectors, diskGuid: layout.diskGuid, partitions: partitionJson(layout) });
    });
}

function gptList() {
  return new Command('list')
    .summary('show the partition table (as sgdisk -p)')
    .argument('<disk>')
    .addOption(new Option('--sector-size <n>', 'logical sector size (default: detected)').choices(['512', '4096']))
    .option('--json', 'print as JSON')
    .action((diskPath, o) => {
      const { disk } = loadDisk(diskPath, o.sectorSize === undefined ? undefined : sectorSizeOpt(o.sectorSize));
      if (o.json === true) {
        printJson({
          disk: diskPath,
          sectorSize: disk.sectorSize,
          sectors: disk.totalSectors,
          diskGuid: disk.diskGuid,
          firstUsable: disk.firstUsable,
          lastUsable: disk.lastUsable,
          entries: disk.entryCount,
          source: disk.source,
          problems: disk.problems,
          partitions: partitionJson(disk),
        });
        return;
      }
      warnProblems(disk);
      io.out(listText(disk, diskPath));
    });
}

function gptInfo() {
  return new Command('info')
    .summary('show one partition (as sgdisk -i N)')
    .argument('<disk>')
    .argument('<partition>', 'number, name or unique GUID')
    .action((diskPath, which) => {
      const { disk } = loadDisk(diskPath, undefined);
      warnProblems(disk);
      const p = /^[0-9]+$/.test(which) ? disk.partitions.find((x) => x.number === Number(which)) : findPartition(disk, which);
      if (p === undefined) throw new RseError('E_NOT_FOUND', `partition ${which} does not exist`, { field: which });
      io.out(infoText(disk, p));
    });
}

function gptVerify() {
  return new Command('verify')
    .summary('check MBR, headers, CRCs and entries (as sgdisk -v)')
    .description('Exit status: 0 no problems, 1 problems found (listed), 2 unreadable.')
    .argument('<disk>')
    .option('--json', 'print as JSON')
    .action((diskPath, o) => {
      const { disk } = loadDisk(diskPath, undefined);
      if (o.json === true) printJson({ disk: diskPath, ok: disk.problems.length === 0, source: disk.source, problems: disk.problems });
      else if (disk.problems.length === 0) io.out(verifyText(disk));
      else {
        for (const p of disk.problems)
          io.out(`Problem: ${p.message} [${p.code}${p.offset === undefined ? '' : ` @0x${p.offset.toString(16)}`}]\n`);
        io.out(`\nIdentified ${disk.problems.length} problem${disk.problems.length === 1 ? '' : 's'}!\n`);
      }
      if (disk.problems.length > 0) cliStatus.code = 1;
    });
}

function gptWrite() {
  return new Command('write')
    .summary('write a file into named partitions (all or nothing)')
    .description(
      'Write FILE at the start of every partition named with --name (e.g. FIP_A and FIP_B),\n' +
        'zero-filling the rest of each partition unless --keep-tail. The file must fit every\n' +
        'partition; on any error nothing is written. It does what a loop of dd conv=notrunc seek=START commands does, with the checks dd lacks.',
    )
    .argument('<disk>')
    .argument('<file>')
    .option('--name <partition>', 'partition name, unique GUID or type GUID (repeatable)', collect, [] as string[])
    .option('--keep-tail', 'leave the partition bytes after FILE as they are')
    .action((diskPath, file, o) => {
      if (o.name.length === 0) throw new RseError('E_USAGE', 'give at least one --name');
      const { bytes, disk } = loadDisk(diskPath, undefined);
      warnProblems(disk);
      const data = readInput(file);
      const targets = o.name.map((n) => {
        const p = findPartition(disk, n);
        const r = partitionBytes(disk, p);
        if (data.length > r.size) {
          throw new RseError('E_SIZE', `${file} is ${data.length} bytes, partition ${p.name || p.number} holds ${r.size}`, { field: n });
        }
        return r;
      });
      const out = bytes; // this command's own copy: patched in place, then written atomically
      for (const r of targets) {
        if (o.keepTail !== true) out.fill(0, r.offset, r.offset + r.size);
        out.set(data, r.offset);
      }
      writeFileAtomic(diskPath, out, { durable: false });
    });
}

function gptExtract() {
  return new Command('extract')
    .summary('copy a partition out to a file')
    .argument('<disk>')
    .requiredOption('--name <partition>', 'partition name, unique GUID or type GUID')
    .requiredOption('-o, --output <file>', 'file to write')
    .option('--fip', 'write only the FIP the partition holds (its ToC gives the length)')
    .action((diskPath, o) => {
      const { bytes, disk } = loadDisk(diskPath, undefined);
      warnProblems(disk);
      const r = partitionBytes(disk, findPartition(disk, o.name));
      let data = bytes.subarray(r.offset, r.offset + r.size);
      if (o.fip === true) {
        const fip = parseFip(data, `partition ${o.name}`);
        const end = Number(fip.terminator.offset);
        const lastImage = Math.max(fip.terminator.at + 40, ...fip.entries.map((e) => e.offset + e.size));
        data = data.subarray(0, end >= lastImage && end <= data.length ? end : lastImage);
      }
      writeFileAtomic(o.output, data, { durable: false });
    });
}

export function gptCommand() {
  const cmd = new Command('gpt').summary('GPT disk images: create, list, info, verify, write, extract');
  for (const c of [gptCreate(), gptList(), gptInfo(), gptVerify(), gptWrite(), gptExtract()]) cmd.addCommand(c as unknown as Command);
  return cmd;
}

// --- FWU metadata ---------------------------------------------------------------------------

const STATES: Record<string, BankState> = {
  accepted: 'accepted',
  valid: 'valid',
  invalid: 'invalid',
  fc: 'accepted',
  fe: 'valid',
  ff: 'invalid',
};

type Region = { name: string; offset: number; size: number };

/** The metadata copies a disk holds (by type GUID, then by name), or the whole input if it is not a GPT disk. */
function metadataLocations(bytes: Uint8Array): Region[] {
  let disk: GptDisk;
  try {
    disk = readGpt(bytes);
  } catch (e) {
    if (!(e instanceof RseError)) throw e;
    return [{ name: 'file', offset: 0, size: bytes.length }];
  }
  return metadataRegions(disk);
}

function metadataRegions(disk: GptDisk): Region[] {
  let parts = disk.partitions.filter((p) => p.type === FWU_METADATA_TYPE_GUID);
  if (parts.length === 0) parts = disk.partitions.filter((p) => p.name === 'FWU-Metadata' || p.name === 'Bkup-FWU-Metadata');
  if (parts.length === 0)
    throw new RseError('E_NOT_FOUND', 'the disk has no FWU metadata partition (type 8A7A84A0-... or name FWU-Metadata)');
  return parts.slice(0, 2).map((p) => ({ name: p.name || `#${p.number}`, ...partitionBytes(disk, p) }));
}

const metaJson = (m: FwuMetadata) => ({
  activeIndex: m.activeIndex,
  previousActiveIndex: m.previousActiveIndex,
  bankStates: m.bankStates,
  alternateBank: alternateBank(m) ?? null,
  images: m.images,
});

export function fwuCommand() {
  const cmd = new Command('fwu').summary('PSA FWU metadata v2 (A/B banks): create, info, switch');
  cmd.addCommand(
    new Command('create')
      .summary('write FWU metadata v2')
      .argument('<output>', 'metadata file, or a GPT disk whose metadata partitions get it (--disk)')
      .option('--active <n>', 'active bank', '0')
      .option('--previous <n>', 'previous active bank', '0')
      .option(
        '--bank <guid[:state]>',
        'one per bank, in order: the bank image GUID and its state (accepted|valid|invalid, default accepted)',
        collect,
        [] as string[],
      )
      .option(
        '--image-type <guid>',
        'image type GUID (TF-A looks for 78C312E5-9FCC-491A-A78F-D2689C359E22)',
        '78C312E5-9FCC-491A-A78F-D2689C359E22',
      )
      .option('--location <guid>', 'location GUID (usually the disk GUID)')
      .option('--disk', 'write into the FWU-Metadata partitions of the GPT disk OUTPUT')
      .action((output, o) => {
        if (o.bank.length === 0) throw new RseError('E_USAGE', 'give one --bank per bank');
        const banks = o.bank.map((b) => {
          const [guid, state = 'accepted'] = b.split(/:(?=[a-z]+$)/i) as [string, string?];
          const s = STATES[state.toLowerCase()];
          if (s === undefined) throw new RseError('E_ARGUMENT', `bank state '${state}': accepted, valid or invalid`, { field: '--bank' });
          return { guid: guidFromBytes(guidToBytes(guid, '--bank')), state: s };
        });
        const diskBytes = o.disk === true ? readInput(output, 'disk image') : undefined;
        const disk = diskBytes === undefined ? undefined : readGpt(diskBytes);
        const location = o.location ?? disk?.diskGuid;
        if (location === undefined) throw new RseError('E_USAGE', 'give --location (or --disk to take the disk GUID)');
        const meta = encodeFwuMetadata({
          activeIndex: Number(o.active),
          previousActiveIndex: Number(o.previous),
          bankStates: banks.map((b) => b.state),
          images: [
            {
              typeGuid: o.imageType,
              locationGuid: location,
              banks: banks.map((b) => ({ guid: b.guid, accepted: b.state === 'accepted' })),
            },
          ],
        });
        if (diskBytes === undefined) {
          writeFileAtomic(output, meta, { durable: false });
          return;
        }
        const out = diskBytes; // patched in place, then written atomically
        for (const r of metadataRegions(disk as GptDisk)) {
          if (meta.length > r.size)
            throw new RseError('E_SIZE', `metadata (${meta.length} bytes) does not fit ${r.name}`, { field: r.name });
          out.fill(0, r.offset, r.offset + r.size);
          out.set(meta, r.offset);
        }
        writeFileAtomic(output, out, { durable: false });
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('read and check FWU metadata (a file, or both copies on a GPT disk)')
      .description("Exit status: 0 valid, 1 a copy fails TF-A's checks, 2 unreadable.")
      .argument('<file>')
      .option('--banks <n>', "TF-A's NR_OF_FW_BANKS", '2')
      .option('--json', 'print as JSON')
      .action((file, o) => {
        const bytes = readInput(file);
        const copies = metadataLocations(bytes).map((r) => {
          try {
            return {
              name: r.name,
              ok: true as const,
              meta: parseFwuMetadata(bytes.subarray(r.offset, r.offset + r.size), { banks: Number(o.banks) }),
            };
          } catch (e) {
            if (!(e instanceof RseError)) throw e;
            return { name: r.name, ok: false as const, error: `${e.message} [${e.code}]` };
          }
        });
        if (o.json === true)
          printJson(
            copies.map((c) => (c.ok ? { copy: c.name, ok: true, ...metaJson(c.meta) } : { copy: c.name, ok: false, error: c.error })),
          );
        else {
          for (const c of copies) {
            if (!c.ok) {
              io.out(`${c.name}: INVALID: ${c.error}\n`);
              continue;
            }
            const m = c.meta;
            io.out(`${c.name}: valid (crc 0x${m.crc.toString(16).padStart(8, '0')}, ${m.size} bytes)\n`);
            io.out(`  active bank ${m.activeIndex}, previous ${m.previousActiveIndex}, alternate ${alternateBank(m) ?? 'none'}\n`);
            m.bankStates.forEach((s, i) => {
              io.out(`  bank ${i}: ${s}\n`);
            });
            for (const img of m.images) {
              io.out(`  image type ${img.typeGuid}, location ${img.locationGuid}\n`);
              img.banks.forEach((b, i) => {
                io.out(`    bank ${i}: ${b.guid}${b.accepted ? ' (accepted)' : ''}\n`);
              });
            }
          }
        }
        if (copies.some((c) => !c.ok)) cliStatus.code = 1;
      }),
  );
  cmd.addCommand(
    new Command('switch')
      .summary('make another bank active (the old one becomes previous); rewrites every copy')
      .argument('<file>', 'metadata file or GPT disk')
      .requiredOption('--to <bank>', 'bank to activate')
      .option('--banks <n>', "TF-A's NR_OF_FW_BANKS", '2')
      .action((file, o) => {
        const bytes = readInput(file);
        // Every copy is parsed and re-encoded before any byte changes, so a bad copy changes nothing.
        const next = metadataLocations(bytes).map((r) => {
          const m = parseFwuMetadata(bytes.subarray(r.offset, r.offset + r.size), { banks: Number(o.banks) });
          return { at: r.offset, meta: encodeFwuMetadata(switchActiveBank(m, Number(o.to))) };
        });
        for (const n of next) bytes.set(n.meta, n.at);
        writeFileAtomic(file, bytes, { durable: false });
      }),
  );
  return cmd;
}
