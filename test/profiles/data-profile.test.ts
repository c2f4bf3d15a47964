/**
 * A profile made only of data: `rse-2.1` with image 1 (NS) in another load window and one NV
 * counter at another OTP offset. Nothing but this object changes, and the same code builds,
 * provisions and boots it, honouring both changes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { bootDevice } from '../../src/boot/chain.ts';
import { createDevice, provisionFromValues } from '../../src/boot/power-on.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { buildFlash } from '../../src/flash/build.ts';
import { findRseProfile, RSE_2_1, type RseProfile, registerRseProfile, rseProfile } from '../../src/profiles/index.ts';
import { layoutProblems } from '../../src/profiles/otp-layout.ts';
import { type Description, exampleIo, examplesCopy } from '../boot/examples.ts';

const NS_START = 0x310c0000;
const COUNTER = 'nv_counter_bl2_2';
const COUNTER_AT = 0x800;

const MOVED: RseProfile = {
  ...RSE_2_1,
  name: 'test-rse-2.1-moved',
  description: 'rse-2.1 with NS loading at 0x310C0000 and nv_counter_bl2_2 at OTP 0x800',
  otp: { ...RSE_2_1.otp, fields: RSE_2_1.otp.fields.map((f) => (f.name === COUNTER ? { ...f, offset: COUNTER_AT } : f)) },
  bl2: {
    ...RSE_2_1.bl2,
    images: RSE_2_1.bl2.images.map((i) => (i.index === 1 ? { ...i, exec: { start: NS_START, size: 0x40000 } } : i)),
  },
  variants: {},
};

function setup(nsLoad: number): { dev: Device; store: MemoryStore } {
  registerRseProfile(MOVED);
  const root = examplesCopy();
  const dir = join(root, 'rse-2.1');
  const d = parse(readFileSync(join(dir, 'platform.yaml'), 'utf8')) as Description;
  d.platform = MOVED.name;
  const ns = d.images.find((i) => i.name === 'tfm_ns') as Record<string, unknown>;
  ns['load-address'] = nsLoad;
  // S depends on NS: keep it, the dependency is on the version, not the address.
  const build = buildFlash(d, exampleIo(dir));
  const store = new MemoryStore();
  const dev = createDevice(store, { profile: MOVED });
  const values = parse(readFileSync(join(dir, 'provisioning.yaml'), 'utf8')) as unknown;
  const r = provisionFromValues(dev, values, (p) => new Uint8Array(readFileSync(join(dir, p))));
  assert.equal(r.ok, true, dev.json.lastBoot);
  store.write('flash.bin', build.hostFlash as Uint8Array);
  return { dev: Device.open(store), store };
}

test('the data-only profile is consistent and can be found by name once registered', () => {
  assert.deepEqual(layoutProblems(MOVED.otp), []);
  registerRseProfile(MOVED);
  assert.equal(findRseProfile(MOVED.name), MOVED);
  assert.equal(rseProfile('rse-2.1'), RSE_2_1, 'the built-in profile is untouched');
  assert.throws(() => registerRseProfile({ ...MOVED }), /exists already/);
});

test('a profile made only of data builds, provisions and boots, with its own image window and OTP offset', () => {
  const { dev, store } = setup(NS_START);
  assert.equal(JSON.parse(new TextDecoder().decode(store.read('device.json'))).profile, MOVED.name);
  const r = bootDevice(dev);
  assert.equal(r.ok, true, r.halt?.reason);
  assert.equal(r.profile, MOVED.name);
  const ns = r.placed.find((p) => p.index === 1);
  assert.equal(ns?.loadAddress, NS_START);
  assert.equal(ns?.target, 'vm1 + 0x40000');
  // BL2 raised nv_counter_bl2_2 (the AP BL1's counter) at the profile's offset, not 2.1's.
  const otp = store.read('otp.bin') as Uint8Array;
  const stock = RSE_2_1.otp.fields.find((f) => f.name === COUNTER)?.offset as number;
  assert.notEqual(otp[COUNTER_AT], 0, 'the counter at the moved offset was raised');
  assert.ok(
    otp.subarray(stock, stock + 64).every((b) => b === 0),
    "2.1's offset is left blank",
  );
  assert.equal(dev.plat.readCounter(COUNTER), 1);
});

test("the same data-only profile refuses an NS image linked for 2.1's window", () => {
  const { dev } = setup(0x310a0000);
  const r = bootDevice(dev);
  assert.equal(r.ok, false);
  const refused = r.checks.find((c) => c.check.startsWith('image 1 (NS) primary: load window'));
  assert.ok(refused !== undefined && !refused.ok, JSON.stringify(r.checks.filter((c) => !c.ok)));
  assert.match(refused.detail, /0x310a0000\.\.0x[0-9a-f]+ is outside 0x310c0000\.\.0x31100000/);
});
