/**
 * The crypto partition's PSA Crypto subset over the socket (TF-M 2.1's pack iovec), checked
 * against node:crypto as an independent implementation: AEAD, HMAC, hashes, ECDSA of a hash and
 * of a message, HKDF to bytes and to keys; and the policies: usage flags, permitted algorithms,
 * key ownership per host client, RSE's builtin keys per partition, TC's permission table.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, createHmac, createPublicKey, createVerify, hkdfSync } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { RseClient } from '../../src/comms/client.ts';
import { RseServer, type ServeOptions } from '../../src/comms/server.ts';
import { ecdsaVerifyDigest } from '../../src/crypto/ecdsa-digest.ts';
import {
  ALG,
  ATTRIBUTES_SIZE,
  BUILTIN_KEY,
  CRYPTO_FN,
  encodeAttributes,
  KDF_STEP,
  KEY_TYPE,
  PARTITION,
  PSA_ERROR_INSUFFICIENT_DATA,
  PSA_ERROR_INVALID_SIGNATURE,
  USAGE,
} from '../../src/services/crypto-wire.ts';
import { PSA, PSA_ALG } from '../../src/services/psa.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { tempDir } from '../helpers.ts';

async function served(o: ServeOptions): Promise<{ server: RseServer; path: string }> {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')), o);
  assert.equal(server.boot().ok, true);
  const path = join(tempDir(), 'rse.sock');
  await server.listen({ path });
  return { server, path };
}

const attrs = (type: number, bits: number, usage: number, alg: number): Uint8Array =>
  encodeAttributes({ type, bits, lifetime: 0, usage, alg, id: 0 });
const u32 = (b: Uint8Array | undefined): number => new DataView((b as Uint8Array).buffer, (b as Uint8Array).byteOffset).getUint32(0, true);

async function importKey(c: RseClient, a: Uint8Array, material: Uint8Array): Promise<number> {
  const r = await c.crypto({ functionId: CRYPTO_FN.IMPORT_KEY }, [a, material], [4]);
  assert.equal(r.status, PSA.SUCCESS);
  return u32(r.outVecs[0]);
}

test('PSA Crypto over the socket: AEAD, HMAC, hash, ECDSA and HKDF agree with node:crypto; usage and algorithm policies hold', async () => {
  const { server, path } = await served({ permissions: 'open' });
  const c = await RseClient.connect({ path });
  try {
    // AES-256-GCM: encrypt, decrypt with node; tampering is an invalid signature.
    const aesKey = new Uint8Array(32).map((_, i) => i);
    const aes = await importKey(c, attrs(KEY_TYPE.AES, 256, USAGE.ENCRYPT | USAGE.DECRYPT, ALG.GCM), aesKey);
    const nonce = new Uint8Array(12).fill(7);
    const pt = new TextEncoder().encode('measured boot is not enough');
    const aad = Uint8Array.of(1, 2, 3);
    const enc = await c.crypto({ functionId: CRYPTO_FN.AEAD_ENCRYPT, keyId: aes, alg: ALG.GCM, nonce }, [pt, aad], [pt.length + 16]);
    assert.equal(enc.status, PSA.SUCCESS);
    const ct = enc.outVecs[0] as Uint8Array;
    const d = createDecipheriv('aes-256-gcm', aesKey, nonce);
    d.setAAD(aad);
    d.setAuthTag(ct.subarray(pt.length));
    assert.deepEqual(new Uint8Array(Buffer.concat([d.update(ct.subarray(0, pt.length)), d.final()])), pt, 'node decrypts it');
    const dec = await c.crypto({ functionId: CRYPTO_FN.AEAD_DECRYPT, keyId: aes, alg: ALG.GCM, nonce }, [ct, aad], [pt.length]);
    assert.deepEqual(dec.outVecs[0], pt);
    const bad = ct.slice();
    bad[0] = (bad[0] as number) ^ 1;
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.AEAD_DECRYPT, keyId: aes, alg: ALG.GCM, nonce }, [bad, aad], [pt.length])).status,
      PSA_ERROR_INVALID_SIGNATURE,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.AEAD_ENCRYPT, keyId: aes, alg: ALG.CCM, nonce }, [pt, aad], [64])).status,
      PSA.ERROR_NOT_PERMITTED,
      'CCM is not the policy',
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.AEAD_ENCRYPT, keyId: aes, alg: ALG.GCM, nonce }, [pt, aad], [pt.length])).status,
      PSA.ERROR_BUFFER_TOO_SMALL,
    );
    const encOnly = await importKey(c, attrs(KEY_TYPE.AES, 128, USAGE.ENCRYPT, ALG.CCM), new Uint8Array(16).fill(3));
    const ccm = await c.crypto(
      { functionId: CRYPTO_FN.AEAD_ENCRYPT, keyId: encOnly, alg: ALG.CCM, nonce: new Uint8Array(13) },
      [pt],
      [pt.length + 16],
    );
    assert.equal(ccm.status, PSA.SUCCESS);
    assert.equal(
      (
        await c.crypto(
          { functionId: CRYPTO_FN.AEAD_DECRYPT, keyId: encOnly, alg: ALG.CCM, nonce: new Uint8Array(13) },
          [ccm.outVecs[0] as Uint8Array],
          [64],
        )
      ).status,
      PSA.ERROR_NOT_PERMITTED,
      'no DECRYPT usage',
    );

    // HMAC-SHA-256: compute equals node's; verify; export needs EXPORT usage.
    const macKey = new Uint8Array(32).fill(0x5a);
    const mac = await importKey(c, attrs(KEY_TYPE.HMAC, 256, USAGE.SIGN_MESSAGE | USAGE.VERIFY_MESSAGE, ALG.hmac(PSA_ALG.SHA_256)), macKey);
    const m = await c.crypto({ functionId: CRYPTO_FN.MAC_COMPUTE, keyId: mac, alg: ALG.hmac(PSA_ALG.SHA_256) }, [pt], [32]);
    assert.deepEqual(m.outVecs[0], new Uint8Array(createHmac('sha256', macKey).update(pt).digest()));
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.MAC_VERIFY, keyId: mac, alg: ALG.hmac(PSA_ALG.SHA_256) }, [pt, m.outVecs[0] as Uint8Array]))
        .status,
      PSA.SUCCESS,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.MAC_VERIFY, keyId: mac, alg: ALG.hmac(PSA_ALG.SHA_256) }, [pt, new Uint8Array(32)])).status,
      PSA_ERROR_INVALID_SIGNATURE,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.MAC_COMPUTE, keyId: mac, alg: ALG.hmac(PSA_ALG.SHA_384) }, [pt], [48])).status,
      PSA.ERROR_NOT_PERMITTED,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: mac }, [], [64])).status,
      PSA.ERROR_NOT_PERMITTED,
      'no EXPORT usage',
    );
    const exportable = await importKey(c, attrs(KEY_TYPE.RAW_DATA, 0, USAGE.EXPORT, 0), Uint8Array.of(9, 8, 7));
    assert.deepEqual(
      (await c.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: exportable }, [], [16])).outVecs[0],
      Uint8Array.of(9, 8, 7),
    );
    const at = await c.crypto({ functionId: CRYPTO_FN.GET_KEY_ATTRIBUTES, keyId: exportable }, [], [ATTRIBUTES_SIZE]);
    assert.equal(new DataView((at.outVecs[0] as Uint8Array).buffer).getUint16(2, true), 24, 'bits filled in');

    // Hash compute / compare.
    const h = await c.crypto({ functionId: CRYPTO_FN.HASH_COMPUTE, alg: PSA_ALG.SHA_384 }, [pt], [48]);
    assert.deepEqual(h.outVecs[0], new Uint8Array(createHash('sha384').update(pt).digest()));
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.HASH_COMPARE, alg: PSA_ALG.SHA_384 }, [pt, h.outVecs[0] as Uint8Array])).status,
      PSA.SUCCESS,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.HASH_COMPUTE, alg: PSA_ALG.SHA_256 }, [pt], [31])).status,
      PSA.ERROR_BUFFER_TOO_SMALL,
    );

    // ECDSA: generate a P-256 key for ECDSA(any hash); sign a hash and a message; node verifies.
    const ec = await c.crypto(
      { functionId: CRYPTO_FN.GENERATE_KEY },
      [attrs(KEY_TYPE.ECC_PAIR_R1, 256, USAGE.SIGN_HASH | USAGE.VERIFY_HASH, ALG.ecdsa(ALG.ANY_HASH))],
      [4],
    );
    assert.equal(ec.status, PSA.SUCCESS);
    const ecId = u32(ec.outVecs[0]);
    const pub = (await c.crypto({ functionId: CRYPTO_FN.EXPORT_PUBLIC_KEY, keyId: ecId }, [], [65])).outVecs[0] as Uint8Array;
    assert.equal(pub.length, 65);
    const nodePub = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(pub.subarray(1, 33)).toString('base64url'),
        y: Buffer.from(pub.subarray(33)).toString('base64url'),
      },
      format: 'jwk',
    });
    const digest = new Uint8Array(createHash('sha256').update(pt).digest());
    const sh = await c.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: ecId, alg: ALG.ecdsa(PSA_ALG.SHA_256) }, [digest], [64]);
    assert.equal(sh.status, PSA.SUCCESS);
    assert.ok(
      createVerify('sha256')
        .update(pt)
        .verify({ key: nodePub, dsaEncoding: 'ieee-p1363' }, sh.outVecs[0] as Uint8Array),
      'node verifies sign_hash',
    );
    const smsg = await c.crypto({ functionId: CRYPTO_FN.SIGN_MESSAGE, keyId: ecId, alg: ALG.ecdsa(PSA_ALG.SHA_384) }, [pt], [64]);
    assert.ok(
      createVerify('sha384')
        .update(pt)
        .verify({ key: nodePub, dsaEncoding: 'ieee-p1363' }, smsg.outVecs[0] as Uint8Array),
      'node verifies sign_message',
    );
    assert.equal(
      (
        await c.crypto({ functionId: CRYPTO_FN.VERIFY_HASH, keyId: ecId, alg: ALG.ecdsa(PSA_ALG.SHA_256) }, [
          digest,
          sh.outVecs[0] as Uint8Array,
        ])
      ).status,
      PSA.SUCCESS,
    );
    assert.equal(
      (
        await c.crypto({ functionId: CRYPTO_FN.VERIFY_HASH, keyId: ecId, alg: ALG.ecdsa(PSA_ALG.SHA_256) }, [
          digest.map((x) => x ^ 1),
          sh.outVecs[0] as Uint8Array,
        ])
      ).status,
      PSA_ERROR_INVALID_SIGNATURE,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: ecId, alg: ALG.ecdsa(ALG.ANY_HASH) }, [digest], [64])).status,
      PSA.ERROR_INVALID_ARGUMENT,
      'a wildcard is not an algorithm',
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: ecId, alg: ALG.ecdsa(PSA_ALG.SHA_256) }, [digest.subarray(0, 20)], [64]))
        .status,
      PSA.ERROR_INVALID_ARGUMENT,
      'a hash of the wrong size',
    );

    // HKDF-SHA-256: bytes equal node's hkdfSync; capacity runs out; a derived key is usable.
    const setup = await c.crypto({ functionId: CRYPTO_FN.KDF_SETUP, alg: ALG.hkdf(PSA_ALG.SHA_256) }, [], [4]);
    const op = u32(setup.outVecs[0]);
    const ikm = new Uint8Array(22).fill(0x0b);
    const salt = Uint8Array.from({ length: 13 }, (_, i) => i);
    const info = Uint8Array.from({ length: 10 }, (_, i) => 0xf0 + i);
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_INPUT_BYTES, opHandle: op, step: KDF_STEP.SALT }, [salt])).status,
      PSA.SUCCESS,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_INPUT_BYTES, opHandle: op, step: KDF_STEP.SECRET }, [ikm])).status,
      PSA.SUCCESS,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_INPUT_BYTES, opHandle: op, step: KDF_STEP.INFO }, [info])).status,
      PSA.SUCCESS,
    );
    assert.equal((await c.crypto({ functionId: CRYPTO_FN.KDF_SET_CAPACITY, opHandle: op, capacity: 42 })).status, PSA.SUCCESS);
    const okm = await c.crypto({ functionId: CRYPTO_FN.KDF_OUTPUT_BYTES, opHandle: op }, [], [42]);
    assert.deepEqual(okm.outVecs[0], new Uint8Array(hkdfSync('sha256', ikm, salt, info, 42)), 'RFC 5869 case 1 as node computes it');
    assert.equal((await c.crypto({ functionId: CRYPTO_FN.KDF_OUTPUT_BYTES, opHandle: op }, [], [1])).status, PSA_ERROR_INSUFFICIENT_DATA);
    assert.equal((await c.crypto({ functionId: CRYPTO_FN.KDF_ABORT, opHandle: op }, [], [4])).status, PSA.SUCCESS);
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_OUTPUT_BYTES, opHandle: op }, [], [1])).status,
      PSA.ERROR_BAD_STATE,
      'an aborted operation',
    );
    // From the builtin HUK (DERIVE for every caller) to an ECC key that signs.
    const op2 = u32((await c.crypto({ functionId: CRYPTO_FN.KDF_SETUP, alg: ALG.hkdf(PSA_ALG.SHA_256) }, [], [4])).outVecs[0]);
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_INPUT_KEY, opHandle: op2, step: KDF_STEP.SECRET, keyId: BUILTIN_KEY.HUK })).status,
      PSA.SUCCESS,
    );
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.KDF_INPUT_BYTES, opHandle: op2, step: KDF_STEP.INFO }, [info])).status,
      PSA.SUCCESS,
    );
    const derived = await c.crypto(
      { functionId: CRYPTO_FN.KDF_OUTPUT_KEY, opHandle: op2 },
      [attrs(KEY_TYPE.ECC_PAIR_R1, 384, USAGE.SIGN_HASH, ALG.ecdsa(PSA_ALG.SHA_384))],
      [4],
    );
    assert.equal(derived.status, PSA.SUCCESS);
    const dId = u32(derived.outVecs[0]);
    const dPub = (await c.crypto({ functionId: CRYPTO_FN.EXPORT_PUBLIC_KEY, keyId: dId }, [], [97])).outVecs[0] as Uint8Array;
    const d384 = new Uint8Array(createHash('sha384').update(pt).digest());
    const dSig = await c.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: dId, alg: ALG.ecdsa(PSA_ALG.SHA_384) }, [d384], [96]);
    assert.ok(ecdsaVerifyDigest('P-384', dPub, d384, dSig.outVecs[0] as Uint8Array));
    assert.equal((await c.crypto({ functionId: CRYPTO_FN.DESTROY_KEY, keyId: dId })).status, PSA.SUCCESS);
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: dId, alg: ALG.ecdsa(PSA_ALG.SHA_384) }, [d384], [96])).status,
      PSA.ERROR_INVALID_HANDLE,
      'destroyed',
    );
  } finally {
    c.close();
    await server.close();
  }
});

test('key isolation: keys belong to their client id, builtin keys follow RSE per-partition policies, TC keeps the host out', async () => {
  const { server, path } = await served({ permissions: 'open' });
  const one = await RseClient.connect({ path });
  const two = await RseClient.connect({ path }, { clientId: 2 });
  try {
    const k = await importKey(one, attrs(KEY_TYPE.RAW_DATA, 0, USAGE.EXPORT, 0), Uint8Array.of(1, 2, 3, 4));
    assert.equal(
      (await two.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: k }, [], [16])).status,
      PSA.ERROR_INVALID_HANDLE,
      "another client's key",
    );
    assert.equal((await two.crypto({ functionId: CRYPTO_FN.DESTROY_KEY, keyId: k })).status, PSA.ERROR_INVALID_HANDLE);
    assert.equal((await one.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: k }, [], [16])).status, PSA.SUCCESS);
    // The host is not the attestation partitions: IAK and DAK seed are out of reach, and no builtin secret is exported.
    const digest = new Uint8Array(48);
    assert.equal(
      (await one.crypto({ functionId: CRYPTO_FN.SIGN_HASH, keyId: BUILTIN_KEY.IAK, alg: ALG.ecdsa(PSA_ALG.SHA_384) }, [digest], [96]))
        .status,
      PSA.ERROR_NOT_PERMITTED,
    );
    assert.equal(
      (await one.crypto({ functionId: CRYPTO_FN.EXPORT_PUBLIC_KEY, keyId: BUILTIN_KEY.IAK }, [], [97])).status,
      PSA.ERROR_NOT_PERMITTED,
    );
    const op = u32((await one.crypto({ functionId: CRYPTO_FN.KDF_SETUP, alg: ALG.hkdf(PSA_ALG.SHA_256) }, [], [4])).outVecs[0]);
    assert.equal(
      (await one.crypto({ functionId: CRYPTO_FN.KDF_INPUT_KEY, opHandle: op, step: KDF_STEP.SECRET, keyId: BUILTIN_KEY.DAK_SEED })).status,
      PSA.ERROR_NOT_PERMITTED,
    );
    assert.equal(
      (await two.crypto({ functionId: CRYPTO_FN.KDF_ABORT, opHandle: op }, [], [4])).status,
      PSA.ERROR_BAD_STATE,
      "another client's operation",
    );
    assert.equal(
      (await one.crypto({ functionId: CRYPTO_FN.EXPORT_KEY, keyId: BUILTIN_KEY.HUK }, [], [64])).status,
      PSA.ERROR_NOT_PERMITTED,
    );
    // The host ROTPKs: the NS side may verify with them, not sign.
    assert.equal(
      (
        await one.crypto(
          { functionId: CRYPTO_FN.SIGN_HASH, keyId: BUILTIN_KEY.HOST_CCA_ROTPK, alg: ALG.ecdsa(PSA_ALG.SHA_384) },
          [digest],
          [96],
        )
      ).status,
      PSA.ERROR_NOT_PERMITTED,
    );
    // In-process, the partitions meet the same table.
    const cs = server.runtime?.crypto;
    assert.ok(cs !== undefined);
    const sign384 = ALG.ecdsa(PSA_ALG.SHA_384);
    const hkdf256 = ALG.hkdf(PSA_ALG.SHA_256);
    const table: [number, number, number, number, number][] = [
      [PARTITION.INITIAL_ATTESTATION.id, BUILTIN_KEY.IAK, USAGE.SIGN_HASH, sign384, PSA.SUCCESS],
      [PARTITION.DELEGATED_ATTESTATION.id, BUILTIN_KEY.IAK, USAGE.SIGN_HASH, sign384, PSA.ERROR_NOT_PERMITTED],
      [PARTITION.INITIAL_ATTESTATION.id, BUILTIN_KEY.DAK_SEED, USAGE.DERIVE, hkdf256, PSA.ERROR_NOT_PERMITTED],
      [PARTITION.DELEGATED_ATTESTATION.id, BUILTIN_KEY.DAK_SEED, USAGE.DERIVE, hkdf256, PSA.SUCCESS],
      // The asymmetric IAK signs only; it is never exported.
      [PARTITION.INITIAL_ATTESTATION.id, BUILTIN_KEY.IAK, USAGE.EXPORT, sign384, PSA.ERROR_NOT_PERMITTED],
    ];
    for (const [who, key, usage, alg, want] of table)
      assert.equal(cs.authorize(who, key, usage, alg), want, `partition ${who} key 0x${key.toString(16)}`);
  } finally {
    one.close();
    two.close();
    await server.close();
  }
  // TC's table: PSA Crypto is not open to the host.
  const tc = await served({});
  const c = await RseClient.connect({ path: tc.path });
  try {
    assert.equal(
      (await c.crypto({ functionId: CRYPTO_FN.HASH_COMPUTE, alg: PSA_ALG.SHA_256 }, [new Uint8Array(4)], [32])).status,
      PSA.ERROR_NOT_PERMITTED,
    );
  } finally {
    c.close();
    await tc.server.close();
  }
});
