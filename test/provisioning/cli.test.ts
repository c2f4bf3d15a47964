import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';

test('rse device create / provision bundle / provision run / otp show|read|write', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  assert.equal((await runCli(['device', 'create', dev])).code, 0);
  assert.equal((await runCli(['device', 'create', dev])).code, 2, 'refuses a non-empty directory');
  writeFileSync(
    join(dir, 'values.yaml'),
    'dm:\n  implementation_id: "0x' + '11'.repeat(32) + '"\n  verification_service_url: https://veraison.example\n',
  );
  assert.equal((await runCli(['provision', 'bundle', 'cm', '-o', join(dir, 'cm.bin')])).code, 0);
  const b = await runCli(['provision', 'bundle', 'dm', '--values', join(dir, 'values.yaml'), '-o', join(dir, 'dm.bin'), '--json']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(JSON.parse(b.stdout).values.verification_service_url, 'https://veraison.example');
  assert.equal(readFileSync(join(dir, 'dm.bin')).length, 0xed2c);
  const run = await runCli(['provision', 'run', dev, '--cm', join(dir, 'cm.bin'), '--dm', join(dir, 'dm.bin')]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /boot 1: LCS CM {2}TP VIRGIN PSI 0x1/);
  assert.match(run.stdout, /boot 4: LCS SE {2}TP TCI {4}PSI 0xd/);
  const show = await runCli(['otp', 'show', dev, '--json']);
  assert.equal(show.code, 0);
  const rep = JSON.parse(show.stdout);
  assert.equal(rep.lcs, 'SE');
  assert.deepEqual(rep.integrity, []);
  const huk = rep.fields.find((f: { name: string }) => f.name === 'huk');
  assert.equal(huk.value, undefined, 'secrets are never printed');
  const text = (await runCli(['otp', 'show', dev])).stdout;
  assert.doesNotMatch(text, /0123456789012345678901234567890123456789/, 'GUK not printed');
  assert.equal((await runCli(['otp', 'read', dev, 'implementation_id'])).stdout.trim(), '11'.repeat(32));
  assert.equal((await runCli(['otp', 'read', dev, 'huk'])).code, 2);
  // Fuse rules: counters only go up; a cleared bit fails read-back (exit 1).
  assert.equal((await runCli(['otp', 'write', dev, 'nv_counter_ns_0', '5'])).code, 0);
  assert.equal((await runCli(['otp', 'read', dev, 'nv_counter_ns_0'])).stdout.trim(), '5');
  const down = await runCli(['otp', 'write', dev, 'nv_counter_ns_0', '4']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /E_OTP_WRITE/);
  assert.equal((await runCli(['otp', 'write', dev, 'reprovisioning_bits', '01000000'])).code, 0);
  const clear = await runCli(['otp', 'write', dev, 'reprovisioning_bits', '02000000']);
  assert.equal(clear.code, 1);
  assert.match(clear.stderr, /does not read back/);
  // A tampered OTP: otp show exits 1 and names the area.
  const otp = readFileSync(join(dev, 'otp.bin'));
  otp[0x208] = (otp[0x208] as number) ^ 0x40;
  writeFileSync(join(dev, 'otp.bin'), otp);
  const bad = await runCli(['otp', 'show', dev]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /integrity: FAILED dm_locked area/);
  const boot = await runCli(['device', 'boot', dev]);
  assert.equal(boot.code, 1);
  assert.match(boot.stdout, /E_INTEGRITY/);
});

test('rse provision run refuses a bundle with the wrong size before touching the device', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  await runCli(['device', 'create', dev]);
  writeFileSync(join(dir, 'short.bin'), new Uint8Array(100));
  const before = readFileSync(join(dev, 'otp.bin'));
  const r = await runCli(['provision', 'run', dev, '--cm', join(dir, 'short.bin')]);
  assert.equal(r.code, 2, 'a malformed input file exits 2');
  assert.match(r.stderr, /E_SIZE/);
  assert.deepEqual(readFileSync(join(dev, 'otp.bin')), before);
});

test('rss-1.7 from the CLI: provision bundle rom|bl2|tfm, provision run, otp show and read', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  assert.equal((await runCli(['device', 'create', dev, '--profile', 'rss-1.7'])).code, 0);
  writeFileSync(join(dir, 'values.yaml'), 'tfm:\n  cert_ref: 1234567890123-12345\n  boot_seed: "' + '5a'.repeat(32) + '"\n');
  const rom = await runCli(['provision', 'bundle', 'rom', '-o', join(dir, 'rom.bin')]);
  assert.equal(rom.code, 0, rom.stderr);
  assert.equal(readFileSync(join(dir, 'rom.bin')).length, 0x20bc);
  assert.equal((await runCli(['provision', 'bundle', 'tfm', '--values', join(dir, 'values.yaml'), '-o', join(dir, 'tfm.bin')])).code, 0);
  assert.equal((await runCli(['provision', 'bundle', 'rom', '--key', 'k', '-o', join(dir, 'x.bin')])).code, 2, 'no key for a plain bundle');
  // CM/DM bundles are refused on an RSS device, before anything is written.
  assert.equal((await runCli(['provision', 'run', dev, '--cm', join(dir, 'rom.bin')])).code, 2);
  const run = await runCli(['provision', 'run', dev, '--rom-bundle', join(dir, 'rom.bin'), '--tfm-data', join(dir, 'tfm.bin')]);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /boot 2: LCS CM {2}TP TCI {4}TF-M moved the LCS to DM, cold reset/);
  assert.match(run.stdout, /boot 4: LCS SE /);
  const rep = JSON.parse((await runCli(['otp', 'show', dev, '--json'])).stdout);
  assert.equal(rep.lcs, 'SE');
  assert.deepEqual(rep.integrity, []);
  assert.equal((await runCli(['otp', 'read', dev, 'boot_seed'])).stdout.trim(), '5a'.repeat(32));
  const cert = Buffer.from((await runCli(['otp', 'read', dev, 'cert_ref'])).stdout.trim(), 'hex');
  assert.equal(cert.toString('latin1').replace(/\0+$/, ''), '1234567890123-12345');
});
