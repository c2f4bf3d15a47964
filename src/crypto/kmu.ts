/**
 * The RSE's Key Management Unit: hardware key slots loaded at reset from the OTP (and the RTL
 * key), user slots that boot stages fill with derived keys, locking, and the invalidation of
 * the hardware slots before BL2 runs. Slot numbers follow TF-M 2.1 `rse_kmu_slot_ids.h`
 * (2.3's binding key takes the next free one).
 * @module
 */
import { RseError } from '../lib/errors.ts';

/** Slot numbers of TF-M 2.1 (CCA build). */
export const KMU_SLOT = {
  KRTL: 0,
  HUK: 1,
  GUK: 2,
  KP_CM: 3,
  KCE_CM: 4,
  KP_DM: 5,
  KCE_DM: 6,
  TRAM: 7,
  VHUK: 8,
  CPAK_SEED: 9,
  DAK_SEED: 10,
  SESSION_KEY_0: 11,
  SESSION_KEY_1: 12,
  CM_PROVISIONING_KEY: 13,
  CM_PROVISIONING_KEY_1: 14,
  DM_PROVISIONING_KEY: 15,
  DM_PROVISIONING_KEY_1: 16,
  SECURE_ENCRYPTION_KEY: 17,
  NON_SECURE_ENCRYPTION_KEY: 18,
  /** TF-M 2.3 `RSE_KMU_SLOT_SECURE_BINDING_KEY` (with `MCUBOOT_IMAGE_BINDING`). */
  SECURE_BINDING_KEY: 19,
} as const;

export const KMU_HW_SLOT_COUNT = 7;
export const KMU_SLOT_COUNT = 32;

interface Slot {
  key: Uint8Array | undefined;
  locked: boolean;
  invalid: boolean;
}

/** One KMU. Keys never leave it except through {@link Kmu.use}, which names the user. */
export class Kmu {
  private readonly slots: Slot[] = Array.from({ length: KMU_SLOT_COUNT }, () => ({ key: undefined, locked: false, invalid: false }));

  /** Reset: hardware slots reloaded from `hw` (KRTL, HUK, GUK, KP_CM, KCE_CM, KP_DM, KCE_DM), user slots cleared. */
  reset(hw: readonly Uint8Array[]): void {
    for (let i = 0; i < KMU_SLOT_COUNT; i++) {
      const s = this.slots[i] as Slot;
      s.key = i < KMU_HW_SLOT_COUNT ? hw[i]?.slice() : undefined;
      s.locked = i < KMU_HW_SLOT_COUNT;
      s.invalid = false;
    }
  }

  private slot(n: number): Slot {
    const s = this.slots[n];
    if (s === undefined) throw new RseError('E_ARGUMENT', `KMU slot ${n} does not exist`, { field: 'kmu.slot' });
    return s;
  }

  /** Stores a key in a user slot; refused if the slot is locked or invalidated. */
  set(n: number, key: Uint8Array): void {
    const s = this.slot(n);
    if (n < KMU_HW_SLOT_COUNT || s.locked || s.invalid) {
      throw new RseError('E_LIFECYCLE', `KMU slot ${n} is locked`, { field: 'kmu.slot' });
    }
    s.key = key.slice();
  }

  lock(n: number): void {
    this.slot(n).locked = true;
  }

  /** Invalidates a slot: its key is gone until the next reset. */
  invalidate(n: number): void {
    const s = this.slot(n);
    if (s.key !== undefined) s.key.fill(0);
    s.key = undefined;
    s.invalid = true;
  }

  /** Invalidates the hardware slots 0..6, as BL1_2 does before jumping to BL2. */
  invalidateHardwareSlots(): void {
    for (let i = 0; i < KMU_HW_SLOT_COUNT; i++) this.invalidate(i);
  }

  /** Whether a slot holds a usable key. */
  isValid(n: number): boolean {
    const s = this.slot(n);
    return !s.invalid && s.key !== undefined;
  }

  isLocked(n: number): boolean {
    return this.slot(n).locked;
  }

  /** The key of a slot for an engine operation; fails on an empty or invalidated slot. */
  use(n: number): Uint8Array {
    const s = this.slot(n);
    if (s.invalid || s.key === undefined) {
      throw new RseError('E_LIFECYCLE', `KMU slot ${n} holds no valid key`, { field: 'kmu.slot' });
    }
    return s.key;
  }
}
