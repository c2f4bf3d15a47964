/**
 * Hostile evidence and endorsements: truncations, byte flips, claims replaced by values of any
 * CBOR type, huge declared lengths and deep nesting give a typed RseError (or a verdict), never
 * another exception; appraisal never throws and answers with an EAR.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encode } from 'cbor2';
import fc from 'fast-check';
import { appraise, MemoryStore } from '../../src/attestation/appraise.ts';
import { readCorim } from '../../src/attestation/corim.ts';
import { decodeEvidence, verifyEvidence } from '../../src/attestation/token.ts';
import { decodeStrict, Tag } from '../../src/cose/cbor.ts';
import { loadTokenKey } from '../../src/cose/keys.ts';
import { createCose, decodeCose } from '../../src/cose/message.ts';
import { RseError } from '../../src/lib/errors.ts';
import { vectorsDir } from '../helpers.ts';

const dir = vectorsDir('attestation');
const file = (p: string): Uint8Array => new Uint8Array(readFileSync(join(dir, p)));
const PSA = file('psa/rfc9783/psa-sign1.cbor');
const CCA = file('cca/tfm-tools/cca_example_token.cbor');
const CORIM = file('corim/cca/corim-cca-platform-valid.cbor');
const KEY = loadTokenKey(file('psa/rfc9783/tfm-es-iak.json'));
const CPAK = loadTokenKey(file('cca/tfm-tools/cca_platform.pem'));
const STORE = new MemoryStore().add(readCorim(file('corim/psa/corim-psa-valid.cbor')));

function typedOrOk(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof RseError)) throw e;
    assert.match(e.code, /^E_[A-Z_]+$/);
  }
}

function checkToken(bytes: Uint8Array): void {
  typedOrOk(() => {
    const ev = decodeEvidence(bytes);
    verifyEvidence(ev, ev.kind === 'psa' ? KEY : CPAK);
  });
}

const cborValue = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
    fc.string(),
    fc.uint8Array({ maxLength: 80 }),
    fc.boolean(),
    fc.constant(null),
    fc.double(),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.integer({ min: -75010, max: 44243 }), fc.string()), tie('v')), { maxLength: 4 }).map((kv) => new Map(kv)),
    fc.tuple(fc.nat(1000), tie('v')).map(([t, c]) => new Tag(t, c)),
  ),
})).v;

test('truncated and bit-flipped tokens give typed errors', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(PSA, CCA),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (base, patches, cut) => {
        const b = base.slice(0, cut === undefined ? base.length : cut % (base.length + 1));
        for (const [at, v] of patches) if (b.length > 0) b[at % b.length] = v;
        checkToken(b);
      },
    ),
    { numRuns: 1500 },
  );
});

test('claims replaced, removed or added with values of any type give typed errors, signed or not', () => {
  const claims = decodeStrict(decodeCose(PSA).payload, 'claims') as Map<unknown, unknown>;
  const keys = [...claims.keys()];
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...keys), fc.integer({ min: -75010, max: 2402 })), fc.option(cborValue, { nil: undefined })),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      (edits) => {
        const m = new Map(claims);
        for (const [k, v] of edits) v === undefined ? m.delete(k) : m.set(k, v);
        checkToken(createCose(encode(m), KEY));
      },
    ),
    { numRuns: 800 },
  );
});

test('CCA collections with entries of any shape give typed errors', () => {
  fc.assert(
    fc.property(fc.constantFrom(907, 399, 18), cborValue, cborValue, (tag, p, r) => {
      checkToken(
        encode(
          new Tag(
            tag,
            new Map([
              [44234, p],
              [44241, r],
            ]),
          ),
        ),
      );
      checkToken(
        encode(
          new Tag(
            tag,
            new Map([
              [44234, [263, encode(p)]],
              [44241, [263, encode(r)]],
            ]),
          ),
        ),
      );
    }),
    { numRuns: 600 },
  );
});

test('huge declared lengths and deep nesting are refused without exhausting memory or the stack', () => {
  for (const head of [
    [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0x9b, 0, 0, 0, 1, 0, 0, 0, 0],
    [0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0xd2, 0x84, 0x5a, 0xff, 0xff, 0xff, 0xf0],
  ])
    checkToken(Uint8Array.from(head));
  for (const depth of [100, 2000, 100_000]) {
    checkToken(new Uint8Array(depth).fill(0x81));
    checkToken(Uint8Array.from([...new Array<number>(depth).fill(0xd9), 0x01]));
  }
});

test('appraisal of any mutated evidence answers with an EAR and never throws', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), async (patches, cut) => {
      const b = PSA.slice(0, cut % (PSA.length + 1));
      for (const [at, v] of patches) if (b.length > 0) b[at % b.length] = v;
      const a = await appraise(b, STORE, { nonce: new Uint8Array(32).fill(1) });
      const subs = Object.values(a.ear.submods);
      assert.equal(subs.length, 1);
    }),
    { numRuns: 400 },
  );
});

test('mutated CoRIMs give endorsements or typed errors', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      (patches, cut) => {
        const b = CORIM.slice(0, cut === undefined ? CORIM.length : cut % (CORIM.length + 1));
        for (const [at, v] of patches) if (b.length > 0) b[at % b.length] = v;
        typedOrOk(() => readCorim(b));
      },
    ),
    { numRuns: 1500 },
  );
  fc.assert(
    fc.property(cborValue, cborValue, (a, c) => {
      typedOrOk(() =>
        readCorim(
          encode(
            new Tag(
              501,
              new Map([
                [1, [new Tag(506, encode(a))]],
                [3, c],
              ]),
            ),
          ),
        ),
      );
      typedOrOk(() => readCorim(encode(new Tag(501, a))));
    }),
    { numRuns: 800 },
  );
});
