/**
 * The STM32MP15 ETZPC: one DECPROT field (2 bits) and one lock bit per securable peripheral (96
 * ids), and the TZMA0 (ROM) / TZMA1 (SYSRAM) splits in 4 KB pages. Locks hold until reset. The
 * registers themselves are secure only.
 * @module
 */
import { RseError } from '../lib/errors.ts';

export const ETZPC_IDS = 96;

/** DECPROT values, by their ST names. */
export const DECPROT_MODES = ['S_RW', 'NS_R_S_W', 'MCU_ISOLATION', 'NS_RW'] as const;
export type DecprotMode = (typeof DECPROT_MODES)[number];

/** The bus masters the firewalls tell apart: the Cortex-A7 in each world and the Cortex-M4 (non-secure). */
export const MASTERS = ['a7-s', 'a7-ns', 'm4'] as const;
export type Master = (typeof MASTERS)[number];
export const isSecureMaster = (m: Master): boolean => m === 'a7-s';

export interface Peripheral {
  readonly id: number;
  readonly name: string;
  readonly base: number;
  readonly size: number;
}

const K4 = 0x1000;
/** MP15 ETZPC ids with the peripheral's address window (RM0436 memory map). Reserved ids are absent. */
export const MP15_PERIPHERALS: readonly Peripheral[] = (
  [
    [0, 'STGENC', 0x5c008000, K4],
    [1, 'BKPSRAM', 0x54000000, K4],
    [2, 'IWDG1', 0x5c003000, K4],
    [3, 'USART1', 0x5c000000, K4],
    [4, 'SPI6', 0x5c001000, K4],
    [5, 'I2C4', 0x5c002000, K4],
    [6, 'GPIOZ', 0x54004000, K4],
    [7, 'RNG1', 0x54003000, K4],
    [8, 'HASH1', 0x54002000, K4],
    [9, 'CRYP1', 0x54001000, K4],
    [10, 'DDRCTRL', 0x5a003000, K4],
    [11, 'DDRPHYC', 0x5a004000, K4],
    [12, 'I2C6', 0x5c009000, K4],
    [16, 'TIM2', 0x40000000, K4],
    [17, 'TIM3', 0x40001000, K4],
    [18, 'TIM4', 0x40002000, K4],
    [19, 'TIM5', 0x40003000, K4],
    [20, 'TIM6', 0x40004000, K4],
    [21, 'TIM7', 0x40005000, K4],
    [22, 'TIM12', 0x40006000, K4],
    [23, 'TIM13', 0x40007000, K4],
    [24, 'TIM14', 0x40008000, K4],
    [25, 'LPTIM1', 0x40009000, K4],
    [26, 'WWDG1', 0x4000a000, K4],
    [27, 'SPI2', 0x4000b000, K4],
    [28, 'SPI3', 0x4000c000, K4],
    [29, 'SPDIFRX', 0x4000d000, K4],
    [30, 'USART2', 0x4000e000, K4],
    [31, 'USART3', 0x4000f000, K4],
    [32, 'UART4', 0x40010000, K4],
    [33, 'UART5', 0x40011000, K4],
    [34, 'I2C1', 0x40012000, K4],
    [35, 'I2C2', 0x40013000, K4],
    [36, 'I2C3', 0x40014000, K4],
    [37, 'I2C5', 0x40015000, K4],
    [38, 'CEC', 0x40016000, K4],
    [39, 'DAC', 0x40017000, K4],
    [40, 'UART7', 0x40018000, K4],
    [41, 'UART8', 0x40019000, K4],
    [44, 'MDIOS', 0x4001c000, K4],
    [48, 'TIM1', 0x44000000, K4],
    [49, 'TIM8', 0x44001000, K4],
    [51, 'USART6', 0x44003000, K4],
    [52, 'SPI1', 0x44004000, K4],
    [53, 'SPI4', 0x44005000, K4],
    [54, 'TIM15', 0x44006000, K4],
    [55, 'TIM16', 0x44007000, K4],
    [56, 'TIM17', 0x44008000, K4],
    [57, 'SPI5', 0x44009000, K4],
    [58, 'SAI1', 0x4400a000, K4],
    [59, 'SAI2', 0x4400b000, K4],
    [60, 'SAI3', 0x4400c000, K4],
    [61, 'DFSDM', 0x4400d000, K4],
    [62, 'TT_FDCAN', 0x4400e000, K4],
    [64, 'LPTIM2', 0x50021000, K4],
    [65, 'LPTIM3', 0x50022000, K4],
    [66, 'LPTIM4', 0x50023000, K4],
    [67, 'LPTIM5', 0x50024000, K4],
    [68, 'SAI4', 0x50027000, K4],
    [69, 'VREFBUF', 0x50025000, K4],
    [70, 'DCMI', 0x4c006000, K4],
    [71, 'CRC2', 0x4c004000, K4],
    [72, 'ADC', 0x48003000, K4],
    [73, 'HASH2', 0x4c002000, K4],
    [74, 'RNG2', 0x4c003000, K4],
    [75, 'CRYP2', 0x4c005000, K4],
    [80, 'SRAM1', 0x30000000, 0x20000],
    [81, 'SRAM2', 0x30020000, 0x20000],
    [82, 'SRAM3', 0x30040000, 0x10000],
    [83, 'SRAM4', 0x30050000, 0x10000],
    [84, 'RETRAM', 0x38000000, 0x10000],
    [85, 'OTG', 0x49000000, 0x10000],
    [86, 'SDMMC3', 0x48004000, K4],
    [87, 'DLYBSD3', 0x48005000, K4],
    [88, 'DMA1', 0x48000000, K4],
    [89, 'DMA2', 0x48001000, K4],
    [90, 'DMAMUX', 0x48002000, K4],
    [91, 'FMC', 0x58002000, K4],
    [92, 'QSPI', 0x58003000, K4],
    [93, 'DLYBQ', 0x58004000, K4],
    [94, 'ETH', 0x5800a000, 0x2000],
  ] as const
).map(([id, name, base, size]) => ({ id, name, base, size }));

const BY_ID = new Map(MP15_PERIPHERALS.map((p) => [p.id, p]));
const BY_NAME = new Map(MP15_PERIPHERALS.map((p) => [p.name, p]));

/** A peripheral by id, by name (`USART1`, `STM32MP1_ETZPC_USART1_ID`), case-insensitive. */
export function peripheral(ref: number | string): Peripheral {
  if (typeof ref === 'number') {
    const p = BY_ID.get(ref);
    if (p === undefined) throw new RseError('E_ARGUMENT', `ETZPC id ${ref} is reserved or out of range (0..95)`, { field: 'etzpc' });
    return p;
  }
  const name = ref
    .toUpperCase()
    .replace(/^STM32MP1_ETZPC_/, '')
    .replace(/_ID$/, '');
  const p = BY_NAME.get(name) ?? (/^\d+$/.test(name) ? BY_ID.get(Number(name)) : undefined);
  if (p === undefined) throw new RseError('E_ARGUMENT', `no ETZPC peripheral named ${ref}`, { field: 'etzpc' });
  return p;
}

/** The peripheral whose window holds `addr`. */
export function peripheralAt(addr: number): Peripheral | undefined {
  return MP15_PERIPHERALS.find((p) => addr >= p.base && addr < p.base + p.size);
}

/** TZMA0 guards the ROM, TZMA1 the SYSRAM: the first `securePages` 4 KB pages are secure, the rest non-secure. */
export const TZMA = {
  rom: { index: 0, base: 0x00000000, size: 0x20000 },
  sysram: { index: 1, base: 0x2ffc0000, size: 0x40000 },
} as const;
export type TzmaName = keyof typeof TZMA;
/** R0SIZE is 10 bits; 0x3FF means the whole memory is secure. */
export const TZMA_ALL_SECURE = 0x3ff;

export interface AccessDecision {
  readonly allowed: boolean;
  /** The rule that decided, in words. */
  readonly rule: string;
}

export interface EtzpcState {
  readonly decprot: readonly DecprotMode[];
  readonly locked: readonly number[];
  readonly tzma: Readonly<Record<TzmaName, { readonly securePages: number; readonly locked: boolean }>>;
  readonly tzen: boolean;
  readonly mckprot: boolean;
}

const refused = (msg: string, field: string): RseError => new RseError('E_ACCESS', msg, { field });

export class Etzpc {
  readonly decprot: DecprotMode[];
  readonly locked: boolean[];
  readonly tzma: Record<TzmaName, { securePages: number; locked: boolean }>;
  /** RCC_TZCR: TZEN (secure peripherals are effective) and MCKPROT (MCU isolation is). */
  tzen: boolean;
  mckprot: boolean;

  /** Reset state: every DECPROT secure (0), nothing locked, ROM and SYSRAM wholly secure, TZEN and MCKPROT set. */
  constructor(state?: EtzpcState) {
    this.decprot = new Array<DecprotMode>(ETZPC_IDS).fill('S_RW');
    this.locked = new Array<boolean>(ETZPC_IDS).fill(false);
    this.tzma = { rom: { securePages: TZMA_ALL_SECURE, locked: false }, sysram: { securePages: TZMA_ALL_SECURE, locked: false } };
    this.tzen = true;
    this.mckprot = true;
    if (state === undefined) return;
    if (!Array.isArray(state.decprot) || state.decprot.length !== ETZPC_IDS)
      throw new RseError('E_DEVICE', 'ETZPC state does not hold 96 DECPROT values', { field: 'etzpc' });
    state.decprot.forEach((m, i) => {
      if (!DECPROT_MODES.includes(m)) throw new RseError('E_DEVICE', `ETZPC DECPROT ${i} is ${String(m)}`, { field: 'etzpc' });
      this.decprot[i] = m;
    });
    for (const i of state.locked) if (Number.isInteger(i) && i >= 0 && i < ETZPC_IDS) this.locked[i] = true;
    for (const k of Object.keys(TZMA) as TzmaName[]) {
      const t = state.tzma?.[k];
      if (t !== undefined) this.tzma[k] = { securePages: t.securePages & TZMA_ALL_SECURE, locked: t.locked === true };
    }
    this.tzen = state.tzen !== false;
    this.mckprot = state.mckprot !== false;
  }

  save(): EtzpcState {
    return {
      decprot: [...this.decprot],
      locked: this.locked.flatMap((l, i) => (l ? [i] : [])),
      tzma: { rom: { ...this.tzma.rom }, sysram: { ...this.tzma.sysram } },
      tzen: this.tzen,
      mckprot: this.mckprot,
    };
  }

  /** Writes one DECPROT field (secure masters only; refused once the id is locked). */
  setDecprot(id: number, mode: DecprotMode, who: Master = 'a7-s'): void {
    const p = peripheral(id);
    if (!isSecureMaster(who)) throw refused(`ETZPC registers are secure only (${who} wrote DECPROT ${p.name})`, `decprot${id}`);
    if (this.locked[id]) throw refused(`ETZPC DECPROT ${id} (${p.name}) is locked until reset`, `decprot${id}`);
    if ((mode === 'S_RW' || mode === 'NS_R_S_W') && !this.tzen)
      throw new RseError('E_CONFIG', `${p.name}: ${mode} has no effect with RCC TZEN clear`, { field: `decprot${id}` });
    if (mode === 'MCU_ISOLATION' && !(this.tzen && this.mckprot))
      throw new RseError('E_CONFIG', `${p.name}: MCU isolation needs RCC TZEN and MCKPROT`, { field: `decprot${id}` });
    this.decprot[id] = mode;
  }

  lock(id: number, who: Master = 'a7-s'): void {
    const p = peripheral(id);
    if (!isSecureMaster(who)) throw refused(`ETZPC registers are secure only (${who} locked ${p.name})`, `decprot${id}`);
    this.locked[id] = true;
  }

  /** Sets a TZMA split (4 KB pages from the base are secure); refused once locked. */
  setTzma(name: TzmaName, securePages: number, lock: boolean, who: Master = 'a7-s'): void {
    const t = TZMA[name];
    if (!isSecureMaster(who)) throw refused(`ETZPC registers are secure only (${who} wrote TZMA${t.index})`, `tzma${t.index}`);
    if (this.tzma[name].locked) throw refused(`ETZPC TZMA${t.index} (${name}) is locked until reset`, `tzma${t.index}`);
    const pages = t.size / 0x1000;
    if (!Number.isInteger(securePages) || securePages < 0 || (securePages > pages && securePages !== TZMA_ALL_SECURE))
      throw new RseError('E_CONFIG', `TZMA${t.index} (${name}) has ${pages} pages; ${securePages} secure pages is not a split`, {
        field: `tzma${t.index}`,
      });
    this.tzma[name] = { securePages, locked: lock };
  }

  /** Who may touch a peripheral, by its DECPROT field. */
  checkPeripheral(p: Peripheral, master: Master, write: boolean): AccessDecision {
    const mode = this.decprot[p.id] as DecprotMode;
    const rw = write ? 'write' : 'read';
    const rule = `ETZPC DECPROT ${p.id} (${p.name}) = ${mode}${this.locked[p.id] ? ', locked' : ''}`;
    switch (mode) {
      case 'NS_RW':
        return { allowed: true, rule };
      case 'S_RW':
        return { allowed: master === 'a7-s', rule: master === 'a7-s' ? rule : `${rule}: secure ${rw} only` };
      case 'NS_R_S_W':
        if (master === 'a7-s' || !write) return { allowed: true, rule };
        return { allowed: false, rule: `${rule}: non-secure masters may only read` };
      case 'MCU_ISOLATION':
        return { allowed: master === 'm4', rule: master === 'm4' ? rule : `${rule}: Cortex-M4 only` };
    }
  }

  /** ROM / SYSRAM: secure below the TZMA split, non-secure above it. */
  checkTzma(name: TzmaName, addr: number, master: Master): AccessDecision {
    const t = TZMA[name];
    const pages = this.tzma[name].securePages;
    const secureEnd = pages === TZMA_ALL_SECURE ? t.size : Math.min(pages * 0x1000, t.size);
    const secure = addr - t.base < secureEnd;
    const rule = `ETZPC TZMA${t.index} (${name}): ${secureEnd / 0x1000} of ${t.size / 0x1000} pages secure${this.tzma[name].locked ? ', locked' : ''}`;
    if (!secure || master === 'a7-s') return { allowed: true, rule };
    return { allowed: false, rule: `${rule}: 0x${addr.toString(16)} is in the secure part` };
  }
}
