import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { provisionRun } from '../../src/boot/power-on.ts';
import { bundleKey } from '../../src/crypto/rse-keys.ts';
import { toHex } from '../../src/lib/hex.ts';
import { TP_MODE } from '../../src/otp/lcm.ts';
import { BUNDLE_OFFSETS, BUNDLE_SIZE, decodeBundle, decodeCmValues, otpIcsBlob } from '../../src/provisioning/bundle.ts';
import { PSI } from '../../src/provisioning/rom.ts';
import { oracleSkip } from '../oracles.ts';
import { dummyBundles, freshDevice } from './helpers.ts';

test('bundle layout: 0xED2C bytes, magic at both ends, decrypts with the TCI CM key', () => {
  const { cm, dm } = dummyBundles('TCI');
  assert.equal(cm.length, 0xed2c);
  assert.equal(BUNDLE_SIZE, 0xed2c);
  assert.equal(toHex(cm.subarray(0, 8)), 'aaaaedfedec0aaaa');
  assert.equal(toHex(cm.subarray(BUNDLE_OFFSETS.magic2)), 'aaaaedfedec0aaaa');
  assert.equal(toHex(dm.subarray(0, 8)), 'aaaaedfeefbeaaaa');
  const plain = decodeBundle('cm', bundleKey('CM', TP_MODE.TCI, new Uint8Array(32)), cm);
  const v = decodeCmValues(plain.values);
  assert.equal(v.ccaSystemProperties, 0xdeadbeef);
  assert.equal(v.bl1_2Image.length, 0x2000);
});

test('OTP ICS blob reproduces the bundle tool zero-count quirk', () => {
  assert.equal(toHex(otpIcsBlob(new Uint8Array(0)).subarray(0, 8)), '0200000000000000');
  // 0x01 then zeros: bin() = '0b1' + 8*0x3F7 zeros -> 8*1015 + 1 zeros.
  const b = otpIcsBlob(Uint8Array.of(1));
  assert.equal(new DataView(b.buffer).getUint32(0, true), 8 * 1015 + 1);
  const c = otpIcsBlob(Uint8Array.of(0, 0x80, 0xff));
  assert.equal(new DataView(c.buffer).getUint32(0, true), 7 + 8 * 1013 + 1);
});

for (const [name, mutate, code] of [
  ['wrong size', (b: Uint8Array) => b.subarray(0, b.length - 4), 'E_SIZE'],
  ['wrong magic', (b: Uint8Array) => b.map((x, i) => (i === 3 ? x ^ 1 : x)), 'E_BAD_MAGIC'],
  ['DM bundle where the CM bundle goes', (_b: Uint8Array) => dummyBundles('TCI').dm, 'E_BAD_MAGIC'],
] as const) {
  test(`provision run refuses a CM bundle with the ${name} (${code}); the OTP is unchanged`, () => {
    const { dev } = freshDevice();
    const { cm, dm } = dummyBundles('TCI');
    const before = dev.otp.slice();
    assert.throws(() => provisionRun(dev, { cm: mutate(cm), dm }), { code });
    assert.deepEqual(dev.otp, before);
  });
}

test('any flipped bit in the encrypted part, nonce or tag: PSI 0x5, E_AUTH, no key or value written', () => {
  const { cm, dm } = dummyBundles('TCI');
  fc.assert(
    fc.property(fc.integer({ min: 8, max: BUNDLE_OFFSETS.magic2 - 1 }), fc.integer({ min: 0, max: 7 }), (pos, bit) => {
      const bad = cm.slice();
      bad[pos] = (bad[pos] as number) ^ (1 << bit);
      const { dev } = freshDevice();
      const r = provisionRun(dev, { cm: bad, dm });
      assert.equal(r.ok, false);
      assert.equal(r.final.psi, PSI.CM_FAILED_NO_AUTHENTICATED_BLOB);
      assert.equal(r.final.result.kind === 'halt' && r.final.result.code, 'E_AUTH');
      // Only the LCM header words the ROM touches before decrypting changed (TP mode, R0 arm bit).
      assert.ok(dev.otp.subarray(0, 0xe0).every((x) => x === 0));
      assert.ok(dev.otp.subarray(0xf8).every((x) => x === 0));
    }),
    { numRuns: 40 },
  );
});

test('oracle: Python cryptography AESCCM decrypts our bundle with the upstream key derivation inputs', {
  skip: oracleSkip('python'),
}, () => {
  const { cm } = dummyBundles('TCI');
  const key = bundleKey('CM', TP_MODE.TCI, new Uint8Array(32));
  const script = [
    'import sys',
    'from cryptography.hazmat.primitives.ciphers.aead import AESCCM',
    'b = sys.stdin.buffer.read()',
    `k = bytes.fromhex('${toHex(key)}')`,
    'n, t = b[0xED08:0xED14], b[0xED14:0xED24]',
    'pt = AESCCM(k, tag_length=16).decrypt(n, b[8:0xED08] + t, b[0:8])',
    'print(len(pt), pt[0xB000 + 0x2440:0xB000 + 0x2444].hex())',
  ].join('\n');
  const out = execFileSync('python3', ['-c', script], { input: cm }).toString().trim();
  assert.equal(out, `${0xed00} efbeadde`);
});
