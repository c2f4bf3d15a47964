/**
 * A virtual STM32MP15 (profile `stm32mp1`): a directory with the fuses (`otp.bin`, 96 little-endian
 * words) and one JSON file (permanent locks, boot count), both written atomically. The ROM's FSBL
 * checks run against it: the STM32 header, the PKH the OTP holds (words 24..31), the signature
 * (forced on a closed device), the anti-rollback counter (word 4), and debug closed on a closed
 * device until the FSBL opens what the platform allows.
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type AsymKey, randomBytes } from '../crypto/index.ts';
import { makeDirectory, readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { lockHolder } from '../lib/lock.ts';
import { SchemaError } from '../lib/schema.ts';
import { STM32MP1 } from '../profiles/stm32.ts';
import { BSEC_WORDS, Bsec, CFG0_CLOSED, OTP_WORD } from './bsec.ts';
import { Mp1Bus } from './bus.ts';
import { binaryTypeName, checkStm32Image, parseStm32Image, pkhOtpWords, type Stm32Check } from './image.ts';
import type { MonitorState } from './monitor.ts';
import { MP1_JSON, type Mp1Json } from './mp1-json.ts';
import { applyPlatform, denableFor, type Mp1Platform } from './platform.ts';
import { manufactureChip } from './ssp.ts';
import { BKPSRAM_SIZE, Tamp } from './tamp.ts';

const OTP_FILE = 'otp.bin';
const JSON_FILE = 'device.json';
const BKPSRAM_FILE = 'bkpsram.bin';

/** The device's JSON, or undefined when `dir` holds no stm32mp1 device; a damaged one is an `E_DEVICE` naming the field. */
function readJson(dir: string): Mp1Json | undefined {
  const raw = readStateFile(join(dir, JSON_FILE), 256 * 1024 * 1024);
  let parsed: unknown;
  try {
    parsed = raw === undefined ? undefined : JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return undefined;
  }
  const p = parsed as { profile?: unknown } | undefined;
  if (typeof p !== 'object' || p === null || !Object.hasOwn(p, 'profile') || p.profile !== STM32MP1.name) return undefined;
  try {
    return MP1_JSON(parsed, '');
  } catch (e) {
    if (e instanceof SchemaError) throw new RseError('E_DEVICE', `${dir}/${JSON_FILE}: ${e.message}`, { field: `${JSON_FILE} ${e.path}` });
    throw e;
  }
}

/** A virtual STM32MP15 in a directory: fuses, permanent locks, backup domain. */
export class Mp1Device {
  readonly dir: string;
  readonly bsec: Bsec;
  boots: number;
  /** The firewalls as the last boot configured them (reset state until then). */
  bus: Mp1Bus;
  readonly hwSecret: Uint8Array;
  readonly tamp: Tamp;
  /** The last stage the last boot reached (undefined before the first boot). */
  reached: 'rom' | 'fsbl' | 'runtime' | undefined;
  /** The secure monitor's run-time state, once something called it since the last boot. */
  monitor: MonitorState | undefined;

  private constructor(dir: string, bsec: Bsec, boots: number, hwSecret: Uint8Array, bus = new Mp1Bus(), tamp = new Tamp()) {
    this.dir = dir;
    this.bsec = bsec;
    this.boots = boots;
    this.hwSecret = hwSecret;
    this.bus = bus;
    this.tamp = tamp;
    bus.tamp = tamp;
  }

  /**
   * A new, open device as it leaves ST's factory: its hardware-unique secret, CFG2 (ST security
   * counter and key id) and the chip certificate in OTP 40..55 signed by `ca` (the virtual ST CA by
   * default); every other fuse 0.
   */
  static create(dir: string, force = false, o: { ca?: AsymKey } = {}): Mp1Device {
    if (existsSync(join(dir, JSON_FILE)) && !force)
      throw new RseError('E_EXISTS', `${dir} already holds a device (--force to replace it)`, { field: dir });
    makeDirectory(dir);
    const hwSecret = randomBytes(32);
    const bsec = new Bsec();
    manufactureChip(bsec, hwSecret, o.ca);
    bsec.reset();
    const dev = new Mp1Device(dir, bsec, 0, hwSecret);
    dev.save();
    return dev;
  }

  static open(dir: string): Mp1Device {
    const json = readJson(dir);
    if (json === undefined)
      throw new RseError('E_DEVICE', `${dir} is not an stm32mp1 device (rse stm32 device create ${dir})`, { field: dir });
    const otp = readStateFile(join(dir, OTP_FILE), BSEC_WORDS * 4);
    if (otp === undefined) throw new RseError('E_DEVICE', `cannot read ${dir}/${OTP_FILE}: ENOENT`, { field: OTP_FILE });
    if (otp.length !== BSEC_WORDS * 4)
      throw new RseError('E_DEVICE', `${dir}/${OTP_FILE} is ${otp.length} bytes, not ${BSEC_WORDS * 4}`, { field: OTP_FILE });
    const locks = new Array<boolean>(BSEC_WORDS).fill(false);
    for (const n of json.permanentLock) locks[n] = true;
    const words = Array.from({ length: BSEC_WORDS }, (_, i) => readU32le(otp, 4 * i));
    const bsec = new Bsec({ words, permanentLock: locks });
    let bus: Mp1Bus | undefined;
    const rt = json.runtime;
    if (rt !== undefined) {
      try {
        bus = new Mp1Bus(rt.firewall);
      } catch (e) {
        throw new RseError('E_DEVICE', `${dir}/${JSON_FILE}: runtime firewall state: ${(e as Error).message}`, { field: 'runtime' });
      }
      bsec.denable = rt.denable;
      bsec.denableLocked = rt.denableLocked;
    }
    const hw = fromHex(json.hwSecret, 'hwSecret');
    let tamp: Tamp;
    try {
      tamp = new Tamp(json.tamp, readStateFile(join(dir, BKPSRAM_FILE), BKPSRAM_SIZE));
    } catch (e) {
      if (e instanceof RseError) throw e;
      throw new RseError('E_DEVICE', `${dir}: backup domain: ${(e as Error).message}`, { field: 'tamp' });
    }
    const dev = new Mp1Device(dir, bsec, json.boots, hw, bus, tamp);
    dev.reached = rt?.reached;
    dev.monitor = rt?.monitor === undefined ? undefined : (structuredClone(rt.monitor) as MonitorState);
    return dev;
  }

  /**
   * A system reset: BSEC shadows reloaded and its sticky locks released, the firewalls back to their
   * reset values (the backup domain's RTC_SMCR and TAMP_SMCR keep theirs), the run time gone.
   */
  systemReset(): void {
    this.bsec.reset();
    const kept = this.bus.secure;
    this.bus = new Mp1Bus();
    this.bus.tamp = this.tamp;
    this.bus.secure.rtcSmcr = kept.rtcSmcr;
    this.bus.secure.tampDprot = kept.tampDprot;
    this.reached = undefined;
    this.monitor = undefined;
  }

  /**
   * Fuses first, then the JSON: each file is replaced whole. Refused (`E_LOCKED`) while another
   * process owns the device (`rse stm32 serve`): its next save would undo this one.
   */
  save(): void {
    const holder = lockHolder(this.dir);
    if (holder !== undefined && holder.pid !== process.pid)
      throw new RseError('E_LOCKED', `${this.dir} is in use by ${holder.what} (pid ${holder.pid}): stop it first`, { field: this.dir });
    const f = this.bsec.save();
    const otp = new Uint8Array(BSEC_WORDS * 4);
    for (const [i, w] of f.words.entries()) otp.set(u32le(w), 4 * i);
    writeFileAtomic(join(this.dir, OTP_FILE), otp, { durable: true });
    writeFileAtomic(join(this.dir, BKPSRAM_FILE), this.tamp.bkpsram, { durable: true });
    const json: Mp1Json = {
      format: 1,
      profile: STM32MP1.name,
      permanentLock: f.permanentLock.flatMap((l, i) => (l ? [i] : [])),
      boots: this.boots,
      hwSecret: toHex(this.hwSecret),
      tamp: this.tamp.save(),
      runtime: {
        firewall: this.bus.save(),
        denable: this.bsec.denable,
        denableLocked: this.bsec.denableLocked,
        ...(this.reached === undefined ? {} : { reached: this.reached }),
        ...(this.monitor === undefined ? {} : { monitor: this.monitor }),
      },
    };
    writeFileAtomic(join(this.dir, JSON_FILE), `${JSON.stringify(json, null, 2)}\n`, { durable: true });
  }

  /** The PKH the fuses hold, or undefined when not provisioned (all 0 or all 1). */
  pkh(): Uint8Array | undefined {
    const out = new Uint8Array(32);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) dv.setUint32(4 * i, this.bsec.fuse(OTP_WORD.PKH + i), false);
    if (out.every((b) => b === 0) || out.every((b) => b === 0xff)) return undefined;
    return out;
  }

  /** Provisions the PKH (and locks its words), the anti-rollback counter, and optionally closes the device. */
  provision(o: { pkh?: Uint8Array; counter?: number; close?: boolean }): void {
    const b = this.bsec;
    if (o.pkh !== undefined) {
      const words = pkhOtpWords(o.pkh);
      for (const [i, w] of words.entries()) b.program(OTP_WORD.PKH + i, w);
      for (let i = 0; i < words.length; i++) b.lockPermanently(OTP_WORD.PKH + i);
    }
    if (o.counter !== undefined) {
      if (!Number.isInteger(o.counter) || o.counter < 0 || o.counter > 32)
        throw new RseError('E_ARGUMENT', `the monotonic counter holds 0..32, not ${o.counter}`, { field: 'counter' });
      b.program(OTP_WORD.MONOTONIC, o.counter === 32 ? 0xffffffff : (2 ** o.counter - 1) >>> 0);
    }
    if (o.close === true) {
      if (this.pkh() === undefined)
        throw new RseError('E_LIFECYCLE', 'closing a device without a PKH would brick it: provision the PKH first', { field: 'close' });
      b.program(OTP_WORD.CFG0, b.fuse(OTP_WORD.CFG0) | CFG0_CLOSED);
    }
    b.reset();
    this.save();
  }
}

export interface RomBoot {
  readonly ok: boolean;
  readonly checks: readonly Stm32Check[];
  /** The boot context's auth_status (MP15): 0 none, 1 failed, 2 success. */
  readonly authStatus: 0 | 1 | 2;
  readonly closed: boolean;
  readonly debug: { readonly secure: boolean; readonly nonSecure: boolean };
  readonly halt?: string;
}

const AUTH_CHECKS: readonly string[] = ['option flags', 'algorithm', 'public key hash', 'public key', 'signature'];

/**
 * The ROM loading an FSBL: power-on reset (the boot counted and saved, unless the caller saves
 * once after its own stages), then its checks in order.
 */
export function romBoot(dev: Mp1Device, fsbl: Uint8Array, o: { save?: boolean } = {}): RomBoot {
  const b = dev.bsec;
  dev.systemReset();
  dev.reached = 'rom';
  dev.boots++;
  if (o.save !== false) dev.save();
  const closed = b.closed;
  const done = (checks: Stm32Check[], authStatus: 0 | 1 | 2, halt?: string): RomBoot => ({
    ok: halt === undefined,
    checks,
    authStatus,
    closed,
    debug: b.debug(),
    ...(halt === undefined ? {} : { halt }),
  });
  let img: ReturnType<typeof parseStm32Image>;
  try {
    img = parseStm32Image(fsbl);
  } catch (e) {
    if (e instanceof RseError) return done([{ check: 'header', ok: false, detail: e.message }], 0, `no valid STM32 header: ${e.message}`);
    throw e;
  }
  const pkh = dev.pkh();
  const checks: Stm32Check[] = [];
  if (closed && pkh === undefined) {
    checks.push({ check: 'PKH', ok: false, detail: 'closed device with no PKH in OTP 24..31' });
    return done(checks, 1, 'closed device with no PKH: nothing can authenticate');
  }
  if (pkh !== undefined) checks.push({ check: 'PKH', ok: true, detail: `OTP 24..31 ${toHex(pkh).slice(0, 16)}…` });
  const rom = checkStm32Image(img, { ...(pkh === undefined ? {} : { pkh }), closed });
  checks.push(...rom);
  const failed = rom.find((c) => !c.ok);
  // Authentication was attempted unless the open device skipped it for an unsigned image.
  const attempted = rom.some((c) => AUTH_CHECKS.includes(c.check) && !(c.check === 'signature' && /not checked/.test(c.detail)));
  const verified = attempted && failed === undefined;
  if (failed !== undefined) return done(checks, attempted ? 1 : 0, `${failed.check}: ${failed.detail}`);
  const counter = b.monotonicVersion();
  const fresh = img.header.imageVersion >= counter;
  checks.push({ check: 'anti-rollback', ok: fresh, detail: `image version ${img.header.imageVersion}, OTP counter ${counter}` });
  if (!fresh)
    return done(checks, verified ? 2 : 0, `rollback: image version ${img.header.imageVersion} is below the OTP counter ${counter}`);
  return done(checks, verified ? 2 : 0);
}

/** One image the FSBL loads after itself (the SSBL, OP-TEE), with the name the report gives it. */
export interface NextImage {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** A boot of the virtual STM32MP15: the ROM's checks, the FSBL's and the firewalls it set. */
export interface Mp1BootReport {
  readonly ok: boolean;
  readonly closed: boolean;
  readonly authStatus: 0 | 1 | 2;
  readonly rom: readonly Stm32Check[];
  readonly fsbl: readonly (Stm32Check & { readonly image?: string })[];
  readonly firewall: readonly string[];
  readonly warnings: readonly string[];
  readonly debug: { readonly secure: boolean; readonly nonSecure: boolean; readonly locked: boolean };
  /** The last stage that ran: the ROM, the FSBL, or the runtime the FSBL handed over to. */
  readonly reached: 'rom' | 'fsbl' | 'runtime';
  readonly halt?: string;
}

/**
 * A cold boot: the ROM authenticates the FSBL; the FSBL (TF-A BL2 with the ROM's ECDSA service)
 * authenticates each next image against the same PKH (signature required when the device is
 * closed, checksum only for unsigned images on an open one), configures the TZC-400 and ETZPC from
 * the platform, opens the debug the platform asks for and freezes DENABLE. The state it leaves
 * (firewalls, debug) is saved with the device.
 */
export function mp1Boot(
  dev: Mp1Device,
  fsbl: Uint8Array,
  o: { images?: readonly NextImage[]; platform?: Mp1Platform } = {},
): Mp1BootReport {
  const rom = romBoot(dev, fsbl, { save: false });
  const b = dev.bsec;
  const fsblChecks: (Stm32Check & { image?: string })[] = [];
  const firewall: string[] = [];
  const warnings: string[] = [];
  const report = (reached: Mp1BootReport['reached'], halt?: string): Mp1BootReport => {
    dev.reached = halt === undefined ? reached : reached === 'rom' ? 'rom' : 'fsbl';
    dev.save();
    return {
      ok: halt === undefined,
      closed: rom.closed,
      authStatus: rom.authStatus,
      rom: rom.checks,
      fsbl: fsblChecks,
      firewall,
      warnings,
      debug: { ...b.debug(), locked: b.denableLocked },
      reached,
      ...(halt === undefined ? {} : { halt }),
    };
  };
  if (!rom.ok) return report('rom', rom.halt);
  const pkh = dev.pkh();
  for (const im of o.images ?? []) {
    let img: ReturnType<typeof parseStm32Image>;
    try {
      img = parseStm32Image(im.bytes);
    } catch (e) {
      if (!(e instanceof RseError)) throw e;
      fsblChecks.push({ check: 'header', ok: false, detail: e.message, image: im.name });
      return report('fsbl', `${im.name}: no valid STM32 header: ${e.message}`);
    }
    fsblChecks.push({
      check: 'binary type',
      ok: true,
      detail: `0x${img.header.binaryType.toString(16).padStart(2, '0')} (${binaryTypeName(img.header.binaryType)})`,
      image: im.name,
    });
    const checks = checkStm32Image(img, { ...(pkh === undefined ? {} : { pkh }), closed: rom.closed });
    fsblChecks.push(...checks.map((c) => ({ ...c, image: im.name })));
    const failed = checks.find((c) => !c.ok);
    if (failed !== undefined) return report('fsbl', `${im.name}: ${failed.check}: ${failed.detail}`);
  }
  if (o.platform !== undefined) {
    try {
      firewall.push(...applyPlatform(o.platform, dev.bus.etzpc, dev.bus.tzc).lines);
    } catch (e) {
      if (!(e instanceof RseError)) throw e;
      return report('fsbl', `platform: ${e.message}`);
    }
    const d = o.platform.debug;
    const value = denableFor(d);
    // The ROM closed debug on a closed device; the FSBL opens what the platform allows, then freezes it.
    if (value !== 0 || !rom.closed) b.writeDenable(value);
    if (value !== 0 && rom.closed) warnings.push('Debug opened on closed chip');
    if (d.lock) b.lockDenable();
  }
  return report('runtime');
}
