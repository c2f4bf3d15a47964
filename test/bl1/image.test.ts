import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BL1_HEADER_SIZE, decryptBl1Image, parseBl1Image, parseBl1Version, signBl1Image } from '../../src/bl1/image.ts';
import { LmsSigner } from '../../src/bl1/lms-key.ts';
import { hash } from '../../src/crypto/index.ts';
import { lmsVerifyProblem } from '../../src/crypto/lms.ts';
import { bl2DecryptionKey } from '../../src/crypto/rse-keys.ts';
import { readU32le } from '../../src/lib/bytes.ts';
import { DUMMY } from '../../src/provisioning/values.ts';
import { flipBits, runCli, tempDir } from '../helpers.ts';
import { exampleLmsKey } from './helpers.ts';

const rnd = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i + 1);

test('BL1 image: layout, per-counter key, magic, code at 0x800, signature over version ‖ counter ‖ plaintext', () => {
  const signer = LmsSigner.open(exampleLmsKey());
  const code = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
  const { image, hash: h } = signBl1Image({
    code,
    version: parseBl1Version('2.1.0+7'),
    securityCounter: 3,
    encryptionKey: DUMMY.bl2_encryption_key,
    kdf: 'cmac-counter',
    partitionSize: 0x10000,
    sign: (m) => signer.sign(m, rnd).signature,
    random: rnd,
  });
  assert.equal(image.length, 0x10000);
  const hd = parseBl1Image(image);
  assert.deepEqual(hd.version, { major: 2, minor: 1, revision: 0, build: 7 });
  assert.equal(hd.securityCounter, 3);
  assert.deepEqual(hd.iv.subarray(12), new Uint8Array(4), 'IV ends in four zero bytes');
  const d = decryptBl1Image(hd, DUMMY.bl2_encryption_key, 'cmac-counter');
  assert.equal(readU32le(d.plaintext, 0), 0xdeadbeef);
  assert.deepEqual(d.plaintext.subarray(BL1_HEADER_SIZE - 0x5c8, BL1_HEADER_SIZE - 0x5c8 + code.length), code);
  assert.deepEqual(hash('sha256', d.message), h);
  assert.equal(lmsVerifyProblem(signer.publicKey, d.message, hd.signature), undefined);
  // Another counter derives another key: the magic does not decrypt.
  const wrong = decryptBl1Image({ ...hd, securityCounter: 4 }, DUMMY.bl2_encryption_key, 'cmac-counter');
  assert.notEqual(readU32le(wrong.plaintext, 0), 0xdeadbeef);
  assert.notDeepEqual(
    bl2DecryptionKey('cmac-counter', DUMMY.bl2_encryption_key, 3),
    bl2DecryptionKey('hash-ecb', DUMMY.bl2_encryption_key, 3),
  );
  // Too large for the partition, a counter BL1_2 refuses: errors, not images.
  const base = {
    version: parseBl1Version('1'),
    encryptionKey: DUMMY.bl2_encryption_key,
    kdf: 'cmac-counter' as const,
    partitionSize: 0x10000,
    sign: () => new Uint8Array(1452),
    random: rnd,
  };
  assert.throws(() => signBl1Image({ ...base, code: new Uint8Array(0x10000), securityCounter: 1 }), /fit/);
  assert.throws(() => signBl1Image({ ...base, code, securityCounter: 1024 }), /0\.\.1023/);
});

test('rse bl1 sign / info (--encrypt-key, --pub) and the leaf state through the CLI', async () => {
  const key = exampleLmsKey();
  const dir = tempDir();
  writeFileSync(join(dir, 'bl2.bin'), new Uint8Array(5000).fill(0x5a));
  writeFileSync(join(dir, 'ek.bin'), DUMMY.bl2_encryption_key);
  const s = await runCli([
    'bl1',
    'sign',
    '-k',
    key,
    '--encrypt-key',
    join(dir, 'ek.bin'),
    '-v',
    '1.2.3+4',
    '-s',
    '2',
    join(dir, 'bl2.bin'),
    join(dir, 'out.bin'),
    '--hash-output',
    join(dir, 'h.bin'),
    '--json',
  ]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).leaf, 0);
  const info = await runCli(['bl1', 'info', join(dir, 'out.bin'), '--encrypt-key', join(dir, 'ek.bin'), '--pub', `${key}.pub`, '--json']);
  assert.equal(info.code, 0, info.stderr);
  const j = JSON.parse(info.stdout);
  assert.equal(j.signature, 'ok');
  assert.equal(j.version, '1.2.3+4');
  assert.equal(j.hash, readFileSync(join(dir, 'h.bin')).toString('hex'));
  const img = readFileSync(join(dir, 'out.bin'));
  flipBits(img, 0x900, 1);
  writeFileSync(join(dir, 'bad.bin'), img);
  const bad = await runCli(['bl1', 'info', join(dir, 'bad.bin'), '--encrypt-key', join(dir, 'ek.bin'), '--pub', `${key}.pub`]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /does not lead to the key's root/);
  const reuse = await runCli([
    'bl1',
    'sign',
    '-k',
    key,
    '--encrypt-key',
    join(dir, 'ek.bin'),
    '--index',
    '0',
    join(dir, 'bl2.bin'),
    join(dir, 'x.bin'),
  ]);
  assert.equal(reuse.code, 2);
  assert.match(reuse.stderr, /already used/);
});
