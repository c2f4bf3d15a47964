/**
 * The virtual STM32L552 as a directory: `flash.bin` (512 KB), `sram2.bin` (64 KB), `octospi.bin`
 * (the external flash through OTFDEC, 1 MB) and `device.json` (option bytes, OTFDEC regions, backup
 * registers, the chip's secret and certificate, the HDP state since reset); every change lands in
 * one staged commit recovered on open. Flash access by RDP, watermark, WRP and closed HDP; RSSLIB
 * `CloseExitHDP`.
 * @module
 */

import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type AsymKey, aesEcbEncrypt, ecdsaSignRaw, randomBytes } from '../crypto/index.ts';
import { makeDirectory, readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { array, bool, type Check, hexBytes, int, object, oneOf, optional, pair, SchemaError, str, u32 } from '../lib/schema.ts';
import { STM32L5 } from '../profiles/stm32.ts';
import { p256PublicXY } from './image.ts';
import {
  BACKUP_REGISTERS_L5,
  BANK_SIZE,
  bad,
  checkObChange,
  ERASED,
  EXT_BASE,
  EXT_SIZE,
  FACTORY_OPTION_BYTES,
  FLASH_S_BASE,
  FLASH_SIZE,
  flashOffset,
  hdpPages,
  isSecurePage,
  type ObChange,
  type OptionBytes,
  PAGE_SIZE,
  PAGES_PER_BANK,
  type RdpLevel,
  type Requester,
  RSSLIB_ERROR,
  RSSLIB_SUCCESS,
  rdpLevel,
  refuse,
  SRAM2_SIZE,
} from './l5.ts';
import { deriveChipKey, encodeCertificate, virtualStCa } from './ssp.ts';

export interface L5Json {
  readonly format: 1;
  readonly profile: typeof STM32L5.name;
  readonly optionBytes: OptionBytes;
  readonly backup: readonly number[];
  readonly chipSecret: string;
  readonly productId: string;
  /** The chip certificate: ST's signature over product id ‖ chip public key. */
  readonly certificate: string;
  /** HDPx_ACCDIS since the last reset. */
  readonly hdpClosed: readonly [boolean, boolean];
  readonly resets: number;
  readonly otfdec?: readonly OtfdecRegion[];
}

const PAGE = int(0, PAGES_PER_BANK - 1);
const BANK = object({ secwmStart: PAGE, secwmEnd: PAGE, hdpEnd: PAGE, hdpEnable: bool, wrpA: pair(PAGE), wrpB: pair(PAGE) });
/** `device.json` of an STM32L5 device: every field, typed. */
const L5_JSON: Check<L5Json> = object({
  format: oneOf([1] as const),
  profile: oneOf([STM32L5.name] as const),
  optionBytes: object({
    rdp: int(0, 0xff),
    tzen: bool,
    nSwBoot0: bool,
    nBoot0: bool,
    nsBootAdd0: u32,
    nsBootAdd1: u32,
    secBootAdd0: u32,
    bootLock: bool,
    banks: pair(BANK),
  }),
  backup: array(u32, { length: BACKUP_REGISTERS_L5 }),
  chipSecret: hexBytes(32),
  productId: str(/^[0-9A-Za-z]{1,16}$/, 'a product id (1 to 16 letters and digits)'),
  certificate: hexBytes(64),
  hdpClosed: pair(bool),
  resets: int(0, Number.MAX_SAFE_INTEGER),
  otfdec: optional(
    array(
      object({
        start: u32,
        end: u32,
        keyAddress: u32,
        nonce: hexBytes(8),
        version: int(0, 0xffff),
        keyMode: oneOf(['global', 'unique'] as const),
      }),
      { max: 4 },
    ),
  ),
});

/**
 * An OTFDEC region as the secure firmware programs it at boot: the external-flash range, where its
 * key sits in internal flash, the nonce and the version. Keystream block for the 16 bytes at A:
 * AES-128(key, nonce(8) ‖ version u16 BE ‖ 0000 ‖ (A >> 4) u32 BE) (rsekit's definition).
 */
export interface OtfdecRegion {
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
  readonly keyAddress: number;
  readonly nonce: string;
  readonly version: number;
  readonly keyMode: 'global' | 'unique';
}

/** AES-128-CTR of OTFDEC over `data` at external address `addr` (its own inverse). */
export function otfdecCrypt(key: Uint8Array, nonce: Uint8Array, version: number, addr: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  const first = Math.floor(addr / 16);
  const last = Math.floor((addr + data.length - 1) / 16);
  if (data.length === 0) return out;
  const blocks = new Uint8Array((last - first + 1) * 16);
  for (let b = first; b <= last; b++) {
    const o = (b - first) * 16;
    blocks.set(nonce.subarray(0, 8), o);
    blocks[o + 8] = (version >> 8) & 0xff;
    blocks[o + 9] = version & 0xff;
    new DataView(blocks.buffer).setUint32(o + 12, b >>> 0, false);
  }
  const ks = aesEcbEncrypt(key, blocks);
  const skip = addr - first * 16;
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) ^ (ks[skip + i] as number);
  return out;
}

/** A virtual STM32L552 in a directory. */
export class L5Device {
  readonly dir: string;
  ob: OptionBytes;
  readonly flash: Uint8Array;
  readonly sram2: Uint8Array;
  readonly backup: Uint32Array;
  readonly chipSecret: Uint8Array;
  readonly productId: string;
  readonly certificate: Uint8Array;
  hdpClosed: [boolean, boolean];
  resets: number;
  readonly external: Uint8Array;
  otfdec: OtfdecRegion[];

  private constructor(dir: string, j: L5Json, flash: Uint8Array, sram2: Uint8Array, external: Uint8Array) {
    this.dir = dir;
    this.external = external;
    this.otfdec = Array.isArray(j.otfdec) ? [...j.otfdec] : [];
    this.ob = j.optionBytes;
    this.flash = flash;
    this.sram2 = sram2;
    this.backup = Uint32Array.from(j.backup);
    this.chipSecret = fromHex(j.chipSecret, 'chipSecret');
    this.productId = j.productId;
    this.certificate = fromHex(j.certificate, 'certificate');
    this.hdpClosed = [j.hdpClosed[0] === true, j.hdpClosed[1] === true];
    this.resets = j.resets;
  }

  /** A chip from ST's factory: erased flash, factory option bytes, its key pair certified by `ca`. */
  static create(dir: string, o: { force?: boolean; ca?: AsymKey } = {}): L5Device {
    if (existsSync(join(dir, 'device.json')) && o.force !== true)
      throw new RseError('E_EXISTS', `${dir} already holds a device (--force to replace it)`, { field: dir });
    makeDirectory(dir);
    const chipSecret = randomBytes(32);
    const productId = '47200100';
    const cert = ecdsaSignRaw(o.ca ?? virtualStCa(), [new TextEncoder().encode(productId), p256PublicXY(l5ChipKey(chipSecret))]);
    const dev = new L5Device(
      dir,
      {
        format: 1,
        profile: STM32L5.name,
        optionBytes: FACTORY_OPTION_BYTES,
        backup: new Array<number>(BACKUP_REGISTERS_L5).fill(0),
        chipSecret: toHex(chipSecret),
        productId,
        certificate: toHex(cert),
        hdpClosed: [false, false],
        resets: 0,
      },
      new Uint8Array(FLASH_SIZE).fill(ERASED),
      new Uint8Array(SRAM2_SIZE),
      new Uint8Array(EXT_SIZE).fill(ERASED),
    );
    dev.save();
    return dev;
  }

  static open(dir: string): L5Device {
    recoverCommit(dir);
    const raw = readStateFile(join(dir, 'device.json'), 1024 * 1024);
    let parsed: unknown;
    try {
      parsed = raw === undefined ? undefined : JSON.parse(new TextDecoder().decode(raw));
    } catch {
      parsed = undefined;
    }
    const p = parsed as { profile?: unknown } | undefined;
    if (typeof p !== 'object' || p === null || !Object.hasOwn(p, 'profile') || p.profile !== STM32L5.name)
      throw new RseError('E_DEVICE', `${dir} is not an stm32l5 device (rse l5 device create ${dir})`, { field: dir });
    let j: L5Json;
    try {
      j = L5_JSON(parsed, '');
    } catch (e) {
      if (e instanceof SchemaError) throw new RseError('E_DEVICE', `${dir}/device.json: ${e.message}`, { field: `device.json ${e.path}` });
      throw e;
    }
    const file = (name: string, size: number): Uint8Array => {
      const b = readStateFile(join(dir, name), size);
      if (b === undefined) throw new RseError('E_DEVICE', `cannot read ${dir}/${name}: ENOENT`, { field: name });
      if (b.length !== size) throw new RseError('E_DEVICE', `${dir}/${name} is ${b.length} bytes, not ${size}`, { field: name });
      return b;
    };
    return new L5Device(dir, j, file('flash.bin', FLASH_SIZE), file('sram2.bin', SRAM2_SIZE), file('octospi.bin', EXT_SIZE));
  }

  /**
   * Writes flash, SRAM2 and the JSON as one commit: staged in `.commit/`, a `COMMITTED` marker,
   * then renamed into place. A power cut before the marker leaves the old state (the stage is
   * dropped on open), after it the new one (the renames are finished on open). `step` is called
   * before each write: the fault-injection point of the power-cut tests.
   */
  save(step: (what: string) => void = () => {}): void {
    const stage = join(this.dir, COMMIT_DIR);
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(stage);
    const j: L5Json = {
      format: 1,
      profile: STM32L5.name,
      optionBytes: this.ob,
      backup: [...this.backup],
      chipSecret: toHex(this.chipSecret),
      productId: this.productId,
      certificate: toHex(this.certificate),
      hdpClosed: this.hdpClosed,
      resets: this.resets,
      otfdec: this.otfdec,
    };
    const files: [string, Uint8Array | string][] = [
      ['flash.bin', this.flash],
      ['sram2.bin', this.sram2],
      ['octospi.bin', this.external],
      ['device.json', `${JSON.stringify(j, null, 2)}\n`],
    ];
    for (const [name, data] of files) {
      step(`stage ${name}`);
      writeFileAtomic(join(stage, name), data, { durable: true });
    }
    step('commit marker');
    writeFileAtomic(join(stage, COMMITTED), 'committed\n', { durable: true });
    finishCommit(this.dir, step);
  }

  /** RSS: the device certificate message (product id, chip public key X ‖ Y, ST's signature). */
  certificateMessage(): Uint8Array {
    return encodeCertificate({
      productId: this.productId,
      chipPublicKey: p256PublicXY(l5ChipKey(this.chipSecret)),
      certificate: this.certificate,
    });
  }

  get rdp(): RdpLevel {
    return rdpLevel(this.ob.rdp);
  }

  /** Reset: HDP areas open again (until secure code closes them), SRAM2 kept (SRAM2_RST = 1). */
  reset(): void {
    this.hdpClosed = [false, false];
    this.resets++;
  }

  /** OB_LAUNCH after an option-byte change: the rules, the regression's erase, then a reset. */
  setOptionBytes(next: OptionBytes, who: Requester): ObChange {
    const { erase } = checkObChange(this.ob, next, who);
    const erased: string[] = [];
    if (erase === 'all') {
      this.flash.fill(ERASED);
      this.sram2.fill(0);
      this.backup.fill(0);
      erased.push('all user flash (secure and non-secure)', 'SRAM2', 'backup registers');
    } else if (erase === 'non-secure') {
      for (const bank of [0, 1] as const)
        for (let p = 0; p < PAGES_PER_BANK; p++)
          if (!isSecurePage(this.ob, bank, p))
            this.flash.fill(ERASED, bank * BANK_SIZE + p * PAGE_SIZE, bank * BANK_SIZE + (p + 1) * PAGE_SIZE);
      erased.push('non-secure flash pages');
    }
    this.ob = next;
    this.reset();
    return { ob: next, erased };
  }

  /** Where a flash address lands: bank, page, and whether it is the secure alias. */
  locate(addr: number): { bank: 0 | 1; page: number; offset: number; secureAlias: boolean } {
    const offset = flashOffset(addr, 1);
    if (offset === undefined) throw bad(`0x${addr.toString(16)} is not in the flash (0x08000000 or 0x0c000000, 512 KB)`, 'addr');
    return {
      bank: offset < BANK_SIZE ? 0 : 1,
      page: Math.floor((offset % BANK_SIZE) / PAGE_SIZE),
      offset,
      secureAlias: addr >= FLASH_S_BASE,
    };
  }

  /** Whether `who` may read (or program) `len` bytes at `addr`; throws the rule that refuses. */
  checkAccess(addr: number, len: number, who: Requester, write = false): void {
    if (!Number.isInteger(len) || len < 0) throw bad(`length ${len}`, 'len');
    const first = this.locate(addr);
    if (first.offset + len > FLASH_SIZE) throw bad(`0x${addr.toString(16)} + ${len} runs past the end of the flash`, 'len');
    for (let off = first.offset; off < first.offset + Math.max(1, len); off = (Math.floor(off / PAGE_SIZE) + 1) * PAGE_SIZE) {
      const bank = (off < BANK_SIZE ? 0 : 1) as 0 | 1;
      const page = Math.floor((off % BANK_SIZE) / PAGE_SIZE);
      const where = `page ${page} of bank ${bank + 1}`;
      const secure = isSecurePage(this.ob, bank, page);
      if (who === 'debugger') {
        if (this.rdp === '1' || this.rdp === '2') throw refuse(`RDP level ${this.rdp}: the debugger cannot reach the flash`, 'rdp');
        if (this.rdp === '0.5' && secure) throw refuse(`RDP level 0.5: ${where} is secure, the debugger is non-secure only`, 'rdp');
      }
      const hdp = hdpPages(this.ob, bank);
      if (hdp !== undefined && this.hdpClosed[bank] && page >= hdp[0] && page <= hdp[1])
        throw refuse(`${where} is in HDP area ${bank + 1}, closed until reset`, 'hdp');
      if (write) {
        const o = this.ob.banks[bank];
        for (const [name, [a, b]] of [
          ['WRP A', o.wrpA],
          ['WRP B', o.wrpB],
        ] as const)
          if (a <= b && page >= a && page <= b) throw refuse(`${where} is write-protected (${name} of bank ${bank + 1})`, 'wrp');
      }
    }
  }

  read(addr: number, len: number, who: Requester): Uint8Array {
    this.checkAccess(addr, len, who);
    const l = this.locate(addr);
    return this.flash.slice(l.offset, l.offset + len);
  }

  /** Writes flash as a loader's erase-then-program leaves it (WRP and the access rules apply). */
  program(addr: number, data: Uint8Array, who: Requester): void {
    this.checkAccess(addr, data.length, who, true);
    this.flash.set(data, this.locate(addr).offset);
  }

  /**
   * Power-on reset and the boot address selection (RM0438): with TrustZone, BOOT_LOCK forces
   * SECBOOTADD0, else BOOT0 (the PH3 pin when nSWBOOT0 = 1, else the nBOOT0 bit inverted) picks
   * SECBOOTADD0 (0) or the RSS / bootloader (1); without TrustZone, NSBOOTADD0 or NSBOOTADD1.
   * Returns the vector table's initial SP and reset handler when the boot address is in flash.
   */
  boot(o: { boot0Pin?: 0 | 1 } = {}): { address: number; target: string; sp?: number; pc?: number; erased: boolean } {
    this.reset();
    const boot0 = this.ob.nSwBoot0 ? (o.boot0Pin ?? 0) : this.ob.nBoot0 ? 0 : 1;
    let address: number;
    let target: string;
    if (this.ob.tzen) {
      if (this.ob.bootLock || boot0 === 0)
        [address, target] = [this.ob.secBootAdd0, this.ob.bootLock ? 'SECBOOTADD0 (BOOT_LOCK)' : 'SECBOOTADD0'];
      else [address, target] = [0x0ff80000, 'RSS (bootloader)'];
    } else [address, target] = boot0 === 0 ? [this.ob.nsBootAdd0, 'NSBOOTADD0'] : [this.ob.nsBootAdd1, 'NSBOOTADD1 (bootloader)'];
    try {
      const v = this.read(address, 8, 'secure');
      const dv = new DataView(v.buffer);
      return { address, target, sp: dv.getUint32(0, true), pc: dv.getUint32(4, true), erased: v.every((b) => b === ERASED) };
    } catch {
      return { address, target, erased: false };
    }
  }

  /**
   * Reads the external flash: raw (the ciphertext anyone with a probe on the OCTOSPI bus sees),
   * or through OTFDEC as the memory-mapped bus serves it to secure code, decrypting the regions the
   * firmware programmed with the keys it keeps in internal flash.
   */
  readExternal(addr: number, len: number, o: { otfdec: boolean; who: Requester }): Uint8Array {
    const off = addr - EXT_BASE;
    if (!Number.isInteger(addr) || !Number.isInteger(len) || len < 0 || off < 0 || off + len > EXT_SIZE)
      throw bad(`0x${addr.toString(16)} + ${len} is not in the external flash (0x90000000, 1 MB)`, 'addr');
    const raw = this.external.slice(off, off + len);
    if (!o.otfdec) return raw;
    if (o.who !== 'secure' && this.rdp !== '0') throw refuse(`RDP level ${this.rdp}: the debugger cannot read through OTFDEC`, 'rdp');
    for (const r of this.otfdec) {
      const a = Math.max(addr, r.start);
      const b = Math.min(addr + len - 1, r.end);
      if (a > b) continue;
      const key = this.read(r.keyAddress, 16, 'secure');
      raw.set(otfdecCrypt(key, fromHex(r.nonce, 'otfdec.nonce'), r.version, a, raw.subarray(a - addr, b - addr + 1)), a - addr);
      key.fill(0);
    }
    return raw;
  }

  /**
   * RSSLIB `CloseExitHDP(areaMask, vectorTable)`: closes the HDP areas in the mask and jumps to
   * the vector table's reset handler. A bad mask (0, bits beyond areas 1 and 2, an area not
   * enabled) or a vector table outside the flash resets the device, as the real one does.
   */
  closeExitHdp(mask: number, vtor: number): { code: number; reset: boolean; closed: [boolean, boolean]; jump?: number } {
    const badMask =
      !Number.isInteger(mask) ||
      mask <= 0 ||
      mask > 3 ||
      [0, 1].some((i) => (mask >> i) & 1 && hdpPages(this.ob, i as 0 | 1) === undefined);
    let inFlash = true;
    try {
      this.locate(vtor);
    } catch {
      inFlash = false;
    }
    if (badMask || !inFlash || vtor % 128 !== 0) {
      this.reset();
      return { code: RSSLIB_ERROR, reset: true, closed: this.hdpClosed };
    }
    for (const i of [0, 1] as const) if ((mask >> i) & 1) this.hdpClosed[i] = true;
    const l = this.locate(vtor + 4);
    const jump = new DataView(this.flash.buffer, this.flash.byteOffset).getUint32(l.offset, true);
    return { code: RSSLIB_SUCCESS, reset: false, closed: this.hdpClosed, jump };
  }
}

export const COMMIT_DIR = '.commit';
export const COMMITTED = 'COMMITTED';
export const COMMIT_FILES = ['flash.bin', 'sram2.bin', 'octospi.bin', 'device.json'] as const;

/** Renames a committed stage into place, the JSON last, then drops the stage. */
export function finishCommit(dir: string, step: (what: string) => void = () => {}): void {
  const stage = join(dir, COMMIT_DIR);
  for (const name of COMMIT_FILES)
    if (existsSync(join(stage, name))) {
      step(`rename ${name}`);
      renameSync(join(stage, name), join(dir, name));
    }
  step('drop the stage');
  rmSync(stage, { recursive: true, force: true });
}

/** After a power cut: finish a committed stage, drop an uncommitted one. */
export function recoverCommit(dir: string): void {
  const stage = join(dir, COMMIT_DIR);
  if (!existsSync(stage)) return;
  if (existsSync(join(stage, COMMITTED))) finishCommit(dir);
  else rmSync(stage, { recursive: true, force: true });
}

/** The L5 chip's key pair (for SFI licenses), from its secret. */
export const l5ChipKey = (chipSecret: Uint8Array): AsymKey => deriveChipKey(chipSecret, 'STM32L5 SFI chip key');
