/** `rse token print | verify | create` end to end through the CLI. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { appraise, MemoryStore } from '../../src/attestation/appraise.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const V = vectorsDir('attestation');
const v = (p: string): string => join(V, p);

test('print: claims in JSON with profile and warnings; a non-token exits 1 with one line', async () => {
  const r = await runCli(['token', 'print', '--json', v('cca/tfm-tools/cca_example_token_legacy.cbor')]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { kind: string; warnings: string[]; platform: { claims: Record<string, unknown> } };
  assert.equal(j.kind, 'cca');
  assert.equal(j.platform.claims['cca-platform-profile'], 'http://arm.com/CCA-SSD/1.0.0');
  assert.ok(j.warnings.some((w) => w.includes('deprecated')));
  const bad = await runCli(['token', 'print', v('README.md')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^rse: E_CBOR: .*\n$/);
  assert.equal((await runCli(['token', 'print', v('nope.cbor')])).code, 2);
});

test('verify: good signature 0, binding mismatch 1, wrong key 1, strict refuses an empty protected header', async () => {
  assert.equal(
    (await runCli(['token', 'verify', v('cca/tfm-tools/cca_example_token.cbor'), '-k', v('cca/tfm-tools/cca_platform.pem')])).code,
    0,
  );
  const b = await runCli(['token', 'verify', v('cca/rust-ccatoken/bug-33-repro.cbor'), '-k', v('cca/rust-ccatoken/cpak.json')]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /E_BINDING/);
  assert.equal((await runCli(['token', 'verify', v('psa/rfc9783/psa-sign1.cbor'), '-k', v('psa/veraison-psatoken/public.pem')])).code, 1);
  const t = v('psa/tfm-tools/psa-2_0_0_sign1-token.cbor');
  assert.equal((await runCli(['token', 'verify', t, '-k', v('psa/tfm-tools/key.pem')])).code, 0);
  assert.equal((await runCli(['token', 'verify', '--strict', t, '-k', v('psa/tfm-tools/key.pem')])).code, 1);
  const fresh = await runCli([
    'token',
    'verify',
    v('psa/rfc9783/psa-sign1.cbor'),
    '-k',
    v('psa/rfc9783/tfm-es-iak.pem'),
    '--nonce',
    '02'.repeat(32),
  ]);
  assert.equal(fresh.code, 1);
  assert.match(fresh.stderr, /E_FRESHNESS/);
});

test('verify --corim: Veraison appraisal, EAR as JSON and as a JWT', async () => {
  const r = await runCli([
    'token',
    'verify',
    '--json',
    v('cca/veraison-services/cca-good.cbor'),
    '--corim',
    v('corim/cca/corim-cca-platform-valid.cbor'),
    v('corim/cca/corim-cca-realm-valid.cbor'),
    '--nonce-b64',
    'byTWuWNaLIu/WOkIuU4Ewb+zroDN6+gyQkV4SZ/jF2Hn9eHYvOASGET1Sr36UobaiPU6ZXsVM1yTlrQyklS8XA==',
    '--ear-key',
    v('ear/skey.json'),
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout) as { ear: { submods: Record<string, { 'ear.status': string }> }; jwt: string };
  assert.deepEqual(Object.keys(j.ear.submods).sort(), ['CCA_REALM', 'CCA_SSD_PLATFORM']);
  assert.equal(j.jwt.split('.').length, 3);
  const noRv = await runCli([
    'token',
    'verify',
    v('psa/veraison-services/psa.good.cose'),
    '--corim',
    v('corim/cca/corim-cca-platform-valid.cbor'),
  ]);
  assert.equal(noRv.code, 1);
  assert.match(noRv.stdout, /PSA_IOT: contraindicated[\s\S]*no trust anchor/);
});

test('create: JSON claims signed into PSA and CCA tokens that verify; broken claims need --no-validate', async () => {
  const d = tempDir();
  const psa = join(d, 'psa.cbor');
  const keys = 'veraison-integration/keys';
  let r = await runCli(['token', 'create', v('veraison-integration/claims/psa.good.json'), '-k', v(`${keys}/ec.p256.jwk`), '-o', psa]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await runCli(['token', 'verify', psa, '-k', v(`${keys}/ec.p256.jwk`)])).code, 0);
  const cca = join(d, 'cca.cbor');
  r = await runCli([
    'token',
    'create',
    v('veraison-integration/claims/cca.good.json'),
    '-k',
    v(`${keys}/ec.p256.jwk`),
    '--realm-key',
    v(`${keys}/ec.p384.jwk`),
    '--form',
    '399',
    '-o',
    cca,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(cca).subarray(0, 3).toString('hex'), 'd9018f');
  assert.equal((await runCli(['token', 'verify', cca, '-k', v(`${keys}/ec.p256.jwk`)])).code, 0);
  const broken = join(d, 'broken.cbor');
  r = await runCli([
    'token',
    'create',
    v('veraison-integration/claims/psa.missingclaims.json'),
    '-k',
    v(`${keys}/ec.p256.jwk`),
    '-o',
    broken,
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /E_CLAIMS: psa-client-id: missing mandatory claim/);
  r = await runCli([
    'token',
    'create',
    '--no-validate',
    v('veraison-integration/claims/psa.missingclaims.json'),
    '-k',
    v(`${keys}/ec.p256.jwk`),
    '-o',
    broken,
  ]);
  assert.equal(r.code, 0);
});

test('untagged COSE (issue 26): refused by default as Veraison and iat-verifier do; --allow-untagged reads it with a warning; the verifier refuses it', async () => {
  const dir = tempDir();
  // A tagged PSA Sign1 starts with tag 18 (0xd2): without that byte it is the same message untagged.
  const psa = readFileSync(v('psa/tfm-tools/psa-2_0_0_sign1-token.cbor'));
  assert.equal(psa[0], 0xd2);
  const untagged = join(dir, 'untagged.cbor');
  writeFileSync(untagged, psa.subarray(1));
  const refused = await runCli(['token', 'print', untagged, '--json']);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /invalid COSE_Sign1_Tagged object \(tag 18 missing\); --allow-untagged reads it/);
  const read = await runCli(['token', 'print', untagged, '--allow-untagged', '--json']);
  assert.equal(read.code, 0, read.stdout);
  assert.match(read.stdout, /COSE message without its CBOR tag/);
  const key = v('psa/tfm-tools/key.pem');
  assert.equal((await runCli(['token', 'verify', untagged, '-k', key])).code, 1);
  assert.equal((await runCli(['token', 'verify', untagged, '-k', key, '--allow-untagged'])).code, 0);
  // --strict wins over --allow-untagged: strict reading refuses what verifiers disagree on.
  assert.equal((await runCli(['token', 'verify', untagged, '-k', key, '--allow-untagged', '--strict'])).code, 1);
  // The verifier's appraisal (what a session runs) refuses it before looking for a trust anchor.
  const a = await appraise(new Uint8Array(psa.subarray(1)), new MemoryStore());
  assert.equal(a.ear.submods.PSA_IOT?.['ear.status'], 'contraindicated');
  assert.match(a.problems.join(' '), /COSE_Sign1_Tagged/);
});
