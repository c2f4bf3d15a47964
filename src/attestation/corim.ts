/**
 * Endorsements from CoRIM: unsigned (tag 501) or signed (COSE_Sign1 around it) CoRIMs holding CoMIDs
 * (tag 506), and the cocli JSON templates Veraison's tests provision. Both are read into one
 * neutral form, then checked against the Arm profiles (tag:arm.com,2025:psa#1.0.0,
 * …:cca_platform#1.0.0, …:cca_realm#1.0.0) and turned into trust anchors and reference values.
 * @module
 */

import { bytesOf, cborType, decodeStrict, fromBase64, Tag } from '../cose/cbor.ts';
import { loadTokenKey, type TokenKey } from '../cose/keys.ts';
import { decodeCose } from '../cose/message.ts';
import { RseError } from '../lib/errors.ts';

/** The CoRIM profiles rsekit reads and writes: PSA, CCA platform and CCA realm. */
export const CORIM_PROFILE = {
  PSA: 'tag:arm.com,2025:psa#1.0.0',
  CCA_PLATFORM: 'tag:arm.com,2025:cca_platform#1.0.0',
  CCA_REALM: 'tag:arm.com,2025:cca_realm#1.0.0',
} as const;
export type CorimProfile = (typeof CORIM_PROFILE)[keyof typeof CORIM_PROFILE];

/** Older profile URIs (draft-fdb-rats-psa-endorsements, cocli's CCA templates) read as the current ones. */
export const LEGACY_PROFILES: Readonly<Record<string, CorimProfile>> = {
  'http://arm.com/psa/iot/1': CORIM_PROFILE.PSA,
  'http://arm.com/cca/ssd/1': CORIM_PROFILE.CCA_PLATFORM,
  'http://arm.com/cca/realm/1': CORIM_PROFILE.CCA_REALM,
};

/** A device's attestation key, bound to its implementation and instance ids. */
export interface TrustAnchor {
  readonly implementationId: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly key: TokenKey;
  /** The key as provisioned (SPKI PEM). */
  readonly keyPem: string;
}

export interface Digest {
  readonly alg: number;
  readonly value: Uint8Array;
}

/** A reference value for one software component: its measurement, and optionally version and signer id. */
export interface SwReference {
  readonly implementationId: Uint8Array;
  readonly name: string | undefined;
  readonly version: string | undefined;
  readonly signerId: Uint8Array | undefined;
  readonly digests: readonly Digest[];
}

/** A reference value for the CCA platform configuration claim. */
export interface PlatformConfigReference {
  readonly implementationId: Uint8Array;
  readonly value: Uint8Array;
  readonly mask: Uint8Array | undefined;
}

/** A reference value for a CCA realm (RIM and REMs). */
export interface RealmReference {
  /** The realm's class id: its initial measurement. */
  readonly rim: Uint8Array;
  readonly rimDigests: readonly Digest[];
  /** REM0..3; undefined is a wildcard. */
  readonly rems: readonly (readonly Digest[] | undefined)[];
  readonly rpv: Uint8Array | undefined;
}

/** What a CoRIM endorses: trust anchors and reference values, under one profile. */
export interface Endorsements {
  readonly profile: CorimProfile;
  readonly anchors: readonly TrustAnchor[];
  readonly software: readonly SwReference[];
  readonly platformConfigs: readonly PlatformConfigReference[];
  readonly realms: readonly RealmReference[];
}

// ---------------------------------------------------------------------------------------------
// The neutral form

export interface Typed {
  readonly type: string;
  readonly value: unknown;
}

export interface Environment {
  readonly classId: Typed | undefined;
  readonly hasClass: boolean;
  readonly instance: Typed | undefined;
}

export interface Measurement {
  readonly key: Typed | undefined;
  readonly digests: readonly Digest[] | undefined;
  readonly rawValue: Typed | undefined;
  readonly rawValueMask: Uint8Array | undefined;
  readonly name: string | undefined;
  readonly version: { value: string; scheme: unknown } | undefined;
  readonly cryptokeys: readonly Typed[] | undefined;
}

export interface Comid {
  readonly refvals: readonly { env: Environment; measurements: readonly Measurement[] }[];
  readonly avks: readonly { env: Environment; keys: readonly Typed[] }[];
}

export function fail(msg: string, field = 'corim'): never {
  throw new RseError('E_CORIM', msg, { field });
}

export const TAG_TYPES: Readonly<Record<number, string>> = {
  37: 'uuid',
  111: 'oid',
  550: 'ueid',
  554: 'pkix-base64-key',
  555: 'pkix-base64-cert',
  556: 'pkix-base64-cert-path',
  557: 'thumbprint',
  558: 'cose-key',
  560: 'bytes',
  600: 'psa.impl-id',
  601: 'psa.refval-id',
};

export function typedFromCbor(v: unknown): Typed {
  if (v instanceof Tag) return { type: TAG_TYPES[Number(v.tag)] ?? `tag ${v.tag}`, value: v.contents };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (typeof v === 'number' || typeof v === 'bigint') return { type: 'uint', value: v };
  return { type: cborType(v), value: v };
}

export function mapOf(v: unknown, field: string): ReadonlyMap<unknown, unknown> {
  if (!(v instanceof Map)) fail(`${field} must be a map, not ${cborType(v)}`, field);
  return v;
}

export function arrayOf(v: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(v)) fail(`${field} must be an array, not ${cborType(v)}`, field);
  return v;
}

export function envFromCbor(v: unknown): Environment {
  const e = mapOf(v, 'environment');
  const cls = e.get(0);
  const classMap = cls === undefined ? undefined : mapOf(cls, 'environment.class');
  const id = classMap?.get(0);
  const inst = e.get(1);
  return {
    hasClass: classMap !== undefined,
    classId: id === undefined ? undefined : typedFromCbor(id),
    instance: inst === undefined ? undefined : typedFromCbor(inst),
  };
}

export function digestsFromCbor(v: unknown, field: string): Digest[] {
  return arrayOf(v, field).map((d, i) => {
    const pair = arrayOf(d, `${field}[${i}]`);
    const value = bytesOf(pair[1]);
    if (pair.length !== 2 || typeof pair[0] !== 'number' || value === undefined) fail(`${field}[${i}] must be [alg, bytes]`, field);
    return { alg: pair[0], value };
  });
}

export function measurementFromCbor(v: unknown, field: string): Measurement {
  const m = mapOf(v, field);
  const mval = mapOf(m.get(1) ?? new Map(), `${field}.mval`);
  const ver = mval.get(0);
  const verMap = ver === undefined ? undefined : mapOf(ver, `${field}.version`);
  const name = mval.get(11);
  const ck = mval.get(13);
  const mask = mval.get(5);
  return {
    key: m.has(0) ? typedFromCbor(m.get(0)) : undefined,
    digests: mval.has(2) ? digestsFromCbor(mval.get(2), `${field}.digests`) : undefined,
    rawValue: mval.has(4) ? typedFromCbor(mval.get(4)) : undefined,
    rawValueMask: mask === undefined ? undefined : (bytesOf(mask) ?? fail(`${field}.raw-value-mask must be bytes`, field)),
    name: name === undefined ? undefined : typeof name === 'string' ? name : fail(`${field}.name must be text`, field),
    version: verMap === undefined ? undefined : { value: String(verMap.get(0)), scheme: verMap.get(1) },
    cryptokeys: ck === undefined ? undefined : arrayOf(ck, `${field}.cryptokeys`).map(typedFromCbor),
  };
}

export function comidFromCbor(bytes: Uint8Array, field: string): Comid {
  const c = mapOf(decodeStrict(bytes, field), field);
  const triples = mapOf(c.get(4) ?? new Map(), `${field}.triples`);
  const refvals = arrayOf(triples.get(0) ?? [], `${field}.reference-values`).map((t, i) => {
    const [env, ms] = arrayOf(t, `${field}.reference-values[${i}]`);
    return { env: envFromCbor(env), measurements: arrayOf(ms, 'measurements').map((m, j) => measurementFromCbor(m, `measurements[${j}]`)) };
  });
  const avks = arrayOf(triples.get(3) ?? [], `${field}.attester-verification-keys`).map((t, i) => {
    const [env, keys] = arrayOf(t, `${field}.attester-verification-keys[${i}]`);
    return { env: envFromCbor(env), keys: arrayOf(keys, 'verification-keys').map(typedFromCbor) };
  });
  return { refvals, avks };
}

/** Decodes a CoRIM (tag 501, optionally inside a COSE_Sign1) into its profile URI and CoMIDs. */
export function corimFromCbor(bytes: Uint8Array): { profile: string | undefined; comids: Comid[] } {
  let v = decodeStrict(bytes, 'corim');
  if (v instanceof Tag && v.tag === 18) v = decodeStrict(decodeCose(v, 'signed-corim').payload, 'corim');
  if (!(v instanceof Tag) || v.tag !== 501) fail(`not an unsigned CoRIM (tag 501): ${cborType(v)}`);
  const m = mapOf(v.contents, 'corim');
  const p = m.get(3);
  const profile = p instanceof Tag && p.tag === 32 && typeof p.contents === 'string' ? p.contents : typeof p === 'string' ? p : undefined;
  const comids = arrayOf(m.get(1), 'corim.tags').map((t, i) => {
    if (!(t instanceof Tag) || t.tag !== 506) fail(`corim.tags[${i}] is not a CoMID (tag 506)`, 'corim.tags');
    const b = bytesOf(t.contents) ?? fail(`corim.tags[${i}] must wrap bytes`, 'corim.tags');
    return comidFromCbor(b, `comid[${i}]`);
  });
  return { profile, comids };
}

// cocli JSON templates ------------------------------------------------------------------------

export type JsonObject = Readonly<Record<string, unknown>>;

export function obj(v: unknown, field: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${field} must be an object`, field);
  return v as JsonObject;
}

export function typedFromJson(v: unknown, field: string): Typed {
  const o = obj(v, field);
  if (typeof o.type !== 'string') fail(`${field}.type must be text`, field);
  const raw = o.value;
  const binary = ['bytes', 'ueid', 'psa.impl-id'].includes(o.type);
  return { type: o.type, value: binary && typeof raw === 'string' ? fromBase64(raw, field) : raw };
}

export function envFromJson(v: unknown): Environment {
  const e = obj(v, 'environment');
  const cls = e.class === undefined ? undefined : obj(e.class, 'environment.class');
  return {
    hasClass: cls !== undefined,
    classId: cls?.id === undefined ? undefined : typedFromJson(cls.id, 'environment.class.id'),
    instance: e.instance === undefined ? undefined : typedFromJson(e.instance, 'environment.instance'),
  };
}

export function comidFromJson(o: JsonObject): Comid {
  const triples = obj(o.triples ?? {}, 'triples');
  const list = (v: unknown, f: string): readonly unknown[] => (v === undefined ? [] : arrayOf(v, f));
  return {
    refvals: list(triples['reference-values'], 'reference-values').map((t) => {
      const tr = obj(t, 'reference-values[]');
      return {
        env: envFromJson(tr.environment),
        measurements: list(tr.measurements, 'measurements').map((mv, j) => {
          const m = obj(mv, `measurements[${j}]`);
          const val = obj(m.value ?? {}, `measurements[${j}].value`);
          const ver = val.version === undefined ? undefined : obj(val.version, 'version');
          return {
            key: m.key === undefined ? undefined : typedFromJson(m.key, 'mkey'),
            digests:
              val.digests === undefined
                ? undefined
                : arrayOf(val.digests, 'digests').map((d) => {
                    const [alg, value] = arrayOf(d, 'digests[]');
                    if (typeof alg !== 'number' || typeof value !== 'string') fail('digests entries must be [alg, base64url]', 'digests');
                    return { alg, value: new Uint8Array(Buffer.from(value, 'base64url')) };
                  }),
            rawValue: val['raw-value'] === undefined ? undefined : typedFromJson(val['raw-value'], 'raw-value'),
            rawValueMask: typeof val['raw-value-mask'] === 'string' ? fromBase64(val['raw-value-mask'], 'raw-value-mask') : undefined,
            name: typeof val.name === 'string' ? val.name : undefined,
            version: ver === undefined ? undefined : { value: String(ver.value), scheme: ver.scheme },
            cryptokeys:
              val.cryptokeys === undefined ? undefined : arrayOf(val.cryptokeys, 'cryptokeys').map((k) => typedFromJson(k, 'cryptokeys[]')),
          };
        }),
      };
    }),
    avks: list(triples['attester-verification-keys'], 'attester-verification-keys').map((t) => {
      const tr = obj(t, 'attester-verification-keys[]');
      return {
        env: envFromJson(tr.environment),
        keys: list(tr['verification-keys'], 'verification-keys').map((k) => typedFromJson(k, 'verification-keys[]')),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Profile rules

export function implId(env: Environment, profile: CorimProfile): Uint8Array {
  if (!env.hasClass || env.classId === undefined)
    fail(
      profile === CORIM_PROFILE.CCA_REALM ? 'environment.class is required for CCA Realm profile' : 'environment.class is required',
      'environment.class',
    );
  const what = profile === CORIM_PROFILE.CCA_REALM ? 'RIM' : 'implementation-id';
  const ok = env.classId.type === 'bytes' || (env.classId.type === 'psa.impl-id' && profile !== CORIM_PROFILE.CCA_REALM);
  const b = bytesOf(env.classId.value);
  if (!ok || b === undefined) fail(`${what} must be of type 'bytes', got '${env.classId.type}'`, 'environment.class.id');
  if (profile !== CORIM_PROFILE.CCA_REALM && b.length !== 32)
    fail(`implementation-id must be 32 bytes, got ${b.length}`, 'environment.class.id');
  return b;
}

export function instanceId(env: Environment): Uint8Array {
  if (env.instance === undefined) fail('environment.instance (instance-id) is required', 'environment.instance');
  const b = bytesOf(env.instance.value);
  if (env.instance.type !== 'ueid' || b === undefined)
    fail(`instance-id must be of type 'ueid', got '${env.instance.type}'`, 'environment.instance');
  if (b.length !== 33 || b[0] !== 0x01) fail(`instance-id must be a 33-byte RAND UEID, got ${b.length} bytes`, 'environment.instance');
  return b;
}

export function mkeyOf(m: Measurement, allowed: readonly string[]): string {
  if (m.key === undefined) fail('mkey is mandatory but not set', 'mkey');
  if (m.key.type !== 'string' || typeof m.key.value !== 'string') fail(`mkey must be of type 'string', got '${m.key.type}'`, 'mkey');
  if (!allowed.includes(m.key.value)) fail(`invalid mkey "${m.key.value}"`, 'mkey');
  return m.key.value;
}

export function digestsOf(m: Measurement, field: string): readonly Digest[] {
  if (m.digests === undefined || m.digests.length === 0) fail('digests field is mandatory but not set', field);
  for (const d of m.digests)
    if (![32, 48, 64].includes(d.value.length)) fail(`digest of ${d.value.length} bytes (MUST be 32, 48 or 64)`, field);
  return m.digests;
}

export function rawOf(m: Measurement, mkey: string): Uint8Array {
  const b = m.rawValue === undefined ? undefined : bytesOf(m.rawValue.value);
  if (b === undefined) fail(`raw-value is mandatory for ${mkey}`, 'raw-value');
  return b;
}

export function signerOf(m: Measurement): Uint8Array | undefined {
  if (m.cryptokeys === undefined) return undefined;
  if (m.cryptokeys.length !== 1) fail(`cryptokeys (signer-id) must hold exactly one key, got ${m.cryptokeys.length}`, 'cryptokeys');
  const k = m.cryptokeys[0] as Typed;
  const b = bytesOf(k.value);
  if (k.type !== 'bytes' || b === undefined) fail(`cryptokeys (signer-id) must be of type 'bytes', got '${k.type}'`, 'cryptokeys');
  if (![32, 48, 64].includes(b.length)) fail(`signer-id of ${b.length} bytes (MUST be 32, 48 or 64)`, 'cryptokeys');
  return b;
}

export function endorsementsOf(profile: CorimProfile, comids: readonly Comid[]): Endorsements {
  const anchors: TrustAnchor[] = [];
  const software: SwReference[] = [];
  const platformConfigs: PlatformConfigReference[] = [];
  const realms: RealmReference[] = [];
  for (const c of comids) {
    for (const t of c.avks) {
      if (profile === CORIM_PROFILE.CCA_REALM)
        fail('the CCA realm profile has no attester verification keys', 'attester-verification-keys');
      const implementationId = implId(t.env, profile);
      const inst = instanceId(t.env);
      if (t.keys.length !== 1) fail(`exactly one verification key per triple, got ${t.keys.length}`, 'verification-keys');
      const k = t.keys[0] as Typed;
      if (k.type !== 'pkix-base64-key' || typeof k.value !== 'string')
        fail(`verification-key must be of type 'pkix-base64-key', got '${k.type}'`, 'verification-keys');
      let key: TokenKey;
      try {
        key = loadTokenKey(new TextEncoder().encode(k.value));
      } catch (e) {
        fail(`verification-key: ${(e as Error).message}`, 'verification-keys');
      }
      if (key.kind !== 'ec') fail('verification-key must be an EC public key', 'verification-keys');
      anchors.push({ implementationId, instanceId: inst, key, keyPem: k.value });
    }
    for (const t of c.refvals) {
      if (profile === CORIM_PROFILE.CCA_REALM) {
        const rim = implId(t.env, profile);
        let rimDigests: readonly Digest[] | undefined;
        const rems: (readonly Digest[] | undefined)[] = [undefined, undefined, undefined, undefined];
        let rpv: Uint8Array | undefined;
        for (const m of t.measurements) {
          const mk = mkeyOf(m, ['cca.rim', 'cca.rem0', 'cca.rem1', 'cca.rem2', 'cca.rem3', 'cca.rpv']);
          if (mk === 'cca.rpv') rpv = rawOf(m, mk);
          else if (mk === 'cca.rim') rimDigests = digestsOf(m, mk);
          else rems[Number(mk.slice(-1))] = digestsOf(m, mk);
        }
        if (rimDigests === undefined) fail('RIM (cca.rim) measurement is mandatory but not found', 'cca.rim');
        realms.push({ rim, rimDigests, rems, rpv });
        continue;
      }
      const implementationId = implId(t.env, profile);
      const swKey = profile === CORIM_PROFILE.PSA ? 'psa.software-component' : 'cca.software-component';
      const allowed = profile === CORIM_PROFILE.PSA ? [swKey] : [swKey, 'cca.platform-config'];
      let configs = 0;
      for (const m of t.measurements) {
        const mk = mkeyOf(m, allowed);
        if (mk === 'cca.platform-config') {
          if (++configs > 1) fail('at most one cca.platform-config per triple', 'cca.platform-config');
          platformConfigs.push({ implementationId, value: rawOf(m, mk), mask: m.rawValueMask });
          continue;
        }
        const digests = digestsOf(m, mk);
        const signerId = signerOf(m);
        // The 2025 CCA profile says a version carries no scheme, but Veraison's own templates give one: accepted.
        software.push({ implementationId, name: m.name, version: m.version?.value, signerId, digests });
      }
    }
  }
  return { profile, anchors, software, platformConfigs, realms };
}

export function profileOf(p: string | undefined, override: string | undefined): CorimProfile {
  const v = override ?? p;
  if (v === undefined) fail('the CoRIM names no profile (key 3) and none was given', 'corim.profile');
  const known = (Object.values(CORIM_PROFILE) as string[]).includes(v) ? (v as CorimProfile) : LEGACY_PROFILES[v];
  if (known === undefined) fail(`unsupported CoRIM profile "${v}"`, 'corim.profile');
  return known;
}

/** Reads a CoRIM (CBOR) and applies its profile's rules; `profile` overrides the one it names (a media-type parameter). */
export function readCorim(bytes: Uint8Array, profile?: string): Endorsements {
  const c = corimFromCbor(bytes);
  return endorsementsOf(profileOf(c.profile, profile), c.comids);
}

/** Reads cocli JSON templates: one CoRIM template (for its profile) and its CoMID templates. */
export function readCorimTemplates(corim: unknown, comids: readonly unknown[]): Endorsements {
  const c = obj(corim, 'corim');
  const p = c.profile === undefined ? undefined : obj(c.profile, 'corim.profile').value;
  return endorsementsOf(
    profileOf(typeof p === 'string' ? p : undefined, undefined),
    comids.map((x) => comidFromJson(obj(x, 'comid'))),
  );
}

/** Merges endorsement sets (a store's content). */
export function mergeEndorsements(sets: readonly Endorsements[]): Omit<Endorsements, 'profile'> {
  return {
    anchors: sets.flatMap((s) => s.anchors),
    software: sets.flatMap((s) => s.software),
    platformConfigs: sets.flatMap((s) => s.platformConfigs),
    realms: sets.flatMap((s) => s.realms),
  };
}
