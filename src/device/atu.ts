/**
 * The RSE's view of memory during boot: its own SRAM (VM0/VM1, and RSS 1.7's flash emulated in
 * VM0) addressed directly, and the host window (logical 0x70000000–0x7FFFFFFF) that reaches the
 * host's physical memories only through the ATU (`atu_rse_drv.c`). A region maps whole pages
 * (8 KiB on the FVP); an access that no enabled region covers raises the ATU mismatch and the
 * bus access faults, which stops the stage that made it. Host physical memories are the AP and
 * SCP boot SRAMs and, on RSE 2.1, the host flash. XIP builds also map the encrypted runtime
 * images at the SIC's window (0x12000000, 16 MiB), which fetches through the ATU.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';

/** ATU page size on the FVP/TC (`RSE_COMMS_ATU_PAGE_SIZE`, `fiptool --align 8192`). */
export const ATU_PAGE_SIZE = 0x2000;
/** Regions the ATU has (2^RC). */
export const ATU_REGION_COUNT = 32;
/** The logical host access window. */
export const HOST_WINDOW_BASE = 0x70000000;
export const HOST_WINDOW_END = 0x80000000;
/** The SIC's secure window (`SIC_HOST_BASE_S`, `SIC_MAPPABLE_SIZE`): also ATU-translated. */
export const SIC_WINDOW_BASE = 0x12000000;
export const SIC_WINDOW_END = 0x13000000;

/** The logical window `addr` lies in, if it is one the ATU translates. */
function windowOf(addr: number): { base: number; end: number; name: string } | undefined {
  if (addr >= HOST_WINDOW_BASE && addr < HOST_WINDOW_END) return { base: HOST_WINDOW_BASE, end: HOST_WINDOW_END, name: 'host window' };
  if (addr >= SIC_WINDOW_BASE && addr < SIC_WINDOW_END) return { base: SIC_WINDOW_BASE, end: SIC_WINDOW_END, name: 'SIC window' };
  return undefined;
}

export interface AtuRegion {
  readonly index: number;
  readonly logical: number;
  readonly physical: number;
  readonly size: number;
  /** Who programmed it, for reports. */
  readonly purpose: string;
}

/**
 * A bus access that faulted: an ATU mismatch (`E_ATU_MISMATCH`), or no memory at the physical or
 * logical address (`E_BUS_FAULT`); `address` is the bus address.
 */
export class BusFault extends RseError {
  readonly kind: 'atu-mismatch' | 'no-memory';
  readonly address: number;
  constructor(kind: 'atu-mismatch' | 'no-memory', address: number, message: string) {
    super(kind === 'atu-mismatch' ? 'E_ATU_MISMATCH' : 'E_BUS_FAULT', message, { field: 'bus' });
    this.name = 'BusFault';
    this.kind = kind;
    this.address = address;
  }
}

/** The address translation unit. */
export class Atu {
  private readonly regions: (AtuRegion | undefined)[] = new Array<AtuRegion | undefined>(ATU_REGION_COUNT).fill(undefined);
  /** Every programming and release, in order (for the boot report). */
  readonly log: string[] = [];
  /** The first mismatch since the last clear (the mismatch status / address registers). */
  mismatch: number | undefined;

  /** `atu_initialize_region`: logical, physical and size must be page-aligned. */
  init(index: number, logical: number, physical: number, size: number, purpose: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= ATU_REGION_COUNT)
      throw new RseError('E_ATU', `ATU region ${index} does not exist (0..${ATU_REGION_COUNT - 1})`, { field: 'atu.region' });
    for (const [what, v] of [
      ['logical address', logical],
      ['physical address', physical],
      ['size', size],
    ] as const) {
      if (v % ATU_PAGE_SIZE !== 0)
        throw new RseError('E_ATU', `ATU region ${index} (${purpose}): ${what} ${hex0x(v)} is not ${hex0x(ATU_PAGE_SIZE)}-aligned`, {
          field: 'atu.region',
        });
    }
    const w = windowOf(logical);
    if (size === 0 || w === undefined || logical + size > w.end)
      throw new RseError(
        'E_ATU',
        `ATU region ${index} (${purpose}): ${hex0x(logical)}+${hex0x(size)} is outside the host and SIC windows`,
        {
          field: 'atu.region',
        },
      );
    this.regions[index] = { index, logical, physical, size, purpose };
    this.log.push(`region ${index}: ${hex0x(logical, 8)}..${hex0x(logical + size, 8)} -> ${hex0x(physical, 8)} (${purpose})`);
  }

  uninit(index: number): void {
    if (this.regions[index] !== undefined) this.log.push(`region ${index}: released`);
    this.regions[index] = undefined;
  }

  /** The enabled regions, by index. */
  active(): AtuRegion[] {
    return this.regions.filter((r): r is AtuRegion => r !== undefined);
  }

  /**
   * Translates `[logical, logical + length)` into physical pieces; an address no region covers
   * latches the mismatch and faults.
   */
  translate(logical: number, length: number): { physical: number; length: number }[] {
    const out: { physical: number; length: number }[] = [];
    let at = logical;
    const end = logical + length;
    while (at < end) {
      const r = this.regions.find((x) => x !== undefined && at >= x.logical && at < x.logical + x.size);
      if (r === undefined) {
        this.mismatch ??= at;
        throw new BusFault('atu-mismatch', at, `ATU mismatch: no region translates logical address ${hex0x(at, 8)}`);
      }
      const n = Math.min(end, r.logical + r.size) - at;
      out.push({ physical: r.physical + (at - r.logical), length: n });
      at += n;
    }
    return out;
  }
}

/** A memory on a bus; `bytes` may be shorter than `size` (the rest reads as `fill`). */
export interface Memory {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly bytes: Uint8Array;
  /** What reads beyond `bytes` return (erased flash: 0xFF). */
  readonly fill: number;
  readonly writable: boolean;
  /**
   * NOR flash the RSE programs in place (the TC host flash, CFI StrataFlash: byte programs, no
   * erase): {@link Bus.program} can only clear bits of it.
   */
  readonly programmable?: boolean;
}

function findMemory(mems: readonly Memory[], addr: number, len: number): Memory | undefined {
  return mems.find((m) => addr >= m.base && addr + len <= m.base + m.size);
}

/** The RSE's bus: direct memories plus the ATU-translated host window. */
export class Bus {
  readonly atu = new Atu();
  /** Memories the RSE addresses directly (logical = physical). */
  readonly local: Memory[];
  /** The host's physical memories, reached through the ATU. */
  readonly host: Memory[];

  constructor(local: Memory[], host: Memory[]) {
    this.local = local;
    this.host = host;
  }

  private pieces(addr: number, len: number): { mem: Memory; off: number; len: number }[] {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0 || addr + len > 0x100000000)
      throw new BusFault('no-memory', addr, `address ${hex0x(addr)}+${hex0x(len)} is not a 32-bit range`);
    const w = windowOf(addr);
    if (w !== undefined) {
      if (addr + len > w.end) throw new BusFault('no-memory', w.end, `access ${hex0x(addr, 8)}+${hex0x(len)} runs past the ${w.name}`);
      return this.atu.translate(addr, len).map((p) => {
        const mem = findMemory(this.host, p.physical, p.length);
        if (mem === undefined)
          throw new BusFault('no-memory', p.physical, `host physical address ${hex0x(p.physical, 8)}+${hex0x(p.length)} is no memory`);
        return { mem, off: p.physical - mem.base, len: p.length };
      });
    }
    const mem = findMemory(this.local, addr, len);
    if (mem === undefined) throw new BusFault('no-memory', addr, `no RSE memory at ${hex0x(addr, 8)}+${hex0x(len)}`);
    return [{ mem, off: addr - mem.base, len }];
  }

  /** Reads `len` bytes; a view when the range lies in one backing array, else a copy. */
  read(addr: number, len: number): Uint8Array {
    const ps = this.pieces(addr, len);
    const only = ps[0];
    if (ps.length === 1 && only !== undefined && only.off + only.len <= only.mem.bytes.length)
      return only.mem.bytes.subarray(only.off, only.off + only.len);
    const out = new Uint8Array(len);
    let at = 0;
    for (const p of ps) {
      const have = Math.max(0, Math.min(p.len, p.mem.bytes.length - p.off));
      if (have > 0) out.set(p.mem.bytes.subarray(p.off, p.off + have), at);
      if (have < p.len) out.fill(p.mem.fill, at + have, at + p.len);
      at += p.len;
    }
    return out;
  }

  write(addr: number, data: Uint8Array): void {
    const ps = this.pieces(addr, data.length);
    let at = 0;
    for (const p of ps) {
      if (!p.mem.writable || p.off + p.len > p.mem.bytes.length)
        throw new BusFault('no-memory', p.mem.base + p.off, `${p.mem.name} at ${hex0x(p.mem.base + p.off, 8)} is not writable memory`);
      p.mem.bytes.set(data.subarray(at, at + p.len), p.off);
      at += p.len;
    }
  }

  fill(addr: number, len: number, value: number): void {
    for (const p of this.pieces(addr, len)) {
      if (!p.mem.writable || p.off + p.len > p.mem.bytes.length)
        throw new BusFault('no-memory', p.mem.base + p.off, `${p.mem.name} at ${hex0x(p.mem.base + p.off, 8)} is not writable memory`);
      p.mem.bytes.fill(value, p.off, p.off + p.len);
    }
  }

  /** Bytes programmed into NOR flash through {@link Bus.program} since the bus was made. */
  programmed = 0;

  /**
   * Programs NOR flash byte by byte, as the CFI driver does (`cfi_strataflashj3_program`, program
   * unit 1, no erase): each byte becomes old AND new. `before` is called before each byte (the
   * power-cut point of a persistent write).
   */
  program(addr: number, data: Uint8Array, before?: (what: string) => void): void {
    const ps = this.pieces(addr, data.length);
    for (const p of ps)
      if (p.mem.programmable !== true || p.off + p.len > p.mem.bytes.length)
        throw new BusFault('no-memory', p.mem.base + p.off, `${p.mem.name} at ${hex0x(p.mem.base + p.off, 8)} is not programmable flash`);
    let at = 0;
    for (const p of ps)
      for (let i = 0; i < p.len; i++, at++) {
        before?.(`${p.mem.name} program at ${hex0x(p.mem.base + p.off + i, 8)}`);
        const b = p.mem.bytes;
        b[p.off + i] = (b[p.off + i] as number) & (data[at] as number);
        this.programmed++;
      }
  }

  /** memmove within the bus (the 1.7 SCP header removal). */
  move(dst: number, src: number, len: number): void {
    this.write(dst, this.read(src, len).slice());
  }
}
