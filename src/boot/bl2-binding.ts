/**
 * BL2's platform hooks for image binding and encrypted images (TF-M 2.3.1 TC `boot_hal_bl2.c`,
 * MCUboot e2a6d0b `ram_load.c`): the pre-load read of the primary's binding state, the check of a
 * bound image after the RAM copy (`boot_platform_after_ramload`), MCUboot's decryption of an
 * encrypted image in RAM (`boot_decrypt_and_copy_image_to_sram`), and the binding at post-load.
 * The binding is a CMAC (`binding.ts`), or AES-CCM re-encryption in `MCUBOOT_ENC_IMAGES` builds
 * (`binding-ccm.ts`).
 * @module
 */
import { constantTimeEqual, loadKey } from '../crypto/index.ts';
import { KMU_SLOT } from '../crypto/kmu.ts';
import { BL2_ENC_KEY_FILE } from '../device/device.ts';
import { isRseError } from '../lib/errors.ts';
import { TLV } from '../mcuboot/constants.ts';
import { cryptPayload, unwrapImageKey } from '../mcuboot/encrypt.ts';
import { decodeHeaderFields, type ImageHeader } from '../mcuboot/image.ts';
import type { Bl2ImageSpec, ImageBindingConfig } from '../profiles/types.ts';
import { BIND_ALG_CCM, BIND_ALG_CMAC, type BindCtx, bindingTag, readBindingData, writeBinding } from './binding.ts';
import { ccmAd, ccmOpen, ccmSeal, writeCcmBinding } from './binding-ccm.ts';
import { bl2NvCounter, imageTlvs, Reject, type Tlv, TRAILER_RESERVE } from './bl2-validate.ts';
import type { Area, Bl2Platform } from './post-load.ts';

/** The RAM the binding covers (`rse_bind_set_ram_window`): the loaded body, set at after-RAM-load only. */
export interface RamWindow {
  readonly addr: number;
  readonly len: number;
}

const ccmBuild = (ctx: Bl2Platform): boolean => ctx.prof.encImages?.enabled === true;

/** The TC pre-load's `rse_read_binding_data` on the primary slot (its header read at the page offset once more, as upstream reads it). */
export function readBinding(ctx: Bl2Platform, spec: Bl2ImageSpec, area: Area, cfg: ImageBindingConfig): BindCtx | string {
  const tag = `image ${spec.index} (${spec.name})`;
  const hdrAt = area.pageOffset ?? 0;
  const alg = ccmBuild(ctx) ? BIND_ALG_CCM : BIND_ALG_CMAC;
  const b =
    hdrAt + 32 > area.size
      ? 'the header is past the slot'
      : readBindingData(ctx.bus, area, decodeHeaderFields(ctx.bus.read(area.base + hdrAt, 32)), cfg, alg);
  ctx.check(
    `${tag}: binding data`,
    typeof b !== 'string',
    typeof b === 'string'
      ? b
      : b.tag !== undefined
        ? `bound (metadata BOUND, ${alg === BIND_ALG_CCM ? 'CCM' : 'CMAC'}): its tag replaces the signature check`
        : 'not bound yet (placeholders): bound after its first verification',
  );
  return b;
}

/**
 * `boot_platform_after_ramload` for a bound image's loaded copy: the CMAC over its header fields
 * and body, or (CCM builds) the CCM decryption of its body in RAM with the stored tag, both with
 * the primary's security counter; then `rse_enforce_rollback`. Reports and returns the outcome.
 */
export function checkBoundCopy(ctx: Bl2Platform, at: string, spec: Bl2ImageSpec, bind: BindCtx, dst: number, hdr: ImageHeader): boolean {
  const keep = 'the slot is dropped, its RAM copy left in place (upstream does not wipe it)';
  const key = ctx.dev.kmu.use(KMU_SLOT.SECURE_BINDING_KEY);
  const stored = bind.tag as Uint8Array;
  const body = ctx.bus.read(dst + hdr.hdrSize, hdr.imgSize);
  const cfg = ctx.prof.imageBinding as ImageBindingConfig;
  if (ccmBuild(ctx)) {
    const plain = ccmOpen(key, bind.nonce as Uint8Array, ccmAd(spec.index, hdr, bind.secCnt, cfg), body, stored);
    if (plain === undefined)
      return ctx.check(
        `${at}: binding CCM`,
        false,
        `the payload does not authenticate with BIND_TAG under this device's binding key (bound on another device, altered, or re-encrypted over old ciphertext without an erase); ${keep}`,
      );
    ctx.bus.write(dst + hdr.hdrSize, plain);
  } else if (!constantTimeEqual(bindingTag(key, hdr, bind.secCnt, body) as Uint8Array, stored))
    // The body read is the loaded slot's own ih_img_size, so the tag is always computed.
    return ctx.check(
      `${at}: binding tag`,
      false,
      `BIND_TAG of the primary is not the CMAC of this slot's header and body with the primary's security counter under this device's binding key (bound on another device, bound over another image, or altered); ${keep}`,
    );
  const nvName = bl2NvCounter(spec);
  const nv = ctx.dev.plat.readCounter(nvName);
  if (bind.secCnt < nv)
    return ctx.check(
      `${at}: binding rollback`,
      false,
      `rollback: security counter ${bind.secCnt} is below NV counter ${nvName} = ${nv}; ${keep}`,
    );
  return ctx.check(
    `${at}: binding tag`,
    true,
    `${ccmBuild(ctx) ? 'payload decrypted and authenticated (AES-CCM)' : 'tag verified'} with the device binding key, security counter ${bind.secCnt} (NV ${nv}): signature and hash not checked (boot_image_check_hook)`,
  );
}

/** The enc TLV each key type of the build unwraps (`BOOT_ENC_TLV`). */
const ENC_TLV: Readonly<Record<string, number>> = {
  'rsa-2048': TLV.ENCRSA2048,
  'ecdsa-p256': TLV.ENCEC256,
  x25519: TLV.ENCX25519,
};

/**
 * MCUboot's decryption of an encrypted image in RAM (`boot_enc_load`, `boot_decrypt_key`, AES-CTR
 * over the payload): the AES key from the image's key TLV with the key built into BL2. Returns
 * what went wrong, or undefined with the payload decrypted in place.
 */
export function decryptInRam(ctx: Bl2Platform, img: Uint8Array, hdr: ImageHeader, dst: number, areaSize: number): string | undefined {
  const der = ctx.dev.store.read(BL2_ENC_KEY_FILE);
  if (der === undefined) return `this MCUBOOT_ENC_IMAGES build has no decryption key (${BL2_ENC_KEY_FILE} is missing from the device)`;
  const key = loadKey(der);
  const type = ENC_TLV[key.type];
  if (type === undefined) return `a ${key.type} key cannot decrypt MCUboot images`;
  const keyBytes = ctx.prof.encImages?.keyBytes ?? 16;
  let t: Tlv | undefined;
  try {
    t = imageTlvs(img, areaSize - TRAILER_RESERVE).find((x) => x.type === type);
  } catch (e) {
    if (e instanceof Reject) return e.message;
    throw e;
  }
  if (t === undefined)
    return `no key TLV 0x${type.toString(16)} (the one a ${key.type} build reads): MCUboot decrypts with no key set, and the hash cannot match`;
  let aesKey: Uint8Array;
  try {
    aesKey = unwrapImageKey({ tlvType: type, value: t.value }, key, keyBytes);
  } catch (e) {
    if (isRseError(e)) return `the image key does not unwrap with this BL2's key (an AES-${keyBytes * 8} build): ${e.message}`;
    throw e;
  }
  ctx.bus.write(dst + hdr.hdrSize, cryptPayload(aesKey, img.subarray(hdr.hdrSize, hdr.hdrSize + hdr.imgSize)));
  return undefined;
}

/**
 * `rse_do_binding` at post-load: the CMAC tag over the RAM window, or (CCM builds) the window
 * re-encrypted into the primary's payload, programmed into the primary. Reports; returns a reason on failure.
 */
export function bindImage(
  ctx: Bl2Platform,
  spec: Bl2ImageSpec,
  bind: BindCtx,
  primary: Area,
  window: RamWindow | undefined,
): string | undefined {
  const cfg = ctx.prof.imageBinding as ImageBindingConfig;
  const key = ctx.dev.kmu.use(KMU_SLOT.SECURE_BINDING_KEY);
  const body = window === undefined ? new Uint8Array(0) : ctx.bus.read(window.addr, window.len);
  const faults = ctx.dev.faults;
  const before = faults === undefined ? undefined : (w: string): void => faults.point(w);
  let why: string | undefined;
  let done: string;
  if (ccmBuild(ctx)) {
    const sealed = ccmSeal(key, bind.nonce as Uint8Array, ccmAd(spec.index, bind.hdr, bind.secCnt, cfg), body, cfg);
    why = writeCcmBinding(ctx.bus, bind, cfg, sealed, before);
    done =
      window === undefined
        ? 'bound to this device over an empty body (a plain image on an MCUBOOT_ENC_IMAGES build has no RAM window): its signature stays checked on every boot'
        : `bound to this device: ${body.length} payload bytes re-encrypted (AES-CCM, nonce from the metadata) and programmed over the primary's payload without an erase, then BIND_TAG and BIND_METADATA (BOUND, CCM) (${primary.source})`;
  } else {
    const tag = bindingTag(key, bind.hdr, bind.secCnt, body);
    why =
      tag === undefined
        ? `CMAC compute failed: the loaded body is ${body.length} bytes, the primary's ih_img_size ${bind.hdr.imgSize}`
        : writeBinding(ctx.bus, bind, cfg, tag, before);
    done = `bound to this device: BIND_TAG and BIND_METADATA (BOUND, CMAC) programmed into the primary (${primary.source})`;
  }
  ctx.check(`image ${spec.index} (${spec.name}): binding`, why === undefined, why ?? done);
  return why;
}
