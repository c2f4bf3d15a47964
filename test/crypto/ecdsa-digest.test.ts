/** ECDSA over a given digest (psa_sign_hash): cross-verified with node:crypto both ways. */

import assert from 'node:assert/strict';
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ecdsaSignDigest, ecdsaVerifyDigest } from '../../src/crypto/ecdsa-digest.ts';
import { hash } from '../../src/crypto/index.ts';
import { fromHex, toHex } from '../../src/lib/hex.ts';

for (const [curve, alg] of [
  ['P-256', 'sha256'],
  ['P-384', 'sha384'],
  ['P-384', 'sha512'],
  ['P-256', 'sha512'],
] as const) {
  test(`ECDSA ${curve} over a ${alg} digest: node verifies ours, we verify node's, a flipped bit fails`, () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const jwk = privateKey.export({ format: 'jwk' });
    const b = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s as string, 'base64url'));
    const d = b(jwk.d);
    const pub = Uint8Array.of(4, ...b(jwk.x), ...b(jwk.y));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 8 * 64 - 1 }), (m, bit) => {
        const digest = hash(alg, m);
        const ours = ecdsaSignDigest(curve, d, digest);
        assert.ok(createVerify(alg).update(m).verify({ key: publicKey, dsaEncoding: 'ieee-p1363' }, ours));
        const theirs = new Uint8Array(createSign(alg).update(m).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }));
        assert.ok(ecdsaVerifyDigest(curve, pub, digest, theirs));
        const flipped = theirs.slice();
        const at = bit % (8 * flipped.length);
        flipped[at >> 3] = (flipped[at >> 3] as number) ^ (1 << (at & 7));
        assert.equal(ecdsaVerifyDigest(curve, pub, digest, flipped), false);
      }),
      { numRuns: 8 },
    );
    assert.equal(ecdsaVerifyDigest(curve, pub, hash(alg, new Uint8Array(0)), new Uint8Array(5)), false, 'a short signature');
  });
}

test('RFC 6979 A.2.5: deterministic ECDSA P-256 / SHA-256 over "sample" gives the RFC\'s r and s, every time', () => {
  const d = fromHex('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721');
  const digest = hash('sha256', new TextEncoder().encode('sample'));
  const sig = ecdsaSignDigest('P-256', d, digest, 'sha256');
  assert.equal(
    toHex(sig).toUpperCase(),
    'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' + 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
  );
  assert.deepEqual(ecdsaSignDigest('P-256', d, digest, 'sha256'), sig);
  assert.notDeepEqual(ecdsaSignDigest('P-256', d, digest), sig, 'without it the nonce is random');
});
