/** FIP parser and packer properties: mutations only give typed errors; pack/parse round-trips. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FIP_ENTRY_SIZE, FIP_HEADER_SIZE, fipBytes, fipUuidFromString, fipUuidToString, packFip, parseFip } from '../../src/fip/fip.ts';
import { RseError } from '../../src/lib/errors.ts';
import { vectorsDir } from '../helpers.ts';

const BASE = new Uint8Array(readFileSync(join(vectorsDir('fip'), 'create_rss.fip')));
const TOC_END = FIP_HEADER_SIZE + FIP_ENTRY_SIZE * 6;

function parseOrTypedError(bytes: Uint8Array): void {
  try {
    const fip = parseFip(bytes, 'x.fip');
    for (const e of fip.entries) {
      assert.ok(e.offset + e.size <= bytes.length);
      assert.equal(e.data.length, e.size);
    }
    assert.equal(new Set(fip.entries.map((e) => fipUuidToString(e.uuid))).size, fip.entries.length);
  } catch (e) {
    if (!(e instanceof RseError)) throw e;
    assert.match(e.code, /^E_[A-Z_]+$/);
  }
}

test('random byte and field mutations of the ToC give a FIP or a typed error', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(TOC_END - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
      fc.option(fc.nat(BASE.length), { nil: undefined }),
      (patches, cut) => {
        const b = BASE.slice(0, cut ?? BASE.length);
        for (const [at, v] of patches) if (at < b.length) b[at] = v;
        parseOrTypedError(b);
      },
    ),
    { numRuns: 2000 },
  );
});

test('64-bit offsets and sizes near the limits are rejected, not wrapped', () => {
  fc.assert(
    fc.property(
      fc.nat(5),
      fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
      (entry, offset, size) => {
        const b = BASE.slice();
        const dv = new DataView(b.buffer);
        dv.setBigUint64(FIP_HEADER_SIZE + entry * FIP_ENTRY_SIZE + 16, offset, true);
        dv.setBigUint64(FIP_HEADER_SIZE + entry * FIP_ENTRY_SIZE + 24, size, true);
        parseOrTypedError(b);
      },
    ),
    { numRuns: 1000 },
  );
});

test('pack then parse gives back every non-empty image, aligned, in order', () => {
  const uuidArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((u) => u.some((x) => x !== 0));
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({ uuid: uuidArb, data: fc.uint8Array({ maxLength: 300 }), flags: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
        {
          selector: (r) => fipUuidToString(r.uuid),
          maxLength: 6,
        },
      ),
      fc.integer({ min: 0, max: 12 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      (images, shift, flags) => {
        const align = 2 ** shift;
        const packed = packFip(images, { align, flags });
        const bytes = fipBytes(packed);
        assert.equal(bytes.length % align, 0);
        assert.equal(bytes.length, packed.size);
        const fip = parseFip(bytes);
        assert.equal(fip.flags, flags);
        const kept = images.filter((i) => i.data.length > 0);
        assert.equal(fip.entries.length, kept.length);
        fip.entries.forEach((e, i) => {
          const img = kept[i] as (typeof kept)[number];
          assert.deepEqual(e.uuid, img.uuid);
          assert.deepEqual(e.data, img.data);
          assert.equal(e.flags, img.flags);
          assert.equal(e.offset % align, 0);
        });
        assert.equal(fip.terminator.offset, BigInt(bytes.length));
      },
    ),
    { numRuns: 300 },
  );
});

test('UUID text form is storage order and round-trips', () => {
  const u = fipUuidFromString('a3b3b30d-ebc9-4048-b480-155361c17048') as Uint8Array;
  assert.deepEqual([...u.subarray(0, 4)], [0xa3, 0xb3, 0xb3, 0x0d]);
  assert.equal(fipUuidToString(u), 'A3B3B30D-EBC9-4048-B480-155361C17048');
  assert.equal(fipUuidFromString('0123'), undefined);
  assert.equal(fipUuidFromString('0123456789AB-CDEF-0123-456789ABCDEF-'), undefined);
});
