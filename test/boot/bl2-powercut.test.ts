/**
 * Power-cut campaign over a boot that raises NV counters (BL2's counter and all four images'):
 * the power goes at every OTP program operation in turn. After every cut, no image that already
 * ran has an NV counter below its security counter, and the next boot succeeds with every
 * counter at the images' values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootDevice } from '../../src/boot/chain.ts';
import { Device, FaultPlan, PowerCut } from '../../src/device/device.ts';
import { buildExample, exampleFixture } from './examples.ts';

for (const profile of ['rse-2.1', 'rss-1.7'] as const) {
  test(`${profile}: a power cut at every persistent write of a counter-raising boot is safe`, () => {
    const fx = exampleFixture(profile);
    // Every image at security counter 3 (the provisioned device has all counters at 0).
    const build = buildExample(fx, (d) => {
      for (const img of d.images) img['security-counter'] = 3;
    });
    const flash = build.hostFlash as Uint8Array;
    const counters = ['nv_counter_bl2_0', 'nv_counter_bl2_1', 'nv_counter_bl2_2', 'nv_counter_bl2_3'];
    // Count the OTP program operations of an uninterrupted boot.
    const probe = fx.store.clone();
    probe.write('flash.bin', flash);
    const plan = new FaultPlan();
    assert.equal(bootDevice(Device.open(probe, { faults: plan })).ok, true);
    const writes = plan.count;
    assert.ok(writes >= 5, `the boot raises five counters (${writes} program operations)`);
    for (let cut = 1; cut <= writes; cut++) {
      const store = fx.store.clone();
      store.write('flash.bin', flash);
      const ran = new Set<number>();
      assert.throws(
        () => bootDevice(Device.open(store, { faults: new FaultPlan(cut) }), { onStarted: (i) => ran.add(i) }),
        (e: unknown) => e instanceof PowerCut,
        `cut ${cut} must interrupt the boot`,
      );
      const after = Device.open(store);
      for (const i of ran)
        assert.ok(after.plat.readCounter(counters[i] as string) >= 3, `cut ${cut}: image ${i} ran with its counter below 3`);
      const r = bootDevice(after);
      assert.equal(r.ok, true, `cut ${cut}: the next boot fails: ${r.halt?.reason}`);
      for (const c of [...counters, 'nv_counter_bl1_0']) assert.equal(after.plat.readCounter(c), 3, `cut ${cut}: ${c}`);
    }
  });
}
