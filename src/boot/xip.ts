/**
 * XIP builds (`RSE_XIP`, `sic_boot.c`): BL2 loads the signed SIC tables as images 0 and 1;
 * post-load maps the encrypted `rse-s`/`rse-ns` entry of the same FIP at the SIC window (ATU
 * region 0/1), programs the table's page hashes into the HTR and the decrypt region, and exports
 * the S/NS key from the KMU; at the jump the SIC authenticates and decrypts what the runtime
 * fetches, which the emulator does for every page the table covers.
 * @module
 */
import { KMU_SLOT } from '../crypto/kmu.ts';
import { findInHostFlash } from '../device/host-flash.ts';
import { readU32le } from '../lib/bytes.ts';
import { isRseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import type { ImageHeader } from '../mcuboot/image.ts';
import { fipEntryUuid } from '../profiles/fip-table.ts';
import type { Bl2ImageSpec, XipSpec } from '../profiles/types.ts';
import { checkXipImage, parseSicTable, SIC_PAGE_SIZE, type SicTable } from '../sic/sic.ts';
import { type Area, type Bl2Platform, HOST_FLASH_BASE, mapFlash, type PlacedImage, type XipPlacement } from './post-load.ts';

/** SIC page hashes the HTR holds: the auth region is S + NS code (0xC0000) in 1 KiB pages. */
const SIC_HTR_PAGES = 0xc0000 / SIC_PAGE_SIZE;
/** Where the auth region starts (`RSE_RUNTIME_S_XIP_BASE_S`): HTR entry 0. */
const SIC_AUTH_BASE = 0x12000000;
const SIC_BASE_MASK = 0xff000000;
const SIC_MAPPABLE_SIZE = 0x1000000;

/** What `sic_boot_setup_auth_and_decrypt` programmed for one runtime. */
export interface SicSetup {
  readonly index: number;
  readonly name: string;
  readonly logical: number;
  readonly table: SicTable;
  readonly key: Uint8Array;
}

/** The image BL2 just validated: the area it came from, its header and where it was loaded. */
export interface Chosen {
  readonly area: Area;
  readonly hdr: ImageHeader;
  readonly dst: number;
}

/** What the XIP set-up accumulates over one BL2 run. */
export interface XipState {
  readonly sic: SicSetup[];
  /** The images placed so far; the last one gets its XIP placement. */
  readonly placed: PlacedImage[];
  /** What the S and NS runtimes see through the SIC (decrypted), by image. */
  readonly views: { index: number; logical: number; bytes: Uint8Array }[];
}

/**
 * `sic_boot_post_load` for a validated SIC table: map the encrypted runtime from the same FIP at
 * the SIC window, then `sic_boot_setup_auth_and_decrypt`.
 */
export function sicPostLoad(ctx: Bl2Platform, state: XipState, spec: Bl2ImageSpec, x: XipSpec, chosen: Chosen): string | undefined {
  const tag = `image ${spec.index} (${spec.name})`;
  const { area, hdr, dst } = chosen;
  const fail = (why: string): string => {
    ctx.check(`${tag}: SIC setup`, false, why);
    return `${tag}: ${why}`;
  };
  const bank = area.bank;
  if (bank === undefined) return fail('the table did not come from a FIP');
  const look = findInHostFlash(ctx.flash, fipEntryUuid(x.entry)).find((b) => b.bank === bank);
  if (look === undefined || !look.ok) return fail(`${x.entry} is not in ${bank}: ${look?.ok === false ? look.reason : 'no such bank'}`);
  const m = mapFlash(ctx, HOST_FLASH_BASE + look.offset, look.size, x.region, x.logical, `${tag}: ${x.entry} from ${bank} for XIP`);
  if (typeof m === 'string') return fail(`${x.entry}: ${m}`);
  ctx.keepRegions.add(x.region);
  if (m.offset % 0x1000 !== 0)
    return fail(
      `${x.entry} sits at ${hex0x(m.offset)} in its ATU page; XIP images must be 4 KiB-aligned in the flash (align the FIP to 8 KiB)`,
    );
  if (m.slotSize > x.maxSize) return fail(`${x.entry} maps ${hex0x(m.slotSize)} bytes, more than the ${hex0x(x.maxSize)}-byte code region`);
  const base = x.logical & SIC_BASE_MASK;
  if (x.logical + m.slotSize > base + SIC_MAPPABLE_SIZE) return fail(`${x.entry} runs past the 16 MiB SIC window`);
  // The table is the payload of the image just validated in RAM (`BL2_XIP_TABLES_START + BL2_HEADER_SIZE`).
  const raw = ctx.bus.read(dst + hdr.hdrSize, hdr.imgSize);
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
  const key = ctx.dev.kmu.use(KMU_SLOT[x.kmuSlot]);
  state.sic.push({ index: spec.index, name: spec.name.replace(' SIC tables', ''), logical: x.logical, table, key });
  const placed = state.placed[state.placed.length - 1] as PlacedImage;
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
  state.placed[state.placed.length - 1] = { ...placed, xip };
  ctx.check(
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
export function sicPreQuit(ctx: Bl2Platform, state: XipState): { reason: string; image: number } | undefined {
  for (const x of [...state.sic].sort((a, b) => a.index - b.index)) {
    const tag = `image ${x.index} (${x.name} XIP)`;
    const pages = x.table.pageHashes.length;
    const c = checkXipImage(x.table, ctx.bus.read(x.logical, pages * SIC_PAGE_SIZE), x.key);
    const first = c.badPages[0];
    if (first !== undefined) {
      ctx.check(
        `${tag}: SIC authentication`,
        false,
        `${c.badPages.length} of ${pages} pages fail their HTR hash, the first at ${hex0x(x.logical + first * SIC_PAGE_SIZE, 8)} (page ${first}): the runtime's fetch from it faults`,
      );
      return { reason: `${tag}: page ${first} at ${hex0x(x.logical + first * SIC_PAGE_SIZE, 8)} fails its SIC hash`, image: x.index };
    }
    ctx.check(`${tag}: SIC authentication`, true, `${pages} pages of 1 KiB at ${hex0x(x.logical, 8)} match the HTR; decrypted in place`);
    state.views.push({ index: x.index, logical: x.logical, bytes: c.plaintext });
  }
  return undefined;
}
