/**
 * `rsekit/verifier`: a Veraison-compatible challenge-response verifier and endorsement
 * provisioning service over HTTP, on an embedded store (SQLite) or PostgreSQL.
 *
 * @example
 * ```ts
 * import { generateKey } from 'rsekit/mcuboot';
 * import { createVerifierApp, openStore, serveVerifier } from 'rsekit/verifier';
 *
 * const store = await openStore(); // in memory; or a directory, or postgres://...
 * const app = createVerifierApp({ store, earKey });
 * const { port, close } = await serveVerifier(app, 8080);
 * ```
 * @module
 */

export type { VerifierApp, VerifierOptions } from './server.ts';
export { createVerifierApp, EVIDENCE_MEDIA_TYPES, serveVerifier } from './server.ts';
export type { Session, SessionStatus, SqlStore } from './store.ts';
export { migrate, openStore } from './store.ts';
