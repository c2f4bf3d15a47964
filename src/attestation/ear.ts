/**
 * EAT Attestation Results (EAR, draft-fv-rats-ear as veraison/ear implements it): the AR4SI
 * trustworthiness vector, the status tier it implies, the claims-set JSON and its ES256 JWT form.
 * @module
 */
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import type { TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';

/** The EAR profile rsekit's attestation results carry. */
export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const;
export type TrustClaim = (typeof TRUST_CLAIMS)[number];
export type TrustVector = Record<TrustClaim, number>;

export type EarStatus = 'none' | 'affirming' | 'warning' | 'contraindicated';

/** AR4SI values used by the appraisal. */
export const TRUST = {
  NONE: 0,
  AFFIRMING: 2,
  APPROVED_BOOT: 3,
  UNRECOGNIZED_CONFIG: 32,
  UNRECOGNIZED_RUNTIME: 33,
  CONTRAINDICATED: 96,
  UNRECOGNIZED_INSTANCE: 97,
  CRYPTO_FAILED: 99,
  UNEXPECTED_EVIDENCE: 1,
  VERIFIER_MALFUNCTION: -1,
} as const;

/** A vector with every claim set to `v`. */
export function uniformVector(v: number): TrustVector {
  return Object.fromEntries(TRUST_CLAIMS.map((c) => [c, v])) as TrustVector;
}

/** The tier of one trust claim value (veraison/ear trustclaim.go). */
export function tierOf(v: number): EarStatus {
  if (v >= -1 && v <= 1) return 'none';
  if ((v >= 2 && v <= 31) || (v >= -32 && v <= -2)) return 'affirming';
  if ((v >= 32 && v <= 95) || (v >= -96 && v <= -33)) return 'warning';
  return 'contraindicated';
}

const RANK: Readonly<Record<EarStatus, number>> = { none: 0, affirming: 1, warning: 2, contraindicated: 3 };

/** The status of a vector: the highest tier among its claims. */
export function statusOf(tv: TrustVector): EarStatus {
  let s: EarStatus = 'none';
  for (const c of TRUST_CLAIMS) {
    const t = tierOf(tv[c]);
    if (RANK[t] > RANK[s]) s = t;
  }
  return s;
}

export interface Submod {
  'ear.status': EarStatus;
  'ear.trustworthiness-vector': TrustVector;
  'ear.appraisal-policy-id': string;
  'ear.veraison.annotated-evidence'?: Record<string, unknown>;
  'ear.veraison.policy-claims'?: Record<string, unknown>;
}

/** An EAT Attestation Result: one submodule per scheme with its status and trustworthiness vector. */
export interface Ear {
  eat_profile: typeof EAR_PROFILE;
  iat: number;
  'ear.verifier-id': { build: string; developer: string };
  eat_nonce?: string;
  submods: Record<string, Submod>;
}

/** A submod from its vector (the status follows from it). */
export function submod(scheme: string, tv: TrustVector, extra: Partial<Submod> = {}): Submod {
  return { 'ear.status': statusOf(tv), 'ear.trustworthiness-vector': tv, 'ear.appraisal-policy-id': `policy:${scheme}`, ...extra };
}

const b64u = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

/** Signs an EAR as a compact JWT with ES256 (P-256), ES384 (P-384) or ES512 (P-521). */
export function signEar(ear: Ear, key: TokenKey): string {
  if (key.kind !== 'ec' || (key.privateKey === undefined && key.token === undefined))
    throw new RseError('E_KEY', 'the EAR signing key must be a private EC key', { field: 'ear-key' });
  const alg = ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[key.crv];
  const input = `${b64u(JSON.stringify({ alg, typ: 'JWT' }))}.${b64u(JSON.stringify(ear))}`;
  const hash = ({ ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' } as const)[alg];
  // A token key signs the digest there (CKM_ECDSA gives r ‖ s, the JWS form).
  const sig =
    key.token !== undefined
      ? key.token.sign(createHash(hash).update(input).digest())
      : sign(hash, Buffer.from(input), { key: key.privateKey as KeyObject, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

/** Verifies an EAR JWT and returns its claims; `E_SIGNATURE` when it does not verify. */
export function verifyEar(jwt: string, key: TokenKey): Ear {
  const parts = jwt.split('.');
  if (parts.length !== 3 || key.kind !== 'ec') throw new RseError('E_SIGNATURE', 'not a compact JWS, or not an EC key', { field: 'ear' });
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: Ear;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Ear;
  } catch (e) {
    throw new RseError('E_SIGNATURE', `the EAR JWT is not JSON: ${(e as Error).message}`, { field: 'ear', cause: e });
  }
  const want = ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[key.crv];
  const hash = ({ ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' } as const)[want];
  if (
    header.alg !== want ||
    !verify(hash, Buffer.from(`${h}.${p}`), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))
  )
    throw new RseError('E_SIGNATURE', 'the EAR signature does not verify', { field: 'ear' });
  return claims;
}

/** Checks the shape of an EAR claims-set (profile, iat, verifier id, submods with valid statuses and vectors). */
export function checkEar(v: unknown): Ear {
  const fail = (m: string): never => {
    throw new RseError('E_CLAIMS', `EAR: ${m}`, { field: 'ear' });
  };
  if (typeof v !== 'object' || v === null) return fail('not an object');
  const e = v as Record<string, unknown>;
  if (e.eat_profile !== EAR_PROFILE) fail(`eat_profile must be ${EAR_PROFILE}`);
  if (typeof e.iat !== 'number') fail('iat must be a number');
  const vid = e['ear.verifier-id'] as Record<string, unknown> | undefined;
  if (typeof vid?.build !== 'string' || typeof vid.developer !== 'string') fail('ear.verifier-id needs build and developer');
  const subs = e.submods;
  if (typeof subs !== 'object' || subs === null || Object.keys(subs).length === 0) fail('submods must be a non-empty object');
  for (const [name, sm] of Object.entries(subs as Record<string, Record<string, unknown>>)) {
    if (!Object.hasOwn(RANK, sm['ear.status'] as string)) fail(`submods.${name}: bad ear.status`);
    const tv = sm['ear.trustworthiness-vector'] as Record<string, unknown> | undefined;
    if (tv !== undefined)
      for (const [k, x] of Object.entries(tv))
        if (!(TRUST_CLAIMS as readonly string[]).includes(k) || typeof x !== 'number' || !Number.isInteger(x) || x < -128 || x > 127)
          fail(`submods.${name}: bad trust claim ${k}`);
  }
  return v as Ear;
}

/** One line per submod: its status and the trust claims that are set, and the problem if any. */
export function earLines(ear: Ear): string[] {
  const out: string[] = [];
  for (const [name, s] of Object.entries(ear.submods)) {
    const tv = Object.entries(s['ear.trustworthiness-vector'])
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    out.push(`${name}: ${s['ear.status']} (${tv})`);
    const problem = s['ear.veraison.policy-claims']?.problem;
    if (typeof problem === 'string') out.push(`  ${problem}`);
  }
  return out;
}
