/** The `rse` command line. @module */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, type OutputConfiguration } from '@commander-js/extra-typings';
import { RseError } from '../lib/errors.ts';
import { type CliIo, cliArgv, cliStatus, flushJson, io, jsonResult, printJson, processIo } from './common.ts';
import { HELP_LAYOUT, helpIndexOf } from './help-index.ts';
import { formatTopHelp, type HelpCommand, type HelpIndex, helpWidth } from './help-text.ts';

/** The package whose version `--version` prints. */
const PACKAGE_NAME = 'rsekit';

/** What `rse --help` says rsekit is. */
export const RSE_DESCRIPTION =
  'rsekit: RSE/RSS toolchain (imgtool, fiptool, srec_cat and gdisk compatible), virtual device, runtime services and attestation verifier.';

/** Whether `argv` asks for the top-level help only (no verb). */
export function isTopHelp(argv: readonly string[]): boolean {
  return argv.length === 0 || (argv.length === 1 && ['-h', '--help', 'help'].includes(argv[0] ?? ''));
}

/**
 * Which file under src/cli defines each verb. scripts/bundle.mjs reads this literal (keep it one
 * object of 'verb': 'file' lines) to build a standalone CommonJS CLI per file, which the `rse`
 * binary runs for that file's verbs: one script to load instead of the ESM bundle and its chunks.
 */
export const VERB_FILES = {
  sign: 'sign',
  create: 'sign',
  verify: 'image-tools',
  dumpinfo: 'image-tools',
  'sign-list': 'image-tools',
  'sign-append': 'image-tools',
  'sign-remove': 'image-tools',
  keygen: 'keys',
  getpub: 'keys',
  getpubhash: 'keys',
  getpriv: 'keys',
  keyinfo: 'keys',
  gpt: 'gpt',
  fwu: 'gpt',
  flash: 'flash',
  device: 'device',
  otp: 'device',
  provision: 'provision',
  boot: 'boot',
  lms: 'bl1',
  bl1: 'bl1',
  sic: 'sic',
  serve: 'serve',
  call: 'serve',
  stm32: 'stm32',
  l5: 'l5',
  sfi: 'sfi',
  ssp: 'ssp',
  token: 'token',
  endorse: 'endorse',
  attest: 'attest',
  verifier: 'verifier',
  fip: 'fip',
  layout: 'layout',
  report: 'report',
} as const;

type VerbFile = (typeof VERB_FILES)[keyof typeof VERB_FILES];
type Loader = (pairs: () => [string, string, string][]) => Promise<readonly unknown[]>;

/**
 * Each file's commander commands, in help order, loaded on demand (`rse fip …` need not compile
 * the verifier). fip and layout parse their own command lines (fiptool's, srec_cat's): see run().
 */
export const LOADERS: Readonly<Record<Exclude<VerbFile, 'fip' | 'layout'>, Loader>> = {
  sign: async (pairs) => [(await import('./sign.ts')).signCommand(pairs)],
  'image-tools': async () => {
    const m = await import('./image-tools.ts');
    return [m.verifyCommand(), m.dumpinfoCommand(), m.signListCommand(), m.signAppendCommand(), m.signRemoveCommand()];
  },
  keys: async () => {
    const m = await import('./keys.ts');
    return [m.keygenCommand(), m.getpubCommand(), m.getpubhashCommand(), m.getprivCommand(), m.keyinfoCommand()];
  },
  gpt: async () => {
    const m = await import('./gpt.ts');
    return [m.gptCommand(), m.fwuCommand()];
  },
  flash: async () => [(await import('./flash.ts')).flashCommand()],
  device: async () => {
    const m = await import('./device.ts');
    return [m.deviceCommand(), m.otpCommand()];
  },
  provision: async () => [(await import('./provision.ts')).provisionCommand()],
  boot: async () => [(await import('./boot.ts')).bootCommand()],
  bl1: async () => {
    const m = await import('./bl1.ts');
    return [m.lmsCommand(), m.bl1Command()];
  },
  sic: async () => [(await import('./sic.ts')).sicCommand()],
  serve: async () => {
    const m = await import('./serve.ts');
    return [m.serveCommand(), m.callCommand()];
  },
  stm32: async () => [(await import('./stm32.ts')).stm32Command()],
  l5: async () => [(await import('./l5.ts')).l5Command()],
  sfi: async () => [(await import('./sfi.ts')).sfiCommand()],
  ssp: async () => [(await import('./ssp.ts')).sspCommand()],
  token: async () => [(await import('./token.ts')).tokenCommand()],
  endorse: async () => [(await import('./endorse.ts')).endorseCommand()],
  attest: async () => [(await import('./attest.ts')).attestCommand()],
  verifier: async () => [(await import('./verifier.ts')).verifierCommand()],
  report: async () => [(await import('./report.ts')).reportCommand()],
};

/**
 * Readies a verb's command tree: the help layout and the common --json on every command, and when
 * it is to run, the help option, no process exit and output through `output`.
 */
function prepare(c: Command, output?: OutputConfiguration): void {
  c.configureHelp(HELP_LAYOUT);
  withJson(c);
  if (output !== undefined) c.helpOption('-h, --help', 'show help').exitOverride().configureOutput(output);
  for (const sub of c.commands) prepare(sub as Command, output);
}

/** Gives a leaf command that has no --json of its own the common one (its result is then `{ok}` and what it printed goes to stderr). */
function withJson(c: Command): void {
  if (c.commands.length === 0 && !c.options.some((o) => o.long === '--json'))
    c.option('--json', 'print the result as one JSON object on stdout: {ok, …}, or {ok: false, error} on failure');
}

/** The verbs that parse their own command line (fiptool's, srec_cat's), as help data. */
async function ownParsers(): Promise<HelpCommand[]> {
  const { LAYOUT_HELP } = await import('./layout.ts');
  const { fipHelpText } = await import('./fiptool.ts');
  const plain = (name: string, usage: string, description: string, after: string): HelpCommand => ({
    name,
    aliases: [],
    usage,
    description,
    summary: description.split(', ')[0] ?? description,
    after,
    arguments: [],
    options: [],
    commands: [],
  });
  return [
    plain('fip', '<command> [<args>]', "FIP create/update/remove/unpack/info, fiptool's command line (rse fip help).", fipHelpText()),
    plain(
      'layout',
      '[options] INPUT... -o OUTPUT',
      "Place files at offsets in one image, srec_cat's command line (rse layout --help).",
      LAYOUT_HELP,
    ),
  ];
}

/** Every verb of `rse` as help data: what the top-level help, man pages and completion are made from. */
export async function helpIndex(): Promise<HelpIndex> {
  const commands = (await Promise.all(Object.values(LOADERS).map((load) => load(() => [])))).flat();
  for (const c of commands) prepare(c as Command);
  const index = helpIndexOf(packageVersion(), RSE_DESCRIPTION, commands);
  const completion: HelpCommand = {
    name: 'completion',
    aliases: [],
    usage: '[options] <shell>',
    description: 'Print a completion script for bash, zsh or fish. Load it with: source <(rse completion bash)',
    summary: 'print a completion script for bash, zsh or fish',
    after: '',
    arguments: [{ name: 'shell', description: 'bash, zsh or fish', required: true, choices: ['bash', 'zsh', 'fish'] }],
    options: [{ flags: '--json', long: '--json', description: 'print {ok, shell, script} as JSON', takesValue: false }],
    commands: [],
  };
  return { ...index, commands: [...index.commands, ...(await ownParsers()), completion] };
}

/** `rse completion SHELL`: the script, made from the help index. */
async function completion(argv: readonly string[], json: boolean): Promise<number> {
  const { completionScript, SHELLS } = await import('./completion.ts');
  const shell = argv.find((a) => !a.startsWith('-'));
  if (argv.includes('-h') || argv.includes('--help')) {
    io.out('Usage: rse completion [--json] <bash|zsh|fish>\n\nPrint a completion script. Load it with: source <(rse completion bash)\n');
    return 0;
  }
  if (shell === undefined || !(SHELLS as readonly string[]).includes(shell))
    throw new RseError('E_USAGE', `give a shell: ${SHELLS.join(', ')}`, { field: 'shell' });
  const script = completionScript(await helpIndex(), shell as (typeof SHELLS)[number]);
  if (json) printJson({ ok: true, shell, script });
  else io.out(script);
  return 0;
}

function packageVersion(): string {
  // The package root is one level above the ESM bundle (dist/rse.mjs), two above a standalone one
  // (dist/verbs/*.cjs), three above src/cli/main.ts.
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}

/** Runs the CLI on `argv` (without node and script); returns the exit status. */
export async function main(argv: readonly string[], sinks: CliIo = processIo): Promise<number> {
  const saved = { out: io.out, err: io.err, json: { ...jsonResult } };
  // With --json, stdout carries the one JSON result; text for people goes to stderr.
  const end = argv.indexOf('--');
  const json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  io.out = json ? (d) => sinks.err(typeof d === 'string' ? d : Buffer.from(d).toString('latin1')) : sinks.out;
  io.err = sinks.err;
  jsonResult.on = json;
  jsonResult.held = [];
  jsonResult.printed = false;
  jsonResult.out = (s) => sinks.out(s);
  try {
    return await run(argv);
  } finally {
    io.out = saved.out;
    io.err = saved.err;
    Object.assign(jsonResult, saved.json);
  }
}

async function run(argv: readonly string[]): Promise<number> {
  cliArgv.current = argv;
  // With --json, errors are also printed as JSON on stdout.
  const end = argv.indexOf('--');
  const json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  if (isTopHelp(argv)) {
    const text = formatTopHelp(await helpIndex(), helpWidth());
    // Asked for, the help goes to stdout; `rse` alone is a usage error.
    if (argv.length === 0) {
      io.err(text);
      return 2;
    }
    io.out(text);
    return 0;
  }
  if (argv[0] === 'completion') return guardAsync(() => completion(argv.slice(1), json), json);
  // Commands that mirror a C tool's own command line parse it themselves.
  if (argv[0] === 'fip') {
    const { runFip } = await import('./fip.ts');
    return guard(() => runFip(argv.slice(1)), json);
  }
  if (argv[0] === 'layout') {
    const { runLayout } = await import('./layout.ts');
    return guard(() => runLayout(argv.slice(1)), json);
  }
  const output = { writeOut: (s: string) => io.out(s), writeErr: (s: string) => io.err(s), outputError: () => {} };
  const signing = argv[0] === 'sign' || argv[0] === 'create';
  const { rest, pairs } = signing
    ? (await import('./sign.ts')).extractPairs([...argv], ['--custom-tlv', '--custom-tlv-file', '--extra-tlv'])
    : { rest: [...argv], pairs: [] };
  const program = new Command('rse')
    .description(RSE_DESCRIPTION)
    .configureHelp(HELP_LAYOUT)
    .version(packageVersion(), '-V, --version', 'print the rsekit version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput(output);
  // A known verb loads its own module; `--version` none; anything else (help, a typo to suggest
  // for) loads them all.
  const verb = argv[0] ?? '';
  const own = Object.hasOwn(VERB_FILES, verb) ? LOADERS[VERB_FILES[verb as keyof typeof VERB_FILES] as keyof typeof LOADERS] : undefined;
  const versionOnly = argv.length === 1 && (verb === '-V' || verb === '--version');
  const wanted = own !== undefined ? [own] : versionOnly ? [] : Object.values(LOADERS);
  const commands = (await Promise.all(wanted.map((load) => load(() => pairs)))).flat();
  for (const cmd of commands) {
    prepare(cmd as Command, output);
    program.addCommand(cmd as Command);
  }
  // Listed for help only: these verbs are dispatched before commander (see the top of run()).
  program.command('fip').description('FIP create/update/remove/unpack/info, fiptool-compatible (rse fip help)');
  program.command('layout').description('place files at offsets in one image, srec_cat-compatible (rse layout --help)');
  try {
    cliStatus.code = 0;
    await program.parseAsync([...rest], { from: 'user' });
    return flushJson(cliStatus.code);
  } catch (e) {
    return report(e, json);
  }
}

async function guardAsync(f: () => Promise<number>, json: boolean): Promise<number> {
  try {
    return flushJson(await f());
  } catch (e) {
    return report(e, json);
  }
}

function guard(f: () => number, json: boolean): number {
  try {
    return flushJson(f());
  } catch (e) {
    return report(e, json);
  }
}

function report(e: unknown, json: boolean): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    const message = e.message.replace(/^error: /, '');
    jsonResult.held = [];
    if (json) printJson({ ok: false, error: { code: 'E_USAGE', message } }, true);
    io.err(`rse: E_USAGE: ${message}\n`);
    return 2;
  }
  if (e instanceof RseError) {
    jsonResult.held = [];
    if (json) printJson({ ok: false, error: e.toJSON() }, true);
    io.err(`rse: ${e.describe()}\n`);
    return e.exitCode;
  }
  jsonResult.held = [];
  if (json) printJson({ ok: false, error: { code: 'E_INTERNAL', message: 'internal error (a bug in rsekit): see stderr' } }, true);
  io.err(`rse: internal error: ${(e as Error).stack ?? String(e)}\n`);
  return 70;
}
