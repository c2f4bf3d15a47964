/**
 * Acceptance 2 of the verifier issue: a token from our device, fetched over the socket, is
 * affirming against the reference values `rse endorse` derives from its own build; a build with any
 * one image changed, or an older version of one, makes exactly that component fail.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { appraise, MemoryStore } from '../../src/attestation/appraise.ts';
import { CORIM_PROFILE, readCorim } from '../../src/attestation/corim.ts';
import { encodeCorim } from '../../src/attestation/corim-write.ts';
import { TRUST } from '../../src/attestation/ear.ts';
import { RseClient } from '../../src/comms/client.ts';
import { RseServer } from '../../src/comms/server.ts';
import { Device, MemoryStore as StoreOfDevice } from '../../src/device/device.ts';
import { endorse, readManifest, referenceComponents } from '../../src/endorse/endorse.ts';
import { deviceFacts } from '../../src/endorse/identity.ts';
import type { BuildResult } from '../../src/flash/images.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { toHex } from '../../src/lib/hex.ts';
import { PSA } from '../../src/services/psa.ts';
import {
  buildExample,
  type Description,
  deviceOf,
  type ExampleFixture,
  exampleFixture,
  exampleValues,
  provision23,
} from '../boot/examples.ts';
import { rseErrorOf, runCli, tempDir, vectorsDir } from '../helpers.ts';
import { CHALLENGE, tokenOverSocket } from './socket-token.ts';

/** The reference values of `build` for the fixture's device, through the CoRIM bytes. */
function storeFor(fx: ExampleFixture, build: BuildResult): MemoryStore {
  const e = endorse(build.manifest, deviceFacts(deviceOf(fx)));
  return new MemoryStore().add(readCorim(e.corim));
}

async function appraised(fx: ExampleFixture, store: MemoryStore, build?: BuildResult) {
  const token = await tokenOverSocket(deviceOf(fx, build?.hostFlash));
  return appraise(token, store, { nonce: CHALLENGE, compareSignerId: true });
}

/** Rebuilds the example with one image changed. */
function rebuilt(fx: ExampleFixture, image: string, change: (img: Record<string, unknown>) => void): BuildResult {
  return buildExample(fx, (d: Description) => {
    const img = d.images.find((i) => i.name === image);
    assert.ok(img, image);
    change(img);
  });
}

/** A copy of an image's payload with one byte changed, as a new input file. */
function changedPayload(fx: ExampleFixture, img: Record<string, unknown>): void {
  const input = String(img.input);
  const bytes = new Uint8Array(readFileSync(join(fx.dir, input)));
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0x20;
  const name = `${input.replace(/\W/g, '_')}.changed`;
  writeFileSync(join(fx.dir, name), bytes);
  img.input = name;
}

for (const example of ['rse-2.1', 'rss-1.7'] as const) {
  test(`${example}: the device's token over the socket is affirming against rse endorse of its own build`, async () => {
    const fx = exampleFixture(example);
    const store = storeFor(fx, fx.build);
    const a = await appraised(fx, store);
    const sub = a.ear.submods.CCA_SSD_PLATFORM;
    assert.ok(sub, JSON.stringify(a.ear));
    assert.deepEqual(a.problems, []);
    assert.equal(sub['ear.status'], 'affirming');
    assert.equal(sub['ear.trustworthiness-vector'].executables, TRUST.AFFIRMING);
    assert.equal(sub['ear.trustworthiness-vector'].configuration, TRUST.AFFIRMING);
    assert.equal(sub['ear.trustworthiness-vector']['instance-identity'], TRUST.AFFIRMING);
    // Every component of the token has its reference, and nothing else is referenced.
    const ev = a.evidence;
    assert.ok(ev?.kind === 'cca-platform');
    const comps = ev.token.claims.swComponents;
    const refs = referenceComponents(fx.build.manifest, deviceFacts(deviceOf(fx)));
    assert.deepEqual(comps.map((c) => toHex(c.measurementValue)).sort(), refs.map((r) => toHex(r.value)).sort());
    assert.equal(comps.length, example === 'rse-2.1' ? 6 : 4);
  });
}

test('rse-2.1: changing any one image makes that component, and only it, fail', async () => {
  const fx = exampleFixture('rse-2.1');
  const store = storeFor(fx, fx.build);
  const cases = [
    ['bl2', 'BL2'],
    ['tfm_s', 'RT_0'],
    ['tfm_ns', 'RT_1'],
    ['ap_bl1', 'RT_2'],
    ['scp_bl1', ''],
  ] as const;
  for (const [image, type] of cases) {
    const b = rebuilt(fx, image, (img) => changedPayload(fx, img));
    const a = await appraised(fx, store, b);
    const sub = a.ear.submods.CCA_SSD_PLATFORM;
    assert.ok(sub);
    assert.equal(sub['ear.trustworthiness-vector'].executables, TRUST.UNRECOGNIZED_RUNTIME, image);
    assert.equal(sub['ear.status'], 'warning', image);
    assert.equal(a.problems.length, 1, `${image}: ${a.problems.join('; ')}`);
    assert.match(
      a.problems[0] as string,
      new RegExp(`^component \\d \\(${type || 'unnamed'}\\): measurement [0-9a-f]{64} matches no reference value$`),
    );
    // The changed build's own reference values accept it again.
    const own = await appraised(fx, storeFor(fx, b), b);
    assert.equal(own.ear.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming', image);
  }
});

test('rse-2.1: booting an older version of an image fails that component (version and digest)', async () => {
  const fx = exampleFixture('rse-2.1');
  const store = storeFor(fx, fx.build);
  // The same AP BL1 payload at 0.0.0 (same security counter, so the device still boots it).
  const older = rebuilt(fx, 'ap_bl1', (img) => {
    img.version = '0.0.0';
  });
  const a = await appraised(fx, store, older);
  const sub = a.ear.submods.CCA_SSD_PLATFORM;
  assert.ok(sub);
  assert.equal(sub['ear.trustworthiness-vector'].executables, TRUST.UNRECOGNIZED_RUNTIME);
  assert.deepEqual(a.problems.length, 1, a.problems.join('; '));
  assert.match(a.problems[0] as string, /^component 4 \(RT_2\): measurement [0-9a-f]{64} matches no reference value$/);
  // With the older build's digests but the current build's versions, the version check names it.
  const refsOld = endorse(older.manifest, deviceFacts(deviceOf(fx)));
  const mixed = new MemoryStore().add({
    ...refsOld.endorsements,
    software: refsOld.endorsements.software.map((s) => (s.name === 'RT_2' ? { ...s, version: '0.0.1+0' } : s)),
  });
  const m = await appraised(fx, mixed, older);
  assert.deepEqual(m.problems, ['component 4 (RT_2): version 0.0.0+0 != reference 0.0.1+0']);
});

test('rse endorse: the CLI writes the CoRIM that rse token verify appraises; bad manifests are typed errors', async () => {
  const fx = exampleFixture('rse-2.1');
  const dir = tempDir();
  const devDir = join(dir, 'device');
  mkdirSync(devDir);
  for (const [name, bytes] of fx.store.files) writeFileSync(join(devDir, name), bytes);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(fx.build.manifest));
  const token = await tokenOverSocket(deviceOf(fx));
  writeFileSync(join(dir, 'token.cbor'), token);
  const before = readFileSync(join(devDir, 'otp.bin'));
  const e = await runCli(['endorse', join(dir, 'manifest.json'), devDir, '-o', join(dir, 'corim.cbor'), '--json']);
  assert.equal(e.code, 0, e.stderr);
  const j = JSON.parse(e.stdout) as { components: { slot: number; type: string }[]; instanceId: string };
  assert.deepEqual(
    j.components.map((c) => `${c.slot}:${c.type}`),
    ['0:BL1_2', '1:BL2', '2:RT_0', '3:RT_1', '4:RT_2', '5:'],
  );
  assert.deepEqual(readFileSync(join(devDir, 'otp.bin')), before, 'the device directory is not touched');
  const v = await runCli(['token', 'verify', join(dir, 'token.cbor'), '--corim', join(dir, 'corim.cbor'), '--nonce', toHex(CHALLENGE)]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /CCA_SSD_PLATFORM: affirming/);

  // A manifest from another platform, one without the image BL2 loads, and one that is not JSON.
  const rss = exampleFixture('rss-1.7');
  writeFileSync(join(dir, 'rss.json'), JSON.stringify(rss.build.manifest));
  const other = await runCli(['endorse', join(dir, 'rss.json'), devDir]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /^rse: E_MANIFEST: the manifest is a rss-1.7 build, the device is rse-2.1/);
  const m = structuredClone(fx.build.manifest) as { fip: { entries: { image?: string }[] } };
  for (const en of m.fip.entries) if (en.image === 'scp_bl1') delete en.image;
  writeFileSync(join(dir, 'partial.json'), JSON.stringify(m));
  const partial = await runCli(['endorse', join(dir, 'partial.json'), devDir]);
  assert.equal(partial.code, 2);
  assert.match(partial.stderr, /E_MANIFEST: BL2 loads image 3 \(SCP BL1\) from the FIP entry BFD5098D-A707-4F15-891C-372210CB51E2/);
  writeFileSync(join(dir, 'bad.json'), '{"platform": ');
  assert.equal((await runCli(['endorse', join(dir, 'bad.json'), devDir])).code, 2);
  // An unprovisioned device has no identity to endorse.
  const blank = join(dir, 'blank');
  assert.equal((await runCli(['device', 'create', blank])).code, 0);
  const b = await runCli(['endorse', join(dir, 'manifest.json'), blank]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /E_DEVICE: .* does not boot to BL1_2/);
});

test('readManifest: any JSON gives a manifest or a typed E_MANIFEST error', async () => {
  const fc = await import('fast-check');
  const fx = exampleFixture('rse-2.1');
  const base = fx.build.manifest;
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom('platform', 'images', 'fip', 'hostFlash'), (junk, key) => {
      for (const m of [junk, { ...base, [key]: junk }]) {
        try {
          readManifest(m);
        } catch (e) {
          assert.ok(isRseError(e) && e.code === 'E_MANIFEST', String(e));
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("encodeCorim: Veraison's valid PSA and CCA platform CoRIMs re-encode to the same endorsements", () => {
  const V = vectorsDir('attestation');
  for (const file of ['corim/psa/corim-psa-valid.cbor', 'corim/cca/corim-cca-platform-valid.cbor']) {
    const e = readCorim(new Uint8Array(readFileSync(join(V, file))));
    assert.ok(e.profile !== CORIM_PROFILE.CCA_REALM);
    const again = readCorim(encodeCorim({ id: 'x', ...e, profile: e.profile }));
    const strip = (x: typeof e) => ({ ...x, anchors: x.anchors.map(({ key: _k, ...a }) => a) });
    assert.deepEqual(strip(again), strip(e), file);
    assert.ok(e.software.length > 0 && e.anchors.length > 0, file);
  }
});

test('rse endorse refuses the rse-2.3 example by name: TF-M 2.3.1 reports a 4-byte implementation id, and CCA reference values need 32', () => {
  const fx = exampleFixture('rse-2.3');
  const e = rseErrorOf(() => endorse(fx.build.manifest, deviceFacts(deviceOf(fx))));
  assert.equal(e?.code, 'E_UNSUPPORTED');
  assert.match(e?.message ?? '', /4-byte implementation id \(babadcac\)/);
});

test('an rse-2.3 device whose attestation HAL gives a 32-byte implementation id: its token over SFCP is affirming, on the binding boot and on the tag boot', async () => {
  const fx = exampleFixture('rse-2.3');
  const store = new StoreOfDevice();
  const implementationId = new Uint8Array(32).map((_, i) => 0xa0 + i);
  const { r } = provision23(fx.dir, store, exampleValues(fx), { implementationId });
  assert.equal(r.ok, true);
  store.write('flash.bin', fx.build.hostFlash as Uint8Array);
  const e = endorse(fx.build.manifest, deviceFacts(Device.open(store.clone())));
  const refs = new MemoryStore().add(readCorim(e.corim));
  for (const boot of ['first (signatures, binding)', 'second (binding tags)']) {
    const server = new RseServer(Device.open(store));
    const report = server.boot();
    assert.ok(report.ok, `${boot}: ${report.halt?.reason}`);
    assert.equal(report.placed[0]?.authenticatedBy, boot.startsWith('first') ? 'signature' : 'binding-tag');
    const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
    const client = await RseClient.connect({ path }, { sfcp: { receiver: 0 } });
    try {
      const t = await client.attestationToken(CHALLENGE);
      assert.equal(t.status, PSA.SUCCESS);
      const a = await appraise(t.outVecs[0] as Uint8Array, refs, { nonce: CHALLENGE, compareSignerId: true });
      assert.equal(a.ear.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming', `${boot}: ${JSON.stringify(a.ear)}`);
      // TF-M 2.3.1's platform config claim: { 1: 16 DCU-enable bytes }.
      assert.ok(toHex(t.outVecs[0] as Uint8Array).includes(`190961${'53'}a10150${'00'.repeat(16)}`));
    } finally {
      client.close();
      await server.close();
    }
  }
});

test('rse device create --implementation-id: 32 bytes, and only for a profile whose HAL gives it', async () => {
  const dir = tempDir();
  const short = await runCli(['device', 'create', join(dir, 'a'), '--profile', 'rse-2.3', '--implementation-id', 'acdcabba', '--json']);
  assert.equal(short.code, 2);
  assert.match(short.stdout + short.stderr, /32 bytes/);
  const v21 = await runCli(['device', 'create', join(dir, 'b'), '--profile', 'rse-2.1', '--implementation-id', 'ab'.repeat(32), '--json']);
  assert.equal(v21.code, 2);
  assert.match(v21.stdout + v21.stderr, /reads the implementation id from OTP/);
  const ok = await runCli(['device', 'create', join(dir, 'c'), '--profile', 'rse-2.3', '--implementation-id', 'ab'.repeat(32)]);
  assert.equal(ok.code, 0, ok.stderr);
  const json = JSON.parse(readFileSync(join(dir, 'c', 'device.json'), 'utf8'));
  assert.deepEqual(json.attestHal, { implementationId: 'ab'.repeat(32) });
  // A hand-edited device.json with a short id is refused on open.
  writeFileSync(join(dir, 'c', 'device.json'), JSON.stringify({ ...json, attestHal: { implementationId: 'acdcabba' } }));
  const bad = await runCli(['otp', 'show', join(dir, 'c'), '--json']);
  assert.equal(bad.code, 2);
  assert.match(bad.stdout + bad.stderr, /attestHal\.implementationId must be 64/);
});
