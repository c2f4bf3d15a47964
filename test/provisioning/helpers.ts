/** Shared set-up for provisioning tests: dummy bundles and fresh in-memory devices. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createDevice, powerOn } from '../../src/boot/power-on.ts';
import { bundleKey } from '../../src/crypto/rse-keys.ts';
import { Device, DUMMY_PCI_KRTL, type FaultPlan, MemoryStore } from '../../src/device/device.ts';
import { TP_MODE } from '../../src/otp/lcm.ts';
import { encodeBundle } from '../../src/provisioning/bundle.ts';
import { cmInputs, dmInputs } from '../../src/provisioning/values.ts';

const noFiles = (p: string): Uint8Array => {
  throw new Error(`unexpected file ${p}`);
};

/** Dummy-value bundles for a device in `tp` mode (TCI: zero KRTL; PCI: the dummy KRTL). */
export function dummyBundles(
  tp: 'TCI' | 'PCI' = 'TCI',
  krtl: Uint8Array = DUMMY_PCI_KRTL,
  code?: 'resumable',
): { cm: Uint8Array; dm: Uint8Array } {
  const k = tp === 'TCI' ? new Uint8Array(32) : krtl;
  const desc = code === undefined ? {} : { code };
  return {
    cm: encodeBundle('cm', bundleKey('CM', TP_MODE[tp], k), cmInputs(desc, noFiles)),
    dm: encodeBundle('dm', bundleKey('DM', TP_MODE[tp], k), dmInputs(desc, noFiles)),
  };
}

let seed = 1;
/** A deterministic TRNG for tests (xorshift), so failures reproduce. */
export function testTrng(): (n: number) => Uint8Array {
  let s = seed++ * 0x9e3779b1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s & 0xff;
    }
    return out;
  };
}

export function freshDevice(tp: 'TCI' | 'PCI' = 'TCI', faults?: FaultPlan, lcmVersion: 0 | 1 = 0): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rse-2.1', romTpMode: tp, lcmVersion });
  return { store, dev: Device.open(store, { trng: testTrng(), ...(faults === undefined ? {} : { faults }) }) };
}

/**
 * Property: flipping any one bit inside `regions` of a provisioned device's OTP makes the next
 * power-on halt. `spread` bounds the random bit index before it is folded into a region.
 */
export function assertBitFlipsDetected(store: MemoryStore, regions: readonly [number, number][], spread: number, numRuns: number): void {
  const sealed = store.read('otp.bin') as Uint8Array;
  fc.assert(
    fc.property(fc.constantFrom(...regions), fc.nat(spread), (region, r) => {
      const bit = region[0] * 8 + (r % ((region[1] - region[0]) * 8));
      const s = store.clone();
      const otp = sealed.slice();
      otp[bit >> 3] = (otp[bit >> 3] as number) ^ (1 << (bit & 7));
      s.files.set('otp.bin', otp);
      const rep = powerOn(Device.open(s));
      assert.equal(rep.result.kind, 'halt', `flip of bit ${bit} (OTP 0x${(bit >> 3).toString(16)}) not detected`);
    }),
    { numRuns },
  );
}
