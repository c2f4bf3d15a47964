/** `rse verify`, `rse dumpinfo` and the signature verbs `sign-list`, `sign-append`, `sign-remove`. @module */
import { basename } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../lib/atomic.ts';
import { toHex } from '../lib/hex.ts';
import { dumpInfo, dumpInfoJson, dumpInfoText, dumpInfoYaml } from '../mcuboot/dumpinfo.ts';
import { signAppend, signatureUnits, signListText, signRemove } from '../mcuboot/multisig.ts';
import { type KeyAttempt, type VerifyReport, verifyImage, verifyImageKeys } from '../mcuboot/verify.ts';
import { formatVersion } from '../mcuboot/version.ts';
import {
  DETERMINISTIC_HELP,
  io,
  isHexPath,
  openImageStream,
  PKCS11_MODULE_HELP,
  parseInteger,
  printJson,
  readImageFile,
  readInput,
  readKey,
  STREAM_MIN_SIZE,
  signingKey,
  usePkcs11Module,
} from './common.ts';

export function verifyCommand() {
  return new Command('verify')
    .summary('check that an image verifies with a key (imgtool verify)')
    .description(
      'Check an MCUboot image: header and TLV bounds, the hash, the signature with KEY, that the\n' +
        "image's KEYHASH/PUBKEY matches KEY, and the trailer magic of a padded slot. With -k\n" +
        'repeated (an image with several signatures) every key must verify a signature of the\n' +
        'image whose KEYHASH/PUBKEY matches it; each try is printed as Key N: OK|INVALID_SIGNATURE.\n' +
        'With --enc-key an encrypted image is decrypted and its plaintext hashed.\n' +
        'Exit status: 0 valid, 1 the image fails a check, 2 usage or unreadable input.',
    )
    .argument('<imgfile>', 'image (binary or .hex)')
    .option(
      '-k, --key <filename>',
      'signing key, private or public (PEM); repeat it for an image with several signatures (each key must verify one); omit to check the hash only',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--enc-key <filename>', 'private encryption key, to verify an encrypted image over its plaintext')
    .option('--json', 'print the result as JSON')
    .action((imgfile, o) => {
      const keys = o.key.map((k) => readKey(k));
      const key = keys.length === 1 ? keys[0] : undefined;
      const encKey = o.encKey === undefined ? undefined : readKey(o.encKey, 'encryption key');
      const opts = { ...(key === undefined ? {} : { key }), ...(encKey === undefined ? {} : { encKey }) };
      // A large binary image is verified in one pass over its payload, never held whole.
      const opened = isHexPath(imgfile) || keys.length > 1 ? undefined : openImageStream(imgfile, STREAM_MIN_SIZE);
      let r: VerifyReport;
      let attempts: readonly KeyAttempt[] | undefined;
      if (keys.length > 1) {
        const m = verifyImageKeys(readImageFile(imgfile).data, keys, encKey);
        attempts = m.attempts;
        r = m;
      } else if (opened === undefined) r = verifyImage(readImageFile(imgfile).data, opts);
      else {
        try {
          r = verifyImage(opened.bytes, opts, opened.payload);
        } finally {
          opened.close();
        }
      }
      if (o.json) {
        printJson({
          ok: true,
          version: formatVersion(r.version),
          hash: r.hashAlg,
          digest: toHex(r.digest),
          signature: r.signatureType ?? null,
          keyTlv: r.keyTlv ?? null,
          encrypted: r.encrypted,
          decrypted: r.decrypted,
          trailer: r.trailer === undefined ? null : r.trailer.magicState,
          ...(attempts === undefined
            ? {}
            : { attempts: attempts.map((a) => ({ key: a.key, signatureOffset: a.signatureOffset, ok: a.ok })) }),
          checks: r.checks,
        });
        return;
      }
      // Several keys: each try as the tfm-2.3.0 imgtool prints it, then its summary.
      const lines = (attempts ?? []).map((a) => `Key ${a.key}: ${a.ok ? 'OK' : 'INVALID_SIGNATURE'}`);
      lines.push('Image was correctly validated', `Image version: ${formatVersion(r.version)}`);
      if (r.pureSignature !== undefined) lines.push(`Image signature over image: ${toHex(r.pureSignature)}`);
      else lines.push(`Image digest: ${toHex(r.digest)}`);
      if (keys.length === 0) lines.push('(no key given: the signature was not checked)');
      io.out(`${lines.join('\n')}\n`);
    });
}

export function dumpinfoCommand() {
  return new Command('dumpinfo')
    .summary('print the header, TLV areas and trailer of an image (imgtool dumpinfo)')
    .description(
      "Print an image's header, TLV areas and trailer. -f json writes the same document as\n" +
        'imgtool dumpinfo -f json, -f yaml the YAML imgtool writes by default (-o without -f).',
    )
    .argument('<imgfile>', 'image (binary or .hex)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['human', 'json', 'yaml'] as const))
    .option('-o, --outfile <filename>', 'write to this file (default format yaml, as imgtool)')
    .option('-s, --silent', 'print nothing on stdout (with -o)')
    .option('--json', 'same as -f json')
    .action((imgfile, o) => {
      const info = dumpInfo(readImageFile(imgfile).data, basename(imgfile));
      const format = o.json ? 'json' : (o.format ?? (o.outfile === undefined ? 'human' : 'yaml'));
      const text =
        format === 'json'
          ? `${dumpInfoJson(info)}${o.outfile === undefined ? '\n' : ''}`
          : format === 'yaml'
            ? dumpInfoYaml(info)
            : dumpInfoText(info);
      if (o.outfile === undefined) {
        if (!o.silent) io.out(text);
      } else writeFileAtomic(o.outfile, text);
    });
}

const KEY_ID_HELP = 'the KEYID of the signature (a 32-bit unsigned integer, decimal or 0x hex)';

export function signListCommand() {
  return new Command('sign-list')
    .summary("list an image's signatures (imgtool sign-list)")
    .description(
      'List the signature units ([KEYID] PUBKEY SIG) of an image signed by the imgtool of\n' +
        "MCUboot's tfm-2.3.0 branch, one line each, as that imgtool prints them. Images whose\n" +
        'signatures carry KEYHASH instead of PUBKEY are refused, as there.',
    )
    .argument('<imgfile>', 'image (binary)')
    .option('--json', 'print the units as JSON')
    .action((imgfile, o) => {
      const bytes = readInput(imgfile, 'image');
      if (!o.json) {
        io.out(signListText(bytes));
        return;
      }
      const { units } = signatureUnits(bytes);
      printJson({
        ok: true,
        signatures: units.map((u) => ({
          type: u.typeName,
          len: u.signature.value.length,
          keyId: u.keyId ?? null,
          publicKey: toHex(u.publicKey.value),
          signature: toHex(u.signature.value),
          offset: u.start,
        })),
      });
    });
}

export function signAppendCommand() {
  return new Command('sign-append')
    .summary('add a signature to a padded image (imgtool sign-append)')
    .description(
      'Sign IMGFILE with KEY and add KEYID PUBKEY SIG after its last signature. The image must be\n' +
        'padded (--pad): the new signature takes the place of erased bytes before the trailer and\n' +
        'the file keeps its size. Ed25519 signs the image digest; ECDSA and RSA sign the image.',
    )
    .argument('<imgfile>', 'padded image (binary)')
    .argument('<outfile>', 'where to write the image with the new signature')
    .requiredOption('-k, --key <filename>', 'private signing key (PEM, or a pkcs11: URI of a key in a token)')
    .requiredOption('--key-id <id>', KEY_ID_HELP, parseInteger)
    .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
    .option('--deterministic', DETERMINISTIC_HELP)
    .option('--json', 'print the result as JSON')
    .action((imgfile, outfile, o) => {
      usePkcs11Module(o.pkcs11Module);
      const key = signingKey(readKey(o.key), o.deterministic);
      const out = signAppend(readInput(imgfile, 'image'), key, o.keyId);
      writeFileAtomic(outfile, out);
      if (o.json) printJson({ ok: true, keyId: o.keyId, outfile, signatures: signatureUnits(out).units.length });
      else io.out('Signature Appended.\n');
    });
}

export function signRemoveCommand() {
  return new Command('sign-remove')
    .summary('remove a signature by key id (imgtool sign-remove)')
    .description(
      'Remove the first signature whose KEYID is ID and put back as many erased bytes after the\n' +
        'TLVs. A signature without KEYID cannot be removed. sign-append then sign-remove gives the\n' +
        'original image back, byte for byte.',
    )
    .argument('<imgfile>', 'image (binary)')
    .argument('<outfile>', 'where to write the image without that signature')
    .requiredOption('--key-id <id>', KEY_ID_HELP, parseInteger)
    .option('--json', 'print the result as JSON')
    .action((imgfile, outfile, o) => {
      const out = signRemove(readInput(imgfile, 'image'), o.keyId);
      writeFileAtomic(outfile, out);
      if (o.json) printJson({ ok: true, keyId: o.keyId, outfile, signatures: signatureUnits(out).units.length });
      else io.out('Signature Removed.\n');
    });
}
