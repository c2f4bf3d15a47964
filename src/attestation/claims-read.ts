/**
 * Reading and validating PSA, CCA platform and realm claims from CBOR maps or JSON against their
 * profiles' tables; lenient mode turns the rules upstream verifiers disagree on into warnings.
 * @module
 */
import { bytesOf, cborType, decodeStrict, fromBase64 } from '../cose/cbor.ts';
import { RseError } from '../lib/errors.ts';
import {
  CCA_PLATFORM_PROFILE,
  CCA_PLATFORM_TABLE,
  type CcaPlatformClaims,
  type ClaimDef,
  HASH_NAMES,
  lifecycleName,
  type Mode,
  PSA_PROFILE,
  PSA_TABLES,
  type PsaClaims,
  type PsaProfile,
  REALM_PROFILE,
  REALM_TABLE,
  type RealmClaims,
  type RealmProfile,
  SW,
  type SwComponent,
  type Warnings,
} from './claims.ts';

// ---------------------------------------------------------------------------------------------
// Validation helpers

export function bad(claim: string, message: string): never {
  throw new RseError('E_CLAIMS', `${claim}: ${message}`, { field: claim });
}

/** A claim source: CBOR map keys or JSON names, both read through the same defs. */
export interface Source {
  get(d: ClaimDef): unknown;
  has(d: ClaimDef): boolean;
  /** JSON values are converted: base64 → bytes for byte claims. */
  readonly json: boolean;
}

export function cborSource(m: ReadonlyMap<unknown, unknown>): Source {
  return { get: (d) => m.get(d.key), has: (d) => m.has(d.key), json: false };
}

export function jsonSource(o: Readonly<Record<string, unknown>>): Source {
  return { get: (d) => o[d.json], has: (d) => Object.hasOwn(o, d.json), json: true };
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function readBytes(src: Source, v: unknown, claim: string): Uint8Array {
  if (src.json) {
    if (typeof v !== 'string') bad(claim, `must be base64 bytes, not ${typeof v}`);
    return fromBase64(v, claim);
  }
  const b = bytesOf(v);
  if (b === undefined) bad(claim, `must be bytes, not ${cborType(v)}`);
  return b;
}

export function req<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T {
  if (d === undefined || !src.has(d)) bad(d?.json ?? 'claim', 'missing mandatory claim');
  return read(src.get(d), d.json);
}

export function opt<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T | undefined {
  if (d === undefined || !src.has(d)) return undefined;
  return read(src.get(d), d.json);
}

export const text = (v: unknown, claim: string): string => (typeof v === 'string' ? v : bad(claim, `must be text, not ${cborType(v)}`));
export const nonEmptyText = (v: unknown, claim: string): string => {
  const s = text(v, claim);
  if (s.length === 0) bad(claim, 'empty string');
  return s;
};

export function sized(src: Source, sizes: readonly number[]) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (!sizes.includes(b.length)) bad(claim, `length ${b.length} (MUST be ${sizes.join(', ').replace(/, (\d+)$/, ' or $1')} bytes)`);
    return b;
  };
}

export function ueid(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (b.length !== 33) bad(claim, `invalid length ${b.length} (MUST be 33 bytes)`);
    if (b[0] !== 0x01) bad(claim, 'invalid EUID type (MUST be RAND=0x01)');
    return b;
  };
}

export function nonce(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    if (Array.isArray(v)) bad(claim, `got ${v.length} nonces, want 1`);
    return sized(src, [32, 48, 64])(v, claim);
  };
}

export function lifecycle(v: unknown, claim: string): number {
  if (!isInt(v) || lifecycleName(v) === undefined) bad(claim, `value ${String(v)} is invalid`);
  return v;
}

export function hashName(v: unknown, claim: string): string {
  const s = text(v, claim);
  if (!HASH_NAMES.has(s)) bad(claim, `"${s}" is not an IANA hash algorithm name`);
  return s;
}

export function swComponents(src: Source, signerRequired: boolean) {
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

export const EAN13 = /^[0-9]{13}$/;
export const EAN13_5 = /^[0-9]{13}-[0-9]{5}$/;

// ---------------------------------------------------------------------------------------------
// PSA

/** Which PSA profile a decoded claims map declares (265 text, P1's negative keys, or none ⇒ P1). */
export function psaProfileOf(m: ReadonlyMap<unknown, unknown>): string {
  const p = m.get(265);
  if (p !== undefined) return typeof p === 'string' ? p : bad('eat-profile', `must be text, not ${cborType(p)}`);
  return PSA_PROFILE.P1;
}

export function validatePsa(src: Source, profile: PsaProfile, mode: Mode, warnings: Warnings): PsaClaims {
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

export function asProfile(p: string): PsaProfile {
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

export function validateCcaPlatform(src: Source, mode: Mode, warnings: Warnings): CcaPlatformClaims {
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

export function rejectUnknownJson(o: Readonly<Record<string, unknown>>, table: Readonly<Record<string, ClaimDef>>): void {
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

export function validateRealm(src: Source, mode: Mode, warnings: Warnings): RealmClaims {
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
