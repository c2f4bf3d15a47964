/**
 * Issue 26, acceptance 1: Veraison's own integration tests for PSA and CCA, replayed against
 * `rse verifier serve` (a real process on a port). The requests and the responses they assert are
 * data (`veraison-replay.json`, from the tavern files); the artefacts are built as Veraison's
 * generators build them (CoRIMs from the cocli templates, evidence from the evcli claim sets with
 * the session's or the common nonce), and each EAR is checked as its checker does, with its key.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCorimTemplates } from '../../src/attestation/corim.ts';
import { signCorim } from '../../src/attestation/corim-sign.ts';
import { encodeCorim } from '../../src/attestation/corim-write.ts';
import { createToken } from '../../src/attestation/create.ts';
import { verifyEar } from '../../src/attestation/ear.ts';
import { loadTokenKey, type TokenKey } from '../../src/cose/keys.ts';
import { tempDir, vectorsDir } from '../helpers.ts';
import { pgSkip, spawnVerifier, startPostgres, stopAll } from '../postgres.ts';

const V = vectorsDir('attestation');
const VI = join(V, 'veraison-integration');
const TOKEN = 'veraison-replay-provisioner-0123456789';

interface Stage {
  readonly name: string;
  readonly request: {
    readonly method: string;
    readonly path: string;
    readonly headers?: Record<string, string>;
    readonly body?:
      | { readonly corim: { readonly template: string; readonly comids: readonly string[]; readonly sign?: boolean } }
      | {
          readonly evidence: {
            readonly scheme: 'psa' | 'cca';
            readonly claims: string;
            readonly keys: readonly string[];
            readonly nonce: string;
          };
        };
  };
  readonly response: {
    readonly status: number;
    readonly json?: Record<string, unknown>;
    readonly save?: Record<string, string>;
    readonly ear?: {
      readonly expected: string;
      readonly 'session-nonce': boolean;
      readonly compare?: 'status-and-vector';
      readonly why?: string;
    };
  };
}
interface Replay {
  readonly variables: Record<string, string>;
  readonly cases: readonly { readonly name: string; readonly from: string; readonly stages: readonly Stage[] }[];
}

const replay = JSON.parse(readFileSync(new URL('./veraison-replay.json', import.meta.url), 'utf8')) as Replay;
const json = (p: string): Record<string, unknown> => JSON.parse(readFileSync(join(VI, p), 'utf8')) as Record<string, unknown>;
const key = (name: string): TokenKey => loadTokenKey(readFileSync(join(VI, 'keys', `${name}.jwk`)));
/** evcli's claim JSON takes padded standard base64; session nonces are base64url (as generators.py translates). */
const std = (b64: string): string => {
  const t = b64.replaceAll('-', '+').replaceAll('_', '/');
  return t + '='.repeat((4 - (t.length % 4)) % 4);
};

const procs: ChildProcess[] = [];
/** The embedded store in memory: one verifier process. */
let embedded: string[] = [];
/** The embedded store in one data directory: two verifier processes sharing its SQLite file. */
let sharedDir: string[] = [];
/** PostgreSQL: two verifier processes sharing it; the replay alternates its requests between them. */
let shared: string[] = [];
const corimSigner = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

function verifier(tokens: string, db?: string): Promise<string> {
  return spawnVerifier(['--ear-key', join(V, 'ear/skey.json'), '--auth-tokens', tokens, ...(db === undefined ? [] : ['--db', db])], procs);
}

before(async () => {
  const dir = tempDir();
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, `${TOKEN}\n`, { mode: 0o600 });
  embedded = [await verifier(tokens)];
  sharedDir = [await verifier(tokens, join(dir, 'db')), await verifier(tokens, join(dir, 'db'))];
  if (pgSkip !== false) return;
  const pg = await startPostgres();
  procs.push(pg.process);
  shared = [await verifier(tokens, pg.url), await verifier(tokens, pg.url)];
});
// Verifiers first, then PostgreSQL.
after(() => stopAll(procs));

/** The CoRIM generators.py compiles from the cocli templates (signed with a test key when asked, its meta as Veraison's). */
function corimBody(c: { template: string; comids: readonly string[]; sign?: boolean }): Uint8Array {
  const e = readCorimTemplates(
    json(`endorsements/${c.template}.json`),
    c.comids.map((x) => json(`endorsements/${x}.json`)),
  );
  const unsigned = encodeCorim({
    id: c.template,
    profile: e.profile,
    anchors: e.anchors,
    software: e.software,
    platformConfigs: e.platformConfigs,
    realms: e.realms,
  });
  if (c.sign !== true) return unsigned;
  const now = new Date();
  return signCorim(
    unsigned,
    { kind: 'ec', crv: 'P-256', privateKey: corimSigner.privateKey, publicKey: corimSigner.publicKey },
    { signer: 'veraison-services-test', notBefore: now, notAfter: new Date(now.getTime() + 20 * 365 * 86400_000) },
  );
}

function evidenceBody(
  e: { scheme: 'psa' | 'cca'; claims: string; keys: readonly string[]; nonce: string },
  vars: Record<string, string>,
): Uint8Array {
  const claims = json(`claims/${e.claims}.json`);
  if (e.nonce === 'none') return createToken(claims, key(e.keys[0] as string), { validate: false });
  const nonce = std(e.nonce === 'server-nonce' ? (vars['server-nonce'] as string) : (replay.variables[`${e.nonce}-value`] as string));
  if (e.scheme === 'psa') claims['psa-nonce'] = nonce;
  else (claims['cca-realm-delegated-token'] as Record<string, unknown>)['cca-realm-challenge'] = nonce;
  return createToken(claims, key(e.keys[0] as string), {
    validate: false,
    ...(e.keys[1] === undefined ? {} : { realmKey: key(e.keys[1]) }),
  });
}

/** checkers.compare_to_expected_result: status, policy id, every trust claim, annotated evidence and policy claims. */
function compareEar(jwt: string, expectedFile: string, sessionNonce: string | undefined, statusAndVector = false): void {
  const ear = verifyEar(jwt, loadTokenKey(readFileSync(join(VI, 'keys/verifier.jwk'))));
  const expected = json(`results/${expectedFile}.json`) as Record<string, Record<string, unknown>>;
  if (sessionNonce !== undefined) {
    // generate_expected_result_from_response: the session's nonce in the annotated evidence.
    const sub = expected.PSA_IOT ?? expected.CCA_REALM;
    const ae = sub?.['ear.veraison.annotated-evidence'] as Record<string, unknown> | undefined;
    if (ae !== undefined) ae[expected.PSA_IOT !== undefined ? 'psa-nonce' : 'cca-realm-challenge'] = std(sessionNonce);
  }
  for (const [name, want] of Object.entries(expected)) {
    const got = ear.submods[name] as unknown as Record<string, unknown> | undefined;
    assert.ok(got, `submod "${name}" missing in attestation result`);
    assert.equal(got['ear.status'], want['ear.status'], `${name} status`);
    if (statusAndVector) {
      assert.deepEqual(got['ear.trustworthiness-vector'], want['ear.trustworthiness-vector'], `${name} trust vector`);
      continue;
    }
    if ('ear.appraisal-policy-id' in want) assert.equal(got['ear.appraisal-policy-id'], want['ear.appraisal-policy-id']);
    const tv = want['ear.trustworthiness-vector'] as Record<string, number>;
    for (const [claim, v] of Object.entries(got['ear.trustworthiness-vector'] as Record<string, number>))
      assert.equal(v, tv[claim], `mismatch for claim "${claim}", for ${name}`);
    if ('ear.veraison.annotated-evidence' in want)
      assert.deepEqual(got['ear.veraison.annotated-evidence'], want['ear.veraison.annotated-evidence'], `${name} annotated evidence`);
    if ('ear.veraison.policy-claims' in want)
      assert.deepEqual(got['ear.veraison.policy-claims'], want['ear.veraison.policy-claims'], `${name} policy claims`);
  }
}

const fill = (s: string, vars: Record<string, string>): string =>
  s.replace(/\{([a-z0-9-]+)\}/g, (m, k: string) => vars[k] ?? replay.variables[k]?.replace('{token}', TOKEN) ?? m);

async function runCase(c: Replay['cases'][number], bases: readonly string[]): Promise<void> {
  const vars: Record<string, string> = {};
  let n = 0;
  for (const s of c.stages) {
    const base = bases[n++ % bases.length] as string;
    const headers = Object.fromEntries(Object.entries(s.request.headers ?? {}).map(([k, v]) => [k, fill(v, vars)]));
    const b = s.request.body;
    const body = b === undefined ? undefined : 'corim' in b ? corimBody(b.corim) : evidenceBody(b.evidence, vars);
    // The session Location is relative to /challenge-response/v1/, as tavern joins it.
    const r = await fetch(`${base}${fill(s.request.path, vars)}`, {
      method: s.request.method,
      headers,
      ...(body === undefined ? {} : { body: Buffer.from(body) }),
    });
    const text = await r.text();
    assert.equal(r.status, s.response.status, `${s.name}: ${text}`);
    const parsed = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
    if (s.response.json !== undefined)
      for (const [k, v] of Object.entries(s.response.json)) assert.deepEqual(parsed?.[k], v, `${s.name}: ${k}`);
    for (const [v, from] of Object.entries(s.response.save ?? {}))
      vars[v] = from.startsWith('header:') ? (r.headers.get(from.slice(7)) ?? '') : String(parsed?.[from.slice(5)] ?? '');
    if (s.response.ear !== undefined)
      compareEar(
        parsed?.result as string,
        s.response.ear.expected,
        s.response.ear['session-nonce'] ? vars['server-nonce'] : undefined,
        s.response.ear.compare === 'status-and-vector',
      );
  }
}

describe("Veraison's integration tests, replayed against rse verifier serve (embedded store)", () => {
  for (const c of replay.cases) it(`${c.name} (${c.from})`, () => runCase(c, embedded));
});

describe('the same replay against two rse verifier serve processes sharing one data directory (SQLite), requests alternating', () => {
  for (const c of replay.cases) it(`${c.name} (${c.from})`, () => runCase(c, sharedDir));
});

describe('the same replay against two rse verifier serve processes sharing PostgreSQL, requests alternating', { skip: pgSkip }, () => {
  for (const c of replay.cases) it(`${c.name} (${c.from})`, () => runCase(c, shared));
});
