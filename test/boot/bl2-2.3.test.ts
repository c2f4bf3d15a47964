/**
 * BL2 of `rse-2.3` on the TF-M 2.3.1 example: BL1_1 → BL1_2 (v2 image) → BL2 (MCUboot RAM-load),
 * each image checked against the ROTPK of the array in use that `rse_rotpk_config.h` maps to it
 * (CM ROTPK 1 for S and the host images, DM ROTPK 1 for NS) and its bank-0 NV counter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootDevice } from '../../src/boot/chain.ts';
import { buildExample, deviceOf, exampleFixture } from './examples.ts';

test('the rse-2.3 example boots end to end, each image checked against the ROTPK the 2.3 map gives it', () => {
  const fx = exampleFixture('rse-2.3');
  const dev = deviceOf(fx);
  const r = bootDevice(dev);
  assert.equal(r.ok, true, JSON.stringify(r.halt));
  assert.equal(r.placed.length, 4);
  const detail = (image: string): string => r.checks.find((c) => c.check.startsWith(image) && c.check.endsWith('validate'))?.detail ?? '';
  assert.match(detail('image 0 (S) primary'), /cm\.rotpk_areas_0\.rotpk_1/);
  assert.match(detail('image 1 (NS) primary'), /dm\.rotpk_areas_0\.rotpk_1/);
  assert.match(detail('image 2 (AP BL1) primary'), /cm\.rotpk_areas_0\.rotpk_1/);
  for (let i = 0; i < 4; i++)
    assert.equal(dev.plat.readCounter(`dynamic.security_version_counters_bank_0_${1 + i}`), 1, `image ${i} counter`);
});

test('rse-2.3 BL2 refuses an NS image signed by a key that is not DM ROTPK 1, and an image below its NV counter', () => {
  const fx = exampleFixture('rse-2.3');
  const b = buildExample(fx, (d) => {
    const ns = d.images.find((i) => i.name === 'tfm_ns') as Record<string, unknown>;
    ns.key = '../keys/host-EC-P256.pem';
  });
  const r = bootDevice(deviceOf(fx, b.hostFlash as Uint8Array));
  assert.equal(r.ok, false);
  assert.ok(
    r.checks.some((c) => !c.ok && /is not the OTP dm\.rotpk_areas_0\.rotpk_1/.test(c.detail)),
    JSON.stringify(r.checks.filter((c) => !c.ok)),
  );
  const dev = deviceOf(fx);
  dev.plat.setCounter('dynamic.security_version_counters_bank_0_2', 5);
  const back = bootDevice(dev);
  assert.equal(back.ok, false);
  assert.ok(
    back.checks.some(
      (c) => !c.ok && /rollback: security counter 1 is below NV counter dynamic\.security_version_counters_bank_0_2 = 5/.test(c.detail),
    ),
  );
});
