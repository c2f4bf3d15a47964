/**
 * Signed CoRIMs (draft-ietf-rats-corim §4.2): a COSE_Sign1 whose protected header carries the
 * algorithm, `application/rim+cbor`, the key id and the CoRIM meta; verified with the signer's
 * key within its validity window; anything else is a typed error, never a crash.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encode } from 'cbor2';
import fc from 'fast-check';
import { readCorim } from '../../src/attestation/corim.ts';
import { checkCorimSigners, decodeSignedCorim, isSignedCorim, signCorim, verifySignedCorim } from '../../src/attestation/corim-sign.ts';
import { decodeStrict, Tag } from '../../src/cose/cbor.ts';
import type { TokenKey } from '../../src/cose/keys.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { flipBits, rseErrorOf, vectorsDir } from '../helpers.ts';

const UNSIGNED = new Uint8Array(readFileSync(join(vectorsDir('attestation'), 'corim/cca/corim-cca-platform-valid.cbor')));

function ecKey(curve: 'prime256v1' | 'secp384r1'): TokenKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return { kind: 'ec', crv: curve === 'prime256v1' ? 'P-256' : 'P-384', privateKey, publicKey };
}

test('sign and verify: the header as the draft lays it out, the same endorsements inside; another key or a flipped bit is refused', () => {
  const k = ecKey('secp384r1');
  const signed = signCorim(
    UNSIGNED,
    k,
    { signer: 'ACME', signerUri: 'https://acme.example', notBefore: new Date('2026-01-01'), notAfter: new Date('2030-01-01') },
    Uint8Array.of(9, 9),
  );
  assert.ok(isSignedCorim(signed));
  assert.equal(isSignedCorim(UNSIGNED), false);
  const s = verifySignedCorim(signed, k, new Date('2027-06-01'));
  assert.equal(s.cose.alg, -35);
  assert.equal(s.contentType, 'application/rim+cbor');
  assert.deepEqual(s.kid, Uint8Array.of(9, 9));
  assert.deepEqual(s.meta, {
    signer: 'ACME',
    signerUri: 'https://acme.example',
    notBefore: new Date('2026-01-01'),
    notAfter: new Date('2030-01-01'),
  });
  assert.deepEqual(s.corim, UNSIGNED);
  // The protected header: {1: alg, 3: content type, 4: kid, 8: bstr .cbor meta}, meta with tag 32 and tag 1.
  const hdr = decodeStrict(s.cose.protectedHeader, 'h') as Map<number, unknown>;
  assert.deepEqual([...hdr.keys()], [1, 3, 4, 8]);
  const meta = decodeStrict(hdr.get(8) as Uint8Array, 'm') as Map<number, Map<number, unknown>>;
  assert.deepEqual(meta.get(0)?.get(1), new Tag(32, 'https://acme.example'));
  assert.deepEqual(meta.get(1)?.get(1), new Tag(1, Date.parse('2030-01-01') / 1000));
  // The endorsements read from the signed CoRIM are those of the unsigned one.
  assert.deepEqual(readCorim(signed), readCorim(UNSIGNED));
  assert.equal(rseErrorOf(() => verifySignedCorim(signed, ecKey('secp384r1')))?.code, 'E_SIGNATURE');
  assert.equal(rseErrorOf(() => verifySignedCorim(signed, ecKey('prime256v1')))?.code, 'E_COSE');
  const flipped = signed.slice();
  flipBits(flipped, flipped.length - 70);
  assert.equal(rseErrorOf(() => verifySignedCorim(flipped, k))?.code, 'E_SIGNATURE');
  // The validity window, at both ends.
  assert.match(rseErrorOf(() => verifySignedCorim(signed, k, new Date('2025-12-31')))?.message ?? '', /valid from 2026-01-01/);
  assert.match(rseErrorOf(() => verifySignedCorim(signed, k, new Date('2030-01-02')))?.message ?? '', /expired at 2030-01-01/);
  // A trusted-signer list: the right key among others passes; none of them, or an unsigned CoRIM, fails.
  checkCorimSigners(signed, [ecKey('prime256v1'), ecKey('secp384r1'), k], new Date('2027-01-01'));
  assert.equal(rseErrorOf(() => checkCorimSigners(signed, [ecKey('secp384r1')], new Date('2027-01-01')))?.code, 'E_SIGNATURE');
  assert.equal(rseErrorOf(() => checkCorimSigners(UNSIGNED, [k], new Date('2027-01-01')))?.code, 'E_CORIM');
});

test('only an unsigned CoRIM is signed, with an EC key; a meta without not-after is refused', () => {
  const k = ecKey('prime256v1');
  const signed = signCorim(UNSIGNED, k, { signer: 'x' });
  assert.equal(rseErrorOf(() => signCorim(signed, k, { signer: 'x' }))?.code, 'E_CORIM');
  assert.equal(rseErrorOf(() => signCorim(UNSIGNED, { kind: 'hmac', secret: new Uint8Array(32) }, { signer: 'x' }))?.code, 'E_KEY');
  assert.equal(rseErrorOf(() => signCorim(UNSIGNED, k, { signer: 'x', notBefore: new Date() }))?.code, 'E_CORIM');
  // RFC 6979 nonces: the same CoRIM, key and meta give the same bytes.
  const det: TokenKey = { ...k, nonce: 'rfc6979' } as TokenKey;
  assert.deepEqual(signCorim(UNSIGNED, det, { signer: 'x' }), signCorim(UNSIGNED, det, { signer: 'x' }));
});

test('decodeSignedCorim: mutated and forged inputs give typed errors only (fast-check)', () => {
  const k = ecKey('prime256v1');
  const signed = signCorim(UNSIGNED, k, { signer: 'fc', notAfter: new Date('2099-01-01') });
  const forged = (ph: Map<number, unknown>, payload: Uint8Array = UNSIGNED): Uint8Array =>
    encode(new Tag(18, [encode(ph), new Map(), payload, new Uint8Array(64)]));
  for (const bad of [
    forged(
      new Map<number, unknown>([
        [1, -7],
        [3, 'text/plain'],
      ]),
    ),
    forged(
      new Map<number, unknown>([
        [1, -7],
        [8, 'not bytes'],
      ]),
    ),
    forged(
      new Map<number, unknown>([
        [1, -7],
        [8, encode(new Map([[0, new Map([[0, 7]])]]))],
      ]),
    ),
    forged(
      new Map<number, unknown>([
        [1, -7],
        [
          8,
          encode(
            new Map([
              [0, new Map([[0, 'a']])],
              [1, new Map([[1, 'never']])],
            ]),
          ),
        ],
      ]),
    ),
    forged(new Map<number, unknown>([[1, -7]]), encode(new Tag(502, new Map()))),
    encode(new Tag(17, [new Uint8Array(0), new Map(), UNSIGNED, new Uint8Array(32)])),
  ])
    assert.match(rseErrorOf(() => decodeSignedCorim(bad))?.code ?? 'no error', /^E_(CORIM|COSE)$/);
  fc.assert(
    fc.property(fc.nat(signed.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(signed.length), (at, x, cut) => {
      const m = signed.slice(0, Math.max(1, cut));
      if (at < m.length) m[at] = (m[at] as number) ^ x;
      try {
        verifySignedCorim(m, k);
      } catch (e) {
        assert.ok(isRseError(e), String(e));
      }
    }),
    { seed: 28, numRuns: 2000 },
  );
});
