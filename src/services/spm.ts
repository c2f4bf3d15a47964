/**
 * The RSE runtime as the host sees it: TF-M's SPM routing stateless handles to the partitions
 * (measured boot, initial and delegated attestation, platform, crypto), the host's client-id
 * translation (`tfm_multi_core_client_id.c`) and TC's host permission table
 * (`rse_comms_permissions_hal.c`): which (handle, type) pairs and which host memory a link may
 * use, with the abuse counters that reset the RSE.
 * @module
 */

import type { Measurement } from '../boot/shared-data.ts';
import { type RandomSource, randomBytes } from '../crypto/index.ts';
import { KMU_SLOT } from '../crypto/kmu.ts';
import { deriveIak, instanceId } from '../crypto/rse-keys.ts';
import type { Device } from '../device/device.ts';
import { fromHex } from '../lib/hex.ts';
import type { RseProfile } from '../profiles/types.ts';
import { Attestation, type DakKeyFormat, iakKey, platformConfigClaim, securityLifecycle } from './attestation.ts';
import { CryptoService } from './crypto.ts';
import { MeasuredBoot } from './measured-boot.ts';
import {
  CRYPTO_ABI,
  type CryptoAbi,
  callCrypto,
  callPlatform,
  cryptoFunctionId,
  type HostRotpkLookup,
  hostRotpk,
  isHostCryptoCall,
} from './platform.ts';
import { HANDLE, PSA, PSA_ALG, type PsaCall, type PsaReply, reply } from './psa.ts';

/** The MHU a message came in on: the AP monitor (EL3) or the AP non-secure world. */
export type HostLink = 'ap-monitor' | 'ap-ns';

/** PSA client-id ranges of the links (`base` is the lowest, `limit` the highest). */
export const LINK_CLIENT_RANGE: Readonly<Record<HostLink, { base: number; limit: number }>> = {
  'ap-monitor': { base: -0x0400ffff, limit: -0x04000000 },
  'ap-ns': { base: -0x0800ffff, limit: -0x08000000 },
};

/** `INVALID_REGION_COUNTER_MAX`, `INVALID_SERVICE_COUNTER_MAX`. */
export const ABUSE_LIMITS = { regions: 128, services: 64 } as const;

export interface RuntimeOptions {
  /** `tc`: TF-M 2.1 TC's permission table (the default); `open`: every service and address. */
  readonly permissions?: 'tc' | 'open';
  readonly random?: RandomSource;
  /** Called when the abuse counters trip (the RSE resets). */
  readonly onAbuseReset?: (why: string) => void;
  /** Called after the platform service's SYSTEM_RESET has been answered. */
  readonly onSystemReset?: () => void;
  /** The delegated attestation key binding; `sec1` (TF-M 2.1) unless given. */
  readonly dakKeyFormat?: DakKeyFormat;
  /** The CCA platform token profile the attestation partition emits (default: the firmware's). */
  readonly tokenProfile?: string;
}

/** Who the attestation partition says the device is (the CPAK seed must be in the KMU: BL1_2 derives it). */
export interface AttestationIdentity {
  readonly iak: { readonly privateKey: Uint8Array; readonly publicKey: Uint8Array };
  readonly instanceId: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly platformConfig: Uint8Array;
  readonly lifecycle: number;
  readonly profile: string;
  readonly verificationService: string;
}

export function attestationIdentity(dev: Device): AttestationIdentity {
  const iak = deriveIak(dev.kmu.use(KMU_SLOT.CPAK_SEED), 'P-384');
  const text = (field: string): string => new TextDecoder().decode(dev.plat.read(field)).replace(/\0.*$/s, '');
  const fixed = dev.profile.runtime.attestationIds;
  if (fixed !== undefined)
    return {
      iak,
      instanceId: instanceId(iak.publicKey),
      // The device's attestation HAL (a product's tfm_plat_get_implementation_id), else TF-M's dummy.
      implementationId: fromHex(dev.json.attestHal?.implementationId ?? fixed.implementationId),
      platformConfig: platformConfigClaim(dev.profile.runtime.platformConfig),
      lifecycle: securityLifecycle(dev.lcm.getLcs()),
      profile: fixed.profile,
      verificationService: fixed.verificationService,
    };
  return {
    iak,
    instanceId: instanceId(iak.publicKey),
    implementationId: dev.plat.read('implementation_id'),
    platformConfig: platformConfigClaim(dev.profile.runtime.platformConfig),
    lifecycle: securityLifecycle(dev.lcm.getLcs()),
    profile: text('profile_definition'),
    verificationService: text('verification_service_url'),
  };
}

/** What the runtime starts from: a booted device and the records its boot stages stored. */
export class Runtime {
  readonly profile: RseProfile;
  readonly mboot: MeasuredBoot;
  readonly attest: Attestation;
  readonly cryptoAbi: CryptoAbi;
  /** The crypto partition's key store and PSA Crypto subset (TF-M 2.1 function ids). */
  readonly crypto: CryptoService;
  private readonly dev: Device;
  private readonly random: RandomSource;
  private readonly permissions: 'tc' | 'open';
  private readonly onAbuseReset: ((why: string) => void) | undefined;
  private readonly onSystemReset: (() => void) | undefined;
  badRegions = 0;
  badServices = 0;
  /** The profile's host ROTPKs as the crypto partition loads them. */
  private readonly rotpk: (keyId: number) => HostRotpkLookup;

  constructor(dev: Device, bootRecords: readonly Measurement[], options: RuntimeOptions = {}) {
    this.dev = dev;
    this.profile = dev.profile;
    this.random = options.random ?? randomBytes;
    this.permissions = options.permissions ?? 'tc';
    this.onAbuseReset = options.onAbuseReset;
    this.onSystemReset = options.onSystemReset;
    const rt = dev.profile.runtime;
    this.mboot = new MeasuredBoot({ swTypeMax: rt.swTypeMax, compareAlgo: rt.compareAlgo });
    // The partition replays the boot records through its own extend at init.
    for (const m of bootRecords)
      this.mboot.extend({
        index: m.slot,
        signerId: m.signerId,
        version: m.version,
        algo: m.alg ?? PSA_ALG.SHA_256,
        swType: m.swType,
        measurement: m.value,
        lock: m.locked,
      });
    this.cryptoAbi = CRYPTO_ABI[rt.cryptoAbi];
    const id = attestationIdentity(dev);
    const iak = id.iak;
    const table = rt.hostRotpks;
    this.rotpk = (keyId) => hostRotpk(dev.plat, dev.otp, table, keyId);
    this.crypto = new CryptoService(
      {
        huk: dev.kmu.use(KMU_SLOT.VHUK),
        iakPrivate: iak.privateKey,
        dakSeed: dev.kmu.use(KMU_SLOT.DAK_SEED),
        // The builtin-key loader skips a key its loader fails on: it is then no key at all.
        hostRotpks: table.flatMap((k) => {
          const r = this.rotpk(k.keyId);
          return typeof r === 'number' ? [] : [{ keyId: k.keyId, ...r }];
        }),
      },
      this.random,
    );
    this.attest = new Attestation(
      {
        iak: iakKey(iak.privateKey),
        iakPublic: iak.publicKey,
        instanceId: id.instanceId,
        implementationId: id.implementationId,
        platformConfig: id.platformConfig,
        lifecycle: id.lifecycle,
        profile: options.tokenProfile ?? id.profile,
        verificationService: id.verificationService,
        dakSeed: dev.kmu.use(KMU_SLOT.DAK_SEED),
        dakKeyFormat: options.dakKeyFormat ?? 'sec1',
      },
      this.mboot,
      this.crypto,
    );
  }

  /** The PSA client id of host client `hostId` on `link` (undefined when out of range). */
  static clientId(link: HostLink, hostId: number): number | undefined {
    const r = LINK_CLIENT_RANGE[link];
    if (hostId <= 0 || hostId > r.limit - r.base + 1) return undefined;
    return r.limit + 1 - hostId;
  }

  /** `comms_permissions_service_check`: may the host call this? */
  serviceAllowed(handle: number, type: number, inVecs: readonly Uint8Array[]): boolean {
    if (this.permissions === 'open') return true;
    let ok = false;
    switch (handle) {
      case HANDLE.ATTESTATION:
      case HANDLE.DELEGATED_ATTESTATION:
      case HANDLE.MEASURED_BOOT:
        ok = type === 1001 || type === 1002;
        break;
      case HANDLE.PLATFORM:
        ok = type === 1010 || type === 1011;
        break;
      case HANDLE.CRYPTO:
        ok = (this.profile.runtime.hostCrypto ?? ['exportPublicKey']).some(
          (f) => cryptoFunctionId(this.cryptoAbi, inVecs[0]) === this.cryptoAbi[f],
        );
        break;
      default:
        ok = false;
    }
    if (!ok) this.countAbuse('services');
    return ok;
  }

  /** `comms_permissions_memory_check`: may `link` have the RSE read (or write) this host memory? */
  memoryAllowed(link: HostLink, addr: bigint, size: number, write: boolean): boolean {
    if (this.permissions === 'open') return true;
    const end = addr + BigInt(size);
    const inside = (lo: number, hi: number): boolean => addr >= BigInt(lo) && end < BigInt(hi);
    const ok =
      (link === 'ap-monitor' && ((inside(0x0, 0x80000) && !write) || inside(0x4000000, 0x4080000))) ||
      (inside(0x5000000, 0x5080000) && !write) ||
      inside(0x6000000, 0x6080000);
    if (!ok) this.countAbuse('regions');
    return ok;
  }

  private countAbuse(kind: 'regions' | 'services'): void {
    if (kind === 'regions') this.badRegions++;
    else this.badServices++;
    if (this.badRegions > ABUSE_LIMITS.regions || this.badServices > ABUSE_LIMITS.services) {
      const why = `${this.badRegions} bad host regions, ${this.badServices} forbidden service calls`;
      this.badRegions = 0;
      this.badServices = 0;
      this.onAbuseReset?.(why);
    }
  }

  /** Routes a call to its partition. */
  call(c: PsaCall): PsaReply {
    switch (c.handle) {
      case HANDLE.MEASURED_BOOT:
        return this.mboot.call(c);
      case HANDLE.ATTESTATION:
        return this.attest.callInitial(c);
      case HANDLE.DELEGATED_ATTESTATION:
        return this.attest.callDelegated(c);
      case HANDLE.PLATFORM: {
        const r = callPlatform(this.dev.plat, c);
        // The reply is made; the RSE then resets (the server answers, then boots again).
        if (r.reset === true) this.onSystemReset?.();
        return r;
      }
      case HANDLE.CRYPTO:
        // GENERATE_RANDOM and the host ROTPK export in either ABI; the rest is TF-M 2.1's PSA Crypto.
        return isHostCryptoCall(this.cryptoAbi, c, this.profile.runtime.hostRotpks)
          ? callCrypto(this.rotpk, this.cryptoAbi, this.random, c)
          : this.crypto.call(c);
      default:
        return reply(PSA.ERROR_INVALID_HANDLE);
    }
  }
}
