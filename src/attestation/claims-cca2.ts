/**
 * The claims the 2024 CCA profiles add (draft-ffm-rats-cca-token-03): on `cca_platform#2.0.0` the
 * client id (1), manufacturing config, extension devices, TBB ROTPKs and peer signers; on
 * `realm#2.0.0` the MEC policy and realm instance id, read the two ways verifiers read them today.
 * @module
 */
import { cborType } from '../cose/cbor.ts';
import {
  CCA_PLATFORM_RULES,
  CCA_PLATFORM_TABLE,
  type CcaField,
  type CcaPlatformProfile,
  type ExtensionDevice,
  REALM_READING_NAMES,
  type RealmReadings,
  type TbbRotpk,
  type Warnings,
} from './claims.ts';
import { bad, isInt, type Mode, nonEmptyText, opt, readBytes, type Source, sized, text } from './claims-read-base.ts';

/** An item's fields: CBOR integer keys, or JSON names (the same order). */
function itemFields(src: Source, v: unknown, claim: string, names: readonly string[]): Map<number, unknown> {
  const out = new Map<number, unknown>();
  if (src.json) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(claim, 'must be an object');
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const i = names.indexOf(k);
      if (i < 0) bad(claim, `unknown name "${k}"`);
      out.set(i + 1, x);
    }
    return out;
  }
  if (!(v instanceof Map)) bad(claim, `must be a map, not ${cborType(v)}`);
  for (const [k, x] of v as Map<unknown, unknown>) {
    if (!isInt(k) || k < 1 || k > names.length) bad(claim, `unknown key ${String(k)}`);
    out.set(k, x);
  }
  return out;
}

function nonEmptyArray(v: unknown, claim: string): unknown[] {
  if (!Array.isArray(v)) bad(claim, `must be an array, not ${cborType(v)}`);
  if ((v as unknown[]).length === 0) bad(claim, 'must have at least one item if set');
  return v as unknown[];
}

const TBB_NAMES = ['name', 'active-array-index', 'index', 'hash'] as const;

function tbbRotpk(src: Source) {
  return (v: unknown, claim: string): TbbRotpk[] =>
    nonEmptyArray(v, claim).map((item, i) => {
      const at = `${claim}[${i}]`;
      const f = itemFields(src, item, at, TBB_NAMES);
      for (const [k, n] of TBB_NAMES.entries()) if (!f.has(k + 1)) bad(at, `missing ${n}`);
      const int = (k: number, n: string): number => (isInt(f.get(k)) ? (f.get(k) as number) : bad(at, `${n} must be an integer`));
      return {
        name: nonEmptyText(f.get(1), `${at}.name`),
        activeArrayIndex: int(2, 'active-array-index'),
        index: int(3, 'index'),
        hash: sized(src, [32, 48, 64])(f.get(4), `${at}.hash`),
      };
    });
}

const EXT_NAMES = [
  'hash-algo-id',
  'device-measurements-digest',
  'certificate-chain-digest',
  'uses-ide',
  'protocol',
  'vca-digest',
  'device-type',
  'encryption-type',
] as const;
/** Protocols whose devices report a VCA digest (and only they). */
const VCA_PROTOCOLS: ReadonlySet<string> = new Set(
  ['1.2.0', '1.2.1', '1.2.2', '1.2.3', '1.3.0', '1.3.1', '1.3.2', '1.4.0'].map((v) => `spdm-${v}`),
);
/** Device types that report an encryption type (and only they): 0 host-side, 1 target-side, 2 none. */
const ENCRYPTING_TYPES: ReadonlySet<string> = new Set(['cxl-type-3']);

function extension(src: Source) {
  return (v: unknown, claim: string): ExtensionDevice[] =>
    nonEmptyArray(v, claim).map((item, i) => {
      const at = `${claim}[${i}]`;
      const f = itemFields(src, item, at, EXT_NAMES);
      for (const k of [2, 3, 4, 5, 7]) if (!f.has(k)) bad(at, `missing ${EXT_NAMES[k - 1]}`);
      const digest = (k: number): Uint8Array => sized(src, [32, 48, 64])(f.get(k), `${at}.${EXT_NAMES[k - 1]}`);
      const usesIde = f.get(4);
      if (typeof usesIde !== 'boolean') bad(`${at}.uses-ide`, 'must be true or false');
      const protocol = nonEmptyText(f.get(5), `${at}.protocol`);
      const deviceType = nonEmptyText(f.get(7), `${at}.device-type`);
      if (VCA_PROTOCOLS.has(protocol) !== f.has(6))
        bad(`${at}.vca-digest`, f.has(6) ? `not expected for protocol ${protocol}` : `required for protocol ${protocol}`);
      if (ENCRYPTING_TYPES.has(deviceType) !== f.has(8))
        bad(`${at}.encryption-type`, f.has(8) ? `not expected for device-type ${deviceType}` : `required for device-type ${deviceType}`);
      const enc = f.get(8);
      if (f.has(8) && !(enc === 0 || enc === 1 || enc === 2)) bad(`${at}.encryption-type`, `unknown encryption type ${String(enc)}`);
      return {
        ...(f.has(1) ? { hashAlgId: nonEmptyText(f.get(1), `${at}.hash-algo-id`) } : {}),
        deviceMeasurementsDigest: digest(2),
        certificateChainDigest: digest(3),
        usesIde: usesIde as boolean,
        protocol,
        ...(f.has(6) ? { vcaDigest: digest(6) } : {}),
        deviceType,
        ...(f.has(8) ? { encryptionType: enc as number } : {}),
      };
    });
}

const nonEmptyBytes =
  (src: Source) =>
  (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (b.length === 0) bad(claim, 'must not be empty if set');
    return b;
  };

/**
 * The claims a CCA platform profile adds, read and checked; a claim of another profile in the
 * token is refused in strict mode or JSON and ignored with a warning otherwise.
 */
export function ccaPlatformExtras(src: Source, profile: CcaPlatformProfile, mode: Mode, warnings: Warnings) {
  const rules = CCA_PLATFORM_RULES[profile];
  const t = CCA_PLATFORM_TABLE;
  const readers = {
    clientId: (v: unknown, c: string): number => (v === 1 ? 1 : bad(c, `must be 1, not ${String(v)}`)),
    manufacturingConfig: nonEmptyBytes(src),
    extension: extension(src),
    tbbRotpk: tbbRotpk(src),
    peerSigners: nonEmptyBytes(src),
  };
  const fields = Object.keys(readers) as (keyof typeof readers & CcaField)[];
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const d = t[f];
    if (rules.requires.includes(f)) {
      if (!src.has(d)) bad(d.json, 'missing mandatory claim');
    } else if (!rules.allows.includes(f)) {
      if (src.has(d)) {
        if (mode === 'strict' || src.json) bad(d.json, `claim not in profile ${profile}`);
        warnings.push(`${d.json}: not a claim of ${profile}; ignored`);
      }
      continue;
    }
    const v = opt(src, d, readers[f] as (v: unknown, c: string) => unknown);
    if (v !== undefined) out[f] = v;
  }
  return out as {
    clientId?: number;
    manufacturingConfig?: Uint8Array;
    extension?: ExtensionDevice[];
    tbbRotpk?: TbbRotpk[];
    peerSigners?: Uint8Array;
  };
}

/**
 * realm#2.0.0 as each verifier reads it: TF-M tools' iat-verifier wants the MEC policy an integer
 * (0 or 1) and the realm instance id present; Veraison's rust-ccatoken wants it "private" or
 * "shared" (and ignores an instance id). A token that satisfies neither is refused with both reasons.
 */
export function realmReadings(mecPolicy: number | string | undefined, instanceId: Uint8Array | undefined, claim: string): RealmReadings {
  const given = mecPolicy === undefined ? ' (missing)' : `, not ${JSON.stringify(mecPolicy)}`;
  const tfm =
    mecPolicy !== 0 && mecPolicy !== 1
      ? `MEC policy must be the integer 0 or 1${given}`
      : instanceId === undefined
        ? 'the realm instance id (256) is missing'
        : true;
  const veraison = mecPolicy === 'private' || mecPolicy === 'shared' ? true : `mec-policy must be "private" or "shared"${given}`;
  if (tfm !== true && veraison !== true)
    bad(
      claim,
      `satisfies no reading of realm#2.0.0: ${REALM_READING_NAMES['tf-m-tools']}: ${tfm}; ${REALM_READING_NAMES.veraison}: ${veraison}`,
    );
  return { 'tf-m-tools': tfm, veraison };
}

/** The MEC policy claim's value as carried: an integer or a text, else refused. */
export const mecValue = (v: unknown, c: string): number | string =>
  isInt(v) ? v : typeof v === 'string' ? text(v, c) : bad(c, `must be an integer or text, not ${cborType(v)}`);
