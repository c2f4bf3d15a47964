/**
 * BL2: TF-M's `bl2_main` over MCUboot in RAM-load mode (MCUboot v2.1.0 `loader.c`; TF-M
 * `bl2/src/shared_data.c`). Images load one at a time from the last to the first (SCP BL1, AP
 * BL1, NS, S), each with `boot_go_for_image_id`: the platform's pre-load maps its two copies
 * (`post-load.ts`); a slot is available when its header has the magic and header + payload fit
 * the flash area; the highest version wins, the primary on a tie; the image is copied to its load
 * address (RAM_LOAD flag required, inside the image's exec window, not overlapping an image
 * already loaded) and validated in RAM (`bl2-validate.ts`); a failed load or validation zeroes the
 * RAM copy and tries the other slot; then dependencies against images already loaded; then the
 * image's NV counter is raised to its security counter and its measurement (slot 2 + image) goes
 * to the shared data area; then post-load (and the XIP set-up, `xip.ts`).
 *
 * An access the ATU cannot translate is a bus fault: BL2 stops there.
 * @module
 */
import { Bus, BusFault, type Memory } from '../device/atu.ts';
import type { Device } from '../device/device.ts';
import { isRseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { PowerCut } from '../lib/power-cut.ts';
import { IMAGE_FLAGS, IMAGE_MAGIC } from '../mcuboot/constants.ts';
import { decodeHeaderFields, type ImageHeader } from '../mcuboot/image.ts';
import { compareVersions, formatVersion, type ImageVersion } from '../mcuboot/version.ts';
import { PlatOtpError } from '../otp/plat-otp.ts';
import type { Bl2ImageSpec, Bl2Layout, ImageBindingConfig } from '../profiles/types.ts';
import type { BindCtx } from './binding.ts';
import type { BootCheck } from './bl1.ts';
import { bindImage, checkBoundCopy, decryptInRam, type RamWindow, readBinding } from './bl2-binding.ts';
import {
  bl2NvCounter,
  bl2RotpkField,
  imageSize,
  overlaps,
  Reject,
  type Validated,
  validateInRam,
  validateUnsigned,
} from './bl2-validate.ts';
import {
  type Area,
  type Bl2Platform,
  HOST_FLASH_BASE,
  HOST_FLASH_SIZE,
  type PlacedImage,
  postLoad,
  preLoad,
  targetOf,
} from './post-load.ts';
import { type Measurement, PSA_ALG_SHA_256, type SharedData } from './shared-data.ts';
import { type Chosen, sicPostLoad, sicPreQuit, type XipState } from './xip.ts';

export type { Bl2ImageSpec, Bl2Layout, HostSram, XipSpec } from '../profiles/types.ts';
export type { PlacedImage, XipPlacement } from './post-load.ts';

const NO_SLOT = -1;

/** What BL2 checked, placed and measured, which host cores it released, and where it stopped if it did. */
export interface Bl2Result {
  readonly ok: boolean;
  readonly checks: readonly BootCheck[];
  readonly measurements: readonly Measurement[];
  readonly placed: readonly PlacedImage[];
  /** Host cores released, in order. */
  readonly started: readonly string[];
  readonly atuLog: readonly string[];
  /** The host boot SRAMs after BL2 (zero where nothing was placed). */
  readonly apSram: Uint8Array;
  readonly scpSram: Uint8Array;
  /** XIP builds: what the S and NS runtimes see through the SIC (decrypted), by image. */
  readonly xipViews: readonly { readonly index: number; readonly logical: number; readonly bytes: Uint8Array }[];
  readonly halt?: { readonly stage: 'BL2'; readonly reason: string; readonly code: string; readonly image?: number };
}

interface SlotState {
  hdr?: ImageHeader;
  available: boolean;
}

interface Loaded {
  readonly dst: number;
  readonly size: number;
  readonly version: ImageVersion;
}

class Bl2 implements Bl2Platform {
  readonly checks: BootCheck[] = [];
  readonly measurements: Measurement[] = [];
  readonly placed: PlacedImage[] = [];
  readonly started: string[] = [];
  readonly loaded = new Map<number, Loaded>();
  readonly bus: Bus;
  readonly prof: Bl2Layout;
  readonly apSram: Uint8Array;
  readonly scpSram: Uint8Array;
  readonly flash: Uint8Array;
  /** SIC programming of XIP runtimes and what they show; the ATU regions that stay for them. */
  readonly xip: XipState = { sic: [], placed: this.placed, views: [] };
  readonly keepRegions = new Set<number>();
  /** The last booted image: the area it came from, its header and where it was loaded. */
  private chosen: Chosen | undefined;
  /** The binding's RAM window of the image being booted (`rse_bind_set_ram_window`), if the hook ran. */
  private window: RamWindow | undefined;

  readonly dev: Device;
  readonly shared: SharedData;

  readonly onStarted: ((index: number) => void) | undefined;
  /** `MCUBOOT_IMAGE_BINDING` builds: the binding TLVs, and MCUboot's extra unprotected-TLV allowances. */
  readonly binding: ImageBindingConfig | undefined;
  readonly allowUnprotected: ReadonlySet<number>;

  constructor(dev: Device, shared: SharedData, flash: Uint8Array, onStarted?: (index: number) => void) {
    this.dev = dev;
    this.shared = shared;
    this.flash = flash;
    this.onStarted = onStarted;
    this.prof = dev.profile.bl2;
    this.binding = this.prof.imageBinding?.enabled === true ? this.prof.imageBinding : undefined;
    this.allowUnprotected = new Set([
      ...(this.prof.extraUnprotectedTlvs ?? []),
      ...(this.binding === undefined ? [] : [this.binding.metaTlv, this.binding.tagTlv]),
    ]);
    this.apSram = new Uint8Array(this.prof.hostSram.ap.size);
    this.scpSram = new Uint8Array(this.prof.hostSram.scp.size);
    const host: Memory[] = [
      { name: 'ap-sram', base: this.prof.hostSram.ap.base, size: this.apSram.length, bytes: this.apSram, fill: 0, writable: true },
      { name: 'scp-sram', base: this.prof.hostSram.scp.base, size: this.scpSram.length, bytes: this.scpSram, fill: 0, writable: true },
    ];
    const local: Memory[] = [];
    const flashAt = this.prof.flash;
    if (flashAt.kind === 'host-flash') {
      host.push({
        name: 'host-flash',
        base: HOST_FLASH_BASE,
        size: HOST_FLASH_SIZE,
        bytes: this.flash,
        fill: 0xff,
        writable: false,
        programmable: true,
      });
      local.push({ name: 'vm0', base: this.prof.vm0, size: dev.vm0.length, bytes: dev.vm0, fill: 0, writable: true });
    } else {
      // VM0 is the flash the FVP preloads; VM1 holds S and NS.
      local.push({ name: 'flash (vm0)', base: this.prof.vm0, size: flashAt.size, bytes: this.flash, fill: 0xff, writable: false });
    }
    local.push({ name: 'vm1', base: this.prof.vm1, size: dev.vm1.length, bytes: dev.vm1, fill: 0, writable: true });
    this.bus = new Bus(local, host);
  }

  check(check: string, ok: boolean, detail: string): boolean {
    this.checks.push({ stage: 'BL2', check, ok, detail });
    return ok;
  }

  result(halt?: { reason: string; code: string; image?: number }): Bl2Result {
    return {
      ok: halt === undefined,
      checks: this.checks,
      measurements: this.measurements,
      placed: this.placed,
      started: this.started,
      atuLog: this.bus.atu.log,
      apSram: this.apSram,
      scpSram: this.scpSram,
      xipViews: this.xip.views,
      ...(halt === undefined ? {} : { halt: { stage: 'BL2' as const, ...halt } }),
    };
  }

  /** `boot_go_for_image_id` for one image; returns a halt reason or undefined. */
  private bootImage(spec: Bl2ImageSpec, areas: Area[], bind: BindCtx | undefined): { reason: string; code: string } | undefined {
    const tag = `image ${spec.index} (${spec.name})`;
    const slots: SlotState[] = areas.map((a, s) => {
      const hdr = decodeHeaderFields(this.bus.read(a.base, 32));
      const name = s === 0 ? 'primary' : 'secondary';
      if (hdr.magic !== IMAGE_MAGIC) {
        this.check(`${tag} ${name}: header`, false, `no image: magic ${hex0x(hdr.magic, 8)}`);
        return { available: false };
      }
      const size = hdr.hdrSize + hdr.imgSize;
      const fits = size <= 0xffffffff && size < a.size;
      this.check(
        `${tag} ${name}: header`,
        fits,
        fits
          ? `version ${formatVersion(hdr.version)}, ${hex0x(hdr.hdrSize)} + ${hex0x(hdr.imgSize)} bytes`
          : `header ${hex0x(hdr.hdrSize)} + payload ${hex0x(hdr.imgSize)} does not fit the ${hex0x(a.size)}-byte slot`,
      );
      return { hdr, available: fits };
    });
    for (;;) {
      let active = NO_SLOT;
      slots.forEach((s, i) => {
        if (!s.available || s.hdr === undefined) return;
        const cur = slots[active]?.hdr;
        if (active === NO_SLOT || (cur !== undefined && compareVersions(s.hdr.version, cur.version) > 0)) active = i;
      });
      if (active === NO_SLOT) return { reason: `${tag}: no slot holds a bootable image`, code: 'E_NO_IMAGE' };
      const slot = slots[active] as SlotState;
      const hdr = slot.hdr as ImageHeader;
      const area = areas[active] as Area;
      const name = active === 0 ? 'primary' : 'secondary';
      const at = `${tag} ${name}`;
      const fail = (check: string, why: string): void => {
        this.check(`${at}: ${check}`, false, why);
        slot.available = false;
      };
      // Load (boot_load_image_to_sram).
      if ((hdr.flags & IMAGE_FLAGS.RAM_LOAD) === 0) {
        fail('load', 'the image has no RAM_LOAD flag (sign it with -L)');
        continue;
      }
      const info = this.bus.read(area.base + hdr.hdrSize + hdr.imgSize, 4);
      let size: number;
      try {
        size = imageSize(this.bus, area.base, hdr, info);
      } catch (e) {
        if (e instanceof Reject) {
          fail('load', e.message);
          continue;
        }
        throw e;
      }
      const dst = hdr.loadAddr;
      const w = spec.exec;
      if (dst < w.start || dst + size > 0xffffffff || dst + size > w.start + w.size) {
        fail('load window', `${hex0x(dst, 8)}..${hex0x(dst + size, 8)} is outside ${hex0x(w.start, 8)}..${hex0x(w.start + w.size, 8)}`);
        continue;
      }
      const clash = [...this.loaded].find(([i, o]) => i !== spec.index && overlaps(dst, dst + size, o.dst, o.dst + o.size));
      if (clash !== undefined) {
        fail(
          'overlap',
          `${hex0x(dst, 8)}..${hex0x(dst + size, 8)} overlaps image ${clash[0]} at ${hex0x(clash[1].dst, 8)}..${hex0x(clash[1].dst + clash[1].size, 8)}`,
        );
        continue;
      }
      const copy = this.bus.read(area.base, size);
      this.bus.write(dst, copy);
      this.check(`${at}: load`, true, `${size} bytes from ${area.source} to ${hex0x(dst, 8)}`);
      // MCUBOOT_ENC_IMAGES builds decrypt an encrypted image (boot_decrypt_and_copy_image_to_sram)
      // and call the binding hook for it only; otherwise every image gets the hook.
      const decrypting = this.prof.encImages?.enabled === true;
      const encrypted = (hdr.flags & (IMAGE_FLAGS.ENCRYPTED_AES128 | IMAGE_FLAGS.ENCRYPTED_AES256)) !== 0;
      const hooked = this.binding !== undefined && (!decrypting || encrypted);
      // Image binding (boot_platform_after_ramload): the RAM window, a bound image's tag, then its
      // rollback check; a verified tag skips the decryption and validation (boot_image_check_hook).
      this.window = hooked ? { addr: dst + hdr.hdrSize, len: hdr.imgSize } : undefined;
      const tagged = !hooked || bind?.tag === undefined ? undefined : checkBoundCopy(this, at, spec, bind, dst, hdr);
      if (tagged === false) {
        slot.available = false;
        continue;
      }
      if (decrypting && encrypted && tagged !== true) {
        const why = decryptInRam(this, copy, hdr, dst, area.size);
        if (why !== undefined) {
          fail('decrypt', `${why}; RAM copy left in place`);
          continue;
        }
        this.check(`${at}: decrypt`, true, `payload decrypted in RAM (AES-CTR, its key unwrapped with the key built into BL2)`);
      }
      // Validate in RAM.
      let v: Validated;
      try {
        const img = this.bus.read(dst, size);
        v = tagged === true ? validateUnsigned(img, area.size) : validateInRam(this.dev, spec, img, hdr, area.size, this.allowUnprotected);
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        this.bus.fill(dst, size, 0);
        fail('validate', `${e.message}; RAM copy wiped`);
        continue;
      }
      if (tagged !== true)
        this.check(
          `${at}: validate`,
          true,
          v.signers === undefined
            ? `hash, key (${bl2RotpkField(this.dev, spec)}), signature, security counter ${v.securityCounter}`
            : `hash, ${v.signers}, security counter ${v.securityCounter}`,
        );
      this.loaded.set(spec.index, { dst, size, version: hdr.version });
      this.chosen = { area, hdr, dst };
      // Dependencies against images already loaded (boot_verify_dependencies).
      const unmet = v.dependencies
        .map((d) => {
          if (d.image >= this.prof.images.length) return `image ${d.image} does not exist`;
          const other = this.loaded.get(d.image);
          if (other === undefined)
            return `needs image ${d.image} ≥ ${formatVersion(d.min)}, which is not loaded (images load from the last to the first)`;
          return compareVersions(other.version, d.min) < 0
            ? `needs image ${d.image} ≥ ${formatVersion(d.min)}, loaded ${formatVersion(other.version)}`
            : undefined;
        })
        .filter((x): x is string => x !== undefined);
      if (unmet.length > 0) {
        this.loaded.delete(spec.index);
        this.bus.fill(dst, size, 0);
        fail('dependencies', `${unmet.join('; ')}; RAM copy wiped`);
        continue;
      }
      if (v.dependencies.length > 0)
        this.check(`${at}: dependencies`, true, v.dependencies.map((d) => `image ${d.image} ≥ ${formatVersion(d.min)}`).join(', '));
      // NV counter, then the measurement (boot_update_hw_rollback_protection, boot_add_shared_data).
      const nvName = bl2NvCounter(spec);
      const nv = this.dev.plat.readCounter(nvName);
      if (v.securityCounter > nv) this.dev.plat.setCounter(nvName, v.securityCounter);
      this.check(`${at}: NV counter`, true, v.securityCounter > nv ? `${nvName} ${nv} -> ${v.securityCounter}` : `${nvName} stays ${nv}`);
      const m: Measurement = {
        slot: 2 + spec.index,
        swType: spec.swType,
        signerId: v.signerId,
        version: formatVersion(hdr.version),
        value: v.digest,
        locked: false,
        alg: PSA_ALG_SHA_256,
      };
      this.shared.storeMeasurement(m);
      this.measurements.push(m);
      this.placed.push({
        index: spec.index,
        name: spec.name,
        slot: name,
        source: area.source,
        loadAddress: dst,
        size,
        version: formatVersion(hdr.version),
        securityCounter: v.securityCounter,
        imageHash: v.digest,
        target: targetOf(this, spec, dst, hdr.hdrSize),
        authenticatedBy: tagged === true ? 'binding-tag' : 'signature',
      });
      return undefined;
    }
  }

  /** Runs BL2; flash that binding programmed is saved whatever the outcome (NOR programs persist, power cut or not). */
  run(): Bl2Result {
    try {
      return this.runImages();
    } finally {
      if (this.bus.programmed > 0) this.dev.store.write('flash.bin', this.flash);
    }
  }

  private runImages(): Bl2Result {
    for (let i = this.prof.images.length - 1; i >= 0; i--) {
      const spec = this.prof.images[i] as Bl2ImageSpec;
      try {
        const areas = preLoad(this, spec);
        if (typeof areas === 'string') return this.result({ reason: `pre-load: ${areas}`, code: 'E_NO_IMAGE', image: i });
        const cfg = this.binding;
        const bind = cfg === undefined ? undefined : readBinding(this, spec, areas[0] as Area, cfg);
        this.window = undefined;
        if (typeof bind === 'string')
          return this.result({ reason: `pre-load: binding data of the primary: ${bind}`, code: 'E_BINDING', image: i });
        const halt = this.bootImage(spec, areas, bind);
        if (halt !== undefined) return this.result({ ...halt, image: i });
        if (cfg !== undefined && bind !== undefined && bind.tag === undefined) {
          const why = bindImage(this, spec, bind, areas[0] as Area, this.window);
          if (why !== undefined) return this.result({ reason: `post-load: binding: ${why}`, code: 'E_BINDING', image: i });
        }
        const post = spec.xip === undefined ? undefined : sicPostLoad(this, this.xip, spec, spec.xip, this.chosen as Chosen);
        if (post === undefined) postLoad(this, spec);
        if (post !== undefined) return this.result({ reason: `post-load: ${post}`, code: 'E_SIC', image: i });
      } catch (e) {
        if (e instanceof PowerCut) throw e;
        if (e instanceof BusFault) {
          this.check(`image ${i} (${spec.name}): bus access`, false, e.message);
          return this.result({
            reason: `bus fault: ${e.message}`,
            code: e.kind === 'atu-mismatch' ? 'E_ATU_MISMATCH' : 'E_BUS_FAULT',
            image: i,
          });
        }
        if (e instanceof PlatOtpError) return this.result({ reason: `OTP: ${e.message}`, code: 'E_OTP', image: i });
        if (isRseError(e)) return this.result({ reason: e.message, code: e.code, image: i });
        throw e;
      }
    }
    try {
      const sic = sicPreQuit(this, this.xip);
      if (sic !== undefined) return this.result({ ...sic, code: 'E_SIC_AUTH' });
    } catch (e) {
      if (e instanceof BusFault) return this.result({ reason: `bus fault at the jump: ${e.message}`, code: 'E_BUS_FAULT', image: 0 });
      throw e;
    }
    return this.result();
  }
}

/**
 * Runs BL2 on a device BL1_2 handed over to; measurements are appended to `shared`. `flash` is the
 * device's flash.bin (the host flash on 2.1, the flash emulated in VM0 on 1.7).
 */
export function runBl2(dev: Device, shared: SharedData, flash: Uint8Array, onStarted?: (index: number) => void): Bl2Result {
  return new Bl2(dev, shared, flash, onStarted).run();
}
