/**
 * The STM32MP15's secure restrictions outside the ETZPC and the TZC-400: the registers each block
 * carries that make parts of it secure only, and what a non-secure access (Cortex-A7 non-secure or
 * Cortex-M4) meets, as RM0436 and TF-A/OP-TEE's stm32mp1 drivers set them:
 *
 * - RCC: RCC_TZCR.TZEN makes the registers at 0x000..0x7FC (oscillators, MPU/AXI clocks, PLL1/2,
 *   the secure peripherals' kernel clocks, enables and resets, RCC_BDCR) take secure writes only;
 *   MCKPROT adds the MCU's clock registers (RCC_MCUDIVR, PLL3: TF-A's "MCU" and "PLL3" shared
 *   resources). RCC_TZCR itself is written by the secure world only.
 * - PWR: with TZEN, PWR_CR1..3, PWR_MPUCR, PWR_WKUPCR and PWR_MPUWKUPENR; with MCKPROT, PWR_MCUCR.
 * - RTC: RTC_SMCR (reset 0xE00F): DECPROT makes every register secure, INITDPROT the calendar and
 *   prescaler, CALDPROT calibration and shift, TSDPROT the timestamp, WUTDPROT the wake-up timer,
 *   ALRADPROT/ALRBDPROT the alarms.
 * - TAMP: TAMP_SMCR: backup registers below BKPRWDPROT are secure read/write, below BKPWDPROT
 *   secure write; DPROT (set at reset) makes the tamper configuration secure write.
 * - GPIOZ: GPIOZ_SECCFGR (reset 0xFF): a secure pin's bits in MODER..BRR ignore non-secure writes
 *   and read as zero.
 * - EXTI: EXTI_TZENR1..3 (reset 0): a secure line's bits in RTSR..FPR, the interrupt and event
 *   masks and the EXTICR fields ignore non-secure writes.
 * - GIC: GICD_IGROUPRn (reset 0, group 0 = secure): a group-0 interrupt's bits in the enable,
 *   pending, active, priority, target and configuration registers are RAZ/WI to non-secure accesses.
 * - MDMA: MDMA_CxCR.SM (bit 8, set by the secure world only) makes channel x's registers secure;
 *   a non-secure master may still read CxCR (where Linux finds the channel reserved).
 *
 * Each decision names the register field that made it. Writes by the secure master to the
 * controlling registers change the state (`rse stm32 access --write --value`).
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { type Etzpc, isSecureMaster, type Master } from './etzpc.ts';

export interface SecureConfigState {
  readonly rtcSmcr: number;
  readonly tampDprot: boolean;
  readonly gpiozSeccfgr: number;
  readonly extiTzenr: readonly number[];
  /** GICD_IGROUPR0..8 (288 interrupt ids); bit set = group 1 (non-secure). */
  readonly gicGroup: readonly number[];
  /** MDMA channels whose CxCR.SM is set. */
  readonly mdmaSecure: number;
}

/** The backup-register zones the TAMP keeps (BKPRWDPROT and BKPWDPROT, in registers), and how TAMP_SMCR sets them. */
export interface TampZones {
  readonly zone1End: number;
  readonly zone2End: number;
  setZones?(zone1End: number, zone2End: number): void;
}

/** What a block's rule decided for one access. */
export interface SecureDecision {
  readonly allowed: boolean;
  readonly target: string;
  readonly rule: string;
}

export const RTC_SMCR_RESET = 0xe00f;
export const GIC_INTERRUPTS = 288;

const BLOCK = {
  RCC: { base: 0x50000000, size: 0x1000 },
  PWR: { base: 0x50001000, size: 0x400 },
  EXTI: { base: 0x5000d000, size: 0x400 },
  RTC: { base: 0x5c004000, size: 0x400 },
  TAMP: { base: 0x5c00a000, size: 0x400 },
  GPIOZ: { base: 0x54004000, size: 0x400 },
  MDMA: { base: 0x58000000, size: 0x1000 },
  GICD: { base: 0xa0021000, size: 0x1000 },
} as const;
type BlockName = keyof typeof BLOCK;

/** The block of an address among those this module rules, or undefined. */
export function secureBlockAt(addr: number): { name: BlockName; offset: number } | undefined {
  for (const [name, b] of Object.entries(BLOCK) as [BlockName, { base: number; size: number }][])
    if (addr >= b.base && addr < b.base + b.size) return { name, offset: addr - b.base };
  return undefined;
}

const hex = (n: number, w = 3): string => `0x${n.toString(16).padStart(w, '0')}`;
const list = (xs: readonly number[]): string => xs.join(', ');

const RCC_NAMES: Readonly<Record<number, string>> = {
  0: 'RCC_TZCR',
  24: 'RCC_HSICFGR',
  32: 'RCC_MPCKSELR',
  72: 'RCC_MSSCKSELR',
  128: 'RCC_PLL1CR',
  148: 'RCC_PLL2CR',
  200: 'RCC_UART1CKSELR',
  320: 'RCC_BDCR',
  392: 'RCC_APB5RSTSETR',
  520: 'RCC_MP_APB5ENSETR',
  528: 'RCC_MP_AHB5ENSETR',
  544: 'RCC_MP_TZAHB6ENSETR',
  2096: 'RCC_MCUDIVR',
  2176: 'RCC_PLL3CR',
  2180: 'RCC_PLL3CFGR1',
  2184: 'RCC_PLL3CFGR2',
  2188: 'RCC_PLL3FRACR',
  2192: 'RCC_PLL3CSGR',
  2600: 'RCC_MP_AHB4ENSETR',
};
const RCC_MCU = new Set([0x830, 0x880, 0x884, 0x888, 0x88c, 0x890]);
const PWR_TZEN: Readonly<Record<number, string>> = {
  0: 'PWR_CR1',
  8: 'PWR_CR2',
  12: 'PWR_CR3',
  16: 'PWR_MPUCR',
  32: 'PWR_WKUPCR',
  40: 'PWR_MPUWKUPENR',
};
const PWR_MCUCR = 0x14;

/** RTC_SMCR bits and the registers each protects. */
const RTC_PROTECT: readonly [number, string, Readonly<Record<number, string>>][] = [
  [14, 'INITDPROT', { 0: 'RTC_TR', 4: 'RTC_DR', 12: 'RTC_ICSR', 16: 'RTC_PRER' }],
  [13, 'CALDPROT', { 40: 'RTC_CALR', 44: 'RTC_SHIFTR' }],
  [3, 'TSDPROT', { 48: 'RTC_TSTR', 52: 'RTC_TSDR', 56: 'RTC_TSSSR' }],
  [2, 'WUTDPROT', { 20: 'RTC_WUTR' }],
  [1, 'ALRBDPROT', { 72: 'RTC_ALRMBR', 76: 'RTC_ALRMBSSR' }],
  [0, 'ALRADPROT', { 64: 'RTC_ALRMAR', 68: 'RTC_ALRMASSR' }],
];
const TAMP_CONFIG: Readonly<Record<number, string>> = {
  0: 'TAMP_CR1',
  4: 'TAMP_CR2',
  8: 'TAMP_CR3',
  12: 'TAMP_FLTCR',
  44: 'TAMP_IER',
  60: 'TAMP_SCR',
};
/** GPIOZ registers with per-pin fields: bits per pin. */
const GPIO_FIELDS: Readonly<Record<number, readonly [string, number]>> = {
  0: ['GPIOZ_MODER', 2],
  4: ['GPIOZ_OTYPER', 1],
  8: ['GPIOZ_OSPEEDR', 2],
  12: ['GPIOZ_PUPDR', 2],
  20: ['GPIOZ_ODR', 1],
  24: ['GPIOZ_BSRR', 1],
  28: ['GPIOZ_LCKR', 1],
  32: ['GPIOZ_AFRL', 4],
  40: ['GPIOZ_BRR', 1],
};
/** GICD registers with per-interrupt fields: base, bits per interrupt, name. */
const GICD_FIELDS: readonly [number, number, string][] = [
  [0x100, 1, 'GICD_ISENABLER'],
  [0x180, 1, 'GICD_ICENABLER'],
  [0x200, 1, 'GICD_ISPENDR'],
  [0x280, 1, 'GICD_ICPENDR'],
  [0x300, 1, 'GICD_ISACTIVER'],
  [0x380, 1, 'GICD_ICACTIVER'],
  [0x400, 8, 'GICD_IPRIORITYR'],
  [0x800, 8, 'GICD_ITARGETSR'],
  [0xc00, 2, 'GICD_ICFGR'],
];
const MDMA_CHANNELS = 32;

/** The units (pins, lines, interrupts) a word of `bits`-wide fields starting at unit `first` touches with `value`. */
function units(value: number, bits: number, first: number): number[] {
  const mask = bits === 1 ? 1 : (1 << bits) - 1;
  const out: number[] = [];
  for (let i = 0; i * bits < 32; i++) if ((value >>> (i * bits)) & mask) out.push(first + i);
  return out;
}

export class SecureConfig {
  rtcSmcr: number;
  tampDprot: boolean;
  gpiozSeccfgr: number;
  readonly extiTzenr: number[];
  readonly gicGroup: number[];
  mdmaSecure: number;

  /** Reset values, or a saved state. */
  constructor(state?: SecureConfigState) {
    this.rtcSmcr = state?.rtcSmcr ?? RTC_SMCR_RESET;
    this.tampDprot = state?.tampDprot ?? true;
    this.gpiozSeccfgr = (state?.gpiozSeccfgr ?? 0xff) & 0xff;
    this.extiTzenr = [0, 1, 2].map((i) => (state?.extiTzenr?.[i] ?? 0) >>> 0);
    this.gicGroup = Array.from({ length: GIC_INTERRUPTS / 32 }, (_, i) => (state?.gicGroup?.[i] ?? 0) >>> 0);
    this.mdmaSecure = (state?.mdmaSecure ?? 0) >>> 0;
    if (![this.rtcSmcr, this.gpiozSeccfgr, this.mdmaSecure].every(Number.isInteger))
      throw new RseError('E_DEVICE', 'secure configuration state holds a non-integer register', { field: 'secureConfig' });
  }

  save(): SecureConfigState {
    return {
      rtcSmcr: this.rtcSmcr,
      tampDprot: this.tampDprot,
      gpiozSeccfgr: this.gpiozSeccfgr,
      extiTzenr: [...this.extiTzenr],
      gicGroup: [...this.gicGroup],
      mdmaSecure: this.mdmaSecure,
    };
  }

  /**
   * One access to a block this module rules (undefined elsewhere). `value`: a write's value (the
   * fields it touches; all of them when absent). A secure write to a controlling register
   * changes the state when `apply` is set.
   */
  decide(
    master: Master,
    addr: number,
    write: boolean,
    ctx: { readonly etzpc: Etzpc; readonly tamp: TampZones | undefined; readonly value?: number; readonly apply?: boolean },
  ): SecureDecision | undefined {
    const at = secureBlockAt(addr);
    if (at === undefined) return undefined;
    const secure = isSecureMaster(master);
    const value = (ctx.value ?? 0xffffffff) >>> 0;
    const ok = (target: string, rule: string): SecureDecision => ({ allowed: true, target, rule });
    const no = (target: string, rule: string): SecureDecision => ({ allowed: false, target, rule });
    const o = at.offset;
    switch (at.name) {
      case 'RCC': {
        const name = RCC_NAMES[o] ?? `RCC register ${hex(o)}`;
        const e = ctx.etzpc;
        const tz = `RCC_TZCR.TZEN = ${e.tzen ? 1 : 0}`;
        if (o === 0) {
          if (secure) {
            if (write && ctx.apply === true) {
              e.tzen = (value & 1) === 1;
              e.mckprot = (value & 2) === 2;
            }
            return ok(name, 'RCC_TZCR: written by the secure world only');
          }
          return write ? no(name, 'RCC_TZCR: written by the secure world only') : ok(name, 'RCC_TZCR: readable by all');
        }
        if (secure || !write) return ok(name, `${name}: ${secure ? 'secure access' : 'reads are not restricted'} (${tz})`);
        if (e.tzen && o < 0x800) return no(name, `${tz}: ${name} (RCC 0x000..0x7FC) takes secure writes only`);
        if (e.tzen && e.mckprot && RCC_MCU.has(o))
          return no(name, `RCC_TZCR.MCKPROT = 1: ${name} (the MCU's clocks) takes secure writes only`);
        return ok(name, e.tzen ? `${name} is not a secure RCC register (${tz})` : `${tz}: the RCC is not secure`);
      }
      case 'PWR': {
        const e = ctx.etzpc;
        const name = o === PWR_MCUCR ? 'PWR_MCUCR' : (PWR_TZEN[o] ?? `PWR register ${hex(o, 2)}`);
        if (secure || !write) return ok(name, `${name}: ${secure ? 'secure access' : 'reads are not restricted'}`);
        if (e.tzen && PWR_TZEN[o] !== undefined) return no(name, `RCC_TZCR.TZEN = 1: ${name} takes secure writes only`);
        if (e.tzen && e.mckprot && o === PWR_MCUCR) return no(name, 'RCC_TZCR.MCKPROT = 1: PWR_MCUCR takes secure writes only');
        return ok(name, `${name}: not secure with RCC_TZCR.TZEN = ${e.tzen ? 1 : 0}, MCKPROT = ${e.mckprot ? 1 : 0}`);
      }
      case 'RTC': {
        if (o === 0x20) {
          if (secure && write && ctx.apply === true) this.rtcSmcr = value & 0xe00f;
          return secure || !write
            ? ok('RTC_SMCR', 'RTC_SMCR: written by the secure world only')
            : no('RTC_SMCR', 'RTC_SMCR: written by the secure world only');
        }
        const smcr = `RTC_SMCR = ${hex(this.rtcSmcr, 4)}`;
        if (secure) return ok(`RTC ${hex(o, 2)}`, `secure access (${smcr})`);
        if ((this.rtcSmcr >>> 15) & 1) return no(`RTC ${hex(o, 2)}`, `${smcr}: DECPROT = 1, every RTC register is secure`);
        for (const [bit, field, regs] of RTC_PROTECT) {
          const reg = regs[o];
          if (reg !== undefined && (this.rtcSmcr >>> bit) & 1) return no(reg, `${smcr}: ${field} = 1, ${reg} is secure`);
        }
        return ok(`RTC ${hex(o, 2)}`, `${smcr}: this register is not protected`);
      }
      case 'TAMP': {
        const z = ctx.tamp ?? { zone1End: 0, zone2End: 0 };
        const smcr = `TAMP_SMCR BKPRWDPROT = ${z.zone1End}, BKPWDPROT = ${z.zone2End}, DPROT = ${this.tampDprot ? 1 : 0}`;
        if (o === 0x20) {
          if (secure && write && ctx.apply === true) {
            const z1 = Math.min(value & 0xff, 32);
            ctx.tamp?.setZones?.(z1, Math.max(z1, Math.min((value >>> 16) & 0xff, 32)));
            this.tampDprot = value >>> 31 === 1;
          }
          return secure || !write
            ? ok('TAMP_SMCR', 'TAMP_SMCR: written by the secure world only')
            : no('TAMP_SMCR', 'TAMP_SMCR: written by the secure world only');
        }
        if (o >= 0x100 && o < 0x180) {
          const n = (o - 0x100) >> 2;
          const reg = `TAMP_BKP${n}R`;
          if (secure) return ok(reg, `secure access (${smcr})`);
          if (n < z.zone1End) return no(reg, `${smcr}: ${reg} is in zone 1, secure read/write`);
          if (n < z.zone2End && write) return no(reg, `${smcr}: ${reg} is in zone 2, secure write (non-secure read)`);
          return ok(reg, `${smcr}: ${reg} is in zone ${n < z.zone2End ? 2 : 3}`);
        }
        const reg = TAMP_CONFIG[o] ?? `TAMP ${hex(o, 2)}`;
        if (!secure && write && this.tampDprot && TAMP_CONFIG[o] !== undefined)
          return no(reg, `${smcr}: DPROT = 1, the tamper configuration takes secure writes only`);
        return ok(reg, secure ? `secure access (${smcr})` : `${reg}: not protected (${smcr})`);
      }
      case 'GPIOZ': {
        const sec = `GPIOZ_SECCFGR = ${hex(this.gpiozSeccfgr, 2)}`;
        if (o === 0x30) {
          if (secure && write && ctx.apply === true) this.gpiozSeccfgr = value & 0xff;
          return secure || !write
            ? ok('GPIOZ_SECCFGR', 'GPIOZ_SECCFGR: written by the secure world only')
            : no('GPIOZ_SECCFGR', 'GPIOZ_SECCFGR: written by the secure world only');
        }
        const f = GPIO_FIELDS[o];
        if (f === undefined || secure)
          return ok(f?.[0] ?? `GPIOZ ${hex(o, 2)}`, secure ? `secure access (${sec})` : `no per-pin field (${sec})`);
        const [name, bits] = f;
        if (!write) return ok(name, `${sec}: the secure pins' bits read as zero`);
        const pins = (
          o === 0x18 ? [...new Set([...units(value & 0xffff, 1, 0), ...units(value >>> 16, 1, 0)])] : units(value, bits, 0)
        ).filter((p) => p < 8);
        const securePins = pins.filter((p) => (this.gpiozSeccfgr >>> p) & 1);
        return securePins.length > 0
          ? no(name, `${sec}: pin${securePins.length > 1 ? 's' : ''} ${list(securePins)} secure, their bits ignore non-secure writes`)
          : ok(name, `${sec}: pins ${list(pins)} non-secure`);
      }
      case 'EXTI': {
        const bank = o < 0x60 ? o >> 5 : o >= 0x80 && o < 0xb0 ? (o - 0x80) >> 4 : o >= 0xc0 && o < 0xf0 ? (o - 0xc0) >> 4 : -1;
        const reg = o < 0x60 ? (['RTSR', 'FTSR', 'SWIER', 'RPR', 'FPR', 'TZENR'][(o & 0x1f) >> 2] ?? undefined) : undefined;
        if (reg === 'TZENR') {
          if (secure && write && ctx.apply === true) this.extiTzenr[bank] = value;
          const name = `EXTI_TZENR${bank + 1}`;
          return secure || !write
            ? ok(name, `${name}: written by the secure world only`)
            : no(name, `${name}: written by the secure world only`);
        }
        let name: string;
        let lines: number[];
        if (o >= 0x60 && o < 0x70) {
          // EXTI_EXTICR1..4: 8 bits per line for lines 0..15.
          const n = (o - 0x60) >> 2;
          name = `EXTI_EXTICR${n + 1}`;
          lines = units(value, 8, 4 * n);
        } else if (bank >= 0 && bank < 3 && (reg !== undefined || o >= 0x80)) {
          name = reg !== undefined ? `EXTI_${reg}${bank + 1}` : `EXTI_C${o >= 0xc0 ? 2 : 1}${(o & 4) === 0 ? 'IMR' : 'EMR'}${bank + 1}`;
          lines = units(value, 1, 32 * bank);
        } else return ok(`EXTI ${hex(o)}`, 'no per-line field');
        if (secure) return ok(name, 'secure access');
        if (!write) return ok(name, 'the secure lines read as zero');
        const tz = (l: number): boolean => (((this.extiTzenr[l >> 5] ?? 0) >>> (l & 31)) & 1) === 1;
        const secureLines = lines.filter(tz);
        return secureLines.length > 0
          ? no(
              name,
              `EXTI_TZENR: line${secureLines.length > 1 ? 's' : ''} ${list(secureLines)} secure, their bits ignore non-secure writes`,
            )
          : ok(name, `EXTI_TZENR: lines ${list(lines)} non-secure`);
      }
      case 'GICD': {
        if (o >= 0x080 && o < 0x080 + (GIC_INTERRUPTS / 32) * 4) {
          const n = (o - 0x080) >> 2;
          if (secure && write && ctx.apply === true) this.gicGroup[n] = value;
          return secure
            ? ok(`GICD_IGROUPR${n}`, 'secure access')
            : no(`GICD_IGROUPR${n}`, `GICD_IGROUPR${n}: RAZ/WI to non-secure accesses`);
        }
        const f = GICD_FIELDS.find(([base, bits]) => o >= base && o < base + (GIC_INTERRUPTS * bits) / 8);
        if (f === undefined) return ok(`GICD ${hex(o)}`, 'banked or not per-interrupt');
        const [base, bits, fname] = f;
        const word = (o - base) >> 2;
        const name = `${fname}${word}`;
        if (secure) return ok(name, 'secure access');
        const irqs = units(value, bits, (word * 32) / bits).filter((i) => i < GIC_INTERRUPTS);
        const group0 = irqs.filter((i) => (((this.gicGroup[i >> 5] ?? 0) >>> (i & 31)) & 1) === 0);
        return group0.length > 0
          ? no(
              name,
              `GICD_IGROUPR: interrupt${group0.length > 1 ? 's' : ''} ${group0.length > 8 ? `${list(group0.slice(0, 8))}, …` : list(group0)} in group 0 (secure): RAZ/WI to non-secure accesses`,
            )
          : ok(name, `GICD_IGROUPR: interrupts ${irqs.length > 8 ? `${list(irqs.slice(0, 8))}, …` : list(irqs)} in group 1`);
      }
      case 'MDMA': {
        if (o < 0x40 || o >= 0x40 + 0x40 * MDMA_CHANNELS) return ok(`MDMA ${hex(o)}`, 'global status');
        const ch = (o - 0x40) >> 6;
        const r = (o - 0x40) & 0x3f;
        const name = `MDMA_C${ch}${['ISR', 'IFCR', 'ESR', 'CR', 'TCR', 'BNDTR', 'SAR', 'DAR', 'BRUR', 'LAR', 'TBR', '', 'MAR', 'MDR'][r >> 2] ?? ''}`;
        const sm = ((this.mdmaSecure >>> ch) & 1) === 1;
        if (secure) {
          if (write && r === 0x0c && ctx.apply === true)
            this.mdmaSecure = ((value >>> 8) & 1 ? this.mdmaSecure | (1 << ch) : this.mdmaSecure & ~(1 << ch)) >>> 0;
          return ok(name, `secure access (MDMA_C${ch}CR.SM = ${sm ? 1 : 0})`);
        }
        if (sm) {
          if (!write && r === 0x0c) return ok(name, `MDMA_C${ch}CR.SM = 1: the channel is secure; its CR stays readable`);
          return no(name, `MDMA_C${ch}CR.SM = 1: channel ${ch} is secure`);
        }
        if (write && r === 0x0c && (value >>> 8) & 1) return no(name, `MDMA_C${ch}CR.SM is set by the secure world only`);
        return ok(name, `MDMA_C${ch}CR.SM = 0: channel ${ch} is non-secure`);
      }
    }
  }
}

/** The addresses of the controlling registers, by name (for the CLI and tests). */
export const SECURE_CONFIG_REGISTERS: Readonly<Record<string, number>> = {
  RCC_TZCR: BLOCK.RCC.base,
  RTC_SMCR: BLOCK.RTC.base + 0x20,
  TAMP_SMCR: BLOCK.TAMP.base + 0x20,
  GPIOZ_SECCFGR: BLOCK.GPIOZ.base + 0x30,
  EXTI_TZENR1: BLOCK.EXTI.base + 0x14,
  EXTI_TZENR2: BLOCK.EXTI.base + 0x34,
  EXTI_TZENR3: BLOCK.EXTI.base + 0x54,
  GICD_IGROUPR0: BLOCK.GICD.base + 0x80,
  MDMA_C0CR: BLOCK.MDMA.base + 0x4c,
};
