/**
 * CoSERV (draft-ietf-rats-coserv): endorsement distribution as Veraison's services answer it. A
 * query travels base64url in the path of `GET /endorsement-distribution/v1/coserv/{query}`; the
 * answer is the same CoSERV object with a result set (key 2) holding what was provisioned for the
 * selected environments: reference-value quads for classes (implementation ids, realm RIMs) and
 * attestation-key quads for classes or instances (trust anchors), each with the verifier's key as
 * its authority, and an expiry. `application/coserv+cose` answers are signed (COSE_Sign1, content
 * type `application/coserv+cbor`) with the verifier's CoSERV key.
 *
 * What is not kept is refused rather than answered empty: RIM selectors (the verifier keeps the
 * endorsements a CoRIM carries, not the CoRIM), source artifacts, measurements in selectors, and
 * class selectors on vendor, model, layer or index (endorsements are keyed by class id).
 * @module
 */
import { encode } from 'cbor2';
import { CORIM_PROFILE, type CorimProfile, LEGACY_PROFILES } from '../attestation/corim.ts';
import { keyTriples, referenceTriples } from '../attestation/corim-write.ts';
import { bytesOf, decodeStrict, fromBase64Url, Tag } from '../cose/cbor.ts';
import { publicPem, type TokenKey } from '../cose/keys.ts';
import { createCose } from '../cose/message.ts';
import { RseError } from '../lib/errors.ts';
import type { SqlStore } from './store.ts';

export const COSERV_CBOR = 'application/coserv+cbor';
export const COSERV_COSE = 'application/coserv+cose';
export const COSERV_DISCOVERY_MEDIA_TYPE = 'application/coserv-discovery+json';
export const COSERV_PATH = '/endorsement-distribution/v1/coserv/{query}';

/** artifact-type: what a query asks for. */
export const ARTIFACT_TYPE = { 'endorsed-values': 0, 'trust-anchors': 1, 'reference-values': 2 } as const;
/** result-type: collected artifacts (the quads), the source artifacts (CoRIMs), or both. */
export const RESULT_TYPE = { collected: 0, source: 1, both: 2 } as const;

const bad = (detail: string, field = 'coserv'): never => {
  throw new RseError('E_COSERV', detail, { field });
};

/** One entry of an environment selector: the id it selects by (bytes), or undefined when of another type. */
interface Selected {
  readonly id: Uint8Array | undefined;
}

/** A decoded CoSERV query. */
export interface CoservQuery {
  /** The profile as sent (echoed in the answer). */
  readonly profileValue: unknown;
  /** The CoRIM profile it names. */
  readonly profile: CorimProfile;
  readonly artifactType: 0 | 1 | 2;
  readonly selector: { readonly kind: 'class' | 'instance' | 'group'; readonly entries: readonly Selected[] };
  /** The query map as sent (echoed in the answer). */
  readonly query: ReadonlyMap<unknown, unknown>;
}

const PROFILES: ReadonlySet<string> = new Set(Object.values(CORIM_PROFILE));

/** The profile a CoSERV names (current or legacy URI), or undefined when it is not served here. */
export function coservProfile(p: string): CorimProfile | undefined {
  return PROFILES.has(p) ? (p as CorimProfile) : LEGACY_PROFILES[p];
}

const mapOf = (v: unknown, field: string): ReadonlyMap<unknown, unknown> => (v instanceof Map ? v : bad(`${field} must be a map`, field));

function onlyKeys(m: ReadonlyMap<unknown, unknown>, keys: readonly number[], field: string): void {
  for (const k of m.keys()) if (typeof k !== 'number' || !keys.includes(k)) bad(`${field}: unexpected key ${String(k)}`, field);
}

const uintIn = (v: unknown, max: number, field: string): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : bad(`${field} must be an integer 0..${max}`, field);

/** The bytes of a tagged id rsekit keys endorsements by (560 bytes, 600 PSA implementation id, 550 UEID). */
function idBytes(v: unknown, tags: readonly number[]): Uint8Array | undefined {
  return v instanceof Tag && tags.includes(Number(v.tag)) ? bytesOf(v.contents) : undefined;
}

function selectorOf(v: unknown): CoservQuery['selector'] {
  const m = mapOf(v, 'environment-selector');
  onlyKeys(m, [0, 1, 2], 'environment-selector');
  if (m.size !== 1) bad('environment-selector: exactly one of class, instance or group', 'environment-selector');
  const [[k, list]] = [...m.entries()] as [[number, unknown]];
  const kind = (['class', 'instance', 'group'] as const)[k] as 'class' | 'instance' | 'group';
  const field = `environment-selector.${kind}`;
  if (!Array.isArray(list) || list.length === 0) bad(`${field} must be a non-empty array`, field);
  const entries = (list as unknown[]).map((e, i): Selected => {
    const at = `${field}[${i}]`;
    const pair: readonly unknown[] = Array.isArray(e) ? e : [];
    if (pair.length < 1 || pair.length > 2) bad(`${at} must be [selector] or [selector, measurements]`, at);
    if (pair.length === 2) bad('measurements in CoSERV queries are not supported', at);
    const s = pair[0];
    if (kind !== 'class') return { id: idBytes(s, kind === 'instance' ? [550, 560] : [560]) };
    const c = mapOf(s, at);
    onlyKeys(c, [0, 1, 2, 3, 4], at);
    if (!c.has(0)) bad(`${at}: a class selector needs a class-id`, at);
    if (c.size > 1) bad(`${at}: selecting on vendor, model, layer or index is not supported (endorsements are keyed by class id)`, at);
    return { id: idBytes(c.get(0), [560, 600]) };
  });
  return { kind, entries };
}

/** Decodes and checks a base64url CoSERV query (the path segment). */
export function decodeCoserv(b64u: string): CoservQuery {
  const top = mapOf(decodeStrict(fromBase64Url(b64u, 'coserv'), 'coserv'), 'coserv');
  onlyKeys(top, [0, 1, 2], 'coserv');
  if (top.has(2)) bad('a query carries no result set', 'coserv.results');
  const profileValue = top.get(0);
  if (typeof profileValue !== 'string') bad('coserv.profile must be a URI (text)', 'coserv.profile');
  const profile = coservProfile(profileValue as string);
  if (profile === undefined) bad(`profile ${String(profileValue)} is not served here`, 'coserv.profile');
  const query = mapOf(top.get(1), 'coserv.query');
  onlyKeys(query, [0, 1, 2, 3], 'coserv.query');
  if (query.has(3)) {
    if (query.has(1)) bad('environment and RIM selectors cannot be specified at the same time', 'coserv.query');
    bad(
      'RIM selectors are not supported: this verifier keeps the endorsements a CoRIM carries, not the CoRIM',
      'coserv.query.rim-selector',
    );
  }
  if (!query.has(1)) bad('no selector specified', 'coserv.query');
  if (!query.has(0)) bad('artifact type must be specified with an environment selector', 'coserv.query.artifact-type');
  if (!query.has(2)) bad('result type must be specified with an environment selector', 'coserv.query.result-type');
  const artifactType = uintIn(query.get(0), 2, 'coserv.query.artifact-type') as 0 | 1 | 2;
  const resultType = uintIn(query.get(2), 2, 'coserv.query.result-type');
  if (resultType !== RESULT_TYPE.collected)
    bad('only collected artifacts are served (source artifacts are not kept)', 'coserv.query.result-type');
  return { profileValue, profile: profile as CorimProfile, artifactType, selector: selectorOf(query.get(1)), query };
}

/** RFC 3339 to the second, as tdate (tag 0) carries it. */
const tdate = (d: Date): Tag => new Tag(0, d.toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** The result set for a query: the quads of what is provisioned for its environments, and the expiry. */
export async function coservResults(q: CoservQuery, store: SqlStore, authority: TokenKey, expiry: Date): Promise<Map<number, unknown>> {
  const authorities = [new Tag(554, publicPem(authority).trim())];
  const quad = (triple: unknown): Map<number, unknown> =>
    new Map<number, unknown>([
      [1, authorities],
      [2, triple],
    ]);
  const rvq: unknown[] = [];
  const akq: unknown[] = [];
  for (const s of q.selector.entries) {
    if (s.id === undefined || q.artifactType === ARTIFACT_TYPE['endorsed-values'] || q.selector.kind === 'group') continue;
    if (q.artifactType === ARTIFACT_TYPE['reference-values']) {
      if (q.selector.kind !== 'class') continue; // reference values are bound to a class
      const e = await store.endorsementsFor(q.profile, { classId: s.id });
      const t = referenceTriples(e);
      rvq.push(...t.platform.map(quad), ...t.realms.map(quad));
    } else {
      const e = await store.endorsementsFor(q.profile, q.selector.kind === 'class' ? { classId: s.id } : { instanceId: s.id });
      akq.push(...keyTriples(e.anchors).map(quad));
    }
  }
  const results = new Map<number, unknown>();
  if (rvq.length > 0) results.set(0, rvq);
  if (akq.length > 0) results.set(3, akq);
  results.set(10, tdate(expiry));
  return results;
}

/** The answer: the query as sent with its result set, CBOR or (with `signer`) COSE_Sign1 around it. */
export function encodeCoservAnswer(q: CoservQuery, results: ReadonlyMap<number, unknown>, signer?: TokenKey): Uint8Array {
  const body = encode(
    new Map<number, unknown>([
      [0, q.profileValue],
      [1, q.query],
      [2, results],
    ]),
  );
  return signer === undefined ? body : createCose(body, signer, { headers: new Map([[3, COSERV_CBOR]]) });
}

/** CBOR concise problem details (RFC 9290): title (-1) and detail (-2). */
export function conciseProblem(title: string, detail: string): Uint8Array {
  return encode(
    new Map<number, unknown>([
      [-1, title],
      [-2, detail],
    ]),
  );
}
