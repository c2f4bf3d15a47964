/**
 * The lifecycle manager (LCM) in front of the RSE's 16 KiB OTP, as TF-M's `lcm_drv.c` drives it
 * (TF-M 2.1, LCM version 0 "R0"): fuse semantics (bits only go 0→1, word-aligned access,
 * read-back verification), the lifecycle state (LCS) and test/production (TP) mode latched at
 * cold reset from the OTP, secure-provisioning (SP) mode, fatal mode, the hardware zero count of
 * the ROTPK slot, the LCS transitions and the RMA key wipe.
 *
 * The object holds the OTP bytes and the volatile registers; whoever owns it (the device)
 * persists the OTP through the `onProgram` hook, which runs before every OTP program operation
 * and may throw to cut the power at exactly that point.
 * @module
 */
import { readU32le as u32, u32le as u32Bytes } from '../lib/bytes.ts';
import { RseError, type RseErrorCode } from '../lib/errors.ts';
import { LCM_OTP, OTP_SIZE } from '../profiles/otp-layout.ts';

export { LCM_OTP, OTP_SIZE };

/** Register encodings of the lifecycle state (high Hamming weight, as the LCM reports them). */
export const LCS = {
  CM: 0xcccc3c3c,
  DM: 0xdddd5a5a,
  SE: 0xeeeea5a5,
  RMA: 0xffffc3c3,
  INVALID: 0xdeadbeef,
} as const;
export type LcsName = keyof typeof LCS;

/** Register encodings of the TP mode. */
export const TP_MODE = {
  VIRGIN: 0x000033cc,
  TCI: 0x111155aa,
  PCI: 0x2222aa55,
  INVALID: 0xdeadbeef,
} as const;
export type TpModeName = keyof typeof TP_MODE;

/** What the LCM driver writes into `tp_mode_config` to select TCI / PCI. */
export const TP_MODE_CONFIG = { TCI: 0x0000ffff, PCI: 0xffff0000 } as const;

/** TF-M's `plat_otp_lcs_t` for each LCS (what software reads as `PLAT_OTP_ID_LCS`). */
export const PLAT_OTP_LCS: Readonly<Record<LcsName, number>> = { CM: 0, DM: 1, SE: 3, RMA: 7, INVALID: 0xf };

export const LCM_TRUE = 0xffffffff;
export const SP_ENABLE_MAGIC = 0x5ec10e1e;
export const FATAL_ERROR_MAGIC = 0xfa7a1eee;

/** The 32-byte hardware key slots in the header, in order. */
export const HW_KEY_SLOTS = ['huk', 'guk', 'kp_cm', 'kce_cm', 'kp_dm', 'kce_dm'] as const;
export type HwKeySlot = (typeof HW_KEY_SLOTS)[number];

/** The value the LCM fills blank key slots with at CM→DM and DM→SE: 01 02 03 04 repeated. */
export const DUMMY_KEY_VALUE: Uint8Array = Uint8Array.from({ length: 32 }, (_, i) => (i % 4) + 1);

/** Why the driver gave up; `fatal` ones also put the LCM in fatal mode, as `FATAL_ERR` does. */
export type LcmErrorKind =
  | 'INVALID_OFFSET'
  | 'INVALID_LENGTH'
  | 'INVALID_LCS'
  | 'INVALID_TP_MODE'
  | 'INVALID_TRANSITION'
  | 'INVALID_KEY'
  | 'INVALID_ZERO_COUNT'
  | 'WRITE_VERIFY_FAIL'
  | 'FATAL_ERR'
  | 'INTERNAL_ERROR';

/** The stable code of each LCM driver error. */
const LCM_ERROR_CODES: Readonly<Record<LcmErrorKind, RseErrorCode>> = {
  INVALID_OFFSET: 'E_BOUNDS',
  INVALID_LENGTH: 'E_BOUNDS',
  INVALID_LCS: 'E_LIFECYCLE',
  INVALID_TP_MODE: 'E_LIFECYCLE',
  INVALID_TRANSITION: 'E_LIFECYCLE',
  INVALID_KEY: 'E_INTEGRITY',
  INVALID_ZERO_COUNT: 'E_INTEGRITY',
  WRITE_VERIFY_FAIL: 'E_OTP_WRITE',
  FATAL_ERR: 'E_LIFECYCLE',
  INTERNAL_ERROR: 'E_OTP',
};

/**
 * An LCM driver error (`lcm_error_t` as `kind`), with the OTP offset it concerns when there is
 * one; an {@link RseError} whose code follows the kind.
 */
export class LcmError extends RseError {
  readonly kind: LcmErrorKind;
  readonly otpOffset: number | undefined;
  constructor(kind: LcmErrorKind, message: string, otpOffset?: number) {
    super(LCM_ERROR_CODES[kind], message, { field: `LCM ${kind}`, ...(otpOffset === undefined ? {} : { offset: otpOffset }) });
    this.name = 'LcmError';
    this.kind = kind;
    this.otpOffset = otpOffset;
  }
}

/** Count of 0 bits in `bytes` (little-endian words; the count does not depend on the order). */
export function zeroBits(bytes: Uint8Array): number {
  let ones = 0;
  for (const b of bytes) {
    let v = b;
    while (v !== 0) {
      v &= v - 1;
      ones++;
    }
  }
  return bytes.length * 8 - ones;
}

/** A program operation the owner is about to perform: offset and the words to OR in. */
export interface OtpProgram {
  readonly offset: number;
  readonly data: Uint8Array;
  /** What is being programmed, for reports ("HUK", "cm_config_2 zero count"...). */
  readonly what: string;
}

export interface LcmOptions {
  /** Called before each OTP program operation; throwing aborts it (a power cut). */
  readonly onProgram?: (op: OtpProgram) => void;
  /** Called after each OTP program operation (the owner persists the OTP here). */
  readonly afterProgram?: (op: OtpProgram) => void;
}

/** LCS from the OTP, as the LCM latches it at cold reset. */
export function lcsFromOtp(otp: Uint8Array): LcsName {
  if (u32(otp, LCM_OTP.cm_rma_flag) !== 0 || u32(otp, LCM_OTP.dm_rma_flag) !== 0) return 'RMA';
  if (u32(otp, LCM_OTP.dm_config) !== 0) return 'SE';
  if (u32(otp, LCM_OTP.cm_config_1) !== 0 && u32(otp, LCM_OTP.cm_config_2) !== 0) return 'DM';
  return 'CM';
}

/** TP mode from the OTP `tp_mode_config` word. */
export function tpModeFromOtp(otp: Uint8Array): TpModeName {
  const v = u32(otp, LCM_OTP.tp_mode_config);
  if (v === 0) return 'VIRGIN';
  if (v === TP_MODE_CONFIG.TCI) return 'TCI';
  if (v === TP_MODE_CONFIG.PCI) return 'PCI';
  return 'INVALID';
}

/** The R0 hardware zero count: ROTPK's count of zero bits in cm_config_2 bits 0..7. */
export function rotpkZeroCountOk(otp: Uint8Array): boolean {
  const stored = u32(otp, LCM_OTP.cm_config_2) & 0xff;
  return stored === (zeroBits(otp.subarray(LCM_OTP.rotpk, LCM_OTP.rotpk + 32)) & 0xff);
}

/** The lifecycle manager of one device: OTP bytes plus volatile registers. */
export class Lcm {
  /** The OTP array (16 KiB). Programmed only through {@link Lcm.otpWrite} and friends. */
  readonly otp: Uint8Array;
  private readonly onProgram: ((op: OtpProgram) => void) | undefined;
  private readonly afterProgram: ((op: OtpProgram) => void) | undefined;
  // Latched at cold reset (see coldReset, which the constructor runs).
  private lcsReg: LcsName = 'CM';
  private tpReg: TpModeName = 'VIRGIN';
  private keyErr = false;
  private sp = false;
  private fatal = false;

  constructor(otp: Uint8Array, options: LcmOptions = {}) {
    if (otp.length !== OTP_SIZE) {
      throw new RseError('E_SIZE', `OTP image must be ${OTP_SIZE} bytes, got ${otp.length}`, { field: 'otp' });
    }
    this.otp = otp;
    this.onProgram = options.onProgram;
    this.afterProgram = options.afterProgram;
    this.coldReset();
  }

  /** Cold reset: re-latch LCS, TP mode and key errors from the OTP; clear SP and fatal mode. */
  coldReset(): void {
    this.lcsReg = lcsFromOtp(this.otp);
    this.tpReg = tpModeFromOtp(this.otp);
    this.keyErr = this.lcsReg === 'SE' && !rotpkZeroCountOk(this.otp);
    this.sp = false;
    this.fatal = false;
  }

  /** The reset that enabling SP mode causes: SRAM and SP mode survive, nothing is re-latched. */
  spReset(): void {
    this.fatal = false;
  }

  get fatalMode(): boolean {
    return this.fatal;
  }
  get spEnabled(): boolean {
    return this.sp;
  }
  get keyError(): boolean {
    return this.keyErr;
  }
  /** The raw LCS register value. */
  get lcsRegister(): number {
    return LCS[this.lcsReg];
  }
  get tpModeRegister(): number {
    return TP_MODE[this.tpReg];
  }
  get tpMode(): TpModeName {
    return this.tpReg;
  }

  private fail(kind: LcmErrorKind, message: string, offset?: number): never {
    this.fatal = true;
    throw new LcmError(kind, message, offset);
  }

  /** Enters fatal mode (writing 0xFA7A1EEE to the fatal-error register). */
  setFatal(): void {
    this.fatal = true;
  }

  /** `lcm_get_lcs`: the latched LCS; fails in fatal mode or when the LCS is invalid. */
  getLcs(): LcsName {
    if (this.fatal) this.fail('FATAL_ERR', 'LCM is in fatal mode');
    if (this.lcsReg === 'INVALID') throw new LcmError('INVALID_LCS', 'LCS is invalid');
    return this.lcsReg;
  }

  /** `lcm_init`: fatal on a key zero-count error in SE; wipes the keys in RMA. */
  init(): void {
    const lcs = this.getLcs();
    if (lcs === 'SE' && this.keyErr) this.fail('INVALID_KEY', 'hardware key zero count mismatch in SE (ROTPK slot)');
    if (lcs === 'RMA') this.rmaEraseAllKeys();
  }

  private rmaEraseAllKeys(): void {
    const ones = u32Bytes(LCM_TRUE);
    for (let off = 0; off < LCM_OTP.tp_mode_config; off += 4) {
      try {
        this.otpWrite(off, ones, 'RMA key wipe');
      } catch (e) {
        if (!(e instanceof LcmError && e.kind === 'WRITE_VERIFY_FAIL')) throw e;
      }
    }
  }

  private checkAccess(offset: number, length: number): void {
    if (offset % 4 !== 0 || offset < 0) this.fail('INVALID_OFFSET', `OTP offset 0x${offset.toString(16)} is not word aligned`, offset);
    if (length % 4 !== 0) this.fail('INVALID_LENGTH', `OTP access length ${length} is not a multiple of 4`, offset);
    if (offset + length > OTP_SIZE) this.fail('INVALID_OFFSET', `OTP access 0x${offset.toString(16)}+${length} is beyond the OTP`, offset);
  }

  /** One program operation: ORs words into the OTP after telling the owner (power-cut point). */
  private program(offset: number, data: Uint8Array, what: string): void {
    const op = { offset, data, what };
    this.onProgram?.(op);
    for (let i = 0; i < data.length; i++) this.otp[offset + i] = (this.otp[offset + i] as number) | (data[i] as number);
    this.afterProgram?.(op);
  }

  /** What software reads at an OTP word (some header words do not read back as programmed). */
  private readWord(off: number): number {
    if (off === LCM_OTP.cm_config_1) return 0;
    if (off === LCM_OTP.dm_config) return this.keyErr ? 1 : 0;
    if (this.lcsReg === 'RMA' && off < LCM_OTP.rotpk) return 0;
    return u32(this.otp, off);
  }

  /** `lcm_otp_read`: word-aligned read through the LCM. */
  otpRead(offset: number, length: number): Uint8Array {
    this.checkAccess(offset, length);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) out.set(u32Bytes(this.readWord(offset + i)), i);
    return out;
  }

  /**
   * `lcm_otp_write`: word-aligned program with the hardware zero count (ROTPK on R0) written
   * first, then read-back verification; a bit that cannot be set gives WRITE_VERIFY_FAIL.
   */
  otpWrite(offset: number, data: Uint8Array, what = 'OTP'): void {
    this.checkAccess(offset, data.length);
    if (offset === LCM_OTP.rotpk) {
      const zeros = zeroBits(data);
      if (zeros > 0xff) throw new LcmError('INVALID_ZERO_COUNT', `${what}: ${zeros} zero bits do not fit the 8-bit zero count`, offset);
      const word = u32(this.otp, LCM_OTP.cm_config_2) | zeros;
      this.program(LCM_OTP.cm_config_2, u32Bytes(word), `${what} zero count`);
    }
    this.program(offset, data, what);
    for (let i = 0; i < data.length; i += 4) {
      if (this.readWord(offset + i) !== u32(data, i)) {
        throw new LcmError(
          'WRITE_VERIFY_FAIL',
          `${what}: OTP word 0x${(offset + i).toString(16)} does not read back as written`,
          offset + i,
        );
      }
    }
  }

  /** `lcm_set_tp_mode`: only from Virgin and only in CM; takes effect after a cold reset. */
  setTpMode(mode: 'TCI' | 'PCI'): void {
    if (this.getLcs() !== 'CM') this.fail('INVALID_LCS', 'TP mode can only be set in LCS CM');
    if (this.tpReg !== 'VIRGIN') this.fail('INVALID_TRANSITION', `TP mode is already ${this.tpReg}`);
    const value = TP_MODE_CONFIG[mode];
    this.otpWrite(LCM_OTP.tp_mode_config, u32Bytes(value), 'tp_mode_config');
  }

  /** `lcm_set_sp_enabled`: the LCM resets the RSE (keeping SRAM) and SP reads true after. */
  setSpEnabled(): void {
    this.sp = true;
  }

  private countZeros(offset: number, length: number): number {
    return zeroBits(this.otp.subarray(offset, offset + length));
  }

  private fillBlankKey(slot: HwKeySlot): void {
    const off = LCM_OTP[slot];
    if (this.countZeros(off, 32) === 256) this.otpWrite(off, DUMMY_KEY_VALUE, `${slot.toUpperCase()} (dummy fill)`);
  }

  /** `lcm_set_lcs`: DM from CM, SE from DM, RMA from anywhere; needs TCI/PCI and SP mode. */
  setLcs(target: 'DM' | 'SE' | 'RMA' | 'CM', gppc = 0): void {
    const current = this.getLcs();
    if (target === current) return;
    if (this.tpReg !== 'TCI' && this.tpReg !== 'PCI')
      this.fail('INVALID_TP_MODE', `LCS transitions need TP mode TCI or PCI, not ${this.tpReg}`);
    if (!this.sp) this.fail('INTERNAL_ERROR', 'LCS transitions need secure provisioning mode');
    if (target === 'CM') this.fail('INVALID_TRANSITION', 'there is no transition back to CM');
    if (target === 'DM') {
      if (current !== 'CM') this.fail('INVALID_TRANSITION', `no transition from ${current} to DM`);
      for (const slot of ['huk', 'guk', 'kp_cm', 'kce_cm'] as const) this.fillBlankKey(slot);
      this.program(LCM_OTP.cm_config_1, u32Bytes(LCM_TRUE), 'cm_config_1');
      if (this.readWord(LCM_OTP.cm_config_1) !== 0)
        throw new LcmError('WRITE_VERIFY_FAIL', 'cm_config_1 reads back non-zero', LCM_OTP.cm_config_1);
      const config2 = ((this.countZeros(LCM_OTP.rotpk, 32) & 0xff) | ((gppc & 0xffff) << 8) | 0x800) >>> 0;
      this.otpWrite(LCM_OTP.cm_config_2, u32Bytes(config2), 'cm_config_2');
      return;
    }
    if (target === 'SE') {
      if (current !== 'DM') this.fail('INVALID_TRANSITION', `no transition from ${current} to SE`);
      this.fillBlankKey('kp_dm');
      this.fillBlankKey('kce_dm');
      try {
        this.otpWrite(LCM_OTP.dm_config, u32Bytes(LCM_TRUE), 'dm_config');
      } catch (e) {
        if (!(e instanceof LcmError && e.kind === 'WRITE_VERIFY_FAIL')) throw e;
      }
      if (this.readWord(LCM_OTP.dm_config) !== 0)
        this.fail('WRITE_VERIFY_FAIL', 'dm_config reports key zero-count errors', LCM_OTP.dm_config);
      return;
    }
    this.otpWrite(LCM_OTP.cm_rma_flag, u32Bytes(LCM_TRUE), 'cm_rma_flag');
    this.otpWrite(LCM_OTP.dm_rma_flag, u32Bytes(LCM_TRUE), 'dm_rma_flag');
  }
}
