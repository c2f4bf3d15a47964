/**
 * The TZC-400 in front of the STM32MP15 DDR: region 0 (the background, attributes only) and regions
 * 1..8 with base, inclusive top, secure read/write attributes, per-filter enables and NSAID read /
 * write enables. A secure access is checked against the region's secure attributes, a non-secure
 * one against its NSAID bits. An access matching two enabled regions fails (overlap). A failing
 * access reads zero and its write is dropped; the filter records the first failure (FAIL_ADDR,
 * FAIL_CONTROL, FAIL_ID, INT_STATUS) and flags later ones as overrun until cleared, and the ACTION
 * register says whether the master also gets a bus error, the interrupt fires, both or neither.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import type { AccessDecision, Master } from './etzpc.ts';

export const TZC_REGIONS = 9;
export const TZC_FILTERS = 2;
export const DDR_BASE = 0xc0000000;
export const DDR_MAX_SIZE = 0x40000000;

/** MP15 NSAIDs (stm32mp15-tzc400.h). */
export const NSAID: Readonly<Record<string, number>> = {
  A7: 0,
  M4: 1,
  LCD: 3,
  GPU: 4,
  MDMA: 5,
  DMA: 6,
  USB_HOST: 7,
  USB_OTG: 8,
  SDMMC: 9,
  ETH: 10,
  DAP: 15,
};
/** TZC_REGION_NSEC_ALL_ACCESS_RDWR: read and write for every NSAID above. */
export const NSEC_ALL_ACCESS_RDWR = Object.values(NSAID).reduce((m, id) => m | (1 << id) | (1 << (id + 16)), 0) >>> 0;

/** TZC_REGION_S_*: bit 0 secure read, bit 1 secure write (ATTRIBUTES bits 30 and 31). */
export type SecAttr = 0 | 1 | 2 | 3;
export const SEC_ATTR_NAMES = ['none', 'read', 'write', 'read-write'] as const;
export const ACTIONS = ['none', 'error', 'interrupt', 'error+interrupt'] as const;
export type Action = 0 | 1 | 2 | 3;

export interface TzcRegion {
  readonly base: number;
  /** Inclusive. */
  readonly top: number;
  readonly secAttr: SecAttr;
  /** Bit n: filter n enabled for this region. */
  readonly filters: number;
  /** ID_ACCESS: bits 0..15 NSAID read enables, 16..31 write enables. */
  readonly idAccess: number;
}

export interface TzcFailure {
  readonly addr: number;
  /** FAIL_CONTROL: bit 24 write, bit 21 non-secure, bit 20 privileged. */
  readonly control: number;
  /** The master's NSAID (the AXI id is not modelled). */
  readonly id: number;
}

export interface TzcState {
  readonly action: Action;
  readonly regions: readonly (TzcRegion | null)[];
  readonly failures: readonly (TzcFailure | null)[];
  readonly intStatus: number;
}

/** Which NSAID and filter a master's DDR accesses come through (the A7 on port 0, the M4 on port 1). */
export function masterPort(m: Master): { nsaid: number; filter: number; secure: boolean } {
  return m === 'm4'
    ? { nsaid: NSAID.M4 as number, filter: 1, secure: false }
    : { nsaid: NSAID.A7 as number, filter: 0, secure: m === 'a7-s' };
}

const refused = (msg: string, field: string): RseError => new RseError('E_ACCESS', msg, { field });
const hex = (n: number): string => `0x${n.toString(16)}`;

export class Tzc400 {
  action: Action;
  readonly regions: (TzcRegion | null)[];
  readonly failures: (TzcFailure | null)[];
  /** INT_STATUS: status [3:0], overrun [11:8], overlap [19:16]. */
  intStatus: number;

  /** TF-A's early state: region 0 secure read-write, nothing else, action error. */
  constructor(state?: TzcState) {
    this.action = 1;
    this.regions = new Array<TzcRegion | null>(TZC_REGIONS).fill(null);
    this.regions[0] = { base: 0, top: 0xffffffff, secAttr: 3, filters: 0b11, idAccess: 0 };
    this.failures = new Array<TzcFailure | null>(TZC_FILTERS).fill(null);
    this.intStatus = 0;
    if (state === undefined) return;
    if (!Array.isArray(state.regions) || state.regions.length !== TZC_REGIONS)
      throw new RseError('E_DEVICE', `TZC-400 state does not hold ${TZC_REGIONS} regions`, { field: 'tzc' });
    this.action = ([0, 1, 2, 3] as const).includes(state.action) ? state.action : 1;
    state.regions.forEach((r, i) => {
      this.regions[i] = r === null ? null : { ...r };
    });
    state.failures.forEach((f, i) => {
      if (i < TZC_FILTERS) this.failures[i] = f === null ? null : { ...f };
    });
    this.intStatus = state.intStatus >>> 0;
  }

  save(): TzcState {
    return { action: this.action, regions: [...this.regions], failures: [...this.failures], intStatus: this.intStatus };
  }

  setAction(action: Action, who: Master = 'a7-s'): void {
    if (who !== 'a7-s') throw refused(`TZC-400 registers are secure only (${who} wrote ACTION)`, 'tzc.action');
    this.action = action;
  }

  /** Region 0: only its attributes and NSAID enables change. */
  setBackground(secAttr: SecAttr, idAccess: number, who: Master = 'a7-s'): void {
    if (who !== 'a7-s') throw refused(`TZC-400 registers are secure only (${who} wrote region 0)`, 'tzc.region0');
    this.regions[0] = { base: 0, top: 0xffffffff, secAttr, filters: 0b11, idAccess: idAccess >>> 0 };
  }

  /**
   * Programs region n (1..8). Base and top + 1 on 4 KB boundaries, inside the DDR. A region whose
   * filters are enabled must be disabled before it changes (TF-A panics otherwise).
   */
  setRegion(n: number, r: TzcRegion, who: Master = 'a7-s'): void {
    if (!Number.isInteger(n) || n < 1 || n >= TZC_REGIONS)
      throw new RseError('E_CONFIG', `TZC-400 region ${n} does not exist (1..${TZC_REGIONS - 1}; 0 is the background)`, {
        field: 'tzc.region',
      });
    if (who !== 'a7-s') throw refused(`TZC-400 registers are secure only (${who} wrote region ${n})`, `tzc.region${n}`);
    const cur = this.regions[n];
    if (cur !== null && cur !== undefined && cur.filters !== 0 && r.filters !== 0)
      throw refused(`TZC-400 region ${n} is enabled (filters ${hex(cur.filters)}): disable it before reconfiguring`, `tzc.region${n}`);
    if (r.base % 0x1000 !== 0 || (r.top + 1) % 0x1000 !== 0 || r.top < r.base)
      throw new RseError('E_CONFIG', `TZC-400 region ${n}: ${hex(r.base)}..${hex(r.top)} is not 4 KB aligned`, {
        field: `tzc.region${n}`,
      });
    if (r.base < DDR_BASE || r.top > DDR_BASE + DDR_MAX_SIZE - 1)
      throw new RseError('E_CONFIG', `TZC-400 region ${n}: ${hex(r.base)}..${hex(r.top)} is outside the DDR`, { field: `tzc.region${n}` });
    if (r.filters >>> TZC_FILTERS !== 0)
      throw new RseError('E_CONFIG', `TZC-400 has ${TZC_FILTERS} filters; enables ${hex(r.filters)}`, { field: `tzc.region${n}` });
    this.regions[n] = { ...r, idAccess: r.idAccess >>> 0 };
  }

  disableRegion(n: number, who: Master = 'a7-s'): void {
    if (who !== 'a7-s') throw refused(`TZC-400 registers are secure only (${who} disabled region ${n})`, `tzc.region${n}`);
    const cur = this.regions[n];
    if (n >= 1 && n < TZC_REGIONS && cur !== null && cur !== undefined) this.regions[n] = { ...cur, filters: 0 };
  }

  /** INT_CLEAR for a filter: the recorded failure is released. */
  clear(filter: number): void {
    this.intStatus &= ~((1 << filter) | (1 << (filter + 8)) | (1 << (filter + 16)));
    this.failures[filter] = null;
  }

  /** The decision for one DDR access, without recording it. */
  decide(addr: number, master: Master, write: boolean): AccessDecision & { region: number; overlap: boolean } {
    const { nsaid, filter, secure } = masterPort(master);
    const hits: number[] = [];
    for (let n = 1; n < TZC_REGIONS; n++) {
      const r = this.regions[n];
      if (r && (r.filters >> filter) & 1 && addr >= r.base && addr <= r.top) hits.push(n);
    }
    if (hits.length > 1)
      return {
        allowed: false,
        region: hits[0] as number,
        overlap: true,
        rule: `TZC-400 regions ${hits.join(' and ')} overlap at ${hex(addr)}`,
      };
    const n = hits[0] ?? 0;
    const r = this.regions[n] as TzcRegion;
    const where = n === 0 ? 'TZC-400 region 0 (background)' : `TZC-400 region ${n} ${hex(r.base)}..${hex(r.top)}`;
    if (secure) {
      const ok = ((r.secAttr >> (write ? 1 : 0)) & 1) === 1;
      return { allowed: ok, region: n, overlap: false, rule: `${where}: secure ${SEC_ATTR_NAMES[r.secAttr]}` };
    }
    const ok = ((r.idAccess >>> (nsaid + (write ? 16 : 0))) & 1) === 1;
    const name = Object.keys(NSAID).find((k) => NSAID[k] === nsaid);
    return {
      allowed: ok,
      region: n,
      overlap: false,
      rule: `${where}: NSAID ${nsaid} (${name}) ${write ? 'write' : 'read'} ${ok ? 'enabled' : 'not enabled'}`,
    };
  }

  /**
   * One access as the hardware sees it: the master gets a bus error and the interrupt fires when
   * ACTION says so, and a failure is recorded (unless `record` is false: the decision alone).
   */
  access(addr: number, master: Master, write: boolean, record = true): AccessDecision & { busError: boolean; interrupt: boolean } {
    const d = this.decide(addr, master, write);
    if (d.allowed) return { allowed: true, rule: d.rule, busError: false, interrupt: false };
    const outcome = { allowed: false, rule: d.rule, busError: (this.action & 1) === 1, interrupt: (this.action & 2) === 2 };
    if (!record) return outcome;
    const { nsaid, filter, secure } = masterPort(master);
    if (d.overlap) this.intStatus |= 1 << (filter + 16);
    if ((this.intStatus >> filter) & 1) this.intStatus |= 1 << (filter + 8);
    else {
      this.intStatus |= 1 << filter;
      this.failures[filter] = { addr: addr >>> 0, control: ((write ? 1 << 24 : 0) | (secure ? 0 : 1 << 21)) >>> 0, id: nsaid };
    }
    return outcome;
  }
}
