/**
 * The fiptool state behind `rse fip`: the image descriptors (fiptool's table under the profile's
 * naming, plus blobs), reading and packing FIPs, option values and the usage texts, with
 * fiptool's messages and exit codes, on top of the pure FIP library. The commands are in `fip.ts`.
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { type FipImage, fipUuidFromString, fipUuidToString, type PackedFip, packFip, parseFip } from '../fip/fip.ts';
import { type FileSlice, type WritePart, writeFileAtomic } from '../lib/atomic.ts';
import { asU8 } from '../lib/bytes.ts';
import { strtoull } from '../lib/cnum.ts';
import { RseError, type RseErrorCode } from '../lib/errors.ts';
import { type FipNaming, fipTable } from '../profiles/fip-table.ts';
import { findRseProfile } from '../profiles/index.ts';
import { io } from './common.ts';
import { type GetoptItem, getoptLong, type LongOption } from './getopt.ts';

/** Unwinds a fiptool command with its exit status (fiptool calls exit() from deep inside). */
export class Exit {
  readonly code: number;
  constructor(code: number) {
    this.code = code;
  }
}

export type Action = 'unspec' | 'pack' | 'unpack' | 'remove';

export interface Desc {
  readonly uuid: Uint8Array;
  readonly key: string;
  readonly name: string;
  readonly cmdline: string;
  action: Action;
  arg: string | undefined;
  /** From a FIP read (bytes) or an image file to pack (a slice copied at write time). */
  image: { data: WritePart; flags: bigint; offset?: number; size?: number } | undefined;
}

export const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EPERM: 'Operation not permitted',
};

export const strerror = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return STRERROR[code] ?? (code || String(e));
};

/** fiptool's usage text (`fiptool help`). */
export function fipHelpText(): string {
  return (
    'usage: fiptool [--verbose] <command> [<args>]\n' +
    'Global options supported:\n' +
    '  --verbose\tEnable verbose output for all commands.\n' +
    '\n' +
    'Commands supported:\n' +
    '  info\t\tList images contained in FIP.\n' +
    '  create\tCreate a new FIP with the given images.\n' +
    '  update\tUpdate an existing FIP with the given images.\n' +
    '  unpack\tUnpack images from FIP.\n' +
    '  remove\tRemove images from FIP.\n' +
    '  version\tShow fiptool version.\n' +
    '  help\t\tShow help for given command.\n'
  );
}

export const PLAT_HELP = '  --plat-toc-flags <value>\t16-bit platform specific flag field occupying bits 32-47 in 64-bit ToC header.\n';
/** fiptool's option help per command (its tabs included). */
export const USAGE = {
  create: {
    verb: 'packed',
    options: [
      '  --align <value>\t\tEach image is aligned to <value> (default: 1).\n',
      '  --blob uuid=...,file=...\tAdd an image with the given UUID pointed to by file.\n',
      PLAT_HELP,
    ],
  },
  update: {
    verb: 'packed',
    options: [
      '  --align <value>\t\tEach image is aligned to <value> (default: 1).\n',
      '  --blob uuid=...,file=...\tAdd or update an image with the given UUID pointed to by file.\n',
      '  --out FIP_FILENAME\t\tSet an alternative output FIP file.\n',
      PLAT_HELP,
    ],
  },
  unpack: {
    verb: 'unpacked',
    options: [
      '  --blob uuid=...,file=...\tUnpack an image with the given UUID to file.\n',
      '  --force\t\t\tIf the output file already exists, use --force to overwrite it.\n',
      '  --out path\t\t\tSet the output directory path.\n',
    ],
  },
  remove: {
    verb: 'removed',
    options: [
      '  --align <value>\tEach image is aligned to <value> (default: 1).\n',
      '  --blob uuid=...\tRemove an image with the given UUID.\n',
      '  --force\t\tIf the output FIP file already exists, use --force to overwrite it.\n',
      '  --out FIP_FILENAME\tSet an alternative output FIP file.\n',
    ],
  },
} as const;

export const VERSION: Record<FipNaming, string> = { rss: 'v2.10.0(release):v2.10.0', rse: 'Unknown version' };

/** The naming a profile implies (its TF-A's spelling of the RSE rows); `rss`/`rse` name a spelling directly. */
export function namingForProfile(name: string | undefined): FipNaming {
  if (name === undefined) return 'rse';
  return findRseProfile(name)?.fipNaming ?? (FIP_NAMINGS.find((n) => n === name) as FipNaming | undefined) ?? 'rse';
}

export const FIP_NAMINGS: readonly FipNaming[] = ['rse', 'rss'];

export class Fiptool {
  verbose = false;
  /** Under --json failures are thrown as RseErrors (one JSON result) instead of printed. */
  json = false;
  readonly descs: Desc[];
  readonly table;
  readonly naming: FipNaming;

  constructor(naming: FipNaming) {
    this.naming = naming;
    this.table = fipTable(naming);
    this.descs = this.table.map((t) => ({
      uuid: fipUuidFromString(t.uuid) as Uint8Array,
      key: t.uuid,
      name: t.name,
      cmdline: t.cmdline,
      action: 'unspec' as Action,
      arg: undefined,
      image: undefined,
    }));
  }

  // --- output helpers -----------------------------------------------------------------------
  out(s: string): void {
    io.out(s);
  }
  debug(s: string): void {
    if (this.verbose) io.err(`DEBUG: ${s}\n`);
  }
  warn(s: string): void {
    io.err(`WARN: ${s}\n`);
  }
  errx(s: string, code: RseErrorCode): never {
    // Under --json the failure is the one JSON result, not fiptool's ERROR line.
    if (this.json) throw new RseError(code, s);
    io.err(`ERROR: ${s} [${code}]\n`);
    throw new Exit(1);
  }
  rseErr(e: RseError): never {
    if (this.json) throw e;
    const where = [e.field, e.offset === undefined ? undefined : `@0x${e.offset.toString(16)}`].filter((x) => x !== undefined).join(' ');
    io.err(`ERROR: ${e.message} [${e.code}${where === '' ? '' : ` ${where}`}]\n`);
    throw new Exit(1);
  }

  // --- descriptors --------------------------------------------------------------------------
  byUuid(uuid: Uint8Array): Desc | undefined {
    const key = fipUuidToString(uuid);
    return this.descs.find((d) => d.key === key);
  }
  byOption(name: string): Desc {
    const row = this.table.find((t) => t.cmdline === name || t.alias === name);
    return this.descs.find((d) => d.key === row?.uuid) as Desc;
  }
  /** The descriptor of a `--blob` UUID: the named entry it is, or a new blob descriptor. */
  blobDesc(uuid: Uint8Array): Desc {
    return this.byUuid(uuid) ?? this.addBlob(uuid);
  }
  addBlob(uuid: Uint8Array): Desc {
    const key = fipUuidToString(uuid);
    const d: Desc = { uuid, key, name: key, cmdline: 'blob', action: 'unspec', arg: undefined, image: undefined };
    this.descs.push(d);
    return d;
  }

  tocOptions(hasArg: boolean): LongOption[] {
    const opts: LongOption[] = [];
    for (const t of this.table) {
      opts.push({ name: t.cmdline, hasArg, val: 'toc' });
      if (t.alias !== undefined) opts.push({ name: t.alias, hasArg, val: 'toc' });
    }
    return opts;
  }

  /** Parses the FIP at `path`; with `tocOnly`, reads just its start (enough for `info`). */
  readFip(path: string, tocOnly = false): { flags: bigint; serial: number } {
    let bytes: Uint8Array;
    let length: number;
    try {
      if (tocOnly) {
        const fd = openSync(path, 'r');
        try {
          length = fstatSync(fd).size;
          bytes = new Uint8Array(Math.min(length, 64 * 1024));
          readSync(fd, bytes, 0, bytes.length, 0);
        } finally {
          closeSync(fd);
        }
      } else {
        bytes = asU8(readFileSync(path));
        length = bytes.length;
      }
    } catch (e) {
      this.errx(`fopen ${path}: ${strerror(e)}`, 'E_IO');
    }
    let fip: ReturnType<typeof parseFip>;
    try {
      fip = parseFip(bytes, path, length);
    } catch (e) {
      if (e instanceof RseError && e.field === 'head') return this.readFip(path, false);
      if (e instanceof RseError) this.rseErr(e);
      throw e;
    }
    for (const entry of fip.entries) {
      let d = this.byUuid(entry.uuid);
      if (d === undefined) {
        d = this.addBlob(entry.uuid);
        d.action = 'unpack';
        d.arg = `${d.key}.bin`;
      }
      d.image = { data: entry.data, flags: entry.flags, offset: entry.offset, size: entry.size };
    }
    return { flags: fip.flags, serial: fip.serialNumber };
  }

  /**
   * fiptool's `read_image_from_file`, up to the read: the file must open and be a regular file;
   * its bytes are copied when the FIP is written, never held in memory.
   */
  readImage(path: string): FileSlice {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      this.errx(`fopen ${path}: ${strerror(e)}`, 'E_IO');
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) this.errx(`Failed to read ${path}`, 'E_IO');
      return { path, length: st.size };
    } finally {
      closeSync(fd);
    }
  }

  /** fiptool's `update_fip`: read every image asked for, replacing or adding. */
  loadImages(): void {
    for (const d of this.descs) {
      if (d.action !== 'pack') continue;
      const data = this.readImage(d.arg as string);
      this.debug(d.image !== undefined ? `Replacing ${d.cmdline} with ${d.arg}` : `Adding image ${d.arg}`);
      d.image = { data, flags: 0n };
    }
  }

  pack(path: string, flags: bigint, align: number): void {
    const images: FipImage<WritePart>[] = [];
    for (const d of this.descs) if (d.image !== undefined) images.push({ uuid: d.uuid, data: d.image.data, flags: d.image.flags });
    let packed: PackedFip<WritePart>;
    try {
      packed = packFip(images, { align, flags });
    } catch (e) {
      if (e instanceof RseError) this.rseErr(e);
      throw e;
    }
    this.debug(`Metadata size: ${packed.metadataSize} bytes`);
    this.debug(`Payload size: ${packed.payloadSize} bytes`);
    try {
      writeFileAtomic(path, packed.parts, { durable: false });
    } catch (e) {
      const cause = e instanceof RseError ? (e.cause as unknown) : e;
      this.errx(`fopen ${path}: ${strerror(cause)}`, 'E_IO');
    }
  }

  // --- option values ------------------------------------------------------------------------
  align(arg: string): number {
    const r = strtoull(arg, 0);
    const v = r.value;
    if (r.rest !== '' || r.overflow || v === 0n || (v & (v - 1n)) !== 0n) this.errx(`Invalid alignment: ${arg}`, 'E_ARGUMENT');
    if (v > 0x4000_0000n) this.errx(`Invalid alignment: ${arg} (rse fip aligns to at most 0x40000000)`, 'E_ARGUMENT');
    return Number(v);
  }
  platFlags(arg: string): bigint {
    const r = strtoull(arg, 16);
    if (r.rest !== '' || r.overflow || r.value > 0xffffn) this.errx(`Invalid platform ToC flags: ${arg}`, 'E_ARGUMENT');
    return r.value << 32n;
  }
  /** `uuid=...,file=...` in any order; strtok semantics (empty fields skipped). */
  blob(arg: string): { uuid: Uint8Array | undefined; file: string } {
    let uuid: Uint8Array | undefined;
    let file = '';
    for (const p of arg.split(',').filter((x) => x !== '')) {
      if (p.startsWith('uuid=')) {
        const s = p.slice(5);
        uuid = fipUuidFromString(s);
        if (uuid === undefined) this.errx(`Invalid UUID: ${s}`, 'E_ARGUMENT');
      } else if (p.startsWith('file=')) {
        file = p.slice(5);
      }
    }
    if (uuid?.every((b) => b === 0)) uuid = undefined;
    return { uuid, file };
  }

  // --- usage texts --------------------------------------------------------------------------
  usage(code: number): never {
    this.out(fipHelpText());
    throw new Exit(code);
  }
  entryLines(withFile: boolean): string {
    return this.table
      .map((t) => (withFile ? `  --${t.cmdline.padEnd(16)} FILENAME\t${t.name}\n` : `  --${t.cmdline.padEnd(16)}\t${t.name}\n`))
      .join('');
  }
  infoUsage(code: number): never {
    this.out('fiptool info FIP_FILENAME\n');
    throw new Exit(code);
  }
  /** The usage text of create/update/unpack/remove: fiptool's options, then its image options. */
  commandUsage(cmd: keyof typeof USAGE, code: number): never {
    const u = USAGE[cmd];
    this.out(
      `fiptool ${cmd} [opts] FIP_FILENAME\n\nOptions:\n${u.options.join('')}\nSpecific images are ${u.verb} with the following options:\n` +
        this.entryLines(cmd !== 'remove') +
        (cmd === 'unpack' ? '\nIf no options are provided, all images will be unpacked.\n' : ''),
    );
    throw new Exit(code);
  }
  versionUsage(code: number): never {
    this.out('fiptool version\n');
    throw new Exit(code);
  }

  /** Runs getopt and hands each option to `on`, in order; a getopt error prints `usage`. */
  options(
    cmd: string,
    args: readonly string[],
    short: string,
    long: LongOption[],
    usage: (code: number) => never,
    on: (item: Extract<GetoptItem, { kind: 'option' }>) => void,
  ): readonly string[] {
    const r = getoptLong(args, { prog: cmd, short, long });
    for (const item of r.items) {
      if (item.kind === 'error') {
        io.err(item.message);
        usage(1);
      }
      on(item);
    }
    return r.operands;
  }
}
