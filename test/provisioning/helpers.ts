/** Shared set-up for provisioning tests: dummy bundles and fresh in-memory devices. */
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
  Device.create(store, { profile: 'rse-2.1', romTpMode: tp, lcmVersion });
  return { store, dev: Device.open(store, { trng: testTrng(), ...(faults === undefined ? {} : { faults }) }) };
}
