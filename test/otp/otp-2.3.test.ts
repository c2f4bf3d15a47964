/**
 * The TF-M 2.3.1 OTP integrity checks over arbitrary OTP images: at every LCS they only ever
 * report named problems (never throw), a provisioned image passes them, and any single flipped bit
 * inside a checked region of a provisioned SE device is found. `rse otp show` explains any image.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createDevice, powerOn, provisionRun } from '../../src/boot/power-on.ts';
import { rawPublicKey } from '../../src/crypto/index.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { otpReport } from '../../src/device/otp-report.ts';
import { OTP_SIZE } from '../../src/otp/lcm.ts';
import { integrityProblems23, zcRegion } from '../../src/otp/zero-count-2.3.ts';
import { RSE_2_3 } from '../../src/profiles/index.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { signer, spec } from '../provisioning/helpers-2.3.ts';

function provisioned(): MemoryStore {
  const store = new MemoryStore();
  createDevice(store, { profile: RSE_2_3, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
  const r = provisionRun(Device.open(store), { messages: [buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm'))] });
  assert.equal(r.ok, true);
  return store;
}

const LCS = ['CM', 'DM', 'SE', 'RMA'] as const;

test('rse-2.3 integrity checks over random OTP images: named problems only, at every LCS', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: OTP_SIZE, maxLength: OTP_SIZE }), fc.constantFrom(...LCS), (otp, lcs) => {
      const problems = integrityProblems23(otp, lcs);
      for (const p of problems) {
        assert.equal(typeof p.check, 'string');
        assert.ok(Number.isInteger(p.offset) && Number.isInteger(p.stored) && Number.isInteger(p.computed));
      }
    }),
    { numRuns: 300 },
  );
});

test('rse-2.3 random OTP images on a device: power-on halts with a typed reason or proceeds, otp show explains it', () => {
  const base = new MemoryStore();
  createDevice(base, { profile: RSE_2_3 });
  fc.assert(
    fc.property(fc.uint8Array({ minLength: OTP_SIZE, maxLength: OTP_SIZE }), (otp) => {
      const store = base.clone();
      store.write('otp.bin', otp);
      const dev = Device.open(store);
      const r = powerOn(dev);
      if (r.result.kind === 'halt') assert.match(r.result.code, /^[A-Z][A-Z0-9_]+$/);
      const rep = otpReport(Device.open(store));
      assert.equal(rep.fields.length, RSE_2_3.otp.fields.length);
    }),
    { numRuns: 60 },
  );
});

test('rse-2.3 a provisioned SE image passes; one flipped bit in any checked region is found', () => {
  const otp = provisioned().read('otp.bin') as Uint8Array;
  assert.deepEqual(integrityProblems23(otp, 'SE'), []);
  const regions = [
    zcRegion(otp, 'header', 'cm'),
    zcRegion(otp, 'header', 'dm'),
    zcRegion(otp, 'area', 'cm'),
    zcRegion(otp, 'area', 'bl1_2'),
    zcRegion(otp, 'area', 'dm'),
    zcRegion(otp, 'rotpk', 'cm', 0),
  ];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: regions.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (r, at, bit) => {
      const region = regions[r] as (typeof regions)[number];
      const o = otp.slice();
      const i = region.start + (at % region.size);
      o[i] = (o[i] as number) ^ (1 << bit);
      assert.ok(integrityProblems23(o, 'SE').length > 0, `bit ${bit} of 0x${i.toString(16)} (${region.name}) not found`);
    }),
    { numRuns: 300 },
  );
});
