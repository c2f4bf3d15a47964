/**
 * ROTPK revocation on `rse-2.3` (TF-M 2.3.1 with `RSE_ROTPK_REVOCATION`), rehearsed: a device
 * provisioned with CM ROTPK array 0 boots a BL2 signed by its BL1 key; the authenticated
 * revocation message (signed by the CM ROTPK that signs provisioning messages) raises the
 * revocation counter and writes array 1; then the old key's image is refused as revoked and the
 * new key's image boots. Then a power cut at every OTP write of the revocation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signBl1ImageV2 } from '../../src/bl1/image-v2.ts';
import { runBl1 } from '../../src/boot/bl1.ts';
import { createDevice, powerOn, provisionRun } from '../../src/boot/power-on.ts';
import { exportPublicDer, loadKey, rawPublicKey } from '../../src/crypto/index.ts';
import { Device, FaultPlan, MemoryStore, PowerCut } from '../../src/device/device.ts';
import { FIP_B_OFFSET } from '../../src/device/host-flash.ts';
import { fipBytes, packFip } from '../../src/fip/fip.ts';
import { fipEntryUuid } from '../../src/profiles/fip-table.ts';
import { RSE_2_3 } from '../../src/profiles/index.ts';
import type { Bl1ImageV2Config } from '../../src/profiles/types.ts';
import { buildProvisioningMessage, buildRevocationMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import type { RotpkValue } from '../../src/provisioning/values-2.3.ts';
import { CM, file, key, signer, spec } from './helpers-2.3.ts';

const keyA = loadKey(file('keys/ecdsa-p256-cm.pem'));
const keyB = loadKey(file('keys/ecdsa-p256-dm.pem'));
const kce = file('keys/tfm_bl2_dummy_encryption_key.bin');
const shape = RSE_2_3.bl1.imageV2 as Bl1ImageV2Config;
const ecdsa = (k: typeof keyA, index: number): Omit<RotpkValue, 'area'> => ({
  index,
  key: exportPublicDer(k, 'spki'),
  type: 'ecdsa',
  hashAlg: 'sha256',
  policy: 'required',
});

const cmMessage = buildProvisioningMessage(
  spec('cm', {
    cmSecrets: [key(0x11), key(0x22), kce],
    cm: { ...CM, rotpks: [ecdsa(keyA, 0), ecdsa(signer, 2)].map((r) => ({ ...r, area: 0 })) },
  }),
);
const dmMessage = buildProvisioningMessage(spec('dm'));
const revocation = buildRevocationMessage({
  who: 'cm',
  index: 0,
  rotpks: [ecdsa(keyB, 0), ecdsa(keyB, 1), ecdsa(signer, 2), ecdsa(keyB, 3)],
  key: signer,
  rotpkNumber: 2,
});

function provisioned(faults?: FaultPlan): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  createDevice(store, { profile: RSE_2_3, rotpkRevocation: true, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
  assert.equal(provisionRun(Device.open(store), { messages: [cmMessage, dmMessage] }).ok, true);
  return { store, dev: Device.open(store, faults === undefined ? {} : { faults }) };
}

function flashWith(k: typeof keyA): Uint8Array {
  const image = signBl1ImageV2(shape, {
    code: new TextEncoder().encode('BL2'),
    version: { major: 1, minor: 0, revision: 0, build: 0 },
    securityCounter: 1,
    signers: [{ alg: 'ecdsa', key: k }],
    encryptionKey: kce,
    iv: new Uint8Array(16).fill(7),
  });
  const flash = new Uint8Array(FIP_B_OFFSET * 2);
  const fip = fipBytes(packFip([{ uuid: fipEntryUuid('rse-bl2'), data: image }], { align: 0x2000 }));
  flash.set(fip, 0);
  flash.set(fip, FIP_B_OFFSET);
  return flash;
}

/** A cold boot as far as BL2: BL1_1's OTP init and checks, then BL1_2 with the image signed by `k`. */
function boots(store: MemoryStore, k: typeof keyA): { ok: boolean; reason: string } {
  const d = Device.open(store);
  const p = powerOn(d);
  if (p.result.kind !== 'ready') return { ok: false, reason: p.result.kind === 'halt' ? p.result.reason : p.result.kind };
  const r = runBl1(d, flashWith(k));
  return { ok: r.ok, reason: r.halt?.reason ?? '' };
}

test('rse-2.3 ROTPK revocation: the old key boots before, is refused as revoked after; the new key boots after', () => {
  const { dev } = provisioned();
  assert.equal(runBl1(dev, flashWith(keyA)).ok, true, 'key A boots before');
  assert.equal(runBl1(Device.open(dev.store), flashWith(keyB)).ok, false, 'key B does not boot before');
  const r = provisionRun(Device.open(dev.store), { messages: [revocation] });
  assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
  const after = Device.open(dev.store);
  assert.equal(after.plat.readCounter('dynamic.cm_rotpk_revocation'), 1);
  const old = runBl1(after, flashWith(keyA));
  assert.equal(old.ok, false);
  assert.ok(
    old.checks.some((c) => !c.ok && /revocation/.test(c.check) && /CM ROTPK 0 of array 0, revoked/.test(c.detail)),
    JSON.stringify(old.checks),
  );
  assert.equal(runBl1(Device.open(dev.store), flashWith(keyB)).ok, true, 'key B boots after');
});

test('rse-2.3 ROTPK revocation is refused when signed by another key, or on a build without RSE_ROTPK_REVOCATION', () => {
  const { dev } = provisioned();
  const forged = buildRevocationMessage({ who: 'cm', index: 0, rotpks: [], key: keyB, rotpkNumber: 2 });
  const r = provisionRun(dev, { messages: [forged] });
  assert.equal(r.ok, false);
  assert.equal(r.final.result.kind === 'halt' ? r.final.result.code : '', 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_HASH_VALUE');
  assert.equal(Device.open(dev.store).plat.readCounter('dynamic.cm_rotpk_revocation'), 0, 'nothing written');
  const plainStore = new MemoryStore();
  createDevice(plainStore, { profile: RSE_2_3, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
  assert.equal(provisionRun(Device.open(plainStore), { messages: [cmMessage, dmMessage] }).ok, true);
  const p = provisionRun(Device.open(plainStore), { messages: [revocation] });
  assert.equal(p.ok, true, 'without the build option BL1_2 leaves the message alone');
  assert.equal(Device.open(plainStore).plat.readCounter('dynamic.cm_rotpk_revocation'), 0);
});

test('rse-2.3 ROTPK array update, power cut at every OTP write: the revoked key never boots; between the counter and the new zero count the device boots neither (TF-M 2.3.1 writes the counter first)', () => {
  const counting = new FaultPlan();
  const c = provisioned(counting);
  assert.equal(provisionRun(c.dev, { messages: [revocation] }).ok, true);
  const total = counting.count;
  assert.ok(total >= 4, `${total} writes`);
  const outcomes = new Map<string, number>();
  for (let n = 1; n <= total; n++) {
    const { store, dev } = provisioned(new FaultPlan(n));
    assert.throws(() => provisionRun(dev, { messages: [revocation] }), PowerCut);
    const counter = Device.open(store).plat.readCounter('dynamic.cm_rotpk_revocation');
    const oldBoots = boots(store, keyA);
    const newBoots = boots(store, keyB);
    assert.ok(!(oldBoots.ok && counter > 0), `cut ${n}: the revoked key still boots`);
    const verdict = oldBoots.ok
      ? 'not revoked yet (old key boots)'
      : newBoots.ok
        ? 'revoked (new key boots)'
        : `boots neither: ${oldBoots.reason}`;
    outcomes.set(verdict, (outcomes.get(verdict) ?? 0) + 1);
  }
  process.stdout.write(`# rse-2.3 revocation power-cut campaign over ${total} writes: ${JSON.stringify(Object.fromEntries(outcomes))}\n`);
  assert.equal(outcomes.get('not revoked yet (old key boots)'), 1);
  const neither = [...outcomes.entries()].filter(([k]) => k.startsWith('boots neither'));
  assert.equal(
    neither.reduce((a, [, v]) => a + v, 0),
    total - 1,
  );
  assert.ok(neither.every(([k]) => k.includes('OTP_INIT_CM_ROTPK_ZERO_COUNT_ERR')));
});

test('rse-2.3 ROTPK revocation with a sealed spare array: one OTP write, every cut leaves the old key or the new one booting', () => {
  const sealed = buildProvisioningMessage(
    spec('cm', {
      cmSecrets: [key(0x11), key(0x22), kce],
      cm: {
        ...CM,
        sealSpareArrays: true,
        rotpks: [
          { ...ecdsa(keyA, 0), area: 0 },
          { ...ecdsa(signer, 2), area: 0 },
          { ...ecdsa(keyB, 0), area: 1 },
          { ...ecdsa(signer, 2), area: 1 },
        ],
      },
    }),
  );
  const revokeOnly = buildRevocationMessage({ who: 'cm', index: 0, rotpks: [], key: signer, rotpkNumber: 2 });
  const fresh = (faults?: FaultPlan): MemoryStore => {
    const store = new MemoryStore();
    createDevice(store, { profile: RSE_2_3, rotpkRevocation: true, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
    assert.equal(provisionRun(Device.open(store), { messages: [sealed, dmMessage] }).ok, true);
    if (faults !== undefined) assert.throws(() => provisionRun(Device.open(store, { faults }), { messages: [revokeOnly] }), PowerCut);
    return store;
  };
  const done = fresh();
  assert.equal(provisionRun(Device.open(done), { messages: [revokeOnly] }).ok, true);
  assert.equal(boots(done, keyA).ok, false);
  assert.equal(boots(done, keyB).ok, true, 'the spare array is in use');
  const counting = new FaultPlan();
  provisionRun(Device.open(fresh(), { faults: counting }), { messages: [revokeOnly] });
  assert.equal(counting.count, 1, 'a revocation is the one write of the counter');
  const cut = fresh(new FaultPlan(1));
  assert.equal(boots(cut, keyA).ok, true, 'cut before the write: not revoked yet');
});
