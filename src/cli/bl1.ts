/** `rse lms keygen|info` and `rse bl1 sign|info|verify`. @module */
import { randomBytes } from 'node:crypto';
import { Command, Option } from '@commander-js/extra-typings';
import {
  BL1_MAX_SECURITY_COUNTER,
  bl1HeaderProblem,
  decryptBl1Image,
  formatBl1Version,
  parseBl1Image,
  parseBl1Version,
  signBl1Image,
} from '../bl1/image.ts';
import { LmsSigner, lmsKeyFiles, lmsKeygen, lmsKeyInfo } from '../bl1/lms-key.ts';
import { hash } from '../crypto/index.ts';
import { decodeLmsPublicKey, encodeLmsPublicKey, LMOTS_TYPES, LMS_TYPES, lmsVerifyProblem } from '../crypto/lms.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { asU8, readU32be, readU32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { DEFAULT_RSE_PROFILE, rseProfile, rseProfileNames } from '../profiles/index.ts';
import { DUMMY } from '../provisioning/values.ts';
import { infoV2, signV2 } from './bl1-v2.ts';
import { cliStatus, hexOrFileBytes, io, parseInteger, printJson, readInput } from './common.ts';

const rand = (n: number): Uint8Array => asU8(randomBytes(n));

/** Progress on a TTY only: one line rewritten in place. */
function progress(what: string): ((done: number, total: number) => void) | undefined {
  if (process.stderr.isTTY !== true) return undefined;
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((100 * done) / total);
    if (pct === last) return;
    last = pct;
    process.stderr.write(`\r${what}: ${pct}%${done === total ? '\n' : ''}`);
  };
}

/** Heights rsekit builds trees for: BL1_2's H10, and H5 for quick tests (`LMS_SIGNING_TYPES`). */
const HEIGHTS: Record<string, number> = { '5': 5, '10': 6 };
const WS: Record<string, number> = { '1': 1, '2': 2, '4': 3, '8': 4 };

export function lmsCommand() {
  const cmd = new Command('lms').summary('stateful LMS keys (RFC 8554) for BL1 images');
  cmd.addCommand(
    new Command('keygen')
      .summary('make KEY.prv, KEY.pub and KEY.tree (pyhsslms file formats; the tree is rsekit’s cache)')
      .description(
        'BL1_2 verifies LMS_SHA256_M32_H10 / LMOTS_SHA256_N32_W8 (the default): 1024 signatures. Making\n' +
          'the key computes all 1024 one-time keys (seconds); signing then costs one. KEY.prv holds the\n' +
          'next unused leaf: keep exactly one copy, and never restore an old one. KEY.pub is the HSS\n' +
          'public key; its last 56 bytes are what OTP bl1_rotpk_0 holds.',
      )
      .argument('<key>', 'key name (KEY.prv, KEY.pub, KEY.tree are written)')
      .addOption(new Option('--height <h>', 'tree height').choices(Object.keys(HEIGHTS)).default('10'))
      .addOption(new Option('--winternitz <w>', 'Winternitz parameter').choices(Object.keys(WS)).default('8'))
      .option('--json', 'print the public key as JSON')
      .action((key, o) => {
        const pub = lmsKeygen(key, {
          lmsType: HEIGHTS[o.height] as number,
          otsType: WS[o.winternitz] as number,
          random: rand,
          onLeaf: progress('one-time keys'),
        });
        const files = lmsKeyFiles(key);
        const raw = encodeLmsPublicKey(pub);
        if (o.json === true)
          printJson({
            prv: files.prv,
            pub: files.pub,
            publicKey: toHex(raw),
            signatures: 2 ** Number(o.height),
          });
        else io.out(`${files.prv}: ${LMS_TYPES[pub.lmsType]?.name} / ${LMOTS_TYPES[pub.otsType]?.name}\nbl1_rotpk_0 = ${toHex(raw)}\n`);
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('a key’s types, public key, used and remaining signatures (from its files: never builds the tree)')
      .argument('<key>')
      .option('--json', 'machine-readable')
      .action((key, o) => {
        // Read from the files alone: a missing or stale tree cache is reported, never rebuilt here.
        const s = lmsKeyInfo(key);
        const info = {
          prv: s.files.prv,
          lmsType: LMS_TYPES[s.key.lmsType]?.name,
          otsType: LMOTS_TYPES[s.key.otsType]?.name,
          publicKey: toHex(encodeLmsPublicKey(s.publicKey)),
          publicKeyHash: toHex(hash('sha256', encodeLmsPublicKey(s.publicKey))),
          nextLeaf: s.key.q,
          remaining: Math.max(0, s.capacity - s.key.q),
          tree: s.tree,
        };
        if (o.json === true) printJson(info);
        else
          io.out(
            `${info.prv}: ${info.lmsType} / ${info.otsType}\npublic key  ${info.publicKey}\nsigner id   ${info.publicKeyHash} (SHA-256, BL2's measurement signer)\nnext leaf   ${info.nextLeaf} (${info.remaining} signatures left)\ntree cache  ${info.tree === 'cached' ? `${s.files.tree}` : `${info.tree}: the next signature rebuilds it (${s.capacity} one-time keys)`}\n`,
          );
      }),
  );
  return cmd;
}

const KDF_NAMES = {
  'cmac-counter': 'CMAC counter KDF',
  'cmac-counter-be': 'CMAC counter KDF (2.2+)',
  'hash-ecb': 'hash-then-ECB KDF',
} as const;

const profileOption = () =>
  new Option(
    '--profile <profile>',
    rseProfileNames()
      .map((n) => {
        const b = rseProfile(n).bl1;
        return `${n}: ${b.imageV2 === undefined ? 'LMS image' : 'v2 image (CM/DM signers)'}, ${KDF_NAMES[b.kdf]}, ${b.bl2PartitionSize / 1024} KiB partition`;
      })
      .join('; '),
  )
    .choices(rseProfileNames())
    .default(DEFAULT_RSE_PROFILE.name);

export function bl1Command() {
  const cmd = new Command('bl1').summary('the BL2 image BL1_2 loads: LMS-signed, AES-256-CTR encrypted');
  cmd.addCommand(
    new Command('sign')
      .summary('make a BL1_2-loadable image from BL2 code (create_bl2_img.py’s format)')
      .description(
        'IV ‖ LMS signature ‖ version ‖ security counter ‖ AES-256-CTR(0xDEADBEEF, zero pad to 0x800,\n' +
          'BL2, zero pad to the partition). The AES key is derived from --encrypt-key (the OTP\n' +
          'bl2_encryption_key) and the security counter, as BL1_2 derives it. The LMS key’s next leaf\n' +
          'is used and persisted before the image is written; --index picks a later leaf, never a used one.',
      )
      .argument('<infile>', 'BL2 binary')
      .argument('<outfile>', 'signed image')
      .requiredOption(
        '-k, --key <key>',
        'LMS private key (KEY.prv, with KEY.pub and KEY.tree beside it); v2 images (rse-2.3): the CM signer, LMS or an ECDSA P-256/P-384 PEM',
      )
      .option('--dm-key <key>', 'v2 images: a second (DM) signer, LMS or ECDSA (TFM_BL1_2_SIGNER_AMOUNT 2)')
      .option(
        '--encrypt-key <hex|file>',
        "32-byte BL2 encryption key: OTP bl2_encryption_key (2.1, default: TF-M's dummy, with a warning), KCE_CM (2.3, required unless --plain)",
      )
      .option('--iv <file>', 'v2 images: the 16-byte CTR IV (default: random, as the script draws it)')
      .option('--plain', 'v2 images: not encrypted (TFM_BL1_2_IMAGE_ENCRYPTION off)')
      .option('--binding', 'v2 images: with the 16-byte binding-tag slot (TFM_BL1_2_IMAGE_BINDING)')
      .option('-v, --version <version>', 'image version maj.min.rev+build', '1.9.0+0')
      .option('-s, --security-counter <n>', `security counter, 0..${BL1_MAX_SECURITY_COUNTER - 1}`, '1')
      .addOption(profileOption())
      .option('--partition-size <n>', 'BL2 partition size (default: the profile’s)')
      .option('--index <n>', 'LMS leaf to sign with (default: the next unused)')
      .option('--hash-output <file>', 'write SHA-256 of the signed data (the BL2 image hash of RSS 1.7’s ROM bundle)')
      .option('--json', 'print what was made')
      .action((infile, outfile, o) => {
        const v2 = rseProfile(o.profile).bl1.imageV2;
        if (v2 !== undefined) return signV2(infile, outfile, v2, o);
        for (const k of ['dmKey', 'iv', 'plain', 'binding'] as const)
          if (o[k] !== undefined) throw new RseError('E_USAGE', `--${k === 'dmKey' ? 'dm-key' : k} is for v2 images (--profile rse-2.3)`);
        // As rse flash build does: TF-M's dummy key when none is given, said on stderr.
        if (o.encryptKey === undefined)
          io.err(
            "rse bl1 sign: warning: no --encrypt-key: using TF-M's dummy bl2_encryption_key (bl2_dummy_encryption_key.bin), which a production OTP never holds\n",
          );
        const code = readInput(infile, 'BL2 binary');
        const encryptionKey = o.encryptKey === undefined ? DUMMY.bl2_encryption_key : hexOrFileBytes(o.encryptKey, 32, '--encrypt-key');
        const signer = LmsSigner.open(o.key, progress('one-time keys'));
        if (signer.key.lmsType !== 6 || signer.key.otsType !== 4) {
          throw new RseError(
            'E_KEY',
            `${signer.files.prv} is ${LMS_TYPES[signer.key.lmsType]?.name} / ${LMOTS_TYPES[signer.key.otsType]?.name}; BL1_2 verifies LMS_SHA256_M32_H10 / LMOTS_SHA256_N32_W8`,
            { field: 'key' },
          );
        }
        let leaf = -1;
        const { image, hash: h } = signBl1Image({
          code,
          version: parseBl1Version(o.version),
          securityCounter: parseInteger(o.securityCounter),
          encryptionKey,
          kdf: rseProfile(o.profile).bl1.kdf,
          partitionSize: o.partitionSize === undefined ? rseProfile(o.profile).bl1.bl2PartitionSize : parseInteger(o.partitionSize),
          sign: (msg) => {
            const r = signer.sign(msg, rand, o.index === undefined ? undefined : parseInteger(o.index));
            leaf = r.q;
            return r.signature;
          },
          random: rand,
        });
        writeFileAtomic(outfile, image, { durable: false });
        if (o.hashOutput !== undefined) writeFileAtomic(o.hashOutput, h, { durable: false });
        if (o.json === true)
          printJson({ output: outfile, size: image.length, leaf, hash: toHex(h), remaining: signer.capacity - signer.key.q });
        else
          io.out(
            `${outfile}: ${hex0x(image.length)} bytes, LMS leaf ${leaf} (${signer.capacity - signer.key.q} left), image hash ${toHex(h)}\n`,
          );
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('the clear header of a BL1 image; with --encrypt-key and --pub, decrypt and verify it as BL1_2 does')
      .argument('<image>')
      .option('--encrypt-key <file>', '32-byte BL2 encryption key')
      .option('--pub <file>', 'LMS public key (56 bytes, or a 60-byte .pub)')
      .option('--verify', "v2 images: run BL1_2's checks (decryption with --encrypt-key, each signer against its embedded key)")
      .option('--signers <n>', 'v2 images: signer slots (default 1)')
      .option('--plain', 'v2 images: not encrypted')
      .option('--binding', 'v2 images: with a binding-tag slot')
      .addOption(profileOption())
      .option('--json', 'machine-readable')
      .action((file, o) => {
        const v2 = rseProfile(o.profile).bl1.imageV2;
        if (v2 !== undefined) return infoV2(file, v2, o);
        const b = readInput(file, 'BL1 image');
        const h = parseBl1Image(b, file);
        const problem = bl1HeaderProblem(h);
        if (problem !== undefined) throw new RseError('E_BAD_FIELD', `${file} is not a BL1 image: ${problem}`, { field: file });
        const out: Record<string, unknown> = {
          size: b.length,
          iv: toHex(h.iv),
          version: formatBl1Version(h.version),
          securityCounter: h.securityCounter,
          lmsLeaf: readU32be(h.signature, 0),
        };
        if (o.encryptKey !== undefined) {
          const d = decryptBl1Image(h, readInput(o.encryptKey, 'BL2 encryption key'), rseProfile(o.profile).bl1.kdf);
          out.magic = hex0x(readU32le(d.plaintext, 0), 8);
          out.magicOk = readU32le(d.plaintext, 0) === 0xdeadbeef;
          out.hash = toHex(hash('sha256', d.message));
          if (o.pub !== undefined) {
            const problem = lmsVerifyProblem(decodeLmsPublicKey(readInput(o.pub, 'LMS public key'), o.pub), d.message, h.signature);
            out.signature = problem ?? 'ok';
            if (problem !== undefined) cliStatus.code = 1;
          }
          if (out.magicOk !== true) cliStatus.code = 1;
        } else if (o.pub !== undefined) throw new RseError('E_USAGE', '--pub needs --encrypt-key (the signature covers the plaintext)');
        if (o.json === true) printJson(out);
        else for (const [k, v] of Object.entries(out)) io.out(`${k.padEnd(16)}${String(v)}\n`);
      }),
  );
  return cmd;
}
