/**
 * Attestation claim sets: PSA (PSA_IOT_PROFILE_1, http://arm.com/psa/2.0.0 and RFC 9783's
 * tag:psacertified.org,2023:psa#tfm), the CCA platform token (cca_platform#1.0.0 and the legacy
 * CCA-SSD/1.0.0) and the CCA realm token (legacy, realm#1.0.0, realm#2.0.0).
 *
 * One table per profile maps each claim to its CBOR key and to the JSON name Veraison uses, so the
 * same validator checks a decoded token and a JSON claim set, and the same table writes both.
 * Validation stops at the first problem with an `E_CLAIMS` error whose field is the claim's JSON
 * name; lenient mode turns the rules upstream verifiers disagree on into warnings.
 * @module
 */
import { encode } from 'cbor2';
import { bytesOf, cborType, decodeStrict, fromBase64, toBase64 } from '../cose/cbor.ts';
import { RseError } from '../lib/errors.ts';

export type Mode = 'strict' | 'lenient';

export const PSA_PROFILE = {
  P1: 'PSA_IOT_PROFILE_1',
  P2: 'http://arm.com/psa/2.0.0',
  TFM: 'tag:psacertified.org,2023:psa#tfm',
} as const;
export type PsaProfile = (typeof PSA_PROFILE)[keyof typeof PSA_PROFILE];

export const CCA_PLATFORM_PROFILE = { CURRENT: 'tag:arm.com,2023:cca_platform#1.0.0', LEGACY: 'http://arm.com/CCA-SSD/1.0.0' } as const;
export type CcaPlatformProfile = (typeof CCA_PLATFORM_PROFILE)[keyof typeof CCA_PLATFORM_PROFILE];

export const REALM_PROFILE = { V1: 'tag:arm.com,2023:realm#1.0.0', V2: 'tag:arm.com,2024:realm#2.0.0' } as const;
/** A realm profile, or 'legacy' for the profile-less realm token of the RMM beta spec. */
export type RealmProfile = (typeof REALM_PROFILE)[keyof typeof REALM_PROFILE] | 'legacy';

/** One software component (PSA and CCA platform tokens). */
export interface SwComponent {
  readonly measurementType?: string;
  readonly measurementValue: Uint8Array;
  readonly version?: string;
  readonly signerId?: Uint8Array;
  readonly measurementDescription?: string;
}

export interface PsaClaims {
  readonly kind: 'psa';
  readonly profile: PsaProfile;
  /** The profile claim as carried (P1's is optional and may differ in lenient mode). */
  readonly profileClaim: string | undefined;
  readonly nonce: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly clientId: number;
  readonly lifecycle: number;
  readonly bootSeed: Uint8Array | undefined;
  readonly certificationReference: string | undefined;
  readonly swComponents: readonly SwComponent[];
  readonly noSwMeasurements: boolean;
  readonly verificationService: string | undefined;
}

export interface CcaPlatformClaims {
  readonly kind: 'cca-platform';
  readonly profile: CcaPlatformProfile;
  readonly challenge: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly config: Uint8Array;
  readonly lifecycle: number;
  readonly swComponents: readonly SwComponent[];
  readonly verificationService: string | undefined;
  readonly hashAlgId: string;
}

export interface RealmClaims {
  readonly kind: 'realm';
  readonly profile: RealmProfile;
  readonly challenge: Uint8Array;
  readonly instanceId: Uint8Array | undefined;
  readonly personalizationValue: Uint8Array;
  readonly initialMeasurement: Uint8Array;
  readonly extensibleMeasurements: readonly Uint8Array[];
  readonly hashAlgId: string;
  /** The public-key claim's bytes exactly as carried (the binding hashes these). */
  readonly publicKey: Uint8Array;
  /** 'cose-key' (profiles) or 'raw' (legacy SEC1 point). */
  readonly publicKeyForm: 'cose-key' | 'raw';
  readonly publicKeyHashAlgId: string;
  readonly mecPolicy: number | undefined;
}

export type Claims = PsaClaims | CcaPlatformClaims | RealmClaims;

/** What a validation noticed without failing (lenient mode, deprecated profiles). */
export type Warnings = string[];

// ---------------------------------------------------------------------------------------------
// Claim tables

type ClaimType = 'bytes' | 'text' | 'int' | 'uint' | 'swcomps' | 'bytes-array' | 'any';
interface ClaimDef {
  readonly key: number;
  readonly json: string;
  readonly type: ClaimType;
}

const def = (key: number, json: string, type: ClaimType): ClaimDef => ({ key, json, type });

type PsaField =
  | 'profile'
  | 'clientId'
  | 'lifecycle'
  | 'implementationId'
  | 'bootSeed'
  | 'certificationReference'
  | 'swComponents'
  | 'noSwMeasurements'
  | 'nonce'
  | 'instanceId'
  | 'verificationService';

const PSA_P2_TABLE: Readonly<Partial<Record<PsaField, ClaimDef>>> = {
  profile: def(265, 'eat-profile', 'text'),
  clientId: def(2394, 'psa-client-id', 'int'),
  lifecycle: def(2395, 'psa-security-lifecycle', 'uint'),
  implementationId: def(2396, 'psa-implementation-id', 'bytes'),
  bootSeed: def(2397, 'psa-boot-seed', 'bytes'),
  certificationReference: def(2398, 'psa-certification-reference', 'text'),
  swComponents: def(2399, 'psa-software-components', 'swcomps'),
  nonce: def(10, 'psa-nonce', 'any'),
  instanceId: def(256, 'psa-instance-id', 'bytes'),
  verificationService: def(2400, 'psa-verification-service-indicator', 'text'),
};

/** The claim tables of the three PSA profiles. */
export const PSA_TABLES: Readonly<Record<PsaProfile, Readonly<Partial<Record<PsaField, ClaimDef>>>>> = {
  [PSA_PROFILE.P1]: {
    profile: def(-75000, 'psa-profile', 'text'),
    clientId: def(-75001, 'psa-client-id', 'int'),
    lifecycle: def(-75002, 'psa-security-lifecycle', 'uint'),
    implementationId: def(-75003, 'psa-implementation-id', 'bytes'),
    bootSeed: def(-75004, 'psa-boot-seed', 'bytes'),
    certificationReference: def(-75005, 'psa-hwver', 'text'),
    swComponents: def(-75006, 'psa-software-components', 'swcomps'),
    noSwMeasurements: def(-75007, 'psa-no-software-measurements', 'uint'),
    nonce: def(-75008, 'psa-nonce', 'any'),
    instanceId: def(-75009, 'psa-instance-id', 'bytes'),
    verificationService: def(-75010, 'psa-verification-service-indicator', 'text'),
  },
  [PSA_PROFILE.P2]: PSA_P2_TABLE,
  [PSA_PROFILE.TFM]: { ...PSA_P2_TABLE, bootSeed: def(268, 'psa-boot-seed', 'bytes') },
};

type CcaField =
  | 'profile'
  | 'challenge'
  | 'implementationId'
  | 'instanceId'
  | 'config'
  | 'lifecycle'
  | 'swComponents'
  | 'verificationService'
  | 'hashAlgId';

export const CCA_PLATFORM_TABLE: Readonly<Record<CcaField, ClaimDef>> = {
  profile: def(265, 'cca-platform-profile', 'text'),
  challenge: def(10, 'cca-platform-challenge', 'any'),
  implementationId: def(2396, 'cca-platform-implementation-id', 'bytes'),
  instanceId: def(256, 'cca-platform-instance-id', 'bytes'),
  config: def(2401, 'cca-platform-config', 'bytes'),
  lifecycle: def(2395, 'cca-platform-lifecycle', 'uint'),
  swComponents: def(2399, 'cca-platform-sw-components', 'swcomps'),
  verificationService: def(2400, 'cca-platform-service-indicator', 'text'),
  hashAlgId: def(2402, 'cca-platform-hash-algo-id', 'text'),
};

type RealmField =
  | 'profile'
  | 'challenge'
  | 'instanceId'
  | 'personalizationValue'
  | 'initialMeasurement'
  | 'extensibleMeasurements'
  | 'hashAlgId'
  | 'publicKey'
  | 'publicKeyHashAlgId'
  | 'mecPolicy';

export const REALM_TABLE: Readonly<Record<RealmField, ClaimDef>> = {
  profile: def(265, 'cca-realm-profile', 'text'),
  challenge: def(10, 'cca-realm-challenge', 'any'),
  instanceId: def(256, 'cca-realm-instance-id', 'bytes'),
  personalizationValue: def(44235, 'cca-realm-personalization-value', 'bytes'),
  initialMeasurement: def(44238, 'cca-realm-initial-measurement', 'bytes'),
  extensibleMeasurements: def(44239, 'cca-realm-extensible-measurements', 'bytes-array'),
  hashAlgId: def(44236, 'cca-realm-hash-algo-id', 'text'),
  publicKey: def(44237, 'cca-realm-public-key', 'bytes'),
  publicKeyHashAlgId: def(44240, 'cca-realm-public-key-hash-algo-id', 'text'),
  mecPolicy: def(44243, 'cca-realm-mec-policy', 'int'),
};

/** Software component fields: CBOR key and JSON name (RFC 9783 §4.4.1). */
const SW = {
  measurementType: def(1, 'measurement-type', 'text'),
  measurementValue: def(2, 'measurement-value', 'bytes'),
  version: def(4, 'version', 'text'),
  signerId: def(5, 'signer-id', 'bytes'),
  measurementDescription: def(6, 'measurement-description', 'text'),
} as const;

/** IANA Named Information hash names accepted in hash-algorithm claims. */
export const HASH_NAMES: ReadonlySet<string> = new Set([
  'sha-224',
  'sha-256',
  'sha-384',
  'sha-512',
  'sha-512/224',
  'sha-512/256',
  'sha3-224',
  'sha3-256',
  'sha3-384',
  'sha3-512',
]);

// ---------------------------------------------------------------------------------------------
// Lifecycle

const LIFECYCLE_STATES: readonly [number, string, string][] = [
  [0x00, 'unknown', 'unknown'],
  [0x10, 'assembly-and-test', 'assembly-and-test'],
  [0x20, 'psa-rot-provisioning', 'cca-platform-rot-provisioning'],
  [0x30, 'secured', 'secured'],
  [0x40, 'non-psa-rot-debug', 'non-cca-platform-rot-debug'],
  [0x50, 'recoverable-psa-rot-debug', 'recoverable-cca-platform-rot-debug'],
  [0x60, 'decommissioned', 'decommissioned'],
];

/** The security lifecycle state's name (PSA or CCA vocabulary), or undefined when the value is invalid. */
export function lifecycleName(v: number, vocab: 'psa' | 'cca' = 'psa'): string | undefined {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) return undefined;
  const s = LIFECYCLE_STATES.find(([major]) => major === v >> 8);
  return s === undefined ? undefined : vocab === 'psa' ? s[1] : s[2];
}

/** Whether reports of a device in this state can be trusted: secured or non-RoT debug (RFC 9783). */
export function lifecycleTrustworthy(v: number): boolean {
  return v >> 8 === 0x30 || v >> 8 === 0x40;
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

function bad(claim: string, message: string): never {
  throw new RseError('E_CLAIMS', `${claim}: ${message}`, { field: claim });
}

/** A claim source: CBOR map keys or JSON names, both read through the same defs. */
interface Source {
  get(d: ClaimDef): unknown;
  has(d: ClaimDef): boolean;
  /** JSON values are converted: base64 → bytes for byte claims. */
  readonly json: boolean;
}

function cborSource(m: ReadonlyMap<unknown, unknown>): Source {
  return { get: (d) => m.get(d.key), has: (d) => m.has(d.key), json: false };
}

function jsonSource(o: Readonly<Record<string, unknown>>): Source {
  return { get: (d) => o[d.json], has: (d) => Object.hasOwn(o, d.json), json: true };
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function readBytes(src: Source, v: unknown, claim: string): Uint8Array {
  if (src.json) {
    if (typeof v !== 'string') bad(claim, `must be base64 bytes, not ${typeof v}`);
    return fromBase64(v, claim);
  }
  const b = bytesOf(v);
  if (b === undefined) bad(claim, `must be bytes, not ${cborType(v)}`);
  return b;
}

function req<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T {
  if (d === undefined || !src.has(d)) bad(d?.json ?? 'claim', 'missing mandatory claim');
  return read(src.get(d), d.json);
}

function opt<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T | undefined {
  if (d === undefined || !src.has(d)) return undefined;
  return read(src.get(d), d.json);
}

const text = (v: unknown, claim: string): string => (typeof v === 'string' ? v : bad(claim, `must be text, not ${cborType(v)}`));
const nonEmptyText = (v: unknown, claim: string): string => {
  const s = text(v, claim);
  if (s.length === 0) bad(claim, 'empty string');
  return s;
};

function sized(src: Source, sizes: readonly number[]) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (!sizes.includes(b.length)) bad(claim, `length ${b.length} (MUST be ${sizes.join(', ').replace(/, (\d+)$/, ' or $1')} bytes)`);
    return b;
  };
}

function ueid(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (b.length !== 33) bad(claim, `invalid length ${b.length} (MUST be 33 bytes)`);
    if (b[0] !== 0x01) bad(claim, 'invalid EUID type (MUST be RAND=0x01)');
    return b;
  };
}

function nonce(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    if (Array.isArray(v)) bad(claim, `got ${v.length} nonces, want 1`);
    return sized(src, [32, 48, 64])(v, claim);
  };
}

function lifecycle(v: unknown, claim: string): number {
  if (!isInt(v) || lifecycleName(v) === undefined) bad(claim, `value ${String(v)} is invalid`);
  return v;
}

function hashName(v: unknown, claim: string): string {
  const s = text(v, claim);
  if (!HASH_NAMES.has(s)) bad(claim, `"${s}" is not an IANA hash algorithm name`);
  return s;
}

function swComponents(src: Source, signerRequired: boolean) {
  return (v: unknown, claim: string): SwComponent[] => {
    if (!Array.isArray(v)) bad(claim, `must be an array, not ${cborType(v)}`);
    if (v.length === 0) bad(claim, 'MUST have at least one sw component');
    return v.map((c: unknown, i) => {
      const at = `${claim}[${i}]`;
      let s: Source;
      if (src.json) {
        if (typeof c !== 'object' || c === null || Array.isArray(c)) bad(at, 'must be an object');
        s = jsonSource(c as Record<string, unknown>);
      } else {
        if (!(c instanceof Map)) bad(at, `must be a map, not ${cborType(c)}`);
        s = cborSource(c);
      }
      const sub = <T>(d: ClaimDef, read: (v: unknown, claim: string) => T): T | undefined =>
        s.has(d) ? read(s.get(d), `${at}.${d.json}`) : undefined;
      const value = sub(SW.measurementValue, sized(s, [32, 48, 64]));
      if (value === undefined) bad(`${at}.measurement-value`, 'missing mandatory claim');
      const signerId = sub(SW.signerId, sized(s, [32, 48, 64]));
      if (signerRequired && signerId === undefined) bad(`${at}.signer-id`, 'missing mandatory claim');
      const measurementType = sub(SW.measurementType, text);
      const version = sub(SW.version, text);
      const measurementDescription = sub(SW.measurementDescription, text);
      return {
        measurementValue: value,
        ...(measurementType === undefined ? {} : { measurementType }),
        ...(version === undefined ? {} : { version }),
        ...(signerId === undefined ? {} : { signerId }),
        ...(measurementDescription === undefined ? {} : { measurementDescription }),
      };
    });
  };
}

const EAN13 = /^[0-9]{13}$/;
const EAN13_5 = /^[0-9]{13}-[0-9]{5}$/;

// ---------------------------------------------------------------------------------------------
// PSA

/** Which PSA profile a decoded claims map declares (265 text, P1's negative keys, or none ⇒ P1). */
export function psaProfileOf(m: ReadonlyMap<unknown, unknown>): string {
  const p = m.get(265);
  if (p !== undefined) return typeof p === 'string' ? p : bad('eat-profile', `must be text, not ${cborType(p)}`);
  return PSA_PROFILE.P1;
}

function validatePsa(src: Source, profile: PsaProfile, mode: Mode, warnings: Warnings): PsaClaims {
  const t = PSA_TABLES[profile];
  let profileClaim: string | undefined;
  if (profile === PSA_PROFILE.P1) {
    profileClaim = opt(src, t.profile, text);
    if (profileClaim !== undefined && profileClaim !== PSA_PROFILE.P1) {
      if (mode === 'strict') bad('psa-profile', `unknown profile: "${profileClaim}"`);
      warnings.push(`psa-profile: "${profileClaim}" is not PSA_IOT_PROFILE_1; read as PSA_IOT_PROFILE_1`);
    }
  } else {
    profileClaim = req(src, t.profile, text);
    if (profileClaim !== profile) bad('eat-profile', `unknown profile: "${profileClaim}"`);
  }
  const clientId = req(src, t.clientId, (v, c) => {
    if (!isInt(v) || v < -0x80000000 || v > 0x7fffffff) bad(c, `${String(v)} is not an int32`);
    if (v === 0 && profile === PSA_PROFILE.TFM && mode === 'strict') bad(c, '0 is not a client id');
    return v;
  });
  const lc = req(src, t.lifecycle, lifecycle);
  const implementationId = req(src, t.implementationId, (v, c) => {
    const b = readBytes(src, v, c);
    if (b.length !== 32) bad(c, `invalid length ${b.length} (MUST be 32 bytes)`);
    return b;
  });
  const seedRead = (v: unknown, c: string): Uint8Array => {
    const b = readBytes(src, v, c);
    if (profile === PSA_PROFILE.P1 ? b.length !== 32 : b.length < 8 || b.length > 32)
      bad(c, `invalid length ${b.length} (MUST be ${profile === PSA_PROFILE.P1 ? '32' : '8..32'} bytes)`);
    return b;
  };
  const bootSeed = profile === PSA_PROFILE.P1 ? req(src, t.bootSeed, seedRead) : opt(src, t.bootSeed, seedRead);
  const certificationReference = opt(src, t.certificationReference, (v, c) => {
    const s = text(v, c);
    // P1's hardware version and psa/2.0.0's reference take EAN-13 or EAN-13+5; RFC 9783 only EAN-13+5.
    const ok = EAN13_5.test(s) || (profile !== PSA_PROFILE.TFM && EAN13.test(s));
    if (!ok) bad(c, `"${s}" is not ${profile === PSA_PROFILE.TFM ? 'an EAN-13+5' : 'an EAN-13 or EAN-13+5'}`);
    return s;
  });
  const noSw = opt(src, t.noSwMeasurements, (v, c) => (v === 1 ? true : bad(c, `must be 1, not ${String(v)}`))) ?? false;
  let sw: SwComponent[] = [];
  if (t.swComponents !== undefined && src.has(t.swComponents)) {
    if (noSw) bad('psa-no-software-measurements', 'present together with psa-software-components');
    sw = req(src, t.swComponents, swComponents(src, true));
  } else if (!noSw) {
    bad(t.swComponents?.json ?? 'psa-software-components', 'missing mandatory claim');
  }
  const n = req(src, t.nonce, nonce(src));
  const instanceId = req(src, t.instanceId, ueid(src));
  const verificationService = opt(src, t.verificationService, nonEmptyText);
  return {
    kind: 'psa',
    profile,
    profileClaim,
    nonce: n,
    instanceId,
    implementationId,
    clientId,
    lifecycle: lc,
    bootSeed,
    certificationReference,
    swComponents: sw,
    noSwMeasurements: noSw,
    verificationService,
  };
}

function asProfile(p: string): PsaProfile {
  if (p === PSA_PROFILE.P1 || p === PSA_PROFILE.P2 || p === PSA_PROFILE.TFM) return p;
  return bad('eat-profile', `unknown profile: "${p}"`);
}

/** Validates a decoded PSA claims map; the profile comes from the map unless `as` forces one. */
export function psaClaimsFromMap(
  m: ReadonlyMap<unknown, unknown>,
  mode: Mode = 'lenient',
  warnings: Warnings = [],
  as?: PsaProfile,
): PsaClaims {
  return validatePsa(cborSource(m), as ?? asProfile(psaProfileOf(m)), mode, warnings);
}

/** Validates a PSA claim set in Veraison's JSON names, read as the given profile. */
export function psaClaimsFromJson(
  o: Readonly<Record<string, unknown>>,
  as: PsaProfile,
  mode: Mode = 'lenient',
  warnings: Warnings = [],
): PsaClaims {
  return validatePsa(jsonSource(o), as, mode, warnings);
}

// ---------------------------------------------------------------------------------------------
// CCA platform

function validateCcaPlatform(src: Source, mode: Mode, warnings: Warnings): CcaPlatformClaims {
  const t = CCA_PLATFORM_TABLE;
  const profile = req(src, t.profile, (v, c) => {
    const s = text(v, c);
    if (s !== CCA_PLATFORM_PROFILE.CURRENT && s !== CCA_PLATFORM_PROFILE.LEGACY) bad(c, `unknown profile: "${s}"`);
    return s;
  });
  if (profile === CCA_PLATFORM_PROFILE.LEGACY) warnings.push(`legacy profile ${profile} is deprecated`);
  const claims: CcaPlatformClaims = {
    kind: 'cca-platform',
    profile,
    challenge: req(src, t.challenge, nonce(src)),
    implementationId: req(src, t.implementationId, (v, c) => {
      const b = readBytes(src, v, c);
      if (b.length !== 32) bad(c, `invalid length ${b.length} (MUST be 32 bytes)`);
      return b;
    }),
    instanceId: req(src, t.instanceId, ueid(src)),
    config: req(src, t.config, (v, c) => readBytes(src, v, c)),
    lifecycle: req(src, t.lifecycle, lifecycle),
    swComponents: req(src, t.swComponents, swComponents(src, mode === 'strict')),
    verificationService: opt(src, t.verificationService, nonEmptyText),
    hashAlgId: req(src, t.hashAlgId, hashName),
  };
  return claims;
}

/** Validates a decoded CCA platform claims map. */
export function ccaPlatformClaimsFromMap(
  m: ReadonlyMap<unknown, unknown>,
  mode: Mode = 'lenient',
  warnings: Warnings = [],
): CcaPlatformClaims {
  return validateCcaPlatform(cborSource(m), mode, warnings);
}

function rejectUnknownJson(o: Readonly<Record<string, unknown>>, table: Readonly<Record<string, ClaimDef>>): void {
  const known = new Set(Object.values(table).map((d) => d.json));
  for (const k of Object.keys(o)) if (!known.has(k)) bad(k, 'claim not in profile');
}

/** Validates a CCA platform claim set in Veraison's JSON names (unknown names are refused, as ccatoken does). */
export function ccaPlatformClaimsFromJson(
  o: Readonly<Record<string, unknown>>,
  mode: Mode = 'lenient',
  warnings: Warnings = [],
): CcaPlatformClaims {
  rejectUnknownJson(o, CCA_PLATFORM_TABLE);
  return validateCcaPlatform(jsonSource(o), mode, warnings);
}

// ---------------------------------------------------------------------------------------------
// Realm

function validateRealm(src: Source, mode: Mode, warnings: Warnings): RealmClaims {
  const t = REALM_TABLE;
  const p = opt(src, t.profile, text);
  if (p !== undefined && p !== REALM_PROFILE.V1 && p !== REALM_PROFILE.V2) bad(t.profile.json, `unknown profile: "${p}"`);
  const profile: RealmProfile = p ?? 'legacy';
  const challenge = req(src, t.challenge, (v, c) => {
    if (Array.isArray(v)) bad(c, `got ${v.length} nonces, want 1`);
    const b = readBytes(src, v, c);
    if (b.length !== 64) bad(c, `length ${b.length} (MUST be 64 bytes)`);
    return b;
  });
  const instanceId = profile === REALM_PROFILE.V2 ? req(src, t.instanceId, ueid(src)) : opt(src, t.instanceId, ueid(src));
  const personalizationValue = req(src, t.personalizationValue, (v, c) => {
    const b = readBytes(src, v, c);
    if (b.length !== 64) bad(c, `length ${b.length} (MUST be 64 bytes)`);
    return b;
  });
  const initialMeasurement = req(src, t.initialMeasurement, sized(src, [32, 48, 64]));
  const extensibleMeasurements = req(src, t.extensibleMeasurements, (v, c) => {
    if (!Array.isArray(v)) bad(c, `must be an array, not ${cborType(v)}`);
    if (v.length !== 4) bad(c, `${v.length} measurements (MUST be 4)`);
    return v.map((x: unknown, i) => sized(src, [32, 48, 64])(x, `${c}[${i}]`));
  });
  const hashAlgId = req(src, t.hashAlgId, hashName);
  let publicKeyForm: 'cose-key' | 'raw' = 'raw';
  const publicKey = req(src, t.publicKey, (v, c) => {
    const b = readBytes(src, v, c);
    let cose = false;
    try {
      const k = decodeStrict(b, c);
      cose = k instanceof Map && k.get(1) === 2;
    } catch {
      cose = false;
    }
    // The legacy form is a raw P-256/384/521 point; validation checks its size, verification its value.
    const raw = !cose && [65, 97, 133].includes(b.length);
    if (!raw && !cose) bad(c, `neither a COSE_Key nor an uncompressed EC point (${b.length} bytes)`);
    publicKeyForm = cose ? 'cose-key' : 'raw';
    const expected = profile === 'legacy' ? 'raw' : 'cose-key';
    if (publicKeyForm !== expected) {
      if (mode === 'strict') bad(c, `realm profile ${profile} carries the key as ${expected === 'raw' ? 'a raw EC point' : 'a COSE_Key'}`);
      warnings.push(`${c}: ${publicKeyForm === 'raw' ? 'raw EC point' : 'COSE_Key'} in a ${profile} realm token`);
    }
    return b;
  });
  const publicKeyHashAlgId = req(src, t.publicKeyHashAlgId, hashName);
  const mecRead = (v: unknown, c: string): number => (v === 0 || v === 1 ? v : bad(c, `must be 0 or 1, not ${String(v)}`));
  const mecPolicy = profile === REALM_PROFILE.V2 && mode === 'strict' ? req(src, t.mecPolicy, mecRead) : opt(src, t.mecPolicy, mecRead);
  return {
    kind: 'realm',
    profile,
    challenge,
    instanceId,
    personalizationValue,
    initialMeasurement,
    extensibleMeasurements,
    hashAlgId,
    publicKey,
    publicKeyForm,
    publicKeyHashAlgId,
    mecPolicy,
  };
}

/** Validates a decoded realm claims map. */
export function realmClaimsFromMap(m: ReadonlyMap<unknown, unknown>, mode: Mode = 'lenient', warnings: Warnings = []): RealmClaims {
  return validateRealm(cborSource(m), mode, warnings);
}

/** Validates a realm claim set in Veraison's JSON names. */
export function realmClaimsFromJson(o: Readonly<Record<string, unknown>>, mode: Mode = 'lenient', warnings: Warnings = []): RealmClaims {
  rejectUnknownJson(o, REALM_TABLE);
  return validateRealm(jsonSource(o), mode, warnings);
}

// ---------------------------------------------------------------------------------------------
// Writing claims: JSON (annotated evidence, `rse token print`) and CBOR (`rse token create`)

type Json = string | number | boolean | Json[] | { [k: string]: Json };

function swToJson(c: SwComponent): Record<string, Json> {
  return {
    ...(c.measurementType === undefined ? {} : { 'measurement-type': c.measurementType }),
    'measurement-value': toBase64(c.measurementValue),
    ...(c.version === undefined ? {} : { version: c.version }),
    ...(c.signerId === undefined ? {} : { 'signer-id': toBase64(c.signerId) }),
    ...(c.measurementDescription === undefined ? {} : { 'measurement-description': c.measurementDescription }),
  };
}

function swToCbor(c: SwComponent): Map<number, unknown> {
  const m = new Map<number, unknown>();
  if (c.measurementType !== undefined) m.set(1, c.measurementType);
  m.set(2, c.measurementValue);
  if (c.version !== undefined) m.set(4, c.version);
  if (c.signerId !== undefined) m.set(5, c.signerId);
  if (c.measurementDescription !== undefined) m.set(6, c.measurementDescription);
  return m;
}

type Field = { readonly d: ClaimDef | undefined; readonly v: unknown };

function fieldsOf(c: Claims): Field[] {
  if (c.kind === 'psa') {
    const t = PSA_TABLES[c.profile];
    return [
      { d: t.profile, v: c.profileClaim },
      { d: t.clientId, v: c.clientId },
      { d: t.lifecycle, v: c.lifecycle },
      { d: t.implementationId, v: c.implementationId },
      { d: t.bootSeed, v: c.bootSeed },
      { d: t.certificationReference, v: c.certificationReference },
      { d: t.swComponents, v: c.swComponents.length > 0 ? c.swComponents : undefined },
      { d: t.noSwMeasurements, v: c.noSwMeasurements ? 1 : undefined },
      { d: t.nonce, v: c.nonce },
      { d: t.instanceId, v: c.instanceId },
      { d: t.verificationService, v: c.verificationService },
    ];
  }
  if (c.kind === 'cca-platform') {
    const t = CCA_PLATFORM_TABLE;
    return [
      { d: t.profile, v: c.profile },
      { d: t.challenge, v: c.challenge },
      { d: t.implementationId, v: c.implementationId },
      { d: t.instanceId, v: c.instanceId },
      { d: t.config, v: c.config },
      { d: t.lifecycle, v: c.lifecycle },
      { d: t.swComponents, v: c.swComponents },
      { d: t.verificationService, v: c.verificationService },
      { d: t.hashAlgId, v: c.hashAlgId },
    ];
  }
  const t = REALM_TABLE;
  return [
    { d: t.profile, v: c.profile === 'legacy' ? undefined : c.profile },
    { d: t.challenge, v: c.challenge },
    { d: t.instanceId, v: c.instanceId },
    { d: t.personalizationValue, v: c.personalizationValue },
    { d: t.initialMeasurement, v: c.initialMeasurement },
    { d: t.extensibleMeasurements, v: c.extensibleMeasurements },
    { d: t.hashAlgId, v: c.hashAlgId },
    { d: t.publicKey, v: c.publicKey },
    { d: t.publicKeyHashAlgId, v: c.publicKeyHashAlgId },
    { d: t.mecPolicy, v: c.mecPolicy },
  ];
}

/** The claims in Veraison's JSON names (bytes as standard base64), keys sorted as Veraison writes them. */
export function claimsToJson(c: Claims): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const { d, v } of fieldsOf(c)) {
    if (d === undefined || v === undefined) continue;
    if (v instanceof Uint8Array) out[d.json] = toBase64(v);
    else if (d.type === 'swcomps') out[d.json] = (v as SwComponent[]).map(swToJson);
    else if (d.type === 'bytes-array') out[d.json] = (v as Uint8Array[]).map(toBase64);
    else out[d.json] = v as Json;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The claims as a CBOR map (what a token's payload encodes). */
export function claimsToMap(c: Claims): Map<number, unknown> {
  const m = new Map<number, unknown>();
  for (const { d, v } of fieldsOf(c)) {
    if (d === undefined || v === undefined) continue;
    m.set(d.key, d.type === 'swcomps' ? (v as SwComponent[]).map(swToCbor) : v);
  }
  return m;
}

/** The CBOR payload of a claim set. */
export function encodeClaims(c: Claims): Uint8Array {
  return encode(claimsToMap(c));
}
