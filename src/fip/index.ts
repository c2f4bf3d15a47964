/**
 * `rsekit/fip`: Firmware Image Packages as TF-A's fiptool packs and reads them, and the FIP
 * image table (TF-A's entries and the RSE rows under both spellings).
 *
 * @example Pack a FIP with the RSE BL2 and read it back
 * ```ts
 * import { fipBytes, fipEntryUuid, packFip, parseFip } from 'rsekit/fip';
 *
 * const fip = fipBytes(packFip([{ uuid: fipEntryUuid('rse-bl2'), data: bl2 }], { align: 8192 }));
 * for (const e of parseFip(fip).entries) console.log(e.offset, e.size);
 * ```
 * @module
 */
export type { FipNaming, FipTableEntry } from '../profiles/fip-table.ts';
export { fipEntryUuid, fipTable } from '../profiles/fip-table.ts';
export type { Fip, FipEntry, FipImage, PackedFip, PackOptions } from './fip.ts';
export { checkFipForFirmware, fipBytes, fipUuidFromString, fipUuidToString, packFip, parseFip, platTocFlags } from './fip.ts';
