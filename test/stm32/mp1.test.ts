/** The virtual STM32MP15's ROM against the attack table (issue 8, acceptance 2, ROM part). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/crypto/index.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { CFG0_CLOSED, OTP_WORD } from '../../src/stm32/bsec.ts';
import { createStm32Image, p256PublicXY, publicKeyHash } from '../../src/stm32/image.ts';
import { Mp1Device, romBoot } from '../../src/stm32/mp1.ts';
import { flipBits, runCli, tempDir } from '../helpers.ts';

const PAYLOAD = new Uint8Array(4096).map((_, i) => (i * 13 + 1) & 0xff);
const oem = generateKey('ecdsa-p256');
const fsbl = (o: { key?: typeof oem; version?: number } = {}): Uint8Array =>
  createStm32Image({
    payload: PAYLOAD,
    loadAddress: 0x2ffc2500,
    entryPoint: 0x2ffc2500,
    binaryType: 0x10,
    imageVersion: o.version ?? 2,
    ...(o.key === undefined ? {} : { key: o.key }),
  });

function closedDevice(counter = 2): Mp1Device {
  const dev = Mp1Device.create(join(tempDir(), 'mp1'));
  dev.provision({ pkh: publicKeyHash(p256PublicXY(oem)), counter, close: true });
  return Mp1Device.open(dev.dir);
}

test('a closed device boots its signed FSBL: auth_status success, debug closed', () => {
  const r = romBoot(closedDevice(), fsbl({ key: oem }));
  assert.equal(r.ok, true, r.halt);
  assert.equal(r.authStatus, 2);
  assert.deepEqual(r.debug, { secure: false, nonSecure: false });
});

test('attack table: each refused with its own reason', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['unsigned FSBL on a closed device', fsbl(), /^option flags: unsigned image .* on a closed device/],
    ['signed with another key', fsbl({ key: generateKey('ecdsa-p256') }), /^public key hash: SHA-256\(X ‖ Y\) .* != OTP PKH/],
    ['rollback below the OTP counter', fsbl({ key: oem, version: 1 }), /^rollback: image version 1 is below the OTP counter 2$/],
  ];
  const tampered = fsbl({ key: oem });
  flipBits(tampered, 0x100 + 500, 0x80);
  cases.push(['tampered payload', tampered, /^checksum: /]);
  const keySwap = fsbl({ key: oem });
  // Our key in the header, a signature by another key: the PKH matches, the signature does not.
  keySwap.set(fsbl({ key: generateKey('ecdsa-p256') }).subarray(0x04, 0x44), 0x04);
  cases.push(['signature by another key under our public key', keySwap, /^signature: /]);
  for (const [name, image, reason] of cases) {
    const dev = closedDevice();
    const r = romBoot(dev, image);
    assert.equal(r.ok, false, name);
    assert.match(r.halt ?? '', reason, name);
  }
  // No PKH on a closed device.
  const blank = Mp1Device.create(join(tempDir(), 'blank'));
  blank.bsec.program(OTP_WORD.CFG0, CFG0_CLOSED);
  assert.match(romBoot(blank, fsbl({ key: oem })).halt ?? '', /closed device with no PKH/);
  // Closing without a PKH is refused by the provisioning step itself.
  const open = Mp1Device.create(join(tempDir(), 'open'));
  assert.throws(
    () => open.provision({ close: true }),
    (e) => isRseError(e) && e.code === 'E_LIFECYCLE',
  );
});

test('an open device boots an unsigned FSBL (checksum only); the locked PKH cannot be rewritten', () => {
  const dev = Mp1Device.create(join(tempDir(), 'mp1'));
  const r = romBoot(dev, fsbl());
  assert.equal(r.ok, true);
  assert.equal(r.authStatus, 0);
  assert.deepEqual(r.debug, { secure: true, nonSecure: true });
  dev.provision({ pkh: publicKeyHash(p256PublicXY(oem)) });
  assert.throws(
    () => dev.bsec.program(OTP_WORD.PKH, 0xffffffff),
    (e) => isRseError(e) && e.code === 'E_ACCESS',
  );
});

test('rse stm32 device / provision / boot / otp show end to end; a refused boot exits 1, a locked word write exits 1', async () => {
  const dir = tempDir();
  const f = (n: string): string => join(dir, n);
  assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', f('oem.pem')])).code, 0);
  writeFileSync(f('fsbl.bin'), PAYLOAD);
  assert.equal(
    (
      await runCli([
        'stm32',
        'sign',
        '-k',
        f('oem.pem'),
        '-l',
        '0x2FFC2500',
        '-e',
        '0x2FFC2500',
        '-b',
        '0x10',
        '-v',
        '1',
        f('fsbl.bin'),
        f('fsbl.stm32'),
      ])
    ).code,
    0,
  );
  assert.equal(
    (await runCli(['stm32', 'sign', '-l', '0x2FFC2500', '-e', '0x2FFC2500', '-b', '0x10', f('fsbl.bin'), f('unsigned.stm32')])).code,
    0,
  );
  assert.equal((await runCli(['stm32', 'device', 'create', f('dev')])).code, 0);
  assert.equal((await runCli(['stm32', 'provision', f('dev'), '-k', f('oem.pem'), '--counter', '1', '--close'])).code, 0);
  const ok = await runCli(['stm32', 'boot', f('dev'), f('fsbl.stm32'), '--json']);
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal((JSON.parse(ok.stdout) as { authStatus: number }).authStatus, 2);
  const no = await runCli(['stm32', 'boot', f('dev'), f('unsigned.stm32')]);
  assert.equal(no.code, 1);
  assert.match(no.stdout, /ROM stops: option flags: unsigned image/);
  const show = JSON.parse((await runCli(['stm32', 'otp', 'show', f('dev'), '--json'])).stdout) as {
    state: string;
    monotonicCounter: number;
    words: { word: number; permanentLock: boolean }[];
  };
  assert.equal(show.state, 'closed');
  assert.equal(show.monotonicCounter, 1);
  assert.ok(show.words.filter((w) => w.word >= 24 && w.word <= 31).every((w) => w.permanentLock));
  const locked = await runCli(['stm32', 'otp', 'program', f('dev'), '24', '0xffffffff']);
  assert.equal(locked.code, 1);
  assert.match(locked.stderr, /^rse: E_ACCESS: OTP word 24 is permanently locked/);
  assert.equal((await runCli(['stm32', 'boot', f('nodev'), f('fsbl.stm32')])).code, 2);
  // The fuses persist as 96 little-endian words.
  assert.equal(readFileSync(f('dev/otp.bin')).length, 384);
});

test('a device directory missing its fuses or its JSON is a typed E_DEVICE error', async () => {
  const { rmSync, writeFileSync: write } = await import('node:fs');
  const dev = Mp1Device.create(join(tempDir(), 'mp1'));
  rmSync(join(dev.dir, 'otp.bin'));
  assert.throws(
    () => Mp1Device.open(dev.dir),
    (e) => isRseError(e) && e.code === 'E_DEVICE' && /otp\.bin/.test(e.message),
  );
  write(join(dev.dir, 'device.json'), '{not json');
  assert.throws(
    () => Mp1Device.open(dev.dir),
    (e) => isRseError(e) && e.code === 'E_DEVICE',
  );
});
