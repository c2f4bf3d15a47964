/**
 * The STM32MP15 bus as the firewalls see it: each address decodes to the ROM or SYSRAM (TZMA
 * split), a DECPROT-guarded peripheral or SRAM (ETZPC), the DDR (TZC-400), a security block that
 * is secure only, or memory no firewall guards. A denied access reads zero and drops its write;
 * the violation is recorded as the hardware does (the TZC-400's FAIL registers and INT_STATUS;
 * for the ETZPC, the illegal-access event) and the master gets a bus error where the TZC-400's
 * ACTION asks for one.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { Etzpc, type EtzpcState, MASTERS, type Master, type Peripheral, peripheralAt, TZMA, type TzmaName } from './etzpc.ts';
import { SecureConfig, type SecureConfigState, type TampZones } from './secure-config.ts';
import { DDR_BASE, DDR_MAX_SIZE, Tzc400, type TzcState } from './tzc400.ts';

/** Register blocks outside the DECPROT list that only the secure world reaches. */
export const SECURE_BLOCKS: readonly { readonly name: string; readonly base: number; readonly size: number }[] = [
  { name: 'BSEC', base: 0x5c005000, size: 0x1000 },
  { name: 'TZC-400', base: 0x5c006000, size: 0x1000 },
  { name: 'ETZPC', base: 0x5c007000, size: 0x1000 },
];

export type Target =
  | { readonly kind: 'tzma'; readonly name: TzmaName }
  | { readonly kind: 'peripheral'; readonly peripheral: Peripheral }
  | { readonly kind: 'ddr' }
  | { readonly kind: 'secure-block'; readonly name: string }
  | { readonly kind: 'unguarded' };

export function decode(addr: number): Target {
  for (const [name, t] of Object.entries(TZMA) as [TzmaName, (typeof TZMA)[TzmaName]][])
    if (addr >= t.base && addr < t.base + t.size) return { kind: 'tzma', name };
  const p = peripheralAt(addr);
  if (p !== undefined) return { kind: 'peripheral', peripheral: p };
  if (addr >= DDR_BASE && addr < DDR_BASE + DDR_MAX_SIZE) return { kind: 'ddr' };
  const s = SECURE_BLOCKS.find((b) => addr >= b.base && addr < b.base + b.size);
  if (s !== undefined) return { kind: 'secure-block', name: s.name };
  return { kind: 'unguarded' };
}

export interface Violation {
  readonly master: Master;
  readonly addr: number;
  readonly write: boolean;
  readonly firewall: 'ETZPC' | 'TZC-400' | 'secure block' | 'secure configuration';
  readonly rule: string;
  /** What the master saw: a bus error, or zero read / write dropped. */
  readonly response: 'bus error' | 'read as zero' | 'write ignored';
  readonly interrupt: boolean;
}

export interface AccessResult {
  readonly allowed: boolean;
  readonly master: Master;
  readonly addr: number;
  readonly write: boolean;
  readonly target: string;
  readonly rule: string;
  readonly violation?: Violation;
}

export interface FirewallState {
  readonly etzpc: EtzpcState;
  readonly tzc: TzcState;
  readonly violations: readonly Violation[];
  /** The secure restrictions of RCC, PWR, RTC, TAMP, GPIOZ, EXTI, GIC and MDMA (absent: reset values). */
  readonly secureConfig?: SecureConfigState;
}

export function parseMaster(s: string): Master {
  if (!(MASTERS as readonly string[]).includes(s))
    throw new RseError('E_ARGUMENT', `master is one of ${MASTERS.join(', ')}, not ${s}`, { field: 'master' });
  return s as Master;
}

export class Mp1Bus {
  readonly etzpc: Etzpc;
  readonly tzc: Tzc400;
  readonly violations: Violation[];
  readonly secure: SecureConfig;
  /** The TAMP whose backup-register zones TAMP_SMCR sets (the device's). */
  tamp: TampZones | undefined;

  constructor(state?: FirewallState) {
    this.etzpc = new Etzpc(state?.etzpc);
    this.tzc = new Tzc400(state?.tzc);
    this.violations = state === undefined ? [] : state.violations.map((v) => ({ ...v }));
    this.secure = new SecureConfig(state?.secureConfig);
  }

  save(): FirewallState {
    return { etzpc: this.etzpc.save(), tzc: this.tzc.save(), violations: [...this.violations], secureConfig: this.secure.save() };
  }

  /** The decision alone: nothing recorded, nothing changed. */
  check(master: Master, addr: number, write: boolean, value?: number): AccessResult {
    return this.run(master, addr, write, false, value);
  }

  /**
   * One access on the bus: a denied one is recorded; a secure write of `value` to a register that
   * sets a secure restriction (RCC_TZCR, RTC_SMCR, TAMP_SMCR, GPIOZ_SECCFGR, EXTI_TZENRx,
   * GICD_IGROUPRx, MDMA_CxCR) changes it.
   */
  access(master: Master, addr: number, write: boolean, value?: number): AccessResult {
    return this.run(master, addr, write, true, value);
  }

  private run(master: Master, addr: number, write: boolean, record: boolean, value?: number): AccessResult {
    if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff)
      throw new RseError('E_ARGUMENT', `address ${addr} is not a 32-bit address`, { field: 'addr' });
    const t = decode(addr);
    const base = { master, addr, write };
    const silent = write ? ('write ignored' as const) : ('read as zero' as const);
    const deny = (
      target: string,
      rule: string,
      firewall: Violation['firewall'],
      response: Violation['response'],
      interrupt: boolean,
    ): AccessResult => {
      const violation: Violation = { ...base, firewall, rule, response, interrupt };
      if (record) this.violations.push(violation);
      return { ...base, allowed: false, target, rule, violation };
    };
    switch (t.kind) {
      case 'tzma': {
        const d = this.etzpc.checkTzma(t.name, addr, master);
        return d.allowed
          ? { ...base, allowed: true, target: t.name.toUpperCase(), rule: d.rule }
          : deny(t.name.toUpperCase(), d.rule, 'ETZPC', silent, false);
      }
      case 'peripheral': {
        const p = t.peripheral;
        const d = this.etzpc.checkPeripheral(p, master, write);
        if (!d.allowed) return deny(p.name, d.rule, 'ETZPC', silent, false);
        const s = this.secureRule(master, addr, write, record, value);
        if (s === undefined) return { ...base, allowed: true, target: p.name, rule: d.rule };
        return s.allowed
          ? { ...base, allowed: true, target: s.target, rule: `${d.rule}; ${s.rule}` }
          : deny(s.target, s.rule, 'secure configuration', silent, false);
      }
      case 'ddr': {
        const d = this.tzc.access(addr, master, write, record);
        return d.allowed
          ? { ...base, allowed: true, target: 'DDR', rule: d.rule }
          : deny('DDR', d.rule, 'TZC-400', d.busError ? 'bus error' : silent, d.interrupt);
      }
      case 'secure-block':
        return master === 'a7-s'
          ? { ...base, allowed: true, target: t.name, rule: `${t.name} registers: secure only` }
          : deny(t.name, `${t.name} registers: secure only`, 'secure block', 'bus error', false);
      case 'unguarded': {
        const s = this.secureRule(master, addr, write, record, value);
        if (s === undefined) break;
        return s.allowed
          ? { ...base, allowed: true, target: s.target, rule: s.rule }
          : deny(s.target, s.rule, 'secure configuration', silent, false);
      }
    }
    return { ...base, allowed: true, target: 'unguarded', rule: `no firewall guards 0x${addr.toString(16)}` };
  }

  private secureRule(master: Master, addr: number, write: boolean, apply: boolean, value: number | undefined) {
    return this.secure.decide(master, addr, write, {
      etzpc: this.etzpc,
      tamp: this.tamp,
      apply,
      ...(value === undefined ? {} : { value }),
    });
  }
}
