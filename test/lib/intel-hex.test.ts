import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RseError } from '../../src/lib/errors.ts';
import { hexToBinary, mergeSegments, parseIntelHex, writeIntelHex } from '../../src/lib/intel-hex.ts';
import { vectorsDir } from '../helpers.ts';

describe('Intel HEX', () => {
  it('re-emits the reference files byte for byte (intelhex record layout)', () => {
    const dir = vectorsDir('mcuboot');
    for (const f of ['inputs/payload-1k-at-10000200.hex', 'signed/rse-ed25519-1k.hex', 'signed/opt-hexin.hex']) {
      const text = readFileSync(join(dir, f), 'latin1');
      assert.equal(writeIntelHex(parseIntelHex(text).segments), text, f);
    }
  });

  it('round-trips arbitrary sparse segments (2,000 cases)', () => {
    const seg = fc.record({ address: fc.integer({ min: 0, max: 0xffffff00 }), data: fc.uint8Array({ minLength: 1, maxLength: 70 }) });
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 5 }), (segs) => {
        const merged = mergeSegments(segs);
        const back = parseIntelHex(writeIntelHex(segs)).segments;
        assert.deepEqual(
          back.map((s) => [s.address, Buffer.from(s.data).toString('hex')]),
          merged.map((s) => [s.address, Buffer.from(s.data).toString('hex')]),
        );
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('refuses to flatten a span larger than the limit instead of allocating it', () => {
    const far = parseIntelHex(
      writeIntelHex([
        { address: 0, data: new Uint8Array([1]) },
        { address: 0xfffffff0, data: new Uint8Array([2]) },
      ]),
    );
    assert.throws(
      () => hexToBinary(far),
      (e: unknown) => e instanceof RseError && e.code === 'E_HEX',
    );
  });

  it('fills gaps with 0xff when flattened', () => {
    const { base, data } = hexToBinary({
      segments: [
        { address: 0x10, data: new Uint8Array([1]) },
        { address: 0x13, data: new Uint8Array([2]) },
      ],
    });
    assert.equal(base, 0x10);
    assert.deepEqual([...data], [1, 0xff, 0xff, 2]);
  });

  it('rejects malformed text with E_HEX, never anything else (5,000 cases)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          parseIntelHex(`:${s}`);
        } catch (e) {
          assert.ok(e instanceof RseError && e.code === 'E_HEX', String(e));
        }
      }),
      { numRuns: 5000, seed: 8 },
    );
    assert.throws(
      () => parseIntelHex(':0100000001FF\n'),
      (e: unknown) => e instanceof RseError && e.code === 'E_HEX',
    );
  });
});
