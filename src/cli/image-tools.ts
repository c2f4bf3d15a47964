/** `rse verify` and `rse dumpinfo`. @module */
import { basename } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../lib/atomic.ts';
import { toHex } from '../lib/hex.ts';
import { dumpInfo, dumpInfoJson, dumpInfoText } from '../mcuboot/dumpinfo.ts';
import { type VerifyReport, verifyImage } from '../mcuboot/verify.ts';
import { formatVersion } from '../mcuboot/version.ts';
import { io, isHexPath, openImageStream, printJson, readImageFile, readKey, STREAM_MIN_SIZE } from './common.ts';

export function verifyCommand() {
  return new Command('verify')
    .summary('check that an image verifies with a key (imgtool verify)')
    .description(
      'Check an MCUboot image: header and TLV bounds, the hash, the signature with KEY, that the\n' +
        "image's KEYHASH/PUBKEY matches KEY, and the trailer magic of a padded slot. With\n" +
        '--enc-key an encrypted image is decrypted and its plaintext hashed.\n' +
        'Exit status: 0 valid, 1 the image fails a check, 2 usage or unreadable input.',
    )
    .argument('<imgfile>', 'image (binary or .hex)')
    .option('-k, --key <filename>', 'signing key, private or public (PEM); omit to check the hash only')
    .option('--enc-key <filename>', 'private encryption key, to verify an encrypted image over its plaintext')
    .option('--json', 'print the result as JSON')
    .action((imgfile, o) => {
      const key = o.key === undefined ? undefined : readKey(o.key);
      const encKey = o.encKey === undefined ? undefined : readKey(o.encKey, 'encryption key');
      const opts = { ...(key === undefined ? {} : { key }), ...(encKey === undefined ? {} : { encKey }) };
      // A large binary image is verified in one pass over its payload, never held whole.
      const opened = isHexPath(imgfile) ? undefined : openImageStream(imgfile, STREAM_MIN_SIZE);
      let r: VerifyReport;
      if (opened === undefined) r = verifyImage(readImageFile(imgfile).data, opts);
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
          checks: r.checks,
        });
        return;
      }
      const lines = ['Image was correctly validated', `Image version: ${formatVersion(r.version)}`];
      if (r.pureSignature !== undefined) lines.push(`Image signature over image: ${toHex(r.pureSignature)}`);
      else lines.push(`Image digest: ${toHex(r.digest)}`);
      if (key === undefined) lines.push('(no key given: the signature was not checked)');
      io.out(`${lines.join('\n')}\n`);
    });
}

export function dumpinfoCommand() {
  return new Command('dumpinfo')
    .summary('print the header, TLV areas and trailer of an image (imgtool dumpinfo)')
    .description("Print an image's header, TLV areas and trailer. -f json writes the same document as\n" + 'imgtool dumpinfo -f json.')
    .argument('<imgfile>', 'image (binary or .hex)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['human', 'json'] as const))
    .option('-o, --outfile <filename>', 'write to this file instead of stdout (default format json)')
    .option('--json', 'same as -f json')
    .action((imgfile, o) => {
      const info = dumpInfo(readImageFile(imgfile).data, basename(imgfile));
      const format = o.json ? 'json' : (o.format ?? (o.outfile === undefined ? 'human' : 'json'));
      const text = format === 'json' ? `${dumpInfoJson(info)}${o.outfile === undefined ? '\n' : ''}` : dumpInfoText(info);
      if (o.outfile === undefined) io.out(text);
      else writeFileAtomic(o.outfile, text);
    });
}
