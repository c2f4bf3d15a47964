/**
 * Acceptance 3 (real run): Debian's PostgreSQL started on loopback by the test, two `rse verifier
 * serve` processes sharing it; endorsements provisioned on one, a session created on one and
 * completed on the other, then read back from the first.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readCorim } from '../../src/attestation/corim.ts';
import { verifyEar } from '../../src/attestation/ear.ts';
import { loadTokenKey } from '../../src/cose/keys.ts';
import { MIGRATIONS, openDatabase, openStore } from '../../src/verifier/store.ts';
import { tempDir, vectorsDir } from '../helpers.ts';
import { requireOracles } from '../oracles.ts';

const V = vectorsDir('attestation');
const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const RSE = new URL('../../src/cli/rse.ts', import.meta.url).pathname;

function pgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const v = readdirSync(root).sort().pop();
  const bin = v === undefined ? undefined : join(root, v, 'bin');
  return bin !== undefined && existsSync(join(bin, 'initdb')) ? bin : undefined;
}
const BIN = pgBin();
const skip = BIN === undefined ? (requireOracles ? false : 'PostgreSQL not installed (apt-get install postgresql)') : false;

const procs: ChildProcess[] = [];
let dataDir = '';
const asPostgres = (cmd: string, args: string[]): string[] =>
  process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];

function run(cmd: string, args: string[]): void {
  const [c, ...a] = asPostgres(cmd, args) as [string, ...string[]];
  execFileSync(c, a, { stdio: 'ignore' });
}

function started(p: ChildProcess, pattern: RegExp): Promise<string> {
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

let url = '';
before(async () => {
  if (skip !== false) return;
  if (BIN === undefined) throw new Error('PostgreSQL is required (RSE_REQUIRE_ORACLES=1) but /usr/lib/postgresql/*/bin/initdb is missing');
  dataDir = tempDir();
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
  procs.push(pg);
  await started(pg, /ready to accept connections/);
  url = `postgres://rse@127.0.0.1:${port}/postgres`;
});

after(async () => {
  // Verifiers first, then PostgreSQL (smart shutdown waits for their connections to close).
  for (const p of procs) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
});

function verifier(): Promise<string> {
  const p = spawn(
    process.execPath,
    ['--import', TSX, RSE, 'verifier', 'serve', '--port', '0', '--db', url, '--ear-key', join(V, 'ear/skey.json')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  procs.unshift(p);
  return started(p, /listening on (http:\/\/[0-9.:]+)/);
}

test('two verifier processes share one PostgreSQL: a session created on one completes on the other', {
  skip,
  timeout: 120_000,
}, async () => {
  const [a, b] = await Promise.all([verifier(), verifier()]);
  const prov = await fetch(`${a}/endorsement-provisioning/v1/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/rim+cbor; profile="tag:arm.com,2025:psa#1.0.0"' },
    body: readFileSync(join(V, 'corim/psa/corim-psa-valid.cbor')),
  });
  assert.equal(((await prov.json()) as { status: string }).status, 'success');
  const s = await fetch(`${a}/challenge-response/v1/newSession?nonce=QUp8F0FBs9DpodKK8xUg8NQimf6sQAfe2J1ormzZLxk`, { method: 'POST' });
  assert.equal(s.status, 201);
  const loc = s.headers.get('location') as string;
  const done = await fetch(`${b}/challenge-response/v1/${loc}`, {
    method: 'POST',
    headers: { 'content-type': 'application/psa-attestation-token' },
    body: readFileSync(join(V, 'psa/veraison-services/psa.good.cose')),
  });
  assert.equal(done.status, 200, await done.clone().text());
  const back = (await (await fetch(`${a}/challenge-response/v1/${loc}`)).json()) as { status: string; result: string };
  assert.equal(back.status, 'complete');
  const ear = verifyEar(back.result, loadTokenKey(readFileSync(join(V, 'ear/pkey.json'))));
  assert.equal(ear.submods.PSA_IOT?.['ear.status'], 'affirming');
  // a malformed request to either process is answered and leaves it serving
  const junk = await fetch(`${b}/challenge-response/v1/session/${crypto.randomUUID()}`, {
    method: 'POST',
    headers: { 'content-type': 'bogus' },
    body: 'x',
  });
  assert.equal(junk.headers.get('content-type'), 'application/problem+json');
  assert.equal((await fetch(`${b}/.well-known/veraison/verification`)).status, 200);
});

test('migrations: servers starting together on an empty database all come up on one schema', { skip, timeout: 120_000 }, async () => {
  const admin = await openDatabase(url);
  try {
    for (let round = 0; round < 5; round++) {
      const db = `race${round}`;
      await admin.query(`CREATE DATABASE ${db}`);
      const u = url.replace(/\/postgres$/, `/${db}`);
      const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(u)));
      const { rows } = (await stores[0]?.sql.query<{ n: string }>('SELECT count(*) AS n FROM schema_migration')) ?? { rows: [] };
      assert.equal(Number(rows[0]?.n), MIGRATIONS.length);
      // Concurrent provisioning: each CoRIM lands whole, in its own transaction.
      const corim = readFileSync(join(V, 'corim/psa/corim-psa-valid.cbor'));
      const e = readCorim(new Uint8Array(corim));
      await Promise.all(stores.flatMap((s) => [s.addEndorsements(e), s.addEndorsements(e)]));
      const per = e.anchors.length + e.software.length + e.platformConfigs.length + e.realms.length;
      const count = await stores[1]?.sql.query<{ n: string }>('SELECT count(*) AS n FROM endorsement');
      assert.equal(Number(count?.rows[0]?.n), 8 * per);
      await Promise.all(stores.map((s) => s.sql.close()));
    }
  } finally {
    await admin.close();
  }
});
