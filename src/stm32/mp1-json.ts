/**
 * The `device.json` of a virtual STM32MP15, as a schema: every field of the fuses' companion file,
 * the backup domain and the firewall state the last boot left, checked and typed in one place when
 * the device is opened.
 * @module
 */
import { array, bool, type Check, hexBytes, int, nullable, object, oneOf, optional, str, u32 } from '../lib/schema.ts';
import { STM32MP1 } from '../profiles/stm32.ts';
import { MONITORS } from '../profiles/stm32-monitor.ts';
import { BSEC_WORDS } from './bsec.ts';
import type { FirewallState } from './bus.ts';
import { DECPROT_MODES, ETZPC_IDS, MASTERS, TZMA_ALL_SECURE } from './etzpc.ts';
import { CORES, type MonitorState } from './monitor.ts';
import { GIC_INTERRUPTS } from './secure-config.ts';
import { BACKUP_REGISTERS, TAMPER_SOURCES, type TamperSource, type TampState } from './tamp.ts';
import { TZC_FILTERS, TZC_REGIONS } from './tzc400.ts';

export interface Mp1Json {
  readonly format: 1;
  readonly profile: typeof STM32MP1.name;
  readonly permanentLock: readonly number[];
  readonly boots: number;
  /** The hardware-unique secret the chip's SSP key pair derives from (never leaves the device). */
  readonly hwSecret: string;
  /** The backup domain (VBAT): survives resets. */
  readonly tamp?: TampState;
  /** What the last boot left running: firewalls, debug register. Gone at the next reset. */
  readonly runtime?: {
    readonly firewall: FirewallState;
    readonly denable: number;
    readonly denableLocked: boolean;
    /** The last stage the last boot reached. */
    readonly reached?: 'rom' | 'fsbl' | 'runtime';
    /** The secure monitor's state once something called it (`rse stm32 serve`). */
    readonly monitor?: MonitorState;
  };
}

const source = oneOf(Object.keys(TAMPER_SOURCES) as TamperSource[]);
const sources = array(source, { max: Object.keys(TAMPER_SOURCES).length });
const TZMA = object({ securePages: int(0, TZMA_ALL_SECURE), locked: bool });

const FIREWALL: Check<FirewallState> = object({
  etzpc: object({
    decprot: array(oneOf(DECPROT_MODES), { length: ETZPC_IDS }),
    locked: array(int(0, ETZPC_IDS - 1), { max: ETZPC_IDS }),
    tzma: object({ rom: TZMA, sysram: TZMA }),
    tzen: bool,
    mckprot: bool,
  }),
  tzc: object({
    action: oneOf([0, 1, 2, 3] as const),
    regions: array(
      nullable(
        object({ base: u32, top: u32, secAttr: oneOf([0, 1, 2, 3] as const), filters: int(0, (1 << TZC_FILTERS) - 1), idAccess: u32 }),
      ),
      { length: TZC_REGIONS },
    ),
    failures: array(nullable(object({ addr: u32, control: u32, id: int(0, 15) })), { max: TZC_FILTERS }),
    intStatus: u32,
  }),
  violations: array(
    object({
      master: oneOf(MASTERS),
      addr: u32,
      write: bool,
      firewall: oneOf(['ETZPC', 'TZC-400', 'secure block', 'secure configuration'] as const),
      rule: str(),
      response: oneOf(['bus error', 'read as zero', 'write ignored'] as const),
      interrupt: bool,
    }),
    { max: 1_000_000 },
  ),
  secureConfig: optional(
    object({
      rtcSmcr: int(0, 0xffff),
      tampDprot: bool,
      gpiozSeccfgr: int(0, 0xff),
      extiTzenr: array(u32, { length: 3 }),
      gicGroup: array(u32, { length: GIC_INTERRUPTS / 32 }),
      mdmaSecure: u32,
    }),
  ),
});

const MONITOR: Check<MonitorState> = object({
  monitor: oneOf(MONITORS.map((m) => m.name)),
  cores: array(oneOf(['off', 'on'] as const), { length: CORES }),
  agents: array(
    object({
      clocks: array(bool, { max: 256 }),
      resets: array(bool, { max: 256 }),
      voltages: array(object({ on: bool, level: int(-0x80000000, 0x7fffffff) }), { max: 256 }),
    }),
    { max: 8 },
  ),
  calls: int(0, Number.MAX_SAFE_INTEGER),
  halted: optional(str()),
});

/** `device.json` of an STM32MP15 device: every field, typed. */
export const MP1_JSON: Check<Mp1Json> = object({
  format: oneOf([1] as const),
  profile: oneOf([STM32MP1.name] as const),
  permanentLock: array(int(0, BSEC_WORDS - 1), { max: BSEC_WORDS }),
  boots: int(0, Number.MAX_SAFE_INTEGER),
  hwSecret: hexBytes(32),
  tamp: optional(
    object({
      backup: array(u32, { length: BACKUP_REGISTERS }),
      zone1End: int(0, BACKUP_REGISTERS),
      zone2End: int(0, BACKUP_REGISTERS),
      counter: u32,
      enabled: sources,
      noErase: sources,
      flags: sources,
    }),
  ),
  runtime: optional(
    object({
      firewall: FIREWALL,
      denable: int(0, 0x7ff),
      denableLocked: bool,
      reached: optional(oneOf(['rom', 'fsbl', 'runtime'] as const)),
      monitor: optional(MONITOR),
    }),
  ),
});
