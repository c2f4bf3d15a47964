import assert from 'node:assert/strict';
import { constants, type KeyObject, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateKey, hash, randomBytes, rsaPssSignDigest, rsaPssVerifyDigest } from '../../src/crypto/index.ts';

describe('RSA-PSS over a precomputed digest', () => {
  for (const type of ['rsa-2048', 'rsa-3072'] as const) {
    const key = generateKey(type);
    it(`${type}: OpenSSL verifies our signatures, we verify and reject`, () => {
      for (let i = 0; i < 20; i++) {
        const msg = randomBytes(100 + i);
        const digest = hash('sha256', msg);
        const sig = rsaPssSignDigest(key, digest);
        assert.ok(verify('sha256', msg, { key: key.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig));
        assert.ok(rsaPssVerifyDigest(key, digest, sig));
        const bad = sig.slice();
        bad[i] = (bad[i] as number) ^ 1;
        assert.equal(rsaPssVerifyDigest(key, digest, bad), false);
        assert.equal(rsaPssVerifyDigest(key, hash('sha256', digest), sig), false);
      }
    });
    it(`${type}: a fixed salt gives a deterministic signature; OpenSSL's own signatures verify`, () => {
      const digest = hash('sha256', new Uint8Array([1, 2, 3]));
      const salt = new Uint8Array(32).fill(7);
      assert.deepEqual(rsaPssSignDigest(key, digest, salt), rsaPssSignDigest(key, digest, salt));
      const theirs = sign('sha256', new Uint8Array([1, 2, 3]), {
        key: key.privateKey as KeyObject,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
      assert.ok(rsaPssVerifyDigest(key, digest, theirs));
    });
  }
});
