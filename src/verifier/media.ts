/**
 * The media types of the verifier's API: the evidence types and the scheme each selects, the
 * provisioning types (unsigned and signed CoRIMs of each Arm profile), their normalisation as
 * Veraison does it, Accept negotiation, and CMW records (RFC 9193-style wrappers Veraison unwraps
 * before choosing a scheme).
 * @module
 */
import type { Scheme } from '../attestation/appraise.ts';
import { CORIM_PROFILE, LEGACY_PROFILES } from '../attestation/corim.ts';
import type { Evidence } from '../attestation/token.ts';
import { bytesOf, decodeStrict } from '../cose/cbor.ts';
import { RseError } from '../lib/errors.ts';

export const DISCOVERY_MEDIA_TYPE = 'application/vnd.veraison.discovery+json';

/** Evidence media types: the scheme each selects and the kinds of evidence it carries (a bare platform token is not a collection). */
const EVIDENCE: Readonly<Record<string, { readonly scheme: Scheme; readonly kinds: readonly Evidence['kind'][] }>> = {
  'application/psa-attestation-token': { scheme: 'PSA_IOT', kinds: ['psa'] },
  'application/eat-cwt; profile="http://arm.com/psa/2.0.0"': { scheme: 'PSA_IOT', kinds: ['psa'] },
  'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"': { scheme: 'PSA_IOT', kinds: ['psa'] },
  'application/eat+cwt; eat_profile="tag:psacertified.org,2019:psa#legacy"': { scheme: 'PSA_IOT', kinds: ['psa'] },
  'application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"': { scheme: 'ARM_CCA', kinds: ['cca'] },
  'application/eat+cwt; eat_profile="tag:arm.com,2023:cca_platform#1.0.0"': { scheme: 'ARM_CCA', kinds: ['cca-platform'] },
  'application/eat+cwt; eat_profile="tag:arm.com,2024:cca_platform#2.0.0"': { scheme: 'ARM_CCA', kinds: ['cca-platform'] },
};

/** Evidence media types and the scheme each selects. */
export const EVIDENCE_MEDIA_TYPES: Readonly<Record<string, Scheme>> = Object.fromEntries(
  Object.entries(EVIDENCE).map(([t, e]) => [t, e.scheme]),
);

/** The kinds of evidence each media type carries. */
export const EVIDENCE_KINDS: Readonly<Record<string, readonly Evidence['kind'][]>> = Object.fromEntries(
  Object.entries(EVIDENCE).map(([t, e]) => [t, e.kinds]),
);

/** Lower-cases the type, trims whitespace and re-quotes parameters; undefined when it does not parse. */
export function normalizeMediaType(s: string): string | undefined {
  const [type, ...params] = s.split(';').map((p) => p.trim());
  if (type === undefined || !/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i.test(type)) return undefined;
  const out = [type.toLowerCase()];
  for (const p of params) {
    if (p === '') continue;
    const m = /^([a-z0-9_.-]+)=(?:"([^"]*)"|([^\s";:/]+))$/i.exec(p);
    if (m === null) return undefined;
    out.push(`${(m[1] as string).toLowerCase()}="${m[2] ?? m[3]}"`);
  }
  return out.join('; ');
}

/** Provisioning media types: unsigned and signed CoRIMs of each profile (and the legacy unsigned types). */
export const PROVISIONING_MEDIA_TYPES: readonly string[] = [
  ...Object.values(CORIM_PROFILE).flatMap((p) => [`application/rim+cbor; profile="${p}"`, `application/rim+cose; profile="${p}"`]),
  ...Object.keys(LEGACY_PROFILES).map((p) => `application/corim-unsigned+cbor; profile="${p}"`),
];

/** Whether an Accept header allows `type` (absent or empty: anything; `*\/*` and `type/*` too). */
export function accepts(header: string | undefined, type: string): boolean {
  if (header === undefined || header.trim() === '') return true;
  return header.split(',').some((a) => {
    const t = a.split(';')[0]?.trim().toLowerCase();
    return t === '*/*' || t === type || t === `${type.split('/')[0]}/*`;
  });
}

/**
 * The first of `offered` the Accept header allows, in the header's order (an absent or empty header
 * takes the first offered; q-values are not weighed, as Veraison's gin does not); undefined when none.
 */
export function negotiate(header: string | undefined, offered: readonly string[]): string | undefined {
  if (header === undefined || header.trim() === '') return offered[0];
  for (const a of header.split(',')) {
    const t = a.split(';')[0]?.trim().toLowerCase();
    const hit = offered.find((o) => t === '*/*' || t === o || t === `${o.split('/')[0]}/*`);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** The content types under which Veraison unwraps a CMW record. */
export const CMW_MEDIA_TYPES: readonly string[] = [
  'application/cmw',
  'application/cmw+cbor',
  'application/cmw+json',
  'application/vnd.veraison.cmw',
  'application/vnd.veraison.cmw+cbor',
  'application/vnd.veraison.cmw+json',
];

const cmwFail = (why: string): never => {
  throw new RseError('E_CBOR', `could not unwrap the CMW: ${why}`, { field: 'cmw' });
};

/**
 * A CMW record's media type and value: `[type, value(, indicator)]` in CBOR (type text, value
 * bytes) or JSON (type text, value base64url). `undefined` for a collection (a map), which is not
 * unwrapped. E_CBOR when it is neither.
 */
export function unwrapCmw(body: Uint8Array): { mediaType: string; value: Uint8Array } | undefined {
  const first = body[0];
  if (first === 0x5b || first === 0x7b || first === 0x20) {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch (e) {
      return cmwFail(`not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(v)) return typeof v === 'object' && v !== null ? undefined : cmwFail('not a record');
    const [t, val] = v as unknown[];
    if ((v.length !== 2 && v.length !== 3) || typeof t !== 'string' || typeof val !== 'string')
      return cmwFail('a JSON record is [type, base64url value, indicator?]');
    if (!/^[A-Za-z0-9_-]*$/.test(val)) return cmwFail('the value is not base64url');
    return { mediaType: t, value: new Uint8Array(Buffer.from(val, 'base64url')) };
  }
  let v: unknown;
  try {
    v = decodeStrict(body, 'cmw');
  } catch (e) {
    return cmwFail((e as Error).message);
  }
  if (v instanceof Map) return undefined;
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) return cmwFail('a CBOR record is [type, value, indicator?]');
  const [t, val] = v as unknown[];
  const value = bytesOf(val);
  if (typeof t !== 'string' || value === undefined) return cmwFail('a CBOR record has a text type and a byte string value');
  return { mediaType: t, value };
}
