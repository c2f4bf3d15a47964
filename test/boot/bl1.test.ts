import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseBl1Version, signBl1Image } from '../../src/bl1/image.ts';
import { LmsSigner } from '../../src/bl1/lms-key.ts';
import { runBl1 } from '../../src/boot/bl1.ts';
import { hash } from '../../src/crypto/index.ts';
import { bundleKey } from '../../src/crypto/rse-keys.ts';
import { fipEntryUuid } from '../../src/profiles/fip-table.ts';

const RSE_BL2_UUID = fipEntryUuid('rse-bl2');

import { createDevice, provisionRun } from '../../src/boot/power-on.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { FIP_B_OFFSET } from '../../src/device/host-flash.ts';
import { fipBytes, packFip } from '../../src/fip/fip.ts';
import { toHex } from '../../src/lib/hex.ts';
import { TP_MODE } from '../../src/otp/lcm.ts';
import { encodeBundle } from '../../src/provisioning/bundle.ts';
import { cmInputs, DUMMY, dmInputs } from '../../src/provisioning/values.ts';
import { exampleLmsKey } from '../bl1/helpers.ts';

const noFiles = (p: string): Uint8Array => {
  throw new Error(p);
};
const rnd = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff);

const keyBase = exampleLmsKey();
const signer = LmsSigner.open(keyBase);
const pub56 = readFileSync(`${keyBase}.pub`).subarray(4);

function provisioned(): MemoryStore {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rse-2.1' });
  const k = new Uint8Array(32);
  const cm = encodeBundle('cm', bundleKey('CM', TP_MODE.TCI, k), cmInputs({}, noFiles));
  const dm = encodeBundle('dm', bundleKey('DM', TP_MODE.TCI, k), dmInputs({ bl1_rotpk_0: toHex(pub56) }, noFiles));
  assert.equal(provisionRun(Device.open(store), { cm, dm }).ok, true);
  return store;
}

function bl2(counter: number, version = '1.2.0+0', s = signer): Uint8Array {
  return signBl1Image({
    code: new TextEncoder().encode(`BL2 code, counter ${counter}`),
    version: parseBl1Version(version),
    securityCounter: counter,
    encryptionKey: DUMMY.bl2_encryption_key,
    kdf: 'cmac-counter',
    partitionSize: 0x10000,
    sign: (m) => s.sign(m, rnd).signature,
    random: rnd,
  }).image;
}

function hostFlash(a: Uint8Array, b: Uint8Array): Uint8Array {
  const flash = new Uint8Array(FIP_B_OFFSET * 2);
  flash.set(fipBytes(packFip([{ uuid: RSE_BL2_UUID, data: a }], { align: 0x2000 })), 0);
  flash.set(fipBytes(packFip([{ uuid: RSE_BL2_UUID, data: b }], { align: 0x2000 })), FIP_B_OFFSET);
  return flash;
}

const base = provisioned();
const good2 = bl2(2);

function boot(flash: Uint8Array, store = base.clone()): { r: ReturnType<typeof runBl1>; dev: Device } {
  store.files.set('flash.bin', flash);
  const dev = Device.open(store);
  return { r: runBl1(dev), dev };
}

test('BL1_1 → BL1_2 on a provisioned rse-2.1 device: BL2 from FIP_A, measurements 0 and 1, NV counter raised', () => {
  const { r, dev } = boot(hostFlash(good2, good2));
  assert.equal(r.ok, true, JSON.stringify(r.halt));
  assert.equal(r.bl2?.bank, 'FIP_A');
  assert.equal(r.bl2?.version, '1.2.0+0');
  assert.deepEqual(
    r.measurements.map((m) => [m.slot, m.swType, m.version, m.locked]),
    [
      [0, 'BL1_2', '0.0.0+0', true],
      [1, 'BL2', '1.2.0+0', true],
    ],
  );
  assert.deepEqual(r.measurements[1]?.signerId, hash('sha256', pub56));
  assert.equal(dev.plat.readCounter('nv_counter_bl1_0'), 2);
  assert.equal(dev.kmu.isValid(1), false, 'HUK slot invalidated');
  assert.ok(r.checks.every((c) => c.ok));
});

test('BL1_2 attack table: each rejected copy is named with its check; FIP_B is the fallback', () => {
  const flip = (img: Uint8Array, at: number): Uint8Array => {
    const b = img.slice();
    b[at] = (b[at] as number) ^ 0x01;
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ['payload bit', flip(good2, 0x900), 'FIP_A: LMS signature'],
    ['magic bit', flip(good2, 0x5c8), 'FIP_A: decryption magic'],
    ['version bit', flip(good2, 0x5bc), 'FIP_A: LMS signature'],
    [
      'counter beyond bound',
      (() => {
        const b = good2.slice();
        b.set([0, 4, 0, 0], 0x5c4);
        return b;
      })(),
      'FIP_A: security counter bound',
    ],
    ['signature bit', flip(good2, 0x100), 'FIP_A: LMS signature'],
    ['truncated', good2.subarray(0, 0x8000), 'FIP_A: size'],
  ];
  for (const [name, bad, failed] of cases) {
    const { r } = boot(hostFlash(bad, good2));
    assert.equal(r.ok, true, `${name}: FIP_B should boot`);
    assert.equal(r.bl2?.bank, 'FIP_B', name);
    const f = r.checks.find((c) => !c.ok);
    assert.equal(f?.check, failed, name);
  }
  const both = boot(hostFlash(flip(good2, 0x900), flip(good2, 0x900))).r;
  assert.equal(both.ok, false);
  assert.equal(both.halt?.code, 'E_NO_IMAGE');
  const noFip = boot(new Uint8Array(FIP_B_OFFSET * 2)).r;
  assert.match(noFip.checks[2]?.detail ?? '', /no FIP ToC/);
});

test('BL1_2 rollback, wrong key, altered BL1_2 in OTP', () => {
  const store = base.clone();
  assert.equal(boot(hostFlash(good2, good2), store).r.ok, true);
  const old = bl2(1, '1.1.0+0');
  const rb = boot(hostFlash(old, old), store).r;
  assert.equal(rb.ok, false);
  assert.equal(rb.checks.find((c) => !c.ok)?.detail, 'image counter 1, NV counter 2');
  // OTP holds another BL1 ROTPK (the dummy one): the image's signature leads to another root.
  const s2 = new MemoryStore();
  createDevice(s2, { profile: 'rse-2.1' });
  const k = new Uint8Array(32);
  const cm = encodeBundle('cm', bundleKey('CM', TP_MODE.TCI, k), cmInputs({}, noFiles));
  const dm = encodeBundle('dm', bundleKey('DM', TP_MODE.TCI, k), dmInputs({}, noFiles));
  assert.equal(provisionRun(Device.open(s2), { cm, dm }).ok, true);
  const wrong = boot(hostFlash(good2, good2), s2).r;
  assert.equal(wrong.ok, false);
  assert.match(wrong.checks.find((c) => c.check === 'FIP_A: LMS signature')?.detail ?? '', /root/);
  // BL1_2 altered in OTP: BL1_1 stops before BL1_2 runs.
  const s3 = base.clone();
  const otp = s3.files.get('otp.bin') as Uint8Array;
  otp[0x3000] = (otp[0x3000] as number) | 0x80;
  const bad = boot(hostFlash(good2, good2), s3).r;
  assert.equal(bad.ok, false);
  assert.equal(bad.halt?.stage, 'BL1_1');
  assert.equal(bad.halt?.code, 'E_BAD_HASH');
  assert.equal(bad.measurements.length, 0);
});
