/**
 * `rsekit/layout`: flash and ROM layouts with srec_cat's `-Binary -offset` semantics (zero holes,
 * conflicting overlaps refused, identical ones allowed), and Intel HEX in and out.
 *
 * @example The RSE ROM: BL1_1 at 0, the DMA ICS at 0x1F000, 128 KiB
 * ```ts
 * import { layout } from 'rsekit/layout';
 *
 * const rom = layout(
 *   [{ name: 'bl1_1.bin', data: bl1_1, offset: 0 }, { name: 'rom_dma_ics.bin', data: dmaIcs, offset: 0x1f000 }],
 *   { size: 0x20000 },
 * ).bytes;
 * ```
 * @module
 */
export type { HexImage, HexSegment } from '../lib/intel-hex.ts';
export { hexToBinary, parseIntelHex, writeIntelHex } from '../lib/intel-hex.ts';
export type { Fill, LayoutOptions, LayoutResult, Placement } from './layout.ts';
export { layout } from './layout.ts';
