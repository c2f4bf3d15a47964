/** `rse verifier serve`: the Veraison-compatible verification and provisioning API. @module */

import { generateKeyPairSync } from 'node:crypto';
import { Command } from '@commander-js/extra-typings';
import { isLoopbackHost } from '../comms/server.ts';
import type { TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import { createVerifierApp, DEFAULT_LIMITS, serveVerifier } from '../verifier/server.ts';
import { openStore } from '../verifier/store.ts';
import { io, PKCS11_MODULE_HELP, parseInteger, printJson, readTokens, tokenKey, usePkcs11Module } from './common.ts';
import { announceReady, daemonize, writePidFile } from './daemon.ts';

/** An EC private key (file or pkcs11: URI) that signs what the verifier sends. */
function signingKey(path: string, what: string, flag: string): TokenKey {
  const k = tokenKey(path, what);
  if (k.kind !== 'ec' || (k.privateKey === undefined && k.token === undefined))
    throw new RseError('E_KEY', `${path}: the ${what} must be an EC private key`, { field: flag });
  return k;
}

function earKeyOf(path: string | undefined): TokenKey {
  if (path !== undefined) return signingKey(path, 'EAR key', '--ear-key');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { kind: 'ec', crv: 'P-256', privateKey, publicKey };
}

export function verifierCommand() {
  const cmd = new Command('verifier').summary('attestation verifier service (Veraison-compatible API)');
  cmd.addCommand(
    new Command('serve')
      .summary('serve challenge-response sessions and endorsement provisioning over HTTP')
      .description(
        'POST /challenge-response/v1/newSession[?nonce=B64URL|nonceSize=N],\n' +
          'POST|GET|DELETE /challenge-response/v1/session/ID, POST\n' +
          '/endorsement-provisioning/v1/submit (application/rim+cbor or\n' +
          'application/rim+cose: an unsigned or signed CoRIM), GET\n' +
          '/.well-known/veraison/verification, GET /.well-known/coserv-configuration and\n' +
          'GET /endorsement-distribution/v1/coserv/QUERY (CoSERV: the reference values\n' +
          'and trust anchors provisioned, signed with --coserv-key when asked for\n' +
          'application/coserv+cose). State lives in an embedded SQLite database (in\n' +
          'memory, or the file DIR/rse.sqlite with --db DIR, which verifier processes on\n' +
          'one host can share) or in PostgreSQL with --db postgres://…, which verifier\n' +
          'processes anywhere can share. The EAR is signed with --ear-key (a P-256 key is\n' +
          'generated per start without one); it may be a key in a PKCS#11 token (pkcs11:\n' +
          'URI with pin-source=). With --corim-signer keys, every CoRIM submitted must be\n' +
          'signed by one of them within its validity; without, a signed CoRIM is taken\n' +
          'with its signature unchecked.\n' +
          'Provisioning needs a bearer token from --auth-tokens (Authorization: Bearer TOKEN); without one it\n' +
          'is closed, and only --insecure opens it to anyone. A CoRIM submitted again is stored once. Bodies\n' +
          'over --max-evidence / --max-corim get 413. Verification (sessions) needs no credential, as in Veraison.',
      )
      .option('-p, --port <n>', 'TCP port (0 = any free port)', '8080')
      .option('--host <addr>', 'address to bind', '127.0.0.1')
      .option('--db <url|dir>', 'postgres://… URL, or a data directory for SQLite (default: in memory)')
      .option('--ear-key <file|uri>', 'EC private key (PEM, JWK or pkcs11: URI) that signs the EAR')
      .option('--corim-signer <file...>', 'public keys (PEM, JWK) of trusted CoRIM signers: CoRIMs must be signed by one')
      .option('--pkcs11-module <so>', PKCS11_MODULE_HELP)
      .option('--session-ttl <s>', 'session lifetime in seconds', '150')
      .option('--coserv-key <file|uri>', 'EC private key (PEM, JWK or pkcs11: URI) that signs CoSERV answers (application/coserv+cose)')
      .option('--coserv-max-age <s>', 'how long CoSERV answers may be cached (their expiry)', '3600')
      .option(
        '--auth-tokens <file>',
        'bearer tokens that may provision endorsements, one per line (# comments; at least 16 characters each); without it provisioning is closed (401)',
      )
      .option('--insecure', 'provisioning open to anyone who reaches the port (local experiments only; never on a shared network)')
      .option('--max-evidence <bytes>', 'largest evidence body (413 beyond)', String(DEFAULT_LIMITS.evidence))
      .option('--max-corim <bytes>', 'largest CoRIM body (413 beyond)', String(DEFAULT_LIMITS.corim))
      .option('--daemon', 'run in the background: return once the verifier listens (its output goes to --log-file)')
      .option('--pid-file <file>', 'write the verifier’s pid here once it listens (removed when it stops)')
      .option('--log-file <file>', 'where a --daemon verifier writes its output', 'rse-verifier.log')
      .option('--json', 'print {ok, listening, pid} once listening; errors as {ok: false, error}')
      .action(async (o) => {
        if (o.daemon === true) {
          const d = await daemonize(o.logFile);
          if (o.json === true) printJson({ ok: true, pid: d.pid, log: d.log, ...d.ready });
          else io.out(`rse verifier: pid ${d.pid} listening on ${String(d.ready.listening)} (log ${d.log})\n`);
          return;
        }
        if (o.insecure === true && o.authTokens !== undefined)
          throw new RseError('E_USAGE', '--insecure opens provisioning to anyone: it cannot go with --auth-tokens');
        const tokens = o.authTokens === undefined ? undefined : readTokens(o.authTokens, 'provisioning tokens', '--auth-tokens');
        const provisioning = o.insecure === true ? ('open' as const) : { tokens: tokens ?? [] };
        usePkcs11Module(o.pkcs11Module);
        const earKey = earKeyOf(o.earKey);
        const corimSigners = (o.corimSigner ?? []).map((f) => tokenKey(f, 'CoRIM signer key'));
        const store = await openStore(o.db);
        const app = createVerifierApp({
          store,
          earKey,
          corimSigners,
          sessionTtlSeconds: parseInteger(o.sessionTtl),
          provisioning,
          limits: { evidence: parseInteger(o.maxEvidence), corim: parseInteger(o.maxCorim) },
          coserv: {
            ...(o.coservKey === undefined ? {} : { key: signingKey(o.coservKey, 'CoSERV key', '--coserv-key') }),
            maxAgeSeconds: parseInteger(o.coservMaxAge),
          },
        });
        const s = await serveVerifier(app, parseInteger(o.port), o.host);
        const how =
          provisioning === 'open'
            ? 'provisioning OPEN to anyone (--insecure)'
            : provisioning.tokens.length === 0
              ? 'provisioning closed (no --auth-tokens)'
              : `provisioning with ${provisioning.tokens.length} bearer token(s)`;
        const listening = `http://${o.host}:${s.port}`;
        const dropPid = o.pidFile === undefined ? undefined : writePidFile(o.pidFile);
        if (o.json === true) printJson({ ok: true, listening, pid: process.pid }, true);
        else
          io.out(
            `verifier listening on ${listening} (${o.db === undefined ? 'SQLite in memory' : o.db.replace(/\/\/[^@]*@/, '//')}; ${how})\n`,
          );
        announceReady({ listening, pid: process.pid });
        if (provisioning === 'open' && !isLoopbackHost(o.host))
          io.err(`rse verifier: warning: provisioning is open to anyone who reaches ${o.host}:${s.port} (--insecure)\n`);
        const timer = setInterval(() => void store.expireSessions(new Date()).catch(() => undefined), 30_000);
        timer.unref();
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            clearInterval(timer);
            dropPid?.();
            void s
              .close()
              .then(() => store.sql.close())
              .then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          process.once('SIGHUP', stop);
        });
      }),
  );
  return cmd;
}
