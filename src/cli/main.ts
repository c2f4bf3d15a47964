/** The `rse` command line. @module */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { RseError } from '../lib/errors.ts';
import { bl1Command, lmsCommand } from './bl1.ts';
import { type CliIo, cliStatus, io, processIo } from './common.ts';
import { bootCommand, deviceCommand, otpCommand, provisionCommand } from './device.ts';
import { endorseCommand } from './endorse.ts';
import { runFip } from './fip.ts';
import { flashCommand } from './flash.ts';
import { fwuCommand, gptCommand } from './gpt.ts';
import { dumpinfoCommand, verifyCommand } from './image-tools.ts';
import { getpubCommand, getpubhashCommand, keygenCommand, keyinfoCommand } from './keys.ts';
import { runLayout } from './layout.ts';
import { callCommand, serveCommand } from './serve.ts';
import { sicCommand } from './sic.ts';
import { extractPairs, signCommand } from './sign.ts';
import { tokenCommand } from './token.ts';
import { verifierCommand } from './verifier.ts';

function packageVersion(): string {
  // The package root is one level above the bundle (dist/rse.mjs), three above src/cli/main.ts.
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'rsekit' && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next level
    }
  }
  return '0.0.0';
}

/** Runs the CLI on `argv` (without node and script); returns the exit status. */
export async function main(argv: readonly string[], sinks: CliIo = processIo): Promise<number> {
  const saved = { out: io.out, err: io.err };
  io.out = sinks.out;
  io.err = sinks.err;
  try {
    return await run(argv);
  } finally {
    io.out = saved.out;
    io.err = saved.err;
  }
}

async function run(argv: readonly string[]): Promise<number> {
  // Commands that mirror a C tool's own command line parse it themselves.
  if (argv[0] === 'fip') return guard(() => runFip(argv.slice(1)));
  if (argv[0] === 'layout') return guard(() => runLayout(argv.slice(1)));
  const output = { writeOut: (s: string) => io.out(s), writeErr: (s: string) => io.err(s), outputError: () => {} };
  const { rest, pairs } = extractPairs([...argv], ['--custom-tlv', '--custom-tlv-file']);
  const program = new Command('rse')
    .description(
      'rsekit: RSE/RSS toolchain (imgtool, fiptool, srec_cat and gdisk compatible), virtual device, runtime services and attestation verifier',
    )
    .version(packageVersion(), '-V, --version', 'print the rsekit version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput(output);
  for (const cmd of [
    signCommand(() => pairs),
    verifyCommand(),
    dumpinfoCommand(),
    keygenCommand(),
    getpubCommand(),
    getpubhashCommand(),
    keyinfoCommand(),
    gptCommand(),
    fwuCommand(),
    flashCommand(),
    deviceCommand(),
    otpCommand(),
    provisionCommand(),
    lmsCommand(),
    bl1Command(),
    sicCommand(),
    bootCommand(),
    serveCommand(),
    callCommand(),
    tokenCommand(),
    endorseCommand(),
    verifierCommand(),
  ]) {
    const configure = (c: Command): void => {
      c.helpOption('-h, --help', 'show help').exitOverride().configureOutput(output);
      for (const sub of c.commands) configure(sub as Command);
    };
    configure(cmd as unknown as Command);
    program.addCommand(cmd as unknown as Command);
  }
  // Listed for help only: these verbs are dispatched before commander (see the top of run()).
  program.command('fip').description('FIP create/update/remove/unpack/info, fiptool-compatible (rse fip help)');
  program.command('layout').description('place files at offsets in one image, srec_cat-compatible (rse layout --help)');
  try {
    cliStatus.code = 0;
    await program.parseAsync([...rest], { from: 'user' });
    return cliStatus.code;
  } catch (e) {
    return report(e);
  }
}

function guard(f: () => number): number {
  try {
    return f();
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    io.err(`rse: E_USAGE: ${e.message.replace(/^error: /, '')}\n`);
    return 2;
  }
  if (e instanceof RseError) {
    io.err(`rse: ${e.describe()}\n`);
    return e.exitCode;
  }
  io.err(`rse: internal error: ${(e as Error).stack ?? String(e)}\n`);
  return 70;
}
