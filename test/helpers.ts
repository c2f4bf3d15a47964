/** Test helpers: locating the shared vectors and running the CLI in-process. */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.ts';
import { isRseError, type RseError } from '../src/lib/errors.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** `../shared/vectors/<name>` beside the checkout; a missing folder fails the test loudly. */
export function vectorsDir(name: string): string {
  const candidates = [resolve(here, '../../shared/vectors', name), resolve(here, 'fixtures', name)];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`test vectors '${name}' not found: expected ../shared/vectors/${name} beside the checkout`);
  return found;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rsekit-test-'));
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `rse <args>` in this process, capturing what it writes. */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (d) => out.push(typeof d === 'string' ? d : Buffer.from(d).toString('latin1')),
    err: (d) => err.push(d),
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** The error `f` throws, asserting it is an RseError; undefined when `f` returns. */
export function rseErrorOf(f: () => unknown): RseError | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    assert.ok(isRseError(e), String(e));
    return e;
  }
}

/** `CODE: message` of the RseError `f` throws, or undefined when it returns. */
export function refusalOf(f: () => unknown): string | undefined {
  const e = rseErrorOf(f);
  return e === undefined ? undefined : `${e.code}: ${e.message}`;
}

/** XORs `mask` into byte `at` of `b` (a tampering step); `at` must be inside `b`. */
export function flipBits(b: Uint8Array, at: number, mask = 1): void {
  if (!Number.isInteger(at) || at < 0 || at >= b.length) throw new RangeError(`flipBits: ${at} is outside ${b.length} bytes`);
  b[at] = (b[at] as number) ^ mask;
}

/** Every file under `dir`, as paths relative to it. */
export function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** The files under `dir` that hold `secret`: raw, in hex (either case) or base64. */
export function filesHolding(dir: string, secret: Uint8Array): string[] {
  const hex = Buffer.from(secret).toString('hex');
  const forms = [
    Buffer.from(secret),
    Buffer.from(hex),
    Buffer.from(hex.toUpperCase()),
    Buffer.from(Buffer.from(secret).toString('base64')),
  ];
  return filesUnder(dir).filter((f) => {
    const b = readFileSync(join(dir, f));
    return forms.some((x) => b.includes(x));
  });
}

/** A valid PSA 2.0.0 claim set (Veraison's claim names) for `rse token create`. */
export const PSA_CLAIMS_JSON = JSON.stringify({
  'eat-profile': 'http://arm.com/psa/2.0.0',
  'psa-client-id': 1,
  'psa-security-lifecycle': 12288,
  'psa-implementation-id': Buffer.alloc(32, 1).toString('base64'),
  'psa-boot-seed': Buffer.alloc(32, 2).toString('base64'),
  'psa-software-components': [
    { 'measurement-value': Buffer.alloc(32, 3).toString('base64'), 'signer-id': Buffer.alloc(32, 4).toString('base64') },
  ],
  'psa-nonce': Buffer.alloc(32, 5).toString('base64'),
  'psa-instance-id': Buffer.concat([Buffer.of(1), Buffer.alloc(32, 6)]).toString('base64'),
});
