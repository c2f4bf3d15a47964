/**
 * Issue 27: the STM32MP15 secure monitor's SMC interface (OP-TEE 4.9 and TF-A v2.8 SP_MIN as data):
 * PSCI, SCMI over the shared-memory channel and ST's SiP BSEC service, each with a success, a
 * permission refusal and malformed input; random SMC frames and SCMI messages get only defined replies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeSmc, encodeSmc } from '../../src/comms/smc.ts';
import {
  MONITOR_OPTEE,
  MONITOR_SP_MIN,
  type MonitorData,
  PSCI_FN,
  PSCI_RET,
  SCMI_PROTOCOL,
  SCMI_STATUS,
  SMCCC,
  STM32_SIP,
} from '../../src/profiles/stm32-monitor.ts';
import { Bsec } from '../../src/stm32/bsec.ts';
import { Etzpc } from '../../src/stm32/etzpc.ts';
import { initialMonitorState, SecureMonitor, type SmcResult } from '../../src/stm32/monitor.ts';
import { SMT_HEADER, smtMessage, smtReply } from '../../src/stm32/scmi.ts';
import { rseErrorOf } from '../helpers.ts';

const s32 = (n: number | undefined): number => (n ?? 0) | 0;

function monitor(m: MonitorData = MONITOR_OPTEE, secure: string[] = []): { mon: SecureMonitor; bsec: Bsec; etzpc: Etzpc } {
  const bsec = new Bsec();
  const etzpc = new Etzpc();
  etzpc.tzen = true;
  // Everything the agent's lists gate is non-secure unless named.
  for (const name of ['CRYP1', 'HASH1', 'I2C4', 'I2C6', 'IWDG1', 'RNG1', 'SPI6', 'USART1', 'STGENC'])
    if (!secure.includes(name)) etzpc.decprot[idOf(name)] = 'NS_RW';
  return { mon: new SecureMonitor(initialMonitorState(m), bsec, etzpc), bsec, etzpc };
}
const IDS: Record<string, number> = { STGENC: 0, IWDG1: 2, USART1: 3, SPI6: 4, I2C4: 5, RNG1: 7, HASH1: 8, CRYP1: 9, I2C6: 12 };
const idOf = (n: string): number => IDS[n] as number;

const smc = (mon: SecureMonitor, regs: number[], cpu = 0, shm?: Uint8Array): SmcResult =>
  mon.call({ cpu, regs: [...regs, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8), ...(shm === undefined ? {} : { shm }) });
const r0 = (r: SmcResult): number => s32(r.regs?.[0]);

function scmi(
  mon: SecureMonitor,
  protocol: number,
  message: number,
  words: number[] = [],
  agent = 0,
): { status: number; payload: DataView; free: boolean; error: boolean } {
  const p = new Uint8Array(4 * words.length);
  words.forEach((w, i) => {
    new DataView(p.buffer).setUint32(4 * i, w >>> 0, true);
  });
  const r = smc(mon, [mon.data.scmi.agents[agent]?.fid ?? 0], 0, smtMessage(mon.data, protocol, message, p));
  assert.equal(r.regs?.[0], STM32_SIP.OK, 'the doorbell answers OK');
  const rep = smtReply(r.shm as Uint8Array);
  return { ...rep, payload: new DataView(rep.payload.buffer, rep.payload.byteOffset, rep.payload.byteLength) };
}
const P = SCMI_PROTOCOL;
const S = SCMI_STATUS;

test('PSCI success: version, features, CPU_ON of core 1 then AFFINITY_INFO ON, CPU_OFF from core 1 does not return', () => {
  const { mon } = monitor();
  assert.equal(r0(smc(mon, [PSCI_FN.VERSION])), 0x10000);
  assert.equal(r0(smc(mon, [PSCI_FN.FEATURES, PSCI_FN.CPU_ON])), PSCI_RET.SUCCESS);
  assert.equal(r0(smc(mon, [PSCI_FN.FEATURES, PSCI_FN.CPU_SUSPEND])), PSCI_RET.NOT_SUPPORTED);
  assert.equal(r0(smc(mon, [PSCI_FN.AFFINITY_INFO, 1, 0])), 1, 'core 1 OFF at the hand-over');
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_ON, 1, 0xc0100000, 0])), PSCI_RET.SUCCESS);
  assert.equal(r0(smc(mon, [PSCI_FN.AFFINITY_INFO, 1, 0])), 0, 'core 1 ON');
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_ON, 1, 0xc0100000, 0])), PSCI_RET.ALREADY_ON);
  const off = smc(mon, [PSCI_FN.CPU_OFF], 1);
  assert.equal(off.regs, undefined);
  assert.match(off.event ?? '', /core 1 powered off/);
  assert.deepEqual(mon.state.cores, ['on', 'off']);
  // A core that is off issues nothing.
  assert.match(rseErrorOf(() => smc(mon, [PSCI_FN.VERSION], 1))?.message ?? '', /core 1 is off/);
  // SP_MIN: PSCI 1.1 with standby CPU_SUSPEND.
  const sp = monitor(MONITOR_SP_MIN).mon;
  assert.equal(r0(smc(sp, [PSCI_FN.VERSION])), 0x10001);
  assert.equal(r0(smc(sp, [PSCI_FN.CPU_SUSPEND, 0, 0xc0000000, 0])), PSCI_RET.SUCCESS);
  assert.equal(r0(smc(sp, [PSCI_FN.FEATURES, PSCI_FN.CPU_SUSPEND])), PSCI_RET.SUCCESS);
});

test('PSCI refusals: the boot core, core 0 off, a bad MPIDR, an entry below DDR, a power-down suspend, system reset stops the SoC', () => {
  const { mon } = monitor();
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_ON, 0, 0xc0100000])), PSCI_RET.INVALID_PARAMETERS);
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_ON, 0x100, 0xc0100000])), PSCI_RET.INVALID_PARAMETERS, 'no cluster 1');
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_OFF])), PSCI_RET.INTERNAL_FAILURE, 'core 0 cannot go off');
  assert.equal(r0(smc(mon, [PSCI_FN.AFFINITY_INFO, 7, 0])), PSCI_RET.INVALID_PARAMETERS);
  assert.equal(r0(smc(mon, [PSCI_FN.CPU_SUSPEND, 0])), PSCI_RET.NOT_SUPPORTED, 'OP-TEE offers no CPU_SUSPEND');
  const sp = monitor(MONITOR_SP_MIN).mon;
  assert.equal(r0(smc(sp, [PSCI_FN.CPU_ON, 1, 0x2ffc0000])), PSCI_RET.INVALID_ADDRESS, 'SYSRAM is not a non-secure entry');
  assert.equal(r0(smc(sp, [PSCI_FN.CPU_ON, 0, 0xc0100000])), PSCI_RET.ALREADY_ON);
  assert.equal(r0(smc(sp, [PSCI_FN.CPU_SUSPEND, 1 << 16])), PSCI_RET.INVALID_PARAMETERS, 'power-down state refused');
  // SP_MIN's port does not handle CPU_OFF: the monitor panics and the SoC stops.
  assert.equal(r0(smc(sp, [PSCI_FN.CPU_ON, 1, 0xc0100000])), PSCI_RET.SUCCESS);
  assert.match(smc(sp, [PSCI_FN.CPU_OFF], 1).event ?? '', /monitor panic/);
  const reset = smc(mon, [PSCI_FN.SYSTEM_RESET]);
  assert.match(reset.event ?? '', /system reset/);
  assert.match(rseErrorOf(() => smc(mon, [PSCI_FN.VERSION]))?.message ?? '', /SoC is stopped/);
});

test('unknown function ids answer NOT_SUPPORTED (SMCCC -1); SMCCC version and features are served', () => {
  const { mon } = monitor();
  for (const fid of [
    0x84000015, 0x8400001f, 0xc4000003 /* SMC64 CPU_ON: an AArch32 monitor */, 0x82001000, 0x82002002, 0xb2000000, 0, 0x12345678,
  ])
    assert.equal(smc(mon, [fid]).regs?.[0], SMCCC.NOT_SUPPORTED, `0x${fid.toString(16)}`);
  assert.equal(r0(smc(mon, [PSCI_FN.MIGRATE, 1])), PSCI_RET.NOT_SUPPORTED);
  assert.equal(r0(smc(mon, [SMCCC.VERSION])), 0x10001);
  assert.equal(r0(smc(mon, [SMCCC.ARCH_FEATURES, SMCCC.VERSION])), 0);
  assert.equal(smc(mon, [SMCCC.ARCH_FEATURES, SMCCC.ARCH_WORKAROUND_1]).regs?.[0], SMCCC.NOT_SUPPORTED);
  assert.deepEqual(smc(mon, [SMCCC.SIP_UID]).regs?.slice(0, 4), [...STM32_SIP.UID]);
  assert.equal(r0(smc(mon, [SMCCC.SIP_CALL_COUNT])), 3);
});

test('SiP BSEC: lower and non-secure upper words read; secure words refused; program burns; locks and blown bits fail', () => {
  const { mon, bsec } = monitor();
  bsec.program(57, 0x00e08000);
  bsec.program(60, 0xdeadbeef);
  bsec.reset();
  const call = (cmd: number, otp: number, value = 0): SmcResult => smc(mon, [STM32_SIP.BSEC, cmd, otp, value]);
  const read = call(1, 57);
  assert.deepEqual([read.regs?.[0], read.regs?.[1]], [STM32_SIP.OK, 0x00e08000]);
  // A secure-only upper word: refused whatever the command, the value never leaves.
  const secret = call(1, 60);
  assert.equal(secret.regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.notEqual(secret.regs?.[1], 0xdeadbeef);
  assert.equal(call(4, 60).regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.equal(call(2, 61, 1).regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.equal(bsec.fuse(61), 0);
  // Program a lower word, read the fuse back (READ_OTP reloads it).
  assert.equal(call(2, 10, 0x00000f00).regs?.[0], STM32_SIP.OK);
  assert.equal(bsec.fuse(10), 0x00000f00);
  assert.equal(call(4, 10).regs?.[1], 0x00000f00);
  // A blown bit cannot return to 0: FAILED, nothing burnt.
  assert.equal(call(2, 10, 0x000000f0).regs?.[0], STM32_SIP.FAILED);
  assert.equal(bsec.fuse(10), 0x00000f00);
  // Permanent lock: then programming fails.
  assert.equal(call(7, 11).regs?.[0], STM32_SIP.OK);
  assert.equal(call(2, 11, 1).regs?.[0], STM32_SIP.FAILED);
  assert.equal(bsec.fuse(11), 0);
  // Shadow write: the shadow changes, the fuse does not.
  assert.equal(call(3, 12, 0x55).regs?.[0], STM32_SIP.OK);
  assert.deepEqual([call(1, 12).regs?.[1], bsec.fuse(12)], [0x55, 0]);
  // Malformed: an unknown command, a word that does not exist.
  assert.equal(call(9, 10).regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.equal(call(1, 96).regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.equal(call(1, 0xffffffff).regs?.[0], STM32_SIP.INVALID_PARAMS);
  // TF-A v2.8's service has no non-secure check and no lock command: the data says so.
  const sp = monitor(MONITOR_SP_MIN);
  sp.bsec.program(60, 0x1234);
  sp.bsec.reset();
  assert.equal(smc(sp.mon, [STM32_SIP.BSEC, 1, 60]).regs?.[1], 0x1234);
  assert.equal(smc(sp.mon, [STM32_SIP.BSEC, 7, 11]).regs?.[0], STM32_SIP.INVALID_PARAMS);
  assert.equal(smc(sp.mon, [STM32_SIP.BSEC, 3, 12, 1]).regs?.[1], 0, 'TF-A zeroes x1 after a write');
});

test('SCMI success: base discovery, a clock gated on and its rate, a reset asserted, a regulator set', () => {
  const { mon } = monitor();
  const name = (v: DataView, at: number): string =>
    new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset + at, 16)).replace(/\0.*$/s, '');
  assert.equal(scmi(mon, P.BASE, 0).payload.getUint32(0, true), 0x20000);
  assert.equal(name(scmi(mon, P.BASE, 3).payload, 0), 'ST');
  const list = scmi(mon, P.BASE, 6, [0]);
  assert.equal(list.payload.getUint32(0, true), 3);
  assert.deepEqual([...new Uint8Array(list.payload.buffer, list.payload.byteOffset + 4, 3)], [P.CLOCK, P.RESET_DOMAIN, P.VOLTAGE_DOMAIN]);
  assert.equal(scmi(mon, P.CLOCK, 1).payload.getUint32(0, true) & 0xffff, 21);
  // usart1_k (20): off, switched on, on.
  assert.equal(scmi(mon, P.CLOCK, 3, [20]).payload.getUint32(0, true), 0);
  assert.equal(scmi(mon, P.CLOCK, 7, [20, 1]).status, S.SUCCESS);
  const attrs = scmi(mon, P.CLOCK, 3, [20]);
  assert.deepEqual([attrs.payload.getUint32(0, true), name(attrs.payload, 4)], [1, 'usart1_k']);
  assert.equal(mon.state.agents[0]?.clocks[20], true);
  assert.equal(scmi(mon, P.CLOCK, 6, [7]).payload.getUint32(0, true), 650_000_000, 'ck_mpu at 650 MHz');
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [0, 2, 0]).status, S.SUCCESS);
  assert.equal(mon.state.agents[0]?.resets[0], true, 'spi6 held in reset');
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [0, 0, 0]).status, S.SUCCESS);
  assert.equal(mon.state.agents[0]?.resets[0], false);
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 7, [3, 0, 1_300_000]).status, S.SUCCESS);
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 8, [3]).payload.getInt32(0, true), 1_300_000);
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 5, [3, 7]).status, S.SUCCESS);
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 6, [3]).payload.getUint32(0, true), 7);
});

test('SCMI permissions: a clock or reset of a peripheral the ETZPC keeps secure is DENIED to the non-secure agent', () => {
  const { mon, etzpc } = monitor(MONITOR_OPTEE, ['CRYP1']);
  assert.equal(scmi(mon, P.CLOCK, 7, [10, 1]).status, S.DENIED, 'cryp1 is secure');
  assert.equal(mon.state.agents[0]?.clocks[10], false, 'and stays gated');
  assert.equal(scmi(mon, P.CLOCK, 3, [10]).status, S.NOT_FOUND, 'its name is not told');
  assert.equal(scmi(mon, P.CLOCK, 6, [10]).payload.getUint32(0, true), 0, 'its rate reads 0');
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [6, 2, 0]).status, S.DENIED, 'cryp1 reset');
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [5, 2, 0]).status, S.DENIED, "GPIOZ reset: never the agent's");
  // The same clock once DECPROT says NS_RW.
  etzpc.decprot[9] = 'NS_RW';
  assert.equal(scmi(mon, P.CLOCK, 7, [10, 1]).status, S.SUCCESS);
  // Read-only for the normal world is not enough: NS_R_S_W denies.
  etzpc.decprot[8] = 'NS_R_S_W';
  assert.equal(scmi(mon, P.CLOCK, 7, [12, 1]).status, S.DENIED, 'hash1');
});

test('SCMI malformed messages: each gets its protocol error; a channel that was not posted is flagged, not processed', () => {
  const { mon } = monitor();
  assert.equal(scmi(mon, P.CLOCK, 0, [1]).status, S.PROTOCOL_ERROR, 'version takes no payload');
  assert.equal(scmi(mon, P.CLOCK, 3, []).status, S.PROTOCOL_ERROR, 'attributes needs the id');
  assert.equal(scmi(mon, P.CLOCK, 3, [99]).status, S.INVALID_PARAMETERS);
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [99, 0, 0]).status, S.NOT_FOUND);
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [11, 1, 0]).status, S.NOT_SUPPORTED, 'no reset cycle of mcu_hold_boot');
  assert.equal(scmi(mon, P.RESET_DOMAIN, 4, [0, 1, 5]).status, S.NOT_SUPPORTED, 'only the context-loss reset');
  assert.equal(scmi(mon, P.CLOCK, 5, [0, 0, 1, 0]).status, S.NOT_SUPPORTED, 'fixed rates');
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 7, [3, 0, 1_234_567]).status, S.GENERIC_ERROR, 'not a level the regulator takes');
  assert.equal(scmi(mon, P.VOLTAGE_DOMAIN, 5, [3, 3]).status, S.INVALID_PARAMETERS, 'config neither on nor off');
  assert.equal(scmi(mon, 0x15, 0).status, S.NOT_SUPPORTED, 'sensor protocol');
  assert.equal(scmi(mon, P.CLOCK, 8, [0]).status, S.NOT_SUPPORTED, 'no message 8');
  assert.equal(scmi(mon, P.BASE, 7, [0]).status, S.NOT_SUPPORTED, 'no agent discovery');
  assert.equal(scmi(mon, P.CLOCK, 2, [8]).status, S.NOT_FOUND);
  assert.equal(scmi(monitor(MONITOR_SP_MIN).mon, P.VOLTAGE_DOMAIN, 0).status, S.NOT_SUPPORTED, 'SP_MIN has no voltage domains');
  // A channel with its free bit still set (nothing posted), and one whose length runs past the payload.
  const notPosted = smtMessage(mon.data, P.BASE, 0, new Uint8Array(0));
  new DataView(notPosted.buffer).setUint32(4, 1, true);
  const r1 = smtReply(smc(mon, [0x82002000], 0, notPosted).shm as Uint8Array);
  assert.deepEqual([r1.free, r1.error], [true, true]);
  const long = smtMessage(mon.data, P.BASE, 0, new Uint8Array(0));
  new DataView(long.buffer).setUint32(20, 4 + 93, true);
  assert.equal(smtReply(smc(mon, [0x82002000], 0, long).shm as Uint8Array).error, true);
  const short = smtMessage(mon.data, P.BASE, 0, new Uint8Array(0));
  new DataView(short.buffer).setUint32(20, 2, true);
  assert.equal(smtReply(smc(mon, [0x82002000], 0, short).shm as Uint8Array).error, true, 'a length shorter than the header');
});

test('SMC frames: decode checks the size and the reserved bytes; encode/decode round-trips', () => {
  const f = encodeSmc({ cpu: 1, regs: [PSCI_FN.VERSION, 1, 2, 3, 4, 5, 6, 7] });
  assert.deepEqual(decodeSmc(f, 128), { cpu: 1, regs: [PSCI_FN.VERSION, 1, 2, 3, 4, 5, 6, 7] });
  assert.equal(rseErrorOf(() => decodeSmc(f.subarray(0, 35), 128))?.code, 'E_COMMS');
  assert.equal(rseErrorOf(() => decodeSmc(new Uint8Array(36 + 64), 128))?.code, 'E_COMMS');
  const bad = f.slice();
  bad[2] = 1;
  assert.equal(rseErrorOf(() => decodeSmc(bad, 128))?.code, 'E_COMMS');
});

const KNOWN_FIDS = [
  ...Object.values(PSCI_FN),
  SMCCC.VERSION,
  SMCCC.ARCH_FEATURES,
  SMCCC.SIP_UID,
  SMCCC.SIP_CALL_COUNT,
  SMCCC.STD_CALL_COUNT,
  STM32_SIP.BSEC,
  0x82002000,
  0x82002001,
];
const PSCI_CODES = new Set<number>([...Object.values(PSCI_RET), 0x10000, 0x10001, 1, 2]);
const SCMI_CODES = new Set<number>(Object.values(SCMI_STATUS));

test('property: random SMC frames and SCMI messages get only defined replies and never throw anything but a typed refusal', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('optee', 'sp-min'),
      fc.array(
        fc.record({
          cpu: fc.nat(2),
          fid: fc.oneof(fc.constantFrom(...KNOWN_FIDS), fc.nat({ max: 0xffffffff })),
          args: fc.array(fc.oneof(fc.nat(12), fc.constantFrom(0xc0000000, 0x2ffc0000, 0x10000, 0xffffffff), fc.nat({ max: 0xffffffff })), {
            minLength: 7,
            maxLength: 7,
          }),
          protocol: fc.oneof(fc.constantFrom(0x10, 0x14, 0x16, 0x17), fc.nat(255)),
          message: fc.nat(12),
          payload: fc.array(fc.oneof(fc.nat(25), fc.nat({ max: 0xffffffff })), { maxLength: 24 }),
          status: fc.constantFrom(0, 0, 0, 1, 2, 3),
        }),
        { minLength: 1, maxLength: 25 },
      ),
      (name, calls) => {
        const m = name === 'optee' ? MONITOR_OPTEE : MONITOR_SP_MIN;
        const { mon } = monitor(m, ['CRYP1', 'RNG1']);
        for (const c of calls) {
          let shm: Uint8Array | undefined;
          if (c.fid === 0x82002000 || c.fid === 0x82002001) {
            const p = new Uint8Array(4 * c.payload.length);
            c.payload.forEach((w, i) => {
              new DataView(p.buffer).setUint32(4 * i, w >>> 0, true);
            });
            shm = smtMessage(m, c.protocol, c.message, p);
            new DataView(shm.buffer).setUint32(4, c.status, true);
          }
          let r: SmcResult;
          try {
            r = mon.call({ cpu: c.cpu, regs: [c.fid, ...c.args], ...(shm === undefined ? {} : { shm }) });
          } catch (e) {
            const err = rseErrorOf(() => {
              throw e;
            });
            assert.ok(err !== undefined && ['E_ACCESS', 'E_ARGUMENT'].includes(err.code), String(e));
            continue;
          }
          if (r.regs === undefined) {
            assert.ok(r.event !== undefined);
            continue;
          }
          assert.equal(r.regs.length, 8);
          for (const v of r.regs) assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
          const v0 = r.regs[0] as number;
          if (r.service === 'unknown') assert.equal(v0, SMCCC.NOT_SUPPORTED);
          if (r.service === 'psci' && c.fid !== PSCI_FN.VERSION) assert.ok(PSCI_CODES.has(v0 | 0), `PSCI answered ${v0}`);
          if (r.service === 'sip' && c.fid === STM32_SIP.BSEC)
            assert.ok([STM32_SIP.OK, STM32_SIP.FAILED, STM32_SIP.INVALID_PARAMS].includes(v0 as 0), `BSEC answered ${v0}`);
          if (r.service === 'scmi') {
            assert.equal(v0, STM32_SIP.OK);
            const rep = smtReply(r.shm as Uint8Array);
            assert.equal(rep.free, true, 'the channel is handed back');
            if (!rep.error) {
              assert.ok(SCMI_CODES.has(rep.status), `SCMI status ${rep.status}`);
              const len = new DataView((r.shm as Uint8Array).buffer).getUint32(20, true) - 4;
              assert.ok(len >= 4 && len <= m.scmi.shmSize - SMT_HEADER && len % 4 === 0, `reply length ${len}`);
            }
          }
        }
      },
    ),
    { numRuns: 400 },
  );
});
