/**
 * Writing CoRIMs: one CoMID per reference-value or trust-anchor set, under the profile's tag and
 * with content-derived ids, as `rse endorse` makes them.
 * @module
 */

import { encode } from 'cbor2';
import { Tag } from '../cose/cbor.ts';
import { hash } from '../crypto/index.ts';
import { toHex } from '../lib/hex.ts';
import {
  CORIM_PROFILE,
  type CorimProfile,
  type Digest,
  fail,
  type PlatformConfigReference,
  type RealmReference,
  type SwReference,
  type TrustAnchor,
} from './corim.ts';

// ---------------------------------------------------------------------------------------------
// Writing

/** What {@link encodeCorim} writes: trust anchors and platform reference values of one profile. */
export interface CorimContent {
  /** corim-id (text). */
  readonly id: string;
  readonly profile: CorimProfile;
  readonly anchors: readonly Omit<TrustAnchor, 'key'>[];
  readonly software: readonly SwReference[];
  readonly platformConfigs: readonly PlatformConfigReference[];
  /** Realm reference values (the CCA realm profile only): RIM, REMs and personalisation value. */
  readonly realms?: readonly RealmReference[];
  /** The entity named as the CoRIM's creator. */
  readonly creator?: string;
}

/** A tag id that names its content: the first 16 bytes of its SHA-256, as an RFC 9562 v8 UUID. */
export function contentUuid(content: Uint8Array): Uint8Array {
  const h = hash('sha256', content).slice(0, 16);
  h[6] = ((h[6] as number) & 0x0f) | 0x80;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  return h;
}

export function comid(triples: Map<number, unknown>): Tag {
  const body = encode(triples);
  return new Tag(
    506,
    encode(
      new Map<number, unknown>([
        [1, new Map([[0, contentUuid(body)]])],
        [4, triples],
      ]),
    ),
  );
}

/** The environment of a triple: class id (tagged bytes) and, for a key, the instance id (UEID). */
const environment = (impl: Uint8Array, instance?: Uint8Array): Map<number, unknown> => {
  const e = new Map<number, unknown>([[0, new Map([[0, new Tag(560, impl)]])]]);
  if (instance !== undefined) e.set(1, new Tag(550, instance));
  return e;
};
const digestsMval = (d: readonly Digest[]): Map<number, unknown> => new Map([[2, d.map((x) => [x.alg, x.value])]]);
const measured = (key: string, mval: Map<number, unknown>): Map<number, unknown> =>
  new Map<number, unknown>([
    [0, key],
    [1, mval],
  ]);

/** What reference-value triples are made of: one profile's software, platform configs and realms. */
export type ReferenceContent = Pick<CorimContent, 'profile' | 'software' | 'platformConfigs' | 'realms'>;

/**
 * Reference-value triples (`[environment, [measurement…]]`) as Veraison's Arm profiles lay them
 * out: one per implementation id (its software components, then its platform config), and one per
 * realm (RIM, REMs, personalisation value).
 */
export function referenceTriples(c: ReferenceContent): { readonly platform: unknown[]; readonly realms: unknown[] } {
  const mkey = c.profile === CORIM_PROFILE.PSA ? 'psa.software-component' : 'cca.software-component';
  const byImpl = new Map<string, { impl: Uint8Array; measurements: Map<number, unknown>[] }>();
  const group = (impl: Uint8Array): Map<number, unknown>[] => {
    const k = toHex(impl);
    let g = byImpl.get(k);
    if (g === undefined) {
      g = { impl, measurements: [] };
      byImpl.set(k, g);
    }
    return g.measurements;
  };
  for (const s of c.software) {
    const mval = new Map<number, unknown>();
    if (s.version !== undefined) mval.set(0, new Map([[0, s.version]]));
    mval.set(
      2,
      s.digests.map((d) => [d.alg, d.value]),
    );
    if (s.name !== undefined) mval.set(11, s.name);
    if (s.signerId !== undefined) mval.set(13, [new Tag(560, s.signerId)]);
    group(s.implementationId).push(measured(mkey, mval));
  }
  for (const p of c.platformConfigs) {
    if (c.profile === CORIM_PROFILE.PSA) fail('the PSA profile has no platform config', 'cca.platform-config');
    const mval = new Map<number, unknown>([[4, new Tag(560, p.value)]]);
    mval.set(5, p.mask ?? new Uint8Array(p.value.length).fill(0xff));
    group(p.implementationId).push(measured('cca.platform-config', mval));
  }
  const realms = (c.realms ?? []).map((r) => [
    environment(r.rim),
    [
      measured('cca.rim', digestsMval(r.rimDigests)),
      ...r.rems.flatMap((d, i) => (d === undefined ? [] : [measured(`cca.rem${i}`, digestsMval(d))])),
      ...(r.rpv === undefined ? [] : [measured('cca.rpv', new Map([[4, new Tag(560, r.rpv)]]))]),
    ],
  ]);
  return { platform: [...byImpl.values()].map((g) => [environment(g.impl), g.measurements]), realms };
}

/** Attester verification key triples: one per anchor, its key as a tagged PKIX base64 key. */
export const keyTriples = (anchors: readonly Omit<TrustAnchor, 'key'>[]): unknown[] =>
  anchors.map((a) => [environment(a.implementationId, a.instanceId), [new Tag(554, a.keyPem.trim())]]);

/**
 * Encodes an unsigned CoRIM (tag 501) as Veraison's Arm profiles lay it out: one CoMID with the
 * reference values (a triple per implementation id: software components, then the platform
 * config), one with the attester verification keys (a triple per anchor). Same content, same bytes.
 */
export function encodeCorim(c: CorimContent): Uint8Array {
  const realms = c.realms ?? [];
  if (realms.length > 0 && c.profile !== CORIM_PROFILE.CCA_REALM) fail('realm reference values need the CCA realm profile', 'cca.rim');
  if (c.profile === CORIM_PROFILE.CCA_REALM && (c.software.length > 0 || c.anchors.length > 0 || c.platformConfigs.length > 0))
    fail('the CCA realm profile holds realm reference values only', 'corim.profile');
  const triples = referenceTriples(c);
  const tags: Tag[] = [];
  if (triples.realms.length > 0) tags.push(comid(new Map([[0, triples.realms]])));
  if (triples.platform.length > 0) tags.push(comid(new Map([[0, triples.platform]])));
  if (c.anchors.length > 0) tags.push(comid(new Map([[3, keyTriples(c.anchors)]])));
  if (tags.length === 0) fail('nothing to put in the CoRIM: no anchors and no reference values', 'corim.tags');
  return encode(
    new Tag(
      501,
      new Map<number, unknown>([
        [0, c.id],
        [1, tags],
        // corim.profile is a URI: tag 32 (the draft's CDDL; Veraison's decoder refuses a bare text).
        [3, new Tag(32, c.profile)],
        [
          5,
          [
            new Map<number, unknown>([
              [0, c.creator ?? 'rsekit'],
              [2, [1]],
            ]),
          ],
        ],
      ]),
    ),
  );
}
