/** The ATU and bus model, and the shared data area, on their own. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseSharedData, SharedData } from '../../src/boot/shared-data.ts';
import { Atu, Bus, BusFault } from '../../src/device/atu.ts';
import { RseError } from '../../src/lib/errors.ts';
import { rseProfile } from '../../src/profiles/index.ts';

test('ATU regions must be page-aligned, inside the host window, with a valid index', () => {
  const atu = new Atu();
  const bad = (f: () => void, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof RseError && e.code === 'E_ATU' && re.test(e.message));
  bad(() => atu.init(0, 0x70001000, 0, 0x2000, 't'), /logical address 0x70001000 is not 0x2000-aligned/);
  bad(() => atu.init(0, 0x70000000, 0x1000, 0x2000, 't'), /physical address/);
  bad(() => atu.init(0, 0x70000000, 0, 0x3000, 't'), /size/);
  bad(() => atu.init(32, 0x70000000, 0, 0x2000, 't'), /region 32 does not exist/);
  bad(() => atu.init(1, 0x6fffe000, 0, 0x2000, 't'), /outside the host and SIC windows/);
  atu.init(3, 0x73000000, 0x08002000, 0x4000, 'input');
  assert.deepEqual(atu.translate(0x73001000, 0x2000), [{ physical: 0x08003000, length: 0x2000 }]);
  assert.throws(
    () => atu.translate(0x73003000, 0x2000),
    (e: unknown) => e instanceof BusFault && e.kind === 'atu-mismatch' && e.address === 0x73004000,
  );
  assert.equal(atu.mismatch, 0x73004000);
  atu.uninit(3);
  assert.throws(() => atu.translate(0x73000000, 4), BusFault);
  // XIP: the SIC window at 0x12000000 (16 MiB) is translated too; nothing else outside the host window.
  atu.init(0, 0x12000000, 0x08100000, 0x4000, 'xip');
  assert.deepEqual(atu.translate(0x12002000, 0x10), [{ physical: 0x08102000, length: 0x10 }]);
  bad(() => atu.init(1, 0x12ffe000, 0, 0x4000, 't'), /outside the host and SIC windows/);
  bad(() => atu.init(1, 0x11ffe000, 0, 0x2000, 't'), /outside the host and SIC windows/);
});

test('the bus splits an access over two regions (2.1 header-at-end) and faults outside memories', () => {
  const sram = new Uint8Array(0x8000);
  const bus = new Bus([], [{ name: 'ap-sram', base: 0, size: sram.length, bytes: sram, fill: 0, writable: true }]);
  bus.atu.init(6, 0x70000000, 0x6000, 0x2000, 'header -> end of SRAM');
  bus.atu.init(5, 0x70002000, 0x0, 0x6000, 'code -> SRAM base');
  const img = Uint8Array.from({ length: 0x2100 }, (_, i) => (i * 7) & 0xff);
  bus.write(0x70000000, img);
  assert.deepEqual(sram.subarray(0x6000, 0x8000), img.subarray(0, 0x2000));
  assert.deepEqual(sram.subarray(0, 0x100), img.subarray(0x2000));
  assert.deepEqual(bus.read(0x70000000, img.length), img);
  assert.throws(
    () => bus.read(0x70008000, 4),
    (e: unknown) => e instanceof BusFault && e.kind === 'atu-mismatch',
  );
  assert.throws(
    () => bus.read(0x20000000, 4),
    (e: unknown) => e instanceof BusFault && e.kind === 'no-memory',
  );
});

test('shared data: duplicates and overflow are refused; records round-trip in both layouts', () => {
  for (const profile of ['rse-2.1', 'rss-1.7'] as const) {
    const sd = new SharedData(rseProfile(profile).sharedData);
    const m = {
      slot: 2,
      swType: 'RT_0',
      signerId: new Uint8Array(32).fill(1),
      version: '1.2.3+4',
      value: new Uint8Array(32).fill(9),
      locked: false,
    };
    sd.storeMeasurement(m);
    assert.throws(
      () => sd.storeMeasurement(m),
      (e: unknown) => e instanceof RseError && e.code === 'E_SHARED_DATA',
    );
    const back = parseSharedData(rseProfile(profile).sharedData, sd.bytes);
    assert.equal(back.length, 1);
    assert.equal(back[0]?.version, '1.2.3+4');
    assert.equal(back[0]?.swType, 'RT_0');
    assert.throws(() => {
      for (let s = 3; s < 32; s++) sd.storeMeasurement({ ...m, slot: s });
    }, /shared data area full/);
  }
});

test('parseSharedData never fails with anything but an RseError on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), fc.boolean(), (b, withMagic) => {
      if (withMagic && b.length >= 2) {
        b[0] = 0x16;
        b[1] = 0x20;
      }
      try {
        parseSharedData(rseProfile('rse-2.1').sharedData, b);
      } catch (e) {
        if (!(e instanceof RseError)) throw e;
      }
    }),
    { numRuns: 500 },
  );
});
