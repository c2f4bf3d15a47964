/**
 * The STM32MP15 secure monitors as data: what the normal world reaches through `smc` once the
 * FSBL handed over. Two monitors ship for this SoC and differ in what they answer:
 *
 * - `optee`: OP-TEE 4.9 (plat-stm32mp1: pm/psci.c, nsec-service/, scmi_server.c with the
 *   scmi-msg drivers), ST's monitor for MP15 today. PSCI 1.0 without CPU_SUSPEND; SCMI on one
 *   channel (agent 0) with the clock, reset-domain and voltage-domain protocols; BSEC SiP with
 *   the permanent write lock.
 * - `sp-min`: TF-A v2.8 SP_MIN (plat/st/stm32mp1: stm32mp1_pm.c, services/, stm32mp1_scmi.c).
 *   PSCI 1.1 from TF-A's PSCI library with standby CPU_SUSPEND; SCMI on two channels (agent 0:
 *   clocks and resets, agent 1: the MCU clocks), no voltage domains; BSEC SiP without the lock.
 *
 * Clock rates are those of the DK2 board's clock tree (stm32mp15xx-dkx.dtsi: HSE 24 MHz, PLL1P
 * 650 MHz, PLL2 266.5/533/533 MHz, APB5 = AXI/4, I2C4/6, SPI6 and USART1 on HSI, RNG1 on LSI);
 * regulator levels those of its STPMIC1 constraints. Resources gated by an ETZPC id are reachable
 * by an agent only while that id's DECPROT is NS_RW, as OP-TEE's `nsec_can_access_resource` decides.
 * @module
 */

/** SMCCC return values (DEN0028) and the calls every SMCCC 1.1 monitor answers. */
export const SMCCC = {
  VERSION: 0x80000000,
  ARCH_FEATURES: 0x80000001,
  ARCH_SOC_ID: 0x80000002,
  ARCH_WORKAROUND_1: 0x80008000,
  ARCH_WORKAROUND_2: 0x80007fff,
  STD_CALL_COUNT: 0x8400ff00,
  STD_UID: 0x8400ff01,
  STD_REVISION: 0x8400ff03,
  SIP_CALL_COUNT: 0x8200ff00,
  SIP_UID: 0x8200ff01,
  SIP_REVISION: 0x8200ff03,
  SUCCESS: 0,
  NOT_SUPPORTED: 0xffffffff,
  NOT_REQUIRED: 0xfffffffe,
  INVALID_PARAMETER: 0xfffffffd,
} as const;

/** PSCI function ids (SMC32) and return codes (DEN0022). */
export const PSCI_FN = {
  VERSION: 0x84000000,
  CPU_SUSPEND: 0x84000001,
  CPU_OFF: 0x84000002,
  CPU_ON: 0x84000003,
  AFFINITY_INFO: 0x84000004,
  MIGRATE: 0x84000005,
  MIGRATE_INFO_TYPE: 0x84000006,
  MIGRATE_INFO_UP_CPU: 0x84000007,
  SYSTEM_OFF: 0x84000008,
  SYSTEM_RESET: 0x84000009,
  FEATURES: 0x8400000a,
  CPU_FREEZE: 0x8400000b,
  CPU_DEFAULT_SUSPEND: 0x8400000c,
  NODE_HW_STATE: 0x8400000d,
  SYSTEM_SUSPEND: 0x8400000e,
  SET_SUSPEND_MODE: 0x8400000f,
  STAT_RESIDENCY: 0x84000010,
  STAT_COUNT: 0x84000011,
  SYSTEM_RESET2: 0x84000012,
  MEM_PROTECT: 0x84000013,
  MEM_PROTECT_CHECK_RANGE: 0x84000014,
} as const;
export type PsciFunction = keyof typeof PSCI_FN;

export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMETERS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
  ON_PENDING: -5,
  INTERNAL_FAILURE: -6,
  NOT_PRESENT: -7,
  DISABLED: -8,
  INVALID_ADDRESS: -9,
} as const;

/** SCMI status codes (DEN0056). */
export const SCMI_STATUS = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMETERS: -2,
  DENIED: -3,
  NOT_FOUND: -4,
  OUT_OF_RANGE: -5,
  BUSY: -6,
  COMMS_ERROR: -7,
  GENERIC_ERROR: -8,
  HARDWARE_ERROR: -9,
  PROTOCOL_ERROR: -10,
} as const;

export const SCMI_PROTOCOL = { BASE: 0x10, CLOCK: 0x14, RESET_DOMAIN: 0x16, VOLTAGE_DOMAIN: 0x17 } as const;
export type ScmiProtocolName = keyof typeof SCMI_PROTOCOL;

/** ST's SiP results and the BSEC service's commands (x1). */
export const STM32_SIP = {
  BSEC: 0x82001003,
  OK: 0,
  NOT_SUPPORTED: 0xffffffff,
  FAILED: 0xfffffffe,
  INVALID_PARAMS: 0xfffffffd,
  /** The service UID (a778aa50-f49b-144a-8a5e-264d5994c214), as x0..x3. */
  UID: [0x50aa78a7, 0x9bf44a14, 0x8a5e264d, 0x5994c214],
  REVISION: [0, 1],
} as const;
export const BSEC_CMD = { READ_SHADOW: 1, PROG_OTP: 2, WRITE_SHADOW: 3, READ_OTP: 4, WRLOCK_OTP: 7 } as const;
export type BsecCommand = keyof typeof BSEC_CMD;

/** ETZPC gating of a resource: always reachable, never, or while the named peripheral is NS_RW. */
export type Gate = 'always' | 'never' | { readonly etzpc: string };

export interface ScmiClockData {
  readonly name: string;
  readonly rateHz: number;
  readonly enabled: boolean;
  readonly gate: Gate;
}
export interface ScmiResetData {
  readonly name: string;
  readonly gate: Gate;
  /** A reset cycle (autonomous reset) is refused with NOT_SUPPORTED (MCU hold-boot). */
  readonly noCycle?: boolean;
}
export interface ScmiVoltageData {
  readonly name: string;
  /** The levels the regulator takes, in µV, ascending. */
  readonly levels: readonly number[];
}
export interface ScmiAgentData {
  /** The SiP function id that rings this agent's doorbell. */
  readonly fid: number;
  /** Where its shared-memory channel sits (SYSRAM's last page) and its size. */
  readonly shmAddr: number;
  readonly clocks: readonly ScmiClockData[];
  readonly resets: readonly ScmiResetData[];
  readonly voltages: readonly ScmiVoltageData[];
}

export interface MonitorData {
  readonly name: string;
  readonly description: string;
  readonly smcccVersion: number;
  readonly psci: {
    readonly version: number;
    /** The functions the monitor implements; any other PSCI id answers NOT_SUPPORTED. */
    readonly functions: readonly PsciFunction[];
    /** What PSCI_FEATURES reports as present when it is not every function (OP-TEE's list is shorter than what it implements). */
    readonly features?: readonly PsciFunction[];
    /** CPU_ON refuses a non-secure entry point below this address (INVALID_ADDRESS). */
    readonly entryFloor?: number;
    /** CPU_ON aimed at core 0, which always runs: OP-TEE refuses the target, TF-A's library finds it on. */
    readonly cpuOnBootCore: 'INVALID_PARAMETERS' | 'ALREADY_ON';
    /** Calls the platform port does not handle: the monitor panics (TF-A's stm32mp1 power-down and system-off hooks). */
    readonly panics?: readonly PsciFunction[];
    /** What the standard service's call count reports (PSCI_NUM_CALLS). */
    readonly callCount: number;
  };
  readonly sip: {
    readonly bsec: readonly BsecCommand[];
    readonly callCount: number;
    /** Whether the service refuses upper words not marked non-secure (OP-TEE) or leaves that to nobody (TF-A v2.8). */
    readonly nsOtpCheck: boolean;
    /** x1 after a command that returns no value: zeroed (TF-A) or left as the caller passed it (OP-TEE). */
    readonly x1AfterWrite: 'zero' | 'unchanged';
  };
  readonly scmi: {
    readonly vendor: string;
    readonly subVendor: string;
    readonly implementationVersion: number;
    readonly versions: Readonly<Record<ScmiProtocolName, number>>;
    readonly protocols: readonly ScmiProtocolName[];
    /** Payload bytes a message may carry into the monitor (SCMI_SEC_PAYLOAD_SIZE) and the channel size. */
    readonly payloadMax: number;
    readonly shmSize: number;
    readonly agents: readonly ScmiAgentData[];
  };
}

const MHZ = 1_000_000;
const AXI = 266_500_000;
const HSI = 64 * MHZ;
const PCLK5 = AXI / 4;
const gate = (etzpc: string): Gate => ({ etzpc });
const fixed = (name: string, uv: number): ScmiVoltageData => ({ name, levels: [uv] });
const range = (name: string, from: number, to: number, step: number): ScmiVoltageData => ({
  name,
  levels: Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step),
});

const CORE_CLOCKS: readonly ScmiClockData[] = [
  { name: 'ck_hse', rateHz: 24 * MHZ, enabled: true, gate: 'always' },
  { name: 'ck_hsi', rateHz: HSI, enabled: true, gate: 'always' },
  { name: 'ck_csi', rateHz: 4 * MHZ, enabled: true, gate: 'always' },
  { name: 'ck_lse', rateHz: 32_768, enabled: true, gate: 'always' },
  { name: 'ck_lsi', rateHz: 32_000, enabled: true, gate: 'always' },
  { name: 'pll2_q', rateHz: 533 * MHZ, enabled: true, gate: 'always' },
  { name: 'pll2_r', rateHz: 533 * MHZ, enabled: true, gate: 'always' },
  { name: 'ck_mpu', rateHz: 650 * MHZ, enabled: true, gate: 'always' },
  { name: 'ck_axi', rateHz: AXI, enabled: true, gate: 'always' },
  { name: 'bsec', rateHz: PCLK5, enabled: true, gate: 'always' },
  { name: 'cryp1', rateHz: AXI, enabled: false, gate: gate('CRYP1') },
  { name: 'gpioz', rateHz: AXI, enabled: false, gate: 'always' },
  { name: 'hash1', rateHz: AXI, enabled: false, gate: gate('HASH1') },
  { name: 'i2c4_k', rateHz: HSI, enabled: false, gate: gate('I2C4') },
  { name: 'i2c6_k', rateHz: HSI, enabled: false, gate: gate('I2C6') },
  { name: 'iwdg1', rateHz: PCLK5, enabled: false, gate: gate('IWDG1') },
  { name: 'rng1_k', rateHz: 32_000, enabled: true, gate: gate('RNG1') },
  { name: 'ck_rtc', rateHz: 32_768, enabled: true, gate: 'always' },
  { name: 'rtcapb', rateHz: PCLK5, enabled: true, gate: 'always' },
  { name: 'spi6_k', rateHz: HSI, enabled: false, gate: gate('SPI6') },
  { name: 'usart1_k', rateHz: HSI, enabled: false, gate: gate('USART1') },
];

const RESETS: readonly ScmiResetData[] = [
  { name: 'spi6', gate: gate('SPI6') },
  { name: 'i2c4', gate: gate('I2C4') },
  { name: 'i2c6', gate: gate('I2C6') },
  { name: 'usart1', gate: gate('USART1') },
  { name: 'stgen', gate: gate('STGENC') },
  { name: 'gpioz', gate: 'never' },
  { name: 'cryp1', gate: gate('CRYP1') },
  { name: 'hash1', gate: gate('HASH1') },
  { name: 'rng1', gate: gate('RNG1') },
  { name: 'mdma', gate: 'always' },
  { name: 'mcu', gate: 'always' },
];

const SHM = 0x2ffff000;

/** OP-TEE 4.9 as the STM32MP15 secure monitor (the default). */
export const MONITOR_OPTEE: MonitorData = {
  name: 'optee',
  description: 'OP-TEE 4.9 (plat-stm32mp1, CFG_STM32MP1_SCMI_SIP=y)',
  smcccVersion: 0x10001,
  psci: {
    version: 0x10000,
    functions: ['VERSION', 'CPU_OFF', 'CPU_ON', 'AFFINITY_INFO', 'SYSTEM_OFF', 'SYSTEM_RESET', 'FEATURES'],
    features: ['VERSION', 'FEATURES', 'SYSTEM_RESET', 'CPU_ON', 'CPU_OFF', 'SYSTEM_OFF'],
    cpuOnBootCore: 'INVALID_PARAMETERS',
    callCount: 21,
  },
  sip: {
    bsec: ['READ_SHADOW', 'PROG_OTP', 'WRITE_SHADOW', 'READ_OTP', 'WRLOCK_OTP'],
    callCount: 3,
    nsOtpCheck: true,
    x1AfterWrite: 'unchanged',
  },
  scmi: {
    vendor: 'ST',
    subVendor: '',
    implementationVersion: 0,
    versions: { BASE: 0x20000, CLOCK: 0x20000, RESET_DOMAIN: 0x10000, VOLTAGE_DOMAIN: 0x20000 },
    protocols: ['CLOCK', 'RESET_DOMAIN', 'VOLTAGE_DOMAIN'],
    payloadMax: 92,
    shmSize: 128,
    agents: [
      {
        fid: 0x82002000,
        shmAddr: SHM,
        clocks: CORE_CLOCKS,
        resets: [...RESETS, { name: 'mcu_hold_boot', gate: 'always', noCycle: true }],
        voltages: [
          fixed('reg11', 1_100_000),
          fixed('reg18', 1_800_000),
          fixed('usb33', 3_300_000),
          range('vddcore', 1_200_000, 1_350_000, 25_000),
          fixed('vdd_ddr', 1_350_000),
          fixed('vdd', 3_300_000),
          fixed('v3v3', 3_300_000),
          fixed('v1v8_audio', 1_800_000),
          fixed('v3v3_hdmi', 3_300_000),
          fixed('vtt_ddr', 675_000),
          fixed('vdd_usb', 3_300_000),
          fixed('vdda', 2_900_000),
          fixed('v1v2_hdmi', 1_200_000),
          fixed('vref_ddr', 675_000),
          fixed('bst_out', 5_000_000),
          fixed('vbus_otg', 5_000_000),
          fixed('vbus_sw', 5_000_000),
        ],
      },
    ],
  },
};

/** TF-A v2.8 SP_MIN as the STM32MP15 secure monitor. */
export const MONITOR_SP_MIN: MonitorData = {
  name: 'sp-min',
  description: 'TF-A v2.8 SP_MIN (plat/st/stm32mp1)',
  smcccVersion: 0x10002,
  psci: {
    version: 0x10001,
    functions: [
      'VERSION',
      'CPU_SUSPEND',
      'CPU_OFF',
      'CPU_ON',
      'AFFINITY_INFO',
      'MIGRATE_INFO_TYPE',
      'SYSTEM_OFF',
      'SYSTEM_RESET',
      'FEATURES',
      'NODE_HW_STATE',
    ],
    entryFloor: 0xc0000000,
    cpuOnBootCore: 'ALREADY_ON',
    panics: ['CPU_OFF', 'SYSTEM_OFF'],
    callCount: 18,
  },
  sip: { bsec: ['READ_SHADOW', 'PROG_OTP', 'WRITE_SHADOW', 'READ_OTP'], callCount: 3, nsOtpCheck: false, x1AfterWrite: 'zero' },
  scmi: {
    vendor: 'ST',
    subVendor: '',
    implementationVersion: 0,
    versions: { BASE: 0x20000, CLOCK: 0x20000, RESET_DOMAIN: 0x10000, VOLTAGE_DOMAIN: 0x20000 },
    protocols: ['CLOCK', 'RESET_DOMAIN'],
    payloadMax: 92,
    shmSize: 128,
    agents: [
      { fid: 0x82002000, shmAddr: SHM, clocks: CORE_CLOCKS, resets: RESETS, voltages: [] },
      {
        fid: 0x82002001,
        shmAddr: SHM + 0x200,
        clocks: [
          { name: 'pll3_q', rateHz: 24_000_000, enabled: true, gate: 'always' },
          { name: 'pll3_r', rateHz: 11_000_000, enabled: true, gate: 'always' },
          { name: 'ck_mcu', rateHz: 209_000_000, enabled: false, gate: 'always' },
        ],
        resets: [],
        voltages: [],
      },
    ],
  },
};

export const MONITORS: readonly MonitorData[] = [MONITOR_OPTEE, MONITOR_SP_MIN];
