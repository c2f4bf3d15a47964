/**
 * Issue 29's traps, each failing on the behaviour before: `rse keygen` replaced an existing key
 * silently (here: test/lib/atomic.test.ts); `rse bl1 sign` demanded --encrypt-key where `flash
 * build` takes TF-M's dummy; `rse bl1 info` printed a "header" for any file and exited 0;
 * `rse l5 ob set rdp=3` silently set level 1.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';

test('rse bl1 sign without --encrypt-key uses the dummy key with a warning, as flash build does; the image verifies with that key; the key may be given in hex', async () => {
  const dir = tempDir();
  cpSync(new URL('../../examples/keys', import.meta.url), join(dir, 'keys'), { recursive: true });
  writeFileSync(join(dir, 'bl2.bin'), new Uint8Array(4096).fill(0x42));
  const r = await runCli(['bl1', 'sign', join(dir, 'bl2.bin'), join(dir, 'bl2.img'), '-k', join(dir, 'keys/bl1-lms.prv')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no --encrypt-key: using TF-M's dummy bl2_encryption_key/);
  const dummy = '0123456789012345678901234567890123456789012345678901234567890123';
  writeFileSync(join(dir, 'k.bin'), Buffer.from(dummy, 'hex'));
  const info = await runCli(['bl1', 'info', join(dir, 'bl2.img'), '--encrypt-key', join(dir, 'k.bin'), '--json']);
  assert.equal(info.code, 0, info.stdout + info.stderr);
  assert.equal((JSON.parse(info.stdout) as { magicOk: boolean }).magicOk, true);
  const hex = await runCli([
    'bl1',
    'sign',
    join(dir, 'bl2.bin'),
    join(dir, 'bl2b.img'),
    '-k',
    join(dir, 'keys/bl1-lms.prv'),
    '--encrypt-key',
    dummy,
  ]);
  assert.equal(hex.code, 0, hex.stderr);
  assert.doesNotMatch(hex.stderr, /warning/);
});

test('rse bl1 info refuses what is not a BL1 image (E_BAD_FIELD, exit 1 as every format check) instead of printing a header for it', async () => {
  const dir = tempDir();
  for (const [name, bytes] of [
    ['zeros.bin', new Uint8Array(0x2000)],
    ['mcuboot.bin', readFileSync(new URL('../../../shared/vectors/mcuboot/signed/ecp256-1k.bin', import.meta.url))],
  ] as const) {
    writeFileSync(join(dir, name), bytes);
    const r = await runCli(['bl1', 'info', join(dir, name), '--json']);
    assert.equal(r.code, 1, `${name}: ${r.stdout}`);
    assert.match(r.stdout, /is not a BL1 image: the signature's type codes are/);
  }
});

test('rse l5 ob set rdp=3 is refused (a level is 0, 0.5, 1 or 2, or a raw 0xNN byte); rdp=0xbb still sets level 1 as the hardware reads it', async () => {
  const dev = join(tempDir(), 'l5');
  assert.equal((await runCli(['l5', 'device', 'create', dev])).code, 0);
  const bad = await runCli(['l5', 'ob', 'set', dev, 'rdp=3', '--json']);
  assert.equal(bad.code, 2, bad.stdout);
  assert.match(bad.stdout, /rdp=3: a level is 0, 0\.5, 1 or 2, or the raw byte as 0xNN/);
  const show = JSON.parse((await runCli(['l5', 'ob', 'show', dev, '--json'])).stdout) as { rdpLevel: string };
  assert.equal(show.rdpLevel, '0', 'unchanged');
  const raw = await runCli(['l5', 'ob', 'set', dev, 'rdp=0xbb', '--json']);
  assert.equal(raw.code, 0, raw.stdout + raw.stderr);
  assert.equal((JSON.parse(raw.stdout) as { rdpLevel: string }).rdpLevel, '1');
});

test('a flash build that fails spends no LMS leaf: every check runs first with placeholder signatures', async () => {
  const root = join(tempDir(), 'ex');
  cpSync(new URL('../../examples', import.meta.url), root, { recursive: true });
  const yaml = join(root, 'rse-2.1/platform.yaml');
  const text = readFileSync(yaml, 'utf8');
  // FIP_A too small for the FIP: found after BL2 is built.
  writeFileSync(yaml, text.replace(/(name: FIP_A, type: fip, size: )\w+/, '$164K'));
  const prv = join(root, 'keys/bl1-lms.prv');
  const before = readFileSync(prv);
  const r = await runCli(['flash', 'build', yaml, '-o', join(root, 'out'), '--json']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /larger than partition FIP_A/);
  assert.deepEqual(readFileSync(prv), before, 'the LMS key did not move');
  // The same build, fixed, spends exactly one leaf.
  writeFileSync(yaml, text);
  assert.equal((await runCli(['flash', 'build', yaml, '-o', join(root, 'out')])).code, 0);
  assert.notDeepEqual(readFileSync(prv), before);
});
