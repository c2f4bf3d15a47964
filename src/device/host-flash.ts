/**
 * How RSE firmware finds an image in the host flash (`rse/common/fip_parser`, `host_flash_atu.c`):
 * FIP_A and FIP_B from the GPT partitions of those names (signature checked, CRCs not, as the
 * firmware does; HEAD's name match, not 2.1's inverted one), or at offsets 0 and 8 MiB without a
 * GPT; then the entry with the image's UUID in the first 4 KiB of each FIP's ToC, which must lie
 * inside the flash and fit a 16 MiB slot. Every offset read from the flash is checked first.
 * @module
 */
import { fipUuidToString } from '../fip/fip.ts';
import { readU32le, readU64le } from '../lib/bytes.ts';

export const FIP_B_OFFSET = 0x800000;
const TOC_MAP = 0x1000;
const SLOT = 0x1000000;
const LBA = 0x200;

/** One bank's lookup: where the image is, or why it is not there. */
export type BankLookup =
  | { readonly bank: 'FIP_A' | 'FIP_B'; readonly ok: true; readonly offset: number; readonly size: number }
  | { readonly bank: 'FIP_A' | 'FIP_B'; readonly ok: false; readonly reason: string };

function gptFips(flash: Uint8Array): { FIP_A?: number; FIP_B?: number } | undefined {
  if (flash.length < 2 * LBA || new TextDecoder().decode(flash.subarray(LBA, LBA + 8)) !== 'EFI PART') return undefined;
  const out: { FIP_A?: number; FIP_B?: number } = {};
  const listLba = readU64le(flash, LBA + 72);
  const count = readU32le(flash, LBA + 80);
  const entrySize = readU32le(flash, LBA + 84);
  if (entrySize < 128 || count > 1024 || listLba > BigInt(flash.length)) return out;
  const base = Number(listLba) * LBA;
  for (let i = 0; i < count; i++) {
    const at = base + i * entrySize;
    if (at + 128 > flash.length) break;
    const name = new TextDecoder('utf-16le').decode(flash.subarray(at + 56, at + 128)).replace(/\0.*$/s, '');
    if (name === 'FIP_A' || name === 'FIP_B') {
      const first = readU64le(flash, at + 32);
      if (first * BigInt(LBA) < BigInt(flash.length) && out[name] === undefined) out[name] = Number(first) * LBA;
    }
  }
  return out;
}

function lookInFip(flash: Uint8Array, fipAt: number, uuid: Uint8Array): { offset: number; size: number } | string {
  if (fipAt + 16 > flash.length) return `the FIP at 0x${fipAt.toString(16)} is beyond the flash`;
  if (readU32le(flash, fipAt) !== 0xaa640001)
    return `no FIP ToC at 0x${fipAt.toString(16)} (name 0x${readU32le(flash, fipAt).toString(16)})`;
  const want = fipUuidToString(uuid);
  const end = Math.min(fipAt + TOC_MAP, flash.length);
  for (let at = fipAt + 16; at + 40 <= end; at += 40) {
    const entry = flash.subarray(at, at + 16);
    if (entry.every((b) => b === 0)) return `the FIP at 0x${fipAt.toString(16)} has no entry ${want}`;
    if (fipUuidToString(entry) !== want) continue;
    const off = readU64le(flash, at + 16);
    const size = readU64le(flash, at + 24);
    if (off > 0xffffffffn || size > 0xffffffffn || size > BigInt(SLOT)) return `entry ${want} is larger than a 16 MiB slot`;
    const abs = fipAt + Number(off);
    if (size === 0n || abs + Number(size) > flash.length)
      return `entry ${want} (offset 0x${off.toString(16)}, size 0x${size.toString(16)}) lies outside the flash`;
    return { offset: abs, size: Number(size) };
  }
  return `the ToC of the FIP at 0x${fipAt.toString(16)} does not end within its first 4 KiB`;
}

/** Both banks' lookups for `uuid`, FIP_A first. */
export function findInHostFlash(flash: Uint8Array, uuid: Uint8Array): BankLookup[] {
  const gpt = gptFips(flash);
  const at = gpt === undefined ? { FIP_A: 0, FIP_B: FIP_B_OFFSET } : gpt;
  return (['FIP_A', 'FIP_B'] as const).map((bank): BankLookup => {
    const fipAt = at[bank];
    if (fipAt === undefined) return { bank, ok: false, reason: `no ${bank} partition in the GPT` };
    const r = lookInFip(flash, fipAt, uuid);
    return typeof r === 'string' ? { bank, ok: false, reason: r } : { bank, ok: true, ...r };
  });
}
