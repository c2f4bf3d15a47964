/**
 * Property tests: mutated images (truncations, bit flips, hostile length and size fields in the
 * header and TLV areas) only ever produce a typed RseError, and parsing never copies or
 * allocates by a declared length: every TLV value is a view into the input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadKey } from '../../src/crypto/index.ts';
import { RseError } from '../../src/lib/errors.ts';
import { dumpInfo } from '../../src/mcuboot/dumpinfo.ts';
import { parseImage, readTrailer } from '../../src/mcuboot/image.ts';
import { verifyImage } from '../../src/mcuboot/verify.ts';
import { vectorsDir } from '../helpers.ts';

const dir = vectorsDir('mcuboot');
const RUNS = 10_000;
const SEED = 0x5e5e;

const bases = ['signed/ed25519-1k.bin', 'signed/opt-all-protected.bin', 'signed/rse-ed25519-1k.bin'].map((f) =>
  new Uint8Array(readFileSync(join(dir, f))).slice(0, 0x2600),
);
const key = loadKey(readFileSync(join(dir, 'keys/ed25519.pem')));

/** A mutation: cut, flip bits, or overwrite a 16-bit/32-bit field with a hostile value. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('field16' as const),
    at: fc.oneof(fc.constantFrom(8, 10), fc.nat()),
    value: fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 0x20, 0x6907, 0x6908, 0xfffc, 0xffff), fc.integer({ min: 0, max: 0xffff })),
  }),
  fc.record({
    kind: fc.constant('field32' as const),
    at: fc.oneof(fc.constantFrom(0, 4, 12, 16), fc.nat()),
    value: fc.oneof(fc.constantFrom(0, 0x7fffffff, 0xffffffff, 0xfffffff0), fc.nat()),
  }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(base: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = base.slice();
  for (const m of muts) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (m.kind === 'truncate') b = b.slice(0, m.at % (b.length + 1));
    else if (b.length === 0) continue;
    else if (m.kind === 'flip') b[m.at % b.length] = (b[m.at % b.length] as number) ^ (1 << m.bit);
    else if (m.kind === 'field16' && b.length >= 2) dv.setUint16(m.at % (b.length - 1), m.value, true);
    else if (m.kind === 'field32' && b.length >= 4) dv.setUint32(m.at % (b.length - 3), m.value, true);
  }
  return b;
}

const images = fc.tuple(fc.integer({ min: 0, max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 }));

function onlyRseErrors(fn: (b: Uint8Array) => void): (t: [number, Mutation[]]) => void {
  return ([i, muts]) => {
    const b = apply(bases[i] as Uint8Array, muts);
    try {
      fn(b);
    } catch (e) {
      if (!(e instanceof RseError)) throw new Error(`not an RseError: ${(e as Error).stack}`);
      assert.ok(e.code.startsWith('E_'));
    }
  };
}

describe('mutated images only ever produce RseError', () => {
  it(`parseImage (${RUNS} cases): errors are typed, TLV values are views into the input`, () => {
    fc.assert(
      fc.property(
        images,
        onlyRseErrors((b) => {
          const img = parseImage(b);
          for (const area of [img.protectedArea, img.unprotectedArea]) {
            for (const e of area?.entries ?? []) {
              assert.equal(e.value.buffer, b.buffer, 'TLV value must not be a copy');
              assert.ok(e.offset + 4 + e.value.length <= b.length);
            }
          }
          assert.ok(img.tlvEnd <= b.length);
        }),
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it(`verifyImage (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        images,
        onlyRseErrors((b) => void verifyImage(b, { key })),
      ),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });

  it(`dumpInfo and readTrailer (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        images,
        onlyRseErrors((b) => {
          readTrailer(b);
          dumpInfo(b, 'fuzz.bin');
        }),
      ),
      { numRuns: RUNS, seed: SEED + 2 },
    );
  });

  it(`random bytes (${RUNS} cases) are rejected, never crash`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
        const b = new Uint8Array(raw);
        if (b.length >= 4) new DataView(b.buffer).setUint32(0, 0x96f3b83d, true);
        try {
          verifyImage(b, { key });
        } catch (e) {
          assert.ok(e instanceof RseError, String(e));
        }
      }),
      { numRuns: RUNS, seed: SEED + 3 },
    );
  });
});
