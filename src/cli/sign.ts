/** `rse sign` (alias `create`): imgtool's sign, flag for flag. @module */
import { Command, Option } from '@commander-js/extra-typings';
import { AtomicFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { writeIntelHex } from '../lib/intel-hex.ts';
import { signCompressed } from '../mcuboot/compress.ts';
import { isTfm23KnownTlv, TLV_VENDOR_MIN } from '../mcuboot/constants.ts';
import { imageFileParts, imageHexSegments, signImageFile, signImageStream } from '../mcuboot/sign.ts';
import type { Dependency, SignedImage, SignOptions } from '../mcuboot/sign-options.ts';
import { parseVersion } from '../mcuboot/version.ts';
import {
  collect,
  DETERMINISTIC_HELP,
  io,
  isHexPath,
  openPayloadStream,
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
import { liblzmaCompressor } from './lzma.ts';

/** imgtool's dependency syntax: `(id, maj.min.rev+build), ...`. */
export function parseDependencies(value: string): Dependency[] {
  const ids = [...value.matchAll(/\((\d+)/g)].map((m) => Number(m[1]));
  if (ids.length === 0) throw new RseError('E_ARGUMENT', `Image dependency format is invalid: ${value}`, { field: '--dependencies' });
  const versions = [...value.matchAll(/,\s*([0-9.+]+)\)/g)].map((m) => m[1] as string);
  if (ids.length !== versions.length) {
    throw new RseError('E_ARGUMENT', `There's a mismatch between the number of dependency images and versions in: ${value}`, {
      field: '--dependencies',
    });
  }
  return ids.map((imageId, i) => ({ imageId, version: parseVersion(versions[i] as string, '--dependencies') }));
}

/** Pulls imgtool's two-value options (`--custom-tlv TAG VALUE`) out of argv, which commander cannot take. */
export function extractPairs(argv: string[], names: readonly string[]): { rest: string[]; pairs: [string, string, string][] } {
  const rest: string[] = [];
  const pairs: [string, string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (names.includes(a)) {
      const tag = argv[i + 1];
      const val = argv[i + 2];
      if (tag === undefined || val === undefined) throw new RseError('E_USAGE', `${a} takes two values: TAG VALUE`, { field: a });
      pairs.push([a, tag, val]);
      i += 2;
    } else {
      rest.push(a);
    }
  }
  return { rest, pairs };
}

function customTlvValue(value: string): Uint8Array {
  if (value.startsWith('0x')) {
    if ((value.length - 2) % 2 !== 0) throw new RseError('E_ARGUMENT', 'Custom TLV length is odd.', { field: '--custom-tlv' });
    if (!/^[0-9a-fA-F]*$/.test(value.slice(2)))
      throw new RseError('E_ARGUMENT', `Custom TLV value ${value} is not hex`, { field: '--custom-tlv' });
    return new Uint8Array(Buffer.from(value.slice(2), 'hex'));
  }
  return new TextEncoder().encode(value);
}

/** `-s`: an integer (0x/0o/0b allowed) or `auto`. */
function parseSecurityCounter(value: string): number | 'auto' {
  if (value.toLowerCase() === 'auto') return 'auto';
  try {
    return parseInteger(value);
  } catch (e) {
    throw new RseError('E_ARGUMENT', (e as Error).message, { field: '--security-counter' });
  }
}

function tlvTag(tag: string): number {
  try {
    return parseInteger(tag);
  } catch (e) {
    throw new RseError('E_ARGUMENT', `custom TLV tag: ${(e as Error).message}`, { field: '--custom-tlv' });
  }
}

/** `--psa-key-ids`: a decimal u32 (imgtool takes click ints: hex is refused). */
function psaKeyId(v: string): number {
  if (!/^-?\d+$/.test(v))
    throw new RseError('E_USAGE', `Invalid value for '--psa-key-ids': '${v}' is not a valid integer.`, { field: '--psa-key-ids' });
  const n = Number(v);
  // imgtool of tfm-2.3.0 crashes (OverflowError) here; a clean refusal instead.
  if (n < 0 || n > 0xffffffff) throw new RseError('E_ARGUMENT', `PSA key id ${v} does not fit a u32`, { field: '--psa-key-ids' });
  return n;
}

/**
 * `--extra-tlv TAG VALUE`: unprotected TLVs in order; a tag must be one imgtool knows or a vendor
 * tag 0x00A0..0xFFFE, and may appear once.
 */
function extraTlvsOf(pairs: readonly [string, string, string][]): [number, Uint8Array][] {
  const seen = new Set<number>();
  return pairs.map(([, t, v]) => {
    const tag = tlvTag(t);
    if (!isTfm23KnownTlv(tag) && (tag < TLV_VENDOR_MIN || tag > 0xfffe))
      throw new RseError('E_ARGUMENT', `--extra-tlv tag 0x${tag.toString(16)} is neither a known TLV nor a vendor tag 0x00a0..0xfffe`, {
        field: '--extra-tlv',
      });
    if (seen.has(tag)) throw new RseError('E_ARGUMENT', `--extra-tlv tag 0x${tag.toString(16)} is given twice`, { field: '--extra-tlv' });
    seen.add(tag);
    return [tag, customTlvValue(v)];
  });
}

export function signCommand(pairs: () => [string, string, string][]) {
  return new Command('sign')
    .alias('create')
    .summary('create a signed or unsigned MCUboot image (imgtool sign)')
    .description(
      'Create a signed or unsigned MCUboot image, byte-compatible with imgtool 2.4.0.\n' +
        'INFILE and OUTFILE are Intel HEX when their names end in .hex, else binary.',
    )
    .argument('<infile>', 'payload to sign (binary or .hex)')
    .argument('<outfile>', 'image to write (binary or .hex)')
    .option(
      '-k, --key <filename>',
      'private signing key (PEM, or a pkcs11: URI of a key in a token); omit for an unsigned image; repeat for several signatures (imgtool of MCUboot tfm-2.3.0)',
      collect,
    )
    .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
    .option('--psa-key-ids <id>', 'PSA key id (decimal u32) for the i-th -k: a KEYID TLV before its key TLV (repeatable)', collect)
    .addOption(
      new Option('--public-key-format <format>', 'put the key hash or the full key in the image')
        .choices(['hash', 'full'] as const)
        .default('hash' as const),
    )
    .addOption(
      new Option('--align <n>', 'flash write alignment used by swap upgrades')
        .choices(['1', '2', '4', '8', '16', '32'] as const)
        .default('1' as const),
    )
    .addOption(new Option('--max-align <n>', 'maximum flash alignment (default max(8, align))').choices(['8', '16', '32'] as const))
    .requiredOption('-v, --version <version>', 'image version maj[.min[.rev[+build]]]')
    .option('-s, --security-counter <n|auto>', 'security counter value, or auto = (major << 24) + (minor << 16) + revision')
    .option('-d, --dependencies <deps>', 'dependencies on other images: "(<image id>, <version>), ..."')
    .option('--pad-sig', 'pad ECDSA signatures with zeros to 72/103 bytes (MCUboot < 1.5)')
    .requiredOption('-H, --header-size <n>', 'header size in bytes (>= 32)', parseInteger)
    .option('--pad-header', 'prepend --header-size bytes of the erased value to the input')
    .requiredOption('-S, --slot-size <n>', 'slot size; image + trailer must fit', parseInteger)
    .option('--pad', 'pad the image to --slot-size and write the trailer magic')
    .option('--confirm', 'mark the padded image confirmed (image_ok = 1; implies --pad)')
    .option('--test', 'mark the padded image for a test swap (implies --pad)')
    .option('-M, --max-sectors <n>', 'sectors the swap status area covers (default 128)', parseInteger)
    .option('--boot-record <sw_type>', 'add a CBOR boot record TLV with this software type (max 12 characters)')
    .option('--overwrite-only', 'size the trailer for overwrite-only upgrades')
    .addOption(
      new Option('-e, --endian <endian>', 'byte order of header and TLVs').choices(['little', 'big'] as const).default('little' as const),
    )
    .option('-c, --clear', 'with -E: add the key TLV and flag but leave the payload in clear text')
    .option('-E, --encrypt <filename>', 'encrypt the payload for this public key (RSA, P-256 or X25519)')
    .addOption(new Option('--encrypt-keylen <bits>', 'AES key length').choices(['128', '256'] as const).default('128' as const))
    .addOption(
      new Option('--compression <type>', 'LZMA2 payload compression (kept only if smaller; needs the optional lzma-native package)')
        .choices(['disabled', 'lzma2', 'lzma2armthumb'] as const)
        .default('disabled' as const),
    )
    .option('--save-enctlv', 'size the trailer for BOOT_SWAP_SAVE_ENCTLV (keeps encrypted key TLVs)')
    .option('-F, --rom-fixed <addr>', 'flash address the image is built for (sets ROM_FIXED)', parseInteger)
    .option('-L, --load-addr <addr>', 'RAM load address (sets RAM_LOAD)', parseInteger)
    .option('-x, --hex-addr <addr>', 'address of the image in Intel HEX output', parseInteger)
    .addOption(new Option('-R, --erased-val <value>', 'value of erased flash').choices(['0', '0xff'] as const))
    .option('--custom-tlv <tag> <value>', 'protected custom TLV; VALUE 0x.. is hex bytes, else UTF-8 text (repeatable)')
    .option('--custom-tlv-file <tag> <filename>', 'protected custom TLV with a file as value (repeatable)')
    .option(
      '--extra-tlv <tag> <value>',
      'unprotected TLV after the signatures, VALUE 0x.. hex or UTF-8 (repeatable; e.g. the image-binding placeholders 0xA4/0xA5)',
    )
    .option('--non-bootable', 'mark the image non-bootable')
    .option('--fix-sig <filename>', 'use this base64 signature (made externally) instead of signing')
    .option('--fix-sig-pubkey <filename>', 'public key of the --fix-sig signature, or for --vector-to-sign')
    .option('--pure', 'Ed25519 over the whole image instead of its digest')
    .option(
      '--sig-out <filename>',
      'also write the signature, base64, to this file (several -k or --psa-key-ids: one line per signature, as the tfm-2.3.0 imgtool)',
    )
    .addOption(new Option('--sha <bits>', 'image hash algorithm').choices(['auto', '256', '384', '512'] as const).default('auto' as const))
    .addOption(
      new Option('--hmac-sha <bits>', 'hash of the ECIES HKDF/HMAC').choices(['auto', '256', '512'] as const).default('auto' as const),
    )
    .addOption(
      new Option('--vector-to-sign <what>', 'write the bytes to sign (payload) or their digest instead of the image').choices([
        'payload',
        'digest',
      ] as const),
    )
    .option('--vid <uuid|name>', 'vendor UUID, or a domain name (UUIDv5 in the DNS namespace)')
    .option('--cid <uuid|name>', 'image class UUID, or a name (UUIDv5 in the --vid namespace)')
    .option('--deterministic', DETERMINISTIC_HELP)
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  rse sign -k root-EC-P256.pem --public-key-format full --max-align 8 \\\n' +
        '      --align 1 -v 0.0.1 -s 1 -H 0x2000 --pad-header -S 0x80000 --pad \\\n' +
        '      -L 0x70000000 bl32.bin bl32_signed.bin\n' +
        '  rse sign --fix-sig-pubkey pub.pem -v 1.0.0 -H 0x400 --pad-header \\\n' +
        '      -S 0x20000 --vector-to-sign digest in.bin tbs.bin\n' +
        '  rse sign --fix-sig sig.b64 --fix-sig-pubkey pub.pem -v 1.0.0 -H 0x400 \\\n' +
        '      --pad-header -S 0x20000 in.bin out.bin',
    )
    .action(async (infile, outfile, o) => {
      const version = parseVersion(o.version, '--version');
      const securityCounter = o.securityCounter === undefined ? undefined : parseSecurityCounter(o.securityCounter);
      // imgtool adds the --custom-tlv ones first, then the --custom-tlv-file ones, each in order.
      const customTlvs: [number, Uint8Array][] = [
        ...pairs()
          .filter(([flag]) => flag === '--custom-tlv')
          .map(([, tag, value]): [number, Uint8Array] => [tlvTag(tag), customTlvValue(value)]),
        ...pairs()
          .filter(([flag]) => flag === '--custom-tlv-file')
          .map(([, tag, file]): [number, Uint8Array] => [tlvTag(tag), readInput(file, 'custom TLV file')]),
      ];
      usePkcs11Module(o.pkcs11Module);
      const keys = (o.key ?? []).map((k) => signingKey(readKey(k, 'signing key'), o.deterministic));
      const key = keys[0];
      const psaKeyIds = (o.psaKeyIds ?? []).map(psaKeyId);
      const extraTlvs = extraTlvsOf(pairs().filter(([flag]) => flag === '--extra-tlv'));
      const fixPub = o.fixSigPubkey === undefined ? undefined : readKey(o.fixSigPubkey, 'public key');
      let fixedSignature: SignOptions['fixedSignature'];
      if (o.fixSig !== undefined) {
        if (fixPub === undefined)
          throw new RseError('E_USAGE', 'public key of the fixed signature is not specified (--fix-sig-pubkey)', {
            field: '--fix-sig-pubkey',
          });
        const b64 = Buffer.from(readInput(o.fixSig, 'signature file')).toString('latin1').trim();
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new RseError('E_ARGUMENT', `${o.fixSig} is not base64`, { field: '--fix-sig' });
        fixedSignature = { signature: new Uint8Array(Buffer.from(b64, 'base64')), publicKey: fixPub };
      }
      const opts: SignOptions = {
        version,
        headerSize: o.headerSize,
        slotSize: o.slotSize,
        publicKeyFormat: o.publicKeyFormat,
        align: Number(o.align),
        ...(o.maxAlign === undefined ? {} : { maxAlign: Number(o.maxAlign) }),
        ...(o.maxSectors === undefined ? {} : { maxSectors: o.maxSectors }),
        padHeader: o.padHeader === true,
        pad: o.pad === true,
        confirm: o.confirm === true,
        test: o.test === true,
        overwriteOnly: o.overwriteOnly === true,
        endian: o.endian,
        ...(o.loadAddr === undefined ? {} : { loadAddr: o.loadAddr }),
        ...(o.romFixed === undefined ? {} : { romFixed: o.romFixed }),
        erasedVal: o.erasedVal === '0' ? 0 : 0xff,
        saveEnctlv: o.saveEnctlv === true,
        ...(securityCounter === undefined ? {} : { securityCounter }),
        nonBootable: o.nonBootable === true,
        ...(o.vid === undefined ? {} : { vid: o.vid }),
        ...(o.cid === undefined ? {} : { cid: o.cid }),
        ...(o.dependencies === undefined ? {} : { dependencies: parseDependencies(o.dependencies) }),
        ...(o.bootRecord === undefined ? {} : { bootRecord: o.bootRecord }),
        customTlvs,
        sha: o.sha,
        pure: o.pure === true,
        padSig: o.padSig === true,
        ...(o.vectorToSign === undefined ? {} : { vectorToSign: o.vectorToSign }),
        ...(key === undefined ? {} : { key }),
        ...(keys.length > 1 ? { additionalKeys: keys.slice(1) } : {}),
        ...(psaKeyIds.length > 0 ? { psaKeyIds } : {}),
        ...(extraTlvs.length > 0 ? { extraTlvs } : {}),
        ...(fixedSignature === undefined ? {} : { fixedSignature }),
        ...(fixPub === undefined || fixedSignature !== undefined ? {} : { publicKey: fixPub }),
        ...(o.encrypt === undefined
          ? {}
          : {
              encrypt: {
                key: readKey(o.encrypt, 'encryption key'),
                keyLen: o.encryptKeylen === '256' ? 256 : 128,
                clear: o.clear === true,
                hmacSha: o.hmacSha === '512' ? 512 : 256,
              },
            }),
      };
      // A large binary payload is hashed and written in one pass, piece by piece, when nothing
      // needs it whole (compression, encryption, pure signatures, vectors, HEX).
      const streamable =
        o.compression === 'disabled' &&
        opts.encrypt === undefined &&
        !opts.pure &&
        opts.vectorToSign === undefined &&
        opts.padHeader === true &&
        !isHexPath(infile) &&
        !isHexPath(outfile);
      const opened = streamable ? openPayloadStream(infile, STREAM_MIN_SIZE) : undefined;
      let img: SignedImage;
      if (opened !== undefined) {
        let file: AtomicFile | undefined;
        try {
          const out = AtomicFile.open(outfile);
          file = out;
          img = signImageStream({ stream: opened.stream }, opts, (piece) => out.write(piece));
          for (const p of imageFileParts(img)) out.write(p);
          out.commit({ durable: false });
        } catch (e) {
          file?.abort();
          throw e;
        } finally {
          opened.close();
        }
      } else {
        const input = readImageFile(infile);
        if (o.compression === 'disabled') img = signImageFile(input, opts);
        else {
          const r = await signCompressed(input, opts, o.compression, liblzmaCompressor);
          img = r.image;
          if (!o.json) {
            io.err(
              `compressed ${r.originalSize} -> ${r.compressedSize} bytes${r.compressed ? '' : ': not smaller, image left uncompressed'}\n`,
            );
          }
        }
        if (isHexPath(outfile)) {
          const base = o.hexAddr ?? img.baseAddr;
          if (base === undefined) {
            throw new RseError('E_USAGE', 'No address exists in input file neither was it provided by user (use -x/--hex-addr)', {
              field: '--hex-addr',
            });
          }
          writeFileAtomic(outfile, writeIntelHex(imageHexSegments(img, base)), { durable: false });
        } else {
          writeFileAtomic(outfile, imageFileParts(img), { durable: false });
        }
      }
      if (o.sigOut !== undefined && img.signature !== undefined) {
        // imgtool 2.4.0 writes one base64 string; the tfm-2.3.0 imgtool one line per signature.
        // A command line using that imgtool's options (several -k, --psa-key-ids) gets its form.
        const tfm23 = img.signatures.length > 1 || (o.psaKeyIds ?? []).length > 0;
        const text = tfm23
          ? img.signatures.map((s) => `${Buffer.from(s).toString('base64')}\n`).join('')
          : Buffer.from(img.signature).toString('base64');
        writeFileAtomic(o.sigOut, text);
      }
      if (o.json) {
        printJson({
          outfile,
          kind: img.kind,
          hash: img.hashAlg,
          digest: toHex(img.digest),
          signature: img.signature === undefined ? null : toHex(img.signature),
          size: img.size,
          slotSize: img.slotSize,
          padded: img.pad,
        });
      }
    });
}
