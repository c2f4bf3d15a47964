/**
 * Image binding of encrypted images (`MCUBOOT_IMAGE_BINDING` with `MCUBOOT_ENC_IMAGES`; TF-M
 * 2.3.1 `rse_bl2_binding_ccm.c`, TC `boot_hal_bl2.c`):
 *
 * - the associated data: image id u8 ‖ "RSEBINDv1\0" ‖ ih_flags u32 ‖ the version as one u64
 *   (major | minor << 16 | revision << 32 | build << 48, so only the low 16 bits of the build
 *   number count) ‖ the security counter u32, all little-endian;
 * - binding (post-load, image not bound): metadata IN_PROGRESS (7F 02 0C 10, then the nonce),
 *   the loaded plaintext body AES-CCM-encrypted under the binding key and programmed over the
 *   primary's payload 1 KiB at a time, the 16-byte tag, then the metadata again with byte 0 BOUND;
 * - a bound image is CCM-decrypted in RAM and its tag checked (`boot_enc_decrypt_and_auth_in_sram`)
 *   instead of MCUboot's decryption, hash and signature.
 *
 * The nonce is never set in TF-M 2.3.1: every binding uses twelve zero bytes under the one device
 * key. The payload is programmed without an erase, as the TC host flash driver programs it.
 * @module
 */
import { aesCcmDecrypt, aesCcmEncrypt } from '../crypto/index.ts';
import type { Bus } from '../device/atu.ts';
import type { ImageHeader } from '../mcuboot/image.ts';
import type { ImageBindingConfig } from '../profiles/types.ts';
import { BIND_ALG_CCM, BIND_LEN, BIND_STATE_BOUND, BIND_STATE_IN_PROGRESS, type BindCtx, findUnprotectedTlv } from './binding.ts';

/** `build_ad_buf`: the associated data of image `imageId` with header `hdr` and security counter `secCnt`. */
export function ccmAd(imageId: number, hdr: ImageHeader, secCnt: number, cfg: ImageBindingConfig): Uint8Array {
  const label = new TextEncoder().encode(cfg.ccm.adLabel);
  const out = new Uint8Array(1 + label.length + 4 + 8 + 4);
  const dv = new DataView(out.buffer);
  out[0] = imageId & 0xff;
  out.set(label, 1);
  let o = 1 + label.length;
  dv.setUint32(o, hdr.flags >>> 0, true);
  o += 4;
  // (u64)major | (u64)minor << 16 | (u64)revision << 32 | (u64)build << 48, truncated to 64 bits.
  out[o] = hdr.version.major & 0xff;
  out[o + 2] = hdr.version.minor & 0xff;
  dv.setUint16(o + 4, hdr.version.revision & 0xffff, true);
  dv.setUint16(o + 6, hdr.version.build & 0xffff, true);
  o += 8;
  dv.setUint32(o, secCnt >>> 0, true);
  return out;
}

/** The CCM encryption `rse_do_binding` programs: ciphertext of `body` and its tag. */
export function ccmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  body: Uint8Array,
  cfg: ImageBindingConfig,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  return aesCcmEncrypt(key, nonce, ad, body, cfg.ccm.tagLen);
}

/** `boot_enc_decrypt_and_auth_in_sram`'s check: the plaintext, or undefined when the tag does not authenticate. */
export function ccmOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, body: Uint8Array, tag: Uint8Array): Uint8Array | undefined {
  return aesCcmDecrypt(key, nonce, ad, body, tag);
}

/**
 * `rse_do_binding` (CCM): metadata IN_PROGRESS, the payload in chunks, the tag, metadata BOUND,
 * each programmed byte by byte into the primary (`before` is the power-cut point of each). The
 * metadata's nonce is the context's (zero for an image bound for the first time). Returns a reason on failure.
 */
export function writeCcmBinding(
  bus: Bus,
  ctx: BindCtx,
  cfg: ImageBindingConfig,
  sealed: { ciphertext: Uint8Array; tag: Uint8Array },
  before?: (what: string) => void,
): string | undefined {
  const a = ctx.area;
  const metaAt = findUnprotectedTlv(bus, a, ctx.hdr, cfg.metaTlv);
  if (typeof metaAt === 'string' || metaAt + BIND_LEN > a.size) return 'metadata write failed: no BIND_METADATA TLV';
  const meta = new Uint8Array(BIND_LEN);
  meta[0] = BIND_STATE_IN_PROGRESS;
  meta[1] = BIND_ALG_CCM;
  meta[2] = cfg.ccm.nonceLen;
  meta[3] = cfg.ccm.tagLen;
  meta.set((ctx.nonce ?? new Uint8Array(cfg.ccm.nonceLen)).subarray(0, BIND_LEN - 4), 4);
  bus.program(a.base + metaAt, meta, before);
  const body = sealed.ciphertext;
  if (ctx.hdr.hdrSize + body.length > a.size) return `CCM write failed: ${body.length} bytes from ${ctx.hdr.hdrSize} pass the slot`;
  for (let pos = 0; pos < body.length; pos += cfg.ccm.chunk)
    bus.program(a.base + ctx.hdr.hdrSize + pos, body.subarray(pos, pos + cfg.ccm.chunk), before);
  const tagAt = findUnprotectedTlv(bus, a, ctx.hdr, cfg.tagTlv);
  if (typeof tagAt === 'string' || tagAt + BIND_LEN > a.size) return 'tag write failed: no BIND_TAG TLV';
  bus.program(a.base + tagAt, sealed.tag.subarray(0, BIND_LEN), before);
  meta[0] = BIND_STATE_BOUND;
  // The TLV is found again (it is where it was: the walk reads only the TLV headers).
  const again = findUnprotectedTlv(bus, a, ctx.hdr, cfg.metaTlv);
  if (typeof again === 'string') return 'metadata write failed: no BIND_METADATA TLV';
  bus.program(a.base + again, meta, before);
  return undefined;
}
