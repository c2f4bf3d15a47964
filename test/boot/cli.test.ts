import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DUMMY } from '../../src/provisioning/values.ts';
import { exampleLmsKey } from '../bl1/helpers.ts';
import { runCli, tempDir } from '../helpers.ts';
import { exampleFixture } from './examples.ts';

test('rse boot: provision, sign BL2, pack a FIP, load the flash, boot through BL1_2; a tampered FIP stops it', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  const key = exampleLmsKey();
  const pub = readFileSync(`${key}.pub`).subarray(4).toString('hex');
  writeFileSync(join(dir, 'values.yaml'), `dm:\n  bl1_rotpk_0: "${pub}"\n`);
  writeFileSync(join(dir, 'ek.bin'), DUMMY.bl2_encryption_key);
  writeFileSync(join(dir, 'bl2.bin'), new Uint8Array(4096).fill(0xa5));
  const ok = async (args: string[]): Promise<string> => {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['device', 'create', dev]);
  await ok(['provision', 'bundle', 'cm', '-o', join(dir, 'cm.bin')]);
  await ok(['provision', 'bundle', 'dm', '--values', join(dir, 'values.yaml'), '-o', join(dir, 'dm.bin')]);
  await ok(['provision', 'run', dev, '--cm', join(dir, 'cm.bin'), '--dm', join(dir, 'dm.bin')]);
  await ok([
    'bl1',
    'sign',
    '-k',
    key,
    '--encrypt-key',
    join(dir, 'ek.bin'),
    '-s',
    '3',
    '-v',
    '2.0.0',
    join(dir, 'bl2.bin'),
    join(dir, 'bl2_signed.bin'),
  ]);
  await ok(['fip', 'create', '--align', '8192', '--rse-bl2', join(dir, 'bl2_signed.bin'), join(dir, 'fip.bin')]);
  await ok(['device', 'load-flash', dev, join(dir, 'fip.bin')]);
  // BL1_2 hands over; the FIP holds no MCUboot images, so BL2 stops at its first image.
  const b = await runCli(['boot', dev]);
  assert.equal(b.code, 1);
  const text = b.stdout;
  assert.match(text, /BL1_1 +ok {3}BL1_2 hash/);
  assert.match(text, /BL1_2 +[\d.]+ ms {2}handed over/);
  assert.match(text, /^ {2}1 +BL2 +2\.0\.0\+0/m);
  assert.match(text, /stopped in BL2: pre-load: image 3 \(SCP BL1\) is in neither FIP: nothing to map \[E_NO_IMAGE\]/);
  const j = JSON.parse((await runCli(['boot', dev, '--json'])).stdout);
  assert.equal(j.ok, false);
  assert.equal(j.bl2.version, '2.0.0+0');
  assert.equal(j.bl2.securityCounter, 3);
  assert.deepEqual(
    j.measurements.map((m: { slot: number }) => m.slot),
    [0, 1],
  );
  assert.equal((await runCli(['otp', 'read', dev, 'nv_counter_bl1_0'])).stdout.trim(), '3');
  // Flip a byte inside the BL2 entry: FIP_A fails its signature, there is no FIP_B: exit 1.
  const fip = readFileSync(join(dir, 'fip.bin'));
  fip[0x2000 + 0x1000] = (fip[0x2000 + 0x1000] as number) ^ 1;
  writeFileSync(join(dir, 'bad.bin'), fip);
  await ok(['device', 'load-flash', dev, join(dir, 'bad.bin')]);
  const bad = await runCli(['boot', dev]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAIL FIP_A: LMS signature/);
  assert.match(bad.stdout, /stopped in BL1_2: no BL2 copy passed/);
});

test('rse device create --xip, boot and dump xip-s: the CLI end of an XIP boot; --xip is refused on rss-1.7', async () => {
  const fx = exampleFixture('rse-2.1-xip');
  const dir = tempDir();
  const dev = join(dir, 'dev');
  const ok = async (args: string[]): Promise<string> => {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  assert.match(await ok(['device', 'create', dev, '--xip']), /rse-2\.1 \(XIP\)/);
  // The fixture's provisioned device state, with this CLI device's device.json.
  for (const name of ['otp.bin', 'flash.bin', 'krtl.bin', 'rom.bin']) writeFileSync(join(dev, name), fx.store.read(name) as Uint8Array);
  const text = await ok(['boot', dev]);
  assert.match(text, /XIP: rse-s \(FIP_A, flash 0x[0-9a-f]+, 16384 bytes\) executes at 0x12000000 through the SIC, 16 pages/);
  assert.match(text, /jumps to the S runtime at 0x12000000 \(XIP\)/);
  const out = join(dir, 'xip-s.bin');
  await ok(['device', 'dump', dev, '--region', 'xip-s', '-o', out]);
  const s = readFileSync(join(fx.root, 'payloads/tfm_s.bin'));
  assert.deepEqual(readFileSync(out).subarray(0, s.length), s);
  const j = JSON.parse(await ok(['boot', dev, '--json']));
  assert.equal(j.placed.find((p: { index: number }) => p.index === 0).xip.logical, '0x12000000');
  const bad = await runCli(['device', 'create', join(dir, 'rss'), '--profile', 'rss-1.7', '--xip']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--xip is not a build option of rss-1\.7 \(profiles with one: rse-2\.1\)/);
});
