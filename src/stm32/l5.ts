/**
 * A virtual STM32L552 (profile `stm32l5`): 512 KB of flash in two banks of 128 pages of 2 KB
 * (DBANK = 1), SRAM2, the backup registers, and the option bytes with the device's own rules:
 * RDP levels 0 / 0.5 / 1 / 2 with their regressions and what each erases, TZEN, the secure
 * watermarks and HDP areas per bank, write protection, boot addresses and BOOT_LOCK. The RSS
 * `CloseExitHDP` closes HDP areas until the next reset. This file holds the memory map and the
 * option-byte rules; the device directory is `l5-device.ts`.
 * @module
 */

import { RseError } from '../lib/errors.ts';
import { STM32L5 } from '../profiles/stm32.ts';

export const FLASH_SIZE = STM32L5.flash.size;
export const PAGE_SIZE = STM32L5.flash.pageSize;
export const PAGES_PER_BANK = STM32L5.flash.pagesPerBank;
export const BANK_SIZE = PAGE_SIZE * PAGES_PER_BANK;
export const FLASH_NS_BASE = STM32L5.flash.nsBase;
export const FLASH_S_BASE = STM32L5.flash.sBase;
export const SRAM2_SIZE = STM32L5.sram2Size;
/** External flash behind OCTOSPI1, memory-mapped. */
export const EXT_BASE = STM32L5.external.base;
export const EXT_SIZE = STM32L5.external.size;
export const BACKUP_REGISTERS_L5 = STM32L5.backupRegisters;
export const ERASED = STM32L5.flash.erased;
/** RSSLIB return codes. */
export const RSSLIB_SUCCESS = 0xeaeaeaea;
export const RSSLIB_ERROR = 0xf5f5f5f5;

export type RdpLevel = '0' | '0.5' | '1' | '2';
export const RDP_BYTES: Readonly<Record<RdpLevel, number>> = { '0': 0xaa, '0.5': 0x55, '1': 0xbb, '2': 0xcc };
export function rdpLevel(byte: number): RdpLevel {
  return byte === 0xaa ? '0' : byte === 0x55 ? '0.5' : byte === 0xcc ? '2' : '1';
}
export const RDP_RANK: Readonly<Record<RdpLevel, number>> = { '0': 0, '0.5': 1, '1': 2, '2': 3 };

/** Per bank: secure watermark (first..last page, empty when first > last), HDP end page and enable, WRP areas A/B. */
export interface BankOptions {
  readonly secwmStart: number;
  readonly secwmEnd: number;
  readonly hdpEnd: number;
  readonly hdpEnable: boolean;
  readonly wrpA: readonly [number, number];
  readonly wrpB: readonly [number, number];
}

export interface OptionBytes {
  readonly rdp: number;
  readonly tzen: boolean;
  readonly nSwBoot0: boolean;
  readonly nBoot0: boolean;
  readonly nsBootAdd0: number;
  readonly nsBootAdd1: number;
  readonly secBootAdd0: number;
  readonly bootLock: boolean;
  readonly banks: readonly [BankOptions, BankOptions];
}

/** Offset in the flash of `len` bytes at `addr` (either alias), or undefined when they do not all fit. */
export function flashOffset(addr: number, len: number): number | undefined {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || len < 0) return undefined;
  const off = addr - (addr >= FLASH_S_BASE ? FLASH_S_BASE : FLASH_NS_BASE);
  return off >= 0 && off + Math.max(len, 1) <= FLASH_SIZE ? off : undefined;
}

/** Factory state: RDP 0, TrustZone off, no secure area, no HDP, no WRP, boot from user flash. */
export const FACTORY_OPTION_BYTES: OptionBytes = {
  rdp: 0xaa,
  tzen: false,
  nSwBoot0: true,
  nBoot0: true,
  nsBootAdd0: 0x08000000,
  nsBootAdd1: 0x0bf90000,
  secBootAdd0: 0x0c000000,
  bootLock: false,
  banks: [
    { secwmStart: 0x7f, secwmEnd: 0, hdpEnd: 0, hdpEnable: false, wrpA: [0x7f, 0], wrpB: [0x7f, 0] },
    { secwmStart: 0x7f, secwmEnd: 0, hdpEnd: 0, hdpEnable: false, wrpA: [0x7f, 0], wrpB: [0x7f, 0] },
  ],
};

/** Who asks: the debugger / bootloader (non-secure), or secure code (the RSS services, the secure application). */
export type Requester = 'debugger' | 'secure';

/** Which option bytes only secure code may change once TrustZone is on. */
export const SECURE_FIELDS = new Set(['secBootAdd0', 'bootLock', 'secwm', 'hdp']);

/** What a change of option bytes did. */
export interface ObChange {
  readonly ob: OptionBytes;
  /** What the regression erased, in words. */
  readonly erased: readonly string[];
}

export const refuse = (msg: string, field: string): RseError => new RseError('E_ACCESS', msg, { field });
export const bad = (msg: string, field: string): RseError => new RseError('E_ARGUMENT', msg, { field });

export function checkPage(p: number, field: string): void {
  if (!Number.isInteger(p) || p < 0 || p > 0x7f) throw bad(`${field}: page ${p} is not 0..127`, field);
}

/**
 * Why option-byte edits alone leave the flash word at `addr` non-secure, or undefined when they
 * could leave it secure: the edits are applied both to the factory option bytes and to ones where
 * everything is secure, and only an address non-secure under both is the edits' doing (`tzen=0`,
 * or a secure watermark of its bank that leaves it out).
 */
export function editsMakeNonSecure(edits: readonly string[], addr: number): string | undefined {
  const offset = flashOffset(addr, 1);
  if (offset === undefined) return undefined;
  const bank = (offset < BANK_SIZE ? 0 : 1) as 0 | 1;
  const page = Math.floor((offset % BANK_SIZE) / PAGE_SIZE);
  const allSecure: OptionBytes = {
    ...FACTORY_OPTION_BYTES,
    tzen: true,
    banks: FACTORY_OPTION_BYTES.banks.map((b) => ({
      ...b,
      secwmStart: 0,
      secwmEnd: PAGES_PER_BANK - 1,
    })) as unknown as OptionBytes['banks'],
  };
  const secureAfter = (base: OptionBytes): boolean => isSecurePage(editOptionBytes(base, edits), bank, page);
  if (secureAfter(FACTORY_OPTION_BYTES) || secureAfter(allSecure)) return undefined;
  const ob = editOptionBytes(allSecure, edits);
  return ob.tzen
    ? `secwm${bank + 1} leaves bank ${bank + 1} page ${page} (0x${addr.toString(16)}) out of the secure area`
    : 'tzen=0 turns TrustZone off: no flash is secure';
}

/** The pages of bank `b` inside its secure watermark. */
export function isSecurePage(ob: OptionBytes, bank: 0 | 1, page: number): boolean {
  const o = ob.banks[bank];
  return ob.tzen && o.secwmStart <= o.secwmEnd && page >= o.secwmStart && page <= o.secwmEnd;
}

/**
 * Why an enabled HDP area of `bank` protects nothing, in the words of the rule: the HDP area is the
 * start of the bank's secure watermark area up to HDPx_PEND, so it needs TrustZone and a secure
 * watermark. Undefined when the area is active or not enabled.
 */
export function hdpInactiveReason(ob: OptionBytes, bank: 0 | 1): string | undefined {
  const o = ob.banks[bank];
  const n = bank + 1;
  if (!o.hdpEnable) return undefined;
  if (!ob.tzen) return `HDP area ${n} is enabled but TrustZone is off (tzen=0): HDP areas exist only in secure flash`;
  if (o.secwmStart > o.secwmEnd)
    return `HDP area ${n} is enabled but bank ${n} has no secure watermark area: the HDP area runs from the start of secwm${n} to hdp${n}, so set secwm${n}=START-END (e.g. secwm${n}=0-${o.hdpEnd}) first`;
  if (o.hdpEnd < o.secwmStart)
    return `HDP area ${n} ends (hdp${n}=${o.hdpEnd}) before the secure watermark area starts (page ${o.secwmStart}): it covers no page`;
  return undefined;
}

/** HDP area of a bank: from the watermark start to HDP end, when enabled and inside the secure area. */
export function hdpPages(ob: OptionBytes, bank: 0 | 1): [number, number] | undefined {
  const o = ob.banks[bank];
  if (!ob.tzen || !o.hdpEnable || o.secwmStart > o.secwmEnd) return undefined;
  return [o.secwmStart, Math.min(o.hdpEnd, o.secwmEnd)];
}

/**
 * The option-byte change rules of the L5: level 2 freezes everything; RDP only rises, except the
 * regressions 1 → 0.5 (non-secure flash erased), 1 → 0 and 0.5 → 0 (all flash, SRAM2 and backup
 * registers erased); 0.5 needs TrustZone; TZEN is set only at level 0 and cleared only with a
 * regression to 0; BOOT_LOCK is cleared only at level 0; with TrustZone on and RDP above 0 the
 * secure option bytes change only from secure code.
 */
export function checkObChange(cur: OptionBytes, next: OptionBytes, who: Requester): { erase: 'none' | 'non-secure' | 'all' } {
  const from = rdpLevel(cur.rdp);
  const to = rdpLevel(next.rdp);
  if (from === '2') throw refuse('RDP level 2: the option bytes are frozen for ever', 'rdp');
  if (to === '0.5' && !next.tzen) throw refuse('RDP level 0.5 exists only with TrustZone (TZEN = 1)', 'rdp');
  if (next.tzen && !cur.tzen && from !== '0') throw refuse(`TZEN can be set only at RDP level 0 (now ${from})`, 'tzen');
  if (!next.tzen && cur.tzen && !(to === '0' && from !== '0'))
    throw refuse(`TZEN is cleared only together with an RDP regression to level 0 (RDP ${from} -> ${to})`, 'tzen');
  if (cur.bootLock && !next.bootLock && from !== '0') throw refuse(`BOOT_LOCK is cleared only at RDP level 0 (now ${from})`, 'bootLock');
  const secureChanged = diffFields(cur, next).filter((f) => SECURE_FIELDS.has(f));
  if (secureChanged.length > 0 && cur.tzen && from !== '0' && who !== 'secure')
    throw refuse(`secure option bytes (${secureChanged.join(', ')}) change only from secure code at RDP ${from}`, 'secure');
  if (cur.bootLock && from !== '0' && next.secBootAdd0 !== cur.secBootAdd0)
    throw refuse(`BOOT_LOCK: the secure boot address is frozen at RDP ${from}`, 'secBootAdd0');
  if (RDP_RANK[to] >= RDP_RANK[from]) return { erase: 'none' };
  if (from === '1' && to === '0.5') return { erase: 'non-secure' };
  return { erase: 'all' };
}

export function diffFields(a: OptionBytes, b: OptionBytes): string[] {
  const out: string[] = [];
  for (const k of ['rdp', 'tzen', 'nSwBoot0', 'nBoot0', 'nsBootAdd0', 'nsBootAdd1', 'secBootAdd0', 'bootLock'] as const)
    if (a[k] !== b[k]) out.push(k);
  a.banks.forEach((ba, i) => {
    const bb = b.banks[i] as BankOptions;
    if (ba.secwmStart !== bb.secwmStart || ba.secwmEnd !== bb.secwmEnd) out.push('secwm');
    if (ba.hdpEnd !== bb.hdpEnd || ba.hdpEnable !== bb.hdpEnable) out.push('hdp');
    if (ba.wrpA.join() !== bb.wrpA.join() || ba.wrpB.join() !== bb.wrpB.join()) out.push('wrp');
  });
  return [...new Set(out)];
}

/** `field=value` edits, as `rse l5 ob set` takes them. */
export function editOptionBytes(cur: OptionBytes, edits: readonly string[]): OptionBytes {
  let ob: OptionBytes = { ...cur, banks: [{ ...cur.banks[0] }, { ...cur.banks[1] }] };
  const num = (v: string, field: string): number => {
    const n = /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw bad(`${field}=${v}: not a number`, field);
    return n;
  };
  const bool = (v: string, field: string): boolean => {
    if (['1', 'true', 'on'].includes(v)) return true;
    if (['0', 'false', 'off'].includes(v)) return false;
    throw bad(`${field}=${v}: 0 or 1`, field);
  };
  const range = (v: string, field: string): [number, number] => {
    const m = /^(\w+)(?:-|\.\.)(\w+)$/.exec(v);
    if (!m) throw bad(`${field}=${v}: FIRST-LAST pages`, field);
    const r: [number, number] = [num(m[1] as string, field), num(m[2] as string, field)];
    checkPage(r[0], field);
    checkPage(r[1], field);
    return r;
  };
  for (const e of edits) {
    const eq = e.indexOf('=');
    if (eq < 0) throw bad(`${e}: FIELD=VALUE`, 'ob');
    const k = e.slice(0, eq).toLowerCase();
    const v = e.slice(eq + 1).toLowerCase();
    const bank = /^(secwm|hdp|hdpen|wrpa|wrpb)([12])$/.exec(k);
    if (bank) {
      const i = Number(bank[2]) - 1;
      const banks = [...ob.banks] as [BankOptions, BankOptions];
      const b = banks[i] as BankOptions;
      const f = bank[1];
      if (f === 'secwm') {
        const [s, en] = v === 'none' ? [0x7f, 0] : range(v, k);
        banks[i] = { ...b, secwmStart: s, secwmEnd: en };
      } else if (f === 'hdp') {
        const p = num(v, k);
        checkPage(p, k);
        banks[i] = { ...b, hdpEnd: p, hdpEnable: true };
      } else if (f === 'hdpen') banks[i] = { ...b, hdpEnable: bool(v, k) };
      else banks[i] = { ...b, [f === 'wrpa' ? 'wrpA' : 'wrpB']: v === 'none' ? [0x7f, 0] : range(v, k) };
      ob = { ...ob, banks };
      continue;
    }
    switch (k) {
      case 'rdp': {
        const level = (['0', '0.5', '1', '2'] as const).find((l) => l === v);
        // A level by name, or the raw byte in hex (any byte but 0xAA, 0x55 and 0xCC reads as level 1).
        if (level === undefined && !/^0x[0-9a-f]{1,2}$/i.test(v))
          throw new RseError('E_ARGUMENT', `rdp=${v}: a level is 0, 0.5, 1 or 2, or the raw byte as 0xNN`, { field: 'rdp' });
        ob = { ...ob, rdp: level !== undefined ? RDP_BYTES[level] : num(v, k) & 0xff };
        break;
      }
      case 'tzen':
        ob = { ...ob, tzen: bool(v, k) };
        break;
      case 'nswboot0':
        ob = { ...ob, nSwBoot0: bool(v, k) };
        break;
      case 'nboot0':
        ob = { ...ob, nBoot0: bool(v, k) };
        break;
      case 'boot_lock':
      case 'bootlock':
        ob = { ...ob, bootLock: bool(v, k) };
        break;
      case 'nsbootadd0':
      case 'nsbootadd1':
      case 'secbootadd0': {
        const a = num(v, k);
        if (a % 128 !== 0) throw bad(`${k}=${v}: boot addresses are 128-byte aligned`, k);
        ob = { ...ob, [k === 'nsbootadd0' ? 'nsBootAdd0' : k === 'nsbootadd1' ? 'nsBootAdd1' : 'secBootAdd0']: a };
        break;
      }
      default:
        throw bad(
          `unknown option byte ${k} (rdp, tzen, nswboot0, nboot0, boot_lock, nsbootadd0/1, secbootadd0, secwm1/2, hdp1/2, hdpen1/2, wrpa1/2, wrpb1/2)`,
          k,
        );
    }
  }
  return ob;
}
