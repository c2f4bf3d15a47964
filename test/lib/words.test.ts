/** The word readers: one bounds rule, a typed error past the end, the same values as DataView inside. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readU16le, readU32be, readU32le, readU64le } from '../../src/lib/bytes.ts';
import { RseError } from '../../src/lib/errors.ts';

const READERS = [
  { name: 'readU16le', n: 2, read: readU16le, ref: (dv: DataView, o: number) => dv.getUint16(o, true) },
  { name: 'readU32le', n: 4, read: readU32le, ref: (dv: DataView, o: number) => dv.getUint32(o, true) },
  { name: 'readU32be', n: 4, read: readU32be, ref: (dv: DataView, o: number) => dv.getUint32(o, false) },
  { name: 'readU64le', n: 8, read: readU64le, ref: (dv: DataView, o: number) => dv.getBigUint64(o, true) },
] as const;

for (const r of READERS) {
  test(`${r.name}: DataView's value inside the bytes, E_TRUNCATED with the offset past them`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), fc.integer({ min: -4, max: 40 }), fc.nat(3), (b, offset, start) => {
        const view = b.subarray(Math.min(start, b.length));
        if (offset >= 0 && offset + r.n <= view.length) {
          assert.equal(r.read(view, offset), r.ref(new DataView(view.buffer, view.byteOffset, view.byteLength), offset));
        } else {
          assert.throws(
            () => r.read(view, offset),
            (e: unknown) => e instanceof RseError && e.code === 'E_TRUNCATED' && e.offset === offset,
          );
        }
      }),
      { numRuns: 3000, seed: 0x5eed },
    );
  });
}
