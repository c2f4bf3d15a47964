/**
 * Attestation evidence: a PSA token, a bare CCA platform token, or a CCA token collection (the CMW
 * collection `907({44234: [263, bstr], 44241: [263, bstr]})`, the legacy `399` collection with bstr
 * entries, and the draft's `399` with `[263, bstr]` entries). {@link decodeEvidence} checks structure and
 * claims; {@link verifyEvidence} checks signatures, the realm key and the platform/realm binding.
 * @module
 */
import { createHash } from 'node:crypto';
import { bytesOf, cborType, decodeStrict, Tag } from '../cose/cbor.ts';
import { ecKeyFromPoint, keyFromCoseKey, type TokenKey } from '../cose/keys.ts';
import { type CoseMessage, decodeCose, verifyCose } from '../cose/message.ts';
import { constantTimeEqual } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import {
  CCA_PLATFORM_RULES,
  CCA_REALM_PAIRING,
  type CcaPlatformClaims,
  type Mode,
  type PsaClaims,
  type RealmClaims,
  type Warnings,
} from './claims.ts';
import { ccaPlatformClaimsFromMap, psaClaimsFromMap, realmClaimsFromMap } from './claims-read.ts';

export const CCA_COLLECTION_TAG = 907;
export const CCA_LEGACY_COLLECTION_TAG = 399;
export const CCA_PLATFORM_LABEL = 44234;
export const CCA_REALM_LABEL = 44241;
/** CoAP Content-Format of application/eat+cwt, the CMW type indicator of both tokens. */
export const EAT_CWT_CONTENT_FORMAT = 263;

export interface Signed<C> {
  readonly cose: CoseMessage;
  readonly claims: C;
}

export type Evidence =
  | { readonly kind: 'psa'; readonly token: Signed<PsaClaims>; readonly warnings: Warnings }
  | { readonly kind: 'cca-platform'; readonly token: Signed<CcaPlatformClaims>; readonly warnings: Warnings }
  | {
      readonly kind: 'cca';
      readonly form: '907' | '399' | '399-cmw';
      readonly platform: Signed<CcaPlatformClaims>;
      readonly realm: Signed<RealmClaims>;
      readonly warnings: Warnings;
    };

/** How {@link decodeEvidence} reads: strict, or lenient about the rules upstream verifiers disagree on. */
export interface DecodeOptions {
  readonly mode?: Mode;
  /**
   * Read a COSE message that lacks its CBOR tag (18 or 17), with a warning. Off by default, as in
   * Veraison (`invalid COSE_Sign1_Tagged object`) and tf-m-tools' iat-verifier ("Message was not tagged").
   */
  readonly allowUntagged?: boolean;
}

function claimsMap(cose: CoseMessage, field: string): ReadonlyMap<unknown, unknown> {
  const m = decodeStrict(cose.payload, `${field}.payload`);
  if (!(m instanceof Map)) throw new RseError('E_CLAIMS', `${field}: the claims set must be a map, not ${cborType(m)}`, { field });
  return m;
}

function requireTag(cose: CoseMessage, allowUntagged: boolean, warnings: Warnings, field: string): void {
  if (cose.kind !== 'sign1' && field !== 'token') throw new RseError('E_COSE', `${field}: must be a COSE_Sign1`, { field });
  if (cose.tagged) return;
  const what = cose.kind === 'mac0' ? 'COSE_Mac0_Tagged object (tag 17 missing)' : 'COSE_Sign1_Tagged object (tag 18 missing)';
  if (!allowUntagged) throw new RseError('E_COSE', `${field}: invalid ${what}; --allow-untagged reads it`, { field });
  warnings.push(`${field}: COSE message without its CBOR tag`);
}

function collectionEntry(v: unknown, form: '907' | '399', label: number, name: string): { bytes: Uint8Array; cmw: boolean } {
  if (v === undefined) throw new RseError('E_CBOR', `CCA ${name} token not set`, { field: `collection.${label}` });
  const direct = bytesOf(v);
  if (direct !== undefined && form === '399') return { bytes: direct, cmw: false };
  if (!Array.isArray(v) || v.length !== 2)
    throw new RseError('E_CBOR', `collection entry ${label} must be [type-indicator, bstr], not ${cborType(v)}`, {
      field: `collection.${label}`,
    });
  const [ti, value] = v as unknown[];
  if (ti !== EAT_CWT_CONTENT_FORMAT)
    throw new RseError('E_CBOR', `Invalid type indicator: ${String(ti)}`, { field: `collection.${label}[0]` });
  const b = bytesOf(value);
  if (b === undefined)
    throw new RseError('E_CBOR', `collection entry ${label} must wrap a bstr, not ${cborType(value)}`, { field: `collection.${label}[1]` });
  return { bytes: b, cmw: true };
}

/** Decodes evidence and validates its claims (no cryptography). */
export function decodeEvidence(bytes: Uint8Array, opts: DecodeOptions = {}): Evidence {
  const mode = opts.mode ?? 'lenient';
  const untagged = opts.allowUntagged === true && mode !== 'strict';
  const warnings: Warnings = [];
  const top = decodeStrict(bytes, 'token');
  if (top instanceof Tag && (top.tag === CCA_COLLECTION_TAG || top.tag === CCA_LEGACY_COLLECTION_TAG)) {
    const form = top.tag === CCA_COLLECTION_TAG ? '907' : '399';
    const m = top.contents;
    if (!(m instanceof Map)) throw new RseError('E_CBOR', `the CCA collection must be a map, not ${cborType(m)}`, { field: 'collection' });
    const p = collectionEntry(m.get(CCA_PLATFORM_LABEL), form, CCA_PLATFORM_LABEL, 'platform');
    const r = collectionEntry(m.get(CCA_REALM_LABEL), form, CCA_REALM_LABEL, 'realm');
    const pc = decodeCose(p.bytes, 'platform');
    requireTag(pc, untagged, warnings, 'platform');
    const rc = decodeCose(r.bytes, 'realm');
    requireTag(rc, untagged, warnings, 'realm');
    const platform = ccaPlatformClaimsFromMap(claimsMap(pc, 'platform'), mode, warnings);
    const realm = realmClaimsFromMap(claimsMap(rc, 'realm'), mode, warnings);
    if (!CCA_REALM_PAIRING[platform.profile].includes(realm.profile))
      warnings.push(`platform profile ${platform.profile} with realm profile ${realm.profile} is not a combination TF-RMM emits`);
    return {
      kind: 'cca',
      form: form === '907' ? '907' : p.cmw ? '399-cmw' : '399',
      platform: { cose: pc, claims: platform },
      realm: { cose: rc, claims: realm },
      warnings,
    };
  }
  if (top instanceof Tag && top.tag !== 17 && top.tag !== 18)
    throw new RseError('E_CBOR', `wrong tag number ${top.tag}: not a COSE message nor a CCA collection (907/399)`, { field: 'token' });
  const cose = decodeCose(top, 'token');
  requireTag(cose, untagged, warnings, 'token');
  const m = claimsMap(cose, 'token');
  const profile = m.get(265);
  if (typeof profile === 'string' && profile in CCA_PLATFORM_RULES)
    return { kind: 'cca-platform', token: { cose, claims: ccaPlatformClaimsFromMap(m, mode, warnings) }, warnings };
  return { kind: 'psa', token: { cose, claims: psaClaimsFromMap(m, mode, warnings) }, warnings };
}

const NODE_HASH: Readonly<Record<string, string>> = {
  'sha-224': 'sha224',
  'sha-256': 'sha256',
  'sha-384': 'sha384',
  'sha-512': 'sha512',
  'sha-512/224': 'sha512-224',
  'sha-512/256': 'sha512-256',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
};

/** Hashes with an IANA Named Information hash name ("sha-256", …). */
export function hashNamed(name: string, data: Uint8Array): Uint8Array {
  const alg = NODE_HASH[name];
  if (alg === undefined) throw new RseError('E_UNSUPPORTED', `hash algorithm "${name}" is not supported`, { field: 'hash-algo-id' });
  return new Uint8Array(createHash(alg).update(data).digest());
}

/** The realm attestation key from the realm token's public-key claim. */
export function realmKey(realm: RealmClaims): TokenKey {
  try {
    return realm.publicKeyForm === 'raw'
      ? ecKeyFromPoint(realm.publicKey)
      : keyFromCoseKey(decodeStrict(realm.publicKey, 'cca-realm-public-key'));
  } catch (e) {
    if (e instanceof RseError)
      throw new RseError('E_CLAIMS', `cca-realm-public-key: ${e.message}`, { field: 'cca-realm-public-key', cause: e });
    throw e;
  }
}

/** Whether the platform challenge is the hash (by the realm's RAK hash algorithm) of the public-key claim's bytes. */
export function bindingHolds(platform: CcaPlatformClaims, realm: RealmClaims): boolean {
  const h = hashNamed(realm.publicKeyHashAlgId, realm.publicKey);
  return constantTimeEqual(h, platform.challenge);
}

/** How {@link verifyEvidence} checks: strict or lenient. */
export interface VerifyOptions {
  readonly mode?: Mode;
}

function allowMissingAlg(mode: Mode): { allowMissingAlg: boolean } {
  return { allowMissingAlg: mode === 'lenient' };
}

/**
 * Verifies decoded evidence with the platform (or PSA) trust anchor: the token's signature or MAC,
 * and for a CCA collection the realm token's signature with its own key, then the binding.
 * Throws `E_SIGNATURE`, `E_COSE` or `E_BINDING` naming which token failed.
 */
export function verifyEvidence(ev: Evidence, key: TokenKey, opts: VerifyOptions = {}): void {
  const mode = opts.mode ?? 'lenient';
  const o = allowMissingAlg(mode);
  if (ev.kind !== 'cca') {
    if (ev.token.cose.alg === undefined && mode === 'lenient')
      ev.warnings.push('token: no alg in the protected header; taken from the key');
    verifyCose(ev.token.cose, key, o, ev.kind === 'psa' ? 'token' : 'platform');
    return;
  }
  verifyCose(ev.platform.cose, key, o, 'platform');
  verifyCose(ev.realm.cose, realmKey(ev.realm.claims), o, 'realm');
  if (!bindingHolds(ev.platform.claims, ev.realm.claims))
    throw new RseError('E_BINDING', 'binding verification failed: platform nonce does not match RAK hash', {
      field: 'cca-platform-challenge',
    });
}

/** The (implementation id, instance id) pair that names the trust anchor of the evidence. */
export function evidenceIdentity(ev: Evidence): { implementationId: Uint8Array; instanceId: Uint8Array } {
  const c = ev.kind === 'cca' ? ev.platform.claims : ev.token.claims;
  return { implementationId: c.implementationId, instanceId: c.instanceId };
}

/**
 * Why the evidence is not fresh for `nonce`, or undefined when it is: a PSA nonce or platform
 * challenge must equal it exactly; a realm challenge equals it zero-padded to 64 bytes (Veraison).
 */
export function freshnessProblem(ev: Evidence, nonce: Uint8Array): string | undefined {
  if (ev.kind === 'cca') {
    const padded = new Uint8Array(Math.max(64, nonce.length));
    padded.set(nonce);
    if (constantTimeEqual(ev.realm.claims.challenge, padded)) return undefined;
    return `freshness: realm challenge (${toHex(ev.realm.claims.challenge)}) does not match session nonce (${toHex(padded)})`;
  }
  const n = ev.kind === 'psa' ? ev.token.claims.nonce : ev.token.claims.challenge;
  if (constantTimeEqual(n, nonce)) return undefined;
  return `freshness: ${ev.kind === 'psa' ? 'psa-nonce' : 'platform challenge'} (${toHex(n)}) does not match session nonce (${toHex(nonce)})`;
}
