/**
 * Writing claims: JSON (annotated evidence, `rse token print`) and CBOR (`rse token create`).
 * @module
 */
import { encode } from 'cbor2';
import { toBase64 } from '../cose/cbor.ts';
import {
  CCA_PLATFORM_TABLE,
  type ClaimDef,
  type Claims,
  type ExtensionDevice,
  PSA_TABLES,
  REALM_TABLE,
  type SwComponent,
  type TbbRotpk,
} from './claims.ts';

// ---------------------------------------------------------------------------------------------
// Writing claims: JSON (annotated evidence, `rse token print`) and CBOR (`rse token create`)

export type Json = string | number | boolean | Json[] | { [k: string]: Json };

export function swToJson(c: SwComponent): Record<string, Json> {
  return {
    ...(c.measurementType === undefined ? {} : { 'measurement-type': c.measurementType }),
    'measurement-value': toBase64(c.measurementValue),
    ...(c.version === undefined ? {} : { version: c.version }),
    ...(c.signerId === undefined ? {} : { 'signer-id': toBase64(c.signerId) }),
    ...(c.measurementDescription === undefined ? {} : { 'measurement-description': c.measurementDescription }),
  };
}

export function swToCbor(c: SwComponent): Map<number, unknown> {
  const m = new Map<number, unknown>();
  if (c.measurementType !== undefined) m.set(1, c.measurementType);
  m.set(2, c.measurementValue);
  if (c.version !== undefined) m.set(4, c.version);
  if (c.signerId !== undefined) m.set(5, c.signerId);
  if (c.measurementDescription !== undefined) m.set(6, c.measurementDescription);
  return m;
}

export type Field = { readonly d: ClaimDef | undefined; readonly v: unknown };

/** An item of a cca_platform#2.0.0 list claim: its fields by CBOR key and JSON name. */
export type Item = readonly (readonly [number, string, unknown])[];

const tbbItem = (r: TbbRotpk): Item => [
  [1, 'name', r.name],
  [2, 'active-array-index', r.activeArrayIndex],
  [3, 'index', r.index],
  [4, 'hash', r.hash],
];
const extensionItem = (e: ExtensionDevice): Item => [
  [1, 'hash-algo-id', e.hashAlgId],
  [2, 'device-measurements-digest', e.deviceMeasurementsDigest],
  [3, 'certificate-chain-digest', e.certificateChainDigest],
  [4, 'uses-ide', e.usesIde],
  [5, 'protocol', e.protocol],
  [6, 'vca-digest', e.vcaDigest],
  [7, 'device-type', e.deviceType],
  [8, 'encryption-type', e.encryptionType],
];
const itemJson = (i: Item): Record<string, Json> =>
  Object.fromEntries(i.filter(([, , v]) => v !== undefined).map(([, n, v]) => [n, v instanceof Uint8Array ? toBase64(v) : (v as Json)]));
const itemCbor = (i: Item): Map<number, unknown> => new Map(i.filter(([, , v]) => v !== undefined).map(([k, , v]) => [k, v]));

export function fieldsOf(c: Claims): Field[] {
  if (c.kind === 'psa') {
    const t = PSA_TABLES[c.profile];
    return [
      { d: t.profile, v: c.profileClaim },
      { d: t.clientId, v: c.clientId },
      { d: t.lifecycle, v: c.lifecycle },
      { d: t.implementationId, v: c.implementationId },
      { d: t.bootSeed, v: c.bootSeed },
      { d: t.certificationReference, v: c.certificationReference },
      { d: t.swComponents, v: c.swComponents.length > 0 ? c.swComponents : undefined },
      { d: t.noSwMeasurements, v: c.noSwMeasurements ? 1 : undefined },
      { d: t.nonce, v: c.nonce },
      { d: t.instanceId, v: c.instanceId },
      { d: t.verificationService, v: c.verificationService },
    ];
  }
  if (c.kind === 'cca-platform') {
    const t = CCA_PLATFORM_TABLE;
    return [
      { d: t.profile, v: c.profile },
      { d: t.challenge, v: c.challenge },
      { d: t.implementationId, v: c.implementationId },
      { d: t.instanceId, v: c.instanceId },
      { d: t.config, v: c.config },
      { d: t.lifecycle, v: c.lifecycle },
      { d: t.swComponents, v: c.swComponents },
      { d: t.verificationService, v: c.verificationService },
      { d: t.hashAlgId, v: c.hashAlgId },
      { d: t.clientId, v: c.clientId },
      { d: t.manufacturingConfig, v: c.manufacturingConfig },
      { d: t.extension, v: c.extension?.map(extensionItem) },
      { d: t.tbbRotpk, v: c.tbbRotpk?.map(tbbItem) },
      { d: t.peerSigners, v: c.peerSigners },
    ];
  }
  const t = REALM_TABLE;
  return [
    { d: t.profile, v: c.profile === 'legacy' ? undefined : c.profile },
    { d: t.challenge, v: c.challenge },
    { d: t.instanceId, v: c.instanceId },
    { d: t.personalizationValue, v: c.personalizationValue },
    { d: t.initialMeasurement, v: c.initialMeasurement },
    { d: t.extensibleMeasurements, v: c.extensibleMeasurements },
    { d: t.hashAlgId, v: c.hashAlgId },
    { d: t.publicKey, v: c.publicKey },
    { d: t.publicKeyHashAlgId, v: c.publicKeyHashAlgId },
    { d: t.mecPolicy, v: c.mecPolicy },
  ];
}

/** The claims in Veraison's JSON names (bytes as standard base64), keys sorted as Veraison writes them. */
export function claimsToJson(c: Claims): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const { d, v } of fieldsOf(c)) {
    if (d === undefined || v === undefined) continue;
    if (v instanceof Uint8Array) out[d.json] = toBase64(v);
    else if (d.type === 'swcomps') out[d.json] = (v as SwComponent[]).map(swToJson);
    else if (d.type === 'bytes-array') out[d.json] = (v as Uint8Array[]).map(toBase64);
    else if (d.type === 'items') out[d.json] = (v as Item[]).map(itemJson);
    else out[d.json] = v as Json;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The claims as a CBOR map (what a token's payload encodes). */
export function claimsToMap(c: Claims): Map<number, unknown> {
  const m = new Map<number, unknown>();
  for (const { d, v } of fieldsOf(c)) {
    if (d === undefined || v === undefined) continue;
    m.set(d.key, d.type === 'swcomps' ? (v as SwComponent[]).map(swToCbor) : d.type === 'items' ? (v as Item[]).map(itemCbor) : v);
  }
  return m;
}

/** The CBOR payload of a claim set. */
export function encodeClaims(c: Claims): Uint8Array {
  return encode(claimsToMap(c));
}
