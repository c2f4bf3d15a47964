/**
 * The measured boot partition (tf-m-extras `partitions/measured_boot`): 32 slots extended with
 * SHA-256 (slot = H(slot ‖ measurement), from zeros), signer id / version / sw_type metadata, lock,
 * the boot records replayed at init, and the READ / EXTEND messages with the wire structs of the
 * profile (SW_TYPE_MAX_SIZE 32 in TF-M 2.1, 20 in the RSS era).
 * @module
 */
import { constantTimeEqual, hash } from '../crypto/index.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { PSA, PSA_ALG, type PsaCall, type PsaReply, reply } from './psa.ts';

export const MBOOT_SLOTS = 32;
export const SLOT_VALUE_SIZE = 32;
export const VERSION_MAX_SIZE = 14;
export const SIGNER_ID_MIN = 32;
export const SIGNER_ID_MAX = 64;
export const MEASUREMENT_MIN = 32;
export const MEASUREMENT_MAX = 64;

/** What differs between the measured boot partitions of the profiles. */
export interface MbootProfile {
  /** `SW_TYPE_MAX_SIZE`. */
  readonly swTypeMax: 20 | 32;
  /** Re-extending checks the algorithm too (TF-M 2.1; the RSS era compared the signer only). */
  readonly compareAlgo: boolean;
}

export interface MbootSlot {
  readonly index: number;
  locked: boolean;
  algo: number;
  signerId: Uint8Array;
  version: string;
  swType: string;
  value: Uint8Array;
}

/** The arguments of one extend (from a boot record or a caller). */
export interface ExtendArgs {
  readonly index: number;
  readonly signerId: Uint8Array;
  readonly version: string;
  readonly algo: number;
  readonly swType: string;
  readonly measurement: Uint8Array;
  readonly lock: boolean;
}

/** The IANA name of a PSA hash algorithm, as the token's measurement description (2.1 maps 384 to "sha-512"). */
export function measurementDescription(algo: number): string {
  if (algo === PSA_ALG.SHA_256) return 'sha-256';
  return 'sha-512';
}

const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

export class MeasuredBoot {
  private readonly slots: (MbootSlot | undefined)[] = new Array<MbootSlot | undefined>(MBOOT_SLOTS).fill(undefined);
  readonly profile: MbootProfile;
  /** Bumped by every extend that changes a slot (caches of the state key on it). */
  generation = 0;

  constructor(profile: MbootProfile) {
    this.profile = profile;
  }

  /** The populated slots, in index order. */
  populated(): readonly MbootSlot[] {
    return this.slots.filter((s): s is MbootSlot => s !== undefined);
  }

  slot(i: number): MbootSlot | undefined {
    return this.slots[i];
  }

  /** `extend_measurement`: the status it returns. */
  extend(a: ExtendArgs): number {
    if (!Number.isInteger(a.index) || a.index < 0 || a.index >= MBOOT_SLOTS) return PSA.ERROR_INVALID_ARGUMENT;
    if (a.signerId.length < SIGNER_ID_MIN || a.signerId.length > SIGNER_ID_MAX) return PSA.ERROR_INVALID_ARGUMENT;
    if (a.measurement.length < MEASUREMENT_MIN || a.measurement.length > MEASUREMENT_MAX) return PSA.ERROR_INVALID_ARGUMENT;
    if (bytes(a.version).length > VERSION_MAX_SIZE || bytes(a.swType).length > this.profile.swTypeMax) return PSA.ERROR_INVALID_ARGUMENT;
    const s = this.slots[a.index];
    if (s !== undefined) {
      if (s.locked) return PSA.ERROR_BAD_STATE;
      // `is_signer_id_different`: the new id, in a zeroed 64-byte buffer, compared over the stored length.
      const padded = new Uint8Array(SIGNER_ID_MAX);
      padded.set(a.signerId);
      const sameSigner = constantTimeEqual(s.signerId, padded.subarray(0, s.signerId.length));
      if (!sameSigner || (this.profile.compareAlgo && s.algo !== a.algo)) return PSA.ERROR_NOT_PERMITTED;
      s.value = hash('sha256', s.value, a.measurement);
      this.generation++;
      s.version = '';
      s.swType = '';
      if (a.lock) s.locked = true;
      return PSA.SUCCESS;
    }
    this.generation++;
    this.slots[a.index] = {
      index: a.index,
      locked: a.lock,
      algo: a.algo,
      signerId: a.signerId.slice(),
      version: a.version,
      swType: a.swType,
      value: hash('sha256', new Uint8Array(SLOT_VALUE_SIZE), a.measurement),
    };
    return PSA.SUCCESS;
  }

  /** Wire struct sizes of the profile. */
  get structs(): { readIn: number; readOut: number; extend: number } {
    const sw = this.profile.swTypeMax;
    return { readIn: 3, readOut: 8 + sw + 1 + VERSION_MAX_SIZE + 1, extend: 8 + sw + 4 };
  }

  /** The READ and EXTEND messages. */
  call(c: PsaCall): PsaReply {
    const st = this.structs;
    const sw = this.profile.swTypeMax;
    if (c.type === 1001) {
      if (c.inVecs.length !== 1 || c.outCaps.length !== 3) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const rin = c.inVecs[0] as Uint8Array;
      if (rin.length !== st.readIn || c.outCaps[0] !== st.readOut) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const index = rin[0] as number;
      if (index >= MBOOT_SLOTS) return reply(PSA.ERROR_INVALID_ARGUMENT);
      const s = this.slots[index];
      if (s === undefined) return reply(PSA.ERROR_DOES_NOT_EXIST);
      const swType = bytes(s.swType);
      const version = bytes(s.version);
      if (
        (rin[1] as number) < swType.length ||
        (rin[2] as number) < version.length ||
        (c.outCaps[1] as number) < s.signerId.length ||
        (c.outCaps[2] as number) < s.value.length
      )
        return reply(PSA.ERROR_INVALID_ARGUMENT);
      const out = new Uint8Array(st.readOut);
      out[0] = s.locked ? 1 : 0;
      out.set(u32le(s.algo), 4);
      out.set(swType, 8);
      out[8 + sw] = swType.length;
      out.set(version, 9 + sw);
      out[9 + sw + VERSION_MAX_SIZE] = version.length;
      return reply(PSA.SUCCESS, out, s.signerId.slice(), s.value.slice());
    }
    if (c.type === 1002) {
      if (c.inVecs.length !== 4 || c.outCaps.length !== 0) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const [ext, signerId, version, measurement] = c.inVecs as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      if (ext.length !== st.extend) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const swLen = ext[8 + sw] as number;
      if (swLen > sw || version.length > VERSION_MAX_SIZE) return reply(PSA.ERROR_INVALID_ARGUMENT);
      return reply(
        this.extend({
          index: ext[0] as number,
          lock: ext[1] !== 0,
          algo: readU32le(ext, 4),
          swType: text(ext.subarray(8, 8 + swLen)),
          signerId,
          version: text(version),
          measurement,
        }),
      );
    }
    return reply(PSA.ERROR_NOT_SUPPORTED);
  }
}
