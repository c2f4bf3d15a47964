/** `rse stm32 sign | verify | info | pkh`: STM32MP image headers (stm32image / mkimage -T stm32image). @module */
import { Command, Option } from '@commander-js/extra-typings';
import { loadKey } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, hex0x, toHex } from '../lib/hex.ts';
import { OTP_WORD } from '../stm32/bsec.ts';
import {
  binaryTypeName,
  checkStm32Image,
  createStm32Image,
  OPTION_NO_SIGNATURE,
  PKH_OTP_FIRST_WORD,
  p256PublicXY,
  parseStm32Image,
  pkhOtpWords,
  publicKeyHash,
  type Stm32Image,
} from '../stm32/image.ts';
import { Mp1Device, romBoot } from '../stm32/mp1.ts';
import { cliStatus, io, parseInteger, printJson, readInput, readKey } from './common.ts';

const hex8 = (n: number): string => hex0x(n, 8);

/** The header as stm32image and mkimage print it, plus what they leave out. */
function describe(img: Stm32Image): string {
  const h = img.header;
  const lines = [
    `Image Type   : STMicroelectronics STM32 V${h.major}.${h.minor}`,
    `Image Size   : ${h.imageLength} bytes`,
    `Image Load   : ${hex8(h.loadAddress)}`,
    `Entry Point  : ${hex8(h.entryPoint)}`,
    `Checksum     : ${hex8(h.checksum)}`,
    h.major === 1
      ? `Option       : ${hex8(h.flags)}${h.flags & OPTION_NO_SIGNATURE ? ' (no signature)' : ' (signed)'}`
      : `Extension    : ${hex8(h.flags)}`,
    `Version      : ${hex8(h.imageVersion)}`,
    `Binary Type  : 0x${h.binaryType.toString(16).padStart(2, '0')} (${binaryTypeName(h.binaryType)})`,
    `Header Size  : ${h.headerSize} bytes`,
  ];
  if (h.major === 1 && h.publicKey !== undefined && !h.publicKey.every((b) => b === 0)) {
    lines.push(`Algorithm    : ${h.algorithm === 1 ? 'ECDSA P-256' : h.algorithm === 2 ? 'ECDSA brainpoolP256t1' : String(h.algorithm)}`);
    lines.push(`Public Key   : ${toHex(h.publicKey)}`);
    lines.push(`PKH (OTP 24) : ${toHex(publicKeyHash(h.publicKey))}`);
  }
  for (const e of h.extensions) lines.push(`Extension    : ${e.name} (${e.type}) at 0x${e.offset.toString(16)}, ${e.length} bytes`);
  if (h.nonZeroReserved.length > 0) lines.push(`Warning      : non-zero ${h.nonZeroReserved.join(', ')}`);
  if (img.trailing > 0) lines.push(`Trailing     : ${img.trailing} bytes after the payload`);
  return `${lines.join('\n')}\n`;
}

function headerJson(img: Stm32Image): Record<string, unknown> {
  const h = img.header;
  return {
    version: `${h.major}.${h.minor}`,
    headerSize: h.headerSize,
    imageLength: h.imageLength,
    loadAddress: hex8(h.loadAddress),
    entryPoint: hex8(h.entryPoint),
    checksum: hex8(h.checksum),
    imageVersion: h.imageVersion,
    [h.major === 1 ? 'optionFlags' : 'extensionFlags']: hex8(h.flags),
    binaryType: h.binaryType,
    binaryTypeName: binaryTypeName(h.binaryType),
    ...(h.algorithm === undefined ? {} : { algorithm: h.algorithm }),
    ...(h.publicKey === undefined ? {} : { publicKey: toHex(h.publicKey), pkh: toHex(publicKeyHash(h.publicKey)) }),
    signature: toHex(h.signature),
    extensions: h.extensions,
    nonZeroReserved: h.nonZeroReserved,
    trailing: img.trailing,
  };
}

const num = (what: string) => (v: string) => {
  const n = parseInteger(v);
  if (n > 0xffffffff) throw new RseError('E_ARGUMENT', `${what} ${v} does not fit 32 bits`, { field: what });
  return n;
};

function pkhOf(o: { key?: string; pkh?: string }): Uint8Array | undefined {
  if (o.key !== undefined && o.pkh !== undefined) throw new RseError('E_USAGE', '-k and --pkh are mutually exclusive');
  if (o.pkh !== undefined) {
    const b = fromHex(o.pkh.replace(/^0x/i, ''), '--pkh');
    if (b.length !== 32) throw new RseError('E_ARGUMENT', `--pkh is 32 bytes, got ${b.length}`, { field: '--pkh' });
    return b;
  }
  return o.key === undefined ? undefined : publicKeyHash(p256PublicXY(loadKey(readInput(o.key, 'key'))));
}

export function stm32Command() {
  const cmd = new Command('stm32').summary('STM32MP image headers: sign, verify, info, the public key hash for OTP');
  cmd.addCommand(
    new Command('sign')
      .alias('create')
      .summary('put an STM32 header in front of a binary (stm32image flags) and sign it with -k')
      .description(
        "Put an STM32 header in front of a binary, as TF-A's stm32image does (same flags), and sign it (v1) with -k: ECDSA P-256 over SHA-256 of the header from 0x48 and the payload, the key's X ‖ Y at 0x6C.",
      )
      .argument('[input]', 'the binary (or -s)')
      .argument('[output]', 'the image (or -d)')
      .option('-s, --src <file>', 'the binary (stm32image -s)')
      .option('-d, --dest <file>', 'the image (stm32image -d)')
      .requiredOption('-l, --load <addr>', 'load address', num('load address'))
      .requiredOption('-e, --entry <addr>', 'entry point', num('entry point'))
      .requiredOption(
        '-b, --binary-type <n>',
        'binary type: 0x00 U-Boot, 0x10-0x1F TF-A, 0x20-0x2F OP-TEE, 0x30 coprocessor',
        num('binary type'),
      )
      .option('-v, --image-version <n>', 'image version, checked against the OTP monotonic counter', num('image version'), 0)
      .addOption(new Option('-m, --major <n>', 'header version: 1 (MP15) or 2 (MP13)').choices(['1', '2']).default('1'))
      .option('-n, --minor <n>', 'header minor version', num('minor'), 0)
      .option('-k, --key <file>', 'P-256 private key: sign (v1); without it the image is unsigned (option bit 0)')
      .option('--json', 'machine-readable output')
      .action((input, output, o) => {
        const src = o.src ?? input;
        const dest = o.dest ?? output;
        if (src === undefined) throw new RseError('E_USAGE', 'missing the input binary (argument or -s)');
        if (dest === undefined) throw new RseError('E_USAGE', 'missing the output image (argument or -d)');
        const bytes = createStm32Image({
          payload: readInput(src),
          loadAddress: o.load,
          entryPoint: o.entry,
          binaryType: o.binaryType,
          imageVersion: o.imageVersion,
          major: o.major === '2' ? 2 : 1,
          minor: o.minor,
          ...(o.key === undefined ? {} : { key: readKey(o.key) }),
        });
        writeFileAtomic(dest, bytes, { durable: false });
        const img = parseStm32Image(bytes);
        if (o.json) printJson({ file: dest, ...headerJson(img) });
        else io.out(describe(img));
      }),
  );
  cmd.addCommand(
    new Command('verify')
      .summary("the ROM's checks: header version, checksum, key hash and signature")
      .description(
        "The ROM's checks of an image: header version, payload checksum and, when signed (or with --closed, always), the algorithm, the key against the PKH (-k or --pkh) and the signature. Exit 0 when every check passes, 1 otherwise.",
      )
      .argument('<image>')
      .option('-k, --key <file>', 'the expected key (its PKH is compared)')
      .option('--pkh <hex>', 'the expected PKH, as OTP words 24..31 hold it')
      .option('--closed', 'a closed device: the signature is required whatever the option flag says')
      .option('--json', 'machine-readable output')
      .action((path, o) => {
        const img = parseStm32Image(readInput(path, 'image'));
        const pkh = pkhOf(o);
        const checks = checkStm32Image(img, { ...(pkh === undefined ? {} : { pkh }), closed: o.closed === true });
        const ok = checks.every((c) => c.ok);
        if (o.json) printJson({ file: path, ok, checks });
        else
          io.out(`${checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}`).join('\n')}\n${ok ? 'verified' : 'refused'}\n`);
        cliStatus.code = ok ? 0 : 1;
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('print a header (v1 or v2)')
      .description('Print an image header (v1 or v2) as mkimage -l does, with the key, its PKH and the extensions')
      .argument('<image>')
      .option('--json', 'machine-readable output')
      .action((path, o) => {
        const img = parseStm32Image(readInput(path, 'image'));
        if (o.json) printJson({ file: path, ...headerJson(img) });
        else io.out(describe(img));
      }),
  );
  cmd.addCommand(
    new Command('pkh')
      .summary('the public key hash and its OTP words')
      .description('The public key hash SHA-256(X ‖ Y) and the OTP words 24..31 that hold it (MP15)')
      .requiredOption('-k, --key <file>', 'P-256 key (private or public)')
      .option('--json', 'machine-readable output')
      .action((o) => {
        const pkh = publicKeyHash(p256PublicXY(loadKey(readInput(o.key, 'key'))));
        const words = pkhOtpWords(pkh);
        if (o.json) printJson({ pkh: toHex(pkh), otp: Object.fromEntries(words.map((w, i) => [PKH_OTP_FIRST_WORD + i, hex8(w)])) });
        else io.out(`${toHex(pkh)}\n${words.map((w, i) => `OTP ${PKH_OTP_FIRST_WORD + i}: ${hex8(w)}`).join('\n')}\n`);
      }),
  );
  const device = new Command('device').summary('virtual STM32MP15 devices');
  device.addCommand(
    new Command('create')
      .description('Create a blank, open STM32MP15: every fuse 0 (otp.bin) and device.json')
      .argument('<dir>')
      .option('--force', 'replace a device already there')
      .action((dir, o) => {
        Mp1Device.create(dir, o.force === true);
        io.out(`created ${dir}: stm32mp1, open, 96 OTP words blank\n`);
      }),
  );
  cmd.addCommand(device);
  const otp = new Command('otp').summary("a device's BSEC fuses: show, program, lock");
  otp.addCommand(
    new Command('show')
      .description('The OTP words with their meaning and locks, the security state and the debug the ROM leaves open')
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const dev = Mp1Device.open(dir);
        const b = dev.bsec;
        // Blank words are left out, but for the two that say what state the device is in.
        const rows = Array.from({ length: 96 }, (_, n) => ({
          n,
          value: b.fuse(n),
          locked: b.isPermanentlyLocked(n),
          name: otpName(n),
        })).filter((r) => r.value !== 0 || r.locked || r.n === OTP_WORD.CFG0 || r.n === OTP_WORD.MONOTONIC);
        // OEM secrets are shown as programmed, never by value.
        const shown = (r: { n: number; value: number }): string =>
          r.n >= OTP_WORD.OEM_SECRETS && r.value !== 0 ? 'programmed' : hex8(r.value);
        const pkh = dev.pkh();
        if (o.json) {
          printJson({
            state: b.closed ? 'closed' : 'open',
            monotonicCounter: b.monotonicVersion(),
            pkh: pkh === undefined ? null : toHex(pkh),
            words: rows.map((r) => ({ word: r.n, value: shown(r), permanentLock: r.locked, ...(r.name ? { name: r.name } : {}) })),
          });
          return;
        }
        io.out(
          `${dir}: stm32mp1, ${b.closed ? 'closed (secure boot enforced, debug closed by the ROM)' : 'open'}; anti-rollback counter ${b.monotonicVersion()}; PKH ${pkh === undefined ? 'not provisioned' : toHex(pkh)}\n` +
            rows
              .map((r) =>
                `  OTP ${String(r.n).padStart(2)}  ${hex8(r.value)}${r.locked ? '  locked' : '        '}  ${r.name ?? ''}`.trimEnd(),
              )
              .join('\n') +
            '\n',
        );
      }),
  );
  otp.addCommand(
    new Command('program')
      .description('Blow the one bits of VALUE into word N (secure; refused on a locked word or where a blown bit would return to 0)')
      .argument('<dir>')
      .argument('<word>', 'OTP word 0..95', num('word'))
      .argument('<value>', '32-bit value', num('value'))
      .action((dir, word, value) => {
        const dev = Mp1Device.open(dir);
        dev.bsec.program(word, value);
        dev.save();
        io.out(`OTP ${word} = ${hex8(dev.bsec.fuse(word))}\n`);
      }),
  );
  otp.addCommand(
    new Command('lock')
      .description("Program word N's permanent lock fuse")
      .argument('<dir>')
      .argument('<word>', 'OTP word 0..95', num('word'))
      .action((dir, word) => {
        const dev = Mp1Device.open(dir);
        dev.bsec.lockPermanently(word);
        dev.save();
        io.out(`OTP ${word} permanently locked\n`);
      }),
  );
  cmd.addCommand(otp);
  cmd.addCommand(
    new Command('provision')
      .summary('program the PKH (locked), the anti-rollback counter, and close the device')
      .argument('<dir>')
      .option('-k, --key <file>', 'the FSBL signing key: its PKH goes to OTP 24..31, permanently locked')
      .option('--pkh <hex>', 'the PKH itself')
      .option('--counter <n>', 'anti-rollback counter (OTP 4, thermometer code)', num('counter'))
      .option('--close', 'blow CFG0 bit 6: the ROM then requires a signed FSBL and closes debug')
      .action((dir, o) => {
        const dev = Mp1Device.open(dir);
        const pkh = pkhOf(o);
        dev.provision({
          ...(pkh === undefined ? {} : { pkh }),
          ...(o.counter === undefined ? {} : { counter: o.counter }),
          close: o.close === true,
        });
        io.out(
          `${dir}: ${dev.bsec.closed ? 'closed' : 'open'}, PKH ${dev.pkh() === undefined ? 'not provisioned' : toHex(dev.pkh() as Uint8Array)}, counter ${dev.bsec.monotonicVersion()}\n`,
        );
      }),
  );
  cmd.addCommand(
    new Command('boot')
      .summary('power on: the ROM authenticates the FSBL (signature, PKH, anti-rollback)')
      .argument('<dir>')
      .argument('<fsbl>', 'the FSBL with its STM32 header')
      .option('--json', 'machine-readable output')
      .action((dir, fsbl, o) => {
        const dev = Mp1Device.open(dir);
        const r = romBoot(dev, readInput(fsbl, 'FSBL'));
        if (o.json) printJson(r);
        else
          io.out(
            `stm32mp1 cold boot of ${dir}: ${r.closed ? 'closed' : 'open'}\n` +
              r.checks.map((c) => `  ROM  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}`).join('\n') +
              `\n  auth_status ${r.authStatus} (${['none', 'failed', 'success'][r.authStatus]}); debug: secure ${r.debug.secure ? 'open' : 'closed'}, non-secure ${r.debug.nonSecure ? 'open' : 'closed'}\n` +
              (r.ok ? '  ROM jumps to the FSBL\n' : `  ROM stops: ${r.halt}\n`),
          );
        cliStatus.code = r.ok ? 0 : 1;
      }),
  );
  return cmd;
}

const OTP_NAMES: Readonly<Record<number, string>> = {
  0: 'CFG0 (bit 6: closed)',
  1: 'part number',
  3: 'boot configuration',
  4: 'anti-rollback counter (thermometer)',
  13: 'UID[0]',
  14: 'UID[1]',
  15: 'UID[2]',
  56: 'RMA',
  57: 'MAC address (non-secure)',
  58: 'MAC address (non-secure)',
};

function otpName(n: number): string | undefined {
  if (n >= 24 && n <= 31) return `PKH[${n - 24}]`;
  if (n >= 40 && n <= 55) return `chip certificate[${n - 40}]`;
  if (n >= 59) return 'OEM secret (secure only)';
  return OTP_NAMES[n];
}
