/** The verifier's HTTP API in process (hono app + embedded PGlite): sessions, provisioning, discovery, errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyEar } from '../../src/attestation/ear.ts';
import { keyFromJwk, loadTokenKey } from '../../src/cose/keys.ts';
import { createVerifierApp, SESSION_MEDIA_TYPE, type VerifierApp } from '../../src/verifier/server.ts';
import { openStore, type SqlStore } from '../../src/verifier/store.ts';
import { vectorsDir } from '../helpers.ts';

const V = vectorsDir('attestation');
const file = (p: string): Buffer => readFileSync(join(V, p));
const PSA_NONCE = 'QUp8F0FBs9DpodKK8xUg8NQimf6sQAfe2J1ormzZLxk';
const CCA_NONCE = 'byTWuWNaLIu_WOkIuU4Ewb-zroDN6-gyQkV4SZ_jF2Hn9eHYvOASGET1Sr36UobaiPU6ZXsVM1yTlrQyklS8XA';
const CCA_MT = 'application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"';

let store: SqlStore;
let app: VerifierApp;
before(async () => {
  store = await openStore();
  app = createVerifierApp({ store, earKey: loadTokenKey(file('ear/skey.json')), provisioning: { tokens: [TOKEN] } });
});
after(async () => store.sql.close());

const TOKEN = 'provisioner-token-0123456789abcdef';
const req = (path: string, init?: RequestInit): Promise<Response> => Promise.resolve(app.request(path, init));
/** A POST; provisioning carries the provisioner's bearer token unless `auth` says otherwise. */
const post = (path: string, type: string, body: Uint8Array | string, auth: string | null = `Bearer ${TOKEN}`): Promise<Response> =>
  req(path, {
    method: 'POST',
    headers: {
      'content-type': type,
      accept: `${SESSION_MEDIA_TYPE}, application/problem+json`,
      ...(auth === null || !path.startsWith('/endorsement-provisioning') ? {} : { authorization: auth }),
    },
    body,
  });

async function earKey() {
  const d = (await (await req('/.well-known/veraison/verification')).json()) as { 'ear-verification-key': object };
  return keyFromJwk(d['ear-verification-key']);
}

describe('verifier HTTP API', () => {
  it('discovery names the EAR key, media types and endpoints', async () => {
    const r = await req('/.well-known/veraison/verification');
    assert.equal(r.status, 200);
    const d = (await r.json()) as Record<string, unknown>;
    assert.equal(d['service-state'], 'READY');
    assert.ok((d['media-types'] as string[]).includes(CCA_MT));
    assert.deepEqual(d['api-endpoints'], { newChallengeResponseSession: '/challenge-response/v1/newSession' });
  });

  it('provisioning: CoRIMs are stored; a broken one fails with its reason; other types get 415', async () => {
    for (const [f, p] of [
      ['corim/psa/corim-psa-valid.cbor', 'tag:arm.com,2025:psa#1.0.0'],
      ['corim/cca/corim-cca-platform-valid.cbor', 'tag:arm.com,2025:cca_platform#1.0.0'],
      ['corim/cca/corim-cca-realm-valid.cbor', 'tag:arm.com,2025:cca_realm#1.0.0'],
    ]) {
      const r = await post('/endorsement-provisioning/v1/submit', `application/rim+cbor; profile="${p}"`, file(f as string));
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { status: string }).status, 'success');
    }
    const bad = await post('/endorsement-provisioning/v1/submit', 'application/rim+cbor', file('corim/psa/corim-psa-bad-ta-cert.cbor'));
    const j = (await bad.json()) as { status: string; 'failure-reason': string };
    assert.equal(j.status, 'failed');
    assert.match(j['failure-reason'], /pkix-base64-cert/);
    assert.equal((await post('/endorsement-provisioning/v1/submit', 'text/plain', 'x')).status, 415);
  });

  it('a PSA session: 201 with Location, evidence → complete with an EAR JWT, GET, DELETE', async () => {
    const r = await post(`/challenge-response/v1/newSession?nonce=${PSA_NONCE}`, 'application/json', '');
    assert.equal(r.status, 201);
    const loc = r.headers.get('location') as string;
    assert.match(loc, /^session\/[0-9a-f-]{36}$/);
    const s = (await r.json()) as { status: string; nonce: string };
    assert.equal(s.status, 'waiting');
    assert.equal(s.nonce, PSA_NONCE);
    const done = await post(
      `/challenge-response/v1/${loc}`,
      'application/psa-attestation-token',
      file('psa/veraison-services/psa.good.cose'),
    );
    assert.equal(done.status, 200);
    const body = (await done.json()) as { status: string; result: string; evidence: { type: string } };
    assert.equal(body.status, 'complete');
    assert.equal(body.evidence.type, 'application/psa-attestation-token');
    const ear = verifyEar(body.result, await earKey());
    assert.equal(ear.submods.PSA_IOT?.['ear.status'], 'affirming');
    assert.equal(ear.eat_nonce, PSA_NONCE);
    assert.equal(((await (await req(`/challenge-response/v1/${loc}`)).json()) as { status: string }).status, 'complete');
    assert.equal(
      (await post(`/challenge-response/v1/${loc}`, 'application/psa-attestation-token', file('psa/veraison-services/psa.good.cose')))
        .status,
      409,
    );
    assert.equal((await req(`/challenge-response/v1/${loc}`, { method: 'DELETE' })).status, 204);
    assert.equal((await req(`/challenge-response/v1/${loc}`)).status, 404);
  });

  it('a CCA session with a 64-byte nonce: platform and realm affirming; a media type with odd spacing is normalised', async () => {
    const r = await post(`/challenge-response/v1/newSession?nonce=${CCA_NONCE}`, 'application/json', '');
    const loc = r.headers.get('location') as string;
    const done = await post(
      `/challenge-response/v1/${loc}`,
      'Application/Eat-Collection ;profile=http://arm.com/CCA-SSD/1.0.0'.replace(
        'http://arm.com/CCA-SSD/1.0.0',
        '"http://arm.com/CCA-SSD/1.0.0"',
      ),
      file('cca/veraison-services/cca-good.cbor'),
    );
    assert.equal(done.status, 200, await done.clone().text());
    const ear = verifyEar(((await done.json()) as { result: string }).result, await earKey());
    assert.equal(ear.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming');
    assert.equal(ear.submods.CCA_REALM?.['ear.status'], 'affirming');
  });

  it('request errors are problem+json with Veraison details', async () => {
    const cases: [Promise<Response>, number, RegExp][] = [
      [post('/challenge-response/v1/newSession?nonceSize=4', 'application/json', ''), 400, /nonceSize must be in range 8\.\.64/],
      [post(`/challenge-response/v1/newSession?nonce=${PSA_NONCE}&nonceSize=32`, 'application/json', ''), 400, /mutually exclusive/],
      [post('/challenge-response/v1/newSession?nonce=AAAA', 'application/json', ''), 400, /between 8 and 64 bytes long; got 3/],
      [req('/challenge-response/v1/newSession', { method: 'POST', headers: { accept: 'text/html' } }), 406, /must accept/],
      [post('/challenge-response/v1/session/not-a-uuid', 'application/psa-attestation-token', 'x'), 400, /invalid session id/],
      [post(`/challenge-response/v1/session/${crypto.randomUUID()}`, 'application/psa-attestation-token', 'x'), 404, /no session/],
      [post(`/challenge-response/v1/session/${crypto.randomUUID()}`, 'application/x-unknown', 'x'), 415, /no active plugin found/],
      [req('/nowhere'), 404, /no route/],
    ];
    for (const [p, status, detail] of cases) {
      const r = await p;
      assert.equal(r.status, status);
      assert.equal(r.headers.get('content-type'), 'application/problem+json');
      assert.match(((await r.json()) as { detail: string }).detail, detail);
    }
    const r = await post('/challenge-response/v1/newSession', 'application/json', '');
    const loc = r.headers.get('location') as string;
    const empty = await post(`/challenge-response/v1/${loc}`, 'application/psa-attestation-token', new Uint8Array(0));
    assert.equal(empty.status, 400);
  });

  it('hostile requests get problem+json or a contraindicated EAR, and the service stays up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom('application/psa-attestation-token', CCA_MT, 'application/rim+cbor', 'x/y; a=', ''),
        fc.string(),
        async (body, type, junk) => {
          const s = await post('/challenge-response/v1/newSession', 'application/json', '');
          const loc = s.headers.get('location') as string;
          for (const path of [
            `/challenge-response/v1/${loc}`,
            '/endorsement-provisioning/v1/submit',
            `/challenge-response/v1/session/${encodeURIComponent(junk)}`,
          ]) {
            const r = await post(path, type, body);
            assert.ok(r.status < 500, `${path} ${type}: ${r.status}`);
            const ct = r.headers.get('content-type') ?? '';
            assert.ok(ct === 'application/problem+json' || ct.startsWith('application/vnd.veraison.'), ct);
          }
        },
      ),
      { numRuns: 60 },
    );
    assert.equal((await req('/.well-known/veraison/verification')).status, 200);
  });
});
