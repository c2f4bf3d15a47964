/**
 * Issue 26: nobody needs curl. `rse endorse --submit` provisions a verifier over HTTP, `rse attest
 * --verifier` runs the relying party's round trip (session nonce → the served RSE's token over
 * that nonce → EAR), against `rse verifier serve` on a real port and the virtual RSE on a socket.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { verifyEar } from '../../src/attestation/ear.ts';
import { RseServer } from '../../src/comms/server.ts';
import { loadTokenKey, publicPem } from '../../src/cose/keys.ts';
import { exportPrivatePem, generateKey } from '../../src/crypto/index.ts';
import { createVerifierApp, serveVerifier } from '../../src/verifier/server.ts';
import { openStore, type SqlStore } from '../../src/verifier/store.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir } from '../helpers.ts';

const TOKEN = 'relying-party-provisioning-token';
const dir = tempDir();
let store: SqlStore;
let verifier: { port: number; close: () => Promise<void> };
let rse: RseServer;
let socket: string;
let url: string;
const earPem = join(dir, 'ear.pem');
const earPub = join(dir, 'ear.pub.pem');

before(async () => {
  writeFileSync(earPem, exportPrivatePem(generateKey('ecdsa-p256')));
  const earKey = loadTokenKey(readFileSync(earPem));
  writeFileSync(earPub, publicPem(earKey));
  store = await openStore();
  verifier = await serveVerifier(createVerifierApp({ store, earKey, provisioning: { tokens: [TOKEN] } }), 0);
  url = `http://127.0.0.1:${verifier.port}`;
  rse = new RseServer(deviceOf(exampleFixture('rse-2.1')));
  assert.ok(rse.boot().ok);
  socket = join(dir, 'rse.sock');
  await rse.listen({ path: socket });
});

after(async () => {
  await rse.close();
  await verifier.close();
  await store.sql.close();
});

test('rse attest before provisioning: no trust anchor, exit 1; rse endorse --submit needs the bearer token; then affirming, exit 0', async () => {
  const fx = exampleFixture('rse-2.1');
  const before = await runCli(['attest', '--verifier', url, '--socket', socket, '--json']);
  assert.equal(before.code, 1, before.stdout + before.stderr);
  const b = JSON.parse(before.stdout) as { ear: { submods: Record<string, Record<string, unknown>> } };
  assert.match(JSON.stringify(b.ear.submods), /no trust anchor for evidence/);

  const devDir = join(dir, 'device');
  mkdirSync(devDir);
  for (const [name, bytes] of fx.store.files) writeFileSync(join(devDir, name), bytes);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(fx.build.manifest));
  writeFileSync(join(dir, 'token.txt'), `# provisioning\n${TOKEN}\n`);
  const denied = await runCli(['endorse', join(dir, 'manifest.json'), devDir, '--submit', url, '--json']);
  assert.equal(denied.code, 2, denied.stdout);
  const e = JSON.parse(denied.stdout) as { error: { code: string; message: string } };
  assert.equal(e.error.code, 'E_VERIFIER');
  assert.match(e.error.message, /^submit: 401 Unauthorized: provisioning needs a valid bearer token/);
  const sub = await runCli(['endorse', join(dir, 'manifest.json'), devDir, '--submit', url, '--auth-token', join(dir, 'token.txt')]);
  assert.equal(sub.code, 0, sub.stdout + sub.stderr);
  assert.match(sub.stdout, /submitted to .* as application\/rim\+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0": success/);
  assert.doesNotMatch(sub.stdout + sub.stderr, new RegExp(TOKEN));

  const ear = join(dir, 'ear.jwt');
  const ok = await runCli([
    'attest',
    '--verifier',
    url,
    '--socket',
    socket,
    '--ear-key',
    earPub,
    '-o',
    ear,
    '--evidence',
    join(dir, 'ev.cbor'),
  ]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^session http:\/\/127\.0\.0\.1:\d+\/challenge-response\/v1\/session\/[0-9a-f-]{36}: nonce [0-9a-f]{64}$/m);
  assert.match(ok.stdout, /eat_profile="tag:arm.com,2023:cca_platform#1.0.0"/);
  assert.match(ok.stdout, /^CCA_SSD_PLATFORM: affirming \(/m);
  // The EAR written is the verifier's, over the token the RSE signed with the session's nonce.
  const claims = verifyEar(readFileSync(ear, 'utf8').trim(), loadTokenKey(readFileSync(earPem)));
  assert.equal(claims.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming');
  assert.ok(readFileSync(join(dir, 'ev.cbor')).length > 100);
  // Without --ear-key: the key the verifier publishes.
  const disc = await runCli(['attest', '--verifier', url, '--socket', socket, '--nonce-size', '64', '--json']);
  assert.equal(disc.code, 0, disc.stdout);
  assert.equal((JSON.parse(disc.stdout) as { earKey: string }).earKey, 'the verifier (discovery)');
  // Another EAR key: the EAR does not verify (exit 1); a nonce an RSE cannot sign, or no verifier: exit 2.
  const other = join(dir, 'other.pem');
  writeFileSync(other, publicPem(loadTokenKey(new TextEncoder().encode(exportPrivatePem(generateKey('ecdsa-p256'))))));
  const forged = await runCli(['attest', '--verifier', url, '--socket', socket, '--ear-key', other, '--json']);
  assert.equal(forged.code, 1);
  assert.equal((JSON.parse(forged.stdout) as { error: { code: string } }).error.code, 'E_SIGNATURE');
  assert.equal((await runCli(['attest', '--verifier', url, '--socket', socket, '--nonce-size', '40'])).code, 2);
  const gone = await runCli(['attest', '--verifier', 'http://127.0.0.1:9', '--socket', socket, '--json']);
  assert.equal(gone.code, 2);
  assert.match((JSON.parse(gone.stdout) as { error: { message: string } }).error.message, /cannot be reached/);
  // Every session was deleted after its round trip.
  const { rows } = await store.sql.query<{ n: number }>('SELECT CAST(count(*) AS INT) AS n FROM session');
  assert.equal(rows[0]?.n, 0);
});
