/**
 * Issue 27: the STM32MP15 debug configuration in the device-tree platform file (not only JSON), and
 * `rse stm32 debug`: after a boot with the example's firewall.dts plus `rsekit,debug-non-secure;`,
 * non-secure debug is open, secure debug closed and DENABLE frozen; with no debug property both are
 * closed; an unknown rsekit,debug-* property is refused.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePlatform } from '../../src/stm32/platform.ts';
import { refusalOf, runCli, tempDir } from '../helpers.ts';
import { closedCliDevice } from './closed-device.ts';

const EXAMPLE = readFileSync(new URL('../../examples/stm32mp1/firewall.dts', import.meta.url), 'utf8');
const withDebug = (props: string): string => `${EXAMPLE}\n&bsec {\n${props}\n};\n`;

test('the .dts platform file carries the debug the FSBL opens: secure, non-secure, unlocked; none = closed and locked', () => {
  assert.deepEqual(parsePlatform(EXAMPLE).debug, { secure: false, nonSecure: false, lock: true });
  assert.deepEqual(parsePlatform(withDebug('\trsekit,debug-non-secure;')).debug, { secure: false, nonSecure: true, lock: true });
  assert.deepEqual(parsePlatform(withDebug('\trsekit,debug-secure;\n\trsekit,debug-non-secure;\n\trsekit,debug-unlocked;')).debug, {
    secure: true,
    nonSecure: true,
    lock: false,
  });
  // A commented-out property is not one.
  assert.deepEqual(parsePlatform(withDebug('\t/* rsekit,debug-secure; */')).debug.secure, false);
  assert.match(refusalOf(() => parsePlatform(withDebug('\trsekit,debug-everything;'))) ?? '', /unknown property rsekit,debug-everything/);
});

test('CLI: rse stm32 boot with a .dts opening non-secure debug, then rse stm32 debug shows it (text and JSON)', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'fw.dts'), withDebug('\trsekit,debug-non-secure;'));
  const { fsbl, dev } = await closedCliDevice(dir);
  const boot = await runCli(['stm32', 'boot', dev, fsbl, '--platform', join(dir, 'fw.dts')]);
  assert.equal(boot.code, 0, boot.stdout + boot.stderr);
  const text = await runCli(['stm32', 'debug', dev]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /DENABLE 0x0000040e \(DBGEN NIDEN DEVICEEN DBGSWENABLE\), frozen by DENREG until reset/);
  assert.match(text.stdout, /secure debug closed, non-secure debug open/);
  const j = JSON.parse((await runCli(['stm32', 'debug', dev, '--json'])).stdout) as {
    secure: boolean;
    nonSecure: boolean;
    locked: boolean;
  };
  assert.deepEqual([j.secure, j.nonSecure, j.locked], [false, true, true]);
});

test('the .dts RCC compatible sets RCC TZEN as OP-TEE does: -secure sets it, the plain one clears it, both at once is refused', () => {
  assert.equal(parsePlatform(EXAMPLE).tzen, true, 'no RCC node: TZEN set');
  const rcc = (c: string): string => `${EXAMPLE}\n&rcc {\n\tcompatible = "${c}", "syscon";\n};\n`;
  assert.equal(parsePlatform(rcc('st,stm32mp1-rcc-secure')).tzen, true);
  assert.equal(parsePlatform(rcc('st,stm32mp1-rcc')).tzen, false);
  assert.match(refusalOf(() => parsePlatform(`${rcc('st,stm32mp1-rcc')}${rcc('st,stm32mp1-rcc-secure')}`)) ?? '', /both/);
});
