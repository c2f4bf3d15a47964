/**
 * The platform side of TF-M's BL2 on the RSE (`boot_hal_bl2.c`, `host_flash_atu.c`):
 * `boot_platform_pre_load` maps an image's two copies (host-flash profiles: the FIP_A and FIP_B
 * entries through ATU regions 3 and 4, one copy in both slots when only one FIP has it;
 * flash-in-VM0 profiles: fixed offsets) and a host image's output regions;
 * `boot_platform_post_load` handles the host image's header, releases the host core and unmaps.
 * @module
 */
import type { Bus } from '../device/atu.ts';
import { ATU_PAGE_SIZE } from '../device/atu.ts';
import type { Device } from '../device/device.ts';
import { findInHostFlash } from '../device/host-flash.ts';
import { hex0x } from '../lib/hex.ts';
import { fipEntryUuid } from '../profiles/fip-table.ts';
import type { Bl2ImageSpec, Bl2Layout } from '../profiles/types.ts';

export const HOST_FLASH_BASE = 0x08000000;
export const HOST_FLASH_SIZE = 0x4000000;
const HOST_IMAGE_MAX_SIZE = 0x1000000;
/** Logical input slots (`HOST_FLASH0_IMAGE0/1_BASE_S`) and their ATU regions. */
const INPUT = [
  { logical: 0x73000000, region: 3 },
  { logical: 0x74000000, region: 4 },
] as const;
const REGION_OUTPUT_IMAGE = 5;
const REGION_OUTPUT_HEADER = 6;

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
  /**
   * What let it run: MCUboot's signature and hash check, or (image binding) the device's CMAC tag,
   * in which case the signature was not checked on this boot.
   */
  readonly authenticatedBy: 'signature' | 'binding-tag';
}

export interface Area {
  /** Logical address of the slot (the image starts there). */
  readonly base: number;
  readonly size: number;
  readonly source: string;
  /** RSE 2.1: the FIP the slot's copy comes from. */
  readonly bank?: 'FIP_A' | 'FIP_B';
  /** Host-flash slots: the image's offset in its first ATU page (`offsets[s]` of the pre-load). */
  readonly pageOffset?: number;
}

/** What BL2's platform hooks work on. */
export interface Bl2Platform {
  readonly dev: Device;
  readonly bus: Bus;
  readonly prof: Bl2Layout;
  readonly flash: Uint8Array;
  /** Host cores released, in order. */
  readonly started: string[];
  /** ATU regions that stay mapped after post-load (an XIP runtime's). */
  readonly keepRegions: Set<number>;
  readonly onStarted: ((index: number) => void) | undefined;
  check(check: string, ok: boolean, detail: string): boolean;
}

/** `setup_aligned_atu_slot`: maps `[physical, physical + size)` of the host flash page-aligned. */
export function mapFlash(
  ctx: Bl2Platform,
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
  ctx.bus.atu.init(region, logical, aligned, slot, purpose);
  return { offset: physical - aligned, slotSize: slot };
}

/** `boot_platform_pre_load`: the two flash areas of image `spec`, and its output regions. */
export function preLoad(ctx: Bl2Platform, spec: Bl2ImageSpec): Area[] | string {
  const tag = `image ${spec.index} (${spec.name})`;
  let areas: Area[];
  if (spec.flash !== undefined) {
    areas = spec.flash.map((off, s) => ({
      base: ctx.prof.vm0 + off,
      size: spec.slotSize,
      source: `${s === 0 ? 'primary' : 'secondary'} at flash ${hex0x(off)}`,
    }));
  } else {
    // Slot s takes bank s's entry; when only one bank maps, its entry goes into both slots.
    const map = (s: number, entry: { bank: 'FIP_A' | 'FIP_B'; offset: number; size: number }, purpose: string): Area | string => {
      const input = INPUT[s] as (typeof INPUT)[number];
      const r = mapFlash(ctx, HOST_FLASH_BASE + entry.offset, entry.size, input.region, input.logical, `${tag} ${purpose}`);
      return typeof r === 'string'
        ? r
        : {
            base: input.logical + r.offset,
            size: spec.slotSize,
            source: `${purpose.replace('input from ', '')} entry at flash ${hex0x(entry.offset)}`,
            bank: entry.bank,
            pageOffset: r.offset,
          };
    };
    const mapped = findInHostFlash(ctx.flash, fipEntryUuid(spec.fipEntry ?? '')).map((b, s) => {
      if (!b.ok) {
        ctx.check(`${tag}: ${b.bank}`, false, b.reason);
        return undefined;
      }
      const a = map(s, b, `input from ${b.bank}`);
      ctx.check(
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
    const sram = ctx.prof.hostSram[spec.host];
    const h = ctx.prof.hostHeaderSize;
    if (ctx.prof.hostHeader === 'separate-region') {
      ctx.bus.atu.init(REGION_OUTPUT_HEADER, spec.exec.start, sram.base + sram.size - h, h, `${tag} header -> end of ${spec.host} SRAM`);
      ctx.bus.atu.init(REGION_OUTPUT_IMAGE, spec.exec.start + h, sram.base, sram.size - h, `${tag} code -> ${spec.host} SRAM`);
    } else ctx.bus.atu.init(0, spec.exec.start, sram.base, sram.size, `${tag} -> ${spec.host} SRAM`);
  }
  return areas;
}

/** `boot_platform_post_load` (after the XIP set-up of an XIP image): the host image's header, the host core's release, the ATU regions. */
export function postLoad(ctx: Bl2Platform, spec: Bl2ImageSpec): void {
  if (spec.host !== undefined) {
    const h = ctx.prof.hostHeaderSize;
    if (ctx.prof.hostHeader === 'separate-region') ctx.bus.fill(spec.exec.start, h, 0);
    else if (spec.host === 'scp') ctx.bus.move(spec.exec.start, spec.exec.start + h, spec.exec.size - h);
    ctx.started.push(
      spec.host === 'scp' ? 'SCP released (gretreg = 1), SCP BL1 started' : 'SCP told to start the AP cores (MHU channel 0 = 1)',
    );
    ctx.onStarted?.(spec.index);
  }
  // host_flash_atu_uninit_regions: the input and output regions; an XIP runtime's stays.
  for (const r of ctx.bus.atu.active()) if (!ctx.keepRegions.has(r.index)) ctx.bus.atu.uninit(r.index);
}

/** Where BL2 placed an image's code, for the report. */
export function targetOf(ctx: Bl2Platform, spec: Bl2ImageSpec, dst: number, hdrSize: number): string {
  if (spec.host === undefined) {
    const vm = dst >= ctx.prof.vm1 ? 'vm1' : 'vm0';
    return `${vm} + ${hex0x(dst - (vm === 'vm1' ? ctx.prof.vm1 : ctx.prof.vm0))}`;
  }
  const sram = ctx.prof.hostSram[spec.host];
  if (ctx.prof.hostHeader === 'separate-region')
    return `${spec.host}-sram + ${hex0x(dst + hdrSize - spec.exec.start - ctx.prof.hostHeaderSize)} (code)`;
  return spec.host === 'scp'
    ? `scp-sram + 0x0 (code, header moved out)`
    : `ap-sram + ${hex0x(dst - spec.exec.start + sram.base)} (header in place)`;
}
