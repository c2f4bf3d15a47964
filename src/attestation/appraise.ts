/**
 * Appraisal with Veraison's rules (scheme/psa-iot and scheme/arm-cca): identity, trust anchor,
 * freshness and integrity first (any failure gives one submod with every claim 99 and the reason),
 * then the AR4SI vector from the lifecycle, the software components, the platform configuration
 * and the realm measurements. Submods are named as Veraison names them: PSA_IOT, CCA_SSD_PLATFORM,
 * CCA_REALM, and ARM_CCA for a CCA token that fails before appraisal.
 * @module
 */
import { constantTimeEqual as eq } from '../crypto/index.ts';
import { toHex } from '../lib/hex.ts';
import { type CcaPlatformClaims, lifecycleTrustworthy, type Mode, type PsaClaims, type RealmClaims, type SwComponent } from './claims.ts';
import { claimsToJson } from './claims-write.ts';
import type { Digest, PlatformConfigReference, RealmReference, SwReference, TrustAnchor } from './corim.ts';
import { EAR_PROFILE, type Ear, type Submod, submod, TRUST, type TrustVector, uniformVector } from './ear.ts';
import { decodeEvidence, type Evidence, evidenceIdentity, freshnessProblem, verifyEvidence } from './token.ts';

/** Where appraisal finds trust anchors and reference values (in memory, SQLite or PostgreSQL). */
export interface EndorsementStore {
  anchor(implementationId: Uint8Array, instanceId: Uint8Array): Promise<TrustAnchor | undefined>;
  software(implementationId: Uint8Array): Promise<readonly SwReference[]>;
  platformConfigs(implementationId: Uint8Array): Promise<readonly PlatformConfigReference[]>;
  realms(rim: Uint8Array): Promise<readonly RealmReference[]>;
}

export type Scheme = 'PSA_IOT' | 'ARM_CCA';

/** How {@link appraise} checks: the expected nonce, signer-id comparison, strictness. */
export interface AppraiseOptions {
  /** The session nonce; freshness is not checked without one. */
  readonly nonce?: Uint8Array;
  /** Which scheme to report when the evidence cannot be decoded (from the media type). */
  readonly scheme?: Scheme;
  readonly mode?: Mode;
  /** Read COSE without its CBOR tag (off: refused as Veraison does). */
  readonly allowUntagged?: boolean;
  /** The kinds of evidence the media type carries; another kind cannot be identified (empty: any). */
  readonly evidenceKinds?: readonly Evidence['kind'][];
  /** Also require each component's signer id to match the reference's (off in Veraison). */
  readonly compareSignerId?: boolean;
  readonly verifierId?: { build: string; developer: string };
  readonly now?: () => number;
}

/** The outcome of appraising one piece of evidence: the EAR, the decoded evidence and why anything did not match. */
export interface Appraisal {
  readonly ear: Ear;
  /** The decoded evidence, when it decoded. */
  readonly evidence: Evidence | undefined;
  /** Why appraisal stopped early, or the reasons a component did not match. */
  readonly problems: readonly string[];
}

function failed(scheme: string, problem: string): Record<string, Submod> {
  return { [scheme]: submod(scheme, uniformVector(TRUST.CRYPTO_FAILED), { 'ear.veraison.policy-claims': { problem } }) };
}

/** Matches evidence components against references (Veraison's rule, plus the optional signer-id policy). */
export function matchComponents(
  components: readonly SwComponent[],
  refs: readonly SwReference[],
  compareSignerId: boolean,
): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  for (const [i, c] of components.entries()) {
    const label = `component ${i} (${c.measurementType || 'unnamed'})`;
    const candidates = refs.filter((r) => r.digests.some((d: Digest) => eq(d.value, c.measurementValue)));
    if (candidates.length === 0) {
      problems.push(`${label}: measurement ${toHex(c.measurementValue)} matches no reference value`);
      continue;
    }
    const hit = candidates.find(
      (r) =>
        (r.name === undefined || r.name === c.measurementType) &&
        (r.version === undefined || r.version === c.version) &&
        (!compareSignerId || r.signerId === undefined || (c.signerId !== undefined && eq(r.signerId, c.signerId))),
    );
    if (hit === undefined) {
      const r = candidates[0] as SwReference;
      const why =
        r.name !== undefined && r.name !== c.measurementType
          ? `type ${c.measurementType ?? '(none)'} != reference ${r.name}`
          : r.version !== undefined && r.version !== c.version
            ? `version ${c.version ?? '(none)'} != reference ${r.version}`
            : 'signer id differs from the reference';
      problems.push(`${label}: ${why}`);
    }
  }
  return { ok: problems.length === 0, problems };
}

function lifecycleClaims(tv: TrustVector, lifecycle: number): void {
  const v = lifecycleTrustworthy(lifecycle) ? TRUST.AFFIRMING : TRUST.CONTRAINDICATED;
  tv['instance-identity'] = v;
  tv['runtime-opaque'] = v;
  tv['storage-opaque'] = v;
}

async function platformVector(
  claims: CcaPlatformClaims | PsaClaims,
  store: EndorsementStore,
  compareSignerId: boolean,
  problems: string[],
): Promise<TrustVector> {
  const tv = uniformVector(TRUST.NONE);
  tv.hardware = TRUST.AFFIRMING;
  lifecycleClaims(tv, claims.lifecycle);
  const refs = await store.software(claims.implementationId);
  const m = matchComponents(claims.swComponents, refs, compareSignerId);
  problems.push(...m.problems);
  tv.executables = m.ok ? TRUST.AFFIRMING : TRUST.UNRECOGNIZED_RUNTIME;
  if (claims.kind === 'cca-platform') {
    const cfgs = await store.platformConfigs(claims.implementationId);
    const match = cfgs.some((c) => {
      if (c.value.length !== claims.config.length) return false;
      if (c.mask === undefined) return eq(c.value, claims.config);
      return c.value.every((b, i) => (b & (c.mask?.[i] ?? 0xff)) === ((claims.config[i] ?? 0) & (c.mask?.[i] ?? 0xff)));
    });
    if (!match) problems.push(`platform config ${toHex(claims.config)} matches no reference value`);
    tv.configuration = match ? TRUST.AFFIRMING : TRUST.UNRECOGNIZED_CONFIG;
  }
  return tv;
}

async function realmVector(realm: RealmClaims, store: EndorsementStore, problems: string[]): Promise<TrustVector> {
  const tv = uniformVector(TRUST.NONE);
  tv['instance-identity'] = TRUST.AFFIRMING;
  tv.executables = TRUST.UNRECOGNIZED_RUNTIME;
  const refs = await store.realms(realm.initialMeasurement);
  if (refs.length === 0) problems.push('no reference values for this realm initial measurement');
  const has = (ds: readonly Digest[], v: Uint8Array): boolean => ds.some((d) => eq(d.value, v));
  for (const r of refs) {
    if (!has(r.rimDigests, realm.initialMeasurement)) {
      problems.push('realm reference value whose RIM differs from its class id');
      return uniformVector(TRUST.VERIFIER_MALFUNCTION);
    }
    if (r.rpv !== undefined && !eq(r.rpv, realm.personalizationValue)) {
      problems.push('realm personalization value differs from the reference');
      tv.executables = TRUST.CONTRAINDICATED;
      continue;
    }
    tv.executables = TRUST.APPROVED_BOOT;
    const remsOk = r.rems.every((ds, i) => ds === undefined || has(ds, realm.extensibleMeasurements[i] as Uint8Array));
    if (remsOk) {
      tv.executables = TRUST.AFFIRMING;
      break;
    }
    problems.push('realm extensible measurements differ from the reference');
  }
  return tv;
}

function integrityDetail(e: unknown): string {
  const code = (e as { code?: string }).code;
  const field = (e as { field?: string }).field;
  if (code === 'E_SIGNATURE' || code === 'E_COSE') {
    if (field?.startsWith('platform')) return 'unable to verify platform token: verification error';
    if (field?.startsWith('realm')) return 'unable to verify realm token: verification error';
    return 'signature verification failed: verification error';
  }
  return (e as Error).message;
}

/** Appraises evidence against a store; never throws for bad evidence (the EAR says what failed). */
export async function appraise(bytes: Uint8Array, store: EndorsementStore, opts: AppraiseOptions = {}): Promise<Appraisal> {
  const mode = opts.mode ?? 'lenient';
  const problems: string[] = [];
  const ear = (submods: Record<string, Submod>): Ear => ({
    eat_profile: EAR_PROFILE,
    iat: Math.floor((opts.now?.() ?? Date.now()) / 1000),
    'ear.verifier-id': opts.verifierId ?? { build: 'rsekit', developer: 'rsekit' },
    ...(opts.nonce === undefined ? {} : { eat_nonce: Buffer.from(opts.nonce).toString('base64url') }),
    submods,
  });
  let ev: Evidence;
  try {
    ev = decodeEvidence(bytes, { mode, allowUntagged: opts.allowUntagged === true });
  } catch (e) {
    problems.push((e as Error).message);
    return { ear: ear(failed(opts.scheme ?? 'PSA_IOT', 'could not establish identity from evidence')), evidence: undefined, problems };
  }
  const kinds = opts.evidenceKinds ?? [];
  if (kinds.length > 0 && !kinds.includes(ev.kind)) {
    problems.push(`the evidence is a ${ev.kind} token, not what its media type carries (${kinds.join(', ')})`);
    return { ear: ear(failed(opts.scheme ?? 'PSA_IOT', 'could not establish identity from evidence')), evidence: ev, problems };
  }
  const scheme: Scheme = ev.kind === 'psa' ? 'PSA_IOT' : 'ARM_CCA';
  const stop = (problem: string): Appraisal => {
    problems.push(problem);
    return { ear: ear(failed(scheme, problem)), evidence: ev, problems };
  };
  const id = evidenceIdentity(ev);
  const ta = await store.anchor(id.implementationId, id.instanceId);
  if (ta === undefined) return stop('no trust anchor for evidence');
  const stale = opts.nonce === undefined ? undefined : freshnessProblem(ev, opts.nonce);
  if (stale !== undefined) return stop(`integrity validation failed: bad evidence: ${stale}`);
  try {
    verifyEvidence(ev, ta.key, { mode });
  } catch (e) {
    return stop(`integrity validation failed: bad evidence: ${integrityDetail(e)}`);
  }
  const compare = opts.compareSignerId ?? false;
  if (ev.kind === 'psa') {
    const tv = await platformVector(ev.token.claims, store, compare, problems);
    return {
      ear: ear({ PSA_IOT: submod('PSA_IOT', tv, { 'ear.veraison.annotated-evidence': claimsToJson(ev.token.claims) }) }),
      evidence: ev,
      problems,
    };
  }
  const platform = ev.kind === 'cca' ? ev.platform.claims : ev.token.claims;
  const ptv = await platformVector(platform, store, compare, problems);
  const submods: Record<string, Submod> = {
    CCA_SSD_PLATFORM: submod('ARM_CCA', ptv, { 'ear.veraison.annotated-evidence': claimsToJson(platform) }),
  };
  if (ev.kind === 'cca') {
    const rtv = await realmVector(ev.realm.claims, store, problems);
    submods.CCA_REALM = submod('ARM_CCA', rtv, { 'ear.veraison.annotated-evidence': claimsToJson(ev.realm.claims) });
  }
  return { ear: ear(submods), evidence: ev, problems };
}

/** An in-memory endorsement store. */
export class MemoryStore implements EndorsementStore {
  readonly anchors: TrustAnchor[] = [];
  readonly refs: SwReference[] = [];
  readonly configs: PlatformConfigReference[] = [];
  readonly realmRefs: RealmReference[] = [];

  add(e: {
    anchors: readonly TrustAnchor[];
    software: readonly SwReference[];
    platformConfigs: readonly PlatformConfigReference[];
    realms: readonly RealmReference[];
  }): this {
    this.anchors.push(...e.anchors);
    this.refs.push(...e.software);
    this.configs.push(...e.platformConfigs);
    this.realmRefs.push(...e.realms);
    return this;
  }

  async anchor(implementationId: Uint8Array, instanceId: Uint8Array): Promise<TrustAnchor | undefined> {
    return this.anchors.find((a) => eq(a.implementationId, implementationId) && eq(a.instanceId, instanceId));
  }
  async software(implementationId: Uint8Array): Promise<readonly SwReference[]> {
    return this.refs.filter((r) => eq(r.implementationId, implementationId));
  }
  async platformConfigs(implementationId: Uint8Array): Promise<readonly PlatformConfigReference[]> {
    return this.configs.filter((r) => eq(r.implementationId, implementationId));
  }
  async realms(rim: Uint8Array): Promise<readonly RealmReference[]> {
    return this.realmRefs.filter((r) => eq(r.rim, rim));
  }
}
