/**
 * `rsekit/boot`: provisioning and booting a virtual RSE with its profile's firmware policy: the
 * ROM's provisioning flow (CM/DM bundles, or 1.7's ROM bundle and data), then BL1_1 → BL1_2 →
 * BL2, each check reported, the measured-boot records in the shared data area.
 *
 * @example Create, provision and boot a device in memory
 * ```ts
 * import { bootDevice, createDevice, provisionFromValues } from 'rsekit/boot';
 * import { MemoryStore } from 'rsekit/device';
 *
 * const store = new MemoryStore();
 * const dev = createDevice(store, { profile: 'rse-2.1' });
 * provisionFromValues(dev, values, readFile); // CM -> DM -> SE
 * store.write('flash.bin', hostFlash);
 * const report = bootDevice(dev);
 * console.log(report.ok, report.placed, report.measurements);
 * ```
 * @module
 */
export type { BundleKind, BundlePlain, CmValues, DmValues } from '../provisioning/bundle.ts';
export { BUNDLE_SIZE, decodeBundle, encodeBundle } from '../provisioning/bundle.ts';
export { PSI } from '../provisioning/rom.ts';
export type { ReadFile } from '../provisioning/values.ts';
export { cmInputs, DUMMY, dmInputs } from '../provisioning/values.ts';
export type { Bl1Result, BootCheck } from './bl1.ts';
export { runBl1 } from './bl1.ts';
export type { Bl2Result, PlacedImage, XipPlacement } from './bl2.ts';
export type { BootOptions, ChainReport, StageName } from './chain.ts';
export { BOOT_FILES, bootDevice } from './chain.ts';
export type { PowerOnReport, PowerOnResult, ProvisionInput, ProvisionRunResult, StageReport } from './power-on.ts';
export { createDevice, describeResult, installRomBundle, loadBundle, powerOn, provisionFromValues, provisionRun } from './power-on.ts';
export type { Measurement } from './shared-data.ts';
export { extendedSlotValue, parseSharedData, SharedData } from './shared-data.ts';
