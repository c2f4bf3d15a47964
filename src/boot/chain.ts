/**
 * A cold boot of the whole chain: BL1_1 (platform init, provisioning dispatch, the BL1_2 hash),
 * BL1_2 (BL2 from FIP_A/FIP_B or the 1.7 flash), BL2 (MCUboot RAM-load of S, NS, AP BL1 and SCP
 * BL1), up to the jump into the runtime. The measurements go into the shared data area in the
 * order the stages store them; afterwards the device directory holds what was placed:
 * `host-ap-sram.bin`, `host-scp-sram.bin`, `sram-vm0.bin`/`sram-vm1.bin` and `shared-data.bin`.
 * @module
 */

import type { Device } from '../device/device.ts';
import type { LcsName } from '../otp/lcm.ts';
import { type BootCheck, runBl1 } from './bl1.ts';
import { type Bl2Result, type PlacedImage, runBl2 } from './bl2.ts';
import { type PowerOnReport, powerOn } from './power-on.ts';
import { type Measurement, SharedData } from './shared-data.ts';

export type StageName = 'BL1_1' | 'BL1_2' | 'BL2';

/** Files a boot leaves in the device directory. */
export const BOOT_FILES = {
  apSram: 'host-ap-sram.bin',
  scpSram: 'host-scp-sram.bin',
  sharedData: 'shared-data.bin',
  /** XIP builds: the S and NS runtimes as the SIC presents them (decrypted). */
  xipS: 'xip-s.bin',
  xipNs: 'xip-ns.bin',
} as const;

/** A cold boot from BL1_1 to the runtime: each stage, each check, what was placed and measured. */
export interface ChainReport {
  readonly ok: boolean;
  readonly profile: string;
  readonly lcs: LcsName | 'FATAL';
  /** Each stage that ran, how long it took and whether it handed over. */
  readonly stages: readonly { readonly stage: StageName; readonly ms: number; readonly ok: boolean }[];
  readonly checks: readonly BootCheck[];
  readonly measurements: readonly Measurement[];
  readonly placed: readonly PlacedImage[];
  readonly started: readonly string[];
  readonly atu: readonly string[];
  readonly bl2?: { readonly bank: string; readonly version: string; readonly securityCounter: number };
  /** Where the chain stopped; `image` is the BL2 image it stopped on. */
  readonly halt?: { readonly stage: StageName; readonly reason: string; readonly code: string; readonly image?: number };
  readonly powerOn: PowerOnReport;
  readonly ms: number;
}

/** Options of {@link bootDevice}. */
export interface BootOptions {
  /**
   * Called when an image starts running: a host image when BL2 releases it (SCP BL1, then AP
   * BL1), then S (0) when BL2 jumps to it and NS (1), which S starts.
   */
  readonly onStarted?: (index: number) => void;
}

/** Powers the device on and runs BL1_1 → BL1_2 → BL2. */
export function bootDevice(dev: Device, options: BootOptions = {}): ChainReport {
  const t0 = performance.now();
  const on = powerOn(dev);
  const tOn = performance.now() - t0;
  const base = { profile: dev.profile.name, lcs: on.lcs, powerOn: on, placed: [], started: [], atu: [] };
  if (on.result.kind !== 'ready') {
    const reason = dev.json.lastBoot ?? on.result.kind;
    return {
      ...base,
      ok: false,
      stages: [{ stage: 'BL1_1', ms: tOn, ok: false }],
      checks: [],
      measurements: [],
      halt: {
        stage: 'BL1_1',
        reason,
        code: on.result.kind === 'halt' ? on.result.code : `E_${on.result.kind.toUpperCase().replace('-', '_')}`,
      },
      ms: performance.now() - t0,
    };
  }
  const shared = new SharedData(dev.profile.sharedData);
  // One read of the flash serves BL1_2 and BL2.
  const flash = dev.store.read('flash.bin') ?? new Uint8Array(0);
  const bl1 = runBl1(dev, flash);
  for (const m of bl1.measurements) shared.storeMeasurement(m);
  const stages: { stage: StageName; ms: number; ok: boolean }[] = [
    { stage: 'BL1_1', ms: tOn + bl1.ms.BL1_1, ok: bl1.halt?.stage !== 'BL1_1' },
  ];
  if (bl1.halt?.stage !== 'BL1_1') stages.push({ stage: 'BL1_2', ms: bl1.ms.BL1_2, ok: bl1.ok });
  if (!bl1.ok || bl1.bl2 === undefined) {
    save(dev, shared, undefined);
    return {
      ...base,
      ok: false,
      stages,
      checks: bl1.checks,
      measurements: bl1.measurements,
      ...(bl1.halt ? { halt: bl1.halt } : {}),
      ms: performance.now() - t0,
    };
  }
  const t2 = performance.now();
  const bl2 = runBl2(dev, shared, flash, options.onStarted);
  if (bl2.ok) {
    // BL2 jumps to S, which starts NS.
    options.onStarted?.(0);
    options.onStarted?.(1);
  }
  stages.push({ stage: 'BL2', ms: performance.now() - t2, ok: bl2.ok });
  save(dev, shared, bl2);
  dev.json.lastBoot = bl2.ok
    ? `booted: ${bl2.placed.length} images placed, S runtime entered`
    : `stopped in BL2: ${bl2.halt?.reason} [${bl2.halt?.code}]`;
  dev.saveJson();
  return {
    ...base,
    ok: bl2.ok,
    stages,
    checks: [...bl1.checks, ...bl2.checks],
    measurements: [...bl1.measurements, ...bl2.measurements],
    placed: bl2.placed,
    started: bl2.started,
    atu: bl2.atuLog,
    bl2: { bank: bl1.bl2.bank, version: bl1.bl2.version, securityCounter: bl1.bl2.securityCounter },
    ...(bl2.halt ? { halt: bl2.halt } : {}),
    ms: performance.now() - t0,
  };
}

function save(dev: Device, shared: SharedData, bl2: Bl2Result | undefined): void {
  dev.store.write(BOOT_FILES.sharedData, shared.bytes);
  if (bl2 === undefined) return;
  dev.store.write(BOOT_FILES.apSram, bl2.apSram);
  dev.store.write(BOOT_FILES.scpSram, bl2.scpSram);
  if (dev.xip)
    for (const [index, file] of [
      [0, BOOT_FILES.xipS],
      [1, BOOT_FILES.xipNs],
    ] as const)
      dev.store.write(file, bl2.xipViews.find((v) => v.index === index)?.bytes ?? new Uint8Array(0));
  dev.saveSram();
}
