/** STM32MP15 TAMP: backup-register zones, tamper erase vs potential tamper, the monotonic counter, persistence, CLI. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRseError } from '../../src/lib/errors.ts';
import { createStm32Image } from '../../src/stm32/image.ts';
import { Mp1Device, romBoot } from '../../src/stm32/mp1.ts';
import { BACKUP_REGISTERS, TAMPER_SOURCES, Tamp, type TamperSource } from '../../src/stm32/tamp.ts';
import { rseErrorOf, runCli, tempDir } from '../helpers.ts';

const codeOf = (f: () => unknown): string | undefined => rseErrorOf(f)?.code;

test('zones: zone 1 secure only, zone 2 non-secure read only, zone 3 shared', () => {
  const t = new Tamp();
  t.setZones(8, 16);
  for (let n = 0; n < BACKUP_REGISTERS; n++) t.write(n, 0x100 + n);
  assert.equal(
    codeOf(() => t.read(3, 'a7-ns')),
    'E_ACCESS',
  );
  assert.equal(
    codeOf(() => t.write(3, 0, 'm4')),
    'E_ACCESS',
  );
  assert.equal(t.read(10, 'a7-ns'), 0x10a);
  assert.equal(
    codeOf(() => t.write(10, 0, 'a7-ns')),
    'E_ACCESS',
  );
  t.write(20, 7, 'a7-ns');
  assert.equal(t.read(20, 'm4'), 7);
  assert.equal(
    codeOf(() => t.setZones(4, 4, 'a7-ns')),
    'E_ACCESS',
  );
  assert.equal(
    codeOf(() => t.setZones(9, 8)),
    'E_ARGUMENT',
  );
  assert.equal(t.read(3), 0x103, 'refusals changed nothing');
});

test('a confirmed tamper erases the registers and the backup SRAM; a potential one hides them until the flags are cleared', () => {
  const t = new Tamp();
  t.enabled.add('etamp1');
  t.enabled.add('itamp2');
  t.noErase.add('itamp2');
  t.write(0, 0xdeadbeef);
  t.bkpsram.fill(0xa5, 0, 64);
  assert.deepEqual(t.tamper('itamp3'), { source: 'itamp3', detected: false, action: 'ignored (not enabled)' });
  assert.equal(t.read(0), 0xdeadbeef);
  assert.equal(t.tamper('itamp2').action, 'hidden until flags are cleared');
  assert.equal(t.read(0), 0, 'reads give zero');
  t.write(0, 1);
  t.clearFlags();
  assert.equal(t.read(0), 0xdeadbeef, 'the write was dropped, the secret is back');
  assert.equal(t.bkpsram[0], 0xa5);
  assert.equal(t.tamper('etamp1').action, 'erased');
  assert.equal(t.read(0), 0);
  assert.ok(t.bkpsram.every((b) => b === 0));
  assert.deepEqual([...t.flags], ['etamp1']);
});

test('monotonic counter: never rolls over, ITAMP8 fires at the top', () => {
  const t = new Tamp();
  t.enabled.add('itamp8');
  t.write(5, 9);
  assert.equal(t.incrementCounter(), undefined);
  assert.equal(t.counter, 1);
  t.counter = 0xfffffffe;
  assert.equal(t.incrementCounter()?.action, 'erased');
  assert.equal(t.counter, 0xffffffff);
  assert.equal(t.read(5), 0);
  assert.equal(t.incrementCounter(), undefined);
  assert.equal(t.counter, 0xffffffff, 'frozen at its maximum');
});

test('property: after any sequence, an erasing tamper leaves nothing; refusals are typed', () => {
  const sources = Object.keys(TAMPER_SOURCES) as TamperSource[];
  const op = fc.oneof(
    fc.record({
      k: fc.constant('w' as const),
      n: fc.integer({ min: -2, max: 34 }),
      v: fc.nat(),
      m: fc.constantFrom('a7-s', 'a7-ns', 'm4'),
    }),
    fc.record({ k: fc.constant('t' as const), s: fc.constantFrom(...sources) }),
    fc.record({ k: fc.constant('c' as const) }),
    fc.record({ k: fc.constant('z' as const), a: fc.integer({ min: -1, max: 33 }), b: fc.integer({ min: -1, max: 33 }) }),
  );
  fc.assert(
    fc.property(fc.subarray(sources), fc.subarray(sources), fc.array(op, { maxLength: 40 }), (en, noer, ops) => {
      const t = new Tamp();
      for (const s of en) t.enabled.add(s);
      for (const s of noer) t.noErase.add(s);
      for (const o of ops) {
        try {
          if (o.k === 'w') t.write(o.n, o.v, o.m as 'a7-s');
          else if (o.k === 't') {
            const r = t.tamper(o.s);
            if (r.action === 'erased') {
              assert.ok(t.backup.every((x) => x === 0));
              assert.ok(t.bkpsram.every((x) => x === 0));
            }
            if (r.action === 'hidden until flags are cleared') for (let n = 0; n < BACKUP_REGISTERS; n++) assert.equal(t.read(n), 0);
          } else if (o.k === 'c') t.clearFlags();
          else t.setZones(o.a, o.b);
        } catch (e) {
          assert.ok(isRseError(e) && (e.code === 'E_ACCESS' || e.code === 'E_ARGUMENT'), String(e));
        }
      }
    }),
    { seed: 10, numRuns: 400 },
  );
});

test('the backup domain survives a reset; CLI: tamp config, write, event, show', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  assert.equal((await runCli(['stm32', 'device', 'create', dev])).code, 0);
  writeFileSync(join(dir, 'secret.bin'), new Uint8Array(32).fill(0x42));
  for (const args of [
    ['stm32', 'tamp', 'config', dev, '--zones', '8,16', '--enable', 'etamp1,itamp3', '--potential', 'itamp3'],
    ['stm32', 'tamp', 'write', dev, '2', '0x1234'],
    ['stm32', 'tamp', 'write', dev, '--sram', join(dir, 'secret.bin')],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  const d = Mp1Device.open(dev);
  romBoot(d, createStm32Image({ payload: new Uint8Array(64), loadAddress: 0x2ffc2500, entryPoint: 0x2ffc2500, binaryType: 0x10 }));
  assert.equal(Mp1Device.open(dev).tamp.read(2), 0x1234, 'kept across the reset (VBAT)');
  const ns = await runCli(['stm32', 'tamp', 'read', dev, '2', '--master', 'a7-ns']);
  assert.equal(ns.code, 1);
  assert.match(ns.stderr, /zone 1: secure read-write, no non-secure access/);
  let show = await runCli(['stm32', 'tamp', 'show', dev]);
  assert.match(show.stdout, /backup registers in use: 2; backup SRAM holds data/);
  assert.doesNotMatch(show.stdout, /1234|4242/, 'values are never printed');
  const ev = await runCli(['stm32', 'tamp', 'event', dev, 'etamp1']);
  assert.match(ev.stdout, /etamp1 \(external tamper pin 1\): detected, erased/);
  show = await runCli(['stm32', 'tamp', 'show', dev]);
  assert.match(show.stdout, /backup registers in use: none; backup SRAM blank/);
  assert.equal((await runCli(['stm32', 'tamp', 'event', dev, 'itamp9'])).code, 2);
});
