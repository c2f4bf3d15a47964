/**
 * Issue 26: the 2024 CCA profiles. `cca_platform#2.0.0` (draft-ffm-rats-cca-token-03: client id
 * 2394, manufacturing config 2403, extension devices 2404, TBB ROTPKs 2405, peer signers 2406) and
 * `realm#2.0.0` in both of today's readings (TF-M tools / TF-RMM: MEC policy an integer and the
 * realm instance id; Veraison's rust-ccatoken: MEC policy "private" or "shared"). The tokens are
 * built and signed by an independent Python program (Debian's python3-cbor2 and
 * python3-cryptography) from the draft's claim keys; rsekit reads, verifies and names the reading.
 * The virtual RSE emits either platform profile (`rse serve --token-profile`).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decode } from 'cbor2';
import { CCA_PLATFORM_PROFILE } from '../../src/attestation/claims.ts';
import { claimsToJson } from '../../src/attestation/claims-write.ts';
import { decodeEvidence, verifyEvidence } from '../../src/attestation/token.ts';
import { bootDevice } from '../../src/boot/chain.ts';
import { loadTokenKey, tokenKeyOf } from '../../src/cose/keys.ts';
import { DirStore } from '../../src/device/device.ts';
import { Runtime } from '../../src/services/spm.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { rseErrorOf, runCli, tempDir, vectorsDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const skip = oracleSkip('python-cbor2');

/**
 * Builds CCA tokens from a JSON description: `platform` claims (and optionally `realm` claims, then
 * a 907 collection whose platform challenge is SHA-256 of the realm's COSE_Key RAK). Writes the
 * token and the CPAK public key (PEM). Byte values are given as hex strings prefixed "h:".
 */
const BUILD_PY = `
import sys, json, hashlib, cbor2
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes, serialization
spec = json.load(open(sys.argv[1])); out = sys.argv[2]; pem = sys.argv[3]
def v(x):
    if isinstance(x, str) and x.startswith('h:'): return bytes.fromhex(x[2:])
    if isinstance(x, list): return [v(y) for y in x]
    if isinstance(x, dict): return {int(k): v(y) for k, y in x.items()}
    return x
def sign1(key, payload):
    ph = cbor2.dumps({1: -35})
    der = key.sign(cbor2.dumps(['Signature1', ph, b'', payload]), ec.ECDSA(hashes.SHA384()))
    r, s = utils.decode_dss_signature(der)
    return cbor2.dumps(cbor2.CBORTag(18, [ph, {}, payload, r.to_bytes(48, 'big') + s.to_bytes(48, 'big')]))
cpak = ec.generate_private_key(ec.SECP384R1())
open(pem, 'wb').write(cpak.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
platform = v(spec['platform'])
if 'realm' in spec:
    rak = ec.generate_private_key(ec.SECP384R1()); n = rak.public_key().public_numbers()
    cose_key = cbor2.dumps({1: 2, -1: 2, -2: n.x.to_bytes(48, 'big'), -3: n.y.to_bytes(48, 'big')})
    realm = v(spec['realm']); realm[44237] = cose_key
    platform[10] = hashlib.sha256(cose_key).digest()
    tok = cbor2.dumps(cbor2.CBORTag(907, {44234: [263, sign1(cpak, cbor2.dumps(platform))], 44241: [263, sign1(rak, cbor2.dumps(realm))]}))
else:
    tok = sign1(cpak, cbor2.dumps(platform))
open(out, 'wb').write(tok)
`;

const IMPL = `h:${'7f'.repeat(32)}`;
const INST = `h:01${'ab'.repeat(32)}`;
const SW = [{ 1: 'BL2', 2: `h:${'11'.repeat(32)}`, 4: '1.0.0', 5: `h:${'22'.repeat(32)}` }];

function platformV2(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    265: CCA_PLATFORM_PROFILE.V2,
    10: `h:${'00'.repeat(32)}`,
    2396: IMPL,
    256: INST,
    2401: 'h:cfcfcfcf',
    2395: 0x3000,
    2399: SW,
    2402: 'sha-256',
    2394: 1,
    ...extra,
  };
}

function realmV2(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    10: `h:${'5a'.repeat(64)}`,
    265: 'tag:arm.com,2024:realm#2.0.0',
    44235: `h:${'00'.repeat(64)}`,
    44238: `h:${'31'.repeat(32)}`,
    44239: [`h:${'00'.repeat(32)}`, `h:${'00'.repeat(32)}`, `h:${'00'.repeat(32)}`, `h:${'00'.repeat(32)}`],
    44236: 'sha-256',
    44240: 'sha-256',
    ...extra,
  };
}

const dir = tempDir();
let n = 0;
/** Builds a token in Python; returns its path and the CPAK PEM's path. */
function build(spec: Record<string, unknown>): { token: string; pem: string } {
  const i = n++;
  const f = join(dir, `spec-${i}.json`);
  writeFileSync(f, JSON.stringify(spec));
  const token = join(dir, `token-${i}.cbor`);
  const pem = join(dir, `cpak-${i}.pem`);
  execFileSync(oracle('python-cbor2') as string, ['-c', BUILD_PY, f, token, pem]);
  return { token, pem };
}
const bytes = (p: string): Uint8Array => new Uint8Array(readFileSync(p));

test('cca_platform#2.0.0 with every claim of the profile, built by Python: read and verified; the new claims as carried', { skip }, () => {
  const tbb = [{ 1: 'BL1', 2: 0, 3: 1, 4: `h:${'33'.repeat(32)}` }];
  const ext = [
    { 2: `h:${'44'.repeat(48)}`, 3: `h:${'55'.repeat(48)}`, 4: true, 5: 'spdm-1.2.0', 6: `h:${'66'.repeat(48)}`, 7: 'pcie', 1: 'sha-384' },
    { 2: `h:${'77'.repeat(32)}`, 3: `h:${'88'.repeat(32)}`, 4: false, 5: 'vendor', 7: 'cxl-type-3', 8: 1 },
  ];
  const { token, pem } = build({ platform: platformV2({ 2403: 'h:0102', 2404: ext, 2405: tbb, 2406: 'h:99' }) });
  const ev = decodeEvidence(bytes(token), { mode: 'strict' });
  assert.equal(ev.kind, 'cca-platform');
  if (ev.kind !== 'cca-platform') return;
  verifyEvidence(ev, loadTokenKey(bytes(pem)), { mode: 'strict' });
  const c = ev.token.claims;
  assert.equal(c.profile, CCA_PLATFORM_PROFILE.V2);
  assert.equal(c.clientId, 1);
  assert.deepEqual(c.manufacturingConfig, Uint8Array.of(1, 2));
  assert.deepEqual(c.peerSigners, Uint8Array.of(0x99));
  assert.deepEqual(c.tbbRotpk, [{ name: 'BL1', activeArrayIndex: 0, index: 1, hash: new Uint8Array(32).fill(0x33) }]);
  assert.equal(c.extension?.[0]?.protocol, 'spdm-1.2.0');
  assert.deepEqual(c.extension?.[0]?.vcaDigest, new Uint8Array(48).fill(0x66));
  assert.equal(c.extension?.[1]?.encryptionType, 1);
  // Veraison's JSON names, and the JSON read back to the same claims.
  const json = claimsToJson(c);
  assert.equal(json['cca-platform-client-id'], 1);
  assert.deepEqual((json['cca-platform-tbb-rotpk'] as Record<string, unknown>[])[0]?.name, 'BL1');
  // Another key does not verify it.
  assert.equal(rseErrorOf(() => verifyEvidence(ev, loadTokenKey(bytes(build({ platform: platformV2() }).pem))))?.code, 'E_SIGNATURE');
});

test('cca_platform#2.0.0 rules: client id required and 1; items whole; VCA and encryption type by protocol and device type; v2 claims not in v1', {
  skip,
}, () => {
  const ext = { 2: `h:${'44'.repeat(32)}`, 3: `h:${'55'.repeat(32)}`, 4: true, 7: 'pcie' };
  const noClient = platformV2();
  delete noClient[2394];
  for (const [platform, why] of [
    [noClient, /cca-platform-client-id: missing mandatory claim/],
    [platformV2({ 2394: 2 }), /cca-platform-client-id: must be 1, not 2/],
    [platformV2({ 2405: [{ 1: 'BL1', 2: 0, 3: 1 }] }), /tbb-rotpk\[0\]: missing hash/],
    [platformV2({ 2405: [{ 1: 'BL1', 2: 0, 3: 1, 4: 'h:33' }] }), /tbb-rotpk\[0\]\.hash: length 1/],
    [platformV2({ 2405: [] }), /at least one item/],
    [platformV2({ 2404: [{ ...ext, 5: 'spdm-1.3.0' }] }), /vca-digest: required for protocol spdm-1.3.0/],
    [platformV2({ 2404: [{ ...ext, 5: 'vendor', 6: `h:${'66'.repeat(32)}` }] }), /vca-digest: not expected for protocol vendor/],
    [platformV2({ 2404: [{ ...ext, 5: 'vendor', 7: 'cxl-type-3' }] }), /encryption-type: required for device-type cxl-type-3/],
    [platformV2({ 2404: [{ ...ext, 5: 'vendor', 9: 1 }] }), /unknown key 9/],
    [platformV2({ 2403: 'h:' }), /manufacturing-config: must not be empty/],
    [platformV2({ 256: `h:02${'ab'.repeat(32)}` }), /RAND=0x01/],
    [{ ...platformV2({ 2403: 'h:01' }), 265: CCA_PLATFORM_PROFILE.CURRENT }, /not in profile tag:arm.com,2023:cca_platform#1.0.0/],
  ] as const) {
    const e = rseErrorOf(() => decodeEvidence(bytes(build({ platform }).token), { mode: 'strict' }));
    assert.equal(e?.code, 'E_CLAIMS', String(why));
    assert.match(e?.message ?? '', why);
  }
  // Lenient mode reads a v1 token carrying a v2 claim with a warning, as v1 verifiers ignore it.
  const lenient = decodeEvidence(bytes(build({ platform: { ...platformV2({ 2403: 'h:01' }), 265: CCA_PLATFORM_PROFILE.CURRENT } }).token));
  assert.ok(lenient.warnings.some((w) => /manufacturing-config: not a claim of/.test(w)));
});

test("realm#2.0.0 in Veraison's reading (MEC policy text, no instance id) and TF-M tools' (integer, instance id): each named; neither refused", {
  skip,
}, async () => {
  const veraison = build({ platform: platformV2(), realm: realmV2({ 44243: 'private' }) });
  const ev = decodeEvidence(bytes(veraison.token), { mode: 'strict' });
  assert.equal(ev.kind, 'cca');
  if (ev.kind !== 'cca') return;
  verifyEvidence(ev, loadTokenKey(bytes(veraison.pem)), { mode: 'strict' });
  assert.equal(ev.realm.claims.readings?.veraison, true);
  assert.match(String(ev.realm.claims.readings?.['tf-m-tools']), /MEC policy must be the integer 0 or 1, not "private"/);
  assert.equal(ev.warnings.length, 0, ev.warnings.join('; '));
  // TF-M tools' example token (TF-RMM's output): the other reading.
  const tfm = decodeEvidence(bytes(join(vectorsDir('attestation'), 'cca/tfm-tools/cca_example_token.cbor')));
  assert.equal(tfm.kind === 'cca' && tfm.realm.claims.readings?.['tf-m-tools'], true);
  assert.match(String(tfm.kind === 'cca' && tfm.realm.claims.readings?.veraison), /must be "private" or "shared", not 1/);
  // Both readings at once: integer policy with an instance id is TF-M tools'; text without is Veraison's.
  const tfmBuilt = decodeEvidence(bytes(build({ platform: platformV2(), realm: realmV2({ 44243: 1, 256: INST }) }).token));
  assert.equal(tfmBuilt.kind === 'cca' && tfmBuilt.realm.claims.readings?.['tf-m-tools'], true);
  // An integer policy without the instance id, or a bogus text: no reading holds.
  for (const [extra, why] of [
    [{ 44243: 1 }, /realm instance id \(256\) is missing.*"private" or "shared", not 1/],
    [{ 44243: 'bogus' }, /satisfies no reading of realm#2\.0\.0/],
    [{}, /MEC policy must be the integer 0 or 1 \(missing\)/],
  ] as const) {
    const e = rseErrorOf(() => decodeEvidence(bytes(build({ platform: platformV2(), realm: realmV2(extra) }).token)));
    assert.equal(e?.code, 'E_CLAIMS');
    assert.match(e?.message ?? '', why);
  }
  // rse token verify names the reading the token satisfies.
  const r = await runCli(['token', 'verify', veraison.token, '-k', veraison.pem]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /platform tag:arm\.com,2024:cca_platform#2\.0\.0 ES384, realm tag:arm\.com,2024:realm#2\.0\.0 ES384, binding ok/);
  assert.match(r.stdout, /as Veraison's rust-ccatoken reads it: satisfied/);
  assert.match(r.stdout, /as TF-M tools' iat-verifier \(TF-RMM's form\) reads it: not satisfied/);
  const j = await runCli(['token', 'verify', veraison.token, '-k', veraison.pem, '--json']);
  assert.equal((JSON.parse(j.stdout) as { realm: { readings: { veraison: boolean } } }).realm.readings.veraison, true);
});

test('the virtual RSE emits cca_platform#2.0.0 when asked (client id 1), #1.0.0 by default; both verify with the CPAK', () => {
  const fx = exampleFixture('rse-2.1');
  const dev = deviceOf(fx);
  const boot = bootDevice(dev);
  assert.equal(boot.ok, true);
  for (const [tokenProfile, want] of [
    [undefined, undefined],
    [CCA_PLATFORM_PROFILE.V2, 1],
  ] as const) {
    const rt = new Runtime(dev, boot.measurements, tokenProfile === undefined ? {} : { tokenProfile });
    const tok = rt.attest.token(new Uint8Array(32).fill(7)) as Uint8Array;
    const ev = decodeEvidence(tok, { mode: 'strict' });
    assert.equal(ev.kind, 'cca-platform');
    if (ev.kind !== 'cca-platform') return;
    assert.equal(ev.token.claims.clientId, want);
    if (tokenProfile !== undefined) assert.equal(ev.token.claims.profile, tokenProfile);
    const payload = decode(ev.token.cose.payload) as Map<number, unknown>;
    assert.equal(payload.get(2394), want);
    verifyEvidence(ev, tokenKeyOf(rt.attest.p.iak));
  }
});

test('rse serve --token-profile cca_platform#2.0.0: rse call attest gets a v2 token that rse token verify takes with the device CPAK', async () => {
  const fx = exampleFixture('rse-2.1');
  const root = tempDir();
  const dev = join(root, 'dev');
  mkdirSync(dev, { recursive: true });
  const store = new DirStore(dev);
  for (const [name, b] of fx.store.files) store.write(name, b);
  const env = { ...process.env, RSE_SOCKET: join(root, 'rse.sock') };
  const RSE = new URL('../../dist/rse.cjs', import.meta.url).pathname;
  const rse = (args: string[]) => spawnSync(process.execPath, [RSE, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  const started = rse(['serve', dev, '--daemon', '--token-profile', 'cca_platform#2.0.0', '--json']);
  assert.equal(started.status, 0, started.stdout + started.stderr);
  try {
    const tok = join(root, 'token.cbor');
    const got = rse(['call', 'attest', '-o', tok]);
    assert.equal(got.status, 0, got.stderr);
    const ev = decodeEvidence(bytes(tok), { mode: 'strict' });
    assert.equal(ev.kind === 'cca-platform' && ev.token.claims.profile, CCA_PLATFORM_PROFILE.V2);
    assert.equal(ev.kind === 'cca-platform' && ev.token.claims.clientId, 1);
    const bad = rse(['serve', join(root, 'nodev'), '--token-profile', 'cca_platform#9.0.0']);
    assert.equal(bad.status, 2);
  } finally {
    rse(['call', 'control', 'shutdown']);
  }
});
