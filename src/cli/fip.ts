/**
 * `rse fip`: fiptool's command line, options, ordering rules, messages and exit codes, on top of
 * the pure FIP library. `info --json` and `--profile` are additions; a FIP listing one UUID twice
 * is a clean error (fiptool aborts).
 * @module
 */
import { accessSync, closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { hash } from '../crypto/index.ts';
import { type FipImage, fipUuidFromString, fipUuidToString, type PackedFip, packFip, parseFip, platTocFlags } from '../fip/fip.ts';
import { type FileSlice, type WritePart, writeFileAtomic } from '../lib/atomic.ts';
import { asU8 } from '../lib/bytes.ts';
import { strtoull } from '../lib/cnum.ts';
import { RseError, type RseErrorCode } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { type FipNaming, fipTable } from '../profiles/fip-table.ts';
import { findRseProfile } from '../profiles/index.ts';
import { io, printJson } from './common.ts';
import { type GetoptItem, getoptLong, type LongOption } from './getopt.ts';

/** Unwinds a fiptool command with its exit status (fiptool calls exit() from deep inside). */
class Exit {
  readonly code: number;
  constructor(code: number) {
    this.code = code;
  }
}

type Action = 'unspec' | 'pack' | 'unpack' | 'remove';

interface Desc {
  readonly uuid: Uint8Array;
  readonly key: string;
  readonly name: string;
  readonly cmdline: string;
  action: Action;
  arg: string | undefined;
  /** From a FIP read (bytes) or an image file to pack (a slice copied at write time). */
  image: { data: WritePart; flags: bigint; offset?: number; size?: number } | undefined;
}

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EPERM: 'Operation not permitted',
};

const strerror = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return STRERROR[code] ?? (code || String(e));
};

const PLAT_HELP = '  --plat-toc-flags <value>\t16-bit platform specific flag field occupying bits 32-47 in 64-bit ToC header.\n';
/** fiptool's option help per command (its tabs included). */
const USAGE = {
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

const VERSION: Record<FipNaming, string> = { rss: 'v2.10.0(release):v2.10.0', rse: 'Unknown version' };

/** The naming a profile implies (its TF-A's spelling of the RSE rows); `rss`/`rse` name a spelling directly. */
export function namingForProfile(name: string | undefined): FipNaming {
  if (name === undefined) return 'rse';
  return findRseProfile(name)?.fipNaming ?? (FIP_NAMINGS.find((n) => n === name) as FipNaming | undefined) ?? 'rse';
}

const FIP_NAMINGS: readonly FipNaming[] = ['rse', 'rss'];

class Fiptool {
  verbose = false;
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
    io.err(`ERROR: ${s} [${code}]\n`);
    throw new Exit(1);
  }
  rseErr(e: RseError): never {
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
    this.out(
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
        '  help\t\tShow help for given command.\n',
    );
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

  // --- commands -----------------------------------------------------------------------------
  info(args: readonly string[], json: boolean): number {
    if (args.length !== 1) this.infoUsage(1);
    const path = args[0] as string;
    // The listing needs only the ToC; hashes (--verbose, --json) need the images.
    const { flags, serial } = this.readFip(path, !this.verbose && !json);
    const hex = (n: number | bigint): string => `0x${n.toString(16).toUpperCase()}`;
    this.debug(`toc_header[name]: 0xAA640001`);
    this.debug(`toc_header[serial_number]: ${hex(serial)}`);
    this.debug(`toc_header[flags]: ${hex(flags)}`);
    const listed = this.descs.flatMap((d) => (d.image === undefined ? [] : [{ d, image: d.image }]));
    // A FIP that was read holds its images as bytes.
    const sha = (data: WritePart): string => toHex(hash('sha256', data as Uint8Array));
    if (json) {
      printJson({
        file: path,
        header: { name: '0xAA640001', serialNumber: hex(serial), flags: hex(flags), platTocFlags: platTocFlags(flags) },
        entries: listed.map(({ d, image }) => ({
          name: d.name,
          cmdline: `--${d.cmdline}`,
          uuid: d.key,
          offset: image.offset ?? 0,
          size: image.data.length,
          flags: hex(image.flags),
          sha256: sha(image.data),
        })),
      });
      return 0;
    }
    for (const { d, image } of listed) {
      const line = `${d.name}: offset=${hex(image.offset ?? 0)}, size=${hex(image.size ?? image.data.length)}, cmdline="--${d.cmdline}"`;
      this.out(this.verbose ? `${line}, sha256=${sha(image.data)}\n` : `${line}\n`);
    }
    return 0;
  }

  /** `create` and `update`: the same options (update adds --out) and the same packing. */
  packCommand(cmd: 'create' | 'update', args: readonly string[]): number {
    const usage: (c: number) => never = (c) => this.commandUsage(cmd, c);
    if (args.length < 1) usage(1);
    let flags = 0n;
    let pflag = false;
    let align = 1;
    let outfile = '';
    const long = [
      ...this.tocOptions(true),
      { name: 'align', hasArg: true, val: 'align' },
      { name: 'blob', hasArg: true, val: 'b' },
      ...(cmd === 'update' ? [{ name: 'out', hasArg: true, val: 'o' }] : []),
      { name: 'plat-toc-flags', hasArg: true, val: 'plat' },
    ];
    const operands = this.options(cmd, args, cmd === 'update' ? 'b:o:' : 'b:', long, usage, (o) => {
      if (o.val === 'toc') this.setAction(this.byOption(o.name), 'pack', o.arg);
      else if (o.val === 'plat') {
        flags |= this.platFlags(o.arg as string);
        pflag = true;
      } else if (o.val === 'align') align = this.align(o.arg as string);
      else if (o.val === 'o') outfile = o.arg as string;
      else if (o.val === 'b') {
        const { uuid, file } = this.blob(o.arg as string);
        if (uuid === undefined || file === '') usage(1);
        this.setAction(this.blobDesc(uuid), 'pack', file);
      }
    });
    if (operands.length === 0) usage(0);
    const input = operands[0] as string;
    if (outfile === '') outfile = input;
    // update keeps the existing header flags (replacing the platform bits if asked); create starts at 0.
    let header = 0n;
    if (cmd === 'update' && exists(input)) header = this.readFip(input).flags;
    if (pflag) header &= ~(0xffffn << 32n);
    header |= flags;
    this.loadImages();
    this.pack(outfile, header, align);
    return 0;
  }

  unpack(args: readonly string[]): number {
    if (args.length < 1) this.commandUsage('unpack', 1);
    let force = false;
    let outdir = '';
    let all = true;
    const long = [
      ...this.tocOptions(true),
      { name: 'blob', hasArg: true, val: 'b' },
      { name: 'force', hasArg: false, val: 'f' },
      { name: 'out', hasArg: true, val: 'o' },
    ];
    const operands = this.options(
      'unpack',
      args,
      'b:fo:',
      long,
      (c) => this.commandUsage('unpack', c),
      (o) => {
        if (o.val === 'toc') {
          this.setAction(this.byOption(o.name), 'unpack', o.arg);
          all = false;
        } else if (o.val === 'f') force = true;
        else if (o.val === 'o') outdir = o.arg as string;
        else if (o.val === 'b') {
          const { uuid, file } = this.blob(o.arg as string);
          if (uuid === undefined || file === '') this.commandUsage('unpack', 1);
          this.setAction(this.blobDesc(uuid), 'unpack', file);
          all = false;
        }
      },
    );
    if (operands.length === 0) this.commandUsage('unpack', 0);
    const input = operands[0] as string;
    this.readFip(input);
    if (outdir !== '') {
      let ok = false;
      try {
        ok = statSync(outdir).isDirectory();
      } catch (e) {
        this.errx(`chdir ${outdir}: ${strerror(e)}`, 'E_IO');
      }
      if (!ok) this.errx(`chdir ${outdir}: Not a directory`, 'E_IO');
    }
    const at = (f: string): string => (outdir === '' || isAbsolute(f) ? f : join(outdir, f));
    for (const d of this.descs) {
      if (!all && d.action !== 'unpack') continue;
      const file = d.arg ?? `${d.cmdline}.bin`;
      if (d.image === undefined) {
        if (!all) this.warn(`${file} does not exist in ${input}`);
        continue;
      }
      if (!exists(at(file)) || force) {
        this.debug(`Unpacking ${file}`);
        try {
          writeFileAtomic(at(file), d.image.data, { durable: false });
        } catch (e) {
          this.errx(`fopen ${file}: ${strerror(e instanceof RseError ? e.cause : e)}`, 'E_IO');
        }
      } else {
        this.warn(`File ${file} already exists, use --force to overwrite it`);
      }
    }
    return 0;
  }

  remove(args: readonly string[]): number {
    if (args.length < 1) this.commandUsage('remove', 1);
    let align = 1;
    let force = false;
    let outfile = '';
    const long = [
      ...this.tocOptions(false),
      { name: 'align', hasArg: true, val: 'align' },
      { name: 'blob', hasArg: true, val: 'b' },
      { name: 'force', hasArg: false, val: 'f' },
      { name: 'out', hasArg: true, val: 'o' },
    ];
    const operands = this.options(
      'remove',
      args,
      'b:fo:',
      long,
      (c) => this.commandUsage('remove', c),
      (o) => {
        if (o.val === 'toc') this.setAction(this.byOption(o.name), 'remove', undefined);
        else if (o.val === 'align') align = this.align(o.arg as string);
        else if (o.val === 'f') force = true;
        else if (o.val === 'o') outfile = o.arg as string;
        else if (o.val === 'b') {
          const { uuid } = this.blob(o.arg as string);
          if (uuid === undefined) this.commandUsage('remove', 1);
          this.setAction(this.blobDesc(uuid), 'remove', undefined);
        }
      },
    );
    if (operands.length === 0) this.commandUsage('remove', 0);
    const input = operands[0] as string;
    if (outfile !== '' && exists(outfile) && !force) this.errx(`File ${outfile} already exists, use --force to overwrite it`, 'E_EXISTS');
    if (outfile === '') outfile = input;
    const { flags } = this.readFip(input);
    for (const d of this.descs) {
      if (d.action !== 'remove') continue;
      if (d.image !== undefined) {
        this.debug(`Removing ${d.cmdline}`);
        d.image = undefined;
      } else {
        this.warn(`${d.cmdline} does not exist in ${input}`);
      }
    }
    this.pack(outfile, flags, align);
    return 0;
  }

  setAction(d: Desc, action: Action, arg: string | undefined): void {
    d.action = action;
    d.arg = arg;
  }

  help(args: readonly string[]): number {
    if (args.length < 1) this.usage(0);
    const name = args[0] as string;
    const usages: Record<string, (c: number) => never> = {
      info: (c) => this.infoUsage(c),
      create: (c) => this.commandUsage('create', c),
      update: (c) => this.commandUsage('update', c),
      unpack: (c) => this.commandUsage('unpack', c),
      remove: (c) => this.commandUsage('remove', c),
      version: (c) => this.versionUsage(c),
    };
    const u = usages[name];
    if (u !== undefined) u(0);
    this.out(`No help for subcommand '${name}'\n`);
    return 0;
  }
}

function exists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `rse fip ARGS` (everything after `fip`); returns the exit status fiptool would. */
export function runFip(argv: readonly string[]): number {
  // Global options: fiptool's --verbose/-v in POSIX mode (stop at the command), plus --profile.
  const globals = getoptLong(argv, {
    prog: 'rse fip',
    short: 'vh',
    long: [
      { name: 'verbose', hasArg: false, val: 'v' },
      { name: 'profile', hasArg: true, val: 'p' },
      { name: 'help', hasArg: false, val: 'h' },
    ],
    posix: true,
  });
  let verbose = false;
  let profile = process.env.RSE_PROFILE;
  let help = false;
  let bad = false;
  for (const item of globals.items) {
    if (item.kind === 'error') {
      io.err(item.message);
      bad = true;
    } else if (item.val === 'v') verbose = true;
    else if (item.val === 'p') profile = item.arg;
    else if (item.val === 'h') help = true;
  }
  const tool = new Fiptool(namingForProfile(profile));
  tool.verbose = verbose;
  try {
    if (bad || help) tool.usage(0);
    const [cmd, ...rest] = globals.operands;
    if (cmd === undefined) tool.usage(0);
    switch (cmd) {
      case 'info': {
        const json = rest.includes('--json');
        return tool.info(
          rest.filter((a) => a !== '--json'),
          json,
        );
      }
      case 'create':
      case 'update':
        return tool.packCommand(cmd, rest);
      case 'unpack':
        return tool.unpack(rest);
      case 'remove':
        return tool.remove(rest);
      case 'version':
        tool.out(`${VERSION[tool.naming]}\n`);
        return 0;
      case 'help':
        return tool.help(rest);
      default:
        return tool.usage(0);
    }
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}
