/**
 * Acceptance 3 (real run): Debian's PostgreSQL started on loopback by the test, two `rse verifier
 * serve` processes sharing it; endorsements provisioned on one, a session created on one and
 * completed on the other, then read back from the first.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readCorim } from '../../src/attestation/corim.ts';
import { verifyEar } from '../../src/attestation/ear.ts';
import { loadTokenKey } from '../../src/cose/keys.ts';
import { MIGRATIONS, openDatabase, openStore } from '../../src/verifier/store.ts';
import { tempDir, vectorsDir } from '../helpers.ts';
import { pgSkip, spawnVerifier, startPostgres, stopAll } from '../postgres.ts';

const V = vectorsDir('attestation');

const skip = pgSkip;
const procs: ChildProcess[] = [];
let url = '';
before(async () => {
  if (skip !== false) return;
  const pg = await startPostgres();
  procs.push(pg.process);
  url = pg.url;
});

// Verifiers first, then PostgreSQL.
after(() => stopAll(procs));

const TOKEN = 'postgres-test-provisioner-0123456789';
let tokenFile: string | undefined;
/** The provisioning token file both verifiers start with. */
function tokens(): string {
  if (tokenFile === undefined) {
    tokenFile = join(tempDir(), 'tokens');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  }
  return tokenFile;
}

function verifier(): Promise<string> {
  return spawnVerifier(['--db', url, '--ear-key', join(V, 'ear/skey.json'), '--auth-tokens', tokens()], procs);
}

test('two verifier processes share one PostgreSQL: a session created on one completes on the other', {
  skip,
  timeout: 120_000,
}, async () => {
  const [a, b] = await Promise.all([verifier(), verifier()]);
  const prov = await fetch(`${a}/endorsement-provisioning/v1/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/rim+cbor; profile="tag:arm.com,2025:psa#1.0.0"', authorization: `Bearer ${TOKEN}` },
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

test('migrations: the same migrations make the same tables and columns on SQLite and PostgreSQL', { skip, timeout: 120_000 }, async () => {
  const admin = await openDatabase(url);
  try {
    await admin.query('CREATE DATABASE sameschema');
    const pg = await openStore(url.replace(/\/postgres$/, '/sameschema'));
    const lite = await openStore(join(tempDir(), 'db'));
    const { rows } = await pg.sql.query<{ t: string; c: string; n: string }>(
      "SELECT table_name AS t, column_name AS c, is_nullable AS n FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    const onPg = rows.map((r) => `${r.t}.${r.c}${r.n === 'NO' ? ' not null' : ''}`);
    const tables = await lite.sql.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    const onLite: string[] = [];
    for (const { name } of tables.rows) {
      const cols = await lite.sql.query<{ name: string; notnull: number; pk: number }>(
        `SELECT name, "notnull", pk FROM pragma_table_info('${name}')`,
      );
      // SQLite's INTEGER PRIMARY KEY (the row id) may be NULL on insert: it is assigned, as BIGSERIAL's is.
      for (const c of cols.rows) onLite.push(`${name}.${c.name}${c.notnull === 1 || c.pk === 1 ? ' not null' : ''}`);
    }
    assert.ok(onPg.length > 10);
    assert.deepEqual(onLite.sort(), onPg.sort());
    await Promise.all([pg.sql.close(), lite.sql.close()]);
  } finally {
    await admin.close();
  }
});

test('migrations: stores opening one new data directory together all come up on one schema (SQLite)', async () => {
  for (let round = 0; round < 5; round++) {
    const dir = join(tempDir(), 'db');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(dir)));
    const { rows } = (await stores[0]?.sql.query<{ n: number }>('SELECT count(*) AS n FROM schema_migration')) ?? { rows: [] };
    assert.equal(Number(rows[0]?.n), MIGRATIONS.length);
    const e = readCorim(new Uint8Array(readFileSync(join(V, 'corim/psa/corim-psa-valid.cbor'))));
    await Promise.all(stores.flatMap((s) => [s.addEndorsements(e), s.addEndorsements(e)]));
    const per = e.anchors.length + e.software.length + e.platformConfigs.length + e.realms.length;
    const count = await stores[1]?.sql.query<{ n: number }>('SELECT count(*) AS n FROM endorsement');
    assert.equal(Number(count?.rows[0]?.n), 8 * per);
    await Promise.all(stores.map((s) => s.sql.close()));
  }
});
