/**
 * The STM32MP15 BSEC: 96 OTP words (0..31 lower, 32..95 upper) with their shadow registers, the
 * sticky locks that hold until reset (shadow read, shadow write, program), the permanent lock
 * fuses, the closed/open state (CFG0 bit 6) and the DENABLE debug register with its DENREG lock.
 * Fuses only go from 0 to 1. Non-secure software reads the lower words and the upper words the
 * platform marks non-secure (the MAC address); programming and locks are secure-only.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { STM32MP1 } from '../profiles/stm32.ts';

export const BSEC_WORDS = STM32MP1.bsec.words;
export const LOWER_WORDS = STM32MP1.bsec.lowerWords;

/** Words with a meaning (MP15 OTP map). */
export const OTP_WORD = {
  CFG0: 0,
  PART_NUMBER: 1,
  BOOT_CONFIG: 3,
  /** Anti-rollback counter, thermometer code: version v ⇔ its lowest v bits set. */
  MONOTONIC: 4,
  UID: 13,
  PKH: 24,
  CHIP_CERTIFICATE: 40,
  RMA: 56,
  MAC: 57,
  OEM_SECRETS: 59,
} as const;

/** CFG0 bit 6: the device is closed (secure boot enforced). */
export const CFG0_CLOSED = 1 << 6;
/** Upper words non-secure software may read (`st,non-secure-otp`: the MAC address). */
export const DEFAULT_NON_SECURE_UPPER: readonly number[] = [57, 58];

/** DENABLE bits. */
export const DENABLE = {
  DFTEN: 1 << 0,
  DBGEN: 1 << 1,
  NIDEN: 1 << 2,
  DEVICEEN: 1 << 3,
  HDPEN: 1 << 4,
  SPIDEN: 1 << 5,
  SPNIDEN: 1 << 6,
  CP15SDISABLE0: 1 << 7,
  CP15SDISABLE1: 1 << 8,
  CFGSDISABLE: 1 << 9,
  DBGSWENABLE: 1 << 10,
} as const;
/** Every debug path open. */
export const DENABLE_ALL_OPEN = 0x47f;
/** The non-secure debug bits, and the secure (invasive and non-invasive) ones. */
export const NON_SECURE_DEBUG = DENABLE.DBGEN | DENABLE.NIDEN | DENABLE.DEVICEEN;
export const SECURE_DEBUG = DENABLE.SPIDEN | DENABLE.SPNIDEN;

/** What persists: the fuses and the permanent lock fuses. */
export interface BsecFuses {
  readonly words: readonly number[];
  readonly permanentLock: readonly boolean[];
}

export type StickyLock = 'shadow-read' | 'shadow-write' | 'program';

export interface Requester {
  /** Secure world (TF-A, OP-TEE) or not (Linux through the SiP service). */
  readonly secure: boolean;
}

const denied = (msg: string, n: number): RseError => new RseError('E_ACCESS', msg, { field: `otp${n}` });

function wordIndex(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= BSEC_WORDS)
    throw new RseError('E_ARGUMENT', `OTP word ${n} does not exist (0..${BSEC_WORDS - 1})`, { field: 'otp' });
  return n;
}

/** Popcount of the contiguous low ones: the version a thermometer-coded counter holds. */
export function thermometerValue(word: number): number {
  let v = 0;
  while (v < 32 && (word >>> v) & 1) v++;
  return v;
}

export class Bsec {
  private readonly fuses: Uint32Array;
  private readonly permanent: boolean[];
  private readonly shadow = new Uint32Array(BSEC_WORDS);
  private readonly sticky: Record<StickyLock, boolean[]> = {
    'shadow-read': new Array<boolean>(BSEC_WORDS).fill(false),
    'shadow-write': new Array<boolean>(BSEC_WORDS).fill(false),
    program: new Array<boolean>(BSEC_WORDS).fill(false),
  };
  private readonly nonSecureUpper: ReadonlySet<number>;
  /** DENABLE, and whether DENREG froze it until reset. */
  denable = 0;
  denableLocked = false;

  constructor(fuses?: BsecFuses, nonSecureUpper: readonly number[] = DEFAULT_NON_SECURE_UPPER) {
    this.fuses = new Uint32Array(BSEC_WORDS);
    this.permanent = new Array<boolean>(BSEC_WORDS).fill(false);
    if (fuses !== undefined) {
      if (fuses.words.length !== BSEC_WORDS || fuses.permanentLock.length !== BSEC_WORDS)
        throw new RseError('E_DEVICE', `BSEC state holds ${fuses.words.length} words, not ${BSEC_WORDS}`, { field: 'bsec' });
      fuses.words.forEach((w, i) => {
        if (!Number.isInteger(w) || w < 0 || w > 0xffffffff)
          throw new RseError('E_DEVICE', `OTP word ${i} is not a 32-bit value`, { field: `otp${i}` });
        this.fuses[i] = w;
        this.permanent[i] = fuses.permanentLock[i] === true;
      });
    }
    this.nonSecureUpper = new Set(nonSecureUpper);
    this.reset();
  }

  /** Power-on reset: shadows reloaded from the fuses, sticky locks and DENREG released, debug per the security state. */
  reset(): void {
    this.shadow.set(this.fuses);
    for (const k of Object.keys(this.sticky) as StickyLock[]) this.sticky[k].fill(false);
    // Shadow word 0 is always write-locked.
    this.sticky['shadow-write'][0] = true;
    this.denableLocked = false;
    this.denable = this.closed ? 0 : DENABLE_ALL_OPEN;
  }

  /** What persists. */
  save(): BsecFuses {
    return { words: [...this.fuses], permanentLock: [...this.permanent] };
  }

  get closed(): boolean {
    return ((this.fuses[OTP_WORD.CFG0] as number) & CFG0_CLOSED) !== 0;
  }

  fuse(n: number): number {
    return this.fuses[wordIndex(n)] as number;
  }

  isPermanentlyLocked(n: number): boolean {
    return this.permanent[wordIndex(n)] === true;
  }

  isStickyLocked(n: number, kind: StickyLock): boolean {
    return this.sticky[kind][wordIndex(n)] === true;
  }

  /** Whether non-secure software may read word `n`: a lower word, or an upper one the platform marks non-secure. */
  nonSecureReadable(n: number): boolean {
    return n < LOWER_WORDS || this.nonSecureUpper.has(n);
  }

  private canRead(n: number, who: Requester): void {
    if (!who.secure && !this.nonSecureReadable(n)) throw denied(`OTP word ${n} is an upper word: secure only (not marked non-secure)`, n);
  }

  /** The shadow register (what software reads). */
  read(n: number, who: Requester = { secure: true }): number {
    this.canRead(wordIndex(n), who);
    return this.shadow[n] as number;
  }

  /** Reloads the shadow from the fuse (refused under a shadow-read lock). */
  reload(n: number, who: Requester = { secure: true }): number {
    this.canRead(wordIndex(n), who);
    if (this.sticky['shadow-read'][n]) throw denied(`OTP word ${n}: shadow reload is locked until reset`, n);
    this.shadow[n] = this.fuses[n] as number;
    return this.shadow[n] as number;
  }

  /** Overwrites the shadow only (OTP emulation); the fuse is untouched. */
  writeShadow(n: number, value: number, who: Requester = { secure: true }): void {
    wordIndex(n);
    if (!who.secure) throw denied('shadow writes are secure only', n);
    if (this.sticky['shadow-write'][n])
      throw denied(`OTP word ${n}: shadow write is locked${n === 0 ? ' (word 0 always is)' : ' until reset'}`, n);
    this.shadow[n] = value >>> 0;
  }

  /**
   * Burns the one bits of `value` into the fuse (ones stay ones; a zero asked where a fuse is blown
   * is refused and nothing is burnt). Refused under a program or permanent lock, and for non-secure callers.
   */
  program(n: number, value: number, who: Requester = { secure: true }): void {
    wordIndex(n);
    if (!who.secure) throw denied('programming OTP is secure only', n);
    if (this.permanent[n]) throw denied(`OTP word ${n} is permanently locked`, n);
    if (this.sticky.program[n]) throw denied(`OTP word ${n}: programming is locked until reset`, n);
    const v = value >>> 0;
    const cur = this.fuses[n] as number;
    if ((cur & ~v) >>> 0 !== 0)
      throw new RseError('E_OTP_WRITE', `OTP word ${n}: bits 0x${((cur & ~v) >>> 0).toString(16)} are blown and cannot return to 0`, {
        field: `otp${n}`,
      });
    this.fuses[n] = (cur | v) >>> 0;
  }

  /** Programs the word's lock fuse: no more programming, ever. */
  lockPermanently(n: number, who: Requester = { secure: true }): void {
    wordIndex(n);
    if (!who.secure) throw denied('locking OTP is secure only', n);
    this.permanent[n] = true;
  }

  /** Sets a sticky lock (until reset). */
  lockUntilReset(n: number, kind: StickyLock, who: Requester = { secure: true }): void {
    wordIndex(n);
    if (!who.secure) throw denied('BSEC locks are secure only', n);
    this.sticky[kind][n] = true;
  }

  /** Writes DENABLE (secure only; frozen once DENREG is set). */
  writeDenable(value: number, who: Requester = { secure: true }): void {
    if (!who.secure) throw new RseError('E_ACCESS', 'DENABLE is secure only', { field: 'denable' });
    if (this.denableLocked) throw new RseError('E_ACCESS', 'DENABLE is locked (DENREG) until reset', { field: 'denable' });
    this.denable = value & 0x7ff;
  }

  lockDenable(): void {
    this.denableLocked = true;
  }

  /** Which debug paths DENABLE leaves open. */
  debug(): { secure: boolean; nonSecure: boolean } {
    return { secure: (this.denable & SECURE_DEBUG) !== 0, nonSecure: (this.denable & NON_SECURE_DEBUG) !== 0 };
  }

  /** The anti-rollback version the monotonic counter word holds. */
  monotonicVersion(): number {
    return thermometerValue(this.fuses[OTP_WORD.MONOTONIC] as number);
  }
}
