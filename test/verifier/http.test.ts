/** The verifier's HTTP API in process (hono app + embedded SQLite): sessions, provisioning, discovery, errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decode, encode } from 'cbor2';
import fc from 'fast-check';
import { verifyEar } from '../../src/attestation/ear.ts';
import { keyFromJwk, loadTokenKey } from '../../src/cose/keys.ts';
import { createVerifierApp, PROVISIONING_MEDIA_TYPE, SESSION_MEDIA_TYPE, type VerifierApp } from '../../src/verifier/server.ts';
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
      accept: `${path.startsWith('/endorsement-provisioning') ? PROVISIONING_MEDIA_TYPE : SESSION_MEDIA_TYPE}, application/problem+json`,
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

  it('provisioning: CoRIMs are stored; a broken one fails with its reason; other types, or no profile, get 415', async () => {
    for (const [f, p] of [
      ['corim/psa/corim-psa-valid.cbor', 'tag:arm.com,2025:psa#1.0.0'],
      ['corim/cca/corim-cca-platform-valid.cbor', 'tag:arm.com,2025:cca_platform#1.0.0'],
      ['corim/cca/corim-cca-realm-valid.cbor', 'tag:arm.com,2025:cca_realm#1.0.0'],
    ]) {
      const r = await post('/endorsement-provisioning/v1/submit', `application/rim+cbor; profile="${p}"`, file(f as string));
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { status: string }).status, 'success');
    }
    const psa = 'application/rim+cbor; profile="tag:arm.com,2025:psa#1.0.0"';
    const bad = await post('/endorsement-provisioning/v1/submit', psa, file('corim/psa/corim-psa-bad-ta-cert.cbor'));
    const j = (await bad.json()) as { status: string; 'failure-reason': string };
    assert.equal(j.status, 'failed');
    assert.match(j['failure-reason'], /^submit endorsement returned error: .*pkix-base64-cert/);
    // The media type's profile is the CoRIM's: another is refused, not silently applied.
    const other = await post('/endorsement-provisioning/v1/submit', psa, file('corim/cca/corim-cca-platform-valid.cbor'));
    assert.match(
      ((await other.json()) as { 'failure-reason': string })['failure-reason'],
      /profile .*cca_platform.* is not the media type's/,
    );
    for (const t of ['text/plain', 'application/rim+cbor', 'application/rim+cbor; profile="tag:example.com,2026:x"']) {
      const r = await post('/endorsement-provisioning/v1/submit', t, 'x');
      assert.equal(r.status, 415, t);
      assert.match(r.headers.get('accept') ?? '', /application\/rim\+cose; profile="tag:arm.com,2025:psa#1.0.0"/);
    }
    const missing = await req('/endorsement-provisioning/v1/submit', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: new Uint8Array(1),
    });
    assert.equal(missing.status, 400);
    const empty = await post('/endorsement-provisioning/v1/submit', psa, new Uint8Array(0));
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { detail: string }).detail, 'empty body');
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
    assert.ok(r.headers.get('expires'), 'Expires on the session');
    // A second POST is appraised again, as Veraison does.
    assert.equal(
      (await post(`/challenge-response/v1/${loc}`, 'application/psa-attestation-token', file('psa/veraison-services/psa.good.cose')))
        .status,
      200,
    );
    assert.equal((await req(`/challenge-response/v1/${loc}`, { method: 'DELETE' })).status, 204);
    assert.equal((await req(`/challenge-response/v1/${loc}`)).status, 404);
    assert.equal((await req(`/challenge-response/v1/${loc}`, { method: 'DELETE' })).status, 204, 'DELETE of a session not there: 204');
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

  it('CMW records (CBOR and JSON) are unwrapped to their media type; a bare platform token is not a collection; provisioning discovery', async () => {
    const cca = file('cca/veraison-services/cca-good.cbor');
    const session = async (): Promise<string> =>
      (await post(`/challenge-response/v1/newSession?nonce=${CCA_NONCE}`, 'application/json', '')).headers.get('location') as string;
    const submit = async (type: string, body: Uint8Array | string) => {
      const r = await post(`/challenge-response/v1/${await session()}`, type, body);
      return { status: r.status, body: (await r.json()) as { result?: string; detail?: string; evidence?: { type: string } } };
    };
    for (const [type, body] of [
      ['application/cmw+cbor', encode([CCA_MT, new Uint8Array(cca)])],
      ['application/vnd.veraison.cmw+json', JSON.stringify([CCA_MT, cca.toString('base64url')])],
    ] as const) {
      const r = await submit(type, body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.evidence?.type, CCA_MT, 'the session records the inner media type');
      const ear = verifyEar(r.body.result as string, await earKey());
      assert.equal(ear.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming', type);
    }
    const broken = await submit('application/cmw+cbor', encode({ notARecord: 1 }).subarray(0, 3));
    assert.equal(broken.status, 400);
    assert.match(broken.body.detail ?? '', /^could not unwrap the CMW/);
    // The platform token alone, under the collection's media type: not identified.
    const collection = decode(cca) as { contents: Map<number, [number, Uint8Array]> };
    const platform = collection.contents.get(44234)?.[1] as Uint8Array;
    const bare = await submit(CCA_MT, platform);
    assert.equal(bare.status, 200);
    const ear = verifyEar(bare.body.result as string, await earKey());
    assert.match(JSON.stringify(ear.submods), /could not establish identity from evidence/);
    const d = await req('/.well-known/veraison/provisioning');
    assert.equal(d.status, 200);
    const j = (await d.json()) as { 'media-types': string[]; 'api-endpoints': Record<string, string> };
    assert.ok(j['media-types'].includes('application/rim+cose; profile="tag:arm.com,2025:cca_platform#1.0.0"'));
    assert.deepEqual(j['api-endpoints'], { provisioningSubmit: '/endorsement-provisioning/v1/submit' });
  });

  it('request errors are problem+json with Veraison details', async () => {
    const cases: [Promise<Response>, number, RegExp][] = [
      [post('/challenge-response/v1/newSession?nonceSize=4', 'application/json', ''), 400, /nonceSize must be in range 8\.\.64/],
      [post(`/challenge-response/v1/newSession?nonce=${PSA_NONCE}&nonceSize=32`, 'application/json', ''), 400, /mutually exclusive/],
      [post('/challenge-response/v1/newSession?nonce=AAAA', 'application/json', ''), 400, /between 8 and 64 bytes long; got 3/],
      [
        post('/challenge-response/v1/newSession?nonce=%5E%5E%5E%5E', 'application/json', ''),
        400,
        /^failed handling nonce request: nonce must be valid base64$/,
      ],
      [
        req('/challenge-response/v1/newSession', { method: 'POST', headers: { accept: 'text/html' } }),
        406,
        /^the only supported output format is/,
      ],
      [
        req(`/challenge-response/v1/session/${crypto.randomUUID()}`, { headers: { accept: 'text/html' } }),
        406,
        /^the only supported output format is/,
      ],
      [req('/.well-known/veraison/provisioning', { headers: { accept: 'text/html' } }), 406, /^the only supported output format is/],
      [
        post('/challenge-response/v1/session/1234', 'application/psa-attestation-token', 'x'),
        400,
        /^invalid session id \(\/challenge-response\/v1\/session\/1234\) in path segment: invalid UUID length: 4$/,
      ],
      [post(`/challenge-response/v1/session/${crypto.randomUUID()}`, 'application/psa-attestation-token', 'x'), 404, /^session not found$/],
      [post(`/challenge-response/v1/session/${crypto.randomUUID()}`, 'x y', 'x'), 400, /^could not check media type with verifier/],
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
    assert.equal(((await empty.json()) as { detail: string }).detail, 'unable to read evidence from the request body');
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
