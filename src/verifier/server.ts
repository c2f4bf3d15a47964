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
import { appraise } from '../attestation/appraise.ts';
import { corimFromCbor, profileOf, readCorim } from '../attestation/corim.ts';
import { checkCorimSigners } from '../attestation/corim-sign.ts';
import { signEar } from '../attestation/ear.ts';
import { fromBase64Url, toBase64, toBase64Url } from '../cose/cbor.ts';
import { publicJwk, type TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import { PROVISIONING_MEDIA_TYPE, SESSION_MEDIA_TYPE } from './client.ts';
import { mountCoserv } from './coserv-routes.ts';
import {
  accepts,
  CMW_MEDIA_TYPES,
  DISCOVERY_MEDIA_TYPE,
  EVIDENCE_KINDS,
  EVIDENCE_MEDIA_TYPES,
  normalizeMediaType,
  PROVISIONING_MEDIA_TYPES,
  unwrapCmw,
} from './media.ts';
import type { Session, SqlStore } from './store.ts';

export { DISCOVERY_MEDIA_TYPE, EVIDENCE_MEDIA_TYPES, normalizeMediaType, PROVISIONING_MEDIA_TYPE, SESSION_MEDIA_TYPE };

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
  /**
   * CoSERV endorsement distribution: `key` signs `application/coserv+cose` answers (without it,
   * only `application/coserv+cbor` is served) and is the authority named in each quad (default:
   * the EAR key); `maxAgeSeconds` is how long an answer may be cached (default 3600).
   */
  readonly coserv?: { readonly key?: TokenKey; readonly maxAgeSeconds?: number };
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

/**
 * A CoRIM under the profile its media type names: the CoRIM's own profile, when it names one, must
 * be the same (legacy URIs read as the current ones); one that names none takes the media type's.
 */
function readCorimAs(body: Uint8Array, mediaTypeProfile: string): ReturnType<typeof readCorim> {
  const want = profileOf(mediaTypeProfile, undefined);
  const own = corimFromCbor(body).profile;
  if (own !== undefined && profileOf(own, undefined) !== want)
    throw new RseError('E_CORIM', `the CoRIM's profile ${own} is not the media type's ${mediaTypeProfile}`, { field: 'corim.profile' });
  return readCorim(body, own === undefined ? mediaTypeProfile : undefined);
}

/** 415 with the media types that would have been accepted. */
function unsupported(raw: string | undefined, accept: string): Response {
  return problem(415, 'Unsupported Media Type', `no active plugin found for ${raw ?? '(none)'}`, { accept });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

  const notAcceptable = (type: string): Response => problem(406, 'Not Acceptable', `the only supported output format is ${type}`);
  const discovery = (body: Record<string, unknown>, accept: string | undefined): Response =>
    !accepts(accept, DISCOVERY_MEDIA_TYPE) && !accepts(accept, 'application/json')
      ? notAcceptable(DISCOVERY_MEDIA_TYPE)
      : new Response(JSON.stringify({ ...body, version: opts.version ?? 'rsekit', 'service-state': 'READY' }), {
          status: 200,
          headers: { 'content-type': DISCOVERY_MEDIA_TYPE, 'cache-control': 'max-age=60' },
        });
  app.get('/.well-known/veraison/verification', (c) =>
    discovery(
      {
        'ear-verification-key': { ...publicJwk(opts.earKey), alg: 'ES256' },
        'media-types': supported,
        'attestation-schemes': ['PSA_IOT', 'ARM_CCA'],
        'api-endpoints': { newChallengeResponseSession: '/challenge-response/v1/newSession' },
      },
      c.req.header('accept'),
    ),
  );
  app.get('/.well-known/veraison/provisioning', (c) =>
    discovery(
      { 'media-types': PROVISIONING_MEDIA_TYPES, 'api-endpoints': { provisioningSubmit: '/endorsement-provisioning/v1/submit' } },
      c.req.header('accept'),
    ),
  );

  /** Veraison's reading of a session id in the path: the error names the path and uuid.Parse's reason. */
  const sessionId = (c: { req: { param(k: string): string; url: string } }): { id: string } | { bad: Response } => {
    const id = c.req.param('id');
    if (UUID.test(id)) return { id: id.toLowerCase() };
    const why = [32, 36, 38, 41].includes(id.length) ? 'invalid UUID format' : `invalid UUID length: ${id.length}`;
    return { bad: problem(400, 'Bad Request', `invalid session id (${new URL(c.req.url).pathname}) in path segment: ${why}`) };
  };
  const expires = (s: Session): Record<string, string> => ({ expires: s.expiry.toUTCString() });
  const live = async (id: string): Promise<Session | undefined> => {
    const s = await store.getSession(id);
    return s === undefined || s.expiry.getTime() < now() ? undefined : s;
  };

  app.post('/challenge-response/v1/newSession', async (c) => {
    if (!accepts(c.req.header('accept'), SESSION_MEDIA_TYPE)) return notAcceptable(SESSION_MEDIA_TYPE);
    // As Veraison reads its query: an empty value is no value.
    const nonceQ = c.req.query('nonce') || undefined;
    const sizeQ = c.req.query('nonceSize') || undefined;
    const bad = (why: string): Response => problem(400, 'Bad Request', `failed handling nonce request: ${why}`);
    if (nonceQ !== undefined && sizeQ !== undefined) return bad('nonce and nonceSize are mutually exclusive');
    let nonce: Uint8Array;
    if (nonceQ !== undefined) {
      // base64url, padded or not (Veraison's own clients send both); standard base64's + and / are not base64url.
      try {
        nonce = fromBase64Url(nonceQ, 'nonce');
      } catch {
        return bad('nonce must be valid base64');
      }
      if (nonce.length < 8 || nonce.length > 64) return bad(`nonce must be between 8 and 64 bytes long; got ${nonce.length}`);
    } else {
      const n = sizeQ === undefined ? 32 : Number(sizeQ);
      if (!/^\d+$/.test(sizeQ ?? '32') || n < 8 || n > 64) return bad('nonceSize must be in range 8..64');
      nonce = new Uint8Array(randomBytes(n));
    }
    const s = await store.createSession(randomUUID(), nonce, new Date(now() + ttl * 1000));
    return sessionResponse(sessionJson(s), 201, { location: `session/${s.id}`, ...expires(s) });
  });

  app.get('/challenge-response/v1/session/:id', async (c) => {
    if (!accepts(c.req.header('accept'), SESSION_MEDIA_TYPE)) return notAcceptable(SESSION_MEDIA_TYPE);
    const r = sessionId(c);
    if ('bad' in r) return r.bad;
    const s = await live(r.id);
    if (s === undefined) return problem(404, 'Not Found', 'session not found');
    return sessionResponse(sessionJson(s), 200, expires(s));
  });

  // Veraison answers 204 whether or not the session was there.
  app.delete('/challenge-response/v1/session/:id', async (c) => {
    const r = sessionId(c);
    if ('bad' in r) return r.bad;
    await store.deleteSession(r.id);
    return c.body(null, 204);
  });

  app.post('/challenge-response/v1/session/:id', bodyLimit({ maxSize: evidenceMax, onError: tooLarge(evidenceMax) }), async (c) => {
    if (!accepts(c.req.header('accept'), SESSION_MEDIA_TYPE)) return notAcceptable(SESSION_MEDIA_TYPE);
    let evidence = new Uint8Array(await c.req.arrayBuffer());
    if (evidence.length === 0) return problem(400, 'Bad Request', 'unable to read evidence from the request body');
    const raw = c.req.header('content-type') ?? '';
    let mt = normalizeMediaType(raw);
    if (mt === undefined) return problem(400, 'Bad Request', `could not check media type with verifier: invalid media type "${raw}"`);
    if (CMW_MEDIA_TYPES.includes(mt)) {
      let inner: ReturnType<typeof unwrapCmw>;
      try {
        inner = unwrapCmw(evidence);
      } catch (e) {
        if (!(e instanceof RseError)) throw e;
        return problem(400, 'Bad Request', e.message);
      }
      if (inner !== undefined) {
        const n = normalizeMediaType(inner.mediaType);
        if (n === undefined) return problem(400, 'Bad Request', `could not extract CMW media type: "${inner.mediaType}"`);
        mt = n;
        evidence = new Uint8Array(inner.value);
      }
    }
    const scheme = EVIDENCE_MEDIA_TYPES[mt];
    if (scheme === undefined) return unsupported(raw === '' ? mt : raw, supported.join(', '));
    const r = sessionId(c);
    if ('bad' in r) return r.bad;
    const s = await live(r.id);
    if (s === undefined) return problem(404, 'Not Found', 'session not found');
    // A session already complete is appraised again, as Veraison does.
    let result: string;
    try {
      const a = await appraise(evidence, store, {
        nonce: s.nonce,
        scheme,
        evidenceKinds: EVIDENCE_KINDS[mt] ?? [],
        verifierId: { build: opts.version ?? 'rsekit', developer: 'rsekit' },
      });
      result = signEar(a.ear, opts.earKey);
    } catch (e) {
      await store.completeSession(r.id, 'failed', mt, evidence, undefined);
      if (e instanceof RseError) return problem(500, 'Internal Server Error', 'error encountered while processing evidence');
      throw e;
    }
    await store.completeSession(r.id, 'complete', mt, evidence, result);
    return sessionResponse(sessionJson({ ...s, status: 'complete', mediaType: mt, evidence, result }), 200, expires(s));
  });

  mountCoserv(app, { store, earKey: opts.earKey, now, version: opts.version ?? 'rsekit', ...opts.coserv });

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
    if (!accepts(c.req.header('accept'), PROVISIONING_MEDIA_TYPE)) return notAcceptable(PROVISIONING_MEDIA_TYPE);
    const raw = c.req.header('content-type') ?? '';
    const mt = normalizeMediaType(raw);
    if (mt === undefined) return problem(400, 'Bad Request', `could not check media type with provisioner: invalid media type "${raw}"`);
    if (!PROVISIONING_MEDIA_TYPES.includes(mt)) return unsupported(raw, PROVISIONING_MEDIA_TYPES.join(', '));
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length === 0) return problem(400, 'Bad Request', 'empty body');
    const reply = (o: Record<string, unknown>): Response =>
      new Response(JSON.stringify({ ...o, expiry: new Date(now()).toISOString() }), {
        status: 200,
        headers: { 'content-type': PROVISIONING_MEDIA_TYPE },
      });
    try {
      if (corimSigners.length > 0) checkCorimSigners(body, corimSigners, new Date(now()));
      const r = await store.addEndorsements(
        readCorimAs(body, /profile="([^"]*)"/.exec(mt)?.[1] as string),
        createHash('sha256').update(body).digest(),
      );
      // What was stored, or that this CoRIM already was (stored once).
      return reply({ status: 'success', count: r.stored, ...(r.duplicate ? { duplicate: true } : { stored: r.kinds }) });
    } catch (e) {
      if (!(e instanceof RseError)) throw e;
      return reply({ status: 'failed', 'failure-reason': `submit endorsement returned error: ${e.message}` });
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
