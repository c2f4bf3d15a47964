/**
 * The STM32MP15 secure monitor at run time: what the normal world's `smc` reaches once the FSBL
 * handed over. One call is the AArch32 register file r0..r7 (SMC32: r0 the function id) from
 * one of the two Cortex-A7 cores, plus the agent's SCMI shared-memory channel when r0 rings an
 * SCMI doorbell; the reply is the register file as the monitor leaves it (registers it does not
 * write keep the caller's values) and the channel after the call.
 *
 * Served: SMCCC (version, arch features), the standard service (PSCI, its call count, UID,
 * revision), ST's SiP service (call count, UID, revision, BSEC OTP access, the SCMI doorbells).
 * What differs between OP-TEE and TF-A SP_MIN is data (`profiles/stm32-monitor.ts`). The state
 * (cores, clocks, resets, regulator votes) persists with the device; a fuse burnt through the SiP
 * service is a real fuse.
 * @module
 */
import { isRseError, RseError } from '../lib/errors.ts';
import {
  BSEC_CMD,
  type BsecCommand,
  type Gate,
  MONITORS,
  type MonitorData,
  PSCI_FN,
  PSCI_RET,
  type PsciFunction,
  SMCCC,
  STM32_SIP,
} from '../profiles/stm32-monitor.ts';
import { BSEC_WORDS, type Bsec, LOWER_WORDS } from './bsec.ts';
import type { Etzpc } from './etzpc.ts';
import { peripheral } from './etzpc.ts';
import { initialAgentState, type ScmiAgentState, type ScmiTrace, scmiSmtEntry } from './scmi.ts';

export const CORES = 2;
export type CoreState = 'off' | 'on';

/** What the monitor keeps between calls (in `device.json`). */
export interface MonitorState {
  readonly monitor: string;
  readonly cores: CoreState[];
  readonly agents: ScmiAgentState[];
  calls: number;
  /** Set by SYSTEM_OFF / SYSTEM_RESET or a monitor panic: nothing answers until the next boot. */
  halted?: string;
}

export function monitorData(name: string): MonitorData {
  const m = MONITORS.find((x) => x.name === name);
  if (m === undefined)
    throw new RseError('E_ARGUMENT', `no secure monitor "${name}" (${MONITORS.map((x) => x.name).join(', ')})`, { field: 'monitor' });
  return m;
}

/** The state the monitor starts with at the hand-over: core 0 running, core 1 held off, the resource lists' initial states. */
export function initialMonitorState(m: MonitorData): MonitorState {
  return { monitor: m.name, cores: ['on', 'off'], agents: m.scmi.agents.map(initialAgentState), calls: 0 };
}

/** One call in. */
export interface SmcCall {
  readonly cpu: number;
  /** r0..r7 (unsigned 32-bit). */
  readonly regs: readonly number[];
  /** The SCMI channel's bytes (only read for an SCMI doorbell). */
  readonly shm?: Uint8Array;
}

/** What the call did. */
export interface SmcResult {
  /** r0..r7 as the monitor leaves them (undefined: the call does not return, see `event`). */
  readonly regs?: readonly number[];
  readonly shm?: Uint8Array;
  /** The service that answered, and a one-line account of what it did. */
  readonly service: 'smccc' | 'psci' | 'sip' | 'scmi' | 'unknown';
  readonly detail: string;
  /** A call that does not return: a core powered off, the SoC reset or off, a monitor panic. */
  readonly event?: string;
  readonly scmi?: ScmiTrace;
}

/** Whether the normal world reaches a gated resource: always, never, or while its ETZPC DECPROT is NS_RW. */
export function gateOpen(etzpc: Etzpc, g: Gate): boolean {
  if (g === 'always') return true;
  if (g === 'never') return false;
  return etzpc.decprot[peripheral(g.etzpc).id] === 'NS_RW';
}

const PSCI_BY_ID = new Map<number, PsciFunction>((Object.entries(PSCI_FN) as [PsciFunction, number][]).map(([k, v]) => [v, k]));
const BSEC_BY_ID = new Map<number, BsecCommand>((Object.entries(BSEC_CMD) as [BsecCommand, number][]).map(([k, v]) => [v, k]));
const u32 = (n: number): number => n >>> 0;
const hex = (n: number): string => `0x${u32(n).toString(16).padStart(8, '0')}`;

/** The core an MPIDR names (aff0; one cluster, aff1 and aff2 zero), or -1 when the SoC has none. */
export function corePos(mpidr: number): number {
  const aff0 = mpidr & 0xff;
  return (u32(mpidr) & 0xffff00) === 0 && aff0 < CORES ? aff0 : -1;
}

/** A kept state that fits the monitor's resource lists (one entry per clock, reset and regulator of each agent), else `E_DEVICE`. */
function checkState(m: MonitorData, st: MonitorState): void {
  const fits =
    st.cores.length === CORES &&
    st.agents.length === m.scmi.agents.length &&
    m.scmi.agents.every((a, i) => {
      const s = st.agents[i] as ScmiAgentState;
      return s.clocks.length === a.clocks.length && s.resets.length === a.resets.length && s.voltages.length === a.voltages.length;
    });
  if (!fits)
    throw new RseError('E_DEVICE', `the kept secure-monitor state does not fit ${m.name}'s resource lists`, { field: 'runtime.monitor' });
}

export class SecureMonitor {
  readonly data: MonitorData;
  readonly state: MonitorState;
  private readonly bsec: Bsec;
  private readonly etzpc: Etzpc;

  constructor(state: MonitorState, bsec: Bsec, etzpc: Etzpc) {
    this.data = monitorData(state.monitor);
    checkState(this.data, state);
    this.state = state;
    this.bsec = bsec;
    this.etzpc = etzpc;
  }

  /** One SMC. Refused (E_ACCESS) from a core that is off or once the SoC stopped; malformed frames never reach here. */
  call(c: SmcCall): SmcResult {
    const st = this.state;
    if (st.halted !== undefined) throw new RseError('E_ACCESS', `the SoC is stopped (${st.halted}): boot it again`, { field: 'device' });
    if (!Number.isInteger(c.cpu) || c.cpu < 0 || c.cpu >= CORES)
      throw new RseError('E_ARGUMENT', `core ${c.cpu} does not exist (0..${CORES - 1})`, { field: 'cpu' });
    if (st.cores[c.cpu] !== 'on') throw new RseError('E_ACCESS', `core ${c.cpu} is off: it cannot issue an SMC`, { field: 'cpu' });
    if (c.regs.length !== 8) throw new RseError('E_ARGUMENT', 'an SMC carries r0..r7', { field: 'regs' });
    st.calls++;
    const regs = c.regs.map(u32);
    const fid = regs[0] as number;
    const done = (service: SmcResult['service'], detail: string, ...results: number[]): SmcResult => {
      results.forEach((v, i) => {
        regs[i] = u32(v);
      });
      return { regs, service, detail };
    };
    const m = this.data;
    if (fid === SMCCC.VERSION) return done('smccc', `SMCCC version ${m.smcccVersion >>> 16}.${m.smcccVersion & 0xffff}`, m.smcccVersion);
    if (fid === SMCCC.ARCH_FEATURES) {
      const f = regs[1] as number;
      const ok = f === SMCCC.VERSION || f === SMCCC.ARCH_SOC_ID;
      return done('smccc', `arch features ${hex(f)}: ${ok ? 'present' : 'not supported'}`, ok ? SMCCC.SUCCESS : SMCCC.NOT_SUPPORTED);
    }
    if (fid === SMCCC.ARCH_WORKAROUND_1 || fid === SMCCC.ARCH_WORKAROUND_2)
      return done('smccc', 'Cortex-A7: workaround not required', SMCCC.NOT_REQUIRED);
    if (fid === SMCCC.STD_CALL_COUNT) return done('smccc', `standard service: ${m.psci.callCount} calls`, m.psci.callCount);
    if (fid === SMCCC.STD_REVISION) return done('smccc', 'standard service revision 0.1', 0, 1);
    if (PSCI_BY_ID.has(fid)) return this.psci(c.cpu, regs, PSCI_BY_ID.get(fid) as PsciFunction);
    if (fid === SMCCC.SIP_CALL_COUNT) return done('sip', `SiP service: ${m.sip.callCount} calls`, m.sip.callCount);
    if (fid === SMCCC.SIP_UID) return done('sip', 'SiP UID a778aa50-f49b-144a-8a5e-264d5994c214', ...STM32_SIP.UID);
    if (fid === SMCCC.SIP_REVISION) return done('sip', 'SiP revision 0.1', ...STM32_SIP.REVISION);
    if (fid === STM32_SIP.BSEC) return this.bsecCall(regs);
    const agent = m.scmi.agents.findIndex((a) => a.fid === fid);
    if (agent >= 0) {
      const shm = new Uint8Array(m.scmi.shmSize);
      if (c.shm !== undefined) shm.set(c.shm.subarray(0, shm.length));
      const trace = scmiSmtEntry(m, agent, this.state.agents[agent] as ScmiAgentState, (g) => gateOpen(this.etzpc, g), shm);
      regs[0] = STM32_SIP.OK;
      const what =
        trace.channelError !== undefined
          ? `channel error: ${trace.channelError}`
          : `protocol 0x${trace.protocol.toString(16)} message ${trace.message}: status ${trace.status}`;
      return { regs, shm, service: 'scmi', detail: `SCMI agent ${agent}: ${what}`, scmi: trace };
    }
    return done('unknown', `function ${hex(fid)} is not implemented`, SMCCC.NOT_SUPPORTED);
  }

  private psci(cpu: number, regs: number[], fn: PsciFunction): SmcResult {
    const p = this.data.psci;
    const st = this.state;
    const ret = (v: number, detail: string): SmcResult => {
      regs[0] = u32(v);
      return { regs, service: 'psci', detail: `PSCI ${fn}: ${detail}` };
    };
    if (!p.functions.includes(fn)) return ret(PSCI_RET.NOT_SUPPORTED, 'not supported by this monitor');
    if (p.panics?.includes(fn)) {
      st.halted = `monitor panic in ${fn}: the platform port does not handle it`;
      return { service: 'psci', detail: `PSCI ${fn}: ${st.halted}`, event: st.halted };
    }
    const [, a1 = 0, a2 = 0] = regs;
    switch (fn) {
      case 'VERSION':
        return ret(p.version, `${p.version >>> 16}.${p.version & 0xffff}`);
      case 'FEATURES': {
        const f = PSCI_BY_ID.get(a1);
        const ok = a1 === SMCCC.VERSION || (f !== undefined && (p.features ?? p.functions).includes(f));
        return ret(ok ? PSCI_RET.SUCCESS : PSCI_RET.NOT_SUPPORTED, `${f ?? hex(a1)} ${ok ? 'present' : 'not supported'}`);
      }
      case 'AFFINITY_INFO': {
        const pos = corePos(a1);
        if (pos < 0 || a2 > 0) return ret(PSCI_RET.INVALID_PARAMETERS, `no core ${hex(a1)} at level ${a2}`);
        return ret(st.cores[pos] === 'on' ? 0 : 1, `core ${pos} ${st.cores[pos]}`);
      }
      case 'CPU_ON': {
        const pos = corePos(a1);
        // The target first, then the entry point (TF-A's order).
        if (pos < 0) return ret(PSCI_RET.INVALID_PARAMETERS, `no core ${hex(a1)}`);
        if (p.entryFloor !== undefined && a2 < p.entryFloor)
          return ret(PSCI_RET.INVALID_ADDRESS, `entry ${hex(a2)} is below DDR (${hex(p.entryFloor)})`);
        if (pos === 0) return ret(PSCI_RET[p.cpuOnBootCore], 'core 0 is the boot core and runs');
        if (st.cores[pos] === 'on') return ret(PSCI_RET.ALREADY_ON, `core ${pos} is already on`);
        st.cores[pos] = 'on';
        return ret(PSCI_RET.SUCCESS, `core ${pos} released at ${hex(a2)}`);
      }
      case 'CPU_OFF':
        if (cpu === 0) return ret(PSCI_RET.INTERNAL_FAILURE, 'core 0 cannot be powered off');
        st.cores[cpu] = 'off';
        return { service: 'psci', detail: `PSCI CPU_OFF: core ${cpu} powered off`, event: `core ${cpu} powered off` };
      case 'CPU_SUSPEND': {
        // Standby only: state type 0 (bit 16), level 0 (bits 25:24), state id 0.
        if (a1 !== 0) return ret(PSCI_RET.INVALID_PARAMETERS, `power state ${hex(a1)}: only standby (0) is offered`);
        return ret(PSCI_RET.SUCCESS, `core ${cpu} entered standby and woke on an interrupt`);
      }
      case 'MIGRATE_INFO_TYPE':
        return ret(2, 'no trusted OS needing migration');
      case 'NODE_HW_STATE':
        if (corePos(a1) < 0 || a2 !== 0) return ret(PSCI_RET.INVALID_PARAMETERS, 'level 0 of a core only');
        return ret(0, 'HW_ON');
      case 'SYSTEM_OFF':
        st.halted = 'system off (PMIC switched off)';
        return { service: 'psci', detail: 'PSCI SYSTEM_OFF: the PMIC switched the board off', event: st.halted };
      default:
        st.halted = 'system reset (RCC MPSYSRST)';
        return { service: 'psci', detail: 'PSCI SYSTEM_RESET: the SoC resets', event: st.halted };
    }
  }

  private bsecCall(regs: number[]): SmcResult {
    const m = this.data;
    const [, cmdId = 0, otp = 0, value = 0] = regs;
    const cmd = BSEC_BY_ID.get(cmdId);
    const ret = (r0: number, detail: string, r1?: number): SmcResult => {
      regs[0] = r0;
      if (r1 !== undefined) regs[1] = u32(r1);
      else if (m.sip.x1AfterWrite === 'zero') regs[1] = 0;
      return { regs, service: 'sip', detail: `BSEC ${cmd ?? `command ${cmdId}`} OTP ${otp}: ${detail}` };
    };
    const nsOk = otp < LOWER_WORDS || (otp < BSEC_WORDS && this.bsec.nonSecureReadable(otp));
    if (m.sip.nsOtpCheck && !nsOk) return ret(STM32_SIP.INVALID_PARAMS, 'secure-only word: refused to the normal world');
    if (cmd === undefined || !m.sip.bsec.includes(cmd)) return ret(STM32_SIP.INVALID_PARAMS, 'no such BSEC command');
    if (otp >= BSEC_WORDS) return ret(STM32_SIP.FAILED, `no word ${otp} (0..${BSEC_WORDS - 1})`);
    // The monitor is secure: it does the access on the normal world's behalf.
    try {
      switch (cmd) {
        case 'READ_SHADOW': {
          const v = this.bsec.read(otp);
          return ret(STM32_SIP.OK, `shadow ${hex(v)}`, v);
        }
        case 'READ_OTP': {
          const keep = this.bsec.read(otp);
          const v = this.bsec.reload(otp);
          // The shadow gets its old value back (refused, and the call FAILED, under a shadow write lock).
          this.bsec.writeShadow(otp, keep);
          return ret(STM32_SIP.OK, `fuse ${hex(v)}`, v);
        }
        case 'PROG_OTP':
          this.bsec.program(otp, value);
          return ret(STM32_SIP.OK, `burnt ${hex(value)} (fuse now ${hex(this.bsec.fuse(otp))})`);
        case 'WRITE_SHADOW':
          this.bsec.writeShadow(otp, value);
          return ret(STM32_SIP.OK, `shadow set to ${hex(value)}`);
        default:
          this.bsec.lockPermanently(otp);
          return ret(STM32_SIP.OK, 'permanently write-locked');
      }
    } catch (e) {
      if (isRseError(e)) return ret(STM32_SIP.FAILED, e.message);
      throw e;
    }
  }
}
