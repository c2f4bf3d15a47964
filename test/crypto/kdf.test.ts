import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { aesCmac, deriveHkdfEcKey, kdfCmacCounter, kdfCmacCounterBe, kdfHashEcb, psaDeriveEcPrivate } from '../../src/crypto/kdf.ts';
import { bl2DecryptionKey, bootState, bundleKey, instanceId, provisioningKey } from '../../src/crypto/rse-keys.ts';
import { DUMMY_PCI_KRTL } from '../../src/device/device.ts';
import { u32le } from '../../src/lib/bytes.ts';
import { fromHex, toHex } from '../../src/lib/hex.ts';
import { TP_MODE } from '../../src/otp/lcm.ts';
import { vectorsDir } from '../helpers.ts';

const MSG = fromHex(
  '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
);

test('AES-128-CMAC: RFC 4493 section 4 examples', () => {
  const key = fromHex('2b7e151628aed2a6abf7158809cf4f3c');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 0))), 'bb1d6929e95937287fa37d129b756746');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 16))), '070a16b46b4d4144f79bdd9dd04a287c');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 40))), 'dfa66747de9ae63030ca32611497c827');
  assert.equal(toHex(aesCmac(key, MSG)), '51f0bebf7e3b9d92fc49741779363cfe');
});

test('AES-256-CMAC: NIST SP 800-38B D.3 examples', () => {
  const key = fromHex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 0))), '028962f61b7bf89efc6b551f4667d983');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 16))), '28a7023f452e8f82bd4bf28d8c37c35c');
  assert.equal(toHex(aesCmac(key, MSG.subarray(0, 40))), 'aaf3d8f1de5640c232f5b169b9c911e6');
  assert.equal(toHex(aesCmac(key, MSG)), 'e1992190549f6ed5696a2c056c315410');
});

test('CMAC over split parts equals CMAC over the concatenation', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 80 }), fc.nat(80), (key, msg, cut) => {
      const c = Math.min(cut, msg.length);
      assert.deepEqual(aesCmac(key, msg.subarray(0, c), msg.subarray(c)), aesCmac(key, msg));
    }),
    { numRuns: 60 },
  );
});

const DUMMY_BL2_KEY = fromHex('0123456789012345678901234567890123456789012345678901234567890123');

test('BL2 decryption key KATs: 2.1 counters 0 and 1, 1.7 counter 1', () => {
  assert.equal(
    toHex(bl2DecryptionKey('cmac-counter', DUMMY_BL2_KEY, 1)),
    '464fce5d618e54c7c55002ce4d9922e54585b04f7970cf7c0967aa641f23149f',
  );
  assert.equal(
    toHex(bl2DecryptionKey('cmac-counter', DUMMY_BL2_KEY, 0)),
    'bf906a246546cda6cedca2210a91371bbdbb37d2725a8787a7bb85559a3e24ef',
  );
  assert.equal(toHex(bl2DecryptionKey('hash-ecb', DUMMY_BL2_KEY, 1)), 'fdcd8e9177bf3d110ad2821c82a40c6ebde25dcaf1b2ac06eda4bea744be5ebb');
});

test('boot-state and CM/DM provisioning key KATs (TCI zero KRTL, PCI dummy KRTL)', () => {
  const zero = new Uint8Array(32);
  const cmState = bootState({ lcs: 0, tpMode: TP_MODE.TCI, reprovisioningBits: 0, bl1_2Hash: zero });
  const dmState = bootState({ lcs: 1, tpMode: TP_MODE.TCI, reprovisioningBits: 0, bl1_2Hash: zero });
  assert.equal(toHex(cmState), '1591edf0dc7db11d72b2d70729cb972155c2ae30fe6a2a547aae721625de0ad5');
  assert.equal(toHex(dmState), '4f0684fe7bc9a3031d79199077590134771ce37165ef4c562750c9d8e3ebf132');
  assert.equal(toHex(provisioningKey('CM', zero, cmState)), 'a799544728f203b9d6376d7d2b9aec6769ce1c05aa9a36673aa5557235ea91f1');
  assert.equal(toHex(provisioningKey('DM', zero, dmState)), 'b928f59c0b0cf3079264d367c83c622631ef6b5ccd283928fa92539079a88157');
  assert.equal(toHex(bundleKey('CM', TP_MODE.PCI, DUMMY_PCI_KRTL)), '9db52c923f0e10ba5c4a4d52325bfb83554adead69614d0cc7cdec9159a548aa');
  assert.equal(toHex(bundleKey('DM', TP_MODE.PCI, DUMMY_PCI_KRTL)), 'd751492cbb50b0ce5cf91f4b91a7bae453427381724027e5af02e78dae5d80b9');
});

test('KDF output lengths: a longer output extends a shorter one', () => {
  const k = DUMMY_BL2_KEY;
  const long = kdfCmacCounter(k, 'X', Uint8Array.of(1, 2), 48);
  assert.equal(long.length, 48);
  assert.equal(kdfHashEcb(k, 'X', Uint8Array.of(1), 64).length, 64);
  // L is part of the fixed input, so a 16-byte output is not a prefix of the 48-byte one.
  assert.notDeepEqual(kdfCmacCounter(k, 'X', Uint8Array.of(1, 2), 16), long.subarray(0, 16));
  assert.throws(() => kdfCmacCounter(k, 'X', new Uint8Array(0), 0), { code: 'E_ARGUMENT' });
});

test('PSA deterministic ECC derivation: redraws out-of-range scalars, adds one', () => {
  const n256 = fromHex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const draws = [n256, new Uint8Array(32).fill(0)];
  const d = psaDeriveEcPrivate('P-256', () => draws.shift() as Uint8Array);
  assert.equal(toHex(d), `${'00'.repeat(31)}01`);
  const max = fromHex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc63254f'); // n-2
  assert.equal(toHex(psaDeriveEcPrivate('P-256', () => max)), 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550');
});

test('PSA derivation for P-521: the top 7 bits of the first byte are cleared before the range check', () => {
  // All-ones draws: masked to 0x01ff…ff, which is above n − 2, so the second draw is used.
  const draws = [new Uint8Array(66).fill(0xff), Uint8Array.of(0xfe, ...new Uint8Array(65))];
  const d = psaDeriveEcPrivate('P-521', () => draws.shift() as Uint8Array);
  assert.equal(toHex(d), `00${'00'.repeat(64)}01`, '0xfe masks to 0: k = 0, so d = 1');
  const k = deriveHkdfEcKey('P-521', new Uint8Array(32).fill(7), Uint8Array.of(1));
  assert.equal(k.privateKey.length, 66);
  assert.ok((k.privateKey[0] as number) <= 1);
  assert.equal(k.publicKey.length, 133);
});

test('IAK from a seed: deterministic P-384 key, 97-byte point, 33-byte instance id', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const a = deriveHkdfEcKey('P-384', seed);
      const b = deriveHkdfEcKey('P-384', seed);
      assert.deepEqual(a, b);
      assert.equal(a.publicKey.length, 97);
      assert.equal(a.publicKey[0], 4);
      const id = instanceId(a.publicKey);
      assert.equal(id.length, 33);
      assert.equal(id[0], 1);
    }),
    { numRuns: 10 },
  );
});

test("TF-M 2.3's SP 800-108 CMAC KDF (big-endian counter and L in bits) gives the KMASTER/KPROV keys its derive scripts made", () => {
  const V = vectorsDir('rse-2.3');
  const f = (p: string): Uint8Array => new Uint8Array(readFileSync(join(V, p)));
  const krtl = f('keys/tfm_tci_krtl.bin');
  for (const who of ['CM', 'DM'] as const) {
    const master = kdfCmacCounterBe(krtl, `KMASTER_${who}`, u32le(0), 32);
    assert.deepEqual(master, f(`keys/derived/kmaster_${who.toLowerCase()}.bin`), `KMASTER_${who}`);
    assert.deepEqual(
      kdfCmacCounterBe(master, `KPROV_${who}`, new Uint8Array(0), 32),
      f(`keys/derived/kprov_${who.toLowerCase()}.bin`),
      `KPROV_${who}`,
    );
  }
  // TF-M 2.1's variant of the same KDF is a different function.
  assert.notDeepEqual(kdfCmacCounter(krtl, 'KMASTER_CM', u32le(0), 32), f('keys/derived/kmaster_cm.bin'));
});
