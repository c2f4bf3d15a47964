/**
 * Reading and validating PSA, CCA platform and realm claims from CBOR maps or JSON against their
 * profiles' tables; lenient mode turns the rules upstream verifiers disagree on into warnings.
 * @module
 */
import { cborType, decodeStrict } from '../cose/cbor.ts';
import {
  CCA_PLATFORM_RULES,
  CCA_PLATFORM_TABLE,
  type CcaPlatformClaims,
  type CcaPlatformProfile,
  type ClaimDef,
  type Mode,
  PSA_PROFILE,
  PSA_TABLES,
  type PsaClaims,
  type PsaProfile,
  REALM_PROFILE,
  REALM_TABLE,
  type RealmClaims,
  type RealmProfile,
  type SwComponent,
  type Warnings,
} from './claims.ts';

import { ccaPlatformExtras, mecValue, realmReadings } from './claims-cca2.ts';
import {
  bad,
  cborSource,
  hashName,
  isInt,
  jsonSource,
  lifecycle,
  nonce,
  nonEmptyText,
  opt,
  readBytes,
  req,
  type Source,
  sized,
  swComponents,
  text,
  ueid,
} from './claims-read-base.ts';

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
    if (!(s in CCA_PLATFORM_RULES)) bad(c, `unknown profile: "${s}"`);
    return s as CcaPlatformProfile;
  });
  if (CCA_PLATFORM_RULES[profile].deprecated) warnings.push(`legacy profile ${profile} is deprecated`);
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
    ...ccaPlatformExtras(src, profile, mode, warnings),
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
  const instanceId = opt(src, t.instanceId, ueid(src));
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
  const mecPolicy = opt(src, t.mecPolicy, mecValue);
  // realm#2.0.0 is read two ways today; which the token satisfies is reported, one must hold.
  const readings = profile === REALM_PROFILE.V2 ? realmReadings(mecPolicy, instanceId, t.mecPolicy.json) : undefined;
  if (readings === undefined && mecPolicy !== undefined && mecPolicy !== 0 && mecPolicy !== 1)
    bad(t.mecPolicy.json, `must be 0 or 1, not ${JSON.stringify(mecPolicy)}`);
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
    ...(readings === undefined ? {} : { readings }),
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
