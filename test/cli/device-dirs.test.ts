/**
 * Damaged device directories (issue 25's reproducers): every field of an RSE, STM32MP15 and
 * STM32L5 `device.json` is checked when the device is opened, a device file that is a directory
 * or unreadable is an `E_DEVICE` naming the file, and prototype keys are never looked up. Each
 * case ended in exit 70 and a stack trace before.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { array, bool, int, object, oneOf, optional, SchemaError, u32 } from '../../src/lib/schema.ts';
import { runCli, tempDir } from '../helpers.ts';

type Json = Record<string, unknown>;
const edit = (file: string, f: (j: Json) => void): void => {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Json;
  f(j);
  writeFileSync(file, JSON.stringify(j));
};

async function refused(args: string[], field: RegExp): Promise<void> {
  const r = await runCli([...args, '--json']);
  assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error| {4}at /, 'no stack trace');
  const e = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(e.error.code, 'E_DEVICE');
  assert.match(e.error.message, field);
}

type Case = [(j: Json) => void, RegExp];

/** Creates a device with `create`, then for each case edits a fresh copy of its device.json and expects `verb` refused. */
async function refusesEach(create: string[], verb: (dev: string) => string[], cases: readonly Case[]): Promise<void> {
  const dev = join(tempDir(), 'dev');
  assert.equal((await runCli([...create, dev])).code, 0);
  const json = join(dev, 'device.json');
  const good = readFileSync(json, 'utf8');
  for (const [f, why] of cases) {
    writeFileSync(json, good);
    edit(json, f);
    await refused(verb(dev), why);
  }
}

test('STM32L5 device.json: a missing bank, a certificate that is a number, a bad OTFDEC region: E_DEVICE naming the field', async () => {
  await refusesEach(['l5', 'device', 'create'], (d) => ['l5', 'ob', 'show', d], [
    [(j) => (j.optionBytes as { banks: unknown[] }).banks.splice(0, 1), /optionBytes\.banks must be an array of 2 items/],
    [
      (j) => {
        delete ((j.optionBytes as { banks: Json[] }).banks[0] as Json).secwmStart;
      },
      /banks\[0\]\.secwmStart must be present/,
    ],
    [(j) => (j.certificate = 1.5), /certificate must be 64 bytes of hex/],
    [(j) => (j.backup = 'x'), /backup must be an array/],
    [(j) => (j.hdpClosed = [true]), /hdpClosed must be an array of 2 items/],
    [
      (j) => (j.otfdec = [{ start: 0x90000000, end: 0x9000ffff, keyAddress: 1, nonce: 'zz', version: 1, keyMode: 'global' }]),
      /otfdec\[0\]\.nonce must be 8 bytes of hex/,
    ],
    [(j) => ((j.optionBytes as Json).rdp = -1), /optionBytes\.rdp must be an integer in 0\.\.255/],
  ]);
});

test('STM32MP15 device.json: a wrongly typed TZC region, a tamper source named toString, a lock past the fuses: E_DEVICE naming the field', async () => {
  await refusesEach(['stm32', 'device', 'create'], (d) => ['stm32', 'firewall', d], [
    [
      (j) => {
        const tzc = ((j.runtime as Json).firewall as Json).tzc as { regions: unknown[] };
        tzc.regions[0] = { base: '0', top: 1, secAttr: 3, filters: 3, idAccess: 0 };
      },
      /runtime\.firewall\.tzc\.regions\[0\]\.base must be an integer/,
    ],
    [(j) => ((j.tamp as Json).enabled = ['toString']), /tamp\.enabled\[0\] must be one of/],
    [(j) => (j.permanentLock = [96]), /permanentLock\[0\] must be an integer in 0\.\.95/],
    [(j) => (j.hwSecret = { __proto__: null }), /hwSecret must be 32 bytes of hex/],
  ]);
});

test('RSE device: otp.bin or device.json a directory, and a prototype name as profile: E_DEVICE, exit 2', async () => {
  const dir = tempDir();
  const dev = join(dir, 'rse');
  assert.equal((await runCli(['device', 'create', dev])).code, 0);
  renameSync(join(dev, 'otp.bin'), join(dir, 'otp.bin'));
  mkdirSync(join(dev, 'otp.bin'));
  await refused(['boot', dev], /otp\.bin is not a regular file/);
  renameSync(join(dev, 'otp.bin'), join(dir, 'empty'));
  renameSync(join(dir, 'otp.bin'), join(dev, 'otp.bin'));
  for (const p of ['__proto__', 'constructor', 'toString']) {
    edit(join(dev, 'device.json'), (j) => {
      j.profile = p;
    });
    await refused(['boot', dev], /profile must be one of/);
  }
});

test('the schema combinators: typed copies of valid values, a SchemaError naming the path otherwise, never a prototype lookup', () => {
  const check = object({ a: int(0, 9), b: optional(array(bool, { max: 3 })), c: oneOf(['x', 'y'] as const), d: u32 });
  assert.deepEqual(check({ a: 1, c: 'x', d: 7, extra: 1 }, ''), { a: 1, c: 'x', d: 7 });
  assert.throws(
    () => check(JSON.parse('{"__proto__": {"a": 1}, "c": "x", "d": 0}'), ''),
    (e: unknown) => e instanceof SchemaError && e.path === 'a',
  );
  fc.assert(
    fc.property(fc.anything(), (v) => {
      try {
        const out = check(v, 'v');
        assert.ok(Number.isInteger(out.a) && (out.c === 'x' || out.c === 'y'));
      } catch (e) {
        if (!(e instanceof SchemaError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});

test('RSE device.json: wrongly typed or unknown fields are E_DEVICE naming the field, never a crash', async () => {
  await refusesEach(['device', 'create', '--profile', 'rse-2.3'], (d) => ['boot', d], [
    [(j) => (j.psi = -1), /psi must be an integer/],
    [(j) => (j.boots = '3'), /boots must be an integer/],
    [(j) => (j.build = { imageBinding: 'yes' }), /build\.imageBinding must be true or false/],
    [(j) => (j.build = { __proto__: true, constructor: true }), /build\.constructor is not a build option/],
    [(j) => (j.attestHal = { implementationId: 'AB' }), /attestHal\.implementationId must be 64 lower-case hex digits/],
    [(j) => (j.romTpMode = 'tci'), /romTpMode must be one of "TCI", "PCI"/],
    [(j) => (j.xip = true), /xip is not a build option of rse-2\.3/],
    [(j) => (j.lastBoot = 7), /lastBoot must be a string/],
  ]);
});
