/**
 * Image binding of TF-M 2.3's BL2 (`MCUBOOT_IMAGE_BINDING`; `rse_bl2_binding_cmac.c`,
 * `rse_bl2_binding_util.c`, TC `boot_hal_bl2.c`), for plain (not MCUboot-encrypted) images:
 *
 * - pre-load reads, from the primary slot only, the security counter (protected TLVs) and the
 *   16-byte BIND_METADATA and BIND_TAG values (unprotected TLVs 0xA4/0xA5, which must exist);
 *   either all 0xFF means unbound; otherwise the metadata must say BOUND (byte 0 = 0x01) with
 *   CMAC (byte 1 = 0x01), or pre-load fails and BL2 halts;
 * - after the RAM copy of either slot, the primary's tag is recomputed over the loaded slot's
 *   header fields and body with the primary's security counter; a mismatch drops the slot, a
 *   match skips MCUboot's signature and hash check altogether (`boot_image_check_hook`) after
 *   the rollback check;
 * - post-load binds an unbound image: tag = AES-CMAC(binding key, ih_hdr_size u16 ‖ ih_img_size
 *   u32 ‖ ih_flags u32 ‖ ih_load_addr u32 ‖ ih_ver (u8, u8, u16, u32) ‖ security counter u32 ‖
 *   body) with the primary's header and counter and the first ih_img_size bytes of the loaded
 *   body (whichever slot booted), programmed into the primary's tag TLV, then the metadata
 *   01 01 00…00 into its metadata TLV, byte by byte into NOR flash without an erase.
 *
 * The key is BL1_2's: KDF(HUK, "BL1_2_IMAGE_BINDING_KEY_DERIVATION\0", no context) in its KMU slot.
 * @module
 */
import { aesCmac } from '../crypto/kdf.ts';
import type { Bus } from '../device/atu.ts';
import { readU16le, readU32le, u32le } from '../lib/bytes.ts';
import { TLV, TLV_INFO_MAGIC, TLV_PROT_INFO_MAGIC } from '../mcuboot/constants.ts';
import type { ImageHeader } from '../mcuboot/image.ts';
import type { ImageBindingConfig } from '../profiles/types.ts';

/** `RSE_TLV_BIND_LEN`: the metadata and the tag are 16 bytes each. */
export const BIND_LEN = 16;
/** `RSE_BIND_STATE_BOUND`, `RSE_BIND_STATE_IN_PROG`: metadata byte 0 (0xFF unset; each step only clears bits). */
export const BIND_STATE_BOUND = 0x01;
export const BIND_STATE_IN_PROGRESS = 0x7f;
/** `RSE_BIND_CMAC_BOUND`, `RSE_BIND_CCM_BOUND`: metadata byte 1, the binding a build does (CCM with `MCUBOOT_ENC_IMAGES`). */
export const BIND_ALG_CMAC = 0x01;
export const BIND_ALG_CCM = 0x02;

/** A slot as binding reads it: flash reads bounded by the area, as `flash_area_read` is. */
export interface BindArea {
  readonly base: number;
  readonly size: number;
}

/** What pre-load read from the primary slot (`struct rse_bind_ctx`). */
export interface BindCtx {
  readonly hdr: ImageHeader;
  readonly area: BindArea;
  readonly secCnt: number;
  /** A bound image's tag (to check instead of the signature); absent: unbound, bound at post-load. */
  readonly tag?: Uint8Array;
  /**
   * CCM builds: the nonce, from a bound image's metadata (bytes 4..15); all zero for an unbound
   * one, as `rse_read_binding_data` clears the context and nothing in TF-M 2.3.1 sets it.
   */
  readonly nonce?: Uint8Array;
}

function areaRead(bus: Bus, a: BindArea, off: number, len: number): Uint8Array | undefined {
  if (off + len > a.size) return undefined;
  return bus.read(a.base + off, len);
}

/** Walks a TLV area (`magic`, at `off`) for `match`; the value's offset, or a reason. */
function findTlv(bus: Bus, a: BindArea, off: number, magic: number, match: (type: number, len: number) => boolean): number | string {
  const info = areaRead(bus, a, off, 4);
  if (info === undefined) return `the TLV info at 0x${off.toString(16)} is past the slot`;
  if (readU16le(info, 0) !== magic) return `no TLV magic 0x${magic.toString(16)} at 0x${off.toString(16)}`;
  const end = off + readU16le(info, 2);
  for (let cur = off + 4; cur + 4 <= end; ) {
    const t = areaRead(bus, a, cur, 4);
    if (t === undefined) return `TLV at 0x${cur.toString(16)} is past the slot`;
    const type = readU16le(t, 0);
    const len = readU16le(t, 2);
    if (match(type, len)) return cur + 4;
    cur += 4 + len;
  }
  return 'not found';
}

/** `find_unprot_tlv`: the value offset of an unprotected TLV, or a reason. */
export function findUnprotectedTlv(bus: Bus, a: BindArea, hdr: ImageHeader, type: number): number | string {
  const off = (hdr.hdrSize + hdr.imgSize + hdr.protectTlvSize) >>> 0;
  return findTlv(bus, a, off, TLV_INFO_MAGIC, (t) => t === type);
}

const allFf = (b: Uint8Array): boolean => b.every((x) => x === 0xff);

/**
 * `rse_read_binding_data` on the primary slot: its binding state, or why pre-load fails. `alg` is
 * the binding the build does ({@link BIND_ALG_CCM} with `MCUBOOT_ENC_IMAGES`, else CMAC).
 */
export function readBindingData(bus: Bus, a: BindArea, hdr: ImageHeader, cfg: ImageBindingConfig, alg = BIND_ALG_CMAC): BindCtx | string {
  const protOff = (hdr.hdrSize + hdr.imgSize) >>> 0;
  const sc = findTlv(bus, a, protOff, TLV_PROT_INFO_MAGIC, (t, len) => t === TLV.SEC_CNT && len === 4);
  const scBytes = typeof sc === 'number' ? areaRead(bus, a, sc, 4) : undefined;
  if (scBytes === undefined) return `no security counter in the protected TLVs (${typeof sc === 'string' ? sc : 'past the slot'})`;
  const values: Uint8Array[] = [];
  for (const [what, type] of [
    ['BIND_METADATA', cfg.metaTlv],
    ['BIND_TAG', cfg.tagTlv],
  ] as const) {
    const at = findUnprotectedTlv(bus, a, hdr, type);
    const v = typeof at === 'number' ? areaRead(bus, a, at, BIND_LEN) : undefined;
    if (v === undefined)
      return `no ${what} TLV 0x${type.toString(16)} in the unprotected TLVs (${typeof at === 'string' ? at : 'past the slot'}): images of a binding build carry the placeholders`;
    values.push(v.slice());
  }
  const [meta, tag] = values as [Uint8Array, Uint8Array];
  const secCnt = readU32le(scBytes, 0);
  const ccm = alg === BIND_ALG_CCM;
  const zeroNonce = ccm ? { nonce: new Uint8Array(cfg.ccm.nonceLen) } : {};
  if (allFf(meta) || allFf(tag)) return { hdr, area: a, secCnt, ...zeroNonce };
  if (meta[0] !== BIND_STATE_BOUND || meta[1] !== alg)
    return `invalid binding state ${meta[0]} or algorithm ${meta[1]} in BIND_METADATA (BL2 expects ${BIND_STATE_BOUND} and ${alg})`;
  return { hdr, area: a, secCnt, tag, ...(ccm ? { nonce: meta.slice(4, 4 + cfg.ccm.nonceLen) } : {}) };
}

/** `compute_cmac_tag`: the tag over `hdr`'s fields, a security counter and `body` (at least ih_img_size bytes; undefined if shorter). */
export function bindingTag(key: Uint8Array, hdr: ImageHeader, secCnt: number, body: Uint8Array): Uint8Array | undefined {
  if (body.length < hdr.imgSize) return undefined;
  const fields = new Uint8Array(26);
  const dv = new DataView(fields.buffer);
  dv.setUint16(0, hdr.hdrSize, true);
  dv.setUint32(2, hdr.imgSize, true);
  dv.setUint32(6, hdr.flags, true);
  dv.setUint32(10, hdr.loadAddr, true);
  fields[14] = hdr.version.major;
  fields[15] = hdr.version.minor;
  dv.setUint16(16, hdr.version.revision, true);
  dv.setUint32(18, hdr.version.build, true);
  fields.set(u32le(secCnt), 22);
  return aesCmac(key, fields, body.subarray(0, hdr.imgSize));
}

/**
 * `rse_do_binding`: programs the tag, then the metadata, into the primary's TLVs; `before` is the
 * power-cut point of each programmed byte. Returns a reason on failure.
 */
export function writeBinding(
  bus: Bus,
  ctx: BindCtx,
  cfg: ImageBindingConfig,
  tag: Uint8Array,
  before?: (what: string) => void,
): string | undefined {
  const tagAt = findUnprotectedTlv(bus, ctx.area, ctx.hdr, cfg.tagTlv);
  if (typeof tagAt === 'string' || tagAt + BIND_LEN > ctx.area.size) return 'tag write failed: no BIND_TAG TLV';
  bus.program(ctx.area.base + tagAt, tag, before);
  // The context's metadata of an unbound image is all zero (rse_read_binding_data clears it).
  const meta = new Uint8Array(BIND_LEN);
  meta[0] = BIND_STATE_BOUND;
  meta[1] = BIND_ALG_CMAC;
  // write_unprot_tlv: in place (its append fallback needs the TLV missing, which pre-load excluded).
  const metaAt = findUnprotectedTlv(bus, ctx.area, ctx.hdr, cfg.metaTlv);
  if (typeof metaAt === 'string' || metaAt + BIND_LEN > ctx.area.size) return 'metadata write failed: no BIND_METADATA TLV';
  bus.program(ctx.area.base + metaAt, meta, before);
  return undefined;
}
