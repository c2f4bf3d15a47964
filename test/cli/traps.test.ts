/**
 * Issue 29's traps, each failing on the behaviour before: `rse keygen` replaced an existing key
 * silently (here: test/lib/atomic.test.ts); `rse bl1 sign` demanded --encrypt-key where `flash
 * build` takes TF-M's dummy; `rse bl1 info` printed a "header" for any file and exited 0;
 * `rse l5 ob set rdp=3` silently set level 1; HDP enabled with no secure watermark went unexplained
 * until CloseExitHDP reset the device; `sfi package` took an OTFDEC key address its own option
 * bytes made non-secure (refused at install, after the license); no way to check an SFI install
 * without spending a license; a TCI bundle on a PCI device, or a debugger device run without
 * --tp-mode, failed without naming the option that fixes it.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
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

test('HDP set with no secure watermark: ob set warns with the rule, and CloseExitHDP says why it reset (before: silent, then a bare RSSLIB_ERROR)', async () => {
  const dev = join(tempDir(), 'l5');
  assert.equal((await runCli(['l5', 'device', 'create', dev])).code, 0);
  const set = await runCli(['l5', 'ob', 'set', dev, 'tzen=1', 'hdp1=7', '--json']);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stderr, /warning: HDP area 1 is enabled but bank 1 has no secure watermark area: .*set secwm1=START-END/);
  assert.equal((JSON.parse(set.stdout) as { warnings: string[] }).warnings.length, 1);
  const close = await runCli(['l5', 'rss', 'close-exit-hdp', dev, '1', '0x0c000000']);
  assert.equal(close.code, 1);
  assert.match(close.stdout, /RSSLIB_ERROR \(0x[0-9a-f]+\): HDP area 1 is enabled but bank 1 has no secure watermark area/);
  // With the watermark, no warning and the call succeeds.
  const ok = await runCli(['l5', 'ob', 'set', dev, 'secwm1=0-31']);
  assert.doesNotMatch(ok.stderr, /warning/);
  assert.equal((await runCli(['l5', 'rss', 'close-exit-hdp', dev, '1', '0x0c000000'])).code, 0);
});

test('sfi package refuses an OTFDEC key address its own option bytes leave non-secure (before: found only at install, after the license was spent)', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'fw.bin'), new Uint8Array(4096).fill(1));
  writeFileSync(join(dir, 'ext.bin'), new Uint8Array(4096).fill(2));
  const base = ['sfi', 'package', '--key', '00'.repeat(16), '--nonce', '11'.repeat(12), '--area', `F:0x0c000000:${join(dir, 'fw.bin')}`];
  const ext = ['--area', `X:0x90000000:${join(dir, 'ext.bin')}`];
  const bad = await runCli([...base, ...ext, '--ob', 'tzen=1 secwm1=0-31', '-o', join(dir, 'bad.sfi'), '--json']);
  assert.equal(bad.code, 2, bad.stdout);
  const e = (JSON.parse(bad.stdout) as { error: { code: string; field: string; message: string } }).error;
  assert.equal(e.code, 'E_CONFIG');
  assert.equal(e.field, '--otfdec-key-address');
  assert.match(e.message, /0x0C03F800 would be non-secure once --ob applies \(secwm1 leaves bank 1 page 127/i);
  assert.equal(existsSync(join(dir, 'bad.sfi')), false);
  const off = await runCli([...base, ...ext, '--ob', 'tzen=0', '-o', join(dir, 'off.sfi')]);
  assert.equal(off.code, 2);
  assert.match(off.stderr, /tzen=0 turns TrustZone off/);
  for (const ob of ['tzen=1 secwm1=0-127', 'rdp=1']) {
    const good = await runCli([...base, ...ext, '--ob', ob, '-o', join(dir, 'good.sfi')]);
    assert.equal(good.code, 0, `${ob}: ${good.stderr}`);
  }
  // No X area: the key address does not matter.
  assert.equal((await runCli([...base, '--ob', 'tzen=1 secwm1=0-31', '-o', join(dir, 'plain.sfi')])).code, 0);
});

test('rse sfi check and install --dry-run run every check that needs no license and spend none; they catch what the install would refuse', async () => {
  const dir = tempDir();
  const key = '00'.repeat(16);
  const nonce = '11'.repeat(12);
  writeFileSync(join(dir, 'fw.bin'), new Uint8Array(4096).fill(1));
  const db = join(dir, 'ledger');
  const pkg = (ob: string, out: string) =>
    runCli([
      'sfi',
      'package',
      '--key',
      key,
      '--nonce',
      nonce,
      '--area',
      `F:0x0c000000:${join(dir, 'fw.bin')}`,
      '--ob',
      ob,
      '-o',
      join(dir, out),
    ]);
  assert.equal((await pkg('tzen=1 secwm1=0-31 rdp=1', 'good.sfi')).code, 0);
  for (const args of [
    ['sfi', 'hsm', 'init', '--db', db, '--key', key, '--nonce', nonce, '--max', '1'],
    ['l5', 'device', 'create', join(dir, 'dev')],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  const check = await runCli(['sfi', 'check', join(dir, 'dev'), join(dir, 'good.sfi'), '--key', key, '--json']);
  assert.equal(check.code, 0, check.stdout);
  const r = JSON.parse(check.stdout) as { ok: boolean; steps: { what: string }[] };
  assert.ok(r.steps.some((s) => /option bytes tzen=1 secwm1=0-31 rdp=1 applied last/.test(s.what)));
  assert.match(r.steps.at(-1)?.what ?? '', /nothing written, no license spent/);
  const noKey = await runCli(['sfi', 'check', join(dir, 'dev'), join(dir, 'good.sfi')]);
  assert.equal(noKey.code, 0);
  assert.match(noKey.stdout, /not checked: they are encrypted \(give the OEM key/);
  const wrongKey = await runCli(['sfi', 'check', join(dir, 'dev'), join(dir, 'good.sfi'), '--key', '22'.repeat(16)]);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stdout, /would be refused: SFI header tag does not authenticate/);
  const dry = await runCli(['sfi', 'install', join(dir, 'dev'), join(dir, 'good.sfi'), '--db', db, '--dry-run', '--key', key]);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, /HSM default: 1 license\(s\) left, none asked for/);
  const show = JSON.parse((await runCli(['sfi', 'hsm', 'show', '--db', db, '--json'])).stdout) as { issued: number };
  assert.equal(show.issued, 0, 'no license spent by check or dry run');
  assert.equal((await runCli(['l5', 'ob', 'show', join(dir, 'dev'), '--json'])).stdout.includes('"tzen": false'), true, 'nothing written');
  // The real install still works after the checks, and spends its one license.
  assert.equal((await runCli(['sfi', 'install', join(dir, 'dev'), join(dir, 'good.sfi'), '--db', db])).code, 0);
  const after = await runCli(['sfi', 'install', join(dir, 'dev'), join(dir, 'good.sfi'), '--db', db, '--dry-run']);
  assert.equal(after.code, 1);
  assert.match(after.stdout, /no license left \(1 of 1 issued\)/);
});

test('errors name the option that fixes them: a TCI bundle on a PCI device, a debugger device run without --tp-mode', async () => {
  const dir = tempDir();
  for (const args of [
    ['device', 'create', join(dir, 'pci'), '--profile', 'rse-2.1', '--tp-mode', 'pci'],
    ['device', 'create', join(dir, 'dbg'), '--profile', 'rse-2.1', '--debugger'],
    ['provision', 'bundle', 'cm', '-o', join(dir, 'cm.bin')],
    ['provision', 'bundle', 'dm', '-o', join(dir, 'dm.bin')],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  const pci = await runCli(['provision', 'run', join(dir, 'pci'), '--cm', join(dir, 'cm.bin'), '--dm', join(dir, 'dm.bin'), '--json']);
  assert.equal(pci.code, 1);
  assert.match(
    (JSON.parse(pci.stdout) as { hint: string }).hint,
    /this device is in PCI mode: .*'rse provision bundle cm\|dm --tp-mode pci --krtl .*pci\/krtl\.bin'/,
  );
  const dbg = await runCli(['provision', 'run', join(dir, 'dbg'), '--cm', join(dir, 'cm.bin'), '--dm', join(dir, 'dm.bin')]);
  assert.equal(dbg.code, 1);
  assert.match(dbg.stderr, /hint: this device's ROM waits for a debugger to choose the TP mode: run again with --tp-mode tci/);
  // Following the hint works.
  const fixed = await runCli([
    'provision',
    'run',
    join(dir, 'dbg'),
    '--cm',
    join(dir, 'cm.bin'),
    '--dm',
    join(dir, 'dm.bin'),
    '--tp-mode',
    'tci',
  ]);
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
});
