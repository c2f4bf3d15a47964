/**
 * The rse-2.3 BL2's signer checks under attack, on the TF-M 2.3.1 example: MCUboot's
 * multi-signature build (`MCUBOOT_IMAGE_MULTI_SIG_SUPPORT`: S signed by CM ROTPK 1 and DM ROTPK 1,
 * each required or optional by its OTP policy), the KEYID TLV an `MCUBOOT_HW_KEY` BL2 does not
 * read, and ROTPK revocation (the CM array in use moves on; a bound image keeps booting). The
 * image-binding cases are in `binding-2.3.test.ts`.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootDevice, type ChainReport } from '../../src/boot/chain.ts';
import { provisionRun } from '../../src/boot/power-on.ts';
import { exportPublicDer, loadKey } from '../../src/crypto/index.ts';
import { type CreateOptions, Device, MemoryStore } from '../../src/device/device.ts';
import { buildRevocationMessage } from '../../src/provisioning/messages-build.ts';
import { cmValues23 } from '../../src/provisioning/values-2.3-yaml.ts';
import { buildExample, type Description, exampleFixture, exampleValues, provision23, slotsOf, tlvAt } from './examples.ts';

const fx = (): ReturnType<typeof exampleFixture> => exampleFixture('rse-2.3');

/** A P-256 key written into the examples copy once, under `name`; its path relative to the example. */
function keyFile(name: string): string {
  const path = join(fx().root, 'keys', name);
  if (!existsSync(path))
    writeFileSync(path, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return `../keys/${name}`;
}
const DM_KEY = (): string => keyFile('dm-EC-P256.pem');

type Values = ReturnType<typeof exampleValues>;
const rotpks = (v: Values, who: 'cm' | 'dm'): Record<string, unknown>[] => (v[who] as { rotpks: Record<string, unknown>[] }).rotpks;

/** A provisioned rse-2.3 device: DM ROTPK 1 is its own key unless `values` says otherwise. */
function device(create: Partial<CreateOptions>, values?: (v: Values) => void): MemoryStore {
  const v = exampleValues(fx());
  (rotpks(v, 'dm')[0] as Record<string, unknown>).key = DM_KEY();
  values?.(v);
  const store = new MemoryStore();
  const { r } = provision23(fx().dir, store, v, { imageBinding: false, ...create });
  assert.equal(r.ok, true, 'provisioning');
  return store;
}

const image = (d: Description, name: string): Record<string, unknown> => d.images.find((i) => i.name === name) as Record<string, unknown>;

/** The example's flash with NS signed by the DM key, S by CM and DM, then `mutate`; placeholders only for a binding build. */
function flash(binding: boolean, mutate?: (d: Description) => void): Uint8Array {
  const b = buildExample(fx(), (d) => {
    image(d, 'tfm_s').key = ['../keys/root-EC-P256.pem', DM_KEY()];
    image(d, 'tfm_ns').key = DM_KEY();
    if (!binding) for (const i of d.images) delete i['image-binding'];
    mutate?.(d);
  });
  return b.hostFlash as Uint8Array;
}

function boot(store: MemoryStore, f: Uint8Array): ChainReport {
  store.write('flash.bin', f);
  return bootDevice(Device.open(store));
}

const failed = (r: ChainReport): string => JSON.stringify(r.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`));
const detailOf = (r: ChainReport, check: string): string => r.checks.find((c) => c.check === check)?.detail ?? '';

/** Both slots of `image` failed validation with `pattern`, and BL2 stopped. */
function refused(r: ChainReport, image: string, pattern: RegExp): void {
  assert.equal(r.ok, false, `${image} must be refused`);
  for (const slot of ['primary', 'secondary']) assert.match(detailOf(r, `${image} ${slot}: validate`), pattern, failed(r));
}

test('multi-signature BL2: S signed by CM ROTPK 1 and DM ROTPK 1, NS by DM ROTPK 1, the host images by CM: boots', () => {
  const r = boot(device({ multiSig: true }), flash(false));
  assert.equal(r.ok, true, failed(r));
  assert.match(
    detailOf(r, 'image 0 (S) primary: validate'),
    /signed by CM cm\.rotpk_areas_0\.rotpk_1 \(required\) and DM dm\.rotpk_areas_0\.rotpk_1 \(required\)/,
  );
  assert.match(
    detailOf(r, 'image 1 (NS) primary: validate'),
    /signed by DM dm\.rotpk_areas_0\.rotpk_1 \(required\)$|signed by DM dm\.rotpk_areas_0\.rotpk_1 \(required\),/,
  );
});

test('multi-signature BL2: one of two required signatures missing (S signed by CM alone) is refused', () => {
  const r = boot(
    device({ multiSig: true }),
    flash(false, (d) => {
      image(d, 'tfm_s').key = '../keys/root-EC-P256.pem';
    }),
  );
  refused(r, 'image 0 (S)', /DM dm\.rotpk_areas_0\.rotpk_1 \(required\) did not sign: no PUBKEY TLV was matched to it/);
});

test("multi-signature BL2: S's DM signature corrupted is refused", () => {
  const f = flash(false);
  for (const at of slotsOf(f, 0)) {
    const sig = tlvAt(f, at, 0x22, 'unprotected', 1);
    f[sig + 8] = (f[sig + 8] as number) ^ 0x40;
  }
  refused(
    boot(device({ multiSig: true }), f),
    'image 0 (S)',
    /DM dm\.rotpk_areas_0\.rotpk_1 \(required\) did not sign: its signature does not verify/,
  );
});

test('multi-signature BL2: the second signature by a key that is not DM ROTPK 1 is refused', () => {
  const r = boot(
    device({ multiSig: true }),
    flash(false, (d) => {
      image(d, 'tfm_s').key = ['../keys/root-EC-P256.pem', '../keys/host-EC-P256.pem'];
    }),
  );
  refused(r, 'image 0 (S)', /DM dm\.rotpk_areas_0\.rotpk_1 \(required\) did not sign/);
});

test('multi-signature BL2: with DM ROTPK 1 optional by its OTP policy, S signed by CM alone boots', () => {
  const store = device({ multiSig: true }, (v) => {
    (rotpks(v, 'dm')[0] as Record<string, unknown>).policy = 'optional';
  });
  const r = boot(
    store,
    flash(false, (d) => {
      image(d, 'tfm_s').key = '../keys/root-EC-P256.pem';
    }),
  );
  assert.equal(r.ok, true, failed(r));
  assert.match(
    detailOf(r, 'image 0 (S) primary: validate'),
    /signed by CM .*\(required\); DM dm\.rotpk_areas_0\.rotpk_1 \(optional\): no key/,
  );
});

test('multi-signature BL2: when no ROTPK of an image is required, an image signed by an unknown key boots (upstream checks only the policy)', () => {
  const store = device({ multiSig: true }, (v) => {
    (rotpks(v, 'dm')[0] as Record<string, unknown>).policy = 'optional';
    (rotpks(v, 'cm')[1] as Record<string, unknown>).policy = 'optional';
  });
  const r = boot(
    store,
    flash(false, (d) => {
      image(d, 'tfm_s').key = keyFile('attacker-EC-P256.pem');
    }),
  );
  assert.equal(r.ok, true, failed(r));
  assert.match(detailOf(r, 'image 0 (S) primary: validate'), /no signature verified, none required/);
});

test('multi-signature BL2 with the same key as CM and DM ROTPK 1: S can never satisfy both (MCUboot takes the first ROTPK a key matches)', () => {
  const store = device({ multiSig: true }, (v) => {
    (rotpks(v, 'dm')[0] as Record<string, unknown>).key = '../keys/root-EC-P256.pem';
  });
  const r = boot(
    store,
    flash(false, (d) => {
      image(d, 'tfm_s').key = ['../keys/root-EC-P256.pem', '../keys/root-EC-P256.pem'];
      image(d, 'tfm_ns').key = '../keys/root-EC-P256.pem';
    }),
  );
  refused(r, 'image 0 (S)', /DM dm\.rotpk_areas_0\.rotpk_1 \(required\) did not sign: no PUBKEY TLV was matched to it/);
});

test('a single-signature BL2 checks S against CM ROTPK 1 only (both map: TF-M takes the CM one), a second signature is ignored', () => {
  const r = boot(device({}), flash(false));
  assert.equal(r.ok, true, failed(r));
  assert.match(detailOf(r, 'image 0 (S) primary: validate'), /key \(cm\.rotpk_areas_0\.rotpk_1\)/);
});

test('a key id pointing at another key: the KEYID TLV is not what an MCUBOOT_HW_KEY BL2 reads, the embedded key decides', () => {
  const store = device({});
  // NS signed by the CM key, its KEYID naming the DM key (TF-M's TFM_NS_KEY_ID): refused.
  const forged = boot(
    store,
    flash(false, (d) => {
      image(d, 'tfm_ns').key = '../keys/root-EC-P256.pem';
      image(d, 'tfm_ns')['psa-key-ids'] = [2147451244];
    }),
  );
  refused(forged, 'image 1 (NS)', /is not the OTP dm\.rotpk_areas_0\.rotpk_1/);
  // NS signed by the DM key, its KEYID naming the S key: boots.
  const r = boot(
    store,
    flash(false, (d) => {
      image(d, 'tfm_ns')['psa-key-ids'] = [2147451243];
    }),
  );
  assert.equal(r.ok, true, failed(r));
});

test('a revoked CM ROTPK: after the CM array moves to array 1, images signed by the old ROTPK 1 are refused, the new key boots', () => {
  const store = device({ rotpkRevocation: true });
  assert.equal(boot(store, flash(false)).ok, true, 'boots before the revocation');
  moveCmArray(store, keyFile('cm2-EC-P256.pem'));
  assert.equal(Device.open(store).plat.readCounter('dynamic.cm_rotpk_revocation'), 1);
  refused(boot(store, flash(false)), 'image 3 (SCP BL1)', /is not the OTP cm\.rotpk_areas_1\.rotpk_1/);
  const resigned = flash(false, (d) => {
    for (const n of ['tfm_s', 'ap_bl1', 'scp_bl1']) image(d, n).key = keyFile('cm2-EC-P256.pem');
  });
  const r = boot(store, resigned);
  assert.equal(r.ok, true, failed(r));
  assert.match(detailOf(r, 'image 0 (S) primary: validate'), /cm\.rotpk_areas_1\.rotpk_1/);
});

test('a revoked CM ROTPK does not stop an image bound before the revocation: the tag replaces the signature (upstream)', () => {
  const store = device({ rotpkRevocation: true, imageBinding: true });
  const f = flash(true);
  assert.equal(boot(store, f).ok, true, 'the first boot binds');
  const bound = store.read('flash.bin') as Uint8Array;
  moveCmArray(store, keyFile('cm2-EC-P256.pem'));
  const r = boot(store, bound);
  assert.equal(r.ok, true, failed(r));
  assert.equal(r.placed.find((p) => p.index === 0)?.authenticatedBy, 'binding-tag');
  // The same images unbound (a fresh flash) are refused: only binding kept them.
  refused(boot(store, f), 'image 3 (SCP BL1)', /is not the OTP cm\.rotpk_areas_1\.rotpk_1/);
});

/** Moves the CM ROTPK array on (RSE_ROTPK_REVOCATION): array 1 keeps the BL1 LMS key and the host key, ROTPK 1 becomes `newKey`; the message is signed by CM ROTPK 2 (the host key) of array 0. */
function moveCmArray(store: MemoryStore, newKey: string): void {
  const v = exampleValues(fx());
  const read = (p: string): Uint8Array => new Uint8Array(readFileSync(join(fx().dir, p)));
  const current = cmValues23(v, read).values.rotpks;
  const next = current.map((k) => (k.index === 1 ? { ...k, key: exportPublicDer(loadKey(read(newKey)), 'spki') } : k));
  // An array update gives all four CM ROTPKs: the secure-debug one (3) is the host key too.
  const host = next.find((k) => k.index === 2);
  if (host !== undefined) next.push({ ...host, index: 3 });
  const message = buildRevocationMessage({
    who: 'cm',
    index: 0,
    rotpks: next.map(({ area: _area, ...k }) => k),
    key: loadKey(read('../keys/host-EC-P256.pem')),
    rotpkNumber: 2,
  });
  const r = provisionRun(Device.open(store), { messages: [message] });
  assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
}
