/**
 * Initial attestation (TF-M `partitions/initial_attestation`, CCA profile as RSE 2.1 builds it) and
 * delegated attestation (tf-m-extras `partitions/delegated_attestation`).
 *
 * The platform token is a COSE_Sign1 (ES384 with the IAK) over the claims map in TF-M's insertion
 * order: challenge, instance id, implementation id, security lifecycle, software components (one
 * per populated measured-boot slot: signer id, version, type, description, extended value),
 * profile, hash algorithm, platform config (0xDEADBEEF LE on 2.1), verification service. The DAK
 * is HKDF-SHA-256 of the DAK seed with the CBOR array of those components as info; the platform
 * token it binds takes the hash of the DAK's SEC1 public point as its challenge.
 * @module
 */
import { encode } from 'cbor2';
import { bstrHead, coseSign1, coseSign1Size } from '../cose/sign1.ts';
import { type AsymKey, constantTimeEqual, ecKeyFromPrivate, type HashAlg, hash } from '../crypto/index.ts';
import { deriveHkdfEcKey } from '../crypto/kdf.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
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
} as const;

/** What the attestation partitions read from the platform. */
export interface AttestationPlatform {
  readonly iak: AsymKey;
  /** The IAK's uncompressed public point 0x04 ‖ X ‖ Y. */
  readonly iakPublic: Uint8Array;
  /** 0x01 ‖ SHA-256(IAK public point). */
  readonly instanceId: Uint8Array;
  readonly implementationId: Uint8Array;
  /** PSA security lifecycle (0x1000 assembly-and-test … 0x3000 secured). */
  readonly lifecycle: number;
  readonly profile: string;
  readonly verificationService: string;
  readonly dakSeed: Uint8Array;
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

  constructor(platform: AttestationPlatform, mb: MeasuredBoot) {
    this.p = platform;
    this.mb = mb;
  }

  /** The claims after the challenge, encoded once per measured-boot state. */
  private rest: { generation: number; bytes: Uint8Array } | undefined;

  /** The claims map (CBOR) for a challenge: the challenge first, then the cached rest. */
  claims(challenge: Uint8Array): Uint8Array {
    if (this.rest?.generation !== this.mb.generation) this.rest = { generation: this.mb.generation, bytes: this.encodeRest() };
    const rest = this.rest.bytes;
    // The rest is a map of 8 (head 0xa8); the token's map has 9 (0xa9), the challenge (key 10) first.
    const head = bstrHead(challenge.length);
    const out = new Uint8Array(2 + head.length + challenge.length + rest.length - 1);
    out[0] = 0xa9;
    out[1] = CCA_CLAIM.CHALLENGE;
    out.set(head, 2);
    out.set(challenge, 2 + head.length);
    out.set(rest.subarray(1), 2 + head.length + challenge.length);
    return out;
  }

  private encodeRest(): Uint8Array {
    const p = this.p;
    const m = new Map<number, unknown>([
      [CCA_CLAIM.INSTANCE_ID, p.instanceId],
      [CCA_CLAIM.IMPLEMENTATION_ID, p.implementationId],
      [CCA_CLAIM.LIFECYCLE, p.lifecycle],
      [CCA_CLAIM.SW_COMPONENTS, swComponents(this.mb)],
      [CCA_CLAIM.PROFILE, p.profile],
      [CCA_CLAIM.HASH_ALGO, 'sha-256'],
      [CCA_CLAIM.PLATFORM_CONFIG, u32le(0xdeadbeef)],
      [CCA_CLAIM.VERIFICATION_SERVICE, p.verificationService],
    ]);
    return u8(encode(m));
  }

  /** `psa_initial_attest_get_token`: the token, or the status that stops it. */
  token(challenge: Uint8Array): Uint8Array | number {
    if (!CHALLENGE_SIZES.includes(challenge.length)) return PSA.ERROR_INVALID_ARGUMENT;
    if (this.mb.populated().length === 0) return PSA.ERROR_GENERIC_ERROR;
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

  /** The delegated attestation messages. */
  callDelegated(c: PsaCall): PsaReply {
    if (c.type === 1001) {
      if (c.inVecs.length !== 3 || c.outCaps.length !== 1) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const [curve, bits, alg] = c.inVecs as [Uint8Array, Uint8Array, Uint8Array];
      if (curve.length !== 1 || bits.length !== 4 || alg.length !== 4) return reply(PSA.ERROR_INVALID_ARGUMENT);
      if (curve[0] !== PSA_ECC_FAMILY_SECP_R1) return reply(PSA.ERROR_INVALID_ARGUMENT);
      const keyBits = readU32le(bits, 0);
      const hashAlg = (
        { [PSA_ALG.SHA_256]: 'sha256', [PSA_ALG.SHA_384]: 'sha384', [PSA_ALG.SHA_512]: 'sha512' } as Record<number, HashAlg>
      )[readU32le(alg, 0)];
      if (hashAlg === undefined) return reply(PSA.ERROR_NOT_SUPPORTED);
      if (keyBits !== 256 && keyBits !== 384) return reply(keyBits === 521 ? PSA.ERROR_NOT_SUPPORTED : PSA.ERROR_INVALID_ARGUMENT);
      if ((c.outCaps[0] as number) < keyBits / 8) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
      const comps = swComponents(this.mb);
      if (comps.length === 0) return reply(PSA.ERROR_INVALID_ARGUMENT);
      const k = deriveHkdfEcKey(keyBits === 256 ? 'P-256' : 'P-384', this.p.dakSeed, u8(encode(comps)));
      this.dak = { publicKey: k.publicKey, hashAlg };
      return reply(PSA.SUCCESS, k.privateKey);
    }
    if (c.type === 1002) {
      if (c.inVecs.length !== 1 || c.outCaps.length !== 1) return reply(PSA.ERROR_PROGRAMMER_ERROR);
      const h = c.inVecs[0] as Uint8Array;
      const dak = this.dak;
      if (dak === undefined) return reply(PSA.ERROR_INVALID_ARGUMENT);
      const want = hash(dak.hashAlg, dak.publicKey);
      if (h.length !== want.length || !constantTimeEqual(h, want)) return reply(PSA.ERROR_INVALID_ARGUMENT);
      const t = this.token(h);
      if (typeof t === 'number') return reply(t);
      if (t.length > (c.outCaps[0] as number)) return reply(PSA.ERROR_BUFFER_TOO_SMALL);
      return reply(PSA.SUCCESS, t);
    }
    return reply(PSA.ERROR_NOT_SUPPORTED);
  }
}

/** The IAK as an ECDSA key object. */
export function iakKey(privateKey: Uint8Array): AsymKey {
  return ecKeyFromPrivate(privateKey.length === 32 ? 'P-256' : 'P-384', privateKey);
}
