/**
 * The platform OTP layer (`tfm_plat_otp_*` and `nv_counters.c` of the RSE platform) on top of
 * the LCM: named fields, the BL1_2 image stored right-aligned, keys encrypted at rest with
 * AES-256-CTR under KCE_CM (2.1), the LCS write that seals the CM/DM locked areas with their
 * zero counts, the integrity check of every init, per-field zero-count words (1.7), and the NV
 * counters in both encodings.
 * @module
 */
import { aesCtr } from '../crypto/index.ts';
import { readU32le as u32, u32le as u32Bytes, readU64le as u64, u64le as u64Bytes } from '../lib/bytes.ts';
import { RseError, type RseErrorCode } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { type OtpField, type OtpLayout, otpField } from '../profiles/otp-layout.ts';
import type { IntegrityProblem } from './integrity.ts';
import { type Lcm, LcmError, type LcsName, zeroBits } from './lcm.ts';
import { integrityProblems23, writeZeroCounts23 } from './zero-count-2.3.ts';

/** `tfm_plat_err_t` outcomes other than success. */
export type PlatOtpErrorKind = 'SYSTEM_ERR' | 'INVALID_INPUT' | 'UNSUPPORTED' | 'MAX_VALUE';

/** The stable code of a platform OTP failure (as the CLI reports it). */
function platOtpCode(kind: PlatOtpErrorKind): RseErrorCode {
  if (kind === 'INVALID_INPUT' || kind === 'MAX_VALUE') return 'E_ARGUMENT';
  return kind === 'UNSUPPORTED' ? 'E_UNSUPPORTED' : 'E_OTP_WRITE';
}

/**
 * A failed platform OTP call (`tfm_plat_err_t` as `kind`) on the named field; `lcm` is the LCM
 * error underneath when there is one. An {@link RseError} at the LCM error's OTP offset.
 */
export class PlatOtpError extends RseError {
  readonly kind: PlatOtpErrorKind;
  override readonly field: string;
  readonly lcm: LcmError | undefined;
  constructor(kind: PlatOtpErrorKind, field: string, message: string, lcm?: LcmError) {
    super(platOtpCode(kind), message, {
      field,
      ...(lcm?.otpOffset === undefined ? {} : { offset: lcm.otpOffset }),
      ...(lcm === undefined ? {} : { cause: lcm }),
    });
    this.name = 'PlatOtpError';
    this.kind = kind;
    this.field = field;
    this.lcm = lcm;
  }
}

export type { IntegrityProblem } from './integrity.ts';

/** Magic word of the word-programmable NV counter encoding. */
export const NV_COUNTER_MAGIC = 0x3333cafe;

/** The AES-CTR IV of a key stored encrypted at `offset`: the offset (u32 LE), then zeros. */
export function otpKeyIv(offset: number): Uint8Array {
  const iv = new Uint8Array(16);
  iv.set(u32Bytes(offset));
  return iv;
}

/** Named, typed access to one device's OTP through its LCM. */
export class PlatOtp {
  readonly lcm: Lcm;
  readonly layout: OtpLayout;
  /** The key that encrypts OTP keys at rest (KCE_CM through the KMU hardware slot). */
  private readonly kceCm: () => Uint8Array;

  constructor(lcm: Lcm, layout: OtpLayout, kceCm: () => Uint8Array) {
    this.lcm = lcm;
    this.layout = layout;
    this.kceCm = kceCm;
  }

  field(name: string): OtpField {
    const f = otpField(this.layout, name);
    if (f === undefined) throw new PlatOtpError('UNSUPPORTED', name, `OTP field ${name} does not exist in this profile's OTP layout`);
    return f;
  }

  private lcmCall<T>(field: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof LcmError) throw new PlatOtpError('SYSTEM_ERR', field, `${field}: ${e.message}`, e);
      throw e;
    }
  }

  /** The field BL1_2 is stored in: `bl1_2_image`, or the BL1_2 area's image field (2.3). */
  private bl1_2ImageField(): OtpField {
    return (
      otpField(this.layout, 'bl1_2_image') ??
      this.layout.fields.find((f) => f.kind === 'image' && f.area === 'bl1_2') ??
      this.field('bl1_2_image')
    );
  }

  /** `tfm_plat_otp_read` of a named field (encrypted keys come back decrypted). */
  read(name: string): Uint8Array {
    // RSE 2.1 keeps BL1_2 at the end of OTP with a length field; RSS 1.7 in a fixed 8 KiB field.
    if (name === 'bl1_2_image' && otpField(this.layout, 'bl1_2_image_len') !== undefined) {
      const len = u32(this.read('bl1_2_image_len'));
      if (len > this.layout.bl1_2MaxSize || len % 4 !== 0) {
        throw new PlatOtpError(
          'SYSTEM_ERR',
          name,
          `bl1_2_image_len ${hex0x(len)} is not a word-aligned size up to ${hex0x(this.layout.bl1_2MaxSize)}`,
        );
      }
      return this.lcmCall(name, () => this.lcm.otpRead(this.layout.bl1_2End - len, len));
    }
    const f = name === 'bl1_2_image' ? this.bl1_2ImageField() : this.field(name);
    const raw = this.lcmCall(name, () => this.lcm.otpRead(f.offset, f.size));
    if (f.kind !== 'encrypted-key') return raw;
    return aesCtr(this.kceCm(), otpKeyIv(f.offset), raw);
  }

  /** `tfm_plat_otp_write` of a named field; shorter data programs the start of the field. */
  write(name: string, data: Uint8Array): void {
    if (name === 'bl1_2_image') {
      if (data.length > this.layout.bl1_2MaxSize || data.length % 4 !== 0) {
        throw new PlatOtpError(
          'INVALID_INPUT',
          name,
          `BL1_2 image of ${data.length} bytes does not fit ${hex0x(this.layout.bl1_2MaxSize)} words`,
        );
      }
      const at = this.layout.bl1_2Placement === 'right-aligned' ? this.layout.bl1_2End - data.length : this.field(name).offset;
      this.lcmCall(name, () => this.lcm.otpWrite(at, data, 'BL1_2 image'));
      this.writeZeroCount(this.field(name), data);
      return;
    }
    const f = this.field(name);
    if (data.length > f.size) throw new PlatOtpError('INVALID_INPUT', name, `${name} takes at most ${f.size} bytes, got ${data.length}`);
    const stored = f.kind === 'encrypted-key' ? aesCtr(this.kceCm(), otpKeyIv(f.offset), data) : data;
    this.lcmCall(name, () => this.lcm.otpWrite(f.offset, stored, name));
    this.writeZeroCount(f, data);
  }

  private writeZeroCount(f: OtpField, data: Uint8Array): void {
    if (f.zeroCountAt === undefined) return;
    const at = f.zeroCountAt;
    this.lcmCall(f.name, () => this.lcm.otpWrite(at, u32Bytes(zeroBits(data)), `${f.name} zero count`));
  }

  /** TF-M's LCS as `PLAT_OTP_ID_LCS` reads it. */
  lcs(): LcsName {
    return this.lcmCall('lcs', () => this.lcm.getLcs());
  }

  /**
   * `tfm_plat_otp_write(PLAT_OTP_ID_LCS)`: on 2.1, CM→DM first writes the CM-locked area size,
   * its zero count and the area's zero count (DM→SE likewise for the DM area), then asks the
   * LCM for the transition, which takes effect at the next cold reset. On 2.3, DM→SE writes the
   * DM ROTPK array's zero count unless the DM ROTPKs come later (non-endorsed, `otp_lcm.c`).
   */
  writeLcs(target: 'DM' | 'SE' | 'RMA', o: { readonly dmRotpkZeroCount?: boolean } = {}): void {
    if (this.layout.integrity === 'area-zero-counts') {
      this.lcmCall('lcs', () => writeZeroCounts23(this.lcm, target, o.dmRotpkZeroCount ?? true));
      this.lcmCall('lcs', () => this.lcm.setLcs(target));
      return;
    }
    const area = target === 'DM' ? this.layout.cmLocked : target === 'SE' ? this.layout.dmLocked : undefined;
    if (area !== undefined) {
      const prefix = target === 'DM' ? 'cm' : 'dm';
      const sizeField = this.field(`${prefix}_locked_size`);
      const size = u64Bytes(area.size);
      this.lcmCall(sizeField.name, () => this.lcm.otpWrite(sizeField.offset, size, sizeField.name));
      const zcSize = this.field(`${prefix}_locked_size_zero_count`);
      this.lcmCall(zcSize.name, () => this.lcm.otpWrite(zcSize.offset, u32Bytes(zeroBits(size)), zcSize.name));
      const zcArea = this.field(`${prefix}_zero_count`);
      const count = zeroBits(this.lcm.otp.subarray(area.offset, area.offset + area.size));
      this.lcmCall(zcArea.name, () => this.lcm.otpWrite(zcArea.offset, u32Bytes(count), zcArea.name));
    }
    this.lcmCall('lcs', () => this.lcm.setLcs(target));
  }

  /**
   * The boot-time integrity check (`check_keys_for_tampering`): 2.1 checks the CM area in DM
   * and SE and the DM area in SE; 1.7 checks every field's zero count in SE. Reads the raw
   * OTP as the integrity checker does; returns every mismatch (empty when intact).
   */
  integrityProblems(lcs: LcsName): IntegrityProblem[] {
    const otp = this.lcm.otp;
    if (this.layout.integrity === 'area-zero-counts') return integrityProblems23(otp, lcs);
    const problems: IntegrityProblem[] = [];
    const check = (name: string, offset: number, size: number, zcAt: number): void => {
      const stored = u32(otp, zcAt);
      const end = Math.min(offset + size, otp.length);
      const computed = zeroBits(otp.subarray(offset, end)) + (offset + size - end) * 8;
      if (stored !== computed) problems.push({ check: name, offset, stored, computed });
    };
    // A locked area: its recorded size (itself sealed), then the area from `start`; the recorded
    // size is untrusted, so it is clamped to the OTP (bytes past the end count as zeros).
    const lockedArea = (prefix: 'cm' | 'dm', start: number): number => {
      const sizeAt = this.field(`${prefix}_locked_size`).offset;
      check(`${prefix}_locked_size`, sizeAt, 8, this.field(`${prefix}_locked_size_zero_count`).offset);
      const recorded = u64(otp, sizeAt);
      const size = recorded > BigInt(otp.length) ? otp.length : Number(recorded);
      check(`${prefix}_locked area`, start, size, this.field(`${prefix}_zero_count`).offset);
      return size;
    };
    if (this.layout.integrity === 'locked-areas') {
      const cm = this.layout.cmLocked;
      if (cm !== undefined && (lcs === 'DM' || lcs === 'SE')) {
        const cmSize = lockedArea('cm', cm.offset);
        if (lcs === 'SE') lockedArea('dm', cm.offset + cmSize);
      }
      return problems;
    }
    if (lcs === 'SE') {
      // TF-M 1.7 `check_keys_for_tampering` in BL1 (no ADAC): the checked fields against their
      // zero-count words, in the words' order, and the LCM ROTPK slot (BL2 ROTPK 0) against the
      // low byte of cm_config_2.
      const checked = this.layout.fields.filter((f) => f.zeroCountAt !== undefined && f.zeroCountUnchecked !== true);
      checked.sort((a, b) => (a.zeroCountAt as number) - (b.zeroCountAt as number));
      for (const f of checked) check(f.name, f.offset, f.size, f.zeroCountAt as number);
      const rotpk = this.field('rotpk');
      const stored = u32(otp, this.field('cm_config_2').offset) & 0xff;
      const computed = zeroBits(otp.subarray(rotpk.offset, rotpk.offset + rotpk.size));
      if (stored !== computed) problems.push({ check: 'rotpk', offset: rotpk.offset, stored, computed });
    }
    return problems;
  }

  // ------------------------------------------------------------------------------------------
  // NV counters

  /** Reads an NV counter in the layout's encoding. */
  readCounter(name: string): number {
    const f = this.field(name);
    if (f.kind !== 'counter') throw new PlatOtpError('UNSUPPORTED', name, `${name} is not an NV counter`);
    const raw = this.lcmCall(name, () => this.lcm.otpRead(f.offset, f.size));
    return decodeCounter(this.layout.counterEncoding, raw, name);
  }

  /** The largest value a counter can hold. */
  counterMax(name: string): number {
    const f = this.field(name);
    return this.layout.counterEncoding === 'bits' ? f.size * 8 : f.size / 4;
  }

  /** Sets an NV counter; lowering it fails (the OTP cannot clear bits), above the max too. */
  setCounter(name: string, value: number): void {
    const f = this.field(name);
    if (f.kind !== 'counter') throw new PlatOtpError('UNSUPPORTED', name, `${name} is not an NV counter`);
    if (!Number.isInteger(value) || value < 0 || value > this.counterMax(name)) {
      throw new PlatOtpError('MAX_VALUE', name, `${name}: ${value} is beyond the counter's maximum ${this.counterMax(name)}`);
    }
    const current = this.readCounter(name);
    if (value === current) return;
    const data = encodeCounter(this.layout.counterEncoding, value, f.size);
    this.lcmCall(name, () => this.lcm.otpWrite(f.offset, data, name));
  }

  /** Increments an NV counter by one. */
  incrementCounter(name: string): number {
    const v = this.readCounter(name) + 1;
    this.setCounter(name, v);
    return v;
  }
}

/** Decodes an NV counter: popcount (bits) or leading 0x3333CAFE words (magic-words). */
export function decodeCounter(encoding: 'bits' | 'magic-words', raw: Uint8Array, name = 'counter'): number {
  if (encoding === 'bits') return raw.length * 8 - zeroBits(raw);
  let n = 0;
  for (let i = 0; i < raw.length; i += 4) {
    const w = u32(raw, i);
    if (w === 0) break;
    if (w !== NV_COUNTER_MAGIC) {
      throw new PlatOtpError('SYSTEM_ERR', name, `${name}: word ${i / 4} holds ${hex0x(w, 8)}, neither 0 nor the counter magic`);
    }
    n++;
  }
  return n;
}

/** Encodes an NV counter value: a thermometer code of set bits, or that many magic words. */
export function encodeCounter(encoding: 'bits' | 'magic-words', value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (encoding === 'bits') {
    const full = Math.floor(value / 32);
    for (let i = 0; i < full; i++) out.set(u32Bytes(0xffffffff), 4 * i);
    if (value % 32 !== 0) out.set(u32Bytes((2 ** (value % 32) - 1) >>> 0), 4 * full);
    return out;
  }
  for (let i = 0; i < value; i++) out.set(u32Bytes(NV_COUNTER_MAGIC), 4 * i);
  return out;
}

/** Maps a platform OTP failure to a typed rsekit error for the CLI. */
export function platOtpToRseError(e: PlatOtpError): RseError {
  const code =
    e.kind === 'INVALID_INPUT' || e.kind === 'MAX_VALUE' ? 'E_ARGUMENT' : e.kind === 'UNSUPPORTED' ? 'E_UNSUPPORTED' : 'E_OTP_WRITE';
  return new RseError(code, e.message, {
    field: e.field,
    ...(e.lcm?.otpOffset === undefined ? {} : { offset: e.lcm.otpOffset }),
    cause: e,
  });
}
