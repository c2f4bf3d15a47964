/** SFI images: the documented layout, the per-area IV rule, refusals of every altered byte, hostile input, CLI. */
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateKey, rawPublicKey } from '../../src/crypto/index.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { areaIv, checkHeaderTag, DESCRIPTOR_SIZE, decryptArea, HEADER_SIZE, packageSfi, parseSfi } from '../../src/stm32/sfi.ts';
import { decodeLicense, makeLicense, unwrapLicense } from '../../src/stm32/ssp.ts';
import { runCli, tempDir } from '../helpers.ts';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
/** Bytes 8..11 = ff 00 00 00: area 1's IV carries into byte 9. */
const NONCE = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0, 0, 0]);
const FW = new Uint8Array(3000).map((_, i) => (i * 31) & 0xff);
const MOD = new TextEncoder().encode('secure module');
const image = (key = KEY) =>
  packageSfi({
    key,
    nonce: NONCE,
    imageVersion: 7,
    areas: [
      { type: 'F', destination: 0x0c000000, data: FW },
      { type: 'M', destination: 0x0c040000, data: MOD },
      { type: 'C', destination: 0, data: new TextEncoder().encode('rdp=1\n') },
    ],
  });

test('layout: header and descriptors where docs/sfi-format.md puts them; IV = nonce + index on bytes 8..11', () => {
  const b = image();
  const dv = new DataView(b.buffer);
  assert.equal(new TextDecoder().decode(b.subarray(0, 4)), 'RSFI');
  assert.deepEqual([dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)], [2, 3, 7]);
  assert.deepEqual(b.subarray(16, 28), NONCE);
  const a1 = HEADER_SIZE + DESCRIPTOR_SIZE + FW.length;
  assert.equal(new TextDecoder().decode(b.subarray(a1, a1 + 5)), 'SFIAM');
  assert.deepEqual(
    [dv.getUint16(a1 + 6, true), dv.getUint32(a1 + 8, true), dv.getUint32(a1 + 12, true), dv.getUint32(a1 + 16, true)],
    [1, 3, 0x0c040000, MOD.length],
  );
  assert.deepEqual(areaIv(NONCE, 1).subarray(8), Uint8Array.from([0, 1, 0, 0]), 'byte 8 increments first and carries');
  // Independent decryption of area 1 with node:crypto and the documented IV and AAD.
  const d = createDecipheriv('aes-128-gcm', KEY, Uint8Array.from([...NONCE.subarray(0, 8), 0, 1, 0, 0]));
  d.setAAD(b.subarray(a1, a1 + 36));
  d.setAuthTag(b.subarray(a1 + 36, a1 + 52));
  assert.deepEqual(new Uint8Array(Buffer.concat([d.update(b.subarray(a1 + 52, a1 + 52 + MOD.length)), d.final()])), MOD);
  const img = parseSfi(b);
  assert.equal(checkHeaderTag(img, KEY), true);
  assert.deepEqual(decryptArea(img, 0, KEY), FW);
  assert.equal(checkHeaderTag(parseSfi(image(new Uint8Array(16).fill(9))), KEY), false, 'a package for another OEM key');
});

test('every altered byte is refused: structure, header tag, area tag or hash', () => {
  const b = image();
  const step = 7;
  for (let off = 0; off < b.length; off += step) {
    const c = b.slice();
    c[off] = (c[off] as number) ^ 0x20;
    let accepted = true;
    try {
      const img = parseSfi(c);
      if (!checkHeaderTag(img, KEY)) accepted = false;
      else for (let i = 0; i < img.areas.length; i++) decryptArea(img, i, KEY);
    } catch (e) {
      assert.ok(isRseError(e), String(e));
      accepted = false;
    }
    assert.equal(accepted, false, `byte ${off} altered yet accepted`);
  }
});

test('property: hostile SFI images give typed errors only', () => {
  const valid = image();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }),
        fc.tuple(fc.nat(valid.length), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([n, i, x]) => {
          const c = valid.slice(0, n);
          if (c.length > 0) c[i % c.length] = (c[i % c.length] as number) ^ x;
          return c;
        }),
      ),
      (b) => {
        try {
          const img = parseSfi(b);
          for (let i = 0; i < img.areas.length; i++) decryptArea(img, i, KEY);
        } catch (e) {
          assert.ok(isRseError(e), String(e));
        }
      },
    ),
    { seed: 12, numRuns: 3000 },
  );
  assert.throws(
    () =>
      packageSfi({
        key: KEY,
        nonce: NONCE,
        areas: [
          { type: 'C', destination: 0, data: new Uint8Array(1) },
          { type: 'F', destination: 0, data: FW },
        ],
      }),
    (e) => isRseError(e) && /configuration area comes last/.test(e.message),
  );
});

test('CLI: rse sfi package, info (and --key: exit 0 authenticated, 1 with another key)', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'fw.bin'), FW);
  writeFileSync(join(dir, 'ext.bin'), MOD);
  const out = join(dir, 'fw.sfi');
  const p = await runCli([
    'sfi',
    'package',
    '--key',
    '101112131415161718191a1b1c1d1e1f',
    '--nonce',
    '0102030405060708ff000000',
    '--area',
    `F:0x0c000000:${join(dir, 'fw.bin')}`,
    '--area',
    `X:0x90000000:${join(dir, 'ext.bin')}`,
    '--ob',
    'rdp=1 tzen=1',
    '-o',
    out,
  ]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /area 1: type X \(external firmware, OTFDEC device-unique key\), size 13, destination 0x90000000/);
  assert.match(p.stdout, /area 2: type K \(OTFDEC key\), size 0, destination 0x0c03f800/);
  assert.match(p.stdout, /area 3: type C \(configuration\)/);
  const ok = await runCli(['sfi', 'info', out, '--key', '101112131415161718191a1b1c1d1e1f']);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /header tag authenticates/);
  const bad = await runCli(['sfi', 'info', out, '--key', '00000000000000000000000000000000', '--json']);
  assert.equal(bad.code, 1);
  assert.equal((JSON.parse(bad.stdout) as { headerTag: boolean }).headerTag, false);
  const usage = await runCli(['sfi', 'package', '--key', '00', '-o', out]);
  assert.equal(usage.code, 2);
});

test('property: hostile SFI licenses give typed errors; no altered license unwraps', () => {
  const chip = generateKey('ecdsa-p256');
  const license = makeLicense({
    family: 'sfi',
    chipPublicKey: rawPublicKey(chip).subarray(1),
    oemKey: KEY,
    oemIv: new Uint8Array(16),
    fsblMinVersion: 0,
    sessionId: 5,
  });
  assert.equal(decodeLicense(license, 'sfi').type, 'live');
  assert.throws(
    () => decodeLicense(license, 'ssp'),
    (e) => isRseError(e) && /neither 'SSP.' nor 'SSPL'/.test(e.message),
    'an SFI license is no SSP license',
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.nat(135), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const c = license.slice();
          c[i] = (c[i] as number) ^ x;
          return c;
        }),
      ),
      (b) => {
        assert.throws(
          () => unwrapLicense({ chipKey: chip, license: b, family: 'sfi', version: 0, sessionId: 5 }),
          (e) => isRseError(e),
        );
      },
    ),
    { seed: 13, numRuns: 600 },
  );
  assert.deepEqual(unwrapLicense({ chipKey: chip, license, family: 'sfi', version: 0, sessionId: 5 }).subarray(16), KEY);
});
