/** Test helpers: locating the shared vectors and running the CLI in-process. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.ts';

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

/** Runs `rse <args>` in this process, capturing stdout and stderr. */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const cap =
    (sink: string[]) =>
    (chunk: string | Uint8Array): boolean => {
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
      return true;
    };
  process.stdout.write = cap(out) as typeof process.stdout.write;
  process.stderr.write = cap(err) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
