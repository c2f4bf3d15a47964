/** `rse verifier serve`: the Veraison-compatible verification and provisioning API. @module */

import { generateKeyPairSync } from 'node:crypto';
import { Command } from '@commander-js/extra-typings';
import type { TokenKey } from '../cose/keys.ts';
import { loadTokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import { createVerifierApp, serveVerifier } from '../verifier/server.ts';
import { openStore } from '../verifier/store.ts';
import { io, parseInteger, readInput } from './common.ts';

function earKeyOf(path: string | undefined): TokenKey {
  if (path !== undefined) {
    const k = loadTokenKey(readInput(path, 'EAR key'));
    if (k.kind !== 'ec' || k.privateKey === undefined)
      throw new RseError('E_KEY', `${path}: the EAR key must be an EC private key`, { field: '--ear-key' });
    return k;
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { kind: 'ec', crv: 'P-256', privateKey, publicKey };
}

export function verifierCommand() {
  const cmd = new Command('verifier').summary('attestation verifier service (Veraison-compatible API)');
  cmd.addCommand(
    new Command('serve')
      .summary('serve challenge-response sessions and endorsement provisioning over HTTP')
      .description(
        'POST /challenge-response/v1/newSession[?nonce=B64URL|nonceSize=N], POST|GET|DELETE\n' +
          '/challenge-response/v1/session/ID, POST /endorsement-provisioning/v1/submit (application/rim+cbor),\n' +
          'GET /.well-known/veraison/verification. State lives in an embedded PGlite database (in memory, or in\n' +
          '--db DIR) or in PostgreSQL with --db postgres://…, which several verifier processes can share.\n' +
          'The EAR is signed with --ear-key (a P-256 key is generated per start without one).',
      )
      .option('-p, --port <n>', 'TCP port (0 = any free port)', '8080')
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--db <url|dir>', 'postgres://… URL, or a PGlite data directory (default: in memory)')
      .option('--ear-key <file>', 'EC private key (PEM or JWK) that signs the EAR')
      .option('--session-ttl <s>', 'session lifetime in seconds', '150')
      .action(async (o) => {
        const store = await openStore(o.db);
        const app = createVerifierApp({ store, earKey: earKeyOf(o.earKey), sessionTtlSeconds: parseInteger(o.sessionTtl) });
        const s = await serveVerifier(app, parseInteger(o.port), o.host);
        io.out(
          `verifier listening on http://${o.host}:${s.port} (${o.db === undefined ? 'PGlite in memory' : o.db.replace(/\/\/[^@]*@/, '//')})\n`,
        );
        const timer = setInterval(() => void store.expireSessions(new Date()).catch(() => undefined), 30_000);
        timer.unref();
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            clearInterval(timer);
            void s
              .close()
              .then(() => store.sql.close())
              .then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }),
  );
  return cmd;
}
