/** ECDSA over a given digest (psa_sign_hash): cross-verified with node:crypto both ways. */

import assert from 'node:assert/strict';
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ecdsaRawToDer, ecdsaSignDigest, ecdsaVerifyDigest } from '../../src/crypto/ecdsa-digest.ts';
import { deterministicKey, ecdsaSign, ecdsaSigner, ecKeyFromPrivate, hash } from '../../src/crypto/index.ts';
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

/** RFC 6979 A.2.5 (P-256) and A.2.6 (P-384), "sample" and "test", each with the curve's hash. */
const RFC6979 = [
  {
    curve: 'P-256',
    alg: 'sha256',
    x: 'C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721',
    sigs: {
      sample:
        'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
      test: 'F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083',
    },
  },
  {
    curve: 'P-384',
    alg: 'sha384',
    x: '6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D896D5724E4C70A825F872C9EA60D2EDF5',
    sigs: {
      sample:
        '94EDBB92A5ECB8AAD4736E56C691916B3F88140666CE9FA73D64C4EA95AD133C81A648152E44ACF96E36DD1E80FABE46' +
        '99EF4AEB15F178CEA1FE40DB2603138F130E740A19624526203B6351D0A3A94FA329C145786E679E7B82C71A38628AC8',
      test:
        '8203B63D3C853E8D77227FB377BCF7B7B772E97892A80F36AB775D509D7A5FEB0542A7F0812998DA8F1DD3CA3CF023DB' +
        'DDD0760448D42D8A43AF45AF836FCE4DE8BE06B485E9B61B827C2F13173923E06A739F040649A667BF3B828246BAA5A5',
    },
  },
] as const;

for (const v of RFC6979)
  test(`RFC 6979 ${v.curve === 'P-256' ? 'A.2.5' : 'A.2.6'}: a --deterministic ${v.curve} key signs "sample" and "test" as the RFC does, DER and raw, and OpenSSL verifies`, () => {
    const key = deterministicKey(ecKeyFromPrivate(v.curve, fromHex(v.x)));
    for (const [msg, want] of Object.entries(v.sigs)) {
      const m = new TextEncoder().encode(msg);
      const raw = ecdsaSign(key, [m], 'ieee-p1363');
      assert.equal(toHex(raw).toUpperCase(), want, msg);
      const der = ecdsaSign(key, [m]);
      assert.ok(createVerify(v.alg).update(m).verify({ key: key.publicKey, dsaEncoding: 'der' }, der), `${msg}: DER`);
      assert.deepEqual(new Uint8Array(der), ecdsaRawToDer(raw));
      // Streamed in pieces, the same bytes.
      const s = ecdsaSigner(key, 'ieee-p1363');
      s.update(m.subarray(0, 2));
      s.update(m.subarray(2));
      assert.deepEqual(s.sign(), raw);
      assert.notDeepEqual(ecdsaSign(ecKeyFromPrivate(v.curve, fromHex(v.x)), [m], 'ieee-p1363'), raw, 'a plain key draws its nonce');
    }
  });

test('the DER form of r ‖ s: leading zeros dropped, a sign byte where the top bit is set; OpenSSL reads it', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (raw) => {
      fc.pre(raw.subarray(0, 32).some((b) => b !== 0) && raw.subarray(32).some((b) => b !== 0));
      const der = ecdsaRawToDer(raw);
      const back = derToP1363(der, 32);
      assert.deepEqual(back, raw);
    }),
    { numRuns: 200 },
  );
});

/** An independent DER reader (the inverse the test needs). */
function derToP1363(der: Uint8Array, size: number): Uint8Array {
  assert.equal(der[0], 0x30);
  let at = der[1] === 0x81 ? 3 : 2;
  const out = new Uint8Array(2 * size);
  for (const half of [0, 1]) {
    assert.equal(der[at], 0x02);
    const len = der[at + 1] as number;
    const v = der.subarray(at + 2, at + 2 + len);
    const t = v[0] === 0 && v.length > 1 ? v.subarray(1) : v;
    out.set(t, half * size + size - t.length);
    at += 2 + len;
  }
  assert.equal(at, der.length);
  return out;
}
