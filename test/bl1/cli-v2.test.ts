/**
 * `rse bl1 sign|info --profile rse-2.3` against the images TF-M 2.3.1's `create_bl2_img.py` made:
 * ECDSA images byte for byte (RFC 6979), LMS images from the recorded key state (every byte but
 * the signature, which carries a fresh randomizer; the leaf and the state after it as recorded).
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bl1V2Offsets } from '../../src/bl1/image-v2.ts';
import { RSE_2_3 } from '../../src/profiles/index.ts';
import type { Bl1ImageV2Config } from '../../src/profiles/types.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const V = vectorsDir('rse-2.3');
const v = (p: string): string => join(V, p);
const base = ['bl1', 'sign', '--profile', 'rse-2.3', '-v', '1.9.0+0', '-s', '1', v('inputs/bl2-8k.bin')];
const enc = ['--encrypt-key', v('keys/tfm_bl2_dummy_encryption_key.bin'), '--iv', v('inputs/iv-bl2.bin')];

const ECDSA: readonly { name: string; args: string[] }[] = [
  { name: 'p256-cm-plain', args: ['-k', v('keys/ecdsa-p256-cm.pem'), '--plain'] },
  { name: 'p384-cm-plain', args: ['-k', v('keys/ecdsa-p384-cm.pem'), '--plain'] },
  { name: 'p256-cm-enc-fixediv', args: ['-k', v('keys/ecdsa-p256-cm.pem'), ...enc] },
  { name: 'p256-cmdm-enc-fixediv', args: ['-k', v('keys/ecdsa-p256-cm.pem'), '--dm-key', v('keys/ecdsa-p256-dm.pem'), ...enc] },
];

for (const c of ECDSA) {
  test(`rse bl1 sign --profile rse-2.3 reproduces ${c.name} byte for byte`, async () => {
    const out = join(tempDir(), 'bl2.bin');
    const r = await runCli([...base, out, ...c.args]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(out), readFileSync(v(`bl2/${c.name}.bin`)));
  });
}

test('rse bl1 sign --profile rse-2.3 with the recorded LMS key state: the same image but the signature, the same leaf, the same state after', async () => {
  const dir = tempDir();
  copyFileSync(v('keys-state/lms-cm-enc-fixediv.lms_cm.prv.before'), join(dir, 'lms_cm.prv'));
  copyFileSync(v('keys/lms_cm.pub'), join(dir, 'lms_cm.pub'));
  const out = join(dir, 'bl2.bin');
  const r = await runCli([...base, out, '-k', join(dir, 'lms_cm.prv'), ...enc, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).lmsLeaves, [8]);
  assert.deepEqual(readFileSync(join(dir, 'lms_cm.prv')), readFileSync(v('keys-state/lms-cm-enc-fixediv.lms_cm.prv.after')));
  const mine = readFileSync(out);
  const theirs = readFileSync(v('bl2/lms-cm-enc-fixediv.bin'));
  const shape: Bl1ImageV2Config = RSE_2_3.bl1.imageV2 as Bl1ImageV2Config;
  const slot = bl1V2Offsets(shape).sigs[0] as { sig: number; sigLen: number };
  assert.deepEqual(mine.subarray(0, slot.sig), theirs.subarray(0, slot.sig), 'IV, embedded key and lengths');
  assert.deepEqual(mine.subarray(slot.sigLen), theirs.subarray(slot.sigLen), 'protected values, encrypted');
  assert.notDeepEqual(mine.subarray(slot.sig, slot.sigLen), theirs.subarray(slot.sig, slot.sigLen));
  for (const f of [out, v('bl2/lms-cm-enc-fixediv.bin')]) {
    const info = await runCli([
      'bl1',
      'info',
      '--profile',
      'rse-2.3',
      f,
      '--verify',
      '--encrypt-key',
      v('keys/tfm_bl2_dummy_encryption_key.bin'),
      '--json',
    ]);
    assert.equal(info.code, 0, info.stdout);
    assert.equal(JSON.parse(info.stdout).signers[0].lmsLeaf, 8);
  }
  const verifyWith = (key: string) => runCli(['bl1', 'info', '--profile', 'rse-2.3', out, '--verify', '--encrypt-key', v(key), '--json']);
  const wrong = await verifyWith('keys/tfm_dummy_guk.bin');
  assert.equal(wrong.code, 0, 'the dummy GUK is the dummy KCE_CM too');
  const bad = await verifyWith('inputs/prov/bl1_2_padded_hash.bin');
  assert.equal(bad.code, 1, 'another key: the decryption magic fails');
});

test('rse bl1 sign --profile rse-2.3 refuses an encrypted image without a key, and a key of another type', async () => {
  const out = join(tempDir(), 'x.bin');
  const a = await runCli([...base, out, '-k', v('keys/ecdsa-p256-cm.pem')]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--encrypt-key/);
  const b = await runCli([
    'bl1',
    'sign',
    '--profile',
    'rse-2.1',
    '-k',
    v('keys/ecdsa-p256-cm.pem'),
    '--plain',
    v('inputs/bl2-8k.bin'),
    out,
  ]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /v2 images/);
});
