/**
 * BL2: TF-M's `bl2_main` over MCUboot in RAM-load mode (MCUboot v2.1.0 `loader.c`,
 * `image_validate.c`; TF-M `bl2/src/shared_data.c`; the platform's `boot_hal_bl2.c` and
 * `host_flash_atu.c`). Images load one at a time from the last to the first (SCP BL1, AP BL1,
 * NS, S), each with `boot_go_for_image_id`:
 *
 * - pre-load maps the image's two copies (RSE 2.1: the FIP_A and FIP_B entries, through ATU
 *   regions 3 and 4, one copy in both slots when only one FIP has it; RSS 1.7: fixed offsets in
 *   the flash emulated in VM0) and, for host images, the output regions;
 * - a slot is available when its header has the magic and header + payload fit the flash area;
 *   the highest version wins, the primary on a tie;
 * - the image is copied to its load address (RAM_LOAD flag required, inside the image's exec
 *   window, not overlapping an image already loaded) and validated in RAM: hash, the PUBKEY TLV
 *   against the OTP ROTPK hash of that image, the signature, the security counter against the NV
 *   counter, the unprotected-TLV allow list, TLVs ending before the trailer;
 * - a failed load or validation zeroes the RAM copy and tries the other slot; then dependencies
 *   against images already loaded; then the image's NV counter is raised to its security counter
 *   and its measurement (slot 2 + image) goes to the shared data area;
 * - post-load zeroes the 2.1 header region (1.7: moves SCP BL1 down over its header), releases
 *   the SCP or tells it to start the AP, and unmaps the regions.
 *
 * XIP builds (`RSE_XIP`, `sic_boot.c`) load the signed SIC tables as images 0 and 1; post-load
 * maps the encrypted `rse-s`/`rse-ns` entry of the same FIP at the SIC window (ATU region 0/1),
 * programs the table's page hashes into the HTR and the decrypt region, and exports the S/NS key
 * from the KMU; at the jump the SIC authenticates and decrypts what the runtime fetches, which
 * the emulator does for every page the table covers.
 *
 * An access the ATU cannot translate is a bus fault: BL2 stops there.
 * @module
 */
import { constantTimeEqual, HASH_SIZES, type HashAlg, hash, importPublicDer } from '../crypto/index.ts';
import { KMU_SLOT } from '../crypto/kmu.ts';
import { readU16le, readU32le } from '../lib/bytes.ts';
import { isRseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { IMAGE_FLAGS, IMAGE_MAGIC, TLV, TLV_INFO_MAGIC, TLV_PROT_INFO_MAGIC } from '../mcuboot/constants.ts';
import { decodeHeaderFields, type ImageHeader } from '../mcuboot/image.ts';
import { verifyImageSignature } from '../mcuboot/keys.ts';
import { compareVersions, formatVersion, type ImageVersion } from '../mcuboot/version.ts';
import { PlatOtpError } from '../otp/plat-otp.ts';
import { fipEntryUuid } from '../profiles/fip-table.ts';
import type { Bl2ImageSpec, Bl2Layout, XipSpec } from '../profiles/types.ts';
import { checkXipImage, parseSicTable, SIC_PAGE_SIZE, type SicTable } from '../sic/sic.ts';
import { ATU_PAGE_SIZE, Bus, BusFault, type Memory } from './atu.ts';
import type { BootCheck } from './bl1-boot.ts';
import type { Device } from './device.ts';
import { findInHostFlash } from './host-flash.ts';
import { type Measurement, PSA_ALG_SHA_256, type SharedData } from './shared-data.ts';

export type { Bl2ImageSpec, Bl2Layout, HostSram, XipSpec } from '../profiles/types.ts';

const HOST_FLASH_BASE = 0x08000000;
const HOST_FLASH_SIZE = 0x4000000;
const HOST_IMAGE_MAX_SIZE = 0x1000000;
/** Logical input slots (`HOST_FLASH0_IMAGE0/1_BASE_S`) and their ATU regions. */
const INPUT = [
  { logical: 0x73000000, region: 3 },
  { logical: 0x74000000, region: 4 },
] as const;
const REGION_OUTPUT_IMAGE = 5;
const REGION_OUTPUT_HEADER = 6;
/** `BOOT_MAX_ALIGN` 8: the swap-info field starts 40 bytes before the end of the slot. */
const TRAILER_RESERVE = 40;
const NO_SLOT = -1;

/** SIC page hashes the HTR holds: the auth region is S + NS code (0xC0000) in 1 KiB pages. */
const SIC_HTR_PAGES = 0xc0000 / SIC_PAGE_SIZE;
/** Where the auth region starts (`RSE_RUNTIME_S_XIP_BASE_S`): HTR entry 0. */
const SIC_AUTH_BASE = 0x12000000;
const SIC_BASE_MASK = 0xff000000;
const SIC_MAPPABLE_SIZE = 0x1000000;

/** An XIP runtime as BL2 left the SIC programmed for it. */
export interface XipPlacement {
  readonly entry: string;
  readonly bank: string;
  readonly flashOffset: number;
  readonly size: number;
  /** Where it executes (the SIC window) and the ATU region's extent. */
  readonly logical: number;
  readonly regionSize: number;
  /** The image's offset in its first ATU page (the vector table is at logical + offset). */
  readonly imageOffset: number;
  readonly fwVersion: number;
  readonly nonce: Uint8Array;
  readonly pages: number;
}

/** An image BL2 placed and validated. */
export interface PlacedImage {
  readonly index: number;
  readonly name: string;
  readonly slot: 'primary' | 'secondary';
  readonly source: string;
  readonly loadAddress: number;
  readonly size: number;
  readonly version: string;
  readonly securityCounter: number;
  readonly imageHash: Uint8Array;
  /** Where the code landed: a memory name and offset. */
  readonly target: string;
  /** XIP builds, images 0/1: the runtime the table authenticates. */
  readonly xip?: XipPlacement;
}

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

interface Area {
  /** Logical address of the slot (the image starts there). */
  readonly base: number;
  readonly size: number;
  readonly source: string;
  /** RSE 2.1: the FIP the slot's copy comes from. */
  readonly bank?: 'FIP_A' | 'FIP_B';
}

/** What `sic_boot_setup_auth_and_decrypt` programmed for one runtime. */
interface SicSetup {
  readonly index: number;
  readonly name: string;
  readonly logical: number;
  readonly table: SicTable;
  readonly key: Uint8Array;
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

/** Why an image or slot failed, for the check line. */
class Reject extends Error {}

/** Unprotected TLVs MCUboot accepts (`allowed_unprot_tlvs`). */
const ALLOWED_UNPROTECTED = new Set<number>([
  TLV.KEYHASH,
  TLV.PUBKEY,
  TLV.SHA256,
  TLV.SHA384,
  TLV.RSA2048,
  0x21,
  TLV.ECDSASIG,
  TLV.RSA3072,
  TLV.ED25519,
  TLV.ENCRSA2048,
  TLV.ENCKW,
  TLV.ENCEC256,
  TLV.ENCX25519,
]);

interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
  readonly protected: boolean;
}

/** MCUboot's TLV iterator over an image in RAM (`tlv.c`); throws Reject on any bound violation. */
function tlvs(img: Uint8Array, hdr: ImageHeader, maxEnd: number): Tlv[] {
  const off = hdr.hdrSize + hdr.imgSize;
  if (off + 4 > img.length) throw new Reject(`TLV info at ${hex0x(off)} lies outside the ${hex0x(img.length)}-byte image`);
  let at = off;
  const out: Tlv[] = [];
  let protEnd = off;
  if (readU16le(img, at) === TLV_PROT_INFO_MAGIC) {
    const tot = readU16le(img, at + 2);
    if (tot !== hdr.protectTlvSize)
      throw new Reject(`protected TLV area is ${tot} bytes, the header says ${hdr.protectTlvSize} (ih_protect_tlv_size)`);
    protEnd = at + tot;
    at = protEnd;
  } else if (hdr.protectTlvSize !== 0) {
    throw new Reject(`the header declares ${hdr.protectTlvSize} bytes of protected TLVs, there is no protected TLV area`);
  }
  if (at + 4 > img.length || readU16le(img, at) !== TLV_INFO_MAGIC) throw new Reject(`no TLV info magic 0x6907 at ${hex0x(at)}`);
  const end = at + readU16le(img, at + 2);
  if (end > maxEnd) throw new Reject(`the TLVs end at ${hex0x(end)}, past ${hex0x(maxEnd)} (the trailer's swap-info field)`);
  if (end > img.length) throw new Reject(`the TLVs end at ${hex0x(end)}, past the ${hex0x(img.length)} bytes copied`);
  const walk = (from: number, to: number, prot: boolean): void => {
    let p = from + 4;
    while (p < to) {
      if (p + 4 > to) throw new Reject(`TLV header at ${hex0x(p)} crosses the end of its area`);
      const type = readU16le(img, p);
      const len = readU16le(img, p + 2);
      if (p + 4 + len > to) throw new Reject(`TLV 0x${type.toString(16)} at ${hex0x(p)} (${len} bytes) crosses the end of its area`);
      out.push({ type, value: img.subarray(p + 4, p + 4 + len), protected: prot });
      p += 4 + len;
    }
  };
  if (protEnd > off) walk(off, protEnd, true);
  walk(at, end, false);
  return out;
}

function sigLengthOk(type: number, keyType: string, len: number): boolean {
  if (type === TLV.RSA2048) return keyType === 'rsa-2048' && len === 256;
  if (type === TLV.RSA3072) return keyType === 'rsa-3072' && len === 384;
  if (type === TLV.ED25519) return keyType === 'ed25519' && len === 64;
  return keyType.startsWith('ecdsa') && len <= 128;
}

function expectedSigTlv(keyType: string): number {
  switch (keyType) {
    case 'rsa-2048':
      return TLV.RSA2048;
    case 'rsa-3072':
      return TLV.RSA3072;
    case 'ed25519':
      return TLV.ED25519;
    default:
      return TLV.ECDSASIG;
  }
}

interface Validated {
  readonly digest: Uint8Array;
  readonly hashAlg: HashAlg;
  readonly securityCounter: number;
  readonly signerId: Uint8Array;
  readonly dependencies: readonly { readonly image: number; readonly min: ImageVersion }[];
}

class Bl2 {
  readonly checks: BootCheck[] = [];
  readonly measurements: Measurement[] = [];
  readonly placed: PlacedImage[] = [];
  readonly started: string[] = [];
  readonly loaded = new Map<number, Loaded>();
  readonly bus: Bus;
  readonly prof: Bl2Layout;
  readonly apSram: Uint8Array;
  readonly scpSram: Uint8Array;
  readonly xipViews: { index: number; logical: number; bytes: Uint8Array }[] = [];
  private readonly flash: Uint8Array;
  /** SIC programming of XIP runtimes, and the ATU regions that stay for them. */
  private readonly sic: SicSetup[] = [];
  private readonly keepRegions = new Set<number>();
  /** The last booted image: the area it came from, its header and where it was loaded. */
  private chosen: { area: Area; hdr: ImageHeader; dst: number } | undefined;

  readonly dev: Device;
  readonly shared: SharedData;

  private readonly onStarted: ((index: number) => void) | undefined;

  constructor(dev: Device, shared: SharedData, flash: Uint8Array, onStarted?: (index: number) => void) {
    this.dev = dev;
    this.shared = shared;
    this.flash = flash;
    this.onStarted = onStarted;
    this.prof = dev.profile.bl2;
    this.apSram = new Uint8Array(this.prof.hostSram.ap.size);
    this.scpSram = new Uint8Array(this.prof.hostSram.scp.size);
    const host: Memory[] = [
      { name: 'ap-sram', base: this.prof.hostSram.ap.base, size: this.apSram.length, bytes: this.apSram, fill: 0, writable: true },
      { name: 'scp-sram', base: this.prof.hostSram.scp.base, size: this.scpSram.length, bytes: this.scpSram, fill: 0, writable: true },
    ];
    const local: Memory[] = [];
    const flashAt = this.prof.flash;
    if (flashAt.kind === 'host-flash') {
      host.push({ name: 'host-flash', base: HOST_FLASH_BASE, size: HOST_FLASH_SIZE, bytes: this.flash, fill: 0xff, writable: false });
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
      xipViews: this.xipViews,
      ...(halt === undefined ? {} : { halt: { stage: 'BL2' as const, ...halt } }),
    };
  }

  /** `setup_aligned_atu_slot`: maps `[physical, physical + size)` of the host flash page-aligned. */
  private mapFlash(
    physical: number,
    size: number,
    region: number,
    logical: number,
    purpose: string,
  ): { offset: number; slotSize: number } | string {
    const aligned = physical - (physical % ATU_PAGE_SIZE);
    const end = Math.ceil((physical + size) / ATU_PAGE_SIZE) * ATU_PAGE_SIZE;
    const slot = end - aligned;
    if (aligned < HOST_FLASH_BASE || end > HOST_FLASH_BASE + HOST_FLASH_SIZE || slot > HOST_IMAGE_MAX_SIZE)
      return `${hex0x(physical, 8)}+${hex0x(size)} is not inside the 64 MiB host flash or exceeds a 16 MiB slot`;
    this.bus.atu.init(region, logical, aligned, slot, purpose);
    return { offset: physical - aligned, slotSize: slot };
  }

  /** `boot_platform_pre_load`: the two flash areas of image `spec`, and its output regions. */
  private preLoad(spec: Bl2ImageSpec): Area[] | string {
    const tag = `image ${spec.index} (${spec.name})`;
    let areas: Area[];
    if (spec.flash !== undefined) {
      areas = spec.flash.map((off, s) => ({
        base: this.prof.vm0 + off,
        size: spec.slotSize,
        source: `${s === 0 ? 'primary' : 'secondary'} at flash ${hex0x(off)}`,
      }));
    } else {
      // Slot s takes bank s's entry; when only one bank maps, its entry goes into both slots.
      const map = (s: number, entry: { bank: 'FIP_A' | 'FIP_B'; offset: number; size: number }, purpose: string): Area | string => {
        const input = INPUT[s] as (typeof INPUT)[number];
        const r = this.mapFlash(HOST_FLASH_BASE + entry.offset, entry.size, input.region, input.logical, `${tag} ${purpose}`);
        return typeof r === 'string'
          ? r
          : {
              base: input.logical + r.offset,
              size: spec.slotSize,
              source: `${purpose.replace('input from ', '')} entry at flash ${hex0x(entry.offset)}`,
              bank: entry.bank,
            };
      };
      const mapped = findInHostFlash(this.flash, fipEntryUuid(spec.fipEntry ?? '')).map((b, s) => {
        if (!b.ok) {
          this.check(`${tag}: ${b.bank}`, false, b.reason);
          return undefined;
        }
        const a = map(s, b, `input from ${b.bank}`);
        this.check(
          `${tag}: ${b.bank}`,
          typeof a !== 'string',
          typeof a === 'string' ? a : `FIP entry at flash ${hex0x(b.offset)}, ${b.size} bytes, mapped at ${hex0x(a.base, 8)}`,
        );
        return typeof a === 'string' ? undefined : { entry: b, area: a };
      });
      const only = mapped.find((m) => m !== undefined);
      if (only === undefined) return `${tag} is in neither FIP: nothing to map`;
      areas = [];
      for (let s = 0; s < 2; s++) {
        const m = mapped[s];
        if (m !== undefined) {
          areas.push(m.area);
          continue;
        }
        const a = map(s, only.entry, `input from ${only.entry.bank}`);
        if (typeof a === 'string') return a;
        areas.push({ ...a, source: `${a.source} (mapped into both slots)` });
      }
    }
    if (spec.host !== undefined) {
      const sram = this.prof.hostSram[spec.host];
      const h = this.prof.hostHeaderSize;
      if (this.prof.hostHeader === 'separate-region') {
        this.bus.atu.init(REGION_OUTPUT_HEADER, spec.exec.start, sram.base + sram.size - h, h, `${tag} header -> end of ${spec.host} SRAM`);
        this.bus.atu.init(REGION_OUTPUT_IMAGE, spec.exec.start + h, sram.base, sram.size - h, `${tag} code -> ${spec.host} SRAM`);
      } else this.bus.atu.init(0, spec.exec.start, sram.base, sram.size, `${tag} -> ${spec.host} SRAM`);
    }
    return areas;
  }

  /** `boot_platform_post_load`; returns why it failed, if it did. */
  private postLoad(spec: Bl2ImageSpec): string | undefined {
    if (spec.xip !== undefined) {
      const why = this.sicPostLoad(spec, spec.xip);
      if (why !== undefined) return why;
    }
    if (spec.host !== undefined) {
      const h = this.prof.hostHeaderSize;
      if (this.prof.hostHeader === 'separate-region') this.bus.fill(spec.exec.start, h, 0);
      else if (spec.host === 'scp') this.bus.move(spec.exec.start, spec.exec.start + h, spec.exec.size - h);
      this.started.push(
        spec.host === 'scp' ? 'SCP released (gretreg = 1), SCP BL1 started' : 'SCP told to start the AP cores (MHU channel 0 = 1)',
      );
      this.onStarted?.(spec.index);
    }
    // host_flash_atu_uninit_regions: the input and output regions; an XIP runtime's stays.
    for (const r of this.bus.atu.active()) if (!this.keepRegions.has(r.index)) this.bus.atu.uninit(r.index);
    return undefined;
  }

  /**
   * `sic_boot_post_load` for a validated SIC table: map the encrypted runtime from the same FIP at
   * the SIC window, then `sic_boot_setup_auth_and_decrypt`.
   */
  private sicPostLoad(spec: Bl2ImageSpec, x: XipSpec): string | undefined {
    const tag = `image ${spec.index} (${spec.name})`;
    const { area, hdr, dst } = this.chosen as NonNullable<Bl2['chosen']>;
    const fail = (why: string): string => {
      this.check(`${tag}: SIC setup`, false, why);
      return `${tag}: ${why}`;
    };
    const bank = area.bank;
    if (bank === undefined) return fail('the table did not come from a FIP');
    const look = findInHostFlash(this.flash, fipEntryUuid(x.entry)).find((b) => b.bank === bank);
    if (look === undefined || !look.ok) return fail(`${x.entry} is not in ${bank}: ${look?.ok === false ? look.reason : 'no such bank'}`);
    const m = this.mapFlash(HOST_FLASH_BASE + look.offset, look.size, x.region, x.logical, `${tag}: ${x.entry} from ${bank} for XIP`);
    if (typeof m === 'string') return fail(`${x.entry}: ${m}`);
    this.keepRegions.add(x.region);
    if (m.offset % 0x1000 !== 0)
      return fail(
        `${x.entry} sits at ${hex0x(m.offset)} in its ATU page; XIP images must be 4 KiB-aligned in the flash (align the FIP to 8 KiB)`,
      );
    if (m.slotSize > x.maxSize)
      return fail(`${x.entry} maps ${hex0x(m.slotSize)} bytes, more than the ${hex0x(x.maxSize)}-byte code region`);
    const base = x.logical & SIC_BASE_MASK;
    if (x.logical + m.slotSize > base + SIC_MAPPABLE_SIZE) return fail(`${x.entry} runs past the 16 MiB SIC window`);
    // The table is the payload of the image just validated in RAM (`BL2_XIP_TABLES_START + BL2_HEADER_SIZE`).
    const raw = this.bus.read(dst + hdr.hdrSize, hdr.imgSize);
    let table: SicTable;
    try {
      table = parseSicTable(raw);
    } catch (e) {
      if (!isRseError(e)) throw e;
      return fail(
        raw.length < 16
          ? `the SIC table is ${raw.length} bytes; its header alone is 16`
          : `htr_size ${readU32le(raw, 12)} is not a whole number of SHA-256 page hashes within the ${raw.length}-byte table`,
      );
    }
    const pages = table.pageHashes.length;
    const htrOffset = ((x.logical - SIC_AUTH_BASE) / SIC_PAGE_SIZE) * 32;
    if (htrOffset + 32 * pages >= SIC_HTR_PAGES * 32)
      return fail(`the HTR holds ${SIC_HTR_PAGES} page hashes; ${pages} from page ${htrOffset / 32} do not fit`);
    if (pages > m.slotSize / SIC_PAGE_SIZE)
      return fail(`the table covers ${pages} pages of 1 KiB, the mapped image only ${m.slotSize / SIC_PAGE_SIZE}`);
    const key = this.dev.kmu.use(KMU_SLOT[x.kmuSlot]);
    this.sic.push({ index: spec.index, name: spec.name.replace(' SIC tables', ''), logical: x.logical, table, key });
    const placed = this.placed[this.placed.length - 1] as PlacedImage;
    const xip: XipPlacement = {
      entry: x.entry,
      bank,
      flashOffset: look.offset,
      size: look.size,
      logical: x.logical,
      regionSize: m.slotSize,
      imageOffset: m.offset,
      fwVersion: table.fwVersion,
      nonce: table.nonce,
      pages,
    };
    this.placed[this.placed.length - 1] = { ...placed, xip };
    this.check(
      `${tag}: SIC setup`,
      true,
      `${x.entry} from ${bank} (flash ${hex0x(look.offset)}, ${look.size} bytes) at ${hex0x(x.logical, 8)} via ATU region ${x.region}; ` +
        `HTR ${pages} pages from entry ${htrOffset / 32}, decrypt region ${x.region} (fw_revision ${table.fwVersion}), key from KMU slot ${KMU_SLOT[x.kmuSlot]}`,
    );
    return undefined;
  }

  /**
   * `sic_boot_pre_quit` and what follows: the SIC is enabled and S starts at its vector table in
   * the SIC window. Every page a table covers is fetched through the ATU, hashed against the HTR
   * and decrypted, as the SIC does on the runtime's first access to it.
   */
  private sicPreQuit(): { reason: string; image: number } | undefined {
    for (const x of [...this.sic].sort((a, b) => a.index - b.index)) {
      const tag = `image ${x.index} (${x.name} XIP)`;
      const pages = x.table.pageHashes.length;
      const c = checkXipImage(x.table, this.bus.read(x.logical, pages * SIC_PAGE_SIZE), x.key);
      const first = c.badPages[0];
      if (first !== undefined) {
        this.check(
          `${tag}: SIC authentication`,
          false,
          `${c.badPages.length} of ${pages} pages fail their HTR hash, the first at ${hex0x(x.logical + first * SIC_PAGE_SIZE, 8)} (page ${first}): the runtime's fetch from it faults`,
        );
        return { reason: `${tag}: page ${first} at ${hex0x(x.logical + first * SIC_PAGE_SIZE, 8)} fails its SIC hash`, image: x.index };
      }
      this.check(`${tag}: SIC authentication`, true, `${pages} pages of 1 KiB at ${hex0x(x.logical, 8)} match the HTR; decrypted in place`);
      this.xipViews.push({ index: x.index, logical: x.logical, bytes: c.plaintext });
    }
    return undefined;
  }

  /** Validation in RAM (`bootutil_img_validate`); throws Reject with the reason. */
  private validate(spec: Bl2ImageSpec, img: Uint8Array, hdr: ImageHeader, areaSize: number): Validated {
    const all = tlvs(img, hdr, areaSize - TRAILER_RESERVE);
    for (const t of all)
      if (!t.protected && !ALLOWED_UNPROTECTED.has(t.type))
        throw new Reject(
          `TLV 0x${t.type.toString(16)} is outside the protected area, where MCUboot allows only keys, hashes and signatures`,
        );
    const pub = all.find((t) => t.type === TLV.PUBKEY);
    let keyType: string | undefined;
    let key: ReturnType<typeof importPublicDer> | undefined;
    if (pub !== undefined) {
      try {
        key = importPublicDer(pub.value);
        keyType = key.type;
      } catch {
        key = undefined;
      }
    }
    // Signer id and key lookup both use the PUBKEY's SHA-256: computed once.
    const pubHash = pub === undefined ? undefined : hash('sha256', pub.value);
    const hashAlg: HashAlg = keyType === 'ecdsa-p384' ? 'sha384' : 'sha256';
    const hashTlv = hashAlg === 'sha384' ? TLV.SHA384 : TLV.SHA256;
    const hashed = hdr.hdrSize + hdr.imgSize + hdr.protectTlvSize;
    const digest = hash(hashAlg, img.subarray(0, hashed));
    let hashOk = false;
    let sigOk = false;
    let keyOk = false;
    let counter: number | undefined;
    let sawSig = false;
    const deps: { image: number; min: ImageVersion }[] = [];
    const rotpk = this.dev.plat.read(spec.rotpkField);
    for (const t of all) {
      if (t.type === hashTlv) {
        if (t.value.length !== HASH_SIZES[hashAlg]) throw new Reject(`hash TLV is ${t.value.length} bytes`);
        if (!constantTimeEqual(t.value, digest))
          throw new Reject(`image hash mismatch: computed ${toHex(digest).slice(0, 16)}…, TLV says ${toHex(t.value).slice(0, 16)}…`);
        hashOk = true;
      } else if (t.type === TLV.PUBKEY) {
        keyOk = key !== undefined && constantTimeEqual(t === pub ? (pubHash as Uint8Array) : hash('sha256', t.value), rotpk);
      } else if (t.type === expectedSigTlv(keyType ?? '')) {
        sawSig = true;
        if (!keyOk || key === undefined) continue;
        if (!sigLengthOk(t.type, key.type, t.value.length))
          throw new Reject(`signature TLV of ${t.value.length} bytes for a ${key.type} key`);
        sigOk = verifyImageSignature(key, [img.subarray(0, hashed)], digest, t.value, false);
        keyOk = false;
      } else if (t.type === TLV.SEC_CNT) {
        if (t.value.length !== 4) throw new Reject(`SEC_CNT TLV is ${t.value.length} bytes`);
        const c = readU32le(t.value, 0);
        const nv = this.dev.plat.readCounter(`nv_counter_bl2_${spec.index}`);
        if (c < nv) throw new Reject(`rollback: security counter ${c} is below NV counter nv_counter_bl2_${spec.index} = ${nv}`);
        counter = c;
      } else if (t.type === TLV.DEPENDENCY && t.protected) {
        if (t.value.length !== 12) throw new Reject(`DEPENDENCY TLV is ${t.value.length} bytes, not 12`);
        const v = t.value;
        deps.push({
          image: v[0] as number,
          min: { major: v[4] as number, minor: v[5] as number, revision: readU16le(v, 6), build: readU32le(v, 8) },
        });
      }
    }
    if (!hashOk) throw new Reject(`no ${hashAlg === 'sha384' ? 'SHA384' : 'SHA256'} hash TLV`);
    if (!sigOk) {
      if (pub === undefined) throw new Reject('no PUBKEY TLV: no key to check against the OTP ROTPK hash');
      if (key === undefined) throw new Reject('the PUBKEY TLV is not a public key');
      if (pubHash === undefined || !constantTimeEqual(pubHash, rotpk))
        throw new Reject(
          `the key's hash ${toHex(pubHash ?? new Uint8Array(0)).slice(0, 16)}… is not the OTP ${spec.rotpkField} (${toHex(rotpk).slice(0, 16)}…)`,
        );
      throw new Reject(sawSig ? 'the signature does not verify with the image key' : 'no signature TLV');
    }
    if (counter === undefined) throw new Reject('no SEC_CNT TLV: the security counter is mandatory');
    return { digest, hashAlg, securityCounter: counter, signerId: pubHash ?? hash('sha256', new Uint8Array(0)), dependencies: deps };
  }

  /** `boot_go_for_image_id` for one image; returns a halt reason or undefined. */
  private bootImage(spec: Bl2ImageSpec, areas: Area[]): { reason: string; code: string } | undefined {
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
      this.bus.write(dst, this.bus.read(area.base, size));
      this.check(`${at}: load`, true, `${size} bytes from ${area.source} to ${hex0x(dst, 8)}`);
      // Validate in RAM.
      let v: Validated;
      try {
        v = this.validate(spec, this.bus.read(dst, size), hdr, area.size);
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        this.bus.fill(dst, size, 0);
        fail('validate', `${e.message}; RAM copy wiped`);
        continue;
      }
      this.check(`${at}: validate`, true, `hash, key (${spec.rotpkField}), signature, security counter ${v.securityCounter}`);
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
      const nvName = `nv_counter_bl2_${spec.index}`;
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
        target: this.targetOf(spec, dst, hdr.hdrSize),
      });
      return undefined;
    }
  }

  private targetOf(spec: Bl2ImageSpec, dst: number, hdrSize: number): string {
    if (spec.host === undefined) {
      const vm = dst >= this.prof.vm1 ? 'vm1' : 'vm0';
      return `${vm} + ${hex0x(dst - (vm === 'vm1' ? this.prof.vm1 : this.prof.vm0))}`;
    }
    const sram = this.prof.hostSram[spec.host];
    if (this.prof.hostHeader === 'separate-region')
      return `${spec.host}-sram + ${hex0x(dst + hdrSize - spec.exec.start - this.prof.hostHeaderSize)} (code)`;
    return spec.host === 'scp'
      ? `scp-sram + 0x0 (code, header moved out)`
      : `ap-sram + ${hex0x(dst - spec.exec.start + sram.base)} (header in place)`;
  }

  run(): Bl2Result {
    for (let i = this.prof.images.length - 1; i >= 0; i--) {
      const spec = this.prof.images[i] as Bl2ImageSpec;
      try {
        const areas = this.preLoad(spec);
        if (typeof areas === 'string') return this.result({ reason: `pre-load: ${areas}`, code: 'E_NO_IMAGE', image: i });
        const halt = this.bootImage(spec, areas);
        if (halt !== undefined) return this.result({ ...halt, image: i });
        const post = this.postLoad(spec);
        if (post !== undefined) return this.result({ reason: `post-load: ${post}`, code: 'E_SIC', image: i });
      } catch (e) {
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
      const sic = this.sicPreQuit();
      if (sic !== undefined) return this.result({ ...sic, code: 'E_SIC_AUTH' });
    } catch (e) {
      if (e instanceof BusFault) return this.result({ reason: `bus fault at the jump: ${e.message}`, code: 'E_BUS_FAULT', image: 0 });
      throw e;
    }
    return this.result();
  }
}

/** `boot_read_image_size`: end of the unprotected TLVs. */
function imageSize(bus: Bus, base: number, hdr: ImageHeader, info: Uint8Array): number {
  const off = hdr.hdrSize + hdr.imgSize;
  let magic = readU16le(info, 0);
  let tot = readU16le(info, 2);
  if (magic === TLV_PROT_INFO_MAGIC) {
    if (tot !== hdr.protectTlvSize) throw new Reject(`protected TLV area is ${tot} bytes, the header says ${hdr.protectTlvSize}`);
    const next = bus.read(base + off + tot, 4);
    magic = readU16le(next, 0);
    tot = readU16le(next, 2);
  } else if (hdr.protectTlvSize !== 0)
    throw new Reject(
      `the header declares ${hdr.protectTlvSize} bytes of protected TLVs, there are none at ${hex0x(off)} (ih_hdr_size + ih_img_size)`,
    );
  if (magic !== TLV_INFO_MAGIC) throw new Reject(`no TLV info magic 0x6907 after the payload`);
  return off + hdr.protectTlvSize + tot;
}

/** `do_regions_overlap` (touching ranges count as overlapping, as upstream). */
function overlaps(startA: number, endA: number, startB: number, endB: number): boolean {
  if (startB > endA) return false;
  if (startB >= startA) return true;
  return endB > startA;
}

/**
 * Runs BL2 on a device BL1_2 handed over to; measurements are appended to `shared`. `flash` is the
 * device's flash.bin (the host flash on 2.1, the flash emulated in VM0 on 1.7).
 */
export function runBl2(dev: Device, shared: SharedData, flash: Uint8Array, onStarted?: (index: number) => void): Bl2Result {
  return new Bl2(dev, shared, flash, onStarted).run();
}
