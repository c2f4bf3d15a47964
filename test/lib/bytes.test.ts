import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter } from '../../src/lib/bytes.ts';
import { RseError } from '../../src/lib/errors.ts';

describe('ByteReader / ByteWriter', () => {
  it('reads what the writer wrote, in both byte orders', () => {
    for (const endian of ['little', 'big'] as const) {
      const b = new ByteWriter(1, endian)
        .u8(0xab)
        .u16(0x1234)
        .u32(0xdeadbeef)
        .bytes(new Uint8Array([9, 8]))
        .finish();
      const r = new ByteReader(b, 0, b.length, endian);
      assert.equal(r.u8('a'), 0xab);
      assert.equal(r.u16('b'), 0x1234);
      assert.equal(r.u32('c'), 0xdeadbeef);
      assert.deepEqual([...r.bytesView(2, 'd')], [9, 8]);
      assert.equal(r.remaining, 0);
    }
  });

  it('reports the field and absolute offset of a short read', () => {
    const r = new ByteReader(new Uint8Array(10), 4, 6);
    r.u8('x');
    assert.throws(
      () => r.u32('header.ih_img_size'),
      (e: unknown) => e instanceof RseError && e.code === 'E_TRUNCATED' && e.offset === 5 && e.field === 'header.ih_img_size',
    );
  });

  it('never throws anything but E_TRUNCATED for any read sequence (10,000 cases)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 4 })),
        fc.integer({ min: -5, max: 30 }),
        (b, ops, n) => {
          const r = new ByteReader(b);
          try {
            for (const op of ops) {
              if (op === 0) r.u8('f');
              else if (op === 1) r.u16('f');
              else if (op === 2) r.u32('f');
              else if (op === 3) r.bytesView(n, 'f');
              else r.skip(n, 'f');
            }
          } catch (e) {
            assert.ok(e instanceof RseError && e.code === 'E_TRUNCATED', String(e));
          }
        },
      ),
      { numRuns: 10_000, seed: 3 },
    );
  });
});
