/** SFI install on the virtual L552: install then read back, the attack table, power cut at every write. */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKey } from '../../src/crypto/index.ts';
import { toHex } from '../../src/lib/hex.ts';
import { EXT_BASE, FLASH_S_BASE, PAGE_SIZE } from '../../src/stm32/l5.ts';
import { L5Device } from '../../src/stm32/l5-device.ts';
import { FLAG_UNIQUE_KEY, packageSfi } from '../../src/stm32/sfi.ts';
import { SfiHsm } from '../../src/stm32/sfi-hsm.ts';
import { FaultPlan, PowerCut, sfiInstall } from '../../src/stm32/sfi-install.ts';
import { runCli, tempDir } from '../helpers.ts';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
const SECURE_FW = new Uint8Array(5 * PAGE_SIZE + 100).map((_, i) => (i * 13 + 5) & 0xff);
const NS_FW = new Uint8Array(3 * PAGE_SIZE).map((_, i) => (i * 7 + 1) & 0xff);
const OB = 'tzen=1\nsecwm1=0-31\nrdp=1\n';
const image = (o: { key?: Uint8Array; nonce?: Uint8Array } = {}): Uint8Array =>
  packageSfi({
    key: o.key ?? KEY,
    nonce: o.nonce ?? NONCE,
    imageVersion: 1,
    areas: [
      { type: 'F', destination: FLASH_S_BASE, data: SECURE_FW },
      { type: 'F', destination: 0x08000000 + 32 * PAGE_SIZE, data: NS_FW },
      { type: 'C', destination: 0, data: new TextEncoder().encode(OB) },
    ],
  });
const hsm = (max = 1000, license: 'live' | 'normal' = 'live'): Promise<SfiHsm> =>
  SfiHsm.init('memory:', 'line-1', { key: KEY, nonce: NONCE, maxInstalls: max, license });
const newDevice = (o: { ca?: ReturnType<typeof generateKey> } = {}): string => L5Device.create(join(tempDir(), 'l5'), o).dir;
/** The device's files, to compare before and after. */
const files = (dir: string): string =>
  ['flash.bin', 'sram2.bin', 'device.json'].map((f) => readFileSync(join(dir, f)).toString('base64')).join('|');

test('install, then read back: flash holds the plaintext, the option bytes are applied, the HSM counted one', async () => {
  const h = await hsm(2);
  const dir = newDevice();
  const r = await sfiInstall(dir, image(), h);
  assert.equal(r.ok, true, r.halt);
  const d = L5Device.open(dir);
  assert.deepEqual([d.rdp, d.ob.tzen, d.ob.banks[0].secwmStart, d.ob.banks[0].secwmEnd], ['1', true, 0, 31]);
  assert.deepEqual(d.read(FLASH_S_BASE, SECURE_FW.length, 'secure'), SECURE_FW);
  assert.deepEqual(d.read(0x08000000 + 32 * PAGE_SIZE, NS_FW.length, 'secure'), NS_FW);
  assert.throws(() => d.read(FLASH_S_BASE, 4, 'debugger'), /RDP level 1/);
  // Then boot: TrustZone on, BOOT0 low: SECBOOTADD0, the installed vector table.
  const fw = new DataView(SECURE_FW.buffer);
  assert.deepEqual(d.boot(), {
    address: FLASH_S_BASE,
    target: 'SECBOOTADD0',
    sp: fw.getUint32(0, true),
    pc: fw.getUint32(4, true),
    erased: false,
  });
  const info = await h.info();
  assert.deepEqual([info.issued, info.remaining, info.ledger[0]?.productId], [1, 1, d.productId]);
  // RDP 1 now: SFI does not run again.
  assert.match((await sfiInstall(dir, image(), h)).halt ?? '', /SFI needs RDP level 0; the device is at level 1/);
  await h.close();
});

test('attack table (SFI): each refused with its own reason, the device untouched', async () => {
  const h = await hsm();
  const flip = (b: Uint8Array, off: number): Uint8Array => {
    const c = b.slice();
    c[off] = (c[off] as number) ^ 0x04;
    return c;
  };
  const good = image();
  const captured: Record<string, Uint8Array> = {};
  // A license issued for another device, and one captured from an earlier session of the same device.
  const other = L5Device.open(newDevice());
  captured.other = await h.issue(other.certificateMessage(), 42);
  const cases: [string, (dir: string) => ReturnType<typeof sfiInstall>, RegExp][] = [
    [
      'flipped bit in an area',
      (dir) => sfiInstall(dir, flip(good, 48 + 52 + 1000), h),
      /^E_DECRYPT: area 0 \(firmware\): tag does not authenticate$/,
    ],
    ['flipped bit in the header', (dir) => sfiInstall(dir, flip(good, 12), h), /^SFI header tag does not authenticate/],
    ['flipped bit in a tag', (dir) => sfiInstall(dir, flip(good, 48 + 40), h), /^E_DECRYPT: area 0 \(firmware\): tag/],
    ['flipped bit in an area descriptor', (dir) => sfiInstall(dir, flip(good, 48 + 14), h), /^E_DECRYPT: area 0/],
    [
      'license for another device',
      (dir) => sfiInstall(dir, good, h, { license: captured.other as Uint8Array }),
      /^license: E_LICENSE: live license for session 0x2a, this boot opened 0x[0-9a-f]+ \(replayed\)$/,
    ],
    [
      'replayed license',
      async (dir) => {
        const first = await h.issue(L5Device.open(dir).certificateMessage(), 7);
        return sfiInstall(dir, good, h, { license: first });
      },
      /^license: E_LICENSE: live license for session 0x7, this boot opened/,
    ],
    [
      'package for another OEM key',
      (dir) => sfiInstall(dir, image({ key: new Uint8Array(16).fill(3) }), h),
      /^SFI header tag does not authenticate: the image was made with another OEM key$/,
    ],
    [
      'license for another package',
      (dir) => sfiInstall(dir, image({ nonce: new Uint8Array(12).fill(9) }), h),
      /^license: it is for another SFI image/,
    ],
    ['truncated image', (dir) => sfiInstall(dir, good.subarray(0, 500), h), /^SFI image: E_BOUNDS/],
  ];
  for (const [name, run, reason] of cases) {
    const dir = newDevice();
    const before = files(dir);
    const r = await run(dir);
    assert.equal(r.ok, false, name);
    assert.match(r.halt ?? '', reason, name);
    assert.equal(files(dir), before, `${name}: the device is untouched`);
  }
  // A normal (non-live) license for another device fails at its tag.
  const n = await SfiHsm.init('memory:', 'n', { key: KEY, nonce: NONCE, maxInstalls: 5, license: 'normal' });
  const lic = await n.issue(other.certificateMessage());
  const dir = newDevice();
  assert.match(
    (await sfiInstall(dir, good, n, { license: lic })).halt ?? '',
    /^license: E_LICENSE: license tag does not authenticate \(altered, or issued for another chip\)$/,
  );
  // Forged device certificate: the HSM refuses, counts nothing.
  const forged = newDevice({ ca: generateKey('ecdsa-p256') });
  const before = (await h.info()).issued;
  assert.match(
    (await sfiInstall(forged, good, h)).halt ?? '',
    /^HSM: E_LICENSE: device certificate of \w+ is not signed by the CA this HSM trusts/,
  );
  assert.equal((await h.info()).issued, before);
  // A spent HSM.
  const spent = await hsm(0);
  assert.match((await sfiInstall(newDevice(), good, spent)).halt ?? '', /^HSM: E_HSM: install counter exhausted: 0 of 0 licenses issued$/);
  await Promise.all([h.close(), n.close(), spent.close()]);
});

test('power cut at every write of the install: the device is untouched or fully installed, never half', async () => {
  const h = await hsm(1000, 'normal');
  const pristine = newDevice();
  const before = files(pristine);
  const full = tempDir();
  cpSync(pristine, full, { recursive: true });
  const done = await sfiInstall(full, image(), h);
  assert.equal(done.ok, true, done.halt);
  const after = files(full);
  assert.ok(done.writes >= 9 + 8, `page writes and commit writes: ${done.writes}`);
  const seen = { old: 0, installed: 0 };
  for (let cut = 0; cut < done.writes; cut++) {
    const dir = join(tempDir(), 'dev');
    cpSync(pristine, dir, { recursive: true });
    await assert.rejects(
      sfiInstall(dir, image(), h, { faults: new FaultPlan(cut + 1) }),
      (e) => e instanceof PowerCut && e.write === cut + 1,
    );
    L5Device.open(dir); // power back on: the commit is finished or dropped
    const now = files(dir);
    assert.ok(now === before || now === after, `cut at write ${cut}: a state that is neither the old nor the installed one`);
    seen[now === before ? 'old' : 'installed']++;
  }
  assert.ok(seen.old > 0 && seen.installed > 0, JSON.stringify(seen));
  await h.close();
});

test('CLI: rse sfi package, hsm init (SQLite ledger in a directory) allowing two, install on two devices, the third refused', async () => {
  const dir = tempDir();
  const fw = join(dir, 'fw.bin');
  writeFileSync(fw, SECURE_FW);
  const key = toHex(KEY);
  const nonce = toHex(NONCE);
  const db = join(dir, 'ledger');
  const sfi = join(dir, 'fw.sfi');
  for (const args of [
    ['sfi', 'package', '--key', key, '--nonce', nonce, '--area', `F:0x0c000000:${fw}`, '--ob', 'tzen=1 secwm1=0-31 rdp=1', '-o', sfi],
    ['sfi', 'hsm', 'init', '--db', db, '--key', key, '--nonce', nonce, '--max', '2'],
    ['l5', 'device', 'create', join(dir, 'a')],
    ['l5', 'device', 'create', join(dir, 'b')],
    ['l5', 'device', 'create', join(dir, 'c')],
    ['sfi', 'install', join(dir, 'a'), sfi, '--db', db],
    ['sfi', 'install', join(dir, 'b'), sfi, '--db', db],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  const third = await runCli(['sfi', 'install', join(dir, 'c'), sfi, '--db', db]);
  assert.equal(third.code, 1);
  assert.match(third.stdout, /refused, device unchanged: HSM: E_HSM: install counter exhausted: 2 of 2/);
  const show = await runCli(['sfi', 'hsm', 'show', '--db', db, '--json']);
  assert.equal((JSON.parse(show.stdout) as { issued: number }).issued, 2);
  assert.equal(L5Device.open(join(dir, 'a')).rdp, '1');
  assert.equal(L5Device.open(join(dir, 'c')).rdp, '0');
});

test('SFIx: external firmware re-encrypted for OTFDEC, ciphertext on the bus, plaintext through OTFDEC; global vs device-unique keys', async () => {
  const EXT = new Uint8Array(5000).map((_, i) => (i * 29 + 3) & 0xff);
  const GLOBAL = Uint8Array.from({ length: 16 }, (_, i) => 0x70 + i);
  const sfix = (global: boolean, keyAddress = 0x0c03f800): Uint8Array =>
    packageSfi({
      key: KEY,
      nonce: NONCE,
      imageVersion: 3,
      areas: [
        { type: 'F', destination: FLASH_S_BASE, data: SECURE_FW },
        { type: 'X', destination: EXT_BASE + 0x1000, data: EXT, flags: global ? 0 : FLAG_UNIQUE_KEY },
        { type: 'K', destination: keyAddress, data: global ? GLOBAL : new Uint8Array(0) },
        { type: 'C', destination: 0, data: new TextEncoder().encode('tzen=1\nsecwm1=0-127\nrdp=1\n') },
      ],
    });
  const h = await hsm();
  const installed = async (global: boolean): Promise<L5Device> => {
    const dir = newDevice();
    const r = await sfiInstall(dir, sfix(global), h);
    assert.equal(r.ok, true, r.halt);
    return L5Device.open(dir);
  };
  for (const global of [true, false]) {
    const [a, b] = [await installed(global), await installed(global)];
    for (const d of [a, b]) {
      assert.deepEqual(d.readExternal(EXT_BASE + 0x1000, EXT.length, { otfdec: true, who: 'secure' }), EXT, 'plaintext through OTFDEC');
      const raw = d.readExternal(EXT_BASE + 0x1000, EXT.length, { otfdec: false, who: 'debugger' });
      assert.notDeepEqual(raw, EXT, 'ciphertext without it');
      assert.equal(d.otfdec[0]?.keyMode, global ? 'global' : 'unique');
    }
    const rawA = a.readExternal(EXT_BASE + 0x1000, 64, { otfdec: false, who: 'debugger' });
    const rawB = b.readExternal(EXT_BASE + 0x1000, 64, { otfdec: false, who: 'debugger' });
    assert.equal(
      toHex(rawA) === toHex(rawB),
      global,
      global ? 'a global key: the same ciphertext on every device' : 'unique keys: each device its own ciphertext',
    );
    assert.throws(() => a.readExternal(EXT_BASE + 0x1000, 16, { otfdec: true, who: 'debugger' }), /RDP level 1/);
    if (global) {
      // The keystream is AES-128-CTR from the counter block nonce(8) ‖ version ‖ 0000 ‖ address/16.
      const iv = new Uint8Array(16);
      iv.set(NONCE.subarray(0, 8));
      iv[9] = 3;
      new DataView(iv.buffer).setUint32(12, (EXT_BASE + 0x1000) / 16, false);
      const c = createCipheriv('aes-128-ctr', GLOBAL, iv);
      assert.deepEqual(
        new Uint8Array(Buffer.concat([c.update(EXT), c.final()])),
        a.readExternal(EXT_BASE + 0x1000, EXT.length, { otfdec: false, who: 'secure' }),
      );
    }
  }
  // The key slot must end up in secure flash.
  const dir = newDevice();
  const before = files(dir);
  const r = await sfiInstall(dir, sfix(true, 0x08080000 - PAGE_SIZE), h);
  assert.match(r.halt ?? '', /the OTFDEC key at 0x0807f800 would sit in non-secure flash once the option bytes apply/);
  assert.equal(files(dir), before);
  await h.close();
});
