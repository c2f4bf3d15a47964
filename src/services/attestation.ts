/**
 * Initial attestation (TF-M `partitions/initial_attestation`, CCA profile as RSE 2.1 builds it) and
 * delegated attestation (tf-m-extras `partitions/delegated_attestation`).
 *
 * The platform token is a COSE_Sign1 (ES384 with the IAK) over the claims map in TF-M's insertion
 * order: challenge, instance id, implementation id, security lifecycle, software components (one
 * per populated measured-boot slot: signer id, version, type, description, extended value),
 * profile, hash algorithm, platform config (0xDEADBEEF LE on 2.1), verification service. The DAK
 * is HKDF-SHA-256 of the DAK seed with the CBOR array of those components as info (P-256, P-384 or
 * P-521); the platform token it binds takes the hash of the DAK's public key as its challenge: the
 * SEC1 point in TF-M 2.1, its COSE_Key in later TF-M.
 * @module
 */
import { encode } from 'cbor2';
import { CCA_PLATFORM_RULES, type CcaPlatformProfile } from '../attestation/claims.ts';
import { bstrHead } from '../cose/cbor.ts';
import { coseKeyEc2 } from '../cose/keys.ts';
import { coseSign1, coseSign1Size } from '../cose/message.ts';
import { type AsymKey, constantTimeEqual, ecKeyFromPrivate, type HashAlg, hash } from '../crypto/index.ts';
import { deriveHkdfEcKey } from '../crypto/kdf.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { ALG, BUILTIN_KEY, hashOf, PARTITION, USAGE } from './crypto-wire.ts';
import { type MeasuredBoot, measurementDescription } from './measured-boot.ts';
import { PSA, PSA_ALG, PSA_ECC_FAMILY_SECP_R1, type PsaCall, type PsaReply, reply } from './psa.ts';

/** `PSA_INITIAL_ATTEST_MAX_TOKEN_SIZE` on RSE. */
export const MAX_TOKEN_SIZE = 0x800;
export const CHALLENGE_SIZES: readonly number[] = [32, 48, 64];

/** Claim keys of the CCA platform token. */
export const CCA_CLAIM = {
  CHALLENGE: 10,
  PROFILE: 265,
  INSTANCE_ID: 256,
  IMPLEMENTATION_ID: 2396,
  LIFECYCLE: 2395,
  SW_COMPONENTS: 2399,
  VERIFICATION_SERVICE: 2400,
  PLATFORM_CONFIG: 2401,
  HASH_ALGO: 2402,
  CLIENT_ID: 2394,
} as const;

/** The platform config claim RSE 2.1 reports: `0xDEADBEEF`, little-endian (a placeholder in TF-M 2.1). */
export const PLATFORM_CONFIG: Uint8Array = u32le(0xdeadbeef);

/**
 * The platform config claim of a profile: 2.1's placeholder, or TF-M 2.3.1's `{ 1: DCU-enable
 * bytes }` (`attest_hal.c`); the DCU state is not emulated: the 16 bytes of a device with no debug
 * enabled, all zero.
 */
export function platformConfigClaim(kind: 'lcm-dcu-map' | undefined): Uint8Array {
  return kind === 'lcm-dcu-map' ? u8(encode(new Map([[1, new Uint8Array(16)]]))) : PLATFORM_CONFIG;
}

/** What the attestation partitions read from the platform. */
export interface AttestationPlatform {
  readonly iak: AsymKey;
  /** The IAK's uncompressed public point 0x04 ‖ X ‖ Y. */
  readonly iakPublic: Uint8Array;
  /** 0x01 ‖ SHA-256(IAK public point). */
  readonly instanceId: Uint8Array;
  readonly implementationId: Uint8Array;
  /** The platform config claim's bytes ({@link platformConfigClaim}). */
  readonly platformConfig: Uint8Array;
  /** PSA security lifecycle (0x1000 assembly-and-test … 0x3000 secured). */
  readonly lifecycle: number;
  readonly profile: string;
  readonly verificationService: string;
  readonly dakSeed: Uint8Array;
  /** What the DAK binding hashes: `sec1` (TF-M 2.1, rse-2.1) or `cose-key` (TF-M since Sep 2024). */
  readonly dakKeyFormat: DakKeyFormat;
}

export type DakKeyFormat = 'sec1' | 'cose-key';

/** The crypto partition's builtin-key policy check, as the attestation partitions meet it. */
export interface KeyPolicy {
  authorize(clientId: number, keyId: number, usage: number, alg: number): number;
}

/** The PSA security lifecycle of an LCS (`tfm_attest_hal_get_security_lifecycle` on RSE). */
export function securityLifecycle(lcs: string): number {
  switch (lcs) {
    case 'CM':
      return 0x1000;
    case 'DM':
      return 0x2000;
    case 'SE':
      return 0x3000;
    case 'RMA':
      return 0x6000;
    default:
      return 0;
  }
}

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The software components as CBOR maps, keys in TF-M's order 5, 4, 1, 6, 2. */
function swComponents(mb: MeasuredBoot): Map<number, unknown>[] {
  return mb.populated().map(
    (s) =>
      new Map<number, unknown>([
        [5, s.signerId],
        [4, s.version],
        [1, s.swType],
        [6, measurementDescription(s.algo)],
        [2, s.value],
      ]),
  );
}

export class Attestation {
  readonly p: AttestationPlatform;
  private readonly mb: MeasuredBoot;
  /** The DAK the last GET_DELEGATED_KEY derived, and the hash it remembers. */
  private dak: { publicKey: Uint8Array; hashAlg: HashAlg } | undefined;

  /** The crypto partition that holds the IAK and the DAK seed, and their per-partition policies. */
  private readonly crypto: KeyPolicy | undefined;

  constructor(platform: AttestationPlatform, mb: MeasuredBoot, crypto?: KeyPolicy) {
    this.p = platform;
    this.mb = mb;
    this.crypto = crypto;
  }

  /** The claims after the challenge, encoded once per measured-boot state. */
  private rest: { generation: number; bytes: Uint8Array } | undefined;

  /** The claims map (CBOR) for a challenge: the challenge first, then the cached rest. */
  claims(challenge: Uint8Array): Uint8Array {
    if (this.rest?.generation !== this.mb.generation) this.rest = { generation: this.mb.generation, bytes: this.encodeRest() };
    const rest = this.rest.bytes;
    // The rest is a map of N < 23 (head 0xa0 + N); the token's has N + 1, the challenge (key 10) first.
    const head = bstrHead(challenge.length);
    const out = new Uint8Array(2 + head.length + challenge.length + rest.length - 1);
    out[0] = (rest[0] as number) + 1;
    out[1] = CCA_CLAIM.CHALLENGE;
    out.set(head, 2);
    out.set(challenge, 2 + head.length);
    out.set(rest.subarray(1), 2 + head.length + challenge.length);
    return out;
  }

  private encodeRest(): Uint8Array {
    const p = this.p;
    const extras =
      CCA_PLATFORM_RULES[p.profile as CcaPlatformProfile]?.requires.includes('clientId') === true ? [[CCA_CLAIM.CLIENT_ID, 1]] : [];
    const m = new Map<number, unknown>([
      [CCA_CLAIM.INSTANCE_ID, p.instanceId],
      [CCA_CLAIM.IMPLEMENTATION_ID, p.implementationId],
      [CCA_CLAIM.LIFECYCLE, p.lifecycle],
      [CCA_CLAIM.SW_COMPONENTS, swComponents(this.mb)],
      [CCA_CLAIM.PROFILE, p.profile],
      [CCA_CLAIM.HASH_ALGO, 'sha-256'],
      [CCA_CLAIM.PLATFORM_CONFIG, p.platformConfig],
      [CCA_CLAIM.VERIFICATION_SERVICE, p.verificationService],
      // cca_platform#2.0.0: the client id, 1 for the CCA platform (draft-ffm-rats-cca-token-03).
      ...(extras as [number, unknown][]),
    ]);
    return u8(encode(m));
  }

  /** `psa_initial_attest_get_token`: the token, or the status that stops it. */
  token(challenge: Uint8Array): Uint8Array | number {
    if (!CHALLENGE_SIZES.includes(challenge.length)) return PSA.ERROR_INVALID_ARGUMENT;
    if (this.mb.populated().length === 0) return PSA.ERROR_GENERIC_ERROR;
    // The initial attestation partition signs with the builtin IAK, which only it may use.
    const allowed = this.crypto?.authorize(PARTITION.INITIAL_ATTESTATION.id, BUILTIN_KEY.IAK, USAGE.SIGN_HASH, ALG.ecdsa(PSA_ALG.SHA_384));
    if (allowed !== undefined && allowed !== PSA.SUCCESS) return PSA.ERROR_GENERIC_ERROR;
    const t = coseSign1(this.claims(challenge), this.p.iak);
    return t.length > MAX_TOKEN_SIZE ? PSA.ERROR_BUFFER_TOO_SMALL : t;
  }

  /** The initial attestation messages. */
  callInitial(c: PsaCall): PsaReply {
    if (c.type === 1001) {
      if (c.inVecs.length !== 1 || c.outCaps.length !== 1) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const t = this.token(c.inVecs[0] as Uint8Array);
      if (typeof t === 'number') return reply(t);
      if (t.length > (c.outCaps[0] as number)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
      return reply(PSA.SUCCESS, t);
    }
    if (c.type === 1002) {
      const inv = c.inVecs[0];
      if (c.inVecs.length !== 1 || c.outCaps.length !== 1 || inv?.length !== 4 || (c.outCaps[0] as number) < 4)
        return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const size = readU32le(inv, 0);
      if (!CHALLENGE_SIZES.includes(size)) return reply(PSA.ERROR_INVALID_ARGUMENT);
      // ECDSA signatures are fixed-size raw r ‖ s: the size follows from the claims, no signing needed.
      if (this.mb.populated().length === 0) return reply(PSA.ERROR_GENERIC_ERROR);
      const n = coseSign1Size(this.claims(new Uint8Array(size)).length, this.p.iak);
      return n > MAX_TOKEN_SIZE ? reply(PSA.ERROR_BUFFER_TOO_SMALL) : reply(PSA.SUCCESS, u32le(n));
    }
    return reply(PSA.ERROR_NOT_SUPPORTED);
  }

  /** The delegated attestation messages (`delegated_attest_req_mngr.c`, `delegated_attest.c`). */
  callDelegated(c: PsaCall): PsaReply {
    if (c.type === 1001) return this.getDelegatedKey(c);
    if (c.type === 1002) return this.getPlatformToken(c);
    return reply(PSA.ERROR_NOT_SUPPORTED);
  }

  /** GET_DELEGATED_KEY: the checks in the manager's order, then the boot state and the HKDF. */
  private getDelegatedKey(c: PsaCall): PsaReply {
    const [curve, bits, alg] = c.inVecs;
    if (curve?.length !== 1 || bits?.length !== 4 || alg?.length !== 4) return reply(PSA.ERROR_INVALID_ARGUMENT);
    if (curve[0] !== PSA_ECC_FAMILY_SECP_R1) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const keyBits = readU32le(bits, 0);
    const dakCurve = DAK_CURVES[keyBits];
    if (dakCurve === undefined) return reply(PSA.ERROR_INVALID_ARGUMENT);
    if ((c.outCaps[0] ?? 0) < Math.ceil(keyBits / 8)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
    // psa_hash_setup: a non-hash algorithm is invalid, a hash the build lacks unsupported.
    const algId = readU32le(alg, 0);
    const hashAlg = hashOf(algId);
    if (hashAlg === undefined) return reply(isHashAlg(algId) ? PSA.ERROR_NOT_SUPPORTED : PSA.ERROR_INVALID_ARGUMENT);
    const state = this.bootState();
    if (typeof state === 'number') return reply(state);
    // psa_key_derivation_input_key(DAK seed): only the delegated attestation partition may derive from it.
    const allowed = this.crypto?.authorize(
      PARTITION.DELEGATED_ATTESTATION.id,
      BUILTIN_KEY.DAK_SEED,
      USAGE.DERIVE,
      ALG.hkdf(PSA_ALG.SHA_256),
    );
    if (allowed !== undefined && allowed !== PSA.SUCCESS) return reply(PSA.ERROR_GENERIC_ERROR);
    const k = deriveHkdfEcKey(dakCurve, this.p.dakSeed, state);
    this.dak = { publicKey: k.publicKey, hashAlg };
    return reply(PSA.SUCCESS, k.privateKey);
  }

  /**
   * `get_platform_boot_state`: the CBOR array of the readable slots (signer id, version, type,
   * description, value), with the partition's own names for the algorithms; empty when no slot is
   * populated (and the derivation then refuses the empty salt).
   */
  private bootState(): Uint8Array | number {
    const slots = this.mb.populated();
    if (slots.length === 0) return PSA.ERROR_INVALID_ARGUMENT;
    const comps: Map<number, unknown>[] = [];
    for (const s of slots) {
      const desc = DELEGATED_DESCRIPTION[s.algo];
      if (desc === undefined) return PSA.ERROR_GENERIC_ERROR;
      comps.push(
        new Map<number, unknown>([
          [5, s.signerId],
          [4, s.version],
          [1, s.swType],
          [6, desc],
          [2, s.value],
        ]),
      );
    }
    return u8(encode(comps));
  }

  /** The bytes the DAK binding hashes: the SEC1 point (TF-M 2.1) or its COSE_Key (TF-M since Sep 2024). */
  private dakPublicForm(publicKey: Uint8Array): Uint8Array {
    return this.p.dakKeyFormat === 'cose-key' ? coseKeyEc2(publicKey) : publicKey;
  }

  /** GET_PLATFORM_TOKEN: the hash of the DAK's public key becomes the token's challenge. */
  private getPlatformToken(c: PsaCall): PsaReply {
    const h = c.inVecs[0] ?? new Uint8Array(0);
    if (h.length > 64 || !CHALLENGE_SIZES.includes(h.length)) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const dak = this.dak;
    if (dak === undefined) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const want = hash(dak.hashAlg, this.dakPublicForm(dak.publicKey));
    if (h.length !== want.length || !constantTimeEqual(h, want)) return reply(PSA.ERROR_INVALID_ARGUMENT);
    const t = this.token(h);
    if (typeof t === 'number') return reply(t);
    if (t.length > Math.min(c.outCaps[0] ?? 0, MAX_TOKEN_SIZE)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
    return reply(PSA.SUCCESS, t);
  }
}

/** The DAK sizes the manager accepts (COSE's ECDSA curves). */
const DAK_CURVES: Readonly<Record<number, 'P-256' | 'P-384' | 'P-521'>> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };

/** `PSA_ALG_IS_HASH`. */
const isHashAlg = (alg: number): boolean => (alg & 0x7f000000) === 0x02000000;

/** `get_firmware_measurement_description` of the delegated attestation partition. */
const DELEGATED_DESCRIPTION: Readonly<Record<number, string>> = {
  [PSA_ALG.SHA_256]: 'sha-256',
  [PSA_ALG.SHA_384]: 'sha-384',
  [PSA_ALG.SHA_512]: 'sha-512',
};

/** The IAK as an ECDSA key object. */
export function iakKey(privateKey: Uint8Array): AsymKey {
  return ecKeyFromPrivate(privateKey.length === 32 ? 'P-256' : 'P-384', privateKey);
}
