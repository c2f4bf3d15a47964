/**
 * `rse endorse`: the reference values of a build, for the device that boots it. From a
 * `rse flash build` manifest, the software components its boot chain will measure (slot, type,
 * version, signer id, and the slot value H(0ⁿ ‖ digest) the token carries); from the provisioned
 * device, what lives in OTP (BL1_2) and its attestation identity (implementation id, instance id,
 * IAK public key). Together: trust anchor, reference values and platform config as a CoRIM in
 * Veraison's CCA platform profile.
 * @module
 */

import { CORIM_PROFILE, type Endorsements, type SwReference, type TrustAnchor } from '../attestation/corim.ts';
import { encodeCorim } from '../attestation/corim-write.ts';
import { extendedSlotValue } from '../boot/shared-data.ts';
import { ecKeyFromPoint, publicPem } from '../cose/keys.ts';
import { fipUuidToString } from '../fip/fip.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { fipEntryUuid } from '../profiles/fip-table.ts';
import type { DeviceFacts } from './identity.ts';

/** One software component the device's token will carry, and where its reference comes from. */
export interface ReferenceComponent {
  readonly slot: number;
  readonly swType: string;
  readonly version: string;
  readonly signerId: Uint8Array;
  /** What the boot stage measured (the image digest). */
  readonly measurement: Uint8Array;
  /** The measured-boot slot value the token reports: H(0ⁿ ‖ measurement). */
  readonly value: Uint8Array;
  /** `image NAME` (from the manifest) or `OTP …` (from the device). */
  readonly source: string;
}

/** The CoRIM of a build and device, and the reference components it holds. */
export interface EndorseResult {
  readonly components: readonly ReferenceComponent[];
  readonly endorsements: Endorsements;
  /** The unsigned CoRIM (tag 501). */
  readonly corim: Uint8Array;
}

// The manifest, read as untrusted JSON ---------------------------------------------------------

interface ManifestImage {
  readonly name: string;
  readonly kind: string;
  readonly version: string | undefined;
  readonly imageHash: Uint8Array | undefined;
  readonly signerId: Uint8Array | undefined;
}

interface Manifest {
  readonly platform: string;
  readonly images: readonly ManifestImage[];
  /** FIP entries: UUID (upper case) → image name. */
  readonly fip: ReadonlyMap<string, string>;
  /** Raw host-flash placements: offset → image name. */
  readonly placements: ReadonlyMap<number, string>;
}

function bad(msg: string, field: string): never {
  throw new RseError('E_MANIFEST', msg, { field });
}

type Obj = Readonly<Record<string, unknown>>;
function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${field} must be an object`, field);
  return v as Obj;
}
function arr(v: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(v)) bad(`${field} must be a list`, field);
  return v;
}
function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') bad(`${field} must be a non-empty string`, field);
  return v;
}
function hexOf(v: unknown, field: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2}){32,64}$/.test(v)) bad(`${field} must be 32 to 64 bytes of hex`, field);
  return fromHex(v);
}

/** Reads the parts of a `rse flash build` manifest that name what the boot chain measures. */
export function readManifest(json: unknown): Manifest {
  const m = obj(json, 'manifest');
  const platform = text(m.platform, 'platform');
  const images = arr(m.images, 'images').map((x, i): ManifestImage => {
    const f = `images[${i}]`;
    const o = obj(x, f);
    return {
      name: text(o.name, `${f}.name`),
      kind: text(o.kind, `${f}.kind`),
      version: o.version === undefined ? undefined : text(o.version, `${f}.version`),
      imageHash: hexOf(o.imageHash, `${f}.imageHash`),
      signerId: hexOf(o.signerId, `${f}.signerId`),
    };
  });
  const fip = new Map<string, string>();
  if (m.fip !== undefined)
    for (const [i, x] of arr(obj(m.fip, 'fip').entries, 'fip.entries').entries()) {
      const e = obj(x, `fip.entries[${i}]`);
      if (e.image !== undefined) fip.set(text(e.uuid, `fip.entries[${i}].uuid`).toUpperCase(), text(e.image, `fip.entries[${i}].image`));
    }
  const placements = new Map<number, string>();
  const host = m.hostFlash === undefined ? undefined : obj(m.hostFlash, 'hostFlash');
  if (host?.type === 'raw')
    for (const [i, x] of arr(host.placements, 'hostFlash.placements').entries()) {
      const p = obj(x, `hostFlash.placements[${i}]`);
      const what = text(p.what, `hostFlash.placements[${i}].what`);
      if (typeof p.offset !== 'number' || !Number.isSafeInteger(p.offset) || p.offset < 0)
        bad(`hostFlash.placements[${i}].offset must be a non-negative integer`, `hostFlash.placements[${i}].offset`);
      if (what.startsWith('image ')) placements.set(p.offset, what.slice(6));
    }
  return { platform, images, fip, placements };
}

// Reference values -------------------------------------------------------------------------------

function measured(img: ManifestImage, what: string): { version: string; imageHash: Uint8Array; signerId: Uint8Array } {
  const field = `images.${img.name}`;
  if (img.imageHash === undefined) bad(`image ${img.name} (${what}) has no imageHash: it is not a signed image`, `${field}.imageHash`);
  if (img.signerId === undefined)
    bad(`image ${img.name} (${what}) has no signerId: rebuild with this rsekit (rse flash build) or sign it`, `${field}.signerId`);
  return { version: img.version ?? '0.0.0+0', imageHash: img.imageHash, signerId: img.signerId };
}

/**
 * The components the device's token will carry when it boots this build, in slot order: what
 * BL1_1 measured from OTP, BL2 (when BL1_2 measures it), then every image BL2 loads.
 */
export function referenceComponents(manifestJson: unknown, facts: DeviceFacts): ReferenceComponent[] {
  const m = readManifest(manifestJson);
  if (m.platform !== facts.profile) bad(`the manifest is a ${m.platform} build, the device is ${facts.profile}`, 'platform');
  const byName = new Map(m.images.map((i) => [i.name, i]));
  const out: ReferenceComponent[] = facts.romMeasurements.map((r) => ({
    slot: r.slot,
    swType: r.swType,
    version: r.version,
    signerId: r.signerId,
    measurement: r.value,
    value: extendedSlotValue(r.value),
    source: 'OTP (BL1_2 image)',
  }));
  if (facts.bl2Measurement !== undefined) {
    const bl2 = m.images.filter((i) => i.kind === 'bl1');
    if (bl2.length !== 1) bad(`the manifest has ${bl2.length} BL2 images (kind bl1); BL1_2 loads one`, 'images');
    const img = bl2[0] as ManifestImage;
    const v = measured(img, 'BL2');
    out.push({
      ...facts.bl2Measurement,
      version: v.version,
      signerId: v.signerId,
      measurement: v.imageHash,
      value: extendedSlotValue(v.imageHash),
      source: `image ${img.name}`,
    });
  }
  for (const spec of facts.bl2.images) {
    const uuid = spec.fipEntry === undefined ? undefined : fipUuidToString(fipEntryUuid(spec.fipEntry));
    const where =
      uuid !== undefined
        ? { name: m.fip.get(uuid), at: `FIP entry ${uuid}` }
        : { name: m.placements.get(spec.flash?.[0] ?? -1), at: `host flash offset 0x${(spec.flash?.[0] ?? 0).toString(16)}` };
    const img = where.name === undefined ? undefined : byName.get(where.name);
    if (img === undefined)
      bad(`BL2 loads image ${spec.index} (${spec.name}) from the ${where.at}, and the manifest places no image there`, 'images');
    const v = measured(img, spec.name);
    out.push({
      slot: 2 + spec.index,
      swType: spec.swType,
      version: v.version,
      signerId: v.signerId,
      measurement: v.imageHash,
      value: extendedSlotValue(v.imageHash),
      source: `image ${img.name}`,
    });
  }
  return out.sort((a, b) => a.slot - b.slot);
}

/** Named Information hash algorithm id of SHA-256 (the measured-boot extend hash). */
const SHA_256 = 1;

/** The trust anchor, reference values and platform config for the device booting this build. */
export function endorse(manifestJson: unknown, facts: DeviceFacts, o: { id?: string; creator?: string } = {}): EndorseResult {
  const components = referenceComponents(manifestJson, facts);
  const { implementationId, instanceId, iakPublic } = facts.identity;
  // The CCA platform profile (and Veraison's CoRIM store) key reference values by a 32-byte
  // implementation id; TF-M 2.3.1's attest_hal.c reports a 4-byte dummy (0xACDCABBA).
  if (implementationId.length !== 32)
    throw new RseError(
      'E_UNSUPPORTED',
      `the device reports a ${implementationId.length}-byte implementation id (${toHex(implementationId)}); CCA reference values need 32 bytes, so no CoRIM can name this platform (TF-M 2.3.1's attest_hal.c returns a 4-byte dummy; a product's HAL returns its own: rse device create --implementation-id HEX)`,
      { field: 'implementation id' },
    );
  const key = ecKeyFromPoint(iakPublic);
  const anchor: TrustAnchor = { implementationId, instanceId, key, keyPem: publicPem(key) };
  const software: SwReference[] = components.map((c) => ({
    implementationId,
    // An empty type (SCP BL1 on RSE) names nothing to compare.
    name: c.swType === '' ? undefined : c.swType,
    version: c.version,
    signerId: c.signerId,
    digests: [{ alg: SHA_256, value: c.value }],
  }));
  const config = facts.identity.platformConfig;
  const platformConfigs = [{ implementationId, value: config, mask: new Uint8Array(config.length).fill(0xff) }];
  const endorsements: Endorsements = { profile: CORIM_PROFILE.CCA_PLATFORM, anchors: [anchor], software, platformConfigs, realms: [] };
  const corim = encodeCorim({
    id: o.id ?? `rsekit-${toHex(instanceId.subarray(1, 9))}`,
    profile: CORIM_PROFILE.CCA_PLATFORM,
    anchors: [anchor],
    software,
    platformConfigs,
    ...(o.creator === undefined ? {} : { creator: o.creator }),
  });
  return { components, endorsements, corim };
}
