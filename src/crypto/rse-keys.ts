/**
 * The RSE key tree (TF-M 2.1 `rse_key_derivation.c`, BL1_2 `boot_platform_post_init`,
 * `crypto_keys.c`; TF-M 1.7 for the RSS variant): the boot state, the CM/DM provisioning keys,
 * the VHUK seed and VHUK, the CPAK (IAK) and DAK seeds, the BL2 decryption key, the IAK itself
 * and the instance id.
 * @module
 */
import { concatBytes, u32le } from '../lib/bytes.ts';
import { hash } from './index.ts';
import { deriveHkdfEcKey, kdfCmacCounter, kdfCmacCounterBe, kdfHashEcb } from './kdf.ts';

/**
 * Which KDF a profile's BL1 uses: TF-M 2.1's SP 800-108 CMAC (little-endian counter, L in
 * bytes), TF-M 2.2+'s (big-endian counter, L in bits), or TF-M 1.7's hash-then-ECB.
 */
export type RseKdf = 'cmac-counter' | 'cmac-counter-be' | 'hash-ecb';

const KDFS: Readonly<Record<RseKdf, typeof kdfCmacCounter>> = {
  'cmac-counter': kdfCmacCounter,
  'cmac-counter-be': kdfCmacCounterBe,
  'hash-ecb': kdfHashEcb,
};

export function kdf(which: RseKdf, key: Uint8Array, label: string | Uint8Array, context: Uint8Array, length: number): Uint8Array {
  return KDFS[which](key, label, context, length);
}

/** Inputs of the boot state. */
export interface BootStateInputs {
  /** TF-M `plat_otp_lcs_t` value: 0 CM, 1 DM, 3 SE, 7 RMA. */
  readonly lcs: number;
  /** The LCM TP-mode register value. */
  readonly tpMode: number;
  readonly reprovisioningBits: number;
  /** The BL1_2 hash BL1_1 computed (all zero during BL1_1 provisioning). */
  readonly bl1_2Hash: Uint8Array;
}

/** `rse_get_boot_state` of TF-M 2.1: SHA-256(lcs ‖ tp_mode ‖ reprovisioning_bits ‖ BL1_2 hash). */
export function bootState(s: BootStateInputs): Uint8Array {
  return hash('sha256', u32le(s.lcs, s.tpMode, s.reprovisioningBits), s.bl1_2Hash);
}

/** The key the CM or DM bundle is encrypted with: KDF(KRTL or zeros, "CM_PROVISIONING", boot state). */
export function provisioningKey(which: 'CM' | 'DM', krtl: Uint8Array, state: Uint8Array): Uint8Array {
  return kdfCmacCounter(krtl, which === 'CM' ? 'CM_PROVISIONING' : 'DM_PROVISIONING', state, 32);
}

/** The provisioning key as a bundle tool computes it for a fresh device (boot state with BL1_2 hash and reprovisioning bits zero). */
export function bundleKey(which: 'CM' | 'DM', tpMode: number, krtl: Uint8Array): Uint8Array {
  const state = bootState({ lcs: which === 'CM' ? 0 : 1, tpMode, reprovisioningBits: 0, bl1_2Hash: new Uint8Array(32) });
  return provisioningKey(which, krtl, state);
}

/** BL1_2's key for BL2: KDF(bl2_encryption_key, "BL2_DECRYPTION_KEY", security counter u32 LE). */
export function bl2DecryptionKey(which: RseKdf, bl2EncryptionKey: Uint8Array, securityCounter: number): Uint8Array {
  return kdf(which, bl2EncryptionKey, 'BL2_DECRYPTION_KEY', u32le(securityCounter), 32);
}

/** The keys BL1_2 derives into the KMU before BL2 (2.1). */
export interface BootKeys {
  readonly vhukSeed: Uint8Array;
  readonly vhuk: Uint8Array;
  readonly cpakSeed: Uint8Array;
  readonly dakSeed: Uint8Array;
}

/** The 2.1 key tree from HUK, GUK and the boot state (one RSE: the VHUK label is its own seed). */
export function deriveBootKeys(huk: Uint8Array, guk: Uint8Array, state: Uint8Array): BootKeys {
  const vhukSeed = kdfCmacCounter(huk, 'VHUK_SEED_DERIVATION', new Uint8Array(0), 32);
  return {
    vhukSeed,
    vhuk: kdfCmacCounter(guk, vhukSeed, state, 32),
    cpakSeed: kdfCmacCounter(guk, 'BL1_CPAK_SEED_DERIVATION', state, 32),
    dakSeed: kdfCmacCounter(guk, 'BL1_DAK_SEED_DERIVATION', state, 32),
  };
}

/** The 1.7 key tree: context = BL1_2 hash ‖ lcs ‖ reprovisioning bits (VHUK with lcs 0). */
export function deriveBootKeys17(huk: Uint8Array, bl1_2Hash: Uint8Array, lcs: number): Omit<BootKeys, 'vhukSeed'> {
  const ctx = (l: number): Uint8Array => concatBytes([bl1_2Hash, u32le(l, 0)]);
  return {
    vhuk: kdfHashEcb(huk, 'BL1_VHUK_DERIVATION', ctx(0), 32),
    cpakSeed: kdfHashEcb(huk, 'BL1_CPAK_SEED_DERIVATION', ctx(lcs), 32),
    dakSeed: kdfHashEcb(huk, 'BL1_DAK_SEED_DERIVATION', ctx(lcs), 32),
  };
}

/** The IAK (CPAK): P-384 by PSA HKDF-SHA-256 from the CPAK seed. */
export function deriveIak(cpakSeed: Uint8Array, curve: 'P-256' | 'P-384' = 'P-384'): { privateKey: Uint8Array; publicKey: Uint8Array } {
  return deriveHkdfEcKey(curve, cpakSeed);
}

/** Instance id: 0x01 ‖ SHA-256 of the uncompressed public IAK. */
export function instanceId(iakPublic: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(0x01), hash('sha256', iakPublic)]);
}
