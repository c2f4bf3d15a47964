/**
 * Issue 27, acceptance 2: the STM32MP15 secure restrictions the security overview lists besides
 * the ETZPC and the TZC-400. For RCC, PWR, RTC, TAMP, GPIOZ, EXTI, GIC and MDMA, a non-secure
 * access is allowed while the secure configuration is clear and refused once the secure world
 * sets it, each refusal naming the register field that decided; the control registers themselves
 * take secure writes only. Property: random accesses are decided without error and only a secure
 * write changes a control register.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { Mp1Bus } from '../../src/stm32/bus.ts';
import { MASTERS } from '../../src/stm32/etzpc.ts';
import { SECURE_CONFIG_REGISTERS as R } from '../../src/stm32/secure-config.ts';
import { Tamp } from '../../src/stm32/tamp.ts';
import { runCli, tempDir } from '../helpers.ts';

const RCC = 0x50000000;
const PWR = 0x50001000;
const RTC = 0x5c004000;
const TAMP = 0x5c00a000;
const GPIOZ = 0x54004000;
const EXTI = 0x5000d000;
const GICD = 0xa0021000;
const MDMA = 0x58000000;

function bus(): Mp1Bus {
  const b = new Mp1Bus();
  b.tamp = new Tamp();
  b.etzpc.setDecprot(6, 'NS_RW'); // GPIOZ open at the ETZPC: its per-pin bits decide
  return b;
}
const secureWrite = (b: Mp1Bus, addr: number, value: number): void => {
  const r = b.access('a7-s', addr, true, value);
  assert.equal(r.allowed, true, r.rule);
};

/** [peripheral, set the configuration clear, set it secure, the non-secure access, the rule expected once secure]. */
const CASES: readonly [string, (b: Mp1Bus) => void, (b: Mp1Bus) => void, [number, number | undefined, 'a7-ns' | 'm4'], RegExp][] = [
  [
    'RCC (TZEN)',
    (b) => secureWrite(b, R.RCC_TZCR as number, 0),
    (b) => secureWrite(b, R.RCC_TZCR as number, 1),
    [RCC + 0x208, 1 << 16, 'a7-ns'],
    /RCC_TZCR\.TZEN = 1: RCC_MP_APB5ENSETR \(RCC 0x000\.\.0x7FC\) takes secure writes only/,
  ],
  [
    'RCC (MCKPROT)',
    (b) => secureWrite(b, R.RCC_TZCR as number, 1),
    (b) => secureWrite(b, R.RCC_TZCR as number, 3),
    [RCC + 0x880, 1, 'm4'],
    /RCC_TZCR\.MCKPROT = 1: RCC_PLL3CR \(the MCU's clocks\)/,
  ],
  [
    'PWR',
    (b) => secureWrite(b, R.RCC_TZCR as number, 0),
    (b) => secureWrite(b, R.RCC_TZCR as number, 1),
    [PWR + 0x00, 1 << 8, 'a7-ns'],
    /RCC_TZCR\.TZEN = 1: PWR_CR1 takes secure writes only/,
  ],
  [
    'RTC',
    (b) => secureWrite(b, R.RTC_SMCR as number, 0),
    (b) => secureWrite(b, R.RTC_SMCR as number, 1 << 2),
    [RTC + 0x14, 0x100, 'a7-ns'],
    /RTC_SMCR = 0x0004: WUTDPROT = 1, RTC_WUTR is secure/,
  ],
  [
    'RTC (DECPROT)',
    (b) => secureWrite(b, R.RTC_SMCR as number, 0),
    (b) => secureWrite(b, R.RTC_SMCR as number, 1 << 15),
    [RTC + 0x18, 1, 'a7-ns'],
    /DECPROT = 1, every RTC register is secure/,
  ],
  [
    'TAMP (backup zones)',
    (b) => secureWrite(b, R.TAMP_SMCR as number, 0),
    (b) => secureWrite(b, R.TAMP_SMCR as number, 4 | (8 << 16)),
    [TAMP + 0x100 + 4 * 3, 1, 'a7-ns'],
    /BKPRWDPROT = 4, BKPWDPROT = 8.*TAMP_BKP3R is in zone 1, secure read\/write/,
  ],
  [
    'TAMP (DPROT)',
    (b) => secureWrite(b, R.TAMP_SMCR as number, 0),
    (b) => secureWrite(b, R.TAMP_SMCR as number, 0x80000000),
    [TAMP + 0x00, 1, 'a7-ns'],
    /DPROT = 1, the tamper configuration takes secure writes only/,
  ],
  [
    'GPIOZ',
    (b) => secureWrite(b, R.GPIOZ_SECCFGR as number, 0),
    (b) => secureWrite(b, R.GPIOZ_SECCFGR as number, 1 << 3),
    [GPIOZ + 0x00, 3 << 6, 'a7-ns'],
    /GPIOZ_SECCFGR = 0x08: pin 3 secure, their bits ignore non-secure writes/,
  ],
  [
    'EXTI',
    (b) => secureWrite(b, R.EXTI_TZENR1 as number, 0),
    (b) => secureWrite(b, R.EXTI_TZENR1 as number, 1 << 5),
    [EXTI + 0x00, 1 << 5, 'a7-ns'],
    /EXTI_TZENR: line 5 secure, their bits ignore non-secure writes/,
  ],
  [
    'GIC',
    (b) => secureWrite(b, GICD + 0x84, 0xffffffff),
    (b) => secureWrite(b, GICD + 0x84, 0),
    [GICD + 0x104, 1, 'a7-ns'],
    /GICD_IGROUPR: interrupt 32 in group 0 \(secure\): RAZ\/WI to non-secure accesses/,
  ],
  [
    'MDMA',
    (b) => secureWrite(b, MDMA + 0x4c + 0x40 * 3, 0),
    (b) => secureWrite(b, MDMA + 0x4c + 0x40 * 3, 1 << 8),
    [MDMA + 0x58 + 0x40 * 3, 0x1000, 'a7-ns'],
    /MDMA_C3CR\.SM = 1: channel 3 is secure/,
  ],
];

for (const [name, clear, set, [addr, value, master], rule] of CASES)
  test(`${name}: a non-secure write is allowed before the secure configuration is set and refused after, naming the rule`, () => {
    const b = bus();
    clear(b);
    const before = b.access(master, addr, true, value);
    assert.equal(before.allowed, true, before.rule);
    set(b);
    const after = b.access(master, addr, true, value);
    assert.equal(after.allowed, false);
    assert.match(after.rule, rule);
    assert.equal(after.violation?.firewall, 'secure configuration');
    assert.equal(after.violation?.response, 'write ignored');
    // The decision survives a save and reload.
    const again = new Mp1Bus(b.save());
    again.tamp = b.tamp;
    assert.equal(again.check(master, addr, true, value).allowed, false);
  });

test('the control registers take secure writes only; a non-secure write changes nothing', () => {
  const b = bus();
  for (const [name, addr] of Object.entries(R)) {
    const before = JSON.stringify(b.save().secureConfig) + JSON.stringify(b.save().etzpc);
    // MDMA_CxCR is the channel's own control register: only its SM bit is the secure world's.
    const r = b.access('a7-ns', addr as number, true, name === 'MDMA_C0CR' ? 1 << 8 : 0);
    assert.equal(r.allowed, false, name);
    assert.match(r.rule, /secure world only|RAZ\/WI/, name);
    assert.equal(JSON.stringify(b.save().secureConfig) + JSON.stringify(b.save().etzpc), before, name);
  }
  // Reset values: RCC TZEN and MCKPROT set, RTC_SMCR 0xE00F, GPIOZ pins secure, TAMP DPROT set, EXTI lines and MDMA channels not secure, every interrupt group 0.
  const c = b.save().secureConfig;
  assert.deepEqual([c?.rtcSmcr, c?.gpiozSeccfgr, c?.tampDprot, c?.extiTzenr, c?.mdmaSecure], [0xe00f, 0xff, true, [0, 0, 0], 0]);
  // A secure pin's neighbour is still the normal world's; an MDMA secure channel's CR stays readable.
  secureWrite(b, R.GPIOZ_SECCFGR as number, 1 << 3);
  assert.equal(b.check('a7-ns', GPIOZ + 0x00, true, 3 << 8).allowed, true);
  secureWrite(b, MDMA + 0x4c, 1 << 8);
  assert.equal(b.check('a7-ns', MDMA + 0x4c, false).allowed, true);
  assert.equal(b.check('a7-ns', MDMA + 0x4c, true, 0).allowed, false);
});

test('property: any master, address in these blocks and value is decided without error; only a7-s writes change the configuration', () => {
  const blocks = [RCC, PWR, RTC, TAMP, GPIOZ, EXTI, GICD, MDMA];
  fc.assert(
    fc.property(
      fc.constantFrom(...MASTERS),
      fc.constantFrom(...blocks),
      fc.integer({ min: 0, max: 0xfff }),
      fc.boolean(),
      fc.integer({ min: 0, max: 0xffffffff }),
      (master, base, off, write, value) => {
        const b = bus();
        const before = JSON.stringify(b.save());
        const r = b.access(master, base + (off & ~3), write, value);
        assert.equal(typeof r.rule, 'string');
        if (master !== 'a7-s' || !write)
          assert.equal(JSON.stringify({ ...b.save(), violations: [] }), JSON.stringify({ ...JSON.parse(before), violations: [] }));
      },
    ),
    { numRuns: 2000 },
  );
});

test('CLI: rse stm32 access --write --value sets a control register on the device and a later access meets it', async () => {
  const dev = join(tempDir(), 'dev');
  assert.equal((await runCli(['stm32', 'device', 'create', dev])).code, 0);
  const run = (...a: string[]) => runCli(['stm32', 'access', dev, ...a]);
  const clear = await run('--master', 'a7-s', '--addr', '0x5c004020', '--write', '--value', '0');
  assert.equal(clear.code, 0, clear.stderr);
  assert.equal((await run('--master', 'a7-ns', '--addr', '0x5c004014', '--write')).code, 0);
  assert.equal((await run('--master', 'a7-s', '--addr', '0x5c004020', '--write', '--value', '0x4')).code, 0);
  const no = await run('--master', 'a7-ns', '--addr', '0x5c004014', '--write');
  assert.equal(no.code, 1);
  assert.match(no.stdout, /denied: a7-ns write 0x5c004014 \(RTC_WUTR\)\n {2}RTC_SMCR = 0x0004: WUTDPROT = 1, RTC_WUTR is secure/);
  const fw = await runCli(['stm32', 'firewall', dev]);
  assert.match(fw.stdout, /RTC_SMCR 0x0004/);
  const bad = await run('--master', 'a7-ns', '--addr', '0x5c004014', '--value', '1');
  assert.equal(bad.code, 2);
});
