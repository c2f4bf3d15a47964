/** `rse token print | verify | create`: PSA and CCA attestation tokens. @module */
import { Command, Option } from '@commander-js/extra-typings';
import { appraise, MemoryStore } from '../attestation/appraise.ts';
import { REALM_READING_NAMES } from '../attestation/claims.ts';
import { claimsToJson } from '../attestation/claims-write.ts';
import { type Endorsements, readCorim } from '../attestation/corim.ts';
import { checkCorimSigners } from '../attestation/corim-sign.ts';
import { createToken } from '../attestation/create.ts';
import { earLines, signEar } from '../attestation/ear.ts';
import { decodeEvidence, type Evidence, freshnessProblem, verifyEvidence } from '../attestation/token.ts';
import { fromBase64Url } from '../cose/cbor.ts';
import type { TokenKey } from '../cose/keys.ts';
import { coseAlgName } from '../cose/message.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex } from '../lib/hex.ts';
import { cliStatus, deterministicTokenKey, io, PKCS11_MODULE_HELP, printJson, readInput, tokenKey, usePkcs11Module } from './common.ts';

function nonceOf(o: { nonce?: string; nonceB64?: string }): Uint8Array | undefined {
  if (o.nonce !== undefined && o.nonceB64 !== undefined) throw new RseError('E_USAGE', '--nonce and --nonce-b64 are mutually exclusive');
  if (o.nonce !== undefined) return fromHex(o.nonce, '--nonce');
  if (o.nonceB64 !== undefined) return fromBase64Url(o.nonceB64.replaceAll('+', '-').replaceAll('/', '_'), '--nonce-b64');
  return undefined;
}

/** A JSON view of decoded evidence: kind, profiles, algorithms, warnings and claims in Veraison's names. */
export function evidenceJson(ev: Evidence): Record<string, unknown> {
  if (ev.kind === 'cca')
    return {
      kind: 'cca',
      form: ev.form,
      platform: { alg: coseAlgName(ev.platform.cose.alg), claims: claimsToJson(ev.platform.claims) },
      realm: {
        alg: coseAlgName(ev.realm.cose.alg),
        claims: claimsToJson(ev.realm.claims),
        ...(ev.realm.claims.readings === undefined ? {} : { readings: ev.realm.claims.readings }),
      },
      warnings: ev.warnings,
    };
  return {
    kind: ev.kind,
    ...(ev.kind === 'psa' ? { profile: ev.token.claims.profile } : {}),
    type: ev.token.cose.kind,
    alg: coseAlgName(ev.token.cose.alg),
    claims: claimsToJson(ev.token.claims),
    warnings: ev.warnings,
  };
}

/** Which readings of realm#2.0.0 the token satisfies, one line each (none for other profiles). */
export function readingLines(ev: Evidence): string[] {
  const r = ev.kind === 'cca' ? ev.realm.claims.readings : undefined;
  if (r === undefined) return [];
  return (Object.keys(r) as (keyof typeof r)[]).map((k) => {
    const v = r[k];
    return `realm ${ev.kind === 'cca' ? ev.realm.claims.profile : ''} as ${REALM_READING_NAMES[k]} reads it: ${v === true ? 'satisfied' : `not satisfied (${v})`}`;
  });
}

function summary(ev: Evidence): string {
  if (ev.kind === 'cca')
    return `CCA token (${ev.form}): platform ${ev.platform.claims.profile} ${coseAlgName(ev.platform.cose.alg)}, realm ${ev.realm.claims.profile} ${coseAlgName(ev.realm.cose.alg)}`;
  if (ev.kind === 'cca-platform') return `CCA platform token ${ev.token.claims.profile} ${coseAlgName(ev.token.cose.alg)}`;
  return `PSA token ${ev.token.claims.profile} (${ev.token.cose.kind === 'mac0' ? 'COSE_Mac0' : 'COSE_Sign1'} ${coseAlgName(ev.token.cose.alg)})`;
}

const STRICT_HELP = 'refuse what upstream verifiers disagree on (empty protected header, odd profile values)';
const UNTAGGED_HELP =
  'read a COSE_Sign1/Mac0 without its CBOR tag (18/17), with a warning; refused otherwise, as Veraison and iat-verifier do';

export function tokenCommand() {
  const cmd = new Command('token').summary('PSA and CCA attestation tokens: print, verify, create');
  cmd.addCommand(
    new Command('print')
      .summary('decode a token and check its claims (no signature check)')
      .description(
        'Decodes a PSA token (PSA_IOT_PROFILE_1, http://arm.com/psa/2.0.0, tag:psacertified.org,2023:psa#tfm;\n' +
          'COSE_Sign1 or COSE_Mac0), a CCA platform token, or a CCA collection (907, or legacy 399), checks\n' +
          "every claim against its profile and prints the claims with Veraison's names. Exit 1 when a\n" +
          'claim is missing or malformed.',
      )
      .argument('<token>')
      .option('--strict', STRICT_HELP)
      .option('--allow-untagged', UNTAGGED_HELP)
      .option('--json', 'machine-readable output')
      .action((file, o) => {
        const ev = decodeEvidence(readInput(file, 'token'), {
          mode: o.strict === true ? 'strict' : 'lenient',
          allowUntagged: o.allowUntagged === true,
        });
        if (o.json === true) return printJson(evidenceJson(ev));
        io.out(`${summary(ev)}\n`);
        for (const w of ev.warnings) io.out(`warning: ${w}\n`);
        const j = evidenceJson(ev);
        io.out(
          `${JSON.stringify(ev.kind === 'cca' ? { platform: (j.platform as { claims: unknown }).claims, realm: (j.realm as { claims: unknown }).claims } : j.claims, null, 2)}\n`,
        );
      }),
  );
  cmd.addCommand(
    new Command('verify')
      .summary('verify a token with a key, or appraise it against CoRIM endorsements')
      .description(
        'With -k: checks the signature or MAC (for a CCA collection also the realm signature with the key in\n' +
          'its claims and the platform/realm binding) and, with --nonce, freshness. With --corim: looks up the\n' +
          "trust anchor and reference values in the CoRIMs and appraises with Veraison's rules, printing the\n" +
          'EAR (AR4SI trust vector per submod); --ear-key also signs it as a JWT. Exit 0 verified / affirming,\n' +
          '1 otherwise.',
      )
      .argument('<token>')
      .option('-k, --key <file>', 'the attestation key (PEM, JWK, COSE_Key, or raw HMAC key)')
      .option('--corim <file...>', 'CoRIMs (trust anchors, reference values) to appraise against')
      .option('--corim-signer <file...>', 'trusted CoRIM signer public keys: every --corim must be signed by one (within its validity)')
      .option('--nonce <hex>', 'the expected nonce (realm challenge for CCA; zero-padded to 64 bytes)')
      .option('--nonce-b64 <b64>', 'the expected nonce, base64 or base64url')
      .option('--ear-key <file>', 'sign the EAR with this EC private key and print the JWT')
      .option('--signer-id', 'also require software components to carry the reference signer id')
      .option('--strict', STRICT_HELP)
      .option('--allow-untagged', UNTAGGED_HELP)
      .option('--json', 'machine-readable output')
      .action(async (file, o) => {
        const allowUntagged = o.allowUntagged === true;
        const bytes = readInput(file, 'token');
        const mode = o.strict === true ? 'strict' : 'lenient';
        const nonce = nonceOf(o);
        if (o.corim === undefined && o.key === undefined) throw new RseError('E_USAGE', 'give -k KEY or --corim FILE...');
        if (o.corim !== undefined) {
          const store = new MemoryStore();
          const signers = (o.corimSigner ?? []).map((k) => tokenKey(k, 'CoRIM signer key'));
          for (const f of o.corim) {
            let e: Endorsements;
            try {
              const c = readInput(f, 'CoRIM');
              if (signers.length > 0) checkCorimSigners(c, signers, new Date());
              e = readCorim(c);
            } catch (err) {
              if (err instanceof RseError) throw new RseError(err.code, `${f}: ${err.message}`, { field: f });
              throw err;
            }
            store.add(e);
          }
          const a = await appraise(bytes, store, {
            mode,
            allowUntagged,
            compareSignerId: o.signerId === true,
            ...(nonce === undefined ? {} : { nonce }),
          });
          const statuses = Object.values(a.ear.submods).map((s) => s['ear.status']);
          if (statuses.some((s) => s !== 'affirming')) cliStatus.code = 1;
          const jwt = o.earKey === undefined ? undefined : signEar(a.ear, tokenKey(o.earKey, 'EAR key'));
          if (o.json === true) return printJson({ ear: a.ear, problems: a.problems, ...(jwt === undefined ? {} : { jwt }) });
          for (const line of earLines(a.ear)) io.out(`${line}\n`);
          for (const p of a.problems)
            if (!Object.values(a.ear.submods).some((s) => s['ear.veraison.policy-claims']?.problem === p)) io.out(`  ${p}\n`);
          if (jwt !== undefined) io.out(`${jwt}\n`);
          return;
        }
        const ev = decodeEvidence(bytes, { mode, allowUntagged });
        verifyEvidence(ev, tokenKey(o.key as string, 'key'), { mode });
        const stale = nonce === undefined ? undefined : freshnessProblem(ev, nonce);
        if (stale !== undefined) throw new RseError('E_FRESHNESS', stale, { field: 'nonce' });
        if (o.json === true) return printJson({ verified: true, ...evidenceJson(ev) });
        io.out(`verified: ${summary(ev)}${ev.kind === 'cca' ? ', binding ok' : ''}\n`);
        for (const line of readingLines(ev)) io.out(`${line}\n`);
        for (const w of ev.warnings) io.out(`warning: ${w}\n`);
      }),
  );
  cmd.addCommand(
    new Command('create')
      .summary("sign a JSON claim set (Veraison's claim names) into a token, for tests")
      .description(
        'A PSA claim set becomes a COSE_Sign1 (EC key) or COSE_Mac0 (HMAC key) token of the profile its\n' +
          'eat-profile names (PSA_IOT_PROFILE_1 without one); a CCA claim set ({cca-platform-token, cca-realm-\n' +
          'delegated-token}) becomes a collection signed with -k (platform) and --realm-key (realm).',
      )
      .argument('<claims>', 'JSON claim set')
      .requiredOption('-k, --key <file>', 'signing key (EC private key or HMAC key, or a pkcs11: URI of an EC key in a token)')
      .requiredOption('-o, --output <file>', 'token output')
      .option('--realm-key <file>', 'realm signing key of a CCA collection')
      .addOption(new Option('--form <form>', 'CCA collection form').choices(['907', '399'] as const).default('907' as const))
      .option('--no-validate', 'sign claims that break their profile (to test verifiers)')
      .option('--deterministic', 'ECDSA with RFC 6979 nonces: the same claims and keys give the same token on every run')
      .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
      .action((claimsFile, o) => {
        usePkcs11Module(o.pkcs11Module);
        const det = (k: TokenKey): TokenKey => deterministicTokenKey(k, o.deterministic);
        let claims: Record<string, unknown>;
        try {
          claims = JSON.parse(Buffer.from(readInput(claimsFile, 'claims')).toString('utf8')) as Record<string, unknown>;
        } catch (e) {
          if (e instanceof RseError) throw e;
          throw new RseError('E_CLAIMS', `${claimsFile}: not JSON: ${(e as Error).message}`, { field: claimsFile });
        }
        const token = createToken(claims, det(tokenKey(o.key, 'key')), {
          validate: o.validate,
          form: o.form,
          ...(o.realmKey === undefined ? {} : { realmKey: det(tokenKey(o.realmKey, 'realm key')) }),
        });
        writeFileAtomic(o.output, token, { durable: false });
        io.out(`${o.output}: ${token.length} bytes\n`);
      }),
  );
  return cmd;
}
