/**
 * Token creation from JSON claim sets in Veraison's names (what evcli and the Veraison integration
 * tests sign): PSA tokens, bare CCA platform tokens and CCA collections. Claims are validated
 * before signing unless asked not to (a test of the verifier needs broken tokens too).
 * @module
 */
import { encode } from 'cbor2';
import { fromBase64, Tag } from '../cose/cbor.ts';
import type { TokenKey } from '../cose/keys.ts';
import { createCose } from '../cose/message.ts';
import { RseError } from '../lib/errors.ts';
import { CCA_PLATFORM_TABLE, PSA_PROFILE, PSA_TABLES, type PsaProfile, REALM_PROFILE, REALM_TABLE } from './claims.ts';
import { ccaPlatformClaimsFromMap, psaClaimsFromMap, realmClaimsFromMap } from './claims-read.ts';
import { CCA_COLLECTION_TAG, CCA_LEGACY_COLLECTION_TAG, CCA_PLATFORM_LABEL, CCA_REALM_LABEL, EAT_CWT_CONTENT_FORMAT } from './token.ts';

type JsonObject = Readonly<Record<string, unknown>>;
type Defs = Readonly<Record<string, { key: number; json: string; type: string } | undefined>>;

const SW_FIELDS: readonly [string, number, boolean][] = [
  ['measurement-type', 1, false],
  ['measurement-value', 2, true],
  ['version', 4, false],
  ['signer-id', 5, true],
  ['measurement-description', 6, false],
];

function conv(v: unknown, type: string, name: string): unknown {
  const b = (x: unknown, n: string): Uint8Array => (typeof x === 'string' ? fromBase64(x, n) : (x as Uint8Array));
  if (type === 'bytes') return b(v, name);
  if (type === 'any') return Array.isArray(v) ? v.map((x, i) => b(x, `${name}[${i}]`)) : b(v, name);
  if (type === 'bytes-array') return Array.isArray(v) ? v.map((x, i) => b(x, `${name}[${i}]`)) : v;
  if (type === 'swcomps' && Array.isArray(v))
    return v.map((c: JsonObject) => {
      const m = new Map<number, unknown>();
      for (const [j, k, bin] of SW_FIELDS) if (c[j] !== undefined) m.set(k, bin ? b(c[j], j) : c[j]);
      return m;
    });
  return v;
}

/** A claims map from Veraison JSON names through a claim table (no validation). */
export function jsonToClaimsMap(o: JsonObject, table: Defs): Map<number, unknown> {
  const m = new Map<number, unknown>();
  for (const d of Object.values(table)) if (d !== undefined && o[d.json] !== undefined) m.set(d.key, conv(o[d.json], d.type, d.json));
  return m;
}

/** The PSA profile a JSON claim set names (eat-profile, else psa-profile / P1). */
export function psaJsonProfile(o: JsonObject): PsaProfile {
  const p = o['eat-profile'];
  if (p === PSA_PROFILE.P2 || p === PSA_PROFILE.TFM) return p;
  if (p !== undefined) throw new RseError('E_CLAIMS', `eat-profile: unknown profile: "${String(p)}"`, { field: 'eat-profile' });
  return PSA_PROFILE.P1;
}

/** How {@link createToken} signs: the key and the token's profile. */
export interface CreateOptions {
  /** Check the claims before signing (default true). */
  readonly validate?: boolean;
  /** The key that signs the realm token of a CCA collection. */
  readonly realmKey?: TokenKey;
  /** The collection form: CMW 907 (default) or the legacy 399 with bstr entries. */
  readonly form?: '907' | '399';
}

/** Whether a JSON claim set is a CCA collection ({cca-platform-token, cca-realm-delegated-token}). */
export function isCcaCollectionJson(o: JsonObject): boolean {
  return 'cca-platform-token' in o || 'cca-realm-delegated-token' in o;
}

/** Signs a JSON claim set: a PSA token, a CCA platform token, or a CCA collection. */
export function createToken(o: JsonObject, key: TokenKey, opts: CreateOptions = {}): Uint8Array {
  const validate = opts.validate ?? true;
  if (isCcaCollectionJson(o)) {
    const p = o['cca-platform-token'] as JsonObject | undefined;
    const r = o['cca-realm-delegated-token'] as JsonObject | undefined;
    if (p === undefined || r === undefined)
      throw new RseError('E_CLAIMS', `missing ${p === undefined ? 'platform' : 'realm'} claims`, { field: 'claims' });
    if (opts.realmKey === undefined) throw new RseError('E_USAGE', 'a CCA collection needs the realm key too', { field: 'realm-key' });
    const rm = jsonToClaimsMap(r, REALM_TABLE);
    // A profile-less realm claim set with a COSE_Key RAK is a realm#1.0.0 token (as evcli signs it).
    if (!rm.has(265) && (rm.get(44237) as Uint8Array | undefined)?.[0] === 0xa4) rm.set(265, REALM_PROFILE.V1);
    const pm = jsonToClaimsMap(p, CCA_PLATFORM_TABLE);
    if (validate) {
      realmClaimsFromMap(rm, 'lenient');
      ccaPlatformClaimsFromMap(pm, 'lenient');
    }
    const realm = createCose(encode(rm), opts.realmKey);
    const platform = createCose(encode(pm), key);
    const legacy = opts.form === '399';
    const entry = (b: Uint8Array): unknown => (legacy ? b : [EAT_CWT_CONTENT_FORMAT, b]);
    return encode(
      new Tag(
        legacy ? CCA_LEGACY_COLLECTION_TAG : CCA_COLLECTION_TAG,
        new Map([
          [CCA_PLATFORM_LABEL, entry(platform)],
          [CCA_REALM_LABEL, entry(realm)],
        ]),
      ),
    );
  }
  if ('cca-platform-profile' in o) {
    const pm = jsonToClaimsMap(o, CCA_PLATFORM_TABLE);
    if (validate) ccaPlatformClaimsFromMap(pm, 'lenient');
    return createCose(encode(pm), key);
  }
  const profile = psaJsonProfile(o);
  const m = jsonToClaimsMap(o, PSA_TABLES[profile]);
  if (validate) psaClaimsFromMap(m, 'lenient', [], profile);
  return createCose(encode(m), key);
}
