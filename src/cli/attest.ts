/**
 * `rse attest --verifier URL`: the relying party's round trip against a Veraison-compatible
 * verifier: open a session, have the served RSE sign a token over the session's nonce, submit it,
 * check the EAR's signature and print its verdict. @module
 */
import { Command } from 'commander';
import { CCA_PLATFORM_PROFILE, CCA_PLATFORM_RULES } from '../attestation/claims.ts';
import { earLines, verifyEar } from '../attestation/ear.ts';
import { decodeEvidence, type Evidence } from '../attestation/token.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { PSA, statusName } from '../services/psa.ts';
import { deleteSession, discoveredEarKey, newSession, submitEvidence, verifierBase } from '../verifier/client.ts';
import { cliStatus, io, parseInteger, printJson, tokenKey } from './common.ts';
import { clientOptions, withClient } from './serve.ts';

/** The media type Veraison registers for this kind of evidence. */
export function evidenceMediaType(ev: Evidence): string {
  if (ev.kind === 'cca') return 'application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"';
  if (ev.kind === 'cca-platform') {
    // A bare platform token of the deprecated CCA-SSD profile goes under the current profile's type.
    const cp = ev.token.claims.profile;
    return `application/eat+cwt; eat_profile="${CCA_PLATFORM_RULES[cp].deprecated ? CCA_PLATFORM_PROFILE.CURRENT : cp}"`;
  }
  const p = ev.token.claims.profile;
  if (p === 'tag:psacertified.org,2023:psa#tfm') return 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"';
  if (p === 'http://arm.com/psa/2.0.0') return 'application/eat-cwt; profile="http://arm.com/psa/2.0.0"';
  return 'application/psa-attestation-token';
}

export function attestCommand() {
  return clientOptions(
    new Command('attest')
      .summary("a relying party's round trip: a verifier's nonce, the served RSE's token, the verifier's EAR")
      .description(
        'Opens a challenge-response session on a Veraison-compatible verifier (rse verifier serve, Veraison),\n' +
          'asks the RSE served at --socket/--port for an attestation token over the session nonce (as TF-A\n' +
          "does), submits it under the media type of its kind, checks the EAR's signature (with --ear-key, or\n" +
          'else with the key the verifier publishes at /.well-known/veraison/verification, which only proves\n' +
          "the answer came from the verifier asked) and prints each submod's status. The session is deleted\n" +
          'afterwards. Exit 0 when every submod is affirming, 1 otherwise, 2 when the verifier or the RSE\n' +
          'cannot be reached or refuses the request.',
      ),
  )
    .requiredOption('--verifier <url>', 'the verifier (http://host:port)')
    .option('--nonce-size <n>', 'session nonce bytes: 32, 48 or 64 (what an RSE challenge may be)', '32')
    .option('--media-type <type>', 'submit the evidence under this media type (default: the one of its kind)')
    .option('--ear-key <file>', "the verifier's EAR public key (PEM or JWK) to check the EAR with")
    .option('--evidence <file>', 'also write the token the RSE signed here')
    .option('-o, --output <file>', 'write the EAR (a JWT) here')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const base = verifierBase(o.verifier as string);
      const size = parseInteger(o.nonceSize as string);
      if (![32, 48, 64].includes(size)) throw new RseError('E_USAGE', `--nonce-size ${size}: an RSE challenge is 32, 48 or 64 bytes`);
      const timeoutMs = o.timeout === undefined ? 30_000 : parseInteger(o.timeout as string);
      const session = await newSession(base, { nonceSize: size }, { timeoutMs });
      let jwt: string;
      let mediaType: string;
      let token: Uint8Array;
      try {
        if (![32, 48, 64].includes(session.nonce.length))
          throw new RseError('E_VERIFIER', `the verifier's nonce is ${session.nonce.length} bytes: an RSE challenge is 32, 48 or 64`);
        const r = await withClient(o as Record<string, string>, (c) => c.attestationToken(session.nonce));
        const t = r.status === PSA.SUCCESS ? r.outVecs[0] : undefined;
        if (t === undefined) throw new RseError('E_COMMS', `the RSE refused the token request: ${statusName(r.status)} (${r.status})`);
        token = t;
        if (typeof o.evidence === 'string') writeFileAtomic(o.evidence, token, { durable: false });
        mediaType = typeof o.mediaType === 'string' ? o.mediaType : evidenceMediaType(decodeEvidence(token, { mode: 'lenient' }));
        jwt = await submitEvidence(session, mediaType, token, { timeoutMs });
      } finally {
        await deleteSession(session, { timeoutMs });
      }
      const key = typeof o.earKey === 'string' ? tokenKey(o.earKey, 'EAR key') : await discoveredEarKey(base, { timeoutMs });
      const ear = verifyEar(jwt, key);
      if (typeof o.output === 'string') writeFileAtomic(o.output, `${jwt}\n`, { durable: false });
      const affirming = Object.values(ear.submods).every((s) => s['ear.status'] === 'affirming');
      if (!affirming) cliStatus.code = 1;
      const keySource = typeof o.earKey === 'string' ? o.earKey : 'the verifier (discovery)';
      if (o.json === true)
        return printJson({
          verifier: base,
          session: session.url,
          nonce: toHex(session.nonce),
          mediaType,
          evidenceSize: token.length,
          earKey: keySource,
          ear,
          ...(typeof o.output === 'string' ? { output: o.output } : { jwt }),
        });
      io.out(
        [
          `session ${session.url}: nonce ${toHex(session.nonce)}`,
          `evidence ${token.length} bytes, ${mediaType}`,
          `EAR signature verified with ${keySource}`,
          ...earLines(ear),
          ...(typeof o.output === 'string' ? [`wrote ${o.output}`] : []),
        ].join('\n') + '\n',
      );
    });
}
