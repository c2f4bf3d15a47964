import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { LmsSigner, lmsKeygen } from '../../src/bl1/lms-key.ts';
import {
  decodeLmsPrivateKey,
  decodeLmsPublicKey,
  encodeLmsPrivateKey,
  hssVerify,
  lmsSignWithLeaf,
  lmsTree,
  lmsVerify,
  lmsVerifyProblem,
} from '../../src/crypto/lms.ts';
import { RseError } from '../../src/lib/errors.ts';
import { fromHex } from '../../src/lib/hex.ts';
import { flipBits, tempDir } from '../helpers.ts';

const tc1 = JSON.parse(readFileSync(new URL('../fixtures/rfc8554-tc1.json', import.meta.url), 'utf8')) as {
  message: string;
  publicKey: string;
  signature: string;
};
let n = 0;
const det = (len: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (i * 7 + n++) & 0xff);

test('RFC 8554 test case 1 (HSS, two LMS H5/W8 levels) verifies; any flipped bit does not', () => {
  const msg = new TextEncoder().encode(tc1.message);
  const pub = fromHex(tc1.publicKey);
  const sig = fromHex(tc1.signature);
  assert.equal(hssVerify(pub, msg, sig), true);
  fc.assert(
    fc.property(fc.nat(sig.length * 8 - 1), (bit) => {
      const bad = sig.slice();
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      assert.equal(hssVerify(pub, msg, bad), false, `bit ${bit}`);
    }),
    { numRuns: 40 },
  );
  assert.equal(hssVerify(pub, msg.subarray(1), sig), false);
  assert.equal(hssVerify(pub, msg, sig.subarray(0, sig.length - 1)), false);
});

test("TF-M's dummy BL1 key: its seed and I give its published public key (RFC 8554 Appendix A derivation)", () => {
  // bl1/bl1_2/bl1_dummy_rotpk.prv: old pyhsslms layout (12-byte header), q = 2.
  const prv = fromHex(
    '00000001111111110000003c0000000600000004' +
      '378140e9ce50bcd30c7ff3cb88f9a4d306348879ac0eee84ebe0dcfa2310e61d' +
      'b6b444cb92584ee081b678f39a0dd74e00000002',
  );
  const k = decodeLmsPrivateKey(prv);
  assert.equal(k.q, 2);
  const tree = lmsTree(k);
  assert.deepEqual(
    tree.subarray(0, 32),
    fromHex('0cfd7e450176dd0cb654c9bbbf632b14b2ee008963e043afebe8ac6c1d605ebc'),
    'root differs from bl1_dummy_rotpk.pub',
  );
  assert.deepEqual(encodeLmsPrivateKey(k), prv, 'the file round-trips byte for byte');
  const pub = decodeLmsPublicKey(
    fromHex('000000010000000600000004b6b444cb92584ee081b678f39a0dd74e0cfd7e450176dd0cb654c9bbbf632b14b2ee008963e043afebe8ac6c1d605ebc'),
  );
  const sig = lmsSignWithLeaf(k, tree, 2, Uint8Array.of(1, 2, 3), det);
  assert.equal(sig.length, 1452);
  assert.equal(lmsVerify(pub, Uint8Array.of(1, 2, 3), sig), true);
  assert.match(lmsVerifyProblem(pub, Uint8Array.of(1, 2, 4), sig) ?? '', /does not lead to the key's root/);
  // A signature whose leaf index was changed points at another one-time key.
  const moved = sig.slice();
  moved[3] = 3;
  assert.match(lmsVerifyProblem(pub, Uint8Array.of(1, 2, 3), moved) ?? '', /root/);
  moved[0] = 0xff;
  assert.match(lmsVerifyProblem(pub, Uint8Array.of(1, 2, 3), moved) ?? '', /beyond the tree/);
});

test('stateful key: keygen, sign with the next leaf, persisted before returning; a used leaf is refused', () => {
  const dir = tempDir();
  const base = join(dir, 'k');
  const pub = lmsKeygen(base, { lmsType: 5, otsType: 4, random: det });
  assert.throws(
    () => lmsKeygen(base, { lmsType: 5, otsType: 4, random: det }),
    (e: unknown) => e instanceof RseError && e.code === 'E_EXISTS',
  );
  const s = LmsSigner.open(base);
  const a = s.sign(Uint8Array.of(9), det);
  assert.equal(a.q, 0);
  assert.equal(decodeLmsPrivateKey(new Uint8Array(readFileSync(`${base}.prv`))).q, 1, 'q persisted');
  assert.equal(lmsVerify(pub, Uint8Array.of(9), a.signature), true);
  const again = LmsSigner.open(base);
  assert.equal(again.sign(Uint8Array.of(8), det).q, 1);
  assert.throws(() => again.sign(Uint8Array.of(7), det, 0), /already used/);
  assert.equal(again.sign(Uint8Array.of(7), det, 30).q, 30);
  assert.equal(again.sign(Uint8Array.of(7), det).q, 31);
  assert.throws(() => again.sign(Uint8Array.of(7), det), /exhausted/);
  // A corrupted tree cache is caught by the public key check.
  const d2 = tempDir();
  for (const ext of ['prv', 'pub', 'tree']) copyFileSync(`${base}.${ext}`, join(d2, `k.${ext}`));
  const tree = readFileSync(join(d2, 'k.tree'));
  flipBits(tree, 40, 1);
  writeFileSync(join(d2, 'k.tree'), tree);
  assert.throws(() => LmsSigner.open(join(d2, 'k')), /not the public key/);
});
