/**
 * Issue 25's verifier reproducers: provisioning accepted endorsements from anyone who reached the
 * port (an attacker's reference values or trust anchor changed verdicts), had no body limit (a
 * 100 MB evidence POST was kept for the session's life) and stored 1,032 copies of one CoRIM
 * (every appraisal slowed from 86 to 295 ms). Each case below failed before.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { verifyEar } from '../../src/attestation/ear.ts';
import { loadTokenKey } from '../../src/cose/keys.ts';
import { createVerifierApp, type VerifierApp } from '../../src/verifier/server.ts';
import { openStore, type SqlStore } from '../../src/verifier/store.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const V = vectorsDir('attestation');
const file = (p: string): Buffer => readFileSync(join(V, p));
const TOKEN = 'the-provisioner-token-ABCDEF0123456789';
const PSA_NONCE = 'QUp8F0FBs9DpodKK8xUg8NQimf6sQAfe2J1ormzZLxk';
const PSA_CORIM = 'application/rim+cbor; profile="tag:arm.com,2025:psa#1.0.0"';
const EAR_KEY = () => loadTokenKey(file('ear/skey.json'));

let store: SqlStore;
let app: VerifierApp;
before(async () => {
  store = await openStore();
  app = createVerifierApp({ store, earKey: EAR_KEY(), provisioning: { tokens: [TOKEN] }, limits: { evidence: 4096, corim: 64 * 1024 } });
});
after(async () => store.sql.close());

const submit = (a: VerifierApp, body: Uint8Array, auth?: string): Promise<Response> =>
  Promise.resolve(
    a.request('/endorsement-provisioning/v1/submit', {
      method: 'POST',
      headers: { 'content-type': PSA_CORIM, ...(auth === undefined ? {} : { authorization: auth }) },
      body,
    }),
  );
const rows = async (): Promise<number> =>
  Number((await store.sql.query<{ n: number | string }>('SELECT count(*) AS n FROM endorsement')).rows[0]?.n);

/** The PSA verdict of the good token in a fresh session. */
async function verdict(a: VerifierApp): Promise<string | undefined> {
  const s = await a.request(`/challenge-response/v1/newSession?nonce=${PSA_NONCE}`, { method: 'POST' });
  const loc = s.headers.get('location') as string;
  const r = await a.request(`/challenge-response/v1/${loc}`, {
    method: 'POST',
    headers: { 'content-type': 'application/psa-attestation-token' },
    body: file('psa/veraison-services/psa.good.cose'),
  });
  const j = (await r.json()) as { result?: string };
  return j.result === undefined ? undefined : verifyEar(j.result, EAR_KEY()).submods.PSA_IOT?.['ear.status'];
}

test('an attacker cannot enrol a device first: a submit without the token, or with another, gets 401 and stores nothing', async () => {
  const before0 = await verdict(app);
  assert.notEqual(before0, 'affirming', 'nothing provisioned yet');
  for (const auth of [
    undefined,
    'Bearer wrong-token-wrong-token-00',
    `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
    `Bearer ${TOKEN}x`,
  ]) {
    const r = await submit(app, file('corim/psa/corim-psa-valid.cbor'), auth);
    assert.equal(r.status, 401, String(auth));
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="endorsement-provisioning"');
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    assert.equal(await rows(), 0, `${auth}: nothing stored`);
  }
  assert.equal(await verdict(app), before0, 'the verdict did not move');
  // The provisioner's token stores it, and the genuine device is affirming.
  const ok = await submit(app, file('corim/psa/corim-psa-valid.cbor'), `Bearer ${TOKEN}`);
  const j = (await ok.json()) as { status: string; count: number; stored: Record<string, number> };
  assert.equal(j.status, 'success');
  assert.ok(j.count > 0 && (j.stored.anchor ?? 0) > 0 && (j.stored.software ?? 0) > 0, JSON.stringify(j));
  assert.equal(await verdict(app), 'affirming');
});

test('a CoRIM submitted again is stored once, and the reply says so', async () => {
  const n = await rows();
  for (let i = 0; i < 5; i++) {
    const r = (await (await submit(app, file('corim/psa/corim-psa-valid.cbor'), `Bearer ${TOKEN}`)).json()) as {
      status: string;
      count: number;
      duplicate?: boolean;
    };
    assert.deepEqual([r.status, r.count, r.duplicate], ['success', 0, true]);
  }
  assert.equal(await rows(), n);
});

test('body limits: evidence and CoRIMs over the limit get 413 before being kept; a verifier without tokens keeps provisioning closed', async () => {
  const s = await app.request('/challenge-response/v1/newSession', { method: 'POST' });
  const loc = s.headers.get('location') as string;
  const big = await app.request(`/challenge-response/v1/${loc}`, {
    method: 'POST',
    headers: { 'content-type': 'application/psa-attestation-token' },
    body: new Uint8Array(4097),
  });
  assert.equal(big.status, 413);
  // The session was not touched: it still waits, holding no evidence.
  const back = (await (await app.request(`/challenge-response/v1/${loc}`)).json()) as { status: string; evidence?: unknown };
  assert.deepEqual([back.status, back.evidence], ['waiting', undefined]);
  assert.equal((await submit(app, new Uint8Array(64 * 1024 + 1), `Bearer ${TOKEN}`)).status, 413);
  const closed = createVerifierApp({ store, earKey: EAR_KEY() });
  const r = await submit(closed, file('corim/psa/corim-psa-valid.cbor'), `Bearer ${TOKEN}`);
  assert.equal(r.status, 401);
  assert.match(((await r.json()) as { detail: string }).detail, /provisioning is closed/);
});

test('rse verifier serve: tokens are checked at start without being echoed; --insecure cannot go with tokens', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'short'), '# provisioners\nabc\n');
  const r = await runCli(['verifier', 'serve', '--auth-tokens', join(dir, 'short'), '--port', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /token 1 must be at least 16 characters/);
  assert.doesNotMatch(r.stderr, /abc/);
  writeFileSync(join(dir, 'ok'), `${TOKEN}\n`);
  const both = await runCli(['verifier', 'serve', '--auth-tokens', join(dir, 'ok'), '--insecure', '--port', '0']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /cannot go with --auth-tokens/);
});
