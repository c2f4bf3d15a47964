/** STM32MP15 firewalls: ETZPC, TZC-400, the platform file (JSON and device tree), the virtual bus, and the FSBL stage. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateKey } from '../../src/crypto/index.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { Mp1Bus } from '../../src/stm32/bus.ts';
import { DECPROT_MODES, Etzpc, MASTERS, MP15_PERIPHERALS, peripheral } from '../../src/stm32/etzpc.ts';
import { createStm32Image, p256PublicXY, publicKeyHash } from '../../src/stm32/image.ts';
import { Mp1Device, mp1Boot } from '../../src/stm32/mp1.ts';
import { applyPlatform, decodeDecprotCell, parsePlatform } from '../../src/stm32/platform.ts';
import { NSEC_ALL_ACCESS_RDWR, Tzc400 } from '../../src/stm32/tzc400.ts';
import { refusalOf, runCli, tempDir } from '../helpers.ts';
import { closedCliDevice } from './closed-device.ts';

/** OP-TEE's style: secure DDR at the top for OP-TEE, the rest non-secure for every NSAID. */
const DTS = `/* board firewall */
#include <dt-bindings/firewall/stm32mp15-etzpc.h>
#define DDR_SIZE 0x40000000
#define DDR_SEC_SIZE 0x02000000
#define DDR_SEC_BASE (STM32MP_DDR_BASE + DDR_SIZE - DDR_SEC_SIZE)
#define DDR_NS_SIZE (DDR_SEC_BASE - STM32MP_DDR_BASE)
&etzpc {
  st,decprot = <
    DECPROT(STM32MP1_ETZPC_USART1_ID, DECPROT_NS_RW, DECPROT_UNLOCK)
    DECPROT(STM32MP1_ETZPC_I2C4_ID, DECPROT_S_RW, DECPROT_LOCK)   // PMIC bus
    DECPROT(STM32MP1_ETZPC_HASH1_ID, DECPROT_NS_R_S_W, DECPROT_UNLOCK)
    DECPROT(STM32MP1_ETZPC_USART2_ID, DECPROT_NS_RW, DECPROT_UNLOCK)
    DECPROT(STM32MP1_ETZPC_RETRAM_ID, DECPROT_MCU_ISOLATION, DECPROT_LOCK)
  >;
};
st-mem-firewall {
  compatible = "st,mem-firewall";
  memory-ranges = <STM32MP_DDR_BASE DDR_NS_SIZE TZC_REGION_S_NONE TZC_REGION_NSEC_ALL_ACCESS_RDWR>,
                  <DDR_SEC_BASE DDR_SEC_SIZE TZC_REGION_S_RDWR 0>;
};
`;

const JSON_PLATFORM = {
  profile: 'stm32mp1',
  etzpc: {
    decprot: [
      { id: 'USART1', mode: 'NS_RW' },
      { id: 'I2C4', mode: 'S_RW', lock: true },
      { id: 8, mode: 'NS_R_S_W' },
      { id: 'usart2', mode: 'NS_RW', lock: false },
      { id: 'STM32MP1_ETZPC_RETRAM_ID', mode: 'MCU_ISOLATION', lock: true },
    ],
  },
  tzc400: {
    regions: [
      { base: '0xc0000000', size: '0x3e000000', secure: 'none', nsaid: 'all' },
      { base: '0xfe000000', size: '0x02000000', secure: 'read-write', nsaid: 'none' },
    ],
  },
};

test('platform: the device-tree source, OP-TEE cells, TF-A legacy cells and JSON describe the same firewalls', () => {
  const fromDts = parsePlatform(DTS);
  const fromJson = parsePlatform(JSON.stringify(JSON_PLATFORM));
  assert.deepEqual(fromDts, fromJson);
  assert.equal(fromDts.memoryRanges[0]?.idAccess, NSEC_ALL_ACCESS_RDWR);
  assert.equal(fromDts.memoryRanges[1]?.base, 0xfe000000);
  // The same DECPROTs as bare cells in each encoding.
  const optee = fromDts.decprot.map((d) => d.id | ((d.lock ? 1 : 0) << 8) | (DECPROT_MODES.indexOf(d.mode) << 9));
  const tfa = fromDts.decprot.map((d) => ((d.id << 16) | (DECPROT_MODES.indexOf(d.mode) << 8) | (d.lock ? 1 : 0)) >>> 0);
  assert.deepEqual(
    parsePlatform(`&etzpc { st,decprot = <${optee.map((c) => `0x${c.toString(16)}`).join(' ')}>; };`).decprot,
    fromDts.decprot,
  );
  assert.deepEqual(parsePlatform(`&etzpc { st,decprot = <${tfa.join(' ')}>; };`, { encoding: 'tf-a' }).decprot, fromDts.decprot);
  assert.deepEqual(parsePlatform(JSON.stringify({ etzpc: { encoding: 'tf-a', decprot: tfa } })).decprot, fromDts.decprot);
  // Bad input is a typed error naming the field.
  const bad: [string, RegExp][] = [
    ['&etzpc { st,decprot = <DECPROT(13, 0, 0)>; };', /reserved/],
    ['&etzpc { st,decprot = <DECPROT(STM32MP1_ETZPC_NOPE_ID, 0, 0)>; };', /no ETZPC peripheral named NOPE/],
    ['x { memory-ranges = <0xc0000000 0x1000 0>; };', /groups of 4/],
    ['x { memory-ranges = <0xc0000000 0x1000 7 0>; };', /sec_attr 7/],
    ['x { memory-ranges = <FOO 0x1000 0 0>; };', /unknown name FOO/],
    ['/ { };', /no st,decprot or memory-ranges/],
    ['{"etzpc": {"decprot": [{"id": "USART1", "mode": "OPEN"}]}}', /mode is one of/],
    ['{"tzc400": {"regions": [{"base": "0xc0000000", "size": 4096, "nsaid": ["CPU"]}]}}', /no NSAID CPU/],
    ['{"profile": "stm32l5"}', /not stm32mp1/],
    ['{"tzc400": {', /not JSON/],
    // Many cell groups and no ';' (once a catastrophic backtrack), and parentheses nested past the limit.
    [`x { memory-ranges = ${'<1>      '.repeat(200)} };`, /no st,decprot or memory-ranges/],
    [`x { memory-ranges = <${'('.repeat(5000)}1${')'.repeat(5000)} 0 0 0>; };`, /parentheses nest deeper than 64/],
  ];
  for (const [text, re] of bad)
    assert.match(refusalOf(() => parsePlatform(text)) ?? 'accepted', new RegExp(`^E_CONFIG: .*${re.source}`), text);
});

function bootedBus(): Mp1Bus {
  const bus = new Mp1Bus();
  applyPlatform(parsePlatform(DTS), bus.etzpc, bus.tzc);
  return bus;
}

test('attack table (firewalls): each refusal names its own rule', () => {
  const bus = bootedBus();
  const denied: [Parameters<Mp1Bus['access']>, RegExp][] = [
    [['a7-ns', 0x5c002000, false], /^ETZPC DECPROT 5 \(I2C4\) = S_RW, locked: secure read only$/],
    [['a7-ns', 0x54002000, true], /^ETZPC DECPROT 8 \(HASH1\) = NS_R_S_W: non-secure masters may only read$/],
    [['a7-ns', 0x40000000, false], /^ETZPC DECPROT 16 \(TIM2\) = S_RW: secure read only$/],
    [['a7-ns', 0x38000000, false], /^ETZPC DECPROT 84 \(RETRAM\) = MCU_ISOLATION, locked: Cortex-M4 only$/],
    [['a7-ns', 0xfe000000, false], /^TZC-400 region 2 0xfe000000\.\.0xffffffff: NSAID 0 \(A7\) read not enabled$/],
    [['m4', 0xfffffffc, true], /^TZC-400 region 2 .*: NSAID 1 \(M4\) write not enabled$/],
    [['a7-ns', 0x2ffc0000, false], /^ETZPC TZMA1 \(sysram\): 64 of 64 pages secure: 0x2ffc0000 is in the secure part$/],
    [['a7-ns', 0x5c007000, true], /^ETZPC registers: secure only$/],
    [['m4', 0x5c006000, true], /^TZC-400 registers: secure only$/],
  ];
  for (const [args, rule] of denied) {
    const r = bus.access(...args);
    assert.equal(r.allowed, false, JSON.stringify(args));
    assert.match(r.rule, rule, JSON.stringify(args));
  }
  assert.equal(bus.violations.length, denied.length, 'every denied access is recorded');
  for (const [args] of [
    [['a7-ns', 0x5c000000, true]],
    [['a7-s', 0x5c002000, true]],
    [['a7-ns', 0x54002000, false]],
    [['m4', 0x38000100, true]],
    [['a7-ns', 0xc0001000, true]],
    [['m4', 0xc0001000, false]],
    [['a7-s', 0xfe000000, true]],
  ] as [Parameters<Mp1Bus['access']>][])
    assert.equal(bus.access(...args).allowed, true, JSON.stringify(args));
  assert.equal(bus.violations.length, denied.length, 'allowed accesses leave no record');
  // Reconfiguring a locked firewall.
  const e = bus.etzpc;
  assert.match(refusalOf(() => e.setDecprot(5, 'NS_RW')) ?? '', /^E_ACCESS: ETZPC DECPROT 5 \(I2C4\) is locked until reset$/);
  assert.match(refusalOf(() => e.setDecprot(3, 'S_RW', 'a7-ns')) ?? '', /^E_ACCESS: ETZPC registers are secure only/);
  e.setTzma('sysram', 63, true);
  assert.match(refusalOf(() => e.setTzma('sysram', 0, false)) ?? '', /^E_ACCESS: ETZPC TZMA1 \(sysram\) is locked until reset$/);
  assert.match(
    refusalOf(() => bus.tzc.setRegion(2, { base: 0xfe000000, top: 0xffffffff, secAttr: 0, filters: 3, idAccess: NSEC_ALL_ACCESS_RDWR })) ??
      '',
    /^E_ACCESS: TZC-400 region 2 is enabled/,
  );
  assert.match(refusalOf(() => bus.tzc.disableRegion(2, 'a7-ns')) ?? '', /^E_ACCESS: TZC-400 registers are secure only/);
  assert.equal(bus.check('a7-ns', 0xfe000000, false).allowed, false, 'the refused reconfigurations changed nothing');
  // The last SYSRAM page is non-secure now (SCMI shared memory).
  assert.equal(bus.check('a7-ns', 0x2ffff000, true).allowed, true);
  assert.equal(bus.check('a7-ns', 0x2fffe000, true).allowed, false);
});

test('TZC-400: first failure recorded, later ones overrun; ACTION decides bus error and interrupt; overlap fails', () => {
  const tzc = new Tzc400();
  tzc.setBackground(0, 0);
  tzc.setRegion(1, { base: 0xc0000000, top: 0xc0ffffff, secAttr: 1, filters: 3, idAccess: 1 });
  tzc.setAction(1);
  let r = tzc.access(0xc0000000, 'a7-s', true);
  assert.deepEqual([r.allowed, r.busError, r.interrupt], [false, true, false]);
  assert.deepEqual(tzc.failures[0], { addr: 0xc0000000, control: 1 << 24, id: 0 });
  assert.equal(tzc.access(0xc0000000, 'a7-s', false).allowed, true, 'secure read allowed by S_RD');
  assert.equal(tzc.access(0xc0000004, 'a7-ns', false).allowed, true, 'NSAID 0 read enabled');
  r = tzc.access(0xc0000008, 'a7-ns', true);
  assert.equal(r.allowed, false);
  assert.equal(tzc.intStatus, 0x101, 'filter 0: status and overrun');
  assert.equal(tzc.failures[0]?.addr, 0xc0000000, 'the first failure stays');
  tzc.clear(0);
  tzc.setAction(2);
  r = tzc.access(0xc0000008, 'a7-ns', true);
  assert.deepEqual([r.busError, r.interrupt], [false, true]);
  assert.deepEqual(tzc.failures[0], { addr: 0xc0000008, control: (1 << 24) | (1 << 21), id: 0 });
  r = tzc.access(0xc1000000, 'm4', false);
  assert.match(r.rule, /region 0 \(background\): NSAID 1 \(M4\) read not enabled/);
  assert.equal(tzc.failures[1]?.id, 1, 'the M4 comes through filter 1');
  tzc.setRegion(2, { base: 0xc0800000, top: 0xc08fffff, secAttr: 3, filters: 1, idAccess: 0 });
  r = tzc.access(0xc0800000, 'a7-s', false);
  assert.match(r.rule, /regions 1 and 2 overlap/);
  assert.equal(tzc.intStatus & 0x10000, 0x10000);
  assert.equal(tzc.access(0xc0800000, 'm4', false).rule.includes('overlap'), false, 'region 2 is not enabled on filter 1');
  assert.match(
    refusalOf(() => tzc.setRegion(3, { base: 0xc0000800, top: 0xc0000fff, secAttr: 3, filters: 1, idAccess: 0 })) ?? '',
    /^E_CONFIG: .*not 4 KB aligned/,
  );
  assert.match(
    refusalOf(() => tzc.setRegion(3, { base: 0x80000000, top: 0x80000fff, secAttr: 3, filters: 1, idAccess: 0 })) ?? '',
    /^E_CONFIG: .*outside the DDR/,
  );
});

test('property: DECPROT cells round-trip; random firewalls obey the access rules; junk platform text is a typed error', () => {
  const ids = MP15_PERIPHERALS.map((p) => p.id);
  fc.assert(
    fc.property(fc.constantFrom(...ids), fc.integer({ min: 0, max: 3 }), fc.boolean(), (id, mode, lock) => {
      const d = decodeDecprotCell(id | ((lock ? 1 : 0) << 8) | (mode << 9));
      assert.deepEqual(d, { id, mode: DECPROT_MODES[mode], lock });
      assert.deepEqual(decodeDecprotCell(((id << 16) | (mode << 8) | (lock ? 1 : 0)) >>> 0, 'tf-a'), d);
    }),
    { seed: 8, numRuns: 500 },
  );
  const entry = fc.record({ id: fc.constantFrom(...ids), mode: fc.constantFrom(...DECPROT_MODES), lock: fc.boolean() });
  fc.assert(
    fc.property(
      fc.array(entry, { maxLength: 30 }),
      fc.array(fc.tuple(fc.constantFrom(...MASTERS), fc.constantFrom(...ids), fc.boolean()), { maxLength: 30 }),
      (entries, accesses) => {
        const e = new Etzpc();
        for (const d of entries) {
          const before = e.decprot[d.id];
          const wasLocked = e.locked[d.id];
          const err = refusalOf(() => e.setDecprot(d.id, d.mode));
          if (wasLocked) {
            assert.match(err ?? '', /^E_ACCESS/);
            assert.equal(e.decprot[d.id], before, 'a locked field never changes');
          } else assert.equal(e.decprot[d.id], d.mode);
          if (d.lock) e.lock(d.id);
        }
        const bus = new Mp1Bus({ etzpc: e.save(), tzc: new Tzc400().save(), violations: [] });
        for (const [m, id, write] of accesses) {
          const p = peripheral(id);
          const mode = e.decprot[id];
          const r = bus.access(m, p.base + 4, write);
          const expected =
            mode === 'NS_RW' ||
            (mode === 'S_RW' && m === 'a7-s') ||
            (mode === 'NS_R_S_W' && (m === 'a7-s' || !write)) ||
            (mode === 'MCU_ISOLATION' && m === 'm4');
          assert.equal(r.allowed, expected, `${m} ${write ? 'write' : 'read'} ${p.name} ${mode}`);
          assert.equal(r.violation !== undefined, !expected);
        }
      },
    ),
    { seed: 8, numRuns: 300 },
  );
  const junk = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc
      .constantFrom(DTS, JSON.stringify(JSON_PLATFORM))
      .chain((s) => fc.tuple(fc.nat(s.length), fc.nat(s.length)).map(([a, b]) => s.slice(0, a) + s.slice(b))),
  );
  fc.assert(
    fc.property(junk, (text) => {
      try {
        parsePlatform(text);
      } catch (e) {
        assert.ok(isRseError(e), `${String(e)} for ${JSON.stringify(text)}`);
      }
    }),
    { seed: 8, numRuns: 2000 },
  );
});

const oem = generateKey('ecdsa-p256');
const image = (o: { key?: typeof oem; type?: number; version?: number } = {}): Uint8Array =>
  createStm32Image({
    payload: new Uint8Array(2048).map((_, i) => (i * 7) & 0xff),
    loadAddress: o.type === 0 ? 0xc0100000 : 0x2ffc2500,
    entryPoint: o.type === 0 ? 0xc0100000 : 0x2ffc2500,
    binaryType: o.type ?? 0x10,
    imageVersion: o.version ?? 1,
    ...(o.key === undefined ? {} : { key: o.key }),
  });

function closedDevice(): Mp1Device {
  const dev = Mp1Device.create(join(tempDir(), 'mp1'));
  dev.provision({ pkh: publicKeyHash(p256PublicXY(oem)), counter: 1, close: true });
  return Mp1Device.open(dev.dir);
}

test('FSBL stage: next images against the same PKH, the platform debug opened then frozen, firewalls kept with the device', () => {
  const platform = parsePlatform(JSON.stringify({ ...JSON_PLATFORM, debug: { nonSecure: true, lock: true } }));
  const dev = closedDevice();
  const r = mp1Boot(dev, image({ key: oem }), { images: [{ name: 'u-boot', bytes: image({ key: oem, type: 0 }) }], platform });
  assert.equal(r.ok, true, r.halt);
  assert.equal(r.reached, 'runtime');
  assert.deepEqual(r.debug, { secure: false, nonSecure: true, locked: true });
  assert.deepEqual(r.warnings, ['Debug opened on closed chip']);
  assert.ok(r.fsbl.some((c) => c.image === 'u-boot' && c.check === 'signature' && c.ok));
  // Debug requested after the FSBL froze DENABLE.
  assert.match(refusalOf(() => dev.bsec.writeDenable(0x47f)) ?? '', /^E_ACCESS: DENABLE is locked \(DENREG\) until reset$/);
  // The state survives to the next command, and a reboot clears the violations.
  const again = Mp1Device.open(dev.dir);
  assert.deepEqual(again.bsec.debug(), { secure: false, nonSecure: true });
  assert.equal(again.bsec.denableLocked, true);
  assert.equal(again.bus.access('a7-ns', 0xfe000000, false).allowed, false);
  again.save();
  assert.equal(Mp1Device.open(dev.dir).bus.violations.length, 1);
  mp1Boot(Mp1Device.open(dev.dir), image({ key: oem }), { platform });
  assert.equal(Mp1Device.open(dev.dir).bus.violations.length, 0);

  const refusals: [string, Uint8Array, RegExp][] = [
    ['unsigned U-Boot on a closed device', image({ type: 0 }), /^u-boot: option flags: unsigned image/],
    ['U-Boot signed by another key', image({ key: generateKey('ecdsa-p256'), type: 0 }), /^u-boot: public key hash: /],
    ['not an STM32 image', new Uint8Array(300), /^u-boot: no valid STM32 header/],
  ];
  for (const [name, bytes, halt] of refusals) {
    const d = closedDevice();
    const b = mp1Boot(d, image({ key: oem }), { images: [{ name: 'u-boot', bytes }], platform });
    assert.equal(b.ok, false, name);
    assert.equal(b.reached, 'fsbl', name);
    assert.match(b.halt ?? '', halt, name);
    assert.deepEqual(b.debug, { secure: false, nonSecure: false, locked: false }, `${name}: debug stays closed`);
    assert.equal(b.firewall.length, 0, `${name}: no firewall configured`);
  }
  // A platform the ETZPC refuses stops the FSBL.
  const noTz = parsePlatform(JSON.stringify({ rcc: { tzen: false }, etzpc: { decprot: [{ id: 'I2C4', mode: 'S_RW' }] } }));
  assert.match(
    mp1Boot(closedDevice(), image({ key: oem }), { platform: noTz }).halt ?? '',
    /^platform: I2C4: S_RW has no effect with RCC TZEN clear$/,
  );
});

test('CLI: rse stm32 boot --platform, access (exit 0 allowed, 1 denied), firewall', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'fw.dts'), DTS);
  const { fsbl, dev } = await closedCliDevice(dir);
  const boot = await runCli(['stm32', 'boot', dev, fsbl, '--platform', join(dir, 'fw.dts')]);
  assert.equal(boot.code, 0, boot.stderr);
  assert.match(boot.stdout, /FSBL TZC-400 region 2: 0xfe000000\.\.0xffffffff secure read-write/);
  const ok = await runCli(['stm32', 'access', dev, '--master', 'a7-ns', '--addr', '0x4000e000', '--write']);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^allowed: a7-ns write 0x4000e000 \(USART2\)/);
  const no = await runCli(['stm32', 'access', dev, '--master', 'a7-ns', '--addr', '0xfe000000', '--json']);
  assert.equal(no.code, 1);
  const j = JSON.parse(no.stdout) as { allowed: boolean; target: string; violation: { firewall: string; interrupt: boolean } };
  assert.deepEqual([j.allowed, j.target, j.violation.firewall, j.violation.interrupt], [false, 'DDR', 'TZC-400', true]);
  const fw = await runCli(['stm32', 'firewall', dev]);
  assert.match(fw.stdout, /TZC-400 filter 0: FAIL_ADDR 0xfe000000 FAIL_CONTROL 0x00200000 FAIL_ID 0/);
  assert.match(fw.stdout, /violation: a7-ns read 0xfe000000/);
  const usage = await runCli(['stm32', 'access', dev, '--master', 'dma', '--addr', '0']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /master is one of a7-s, a7-ns, m4/);
});
