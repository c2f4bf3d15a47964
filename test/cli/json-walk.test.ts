/**
 * One result model for every verb (issue 29), walked from the CLI's own command table: every leaf
 * command takes --json; under it stdout holds exactly one JSON object, `{ok: false, error: {code,
 * message, …}}` on failure with the exit status the code's category documents (1 check, 2 usage or
 * input), `{ok: true, …}` on success, and no hash in it is cut short. Before: about 20 verbs had no
 * --json, `rse verify --json` printed nothing when the image failed, some JSON held `…`-cut hashes.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { walkIndex } from '../../src/cli/help-text.ts';
import { helpIndex, main } from '../../src/cli/main.ts';
import { ERROR_CODES, type RseErrorCode } from '../../src/lib/errors.ts';
import { tempDir } from '../helpers.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: readonly string[], cwd?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const here = process.cwd();
  if (cwd !== undefined) process.chdir(cwd);
  try {
    const code = await main(args, {
      out: (s) => (stdout += typeof s === 'string' ? s : Buffer.from(s).toString('latin1')),
      err: (s) => (stderr += s),
    });
    return { code, stdout, stderr };
  } finally {
    process.chdir(here);
  }
}

const EXIT = { usage: 2, input: 2, check: 1, fault: 1 } as const;

/** The one JSON object stdout must hold. */
function result(r: Run, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch {
    assert.fail(`${what}: stdout is not one JSON value:\n${r.stdout}\n(stderr: ${r.stderr})`);
  }
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `${what}: not an object`);
  return v as Record<string, unknown>;
}

function checkFailure(r: Run, what: string): void {
  const v = result(r, what);
  assert.equal(v.ok, false, what);
  const e = v.error as { code: string; message: string };
  assert.ok(Object.hasOwn(ERROR_CODES, e.code), `${what}: ${e.code} is not a listed code`);
  assert.equal(typeof e.message, 'string');
  assert.equal(r.code, EXIT[ERROR_CODES[e.code as RseErrorCode]], `${what}: ${e.code} exits ${r.code}`);
}

/** Every string in a JSON value: none may be a hash cut with an ellipsis. */
function* strings(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) for (const x of v) yield* strings(x);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) yield* strings(x);
}

test('every leaf command takes --json, and a usage error under it is one {ok:false, error:E_USAGE} object, exit 2', async () => {
  const index = await helpIndex();
  let leaves = 0;
  for (const { path, command } of walkIndex(index)) {
    if (command.commands.length > 0) continue;
    leaves++;
    const what = `rse ${path.join(' ')}`;
    if (path[0] !== 'fip' && path[0] !== 'layout')
      assert.ok(
        command.options.some((o) => o.long === '--json'),
        `${what} has no --json`,
      );
    const r = await run([...path, '--json', '--no-such-option-anywhere']);
    checkFailure(r, what);
    assert.equal((result(r, what).error as { code: string }).code, 'E_USAGE');
  }
  assert.ok(leaves > 90, `${leaves} leaves`);
});

test('every leaf command given missing files fails as one JSON error with its category’s exit status', async () => {
  const index = await helpIndex();
  const cwd = tempDir();
  // Paths under a regular file: nothing can be read there, and a verb that creates cannot create them.
  writeFileSync(join(cwd, 'a-file'), 'x');
  for (const { path, command } of walkIndex(index)) {
    // The verifier needs no argument: it would serve (its --json is checked in test/comms/daemon.test.ts).
    if (command.commands.length > 0 || path[0] === 'completion' || path.join(' ') === 'verifier serve') continue;
    // Positional arguments get paths that do not exist; required options too (their names from the help).
    const args: string[] = command.arguments.map((a, i) => (a.choices?.[0] !== undefined ? a.choices[0] : join(cwd, 'a-file', `arg${i}`)));
    const r = await run([...path, ...args, '--json'], cwd);
    if (r.code === 0) continue; // a verb that needs nothing it was not given (checked by the success walk)
    checkFailure(r, `rse ${path.join(' ')} ${args.join(' ')}`);
  }
});

test('success under --json is one {ok: true, …} object with whole hashes, for verbs across the CLI', async () => {
  const dir = tempDir();
  cpSync(new URL('../../examples/keys/root-EC-P256.pem', import.meta.url), join(dir, 'k.pem'));
  writeFileSync(join(dir, 'payload.bin'), new Uint8Array(1000).fill(7));
  mkdirSync(join(dir, 'out'));
  const cases: string[][] = [
    ['keygen', '-t', 'ecdsa-p256', '-k', join(dir, 'new.pem')],
    ['getpub', '-k', join(dir, 'k.pem')],
    ['getpubhash', '-k', join(dir, 'k.pem')],
    ['keyinfo', '-k', join(dir, 'k.pem')],
    [
      'sign',
      '-k',
      join(dir, 'k.pem'),
      '-v',
      '1.2.3',
      '-H',
      '0x400',
      '--pad-header',
      '-S',
      '0x10000',
      join(dir, 'payload.bin'),
      join(dir, 's.bin'),
    ],
    ['verify', '-k', join(dir, 'k.pem'), join(dir, 's.bin')],
    ['gpt', 'create', join(dir, 'disk.bin'), '--sectors', '608', '-a', '16', '-n', '1:0:+256', '-c', '1:FIP_A', '-t', '1:fip'],
    ['gpt', 'list', join(dir, 'disk.bin')],
    ['gpt', 'info', join(dir, 'disk.bin'), '1'],
    ['gpt', 'verify', join(dir, 'disk.bin')],
    ['gpt', 'write', join(dir, 'disk.bin'), join(dir, 'payload.bin'), '--name', 'FIP_A'],
    ['device', 'create', join(dir, 'dev'), '--profile', 'rse-2.1'],
    ['otp', 'show', join(dir, 'dev')],
    ['device', 'dump', join(dir, 'dev'), '--region', 'otp'],
    ['l5', 'device', 'create', join(dir, 'l5')],
    ['l5', 'ob', 'show', join(dir, 'l5')],
    ['stm32', 'device', 'create', join(dir, 'mp1')],
    ['completion', 'bash'],
  ];
  for (const args of cases) {
    const what = `rse ${args.join(' ')}`;
    const r = await run([...args, '--json'], dir);
    assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
    const v = result(r, what);
    assert.equal(v.ok, true, what);
    for (const s of strings(v)) assert.doesNotMatch(s, /^[0-9a-f]{8,}…$|[0-9a-f]{8,}\.\.\.$/i, `${what}: a cut hash ${s}`);
  }
  // A failing check is {ok: false} with its error, exit 1 (before: nothing on stdout).
  const bytes = Buffer.from((await import('node:fs')).readFileSync(join(dir, 's.bin')));
  bytes[0x400 + 10] = (bytes[0x400 + 10] ?? 0) ^ 1;
  writeFileSync(join(dir, 'bad.bin'), bytes);
  const bad = await run(['verify', '-k', join(dir, 'k.pem'), join(dir, 'bad.bin'), '--json']);
  assert.equal(bad.code, 1);
  assert.equal(result(bad, 'verify bad').ok, false);
});
