/**
 * The CoSERV routes of the verifier's HTTP API, as Veraison's coserv service answers them:
 * discovery at `/.well-known/coserv-configuration` (JSON) and queries at
 * `/endorsement-distribution/v1/coserv/{query}`; errors as CBOR concise problem details.
 * @module
 */
import type { Hono } from 'hono';
import { CORIM_PROFILE } from '../attestation/corim.ts';
import { publicJwk, type TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import {
  COSERV_CBOR,
  COSERV_COSE,
  COSERV_DISCOVERY_MEDIA_TYPE,
  COSERV_PATH,
  conciseProblem,
  coservResults,
  decodeCoserv,
  encodeCoservAnswer,
} from './coserv.ts';
import { accepts, negotiate } from './media.ts';
import type { SqlStore } from './store.ts';

const STATUS_TEXT = { 400: 'Bad Request', 406: 'Not Acceptable' } as const;

function cborProblem(status: keyof typeof STATUS_TEXT, detail: string): Response {
  return new Response(conciseProblem(STATUS_TEXT[status], detail), {
    status,
    headers: { 'content-type': 'application/concise-problem-details+cbor' },
  });
}

const ALG: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

/** Mounts the CoSERV discovery and query routes on `app`. */
export function mountCoserv(
  app: Hono,
  o: {
    readonly store: SqlStore;
    readonly earKey: TokenKey;
    readonly now: () => number;
    readonly version: string;
    readonly key?: TokenKey;
    readonly maxAgeSeconds?: number;
  },
): void {
  const maxAge = o.maxAgeSeconds ?? 3600;
  const offered = o.key === undefined ? [COSERV_CBOR] : [COSERV_CBOR, COSERV_COSE];
  const cacheFor = (seconds: number): Record<string, string> => ({
    'cache-control': `max-age=${Math.max(0, Math.floor(seconds))}`,
    expires: new Date(o.now() + seconds * 1000).toUTCString(),
  });

  app.get('/.well-known/coserv-configuration', (c) => {
    const accept = c.req.header('accept');
    if (!accepts(accept, COSERV_DISCOVERY_MEDIA_TYPE) && !accepts(accept, 'application/json'))
      return cborProblem(406, `supported format(s): ${COSERV_DISCOVERY_MEDIA_TYPE}, application/json`);
    const key = o.key;
    const body = {
      version: o.version,
      capabilities: Object.values(CORIM_PROFILE).flatMap((p) =>
        offered.map((mt) => ({ 'media-type': `${mt}; profile="${p}"`, 'artifact-support': ['collected'] })),
      ),
      'api-endpoints': { CoSERVRequestResponse: COSERV_PATH },
      ...(key === undefined || key.kind !== 'ec' ? {} : { 'result-verification-key': [{ ...publicJwk(key), alg: ALG[key.crv] }] }),
    };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { 'content-type': COSERV_DISCOVERY_MEDIA_TYPE, ...cacheFor(maxAge) },
    });
  });

  app.get('/endorsement-distribution/v1/coserv/:query', async (c) => {
    const want = negotiate(c.req.header('accept'), offered);
    if (want === undefined)
      return cborProblem(
        406,
        o.key === undefined
          ? `the only supported output format is ${COSERV_CBOR} (no CoSERV signing key is configured for ${COSERV_COSE})`
          : `the only supported output formats are ${COSERV_CBOR} or ${COSERV_COSE}`,
      );
    let query: ReturnType<typeof decodeCoserv>;
    try {
      query = decodeCoserv(c.req.param('query'));
    } catch (e) {
      if (e instanceof RseError) return cborProblem(400, e.message);
      throw e;
    }
    const expiry = new Date(o.now() + maxAge * 1000);
    const results = await coservResults(query, o.store, o.key ?? o.earKey, expiry);
    const body = encodeCoservAnswer(query, results, want === COSERV_COSE ? o.key : undefined);
    return new Response(body, {
      status: 200,
      headers: { 'content-type': `${want}; profile="${String(query.profileValue)}"`, ...cacheFor(maxAge) },
    });
  });
}
