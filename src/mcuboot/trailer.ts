/**
 * The image trailer at the end of a slot (spec §2.14): the size imgtool reserves for it, the boot
 * magic for a given max_align, and where image_ok sits.
 * @module
 */
import { alignUp } from '../lib/bytes.ts';
import { BOOT_MAGIC, BOOT_MAGIC_SIZE, BOOT_MAGIC_TAIL, DEFAULT_MAX_ALIGN, DEFAULT_MAX_SECTORS } from './constants.ts';

export interface TrailerOptions {
  /** Flash write size used by swap modes (`--align`). */
  readonly align: number;
  /** `--max-align`; defaults to max(8, align). */
  readonly maxAlign: number;
  readonly maxSectors?: number;
  readonly overwriteOnly: boolean;
  readonly encrypted: boolean;
  readonly saveEnctlv: boolean;
  /** Length of the encryption key TLV value (with `--save-enctlv`). */
  readonly encTlvLen: number;
}

export function defaultMaxAlign(align: number): number {
  return Math.max(DEFAULT_MAX_ALIGN, align);
}

/** Bytes imgtool reserves at the end of the slot for the trailer. */
export function trailerSize(o: TrailerOptions): number {
  const magicAlign = alignUp(BOOT_MAGIC_SIZE, o.maxAlign);
  if (o.overwriteOnly) return o.maxAlign * 2 + magicAlign;
  let t = (o.maxSectors ?? DEFAULT_MAX_SECTORS) * 3 * o.align;
  if (o.encrypted) t += 2 * alignUp(o.saveEnctlv ? o.encTlvLen : 16, o.maxAlign);
  return t + o.maxAlign * 4 + magicAlign;
}

/** The 16-byte boot magic: the classic one for max_align 8, else u16 max_align + 14 fixed bytes. */
export function bootMagic(maxAlign: number, bigEndian = false): Uint8Array {
  if (maxAlign === DEFAULT_MAX_ALIGN) return BOOT_MAGIC.slice();
  const m = new Uint8Array(BOOT_MAGIC_SIZE);
  m[bigEndian ? 1 : 0] = maxAlign & 0xff;
  m[bigEndian ? 0 : 1] = (maxAlign >> 8) & 0xff;
  m.set(BOOT_MAGIC_TAIL, 2);
  return m;
}

/** Offset of image_ok from the end of the slot (a negative number). */
export function imageOkFromEnd(maxAlign: number): number {
  return -(alignUp(BOOT_MAGIC_SIZE, maxAlign) + maxAlign);
}
