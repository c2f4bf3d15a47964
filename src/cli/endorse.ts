/** `rse endorse MANIFEST DEVICE`: a build's reference values and a device's trust anchor as a CoRIM. @module */
import { Command } from '@commander-js/extra-typings';
import { type CorimMeta, signCorim } from '../attestation/corim-sign.ts';
import { openDeviceCopy } from '../device/device.ts';
import { endorse } from '../endorse/endorse.ts';
import { deviceFacts } from '../endorse/identity.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { submitEndorsements, verifierBase } from '../verifier/client.ts';
import { deterministicTokenKey, io, PKCS11_MODULE_HELP, printJson, readInput, readTokens, tokenKey, usePkcs11Module } from './common.ts';

function dateOf(v: string, field: string): Date {
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime()))
    throw new RseError('E_USAGE', `${field} ${v} is not an ISO 8601 date (2027-01-31 or 2027-01-31T12:00:00Z)`, { field });
  return d;
}

const short = (b: Uint8Array): string => `${toHex(b.subarray(0, 8))}…`;

export function endorseCommand() {
  return new Command('endorse')
    .description(
      "A build's reference values and a provisioned device's trust anchor, as a CoRIM (CCA platform profile).\n\n" +
        'From the manifest: what the boot chain will measure (BL2 and every image BL2 loads: slot, type, ' +
        'version, signer id, and the slot value H(0 ‖ image digest) the token reports). From the device ' +
        '(powered on in memory; the directory is not touched): what BL1_1 measures in OTP (BL1_2), and the ' +
        'attestation identity: implementation id, instance id and IAK public key (the trust anchor). ' +
        "The CoRIM (tag 501, profile tag:arm.com,2025:cca_platform#1.0.0) goes to 'rse token verify --corim' " +
        "or to a verifier's provisioning API (rse verifier serve, Veraison).\n\n" +
        'With -k the CoRIM is signed (a COSE_Sign1 around it, protected: alg, content type ' +
        'application/rim+cbor, --kid, and the CoRIM meta: --signer, --signer-uri, the validity ' +
        '--not-before/--not-after). The key is an EC P-256/P-384 private key in a file, or in a ' +
        'PKCS#11 token (pkcs11: URI); submit a signed CoRIM as application/rim+cose.',
    )
    .summary('reference values of a build (rse flash build manifest) for a provisioned device, as a CoRIM')
    .argument('<manifest>', 'manifest.json written by rse flash build')
    .argument('<device>', 'a provisioned device directory')
    .option('-o, --output <file>', 'write the CoRIM here')
    .option('--id <text>', 'the CoRIM id (default rsekit-<instance id>)')
    .option('-k, --key <file|uri>', 'sign the CoRIM with this EC private key (PEM, JWK, or pkcs11: URI)')
    .option('--signer <name>', "the signer's name in the CoRIM meta (with -k)", 'rsekit')
    .option('--signer-uri <uri>', "the signer's URI in the CoRIM meta (with -k)")
    .option('--not-before <date>', 'the signature is valid from this date (ISO 8601; with -k)')
    .option('--not-after <date>', 'the signature is valid until this date (ISO 8601; with -k)')
    .option('--kid <hex>', "the signer's key id, in the protected header (with -k)")
    .option('--deterministic', 'ECDSA with RFC 6979 nonces: the same inputs and key give the same signed CoRIM')
    .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
    .option('--submit <url>', "submit the CoRIM to a verifier's provisioning API (rse verifier serve, Veraison)")
    .option('--auth-token <file>', 'the bearer token --submit sends (first line of FILE)')
    .option('--json', 'machine-readable output')
    .action(async (manifestPath, dir, o) => {
      usePkcs11Module(o.pkcs11Module);
      const submitTo = o.submit === undefined ? undefined : verifierBase(o.submit);
      const signOnly = [o.signerUri, o.notBefore, o.notAfter, o.kid, o.deterministic].some((v) => v !== undefined);
      if (o.key === undefined && signOnly)
        throw new RseError('E_USAGE', '--signer-uri, --not-before, --not-after, --kid and --deterministic sign the CoRIM: give -k KEY');
      const meta: CorimMeta = {
        signer: o.signer,
        ...(o.signerUri === undefined ? {} : { signerUri: o.signerUri }),
        ...(o.notBefore === undefined ? {} : { notBefore: dateOf(o.notBefore, '--not-before') }),
        ...(o.notAfter === undefined ? {} : { notAfter: dateOf(o.notAfter, '--not-after') }),
      };
      if (meta.notBefore !== undefined && meta.notAfter === undefined)
        throw new RseError('E_USAGE', '--not-before needs --not-after (a validity window ends)', { field: '--not-before' });
      if (meta.notBefore !== undefined && meta.notAfter !== undefined && meta.notAfter <= meta.notBefore)
        throw new RseError('E_USAGE', '--not-after must be later than --not-before', { field: '--not-after' });
      const key = o.key === undefined ? undefined : deterministicTokenKey(tokenKey(o.key, 'CoRIM signing key'), o.deterministic);
      let manifest: unknown;
      try {
        manifest = JSON.parse(Buffer.from(readInput(manifestPath, 'manifest')).toString('utf8'));
      } catch (e) {
        if (e instanceof RseError) throw e;
        throw new RseError('E_MANIFEST', `${manifestPath} is not JSON: ${(e as Error).message}`, { field: manifestPath });
      }
      const facts = deviceFacts(openDeviceCopy(dir, (p) => readInput(p, 'device file')));
      const r = endorse(manifest, facts, o.id === undefined ? {} : { id: o.id });
      const corim = key === undefined ? r.corim : signCorim(r.corim, key, meta, o.kid === undefined ? undefined : fromHex(o.kid, '--kid'));
      if (o.output !== undefined) writeFileAtomic(o.output, corim, { durable: false });
      // Signed: application/rim+cose; unsigned: application/rim+cbor; the profile as a parameter.
      const mediaType = `application/rim+${key === undefined ? 'cbor' : 'cose'}; profile="${r.endorsements.profile}"`;
      const submitted =
        submitTo === undefined
          ? undefined
          : await submitEndorsements(submitTo, corim, mediaType, {
              ...(o.authToken === undefined ? {} : { bearer: readTokens(o.authToken, 'provisioning token', '--auth-token')[0] as string }),
            });
      const id = facts.identity;
      if (o.json) {
        printJson({
          profile: r.endorsements.profile,
          implementationId: toHex(id.implementationId),
          instanceId: toHex(id.instanceId),
          iak: r.endorsements.anchors[0]?.keyPem,
          components: r.components.map((c) => ({
            slot: c.slot,
            type: c.swType,
            version: c.version,
            signerId: toHex(c.signerId),
            measurement: toHex(c.measurement),
            value: toHex(c.value),
            source: c.source,
          })),
          platformConfig: toHex(r.endorsements.platformConfigs[0]?.value ?? new Uint8Array(0)),
          signed: key !== undefined,
          ...(submitted === undefined ? {} : { submitted: { verifier: o.submit, mediaType, reply: submitted } }),
          ...(o.output === undefined ? { corim: toHex(corim) } : { output: o.output, size: corim.length }),
        });
        return;
      }
      const what = key === undefined ? 'CoRIM' : `signed CoRIM (${key.kind === 'ec' ? key.crv : 'HMAC'}, signer ${meta.signer})`;
      const lines = [
        `reference values for ${dir} booting ${manifestPath} (${facts.profile})`,
        `  implementation id ${toHex(id.implementationId)}`,
        `  instance id       ${toHex(id.instanceId)} (IAK P-384: the trust anchor)`,
        `  slot type    version   signer id          ${'slot value = H(0 ‖ measurement)'.padEnd(64)}  from`,
        ...r.components.map(
          (c) =>
            `  ${String(c.slot).padEnd(4)} ${(c.swType || '-').padEnd(7)} ${c.version.padEnd(9)} ${short(c.signerId)}  ${toHex(c.value)}  ${c.source}`,
        ),
        `  platform config ${toHex(r.endorsements.platformConfigs[0]?.value ?? new Uint8Array(0))}`,
        o.output === undefined
          ? `${what} (${corim.length} bytes, not written${o.submit === undefined ? ': give -o FILE' : ''})`
          : `wrote ${o.output}: ${what}, ${corim.length} bytes, ${r.components.length} components, 1 trust anchor`,
        ...(submitted === undefined ? [] : [`submitted to ${o.submit} as ${mediaType}: ${String(submitted.status)}`]),
      ];
      io.out(`${lines.join('\n')}\n`);
    });
}
