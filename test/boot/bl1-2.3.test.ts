/**
 * BL1_1 and BL1_2 of TF-M 2.3.1 on a message-provisioned `rse-2.3` device: BL1_2 out of the OTP
 * BL1_2 area checked against its hash, then the BL2 image TF-M's `create_bl2_img.py` made (LMS CM
 * signer, encrypted under KCE_CM) checked against CM ROTPK 0 of the array in use, its counter and
 * its decryption magic, measured; every tampering refused with its check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBl1 } from '../../src/boot/bl1.ts';
import { createDevice, provisionRun } from '../../src/boot/power-on.ts';
import { hash, rawPublicKey } from '../../src/crypto/index.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { FIP_B_OFFSET } from '../../src/device/host-flash.ts';
import { fipBytes, packFip } from '../../src/fip/fip.ts';
import { fipEntryUuid } from '../../src/profiles/fip-table.ts';
import { RSE_2_3 } from '../../src/profiles/index.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { file, key, signer, spec } from '../provisioning/helpers-2.3.ts';

const kce = file('keys/tfm_bl2_dummy_encryption_key.bin');

function provisioned(): MemoryStore {
  const store = new MemoryStore();
  createDevice(store, { profile: RSE_2_3, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
  const s = { cmSecrets: [key(0x11), key(0x22), kce] as const };
  const r = provisionRun(Device.open(store), { messages: [buildProvisioningMessage(spec('cm', s)), buildProvisioningMessage(spec('dm'))] });
  assert.equal(r.ok, true);
  return store;
}

function hostFlash(a: Uint8Array, b: Uint8Array): Uint8Array {
  const uuid = fipEntryUuid('rse-bl2');
  const flash = new Uint8Array(FIP_B_OFFSET * 2);
  flash.set(fipBytes(packFip([{ uuid, data: a }], { align: 0x2000 })), 0);
  flash.set(fipBytes(packFip([{ uuid, data: b }], { align: 0x2000 })), FIP_B_OFFSET);
  return flash;
}

const good = file('bl2/lms-cm-enc.bin');

test("rse-2.3 BL1: TF-M's own encrypted LMS-signed BL2 image boots, measured with the CM ROTPK as signer", () => {
  const dev = Device.open(provisioned());
  const r = runBl1(dev, hostFlash(good, good));
  assert.equal(r.ok, true, JSON.stringify(r.checks.filter((c) => !c.ok)));
  assert.equal(r.bl2?.version, '1.9.0+0');
  assert.equal(r.bl2?.securityCounter, 1);
  assert.deepEqual(r.bl2?.code.subarray(0, 8192), file('inputs/bl2-8k.bin'));
  const bl2 = r.measurements.find((m) => m.swType === 'BL2');
  assert.deepEqual(bl2?.signerId, hash('sha256', file('keys/lms_cm.pub').subarray(4)));
  assert.equal(dev.plat.readCounter('dynamic.security_version_counters_bank_0_0'), 1, 'the NV counter follows the image');
});

const flip = (b: Uint8Array, at: number): Uint8Array => {
  const c = b.slice();
  c[at] = (c[at] as number) ^ 1;
  return c;
};

const ATTACKS: readonly { name: string; image: () => Uint8Array; failed: RegExp; setup?: (d: Device) => void }[] = [
  { name: 'a flipped bit in the encrypted code', image: () => flip(good, 0x8000), failed: /signer 0: signature/ },
  { name: 'a flipped bit in the embedded ROTPK', image: () => flip(good, 0x30), failed: /signer 0: ROTPK/ },
  { name: 'a flipped bit in the decryption magic', image: () => flip(good, 1608), failed: /decryption magic/ },
  {
    name: 'an image signed by another CM key (P-256, plain)',
    image: () => file('bl2/p256-cm-plain.bin'),
    failed: /image|decryption magic|ROTPK/,
  },
  {
    name: 'a rollback (NV counter above the image counter)',
    image: () => good,
    failed: /anti-rollback/,
    setup: (d) => d.plat.setCounter('dynamic.security_version_counters_bank_0_0', 2),
  },
];

for (const a of ATTACKS) {
  test(`rse-2.3 BL1_2 refuses ${a.name}, in both banks`, () => {
    const dev = Device.open(provisioned());
    a.setup?.(dev);
    const bad = a.image();
    const r = runBl1(dev, hostFlash(bad, bad));
    assert.equal(r.ok, false);
    assert.equal(r.halt?.code, 'E_NO_IMAGE');
    assert.ok(
      r.checks.some((c) => !c.ok && a.failed.test(c.check)),
      JSON.stringify(r.checks.filter((c) => !c.ok)),
    );
  });
}

test('rse-2.3 BL1_2 falls back to FIP_B when FIP_A fails', () => {
  const dev = Device.open(provisioned());
  const r = runBl1(dev, hostFlash(flip(good, 0x8000), good));
  assert.equal(r.ok, true);
  assert.match(r.bl2?.bank ?? '', /B/);
});
