/**
 * `rse fip`: fiptool's commands (info, create, update, unpack, remove, version, help) over the FIP
 * model, with fiptool's command line, messages and exit statuses.
 * @module
 */

import { accessSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { hash } from '../crypto/index.ts';
import { platTocFlags } from '../fip/fip.ts';
import { type WritePart, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { io, printJson } from './common.ts';
import { type Action, type Desc, Exit, Fiptool, namingForProfile, strerror, VERSION } from './fiptool.ts';
import { getoptLong } from './getopt.ts';

// --- commands -----------------------------------------------------------------------------
export function info(t: Fiptool, args: readonly string[], json: boolean): number {
  if (args.length !== 1) t.infoUsage(1);
  const path = args[0] as string;
  // The listing needs only the ToC; hashes (--verbose, --json) need the images.
  const { flags, serial } = t.readFip(path, !t.verbose && !json);
  const hex = (n: number | bigint): string => `0x${n.toString(16).toUpperCase()}`;
  t.debug(`toc_header[name]: 0xAA640001`);
  t.debug(`toc_header[serial_number]: ${hex(serial)}`);
  t.debug(`toc_header[flags]: ${hex(flags)}`);
  const listed = t.descs.flatMap((d) => (d.image === undefined ? [] : [{ d, image: d.image }]));
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
    t.out(t.verbose ? `${line}, sha256=${sha(image.data)}\n` : `${line}\n`);
  }
  return 0;
}

/** `create` and `update`: the same options (update adds --out) and the same packing. */
export function packCommand(t: Fiptool, cmd: 'create' | 'update', args: readonly string[]): number {
  const usage: (c: number) => never = (c) => t.commandUsage(cmd, c);
  if (args.length < 1) usage(1);
  let flags = 0n;
  let pflag = false;
  let align = 1;
  let outfile = '';
  const long = [
    ...t.tocOptions(true),
    { name: 'align', hasArg: true, val: 'align' },
    { name: 'blob', hasArg: true, val: 'b' },
    ...(cmd === 'update' ? [{ name: 'out', hasArg: true, val: 'o' }] : []),
    { name: 'plat-toc-flags', hasArg: true, val: 'plat' },
  ];
  const operands = t.options(cmd, args, cmd === 'update' ? 'b:o:' : 'b:', long, usage, (o) => {
    if (o.val === 'toc') setAction(t.byOption(o.name), 'pack', o.arg);
    else if (o.val === 'plat') {
      flags |= t.platFlags(o.arg as string);
      pflag = true;
    } else if (o.val === 'align') align = t.align(o.arg as string);
    else if (o.val === 'o') outfile = o.arg as string;
    else if (o.val === 'b') {
      const { uuid, file } = t.blob(o.arg as string);
      if (uuid === undefined || file === '') usage(1);
      setAction(t.blobDesc(uuid), 'pack', file);
    }
  });
  if (operands.length === 0) usage(0);
  const input = operands[0] as string;
  if (outfile === '') outfile = input;
  // update keeps the existing header flags (replacing the platform bits if asked); create starts at 0.
  let header = 0n;
  if (cmd === 'update' && exists(input)) header = t.readFip(input).flags;
  if (pflag) header &= ~(0xffffn << 32n);
  header |= flags;
  t.loadImages();
  t.pack(outfile, header, align);
  return 0;
}

export function unpack(t: Fiptool, args: readonly string[]): number {
  if (args.length < 1) t.commandUsage('unpack', 1);
  let force = false;
  let outdir = '';
  let all = true;
  const long = [
    ...t.tocOptions(true),
    { name: 'blob', hasArg: true, val: 'b' },
    { name: 'force', hasArg: false, val: 'f' },
    { name: 'out', hasArg: true, val: 'o' },
  ];
  const operands = t.options(
    'unpack',
    args,
    'b:fo:',
    long,
    (c) => t.commandUsage('unpack', c),
    (o) => {
      if (o.val === 'toc') {
        setAction(t.byOption(o.name), 'unpack', o.arg);
        all = false;
      } else if (o.val === 'f') force = true;
      else if (o.val === 'o') outdir = o.arg as string;
      else if (o.val === 'b') {
        const { uuid, file } = t.blob(o.arg as string);
        if (uuid === undefined || file === '') t.commandUsage('unpack', 1);
        setAction(t.blobDesc(uuid), 'unpack', file);
        all = false;
      }
    },
  );
  if (operands.length === 0) t.commandUsage('unpack', 0);
  const input = operands[0] as string;
  t.readFip(input);
  if (outdir !== '') {
    let ok = false;
    try {
      ok = statSync(outdir).isDirectory();
    } catch (e) {
      t.errx(`chdir ${outdir}: ${strerror(e)}`, 'E_IO');
    }
    if (!ok) t.errx(`chdir ${outdir}: Not a directory`, 'E_IO');
  }
  const at = (f: string): string => (outdir === '' || isAbsolute(f) ? f : join(outdir, f));
  for (const d of t.descs) {
    if (!all && d.action !== 'unpack') continue;
    const file = d.arg ?? `${d.cmdline}.bin`;
    if (d.image === undefined) {
      if (!all) t.warn(`${file} does not exist in ${input}`);
      continue;
    }
    if (!exists(at(file)) || force) {
      t.debug(`Unpacking ${file}`);
      try {
        writeFileAtomic(at(file), d.image.data, { durable: false });
      } catch (e) {
        t.errx(`fopen ${file}: ${strerror(e instanceof RseError ? e.cause : e)}`, 'E_IO');
      }
    } else {
      t.warn(`File ${file} already exists, use --force to overwrite it`);
    }
  }
  return 0;
}

export function remove(t: Fiptool, args: readonly string[]): number {
  if (args.length < 1) t.commandUsage('remove', 1);
  let align = 1;
  let force = false;
  let outfile = '';
  const long = [
    ...t.tocOptions(false),
    { name: 'align', hasArg: true, val: 'align' },
    { name: 'blob', hasArg: true, val: 'b' },
    { name: 'force', hasArg: false, val: 'f' },
    { name: 'out', hasArg: true, val: 'o' },
  ];
  const operands = t.options(
    'remove',
    args,
    'b:fo:',
    long,
    (c) => t.commandUsage('remove', c),
    (o) => {
      if (o.val === 'toc') setAction(t.byOption(o.name), 'remove', undefined);
      else if (o.val === 'align') align = t.align(o.arg as string);
      else if (o.val === 'f') force = true;
      else if (o.val === 'o') outfile = o.arg as string;
      else if (o.val === 'b') {
        const { uuid } = t.blob(o.arg as string);
        if (uuid === undefined) t.commandUsage('remove', 1);
        setAction(t.blobDesc(uuid), 'remove', undefined);
      }
    },
  );
  if (operands.length === 0) t.commandUsage('remove', 0);
  const input = operands[0] as string;
  if (outfile !== '' && exists(outfile) && !force) t.errx(`File ${outfile} already exists, use --force to overwrite it`, 'E_EXISTS');
  if (outfile === '') outfile = input;
  const { flags } = t.readFip(input);
  for (const d of t.descs) {
    if (d.action !== 'remove') continue;
    if (d.image !== undefined) {
      t.debug(`Removing ${d.cmdline}`);
      d.image = undefined;
    } else {
      t.warn(`${d.cmdline} does not exist in ${input}`);
    }
  }
  t.pack(outfile, flags, align);
  return 0;
}

export function setAction(d: Desc, action: Action, arg: string | undefined): void {
  d.action = action;
  d.arg = arg;
}

export function helpCommand(t: Fiptool, args: readonly string[]): number {
  if (args.length < 1) t.usage(0);
  const name = args[0] as string;
  const usages: Record<string, (c: number) => never> = {
    info: (c) => t.infoUsage(c),
    create: (c) => t.commandUsage('create', c),
    update: (c) => t.commandUsage('update', c),
    unpack: (c) => t.commandUsage('unpack', c),
    remove: (c) => t.commandUsage('remove', c),
    version: (c) => t.versionUsage(c),
  };
  const u = usages[name];
  if (u !== undefined) u(0);
  t.out(`No help for subcommand '${name}'\n`);
  return 0;
}

export function exists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

const FIP_COMMANDS = ['info', 'create', 'update', 'unpack', 'remove', 'version', 'help'];

/** Runs `rse fip ARGS` (everything after `fip`); returns the exit status fiptool would. */
export function runFip(args: readonly string[]): number {
  // --json anywhere: the result (or the failure) is one JSON object; fiptool's usage text is an E_USAGE error.
  const json = args.includes('--json');
  const argv = args.filter((a) => a !== '--json');
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
  tool.json = json;
  const [cmd, ...rest] = globals.operands;
  if (json && (bad || (!help && (cmd === undefined || !FIP_COMMANDS.includes(cmd)))))
    throw new RseError(
      'E_USAGE',
      cmd === undefined || bad ? 'usage: rse fip [--verbose] <command> [<args>]' : `unknown fip command '${cmd}'`,
    );
  try {
    if (bad || help) tool.usage(0);
    if (cmd === undefined) tool.usage(0);
    switch (cmd) {
      case 'info':
        return info(tool, rest, json);
      case 'create':
      case 'update':
        return packCommand(tool, cmd, rest);
      case 'unpack':
        return unpack(tool, rest);
      case 'remove':
        return remove(tool, rest);
      case 'version':
        tool.out(`${VERSION[tool.naming]}\n`);
        return 0;
      case 'help':
        return helpCommand(tool, rest);
      default:
        return tool.usage(0);
    }
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}
