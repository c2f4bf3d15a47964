/**
 * The package as a library user sees it: only the public exports, loaded through the package's own
 * name (`rsekit/...`, the `exports` map over the built `dist/`), never `src/`. Signs and verifies
 * an image, builds a FIP, builds the example platform, provisions and boots a device to the
 * runtime, fetches a token over the socket with RseClient and verifies it. Needs `npm run build`
 * first (CI builds before testing).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { flipBits, tempDir } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the package is built (npm run build) so its exports resolve', () => {
  for (const sub of ['index', 'mcuboot/index', 'fip/index', 'boot/index', 'comms/index', 'attestation/index'])
    assert.ok(existsSync(join(ROOT, 'dist/src', `${sub}.js`)), `dist/src/${sub}.js is missing: run npm run build`);
});

test('sign and verify an image, and a tampered copy is refused, through rsekit/mcuboot', async () => {
  const { generateKey, imageFileParts, parseImage, parseVersion, signImageFile, verifyImage, TLV } = await import('rsekit/mcuboot');
  const key = generateKey('ecdsa-p256');
  const payload = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
  const signed = signImageFile(
    { data: payload },
    {
      key,
      publicKeyFormat: 'full',
      version: parseVersion('1.2.3+4'),
      headerSize: 0x2000,
      padHeader: true,
      slotSize: 0x80000,
      pad: true,
      loadAddr: 0x70000000,
    },
  );
  const bytes = new Uint8Array(Buffer.concat(imageFileParts(signed)));
  assert.equal(bytes.length, 0x80000);
  const report = verifyImage(bytes, { key });
  assert.equal(report.keyTlv, 'PUBKEY');
  assert.deepEqual(report.version, { major: 1, minor: 2, revision: 3, build: 4 });
  assert.ok(parseImage(bytes).unprotectedArea.entries.some((e) => e.type === TLV.ECDSASIG));
  const tampered = bytes.slice();
  flipBits(tampered, 0x2000 + 10, 1);
  assert.throws(
    () => verifyImage(tampered, { key }),
    (e: unknown) => (e as { code?: string }).code === 'E_BAD_HASH',
  );
});

test('build a FIP and read it back through rsekit/fip', async () => {
  const { fipBytes, fipEntryUuid, fipUuidToString, packFip, parseFip } = await import('rsekit/fip');
  const bl2 = new Uint8Array(3000).fill(0x42);
  const s = new Uint8Array(5000).fill(0x53);
  const fip = fipBytes(
    packFip(
      [
        { uuid: fipEntryUuid('rse-bl2'), data: bl2 },
        { uuid: fipEntryUuid('rse-s'), data: s },
      ],
      { align: 8192 },
    ),
  );
  const entries = parseFip(fip).entries;
  assert.deepEqual(
    entries.map((e) => [fipUuidToString(e.uuid), e.size]),
    [
      [fipUuidToString(fipEntryUuid('rse-bl2')), 3000],
      [fipUuidToString(fipEntryUuid('rse-s')), 5000],
    ],
  );
  for (const e of entries) assert.equal(e.offset % 8192, 0);
});

test('build the example, provision and boot a device, fetch a token over the socket and verify it', async () => {
  const { buildFlash, fileBuildIo } = await import('rsekit/flash');
  const { bootDevice, createDevice, provisionFromValues } = await import('rsekit/boot');
  const { Device, MemoryStore } = await import('rsekit/device');
  const { RseClient, RseServer, PSA } = await import('rsekit/comms');
  const {
    appraise,
    decodeEvidence,
    ecKeyFromPoint,
    MemoryStore: Endorsements,
    readCorim,
    verifyEvidence,
  } = await import('rsekit/attestation');
  const { deviceFacts, endorse } = await import('rsekit/endorse');

  // A private copy of the examples: signing BL2 uses up a leaf of the stateful LMS key.
  const examples = join(tempDir(), 'examples');
  cpSync(join(ROOT, 'examples'), examples, { recursive: true });
  const dir = join(examples, 'rse-2.1');
  const build = buildFlash(parse(readFileSync(join(dir, 'platform.yaml'), 'utf8')), fileBuildIo(dir));
  assert.ok(build.hostFlash !== undefined);

  const store = new MemoryStore();
  const dev = createDevice(store, { profile: 'rse-2.1' });
  const values = parse(readFileSync(join(dir, 'provisioning.yaml'), 'utf8')) as unknown;
  assert.equal(provisionFromValues(dev, values, (p) => new Uint8Array(readFileSync(join(dir, p)))).ok, true);
  store.write('flash.bin', build.hostFlash);
  const facts = deviceFacts(Device.open(store.clone()));
  const boot = bootDevice(Device.open(store.clone()));
  assert.equal(boot.ok, true, boot.halt?.reason);
  assert.deepEqual(boot.placed.map((p) => p.index).sort(), [0, 1, 2, 3]);

  const server = new RseServer(Device.open(store));
  assert.equal(server.boot().ok, true);
  const path = await server.listen({ path: join(tempDir(), 'rse.sock') });
  const challenge = new Uint8Array(48).map((_, i) => i);
  let token: Uint8Array;
  const client = await RseClient.connect({ path });
  try {
    const r = await client.attestationToken(challenge);
    assert.equal(r.status, PSA.SUCCESS);
    token = r.outVecs[0] as Uint8Array;
  } finally {
    client.close();
    await server.close();
  }

  // The signature, with the IAK the device derives; then the whole appraisal against the build.
  const evidence = decodeEvidence(token);
  verifyEvidence(evidence, ecKeyFromPoint(facts.identity.iakPublic));
  const forged = token.slice();
  flipBits(forged, forged.length - 1, 1);
  assert.throws(() => verifyEvidence(decodeEvidence(forged), ecKeyFromPoint(facts.identity.iakPublic)));
  const { corim } = endorse(build.manifest, facts);
  const appraisal = await appraise(token, new Endorsements().add(readCorim(corim)), { nonce: challenge });
  assert.deepEqual(appraisal.problems, []);
  const sub = Object.values(appraisal.ear.submods)[0];
  assert.equal(sub?.['ear.status'], 'affirming');
});
