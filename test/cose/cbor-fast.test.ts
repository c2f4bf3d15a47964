/**
 * The fast CBOR reader against cbor2 with the strict options: for any value cbor2 can encode (in
 * preferred and non-preferred forms) and for any mutation of those bytes, decodeStrict gives what
 * cbor2 alone gives, value for value, or the same refusal. The fast reader itself either agrees with
 * cbor2 or steps aside (NOT_FAST / an error); it never returns a different value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, encode } from 'cbor2';
import fc from 'fast-check';
import { decodeStrict, Tag } from '../../src/cose/cbor.ts';
import { decodeFast } from '../../src/cose/cbor-fast.ts';

const STRICT = { ignoreGlobalTags: true, rejectStreaming: true, rejectDuplicateKeys: true, preferMap: true } as const;

function cbor2(bytes: Uint8Array): { ok: true; v: unknown } | { ok: false; msg: string } {
  try {
    return { ok: true, v: decode(bytes, STRICT) };
  } catch (e) {
    return { ok: false, msg: (e as Error).message };
  }
}

function ours(bytes: Uint8Array): { ok: true; v: unknown } | { ok: false; msg: string } {
  try {
    return { ok: true, v: decodeStrict(bytes, 'x') };
  } catch (e) {
    return { ok: false, msg: (e as Error).message };
  }
}

const leaf = fc.oneof(
  fc.integer(),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.double(),
  fc.string({ unit: 'binary' }),
  fc.uint8Array({ maxLength: 40 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .array(
        fc.tuple(fc.oneof(fc.integer({ min: -30, max: 300 }), fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 4 })), tie('value')),
        { maxLength: 5 },
      )
      .map((kv) => new Map(kv)),
    fc.tuple(fc.integer({ min: 0, max: 100_000 }), tie('value')).map(([t, v]) => new Tag(t, v)),
  ),
}));

test('decodeStrict (fast path) equals cbor2 strict decoding on any value, preferred or not, and on mutated bytes', () => {
  fc.assert(
    fc.property(
      value,
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      (v, preferred, flips) => {
        let bytes: Uint8Array;
        try {
          bytes = encode(v, preferred ? {} : { avoidInts: false, float64: true });
        } catch {
          return;
        }
        const mutated = new Uint8Array(bytes);
        for (const [at, b] of flips) if (mutated.length > 0) mutated[at % mutated.length] = b;
        for (const b of [bytes, mutated]) {
          const want = cbor2(b);
          const got = ours(b);
          assert.equal(got.ok, want.ok, Buffer.from(b).toString('hex'));
          if (want.ok && got.ok) assert.deepStrictEqual(got.v, want.v);
          else if (!want.ok && !got.ok) assert.match(got.msg, new RegExp(want.msg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
          // The fast reader alone: the same value, or it steps aside.
          try {
            const fast = decodeFast(b);
            assert.ok(want.ok, 'the fast reader accepted what cbor2 refuses');
            assert.deepStrictEqual(fast, (want as { v: unknown }).v);
          } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
          }
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('the fast reader refuses a duplicate key, trailing bytes, truncation and bad UTF-8 (cbor2 then gives the message)', () => {
  for (const hex of ['a201010102', 'a2010118010102', '0101', '5801', '62c328', '9f01ff', '7f6161ff']) {
    const b = Buffer.from(hex, 'hex');
    assert.throws(
      () => decodeFast(b),
      () => true,
      hex,
    );
    assert.equal(ours(b).ok, false, hex);
    assert.equal(cbor2(b).ok, false, hex);
  }
});
