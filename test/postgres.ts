/** Debian's PostgreSQL for tests: initdb in a temporary directory, started on a free loopback port. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './helpers.ts';
import { oracle, oracleSkip } from './oracles.ts';

const BIN = oracle('postgresql');
/** `skip` for node:test: a reason when PostgreSQL is absent (a failure instead under RSE_REQUIRE_ORACLES=1). */
export const pgSkip: string | false = oracleSkip('postgresql');

const asPostgres = (cmd: string, args: string[]): string[] =>
  process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];

function run(cmd: string, args: string[]): void {
  const [c, ...a] = asPostgres(cmd, args) as [string, ...string[]];
  execFileSync(c, a, { stdio: 'ignore' });
}

/** Resolves with the first capture (or the match) of `pattern` in the process's output. */
export function started(p: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${pattern}: ${seen}`)), 30_000);
    const on = (d: Buffer): void => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m !== null) {
        clearTimeout(t);
        resolve(m[1] ?? m[0]);
      }
    };
    p.stdout?.on('data', on);
    p.stderr?.on('data', on);
    p.once('exit', (code) => reject(new Error(`exited ${code}: ${seen}`)));
  });
}

/** A loopback port nothing listens on now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a fresh server; `url` connects as superuser `rse`, `process` is the postmaster. */
export async function startPostgres(): Promise<{ url: string; process: ChildProcess }> {
  if (BIN === undefined) throw new Error('PostgreSQL is required (RSE_REQUIRE_ORACLES=1) but /usr/lib/postgresql/*/bin/initdb is missing');
  const dataDir = tempDir();
  chmodSync(dataDir, 0o777);
  const pgdata = join(dataDir, 'pg');
  run(join(BIN, 'initdb'), ['-D', pgdata, '-A', 'trust', '-U', 'rse', '--no-sync']);
  const port = await freePort();
  const [c, ...a] = asPostgres(join(BIN, 'postgres'), [
    '-D',
    pgdata,
    '-p',
    String(port),
    '-k',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
  ]) as [string, ...string[]];
  const pg = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  await started(pg, /ready to accept connections/);
  return { url: `postgres://rse@127.0.0.1:${port}/postgres`, process: pg };
}

/** Stops processes, last started first (smart shutdown waits for their connections to close). */
export async function stopAll(procs: readonly ChildProcess[]): Promise<void> {
  for (const p of procs) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
}

const TSX = new URL('../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const RSE = new URL('../src/cli/rse.ts', import.meta.url).pathname;

/**
 * `rse verifier serve --port 0 ARGS` as its own process (from the sources, through tsx); added to
 * the front of `procs` (stopped before PostgreSQL); resolves with its URL once it listens.
 */
export function spawnVerifier(args: readonly string[], procs: ChildProcess[]): Promise<string> {
  const p = spawn(process.execPath, ['--import', TSX, RSE, 'verifier', 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.unshift(p);
  return started(p, /listening on (http:\/\/[0-9.:]+)/);
}
