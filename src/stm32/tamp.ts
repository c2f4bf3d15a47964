/**
 * The STM32MP15 TAMP: 32 backup registers in three protection zones, the monotonic counter, and
 * the tamper inputs. A confirmed tamper (NOER = 0) erases the backup registers and the secrets the
 * backup domain guards (the backup SRAM); a potential tamper (NOER = 1) hides them instead (reads
 * give zero, writes are dropped) until software clears the flags or confirms the erase (BKERASE).
 * The backup domain survives resets (VBAT), so this state is kept with the device.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import type { Master } from './etzpc.ts';

export const BACKUP_REGISTERS = 32;
export const BKPSRAM_SIZE = 4096;

/** Tamper sources: external ETAMP1..3, internal ITAMP1..5 and 8 (MP15). */
export const TAMPER_SOURCES = {
  etamp1: 'external tamper pin 1',
  etamp2: 'external tamper pin 2',
  etamp3: 'external tamper pin 3',
  itamp1: 'RTC power domain supply monitor',
  itamp2: 'temperature monitor',
  itamp3: 'LSE monitor',
  itamp4: 'HSE monitor',
  itamp5: 'RTC calendar overflow',
  itamp8: 'monotonic counter overflow',
} as const;
export type TamperSource = keyof typeof TAMPER_SOURCES;

export interface TampState {
  readonly backup: readonly number[];
  /** SMCR: BKPRWDPROT (end of zone 1) and BKPWDPROT (end of zone 2), in registers. */
  readonly zone1End: number;
  readonly zone2End: number;
  readonly counter: number;
  readonly enabled: readonly TamperSource[];
  /** Sources in "potential tamper" mode (NOER = 1): secrets hidden, not erased. */
  readonly noErase: readonly TamperSource[];
  /** Tamper flags raised and not cleared (SR). */
  readonly flags: readonly TamperSource[];
}

export interface TamperOutcome {
  readonly source: TamperSource;
  readonly detected: boolean;
  readonly action: 'ignored (not enabled)' | 'erased' | 'hidden until flags are cleared';
}

const denied = (msg: string, field: string): RseError => new RseError('E_ACCESS', msg, { field });

export function parseTamperSource(s: string): TamperSource {
  const k = s.toLowerCase();
  if (!Object.hasOwn(TAMPER_SOURCES, k))
    throw new RseError('E_ARGUMENT', `tamper source is one of ${Object.keys(TAMPER_SOURCES).join(', ')}, not ${s}`, { field: 'source' });
  return k as TamperSource;
}

export class Tamp {
  readonly backup: Uint32Array;
  /** The backup SRAM: the secrets a tamper erases with the registers. */
  readonly bkpsram: Uint8Array;
  zone1End: number;
  zone2End: number;
  counter: number;
  readonly enabled: Set<TamperSource>;
  readonly noErase: Set<TamperSource>;
  readonly flags: Set<TamperSource>;

  constructor(state?: TampState, bkpsram?: Uint8Array) {
    this.backup = new Uint32Array(BACKUP_REGISTERS);
    this.bkpsram = new Uint8Array(BKPSRAM_SIZE);
    this.zone1End = 0;
    this.zone2End = 0;
    this.counter = 0;
    this.enabled = new Set();
    this.noErase = new Set();
    this.flags = new Set();
    if (bkpsram !== undefined) {
      if (bkpsram.length !== BKPSRAM_SIZE)
        throw new RseError('E_DEVICE', `backup SRAM image is ${bkpsram.length} bytes, not ${BKPSRAM_SIZE}`, { field: 'bkpsram' });
      this.bkpsram.set(bkpsram);
    }
    if (state === undefined) return;
    if (!Array.isArray(state.backup) || state.backup.length !== BACKUP_REGISTERS)
      throw new RseError('E_DEVICE', `TAMP state holds ${BACKUP_REGISTERS} backup registers`, { field: 'tamp' });
    state.backup.forEach((v, i) => {
      this.backup[i] = v >>> 0;
    });
    this.setZones(state.zone1End, state.zone2End);
    this.counter = Number.isInteger(state.counter) ? state.counter >>> 0 : 0;
    const sources = (l: readonly string[] | undefined): TamperSource[] =>
      Array.isArray(l) ? l.filter((s): s is TamperSource => Object.hasOwn(TAMPER_SOURCES, s)) : [];
    for (const s of sources(state.enabled)) this.enabled.add(s);
    for (const s of sources(state.noErase)) this.noErase.add(s);
    for (const s of sources(state.flags)) this.flags.add(s);
  }

  save(): TampState {
    return {
      backup: [...this.backup],
      zone1End: this.zone1End,
      zone2End: this.zone2End,
      counter: this.counter,
      enabled: [...this.enabled],
      noErase: [...this.noErase],
      flags: [...this.flags],
    };
  }

  /** SMCR zone bounds (secure only). */
  setZones(zone1End: number, zone2End: number, who: Master = 'a7-s'): void {
    if (who !== 'a7-s') throw denied('TAMP SMCR is secure only', 'tamp.smcr');
    if (!Number.isInteger(zone1End) || !Number.isInteger(zone2End) || zone1End < 0 || zone2End < zone1End || zone2End > BACKUP_REGISTERS)
      throw new RseError('E_ARGUMENT', `zones need 0 <= zone 1 end (${zone1End}) <= zone 2 end (${zone2End}) <= ${BACKUP_REGISTERS}`, {
        field: 'tamp.smcr',
      });
    this.zone1End = zone1End;
    this.zone2End = zone2End;
  }

  zoneOf(n: number): 1 | 2 | 3 {
    return n < this.zone1End ? 1 : n < this.zone2End ? 2 : 3;
  }

  private index(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n >= BACKUP_REGISTERS)
      throw new RseError('E_ARGUMENT', `backup register ${n} does not exist (0..${BACKUP_REGISTERS - 1})`, { field: 'tamp.bkp' });
    return n;
  }

  /** Secrets are hidden while a potential tamper's flag is up. */
  get hidden(): boolean {
    return [...this.flags].some((f) => this.noErase.has(f));
  }

  read(n: number, who: Master = 'a7-s'): number {
    this.index(n);
    if (who !== 'a7-s' && this.zoneOf(n) === 1)
      throw denied(`backup register ${n} is in zone 1: secure read-write, no non-secure access`, `tamp.bkp${n}`);
    return this.hidden ? 0 : (this.backup[n] as number);
  }

  write(n: number, value: number, who: Master = 'a7-s'): void {
    this.index(n);
    const z = this.zoneOf(n);
    if (who !== 'a7-s' && z !== 3)
      throw denied(`backup register ${n} is in zone ${z}: ${z === 1 ? 'no non-secure access' : 'non-secure read only'}`, `tamp.bkp${n}`);
    if (this.hidden) return;
    this.backup[n] = value >>> 0;
  }

  /** COUNTR: any write increments it; it never rolls over, and reaching the top fires ITAMP8. */
  incrementCounter(): TamperOutcome | undefined {
    if (this.counter === 0xffffffff) return undefined;
    this.counter++;
    return this.counter === 0xffffffff ? this.tamper('itamp8') : undefined;
  }

  /** A tamper event from `source`. */
  tamper(source: TamperSource): TamperOutcome {
    if (!this.enabled.has(source)) return { source, detected: false, action: 'ignored (not enabled)' };
    this.flags.add(source);
    if (this.noErase.has(source)) return { source, detected: true, action: 'hidden until flags are cleared' };
    this.erase();
    return { source, detected: true, action: 'erased' };
  }

  /** SCR: clears the flags; hidden secrets come back. */
  clearFlags(): void {
    this.flags.clear();
  }

  /** CR2.BKERASE, or a confirmed tamper: the backup registers and the backup SRAM are erased. */
  erase(): void {
    this.backup.fill(0);
    this.bkpsram.fill(0);
  }
}
