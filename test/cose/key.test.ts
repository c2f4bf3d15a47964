/** COSE_Key of EC2 public keys: t_cose's map, checked against cbor2 and the spec's sizes. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { encode } from 'cbor2';
import fc from 'fast-check';
import { coseKeyEc2, ecKeyFromPoint } from '../../src/cose/keys.ts';
import { ecPublicFromPrivate } from '../../src/crypto/index.ts';

test('coseKeyEc2 is {1: 2, -1: crv, -2: x, -3: y} in that order, as cbor2 encodes it', () => {
  for (const [curve, n, crv, size] of [
    ['P-256', 32, 1, 75],
    ['P-384', 48, 2, 107],
    ['P-521', 66, 3, 143],
  ] as const) {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: n, maxLength: n }), (d) => {
        d[0] = 1; // a valid scalar for every curve
        const pub = ecPublicFromPrivate(curve, d);
        const want = encode(
          new Map<number, unknown>([
            [1, 2],
            [-1, crv],
            [-2, pub.subarray(1, 1 + n)],
            [-3, pub.subarray(1 + n)],
          ]),
        );
        const got = coseKeyEc2(pub);
        assert.deepEqual(got, new Uint8Array(want));
        assert.equal(got.length, size);
      }),
      { numRuns: 5 },
    );
  }
  assert.throws(() => coseKeyEc2(new Uint8Array(65)), { code: 'E_COSE' });
  assert.throws(() => coseKeyEc2(Uint8Array.of(4, 1, 2)), { code: 'E_COSE' });
});

test('a point imported again gives the same key (the verifier does not re-import a realm key per token); other points their own', () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'jwk' });
  const b = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'jwk' });
  const point = (j: typeof a): Uint8Array =>
    new Uint8Array(Buffer.concat([Buffer.of(4), Buffer.from(j.x as string, 'base64url'), Buffer.from(j.y as string, 'base64url')]));
  const k1 = ecKeyFromPoint(point(a));
  assert.equal(ecKeyFromPoint(point(a)), k1);
  const k2 = ecKeyFromPoint(point(b));
  assert.notEqual(k2, k1);
  assert.equal(k2.kind === 'ec' && k2.publicKey.export({ format: 'jwk' }).x, b.x);
});
