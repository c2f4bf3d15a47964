/**
 * `rsekit/gpt`: GPT disks as sgdisk lays them out (same arguments, same bytes), read back with
 * every CRC and bound checked, and the PSA FWU metadata TF-A reads for A/B banks.
 *
 * @example A disk with FIP_A and FIP_B, and a FIP written into FIP_A
 * ```ts
 * import { findPartition, partitionBytes, planGpt, readGpt, writeGpt } from 'rsekit/gpt';
 *
 * const disk = writeGpt(planGpt({
 *   totalSectors: 8192,
 *   sectorSize: 512,
 *   diskGuid: '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0',
 *   alignment: 16,
 *   partitions: [
 *     { number: 1, start: '0', end: '+1M', name: 'FIP_A', type: 'fip' },
 *     { number: 2, start: '0', end: '+1M', name: 'FIP_B', type: 'fip' },
 *   ],
 * }));
 * const gpt = readGpt(disk);
 * const a = partitionBytes(gpt, findPartition(gpt, 'FIP_A'));
 * disk.set(fip, a.offset);
 * ```
 * @module
 */
export { findPartition, partitionBytes, readGpt, writeGpt } from './codec.ts';
export type { BankState, FwuImage, FwuMetadata } from './fwu.ts';
export { alternateBank, encodeFwuMetadata, parseFwuMetadata, switchActiveBank } from './fwu.ts';
export type { GptDisk, GptLayout, GptPartition, GptProblem, PartitionRequest, PlanOptions, SectorSize } from './gpt.ts';
export { FIP_TYPE_GUID, FWU_METADATA_TYPE_GUID, planGpt } from './gpt.ts';
export { guidFromBytes, guidToBytes } from './guid.ts';
export { infoText, listText, verifyText } from './sgdisk.ts';
