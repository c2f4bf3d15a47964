/**
 * The zero-count regions of TF-M 2.3.1's RSE OTP (`rse_zero_count_regions.c`, `otp_lcm.c`): each
 * area info in the header, each area (less its ROTPK arrays), the ROTPK array selected by the
 * revocation counter, and the SoC id and configuration data, each with the word that records how
 * many of its bits are zero. `otp_write_lcs` writes them at CM→DM and DM→SE; `tfm_plat_otp_init`
 * checks them at every boot. Area offsets and sizes are read from the OTP header as the firmware
 * does, so they are untrusted: a region that leaves the OTP counts the missing bytes as zeros.
 * @module
 */
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { OTP_SIZE } from '../profiles/otp-layout.ts';
import { OTP_RSE_2_3_FIELDS, RSE_2_3_AREAS, RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { IntegrityProblem } from './integrity.ts';
import { type Lcm, type LcsName, zeroBits } from './lcm.ts';

const C = RSE_2_3_OTP_CONFIG;
/** `struct rse_otp_cm_rotpk_area_t`: zero count, policies, the ROTPKs. */
export const CM_ROTPK_AREA_SIZE = 8 + C.cmRotpksPerArea * C.rotpkSize;
export const DM_ROTPK_AREA_SIZE = 8 + C.dmRotpksPerArea * C.rotpkSize;
const CM_ROTPK_AREAS = C.cmRotpkAreas * CM_ROTPK_AREA_SIZE;
const DM_ROTPK_AREAS = C.dmRotpkAreas * DM_ROTPK_AREA_SIZE;

const at = (name: string): number => {
  const f = OTP_RSE_2_3_FIELDS.find((x) => x.name === name);
  if (f === undefined) throw new RseError('E_CONFIG', `the rse-2.3 OTP map has no ${name}`, { field: name });
  return f.offset;
};

/** Header offsets of each area info word and its zero count. */
const INFO = {
  cm: { info: at('header.cm_area_info.offset'), zc: at('header.cm_area_info_zero_count') },
  bl1_2: { info: at('header.bl1_2_area_info.offset'), zc: at('header.bl1_2_area_info_zero_count') },
  dm: { info: at('header.dm_area_info.offset'), zc: at('header.dm_area_info_zero_count') },
  dynamic: { info: at('header.dynamic_area_info.offset'), zc: at('header.dynamic_area_info_zero_count') },
  soc: { info: at('header.soc_area_info.offset'), zc: at('header.soc_area_info_zero_count') },
} as const;
export type AreaName = keyof typeof INFO;

/** `soc_area_info` as BL1 computes it: the SoC area sits at the end of the OTP. */
export const SOC_AREA_INFO = RSE_2_3_AREAS.soc.offset | (RSE_2_3_AREAS.soc.size << 16);

/** An area's info word as the header holds it (offset u16, size u16). */
export function areaInfo(otp: Uint8Array, area: AreaName): { offset: number; size: number } {
  const w = readU32le(otp, INFO[area].info);
  return { offset: w & 0xffff, size: w >>> 16 };
}

/** One zero-count region: the bytes it covers and where its count is kept. */
export interface ZcRegion {
  readonly name: string;
  /** TF-M's error when the check fails at init. */
  readonly error: string;
  readonly start: number;
  readonly size: number;
  readonly zcAt: number;
}

/** Every region TF-M 2.3.1 names, at the area infos the OTP holds now. */
export function zcRegion(
  otp: Uint8Array,
  id: 'header' | 'area' | 'rotpk' | 'soc-uid' | 'soc-ids' | 'soc-cfg',
  area: AreaName = 'cm',
  rotpkIndex = 0,
): ZcRegion {
  const soc = RSE_2_3_AREAS.soc.offset;
  switch (id) {
    case 'header':
      return { name: `${area} area info`, error: areaError(area), start: INFO[area].info, size: 4, zcAt: INFO[area].zc };
    case 'soc-uid':
      return { name: 'SoC unique id', error: 'OTP_INIT_SOC_ZERO_COUNT_ERR', start: soc + 4, size: 12, zcAt: soc };
    case 'soc-ids':
      return { name: 'SoC family id and IEEE ECID', error: 'OTP_INIT_SOC_ZERO_COUNT_ERR', start: soc + 20, size: 20, zcAt: soc + 16 };
    case 'soc-cfg':
      return {
        name: 'SoC configuration data',
        error: 'OTP_INIT_SOC_ZERO_COUNT_ERR',
        start: soc + 44,
        size: RSE_2_3_AREAS.soc.size - 44,
        zcAt: soc + 40,
      };
    case 'rotpk': {
      const i = areaInfo(otp, area);
      const cm = area === 'cm';
      const one = cm ? CM_ROTPK_AREA_SIZE : DM_ROTPK_AREA_SIZE;
      const base = i.offset + i.size - (cm ? CM_ROTPK_AREAS : DM_ROTPK_AREAS) + one * rotpkIndex;
      return {
        name: `${area.toUpperCase()} ROTPK array ${rotpkIndex}`,
        error: cm ? 'OTP_INIT_CM_ROTPK_ZERO_COUNT_ERR' : 'OTP_INIT_DM_ROTPK_ZERO_COUNT_ERR',
        start: base + 4,
        size: one - 4,
        zcAt: base,
      };
    }
    case 'area': {
      const i = areaInfo(otp, area);
      const arrays = area === 'cm' ? CM_ROTPK_AREAS : area === 'dm' ? DM_ROTPK_AREAS : 0;
      return { name: `${area} area`, error: areaError(area), start: i.offset + 4, size: i.size - 4 - arrays, zcAt: i.offset };
    }
  }
}

function areaError(area: AreaName): string {
  return `OTP_INIT_${area === 'bl1_2' ? 'BL1_2' : area.toUpperCase()}_ZERO_COUNT_ERR`;
}

/** The zero bits of a region; bytes outside the OTP (an untrusted size) count as zeros. */
function countRegion(otp: Uint8Array, r: ZcRegion): number {
  const size = Math.max(0, r.size);
  const start = Math.min(Math.max(0, r.start), OTP_SIZE);
  const end = Math.min(start + size, OTP_SIZE);
  return zeroBits(otp.subarray(start, end)) + (size - (end - start)) * 8;
}

/** The stored count of a region (0 when the word itself is outside the OTP). */
function storedCount(otp: Uint8Array, r: ZcRegion): number {
  return r.zcAt >= 0 && r.zcAt + 4 <= OTP_SIZE ? readU32le(otp, r.zcAt) : 0;
}

function check(otp: Uint8Array, r: ZcRegion, passEmpty: boolean, out: IntegrityProblem[]): boolean {
  const stored = storedCount(otp, r);
  if (passEmpty && stored === 0) return true;
  const computed = countRegion(otp, r);
  if (stored === computed) return true;
  out.push({ check: `${r.name} (${r.error})`, offset: r.start, stored, computed });
  return false;
}

/** The bit-counter value of a counter field (its set bits). */
function bitCounter(otp: Uint8Array, name: string, size: number): number {
  const o = at(name);
  return size * 8 - zeroBits(otp.subarray(o, o + size));
}

/** How many times the CM / DM ROTPK arrays were revoked (the array in use). */
export function rotpkArrayIndex(otp: Uint8Array, who: 'cm' | 'dm'): number {
  return bitCounter(otp, `dynamic.${who}_rotpk_revocation`, 4);
}

/**
 * `tfm_plat_otp_init`'s checks up to the ROTPK mapping (`load_area_info`,
 * `check_areas_for_tampering`, `setup_rotpk_info`), read-only: every fatal mismatch, in the
 * firmware's order (it stops at the first). A DM ROTPK array whose count fails is not fatal
 * (the DM ROTPKs are just not mapped) and is left out.
 */
export function integrityProblems23(otp: Uint8Array, lcs: LcsName): IntegrityProblem[] {
  const out: IntegrityProblem[] = [];
  if (lcs === 'RMA' || lcs === 'INVALID') return out;
  const socInfo = readU32le(otp, INFO.soc.info);
  if (lcs !== 'CM') {
    for (const a of ['cm', 'bl1_2'] as const) if (!check(otp, zcRegion(otp, 'header', a), false, out)) return out;
  }
  // The SoC area info is (re)written at init when it differs; only a written one is checked.
  if (lcs !== 'CM' && socInfo === SOC_AREA_INFO && !check(otp, zcRegion(otp, 'header', 'soc'), false, out)) return out;
  if (lcs !== 'CM') {
    for (const a of ['dm', 'dynamic'] as const) if (!check(otp, zcRegion(otp, 'header', a), false, out)) return out;
  }
  for (const id of ['soc-uid', 'soc-ids', 'soc-cfg'] as const) if (!check(otp, zcRegion(otp, id), true, out)) return out;
  if (lcs === 'CM') return out;
  for (const a of ['cm', 'bl1_2'] as const) if (!check(otp, zcRegion(otp, 'area', a), false, out)) return out;
  if (lcs === 'SE' && !check(otp, zcRegion(otp, 'area', 'dm'), true, out)) return out;
  const past = (who: 'cm' | 'dm', areas: number): boolean => {
    const index = rotpkArrayIndex(otp, who);
    if (index < areas) return false;
    const W = who.toUpperCase();
    out.push({
      check: `${W} ROTPK revocation counter ${index} is past the last array (OTP_INIT_${W}_ROTPK_REPROVISIONING_COUNTER_EXCEEDED)`,
      offset: at(`dynamic.${who}_rotpk_revocation`),
      stored: index,
      computed: areas - 1,
    });
    return true;
  };
  if (past('cm', C.cmRotpkAreas)) return out;
  if (!check(otp, zcRegion(otp, 'rotpk', 'cm', rotpkArrayIndex(otp, 'cm')), false, out)) return out;
  past('dm', C.dmRotpkAreas);
  return out;
}

/** `load_area_info`'s write: the SoC area info and its zero count, when the header differs. */
export function writeSocAreaInfo(lcm: Lcm): void {
  if (readU32le(lcm.otp, INFO.soc.info) === SOC_AREA_INFO) return;
  const word = u32le(SOC_AREA_INFO);
  lcm.otpWrite(INFO.soc.info, word, 'soc_area_info');
  lcm.otpWrite(INFO.soc.zc, u32le(zeroBits(word)), 'soc_area_info zero count');
}

function writeRegion(lcm: Lcm, r: ZcRegion): void {
  lcm.otpWrite(r.zcAt, u32le(countRegion(lcm.otp, r)), `${r.name} zero count`);
}

/** `write_zero_counts(new_lcs)` of `otp_write_lcs`, before the LCS transition is requested. */
export function writeZeroCounts23(lcm: Lcm, target: 'DM' | 'SE' | 'RMA', dmRotpkZeroCount = true): void {
  const otp = lcm.otp;
  if (target === 'DM') {
    writeRegion(lcm, zcRegion(otp, 'header', 'cm'));
    writeRegion(lcm, zcRegion(otp, 'area', 'cm'));
    writeRegion(lcm, zcRegion(otp, 'rotpk', 'cm', 0));
    writeRegion(lcm, zcRegion(otp, 'header', 'bl1_2'));
    writeRegion(lcm, zcRegion(otp, 'area', 'bl1_2'));
    writeRegion(lcm, zcRegion(otp, 'header', 'soc'));
    writeRegion(lcm, zcRegion(otp, 'header', 'dm'));
    writeRegion(lcm, zcRegion(otp, 'header', 'dynamic'));
  }
  if (target === 'SE') {
    writeRegion(lcm, zcRegion(otp, 'area', 'dm'));
    if (dmRotpkZeroCount) writeRegion(lcm, zcRegion(otp, 'rotpk', 'dm', 0));
  }
}
