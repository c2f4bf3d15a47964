/**
 * Issue 26: CoSERV endorsement distribution on `rse verifier serve`'s API. Queries are built here
 * from draft-ietf-rats-coserv's CDDL keys; answers are read by an independent Python reader
 * (Debian's python3-cbor2, the draft's keys and tags spelled out) and compared with what the
 * provisioned CoRIMs hold; a signed answer is verified by Python's cryptography with the key the
 * discovery document publishes; malformed and unsupported queries get CBOR problem details.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decode, encode, Tag } from 'cbor2';
import fc from 'fast-check';
import { readCorim } from '../../src/attestation/corim.ts';
import { loadTokenKey, type TokenKey } from '../../src/cose/keys.ts';
import { createVerifierApp, type VerifierApp } from '../../src/verifier/server.ts';
import { openStore, type SqlStore } from '../../src/verifier/store.ts';
import { CDDL_PY } from '../attestation/cddl-py.ts';
import { tempDir, vectorsDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const V = vectorsDir('attestation');
const file = (p: string): Buffer => readFileSync(join(V, p));
const TOKEN = 'coserv-provisioner-0123456789abcdef';
const PSA = 'tag:arm.com,2025:psa#1.0.0';
const CCA = 'tag:arm.com,2025:cca_platform#1.0.0';
const REALM = 'tag:arm.com,2025:cca_realm#1.0.0';
const CORIMS: readonly [string, string][] = [
  ['corim/psa/corim-psa-valid.cbor', PSA],
  ['corim/cca/corim-cca-platform-valid.cbor', CCA],
  ['corim/cca/corim-cca-realm-valid.cbor', REALM],
];

/** draft-ietf-rats-coserv's CDDL for an answer (query echoed, result set), as a strict reader. */
const READER = `${CDDL_PY}
import json
def quad(q, where):
    keys(q, [1, 2], where)
    need(isinstance(q[1], list) and q[1], where + '.authorities')
    for k in q[1]: crypto_key(k, where + '.authority')
    need(isinstance(q[2], list) and len(q[2]) == 2, where + '.triple')
    environment(q[2][0], where + '.environment')
    return q[2]
def coserv(v):
    if isinstance(v, T) and v.tag == 18:
        ph = cbor2.loads(v.value[0]); need(ph.get(3) == 'application/coserv+cbor', 'content type')
        v = cbor2.loads(v.value[2])
    keys(v, [0, 1, 2], 'coserv'); tstr(v[0], 'profile')
    q = v[1]; keys(q, [0, 1, 2], 'query')
    need(q[0] in (0, 1, 2) and q[2] in (0, 1, 2), 'artifact and result types')
    keys(q[1], [0, 1, 2], 'environment-selector'); need(len(q[1]) == 1, 'one selector kind')
    r = v[2]; keys(r, [0, 1, 2, 3, 4, 5, 10, 11], 'result-set')
    # tdate (tag 0, RFC 3339): cbor2 gives a datetime (the caller checks the tag in the bytes)
    need(isinstance(r[10], datetime.datetime) and r[10].tzinfo is not None, 'expiry: a tdate')
    out = {'expiry': r[10].isoformat(), 'rv': [], 'ak': []}
    for i, x in enumerate(r.get(0, [])):
        env, ms = quad(x, 'rvq[%d]' % i)
        need(isinstance(ms, list) and ms, 'measurements')
        for m in ms: measurement(m, 'rvq[%d].measurement' % i)
        out['rv'].append({'class': env[0][0].value.hex(), 'measurements': [
            {'key': m.get(0), 'digests': [[d[0], d[1].hex()] for d in m[1].get(2, [])]} for m in ms]})
    for i, x in enumerate(r.get(3, [])):
        env, ks = quad(x, 'akq[%d]' % i)
        for k in ks: crypto_key(k, 'akq[%d].key' % i)
        out['ak'].append({'class': env[0][0].value.hex(), 'instance': env[1].value.hex(), 'key': ks[0].value})
    return out
print(json.dumps(coserv(cbor2.loads(open(sys.argv[1], 'rb').read()))))
`;

/** Verifies a COSE_Sign1 (ES256) with a PEM public key, in Python's cryptography. */
const VERIFY_PY = `
import sys, cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
m = cbor2.loads(open(sys.argv[1], 'rb').read()); assert m.tag == 18
ph, _, payload, sig = m.value
key = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
tbs = cbor2.dumps(['Signature1', ph, b'', payload])
key.verify(utils.encode_dss_signature(int.from_bytes(sig[:32], 'big'), int.from_bytes(sig[32:], 'big')), tbs, ec.ECDSA(hashes.SHA256()))
print('verified')
`;

const skip = oracleSkip('python-cbor2');
const py = (script: string, ...args: string[]): string =>
  execFileSync(oracle('python-cbor2') as string, ['-c', script, ...args], { encoding: 'utf8' });

interface Read {
  expiry: string;
  rv: { class: string; measurements: { key: string; digests: [number, string][] }[] }[];
  ak: { class: string; instance: string; key: string }[];
}
const dir = tempDir();
let n = 0;
function readAnswer(body: ArrayBuffer): Read {
  const f = join(dir, `answer-${n++}.cbor`);
  writeFileSync(f, Buffer.from(body));
  // The expiry: 10 => tag 0 around a 20-character RFC 3339 text.
  assert.ok(Buffer.from(body).includes(Buffer.from([0x0a, 0xc0, 0x74])), 'expiry as tag 0 (tdate)');
  return JSON.parse(py(READER, f)) as Read;
}

/** A query: profile, artifact type, one selector kind with its entries, result type (the draft's keys). */
function query(profile: unknown, artifact: number, kind: 0 | 1 | 2, entries: unknown[], result = 0): string {
  const q = new Map<number, unknown>([
    [0, artifact],
    [1, new Map([[kind, entries.map((e) => [e])]])],
    [2, result],
  ]);
  return Buffer.from(
    encode(
      new Map<number, unknown>([
        [0, profile],
        [1, q],
      ]),
    ),
  ).toString('base64url');
}
const classSel = (id: Uint8Array, tag = 560): Map<number, unknown> => new Map([[0, new Tag(tag, id)]]);

let store: SqlStore;
let app: VerifierApp;
let signed: VerifierApp;
let coservKey: TokenKey;
let kpPublic: KeyObject;
const pubPem = join(dir, 'coserv-pub.pem');
before(async () => {
  store = await openStore();
  const ear = loadTokenKey(file('ear/skey.json'));
  const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(pubPem, kp.publicKey.export({ type: 'spki', format: 'pem' }));
  coservKey = { kind: 'ec', crv: 'P-256', privateKey: kp.privateKey, publicKey: kp.publicKey };
  kpPublic = kp.publicKey;
  app = createVerifierApp({ store, earKey: ear, provisioning: { tokens: [TOKEN] }, coserv: { maxAgeSeconds: 600 } });
  signed = createVerifierApp({ store, earKey: ear, provisioning: { tokens: [TOKEN] }, coserv: { key: coservKey } });
  for (const [f, p] of CORIMS) {
    const r = await app.request('/endorsement-provisioning/v1/submit', {
      method: 'POST',
      headers: { 'content-type': `application/rim+cbor; profile="${p}"`, authorization: `Bearer ${TOKEN}` },
      body: file(f),
    });
    assert.equal(r.status, 200, await r.text());
  }
});
after(async () => store.sql.close());

const get = (a: VerifierApp, q: string, accept = 'application/coserv+cbor'): Promise<Response> =>
  Promise.resolve(a.request(`/endorsement-distribution/v1/coserv/${q}`, { headers: { accept } }));

async function problemOf(r: Response): Promise<{ title: string; detail: string }> {
  assert.equal(r.headers.get('content-type'), 'application/concise-problem-details+cbor');
  const m = decode(new Uint8Array(await r.arrayBuffer())) as Map<number, string>;
  return { title: m.get(-1) as string, detail: m.get(-2) as string };
}

describe('CoSERV', { skip }, () => {
  it('reference values for a PSA class: the software components provisioned, read by the independent reader', async () => {
    const e = readCorim(file(CORIMS[0]?.[0] as string));
    const impl = e.software[0]?.implementationId as Uint8Array;
    // A PSA implementation id as the profile tags it (600), and as tagged bytes (560): the same class.
    for (const tag of [600, 560]) {
      const r = await get(app, query(PSA, 2, 0, [classSel(impl, tag)]));
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), `application/coserv+cbor; profile="${PSA}"`);
      assert.equal(r.headers.get('cache-control'), 'max-age=600');
      const got = readAnswer(await r.arrayBuffer());
      assert.equal(got.ak.length, 0);
      assert.equal(got.rv.length, 1);
      const want = e.software.filter((s) => Buffer.from(s.implementationId).equals(impl));
      assert.deepEqual(
        got.rv[0]?.measurements.map((m) => m.digests),
        want.map((s) => s.digests.map((d) => [d.alg, Buffer.from(d.value).toString('hex')])),
      );
      assert.ok(Math.abs(Date.parse(got.expiry) - Date.now() - 600_000) < 5_000);
    }
  });

  it('trust anchors by instance and by class; CCA platform reference values carry the platform config; realms by RIM', async () => {
    const psa = readCorim(file(CORIMS[0]?.[0] as string));
    const a = psa.anchors[0];
    assert.ok(a !== undefined);
    const byInstance = readAnswer(await (await get(app, query(PSA, 1, 1, [new Tag(550, a.instanceId)]))).arrayBuffer());
    assert.equal(byInstance.ak.length, 1);
    assert.equal(byInstance.ak[0]?.instance, Buffer.from(a.instanceId).toString('hex'));
    assert.equal(byInstance.ak[0]?.key.trim(), a.keyPem.trim());
    const byClass = readAnswer(await (await get(app, query(PSA, 1, 0, [classSel(a.implementationId, 600)]))).arrayBuffer());
    assert.equal(byClass.ak.length, psa.anchors.filter((x) => Buffer.from(x.implementationId).equals(a.implementationId)).length);
    const cca = readCorim(file(CORIMS[1]?.[0] as string));
    const impl = cca.platformConfigs[0]?.implementationId as Uint8Array;
    const rv = readAnswer(await (await get(app, query(CCA, 2, 0, [classSel(impl)]))).arrayBuffer());
    assert.ok(rv.rv[0]?.measurements.some((m) => m.key === 'cca.platform-config'));
    const realm = readCorim(file(CORIMS[2]?.[0] as string)).realms[0];
    assert.ok(realm !== undefined);
    const rr = readAnswer(await (await get(app, query(REALM, 2, 0, [classSel(realm.rim)]))).arrayBuffer());
    assert.equal(rr.rv.length, 1);
    assert.equal(rr.rv[0]?.measurements[0]?.key, 'cca.rim');
    // The same class under another profile selects nothing: the profile is part of the query.
    const other = readAnswer(
      await (await get(app, query(CCA, 2, 0, [classSel(psa.software[0]?.implementationId as Uint8Array, 600)]))).arrayBuffer(),
    );
    assert.deepEqual([other.rv.length, other.ak.length], [0, 0]);
    // Unknown class, endorsed values, groups: a result set with its expiry and nothing else.
    for (const q of [
      query(PSA, 2, 0, [classSel(new Uint8Array(32))]),
      query(PSA, 0, 0, [classSel(a.implementationId, 600)]),
      query(PSA, 1, 2, [new Tag(560, a.instanceId)]),
    ]) {
      const g = readAnswer(await (await get(app, q)).arrayBuffer());
      assert.deepEqual([g.rv.length, g.ak.length], [0, 0]);
    }
  });

  it('application/coserv+cose: signed with the key discovery publishes, verified by Python; without a key, 406', async () => {
    const a = readCorim(file(CORIMS[0]?.[0] as string)).anchors[0];
    assert.ok(a !== undefined);
    const q = query(PSA, 1, 1, [new Tag(550, a.instanceId)]);
    const r = await get(signed, q, 'application/coserv+cose');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), `application/coserv+cose; profile="${PSA}"`);
    const body = await r.arrayBuffer();
    const f = join(dir, 'signed.cbor');
    writeFileSync(f, Buffer.from(body));
    assert.equal(py(VERIFY_PY, f, pubPem).trim(), 'verified');
    assert.equal(readAnswer(body).ak.length, 1);
    // Another key does not verify it (the check can fail).
    const other = join(dir, 'other.pem');
    writeFileSync(other, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }));
    assert.throws(() => py(VERIFY_PY, f, other));
    const d = (await (await signed.request('/.well-known/coserv-configuration')).json()) as {
      'result-verification-key': { x: string; alg: string }[];
      capabilities: { 'media-type': string }[];
    };
    assert.equal(d['result-verification-key'][0]?.alg, 'ES256');
    assert.equal(d['result-verification-key'][0]?.x, (kpPublic.export({ format: 'jwk' }) as { x: string }).x);
    assert.ok(d.capabilities.some((c) => c['media-type'] === `application/coserv+cose; profile="${PSA}"`));
    const unsignedOnly = await get(app, q, 'application/coserv+cose');
    assert.equal(unsignedOnly.status, 406);
    assert.match((await problemOf(unsignedOnly)).detail, /no CoSERV signing key/);
  });

  it('discovery: capabilities per profile, the query endpoint, cache headers; other formats 406', async () => {
    const r = await app.request('/.well-known/coserv-configuration');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/coserv-discovery+json');
    assert.equal(r.headers.get('cache-control'), 'max-age=600');
    const d = (await r.json()) as Record<string, unknown>;
    assert.deepEqual(d['api-endpoints'], { CoSERVRequestResponse: '/endorsement-distribution/v1/coserv/{query}' });
    assert.deepEqual(
      (d.capabilities as { 'media-type': string; 'artifact-support': string[] }[]).map((c) => c['media-type']),
      [PSA, CCA, REALM].map((p) => `application/coserv+cbor; profile="${p}"`),
    );
    assert.equal('result-verification-key' in d, false);
    const no = await app.request('/.well-known/coserv-configuration', { headers: { accept: 'text/plain' } });
    assert.equal(no.status, 406);
    assert.equal((await problemOf(no)).title, 'Not Acceptable');
  });

  it('malformed or unsupported queries: 400 with a CBOR problem naming the reason; a wrong Accept 406', async () => {
    const impl = readCorim(file(CORIMS[0]?.[0] as string)).software[0]?.implementationId as Uint8Array;
    const rim = Buffer.from(
      encode(
        new Map<number, unknown>([
          [0, PSA],
          [1, new Map([[3, [[0, 'tag-id']]]])],
        ]),
      ),
    ).toString('base64url');
    const withMeasurements = Buffer.from(
      encode(
        new Map<number, unknown>([
          [0, PSA],
          [
            1,
            new Map<number, unknown>([
              [0, 2],
              [1, new Map([[0, [[classSel(impl), [new Map()]]]]])],
              [2, 0],
            ]),
          ],
        ]),
      ),
    ).toString('base64url');
    for (const [q, why] of [
      ['!!!', /base64/],
      [Buffer.from([0xff]).toString('base64url'), /CBOR/],
      [query('tag:example.com,2025:cc-platform#1.0.0', 2, 0, [classSel(impl)]), /not served/],
      [query(PSA, 2, 0, [classSel(impl)], 1), /source artifacts/],
      [query(PSA, 7, 0, [classSel(impl)]), /artifact-type/],
      [
        query(PSA, 2, 0, [
          new Map<number, unknown>([
            [0, new Tag(560, impl)],
            [1, 'ACME'],
          ]),
        ]),
        /vendor, model/,
      ],
      [query(PSA, 2, 0, []), /non-empty/],
      [rim, /RIM selectors are not supported/],
      [withMeasurements, /measurements in CoSERV queries are not supported/],
    ] as const) {
      const r = await get(app, q);
      assert.equal(r.status, 400, `${q}`);
      const p = await problemOf(r);
      assert.equal(p.title, 'Bad Request');
      assert.match(p.detail, why);
    }
    const r = await get(app, query(PSA, 2, 0, [classSel(impl)]), 'application/json');
    assert.equal(r.status, 406);
    assert.match((await problemOf(r)).detail, /application\/coserv\+cbor/);
  });

  it('property: any mutation of a valid query is answered 200 or 400, never a crash', async () => {
    const impl = readCorim(file(CORIMS[0]?.[0] as string)).software[0]?.implementationId as Uint8Array;
    const base = Buffer.from(query(PSA, 2, 0, [classSel(impl, 600)]), 'base64url');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        async (edits, cut) => {
          const b = Buffer.from(base);
          for (const [at, v] of edits) b[at % b.length] = v;
          const q = b.subarray(0, b.length - (cut % 3)).toString('base64url');
          const r = await get(app, q);
          assert.ok(r.status === 200 || r.status === 400, `status ${r.status}`);
          if (r.status === 400) assert.equal(r.headers.get('content-type'), 'application/concise-problem-details+cbor');
        },
      ),
      { numRuns: 300 },
    );
  });
});
