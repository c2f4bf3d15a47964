/**
 * The Veraison-compatible HTTP API on hono: challenge-response sessions
 * (`/challenge-response/v1/newSession`, `…/session/{id}`), endorsement provisioning
 * (`/endorsement-provisioning/v1/submit`) and discovery (`/.well-known/veraison/verification`).
 * Every error is RFC 7807 problem+json; the EAR comes back as an ES256 JWT.
 * @module
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { appraise, type Scheme } from '../attestation/appraise.ts';
import { readCorim } from '../attestation/corim.ts';
import { checkCorimSigners } from '../attestation/corim-sign.ts';
import { signEar } from '../attestation/ear.ts';
import { fromBase64Url, toBase64, toBase64Url } from '../cose/cbor.ts';
import { publicJwk, type TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import { PROVISIONING_MEDIA_TYPE, SESSION_MEDIA_TYPE } from './client.ts';
import type { Session, SqlStore } from './store.ts';

export { PROVISIONING_MEDIA_TYPE, SESSION_MEDIA_TYPE };
export const DISCOVERY_MEDIA_TYPE = 'application/vnd.veraison.discovery+json';

/** Evidence media types and the scheme each selects. */
export const EVIDENCE_MEDIA_TYPES: Readonly<Record<string, Scheme>> = {
  'application/psa-attestation-token': 'PSA_IOT',
  'application/eat-cwt; profile="http://arm.com/psa/2.0.0"': 'PSA_IOT',
  'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"': 'PSA_IOT',
  'application/eat+cwt; eat_profile="tag:psacertified.org,2019:psa#legacy"': 'PSA_IOT',
  'application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"': 'ARM_CCA',
  'application/eat+cwt; eat_profile="tag:arm.com,2023:cca_platform#1.0.0"': 'ARM_CCA',
};

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

/** What {@link createVerifierApp} needs: the store and the EAR signing key, and the session lifetime. */
export interface VerifierOptions {
  readonly store: SqlStore;
  /** Signs the EAR (P-256 ⇒ ES256). */
  readonly earKey: TokenKey;
  readonly sessionTtlSeconds?: number;
  readonly now?: () => number;
  readonly version?: string;
  /**
   * Who may provision endorsements: the bearer tokens accepted on `submit`, or `'open'` (anyone:
   * local experiments only). Default: no token, so provisioning is closed (401).
   */
  readonly provisioning?: { readonly tokens: readonly string[] } | 'open';
  /** Request body limits in bytes (413 beyond): evidence (default 64 KiB), CoRIMs (default 4 MiB). */
  readonly limits?: { readonly evidence?: number; readonly corim?: number };
  /**
   * The keys of trusted CoRIM signers. With any, every CoRIM submitted must be signed
   * (COSE_Sign1) by one of them, within its validity; without, signed CoRIMs are taken unchecked.
   */
  readonly corimSigners?: readonly TokenKey[];
}

/** Default body limits: a PSA or CCA token is a few KiB; a CoRIM with certificates a few hundred. */
export const DEFAULT_LIMITS = { evidence: 64 * 1024, corim: 4 * 1024 * 1024 } as const;

/** Whether `header` carries one of `tokens` as a bearer credential (compared as SHA-256 digests, in constant time). */
function bearerOk(header: string | undefined, tokens: readonly Uint8Array[]): boolean {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null) return false;
  const given = createHash('sha256')
    .update(m[1] as string)
    .digest();
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(given, t) || ok;
  return ok;
}

function problem(status: ContentfulStatusCode, title: string, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title, status, detail }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}

/** 415 with the media types that would have been accepted. */
function unsupported(raw: string | undefined, accept: string): Response {
  return problem(415, 'Unsupported Media Type', `no active plugin found for ${raw ?? '(none)'}`, { accept });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function accepts(header: string | undefined, type: string): boolean {
  if (header === undefined || header.trim() === '') return true;
  return header.split(',').some((a) => {
    const t = a.split(';')[0]?.trim().toLowerCase();
    return t === '*/*' || t === type || t === `${type.split('/')[0]}/*`;
  });
}

/**
 * The verifier as a fetch handler: what {@link createVerifierApp} returns (a Hono application;
 * only these two methods are public, so the package's types do not depend on Hono's).
 */
export interface VerifierApp {
  /** Handles one request (what a server binds to a port). */
  fetch(request: Request): Response | Promise<Response>;
  /** Handles a request to `path` on this application without a network (tests, embedding). */
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

export function createVerifierApp(opts: VerifierOptions): VerifierApp {
  const { store } = opts;
  const now = opts.now ?? Date.now;
  const ttl = opts.sessionTtlSeconds ?? 150;
  const app = new Hono();
  const supported = Object.keys(EVIDENCE_MEDIA_TYPES);
  const prov = opts.provisioning ?? { tokens: [] };
  const tokenDigests = prov === 'open' ? [] : prov.tokens.map((t) => createHash('sha256').update(t).digest());
  const tooLarge = (max: number) => (): Response => problem(413, 'Content Too Large', `the request body is larger than ${max} bytes`);
  const evidenceMax = opts.limits?.evidence ?? DEFAULT_LIMITS.evidence;
  const corimMax = opts.limits?.corim ?? DEFAULT_LIMITS.corim;
  const corimSigners = opts.corimSigners ?? [];

  const sessionJson = (s: Session): Record<string, unknown> => ({
    status: s.status,
    nonce: toBase64Url(s.nonce),
    expiry: s.expiry.toISOString(),
    accept: supported,
    ...(s.evidence === undefined || s.mediaType === undefined ? {} : { evidence: { type: s.mediaType, value: toBase64(s.evidence) } }),
    ...(s.result === undefined ? {} : { result: s.result }),
  });
  const sessionResponse = (body: Record<string, unknown>, status: 200 | 201, headers: Record<string, string> = {}): Response =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': SESSION_MEDIA_TYPE, ...headers } });

  app.get('/.well-known/veraison/verification', (c) =>
    c.body(
      JSON.stringify({
        'ear-verification-key': { ...publicJwk(opts.earKey), alg: 'ES256' },
        'media-types': supported,
        'attestation-schemes': ['PSA_IOT', 'ARM_CCA'],
        version: opts.version ?? 'rsekit',
        'service-state': 'READY',
        'api-endpoints': { newChallengeResponseSession: '/challenge-response/v1/newSession' },
      }),
      200,
      { 'content-type': DISCOVERY_MEDIA_TYPE, 'cache-control': 'max-age=60' },
    ),
  );

  app.post('/challenge-response/v1/newSession', async (c) => {
    if (!accepts(c.req.header('accept'), SESSION_MEDIA_TYPE))
      return problem(406, 'Not Acceptable', `the client must accept ${SESSION_MEDIA_TYPE}`);
    const nonceQ = c.req.query('nonce');
    const sizeQ = c.req.query('nonceSize');
    if (nonceQ !== undefined && sizeQ !== undefined) return problem(400, 'Bad Request', 'nonce and nonceSize are mutually exclusive');
    let nonce: Uint8Array;
    if (nonceQ !== undefined) {
      try {
        nonce = fromBase64Url(nonceQ, 'nonce');
      } catch {
        return problem(400, 'Bad Request', 'failed handling nonce request: nonce is not base64url');
      }
      if (nonce.length < 8 || nonce.length > 64)
        return problem(400, 'Bad Request', `failed handling nonce request: nonce must be between 8 and 64 bytes long; got ${nonce.length}`);
    } else {
      const n = sizeQ === undefined ? 32 : Number(sizeQ);
      if (!Number.isInteger(n) || n < 8 || n > 64) return problem(400, 'Bad Request', 'nonceSize must be in range 8..64');
      nonce = new Uint8Array(randomBytes(n));
    }
    const s = await store.createSession(randomUUID(), nonce, new Date(now() + ttl * 1000));
    return sessionResponse(sessionJson(s), 201, { location: `session/${s.id}` });
  });

  app.get('/challenge-response/v1/session/:id', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) return problem(400, 'Bad Request', `invalid session id ${id}`);
    const s = await store.getSession(id);
    if (s === undefined) return problem(404, 'Not Found', `no session ${id}`);
    return sessionResponse(sessionJson(s), 200);
  });

  app.delete('/challenge-response/v1/session/:id', async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) return problem(400, 'Bad Request', `invalid session id ${id}`);
    return (await store.deleteSession(id)) ? c.body(null, 204) : problem(404, 'Not Found', `no session ${id}`);
  });

  app.post('/challenge-response/v1/session/:id', bodyLimit({ maxSize: evidenceMax, onError: tooLarge(evidenceMax) }), async (c) => {
    const id = c.req.param('id');
    if (!UUID.test(id)) return problem(400, 'Bad Request', `invalid session id ${id}`);
    const raw = c.req.header('content-type');
    const mt = raw === undefined ? undefined : normalizeMediaType(raw);
    const scheme = mt === undefined ? undefined : EVIDENCE_MEDIA_TYPES[mt];
    if (scheme === undefined) return unsupported(raw, supported.join(', '));
    const s = await store.getSession(id);
    if (s === undefined) return problem(404, 'Not Found', `no session ${id}`);
    if (s.expiry.getTime() < now()) return problem(404, 'Not Found', `session ${id} has expired`);
    if (s.status !== 'waiting') return problem(409, 'Conflict', `session ${id} is ${s.status}`);
    const evidence = new Uint8Array(await c.req.arrayBuffer());
    if (evidence.length === 0) return problem(400, 'Bad Request', 'empty evidence');
    let result: string;
    try {
      const a = await appraise(evidence, store, {
        nonce: s.nonce,
        scheme,
        verifierId: { build: opts.version ?? 'rsekit', developer: 'rsekit' },
      });
      result = signEar(a.ear, opts.earKey);
    } catch (e) {
      await store.completeSession(id, 'failed', mt as string, evidence, undefined);
      throw e;
    }
    if (!(await store.completeSession(id, 'complete', mt as string, evidence, result)))
      return problem(409, 'Conflict', `session ${id} was completed meanwhile`);
    return sessionResponse(sessionJson({ ...s, status: 'complete', mediaType: mt, evidence, result }), 200);
  });

  app.post('/endorsement-provisioning/v1/submit', async (c, next) => {
    // The credential first: nothing of an unauthenticated request is read or stored.
    if (prov !== 'open' && !bearerOk(c.req.header('authorization'), tokenDigests))
      return problem(
        401,
        'Unauthorized',
        tokenDigests.length === 0
          ? 'provisioning is closed: this verifier was started without provisioning tokens'
          : 'provisioning needs a valid bearer token (Authorization: Bearer …)',
        { 'www-authenticate': 'Bearer realm="endorsement-provisioning"' },
      );
    return next();
  });
  app.post('/endorsement-provisioning/v1/submit', bodyLimit({ maxSize: corimMax, onError: tooLarge(corimMax) }), async (c) => {
    const raw = c.req.header('content-type');
    const mt = raw === undefined ? undefined : normalizeMediaType(raw);
    if (mt === undefined || !(mt.startsWith('application/rim+cbor') || mt.startsWith('application/rim+cose')))
      return unsupported(raw, 'application/rim+cbor, application/rim+cose');
    const profile = /profile="([^"]*)"/.exec(mt)?.[1];
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length === 0) return problem(400, 'Bad Request', 'empty CoRIM');
    const reply = (o: Record<string, unknown>): Response =>
      new Response(JSON.stringify(o), { status: 200, headers: { 'content-type': PROVISIONING_MEDIA_TYPE } });
    try {
      if (corimSigners.length > 0) checkCorimSigners(body, corimSigners, new Date(now()));
      const r = await store.addEndorsements(readCorim(body, profile), createHash('sha256').update(body).digest());
      // What was stored, or that this CoRIM already was (stored once).
      return reply({
        status: 'success',
        expiry: new Date(now() + ttl * 1000).toISOString(),
        count: r.stored,
        ...(r.duplicate ? { duplicate: true } : { stored: r.kinds }),
      });
    } catch (e) {
      if (!(e instanceof RseError)) throw e;
      return reply({ status: 'failed', 'failure-reason': e.message });
    }
  });

  app.notFound((c) => problem(404, 'Not Found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((e) => problem(500, 'Internal Server Error', e instanceof RseError ? e.message : 'internal error'));
  return app;
}

/** Binds the app to a port; resolves with the address and a close function. */
export async function serveVerifier(
  app: VerifierApp,
  port: number,
  host = '127.0.0.1',
): Promise<{ port: number; close: () => Promise<void> }> {
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve) => {
    const server = serve({ fetch: (r) => app.fetch(r), port, hostname: host }, (info) =>
      resolve({ port: info.port, close: () => new Promise<void>((r) => server.close(() => r())) }),
    );
  });
}
