/**
 * A client of a Veraison-compatible verifier (`rse verifier serve`, Veraison's services): the
 * relying party's challenge-response round trip and the endorser's provisioning submit, over
 * HTTP(S) with the platform's fetch. Every failure is an `E_VERIFIER` naming the status and the
 * verifier's problem detail; nothing secret is in a message (a bearer token never is).
 * @module
 */
import { fromBase64Url } from '../cose/cbor.ts';
import { keyFromJwk, type TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';

/** The session and provisioning-result media types of Veraison's API (the server's too). */
export const SESSION_MEDIA_TYPE = 'application/vnd.veraison.challenge-response-session+json';
export const PROVISIONING_MEDIA_TYPE = 'application/vnd.veraison.provisioning-session+json';

/** A challenge-response session the verifier opened. */
export interface VerifierSession {
  /** The session's absolute URL (from the Location header). */
  readonly url: string;
  readonly nonce: Uint8Array;
  /** The evidence media types the verifier accepts. */
  readonly accept: readonly string[];
}

export interface ClientOptions {
  /** Per request, in ms (default 30 s). */
  readonly timeoutMs?: number;
}

function fail(msg: string, cause?: unknown): never {
  throw new RseError('E_VERIFIER', msg, { field: 'verifier', ...(cause === undefined ? {} : { cause }) });
}

/** The base URL with one trailing slash removed; E_USAGE when it is not http(s). */
export function verifierBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RseError('E_USAGE', `${url} is not a URL (http://host:port)`, { field: '--verifier' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new RseError('E_USAGE', `${url}: the verifier is reached over http or https`, { field: '--verifier' });
  return u.href.replace(/\/+$/, '');
}

async function call(url: string, init: RequestInit, o: ClientOptions): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  } catch (e) {
    const why = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    return fail(`${init.method ?? 'GET'} ${url}: the verifier cannot be reached (${why})`, e);
  }
}

/** The verifier's reason for a refusal: its problem+json detail, or the start of its body. */
async function refusal(r: Response, what: string): Promise<never> {
  const text = await r.text().catch(() => '');
  let detail = text.slice(0, 300);
  try {
    const j = JSON.parse(text) as { detail?: unknown; title?: unknown };
    if (typeof j.detail === 'string') detail = j.detail;
    else if (typeof j.title === 'string') detail = j.title;
  } catch {
    // not JSON: the text itself
  }
  return fail(`${what}: ${r.status} ${r.statusText}${detail === '' ? '' : `: ${detail}`}`);
}

async function json(r: Response, what: string): Promise<Record<string, unknown>> {
  try {
    const v = (await r.json()) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // below
  }
  return fail(`${what}: the verifier's answer is not a JSON object`);
}

/** POST newSession: a nonce of `nonceSize` bytes (or the given nonce) and where to send the evidence. */
export async function newSession(
  base: string,
  n: { nonceSize?: number; nonce?: Uint8Array },
  o: ClientOptions = {},
): Promise<VerifierSession> {
  const q = n.nonce !== undefined ? `nonce=${Buffer.from(n.nonce).toString('base64url')}` : `nonceSize=${n.nonceSize ?? 32}`;
  const url = `${base}/challenge-response/v1/newSession?${q}`;
  const r = await call(url, { method: 'POST', headers: { accept: SESSION_MEDIA_TYPE } }, o);
  if (r.status !== 201) return refusal(r, 'newSession');
  const loc = r.headers.get('location');
  if (loc === null) return fail('newSession: no Location header');
  const body = await json(r, 'newSession');
  if (typeof body.nonce !== 'string') return fail('newSession: no nonce in the session');
  // Veraison sends standard base64 before 2026 and base64url since: both read.
  const nonce = fromBase64Url(body.nonce.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, ''), 'nonce');
  const accept = Array.isArray(body.accept) ? body.accept.filter((a): a is string => typeof a === 'string') : [];
  return { url: new URL(loc, `${base}/challenge-response/v1/`).href, nonce, accept };
}

/** POST the evidence to the session; the EAR (a JWT) the verifier returns. */
export async function submitEvidence(s: VerifierSession, mediaType: string, evidence: Uint8Array, o: ClientOptions = {}): Promise<string> {
  const r = await call(
    s.url,
    { method: 'POST', headers: { 'content-type': mediaType, accept: SESSION_MEDIA_TYPE }, body: Buffer.from(evidence) },
    o,
  );
  if (r.status !== 200) return refusal(r, 'evidence');
  const body = await json(r, 'evidence');
  if (body.status !== 'complete' || typeof body.result !== 'string')
    return fail(`evidence: the session is ${String(body.status)}${typeof body.result === 'string' ? '' : ', with no result'}`);
  return body.result;
}

/** DELETE the session (a relying party cleans up; a failure here is not reported). */
export async function deleteSession(s: VerifierSession, o: ClientOptions = {}): Promise<void> {
  await call(s.url, { method: 'DELETE' }, o).catch(() => undefined);
}

/** The EAR verification key the verifier publishes (`/.well-known/veraison/verification`). */
export async function discoveredEarKey(base: string, o: ClientOptions = {}): Promise<TokenKey> {
  const r = await call(`${base}/.well-known/veraison/verification`, { headers: { accept: 'application/json' } }, o);
  if (r.status !== 200) return refusal(r, 'discovery');
  const k = (await json(r, 'discovery'))['ear-verification-key'];
  if (typeof k !== 'object' || k === null) return fail('discovery: no ear-verification-key');
  return keyFromJwk(k as Parameters<typeof keyFromJwk>[0]);
}

/** POST a CoRIM to the provisioning API; the verifier's `status` (success) or E_VERIFIER with its failure reason. */
export async function submitEndorsements(
  base: string,
  corim: Uint8Array,
  mediaType: string,
  o: ClientOptions & { readonly bearer?: string } = {},
): Promise<Record<string, unknown>> {
  const r = await call(
    `${base}/endorsement-provisioning/v1/submit`,
    {
      method: 'POST',
      headers: {
        'content-type': mediaType,
        accept: PROVISIONING_MEDIA_TYPE,
        ...(o.bearer === undefined ? {} : { authorization: `Bearer ${o.bearer}` }),
      },
      body: Buffer.from(corim),
    },
    o,
  );
  if (r.status !== 200 && r.status !== 201) return refusal(r, 'submit');
  const body = await json(r, 'submit');
  if (body.status === 'failed')
    return fail(`submit: the verifier refused the CoRIM: ${String(body['failure-reason'] ?? 'no reason given')}`);
  return body;
}
