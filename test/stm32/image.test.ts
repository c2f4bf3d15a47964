/**
 * STM32 image headers (issue 8, acceptance 1 and 4): the stm32image known answers, signing and the
 * ROM's checks, Debian's `mkimage` reading our headers and us reading its, and hostile headers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateKey, hash } from '../../src/crypto/index.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { toHex } from '../../src/lib/hex.ts';
import {
  checkStm32Image,
  createStm32Image,
  p256PublicXY,
  parseStm32Image,
  payloadChecksum,
  pkhOtpWords,
  publicKeyHash,
} from '../../src/stm32/image.ts';
import { flipBits, runCli, tempDir } from '../helpers.ts';
import { oracleSkip } from '../oracles.ts';

/** The spec's payload: bytes 0x00..0xFF four times. */
const PAYLOAD = new Uint8Array(1024).map((_, i) => i & 0xff);
const u32 = (b: Uint8Array, off: number): number => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

test('known answer: stm32image -l/-e 0x2FFC2500 -m 1 -n 0 -b 0x10 -v 3', () => {
  const img = createStm32Image({ payload: PAYLOAD, loadAddress: 0x2ffc2500, entryPoint: 0x2ffc2500, binaryType: 0x10, imageVersion: 3 });
  assert.equal(img.length, 1280);
  assert.equal(toHex(hash('sha256', img.subarray(0x48))), '7255a0ab667fd11fd8e570540932f0b7fca7c74f3b607180ab24e634a7459727');
  assert.equal(u32(img, 0x44), 0x0001fe00);
  assert.deepEqual([...img.subarray(0x48, 0x4c)], [0, 0, 1, 0]);
  assert.equal(u32(img, 0x64), 1);
  assert.equal(u32(img, 0x68), 1);
  assert.equal(img[0xff], 0x10);
  assert.ok(
    img.subarray(0x04, 0x44).every((b) => b === 0),
    'unsigned: no signature',
  );
});

test('known answer: the same with -m 2 and 0x2FFE0000 (v2, padding extension to 512 bytes)', () => {
  const img = createStm32Image({ payload: PAYLOAD, loadAddress: 0x2ffe0000, entryPoint: 0x2ffe0000, binaryType: 0x10, major: 2 });
  assert.equal(img.length, 1536);
  assert.equal(u32(img, 0x64), 0x80000000);
  assert.equal(u32(img, 0x68), 0x180);
  assert.equal(u32(img, 0x6c), 0x10);
  assert.deepEqual([...img.subarray(0x80, 0x88)], [0x53, 0x54, 0xff, 0xff, 0x80, 0x01, 0x00, 0x00]);
  const p = parseStm32Image(img);
  assert.equal(p.header.headerSize, 512);
  assert.deepEqual(
    p.header.extensions.map((e) => [e.name, e.offset, e.length]),
    [['padding', 0x80, 0x180]],
  );
  assert.deepEqual(p.payload, PAYLOAD);
});

test('signed v1: the ROM checks pass; a flipped payload bit, another key, an unsigned image on a closed device are refused', () => {
  const key = generateKey('ecdsa-p256');
  const img = createStm32Image({
    payload: PAYLOAD,
    loadAddress: 0x2ffc2500,
    entryPoint: 0x2ffc2500,
    binaryType: 0x10,
    imageVersion: 1,
    key,
  });
  const pkh = publicKeyHash(p256PublicXY(key));
  const good = checkStm32Image(parseStm32Image(img), { pkh, closed: true });
  assert.ok(
    good.every((c) => c.ok),
    JSON.stringify(good),
  );
  assert.equal(u32(img, 0x64), 0, 'option bit 0 clear when signed');
  const failed = (b: Uint8Array, o = { pkh, closed: true }) =>
    checkStm32Image(parseStm32Image(b), o)
      .filter((c) => !c.ok)
      .map((c) => c.check);
  const flipped = img.slice();
  flipBits(flipped, 0x100 + 77, 0x01);
  assert.deepEqual(failed(flipped), ['checksum', 'signature']);
  // The checksum fixed too: the signature still catches it.
  flipped.set(new Uint8Array(new Uint32Array([payloadChecksum(flipped.subarray(0x100))]).buffer), 0x44);
  assert.deepEqual(failed(flipped), ['signature']);
  const other = publicKeyHash(p256PublicXY(generateKey('ecdsa-p256')));
  assert.deepEqual(failed(img, { pkh: other, closed: true }), ['public key hash']);
  const headerField = img.slice();
  headerField[0x60] = 0; // the image version is signed
  assert.deepEqual(failed(headerField), ['signature']);
  const unsigned = createStm32Image({ payload: PAYLOAD, loadAddress: 0, entryPoint: 0, binaryType: 0x10 });
  assert.deepEqual(failed(unsigned, { pkh, closed: false }), [], 'an open device boots it');
  assert.ok(failed(unsigned).length > 0, 'a closed device does not');
  // The PKH in OTP words 24..31, big-endian per word.
  const words = pkhOtpWords(pkh);
  assert.equal(words.length, 8);
  assert.equal(words[0], new DataView(pkh.buffer, pkh.byteOffset).getUint32(0, false));
});

test('Debian mkimage reads our headers, and we read its', { skip: oracleSkip('mkimage') }, () => {
  const dir = tempDir();
  const key = generateKey('ecdsa-p256');
  const ours = createStm32Image({
    payload: PAYLOAD,
    loadAddress: 0xc0100000,
    entryPoint: 0xc0100400,
    binaryType: 0x20,
    imageVersion: 7,
    key,
  });
  writeFileSync(join(dir, 'ours.stm32'), ours);
  const listed = execFileSync('mkimage', ['-l', join(dir, 'ours.stm32')], { encoding: 'utf8' });
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(listed)?.[1]?.trim();
  assert.equal(field('Image Type'), 'STMicroelectronics STM32 V1.0');
  assert.equal(field('Image Size'), '1024 bytes');
  assert.equal(field('Image Load'), '0xc0100000');
  assert.equal(field('Entry Point'), '0xc0100400');
  assert.equal(field('Checksum'), '0x0001fe00');
  assert.equal(field('Option'), '0x00000000');
  // mkimage reads the binary type as a u32 at 0xFC; the ROM and TF-A read the byte at 0xFF.
  assert.equal(field('BinaryType'), '0x20000000');

  writeFileSync(join(dir, 'payload.bin'), PAYLOAD.subarray(0, 1000));
  execFileSync(
    'mkimage',
    ['-T', 'stm32image', '-a', '0x2FFC2500', '-e', '0x2FFC2600', '-d', join(dir, 'payload.bin'), join(dir, 'mk.stm32')],
    {
      stdio: 'ignore',
    },
  );
  const theirs = parseStm32Image(new Uint8Array(readFileSync(join(dir, 'mk.stm32'))));
  assert.equal(theirs.header.major, 1);
  assert.equal(theirs.header.imageLength, 1000);
  assert.equal(theirs.header.loadAddress, 0x2ffc2500);
  assert.equal(theirs.header.entryPoint, 0x2ffc2600);
  assert.equal(theirs.header.checksum, payloadChecksum(PAYLOAD.subarray(0, 1000)));
  assert.deepEqual(theirs.payload, PAYLOAD.subarray(0, 1000));
  assert.ok(
    checkStm32Image(theirs).every((c) => c.ok),
    'open device: unsigned and its checksum right',
  );
});

test('rse stm32: sign, info --json, verify (exit 0 / 1), pkh; bad input exits 2 with one line', async () => {
  const dir = tempDir();
  const f = (n: string): string => join(dir, n);
  writeFileSync(f('fsbl.bin'), PAYLOAD);
  assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', f('k.pem')])).code, 0);
  const s = await runCli([
    'stm32',
    'sign',
    '-k',
    f('k.pem'),
    '-l',
    '0x2FFC2500',
    '-e',
    '0x2FFC2500',
    '-b',
    '0x10',
    '-v',
    '2',
    f('fsbl.bin'),
    f('fsbl.stm32'),
  ]);
  assert.equal(s.code, 0, s.stderr);
  const info = JSON.parse((await runCli(['stm32', 'info', '--json', f('fsbl.stm32')])).stdout) as { imageVersion: number; pkh: string };
  assert.equal(info.imageVersion, 2);
  const pkh = (await runCli(['stm32', 'pkh', '-k', f('k.pem'), '--json'])).stdout;
  assert.equal((JSON.parse(pkh) as { pkh: string }).pkh, info.pkh);
  assert.equal((await runCli(['stm32', 'verify', '--closed', '--pkh', info.pkh, f('fsbl.stm32')])).code, 0);
  assert.equal((await runCli(['stm32', 'verify', '--closed', '--pkh', '00'.repeat(32), f('fsbl.stm32')])).code, 1);
  const bad = await runCli(['stm32', 'info', f('fsbl.bin')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^rse: E_BAD_MAGIC: .*\n$/);
  assert.equal((await runCli(['stm32', 'sign', '-l', '0', '-e', '0', '-b', '0x100', f('fsbl.bin'), f('x')])).code, 2);
  assert.equal((await runCli(['stm32', 'sign', '-l', '0', '-e', '0', f('fsbl.bin'), f('x')])).code, 2, 'missing -b');
});

test('hostile headers: truncations and random bytes give an image or a typed error, and the checks never throw', () => {
  const key = generateKey('ecdsa-p256');
  const seeds = [
    createStm32Image({ payload: PAYLOAD, loadAddress: 0, entryPoint: 0, binaryType: 0x10, key }),
    createStm32Image({ payload: PAYLOAD, loadAddress: 0, entryPoint: 0, binaryType: 0x10, major: 2 }),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(0x220), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
      fc.nat(1600),
      (seed, edits, cut) => {
        const b = seed.slice(0, cut);
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        try {
          const img = parseStm32Image(b);
          checkStm32Image(img, { closed: true, pkh: new Uint8Array(32) });
          assert.ok(img.header.headerSize + img.header.imageLength <= b.length);
        } catch (e) {
          assert.ok(isRseError(e), String(e));
        }
      },
    ),
    { numRuns: 2000 },
  );
});
