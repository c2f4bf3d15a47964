/** The virtual STM32L552: option-byte rules, what each RDP regression erases, HDP and CloseExitHDP, access by RDP, WRP, CLI. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRseError } from '../../src/lib/errors.ts';
import {
  BANK_SIZE,
  ERASED,
  editOptionBytes,
  FLASH_NS_BASE,
  FLASH_S_BASE,
  PAGE_SIZE,
  type Requester,
  RSSLIB_ERROR,
  RSSLIB_SUCCESS,
  rdpLevel,
} from '../../src/stm32/l5.ts';
import { L5Device } from '../../src/stm32/l5-device.ts';
import { decodeCertificate, verifyCertificate, virtualStCa } from '../../src/stm32/ssp.ts';
import { refusalOf, runCli, tempDir } from '../helpers.ts';

const accepted = (f: () => unknown): string => refusalOf(f) ?? 'accepted';

const newDevice = (): L5Device => L5Device.create(join(tempDir(), 'l5'));
const set = (d: L5Device, who: Requester, ...edits: string[]) => d.setOptionBytes(editOptionBytes(d.ob, edits), who);

/** TrustZone on, bank 1 pages 0..31 secure with HDP on pages 0..7; secure and non-secure code and data everywhere. */
function trustZoneDevice(): L5Device {
  const d = newDevice();
  set(d, 'debugger', 'tzen=1', 'secwm1=0-31', 'hdp1=7', 'secwm2=none');
  d.program(FLASH_S_BASE, new Uint8Array(32 * PAGE_SIZE).fill(0x5e), 'debugger');
  d.program(FLASH_NS_BASE + 32 * PAGE_SIZE, new Uint8Array(96 * PAGE_SIZE).fill(0x45), 'debugger');
  d.program(FLASH_NS_BASE + BANK_SIZE, new Uint8Array(16 * PAGE_SIZE).fill(0x46), 'debugger');
  d.sram2.fill(0x22, 0, 256);
  d.backup.fill(0x12345678);
  return d;
}
const page = (d: L5Device, bank: 0 | 1, p: number): Uint8Array =>
  d.flash.subarray(bank * BANK_SIZE + p * PAGE_SIZE, bank * BANK_SIZE + (p + 1) * PAGE_SIZE);
const erased = (b: Uint8Array): boolean => b.every((x) => x === ERASED);

test('RDP regressions erase what the reference manual says, and nothing else', () => {
  // 1 -> 0.5: the non-secure flash only.
  let d = trustZoneDevice();
  set(d, 'debugger', 'rdp=1');
  assert.equal(d.rdp, '1');
  assert.equal(page(d, 0, 0)[0], 0x5e, 'raising RDP erases nothing');
  let r = set(d, 'debugger', 'rdp=0.5');
  assert.deepEqual(r.erased, ['non-secure flash pages']);
  assert.ok(page(d, 0, 0).every((x) => x === 0x5e) && page(d, 0, 31).every((x) => x === 0x5e), 'secure pages kept');
  assert.ok(erased(page(d, 0, 32)) && erased(page(d, 1, 0)), 'non-secure pages erased');
  assert.equal(d.sram2[0], 0x22, 'SRAM2 kept');
  assert.equal(d.backup[0], 0x12345678, 'backup registers kept');
  // 0.5 -> 0 with TrustZone off: everything.
  r = set(d, 'debugger', 'rdp=0', 'tzen=0');
  assert.deepEqual(r.erased, ['all user flash (secure and non-secure)', 'SRAM2', 'backup registers']);
  assert.ok(erased(d.flash) && d.sram2.every((x) => x === 0) && d.backup.every((x) => x === 0));
  assert.equal(d.ob.tzen, false);
  // 1 -> 0 without TrustZone: everything too.
  d = newDevice();
  d.program(FLASH_NS_BASE, new Uint8Array(100).fill(1), 'debugger');
  d.backup[3] = 9;
  set(d, 'debugger', 'rdp=1');
  r = set(d, 'debugger', 'rdp=0');
  assert.equal(r.erased.length, 3);
  assert.ok(erased(d.flash) && d.backup[3] === 0);
});

test('option-byte rules: each refusal has its own reason, and a refused change leaves the device as it was', () => {
  const cases: [string, (d: L5Device) => void, RegExp][] = [
    ['0.5 without TrustZone', (d) => set(d, 'debugger', 'rdp=0.5'), /RDP level 0.5 exists only with TrustZone/],
    [
      'TZEN set above level 0',
      (d) => {
        set(d, 'debugger', 'rdp=1');
        set(d, 'debugger', 'tzen=1');
      },
      /TZEN can be set only at RDP level 0 \(now 1\)/,
    ],
    [
      'TZEN cleared without regression',
      (d) => {
        set(d, 'debugger', 'tzen=1', 'rdp=1');
        set(d, 'debugger', 'tzen=0');
      },
      /TZEN is cleared only together with an RDP regression to level 0 \(RDP 1 -> 1\)/,
    ],
    [
      'TZEN cleared at level 0',
      (d) => {
        set(d, 'debugger', 'tzen=1');
        set(d, 'debugger', 'tzen=0');
      },
      /RDP 0 -> 0/,
    ],
    [
      'level 2 is final',
      (d) => {
        set(d, 'debugger', 'rdp=2');
        set(d, 'secure', 'rdp=0');
      },
      /RDP level 2: the option bytes are frozen for ever/,
    ],
    [
      'BOOT_LOCK cleared above level 0',
      (d) => {
        set(d, 'debugger', 'tzen=1', 'boot_lock=1', 'rdp=1');
        set(d, 'secure', 'boot_lock=0');
      },
      /BOOT_LOCK is cleared only at RDP level 0 \(now 1\)/,
    ],
    [
      'secure boot address under BOOT_LOCK',
      (d) => {
        set(d, 'debugger', 'tzen=1', 'boot_lock=1', 'rdp=1');
        set(d, 'secure', 'secbootadd0=0x0c010000');
      },
      /BOOT_LOCK: the secure boot address is frozen at RDP 1/,
    ],
    [
      'secure option bytes from the debugger',
      (d) => {
        set(d, 'debugger', 'tzen=1', 'rdp=1');
        set(d, 'debugger', 'secwm1=0-63');
      },
      /secure option bytes \(secwm\) change only from secure code at RDP 1/,
    ],
  ];
  for (const [name, f, reason] of cases) {
    const d = newDevice();
    const msg = accepted(() => f(d));
    assert.match(msg, new RegExp(`^E_ACCESS: .*${reason.source}`), name);
  }
  // What is allowed: secure code moves a watermark at level 1; the debugger raises RDP to 2.
  const d = newDevice();
  set(d, 'debugger', 'tzen=1', 'rdp=1');
  assert.equal(set(d, 'secure', 'secwm1=0-63').ob.banks[0].secwmEnd, 63);
  // A refusal changes nothing.
  const snapshot = JSON.stringify(d.ob);
  const flash = d.flash.slice();
  assert.match(
    accepted(() => set(d, 'debugger', 'tzen=0')),
    /^E_ACCESS/,
  );
  assert.equal(JSON.stringify(d.ob), snapshot);
  assert.deepEqual(d.flash, flash);
  assert.match(
    accepted(() => editOptionBytes(d.ob, ['wrpa1=3'])),
    /^E_ARGUMENT: wrpa1=3: FIRST-LAST pages/,
  );
  assert.match(
    accepted(() => editOptionBytes(d.ob, ['colour=red'])),
    /^E_ARGUMENT: unknown option byte colour/,
  );
});

test('access by RDP level and watermark; WRP; HDP closed by CloseExitHDP until reset; bad input resets', () => {
  const d = trustZoneDevice();
  assert.equal(d.read(FLASH_S_BASE, 4, 'debugger')[0], 0x5e, 'RDP 0: the debugger reads secure flash');
  set(d, 'debugger', 'rdp=1');
  assert.match(
    accepted(() => d.read(FLASH_NS_BASE + 32 * PAGE_SIZE, 4, 'debugger')),
    /RDP level 1: the debugger cannot reach the flash/,
  );
  set(d, 'debugger', 'rdp=0.5');
  d.program(FLASH_NS_BASE + 40 * PAGE_SIZE, new Uint8Array(8).fill(7), 'debugger');
  assert.equal(d.read(FLASH_NS_BASE + 40 * PAGE_SIZE, 1, 'debugger')[0], 7);
  assert.match(
    accepted(() => d.read(FLASH_S_BASE + 4 * PAGE_SIZE, 4, 'debugger')),
    /RDP level 0.5: page 4 of bank 1 is secure/,
  );
  // HDP: secure code reads page 3 until CloseExitHDP; page 20 (secure, not HDP) stays readable.
  assert.equal(d.read(FLASH_S_BASE + 3 * PAGE_SIZE, 1, 'secure')[0], 0x5e);
  const vt = new Uint8Array(8);
  new DataView(vt.buffer).setUint32(4, 0x0c004001, true);
  d.program(FLASH_S_BASE + 16 * PAGE_SIZE, vt, 'secure');
  assert.equal(d.closeExitHdp(4, FLASH_S_BASE + 16 * PAGE_SIZE).code, RSSLIB_ERROR, 'mask beyond areas 1 and 2');
  assert.equal(d.closeExitHdp(2, FLASH_S_BASE + 16 * PAGE_SIZE).code, RSSLIB_ERROR, 'area 2 is not enabled');
  const resets = d.resets;
  assert.equal(d.closeExitHdp(1, FLASH_S_BASE + 3).code, RSSLIB_ERROR, 'misaligned vector table');
  assert.equal(d.resets, resets + 1, 'a bad input resets the device');
  const r = d.closeExitHdp(1, FLASH_S_BASE + 16 * PAGE_SIZE);
  assert.deepEqual([r.code, r.reset, r.jump], [RSSLIB_SUCCESS, false, 0x0c004001]);
  assert.match(
    accepted(() => d.read(FLASH_S_BASE + 3 * PAGE_SIZE, 1, 'secure')),
    /page 3 of bank 1 is in HDP area 1, closed until reset/,
  );
  assert.match(
    accepted(() => d.program(FLASH_S_BASE, new Uint8Array(4), 'secure')),
    /HDP area 1, closed until reset/,
  );
  assert.equal(d.read(FLASH_S_BASE + 20 * PAGE_SIZE, 1, 'secure')[0], 0x5e);
  d.reset();
  assert.equal(d.read(FLASH_S_BASE + 3 * PAGE_SIZE, 1, 'secure')[0], 0x5e, 'open again after reset');
  // WRP.
  set(d, 'secure', 'wrpa2=0-3');
  assert.match(
    accepted(() => d.program(FLASH_NS_BASE + BANK_SIZE + PAGE_SIZE, new Uint8Array(4), 'debugger')),
    /page 1 of bank 2 is write-protected \(WRP A of bank 2\)/,
  );
});

test('property: random option-byte programs keep the rules (level 2 is final, TZEN only as allowed, refusals change nothing)', () => {
  const edit = fc.oneof(
    fc.constantFrom(
      'rdp=0',
      'rdp=0.5',
      'rdp=1',
      'rdp=2',
      'tzen=0',
      'tzen=1',
      'boot_lock=0',
      'boot_lock=1',
      'secwm1=0-15',
      'secwm1=none',
      'hdp1=3',
      'wrpa1=10-12',
      'secbootadd0=0x0c001000',
      'nswboot0=0',
    ),
  );
  const dev = newDevice();
  const base = dev.ob;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.constantFrom<Requester>('debugger', 'secure')), {
        maxLength: 12,
      }),
      (ops) => {
        dev.ob = base;
        dev.flash.fill(ERASED);
        dev.flash[100] = 1;
        for (const [edits, who] of ops) {
          const before = dev.ob;
          const flash100: number | undefined = dev.flash[100];
          let next: ReturnType<typeof editOptionBytes>;
          try {
            next = editOptionBytes(before, edits);
          } catch (e) {
            assert.ok(isRseError(e));
            continue;
          }
          try {
            dev.setOptionBytes(next, who);
          } catch (e) {
            assert.ok(isRseError(e) && e.code === 'E_ACCESS', String(e));
            assert.equal(dev.ob, before, 'a refused change leaves the option bytes');
            assert.equal(dev.flash[100], flash100, 'and the flash');
            continue;
          }
          const from = rdpLevel(before.rdp);
          const to = rdpLevel(dev.ob.rdp);
          assert.notEqual(from, '2', 'nothing changes at level 2');
          if (to === '0.5') assert.equal(dev.ob.tzen, true);
          if (dev.ob.tzen && !before.tzen) assert.equal(from, '0');
          if (!dev.ob.tzen && before.tzen) assert.deepEqual([from !== '0', to], [true, '0']);
        }
      },
    ),
    { seed: 11, numRuns: 400 },
  );
});

test('CLI: rse l5 device create, ob set/show, read (exit 1 when refused), rss certificate and close-exit-hdp', async () => {
  const dir = tempDir();
  const dev = join(dir, 'l5');
  assert.equal((await runCli(['l5', 'device', 'create', dev])).code, 0);
  writeFileSync(join(dir, 'fw.bin'), new Uint8Array(64).fill(0xa5));
  for (const args of [
    ['l5', 'ob', 'set', dev, 'tzen=1', 'secwm1=0-31', 'hdp1=7'],
    ['l5', 'program', dev, '0x0c000000', join(dir, 'fw.bin')],
    ['l5', 'ob', 'set', dev, 'rdp=1'],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  const show = await runCli(['l5', 'ob', 'show', dev]);
  assert.match(show.stdout, /RDP {10}0xbb \(level 1\)/);
  assert.match(show.stdout, /bank 1 {7}SECWM pages 0\.\.31; HDP pages 0\.\.7/);
  const read = await runCli(['l5', 'read', dev, '0x0c000000', '16']);
  assert.equal(read.code, 1);
  assert.match(read.stderr, /RDP level 1: the debugger cannot reach the flash/);
  const tz = await runCli(['l5', 'ob', 'set', dev, 'tzen=0']);
  assert.equal(tz.code, 1);
  assert.equal((await runCli(['l5', 'read', dev, '0x0c000000', '4', '--as', 'secure'])).stdout, 'a5a5a5a5\n');
  const close = await runCli(['l5', 'rss', 'close-exit-hdp', dev, '1', '0x0c000000']);
  assert.equal(close.code, 0, close.stderr);
  assert.match((await runCli(['l5', 'read', dev, '0x0c000000', '4', '--as', 'secure'])).stderr, /HDP area 1, closed until reset/);
  assert.equal((await runCli(['l5', 'rss', 'close-exit-hdp', dev, '0', '0x0c000000'])).code, 1);
  assert.equal((await runCli(['l5', 'read', dev, '0x0c000000', '4', '--as', 'secure'])).code, 0, 'the bad call reset the device');
  // The RSS secure option-byte service sets what the debugger may not.
  assert.equal((await runCli(['l5', 'ob', 'set', dev, 'secwm1=0-63'])).code, 1);
  assert.equal((await runCli(['l5', 'rss', 'secure-ob', dev, 'secwm1=0-63'])).code, 0);
  assert.deepEqual(
    (JSON.parse((await runCli(['l5', 'rss', 'secure-ob', dev, '--json'])).stdout) as { banks: { secwm: number[] }[] }).banks[0]?.secwm,
    [0, 63],
  );
  assert.equal((await runCli(['l5', 'rss', 'secure-ob', dev, 'rdp=0'])).code, 2);
  const cert = join(dir, 'cert.bin');
  assert.equal((await runCli(['l5', 'rss', 'certificate', dev, '-o', cert])).code, 0);
  const c = decodeCertificate(new Uint8Array((await import('node:fs')).readFileSync(cert)));
  assert.equal(verifyCertificate(c, virtualStCa()), true);
  const regress = await runCli(['l5', 'ob', 'set', dev, 'rdp=0', 'tzen=0', '--json']);
  assert.equal(regress.code, 0, regress.stderr);
  assert.equal((JSON.parse(regress.stdout) as { erased: string[] }).erased.length, 3);
});
