/** `rse stm32 sign | verify | info | pkh`: STM32MP image headers (stm32image / mkimage -T stm32image). @module */
import { basename } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { loadKey } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { DENABLE, OTP_WORD } from '../stm32/bsec.ts';
import { parseMaster } from '../stm32/bus.ts';
import { MP15_PERIPHERALS, TZMA_ALL_SECURE } from '../stm32/etzpc.ts';
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
import { Mp1Device, mp1Boot } from '../stm32/mp1.ts';
import { type DecprotEncoding, parsePlatform } from '../stm32/platform.ts';
import { productId } from '../stm32/ssp.ts';
import { ACTIONS, SEC_ATTR_NAMES } from '../stm32/tzc400.ts';
import {
  cliStatus,
  DETERMINISTIC_HELP,
  hex8,
  io,
  PKCS11_MODULE_HELP,
  parseU32,
  printJson,
  readInput,
  readKey,
  signingKey,
  usePkcs11Module,
} from './common.ts';
import { smcCallCommand, smcServeCommand } from './stm32-smc.ts';
import { tampCommand } from './stm32-tamp.ts';

/** The header as stm32image and mkimage print it, plus what they leave out. */
export function describe(img: Stm32Image): string {
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

export function headerJson(img: Stm32Image): Record<string, unknown> {
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

export function pkhOf(o: { key?: string; pkh?: string }): Uint8Array | undefined {
  if (o.key !== undefined && o.pkh !== undefined) throw new RseError('E_USAGE', '-k and --pkh are mutually exclusive');
  if (o.pkh !== undefined) {
    const b = fromHex(o.pkh.replace(/^0x/i, ''), '--pkh');
    if (b.length !== 32) throw new RseError('E_ARGUMENT', `--pkh is 32 bytes, got ${b.length}`, { field: '--pkh' });
    return b;
  }
  return o.key === undefined ? undefined : publicKeyHash(p256PublicXY(loadKey(readInput(o.key, 'key'))));
}

export function stm32Command() {
  const cmd = new Command('stm32').summary('STM32MP1: image headers, a virtual MP15 (fuses, secure boot, firewalls, tamper)');
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
      .requiredOption('-l, --load <addr>', 'load address', parseU32('load address'))
      .requiredOption('-e, --entry <addr>', 'entry point', parseU32('entry point'))
      .requiredOption(
        '-b, --binary-type <n>',
        'binary type: 0x00 U-Boot, 0x10-0x1F TF-A, 0x20-0x2F OP-TEE, 0x30 coprocessor',
        parseU32('binary type'),
      )
      .option('-v, --image-version <n>', 'image version, checked against the OTP monotonic counter', parseU32('image version'), 0)
      .addOption(new Option('-m, --major <n>', 'header version: 1 (MP15) or 2 (MP13)').choices(['1', '2']).default('1'))
      .option('-n, --minor <n>', 'header minor version', parseU32('minor'), 0)
      .option(
        '-k, --key <file>',
        'P-256 private key (PEM, or a pkcs11: URI of a key in a token): sign (v1); without it the image is unsigned (option bit 0)',
      )
      .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
      .option('--deterministic', DETERMINISTIC_HELP)
      .option('--json', 'machine-readable output')
      .action((input, output, o) => {
        usePkcs11Module(o.pkcs11Module);
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
          ...(o.key === undefined ? {} : { key: signingKey(readKey(o.key), o.deterministic) }),
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
      .description(
        "Create an open STM32MP15 as it leaves ST's factory: a hardware-unique secret (its SSP key pair derives from it), CFG2 and the chip certificate in OTP 40..55 signed by --ca (the virtual ST CA by default); every other fuse 0 (otp.bin + device.json)",
      )
      .argument('<dir>')
      .option('--ca <file>', 'P-256 private key of the CA that signs the chip certificate')
      .option('--force', 'replace a device already there')
      .action((dir, o) => {
        const dev = Mp1Device.create(dir, o.force === true, o.ca === undefined ? {} : { ca: loadKey(readInput(o.ca, 'CA key')) });
        io.out(`created ${dir}: stm32mp1, open, product ${productId(dev.bsec)}, chip certificate in OTP 40..55\n`);
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
        // The RMA password and the OEM secrets are shown as programmed, never by value.
        const shown = (r: { n: number; value: number }): string =>
          (r.n >= OTP_WORD.OEM_SECRETS || r.n === OTP_WORD.RMA) && r.value !== 0 ? 'programmed' : hex8(r.value);
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
                `  OTP ${String(r.n).padStart(2)}  ${shown(r).padEnd(10)}${r.locked ? '  locked' : '        '}  ${r.name ?? ''}`.trimEnd(),
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
      .argument('<word>', 'OTP word 0..95', parseU32('word'))
      .argument('<value>', '32-bit value', parseU32('value'))
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
      .argument('<word>', 'OTP word 0..95', parseU32('word'))
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
      .option('--counter <n>', 'anti-rollback counter (OTP 4, thermometer code)', parseU32('counter'))
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
      .summary('power on: the ROM authenticates the FSBL, the FSBL the next images, then firewalls and debug')
      .description(
        'A cold boot of the virtual STM32MP15. The ROM checks the FSBL (signature forced on a closed device, PKH in OTP 24..31, anti-rollback against OTP 4); the FSBL checks each --image against the same PKH, configures the TZC-400 and the ETZPC from --platform (JSON, or device-tree source with st,decprot and memory-ranges) and opens the debug the platform allows. The state it leaves (firewalls, debug) is kept with the device for rse stm32 access. Exit 0 when the boot reaches the runtime, 1 when a stage stops it.',
      )
      .argument('<dir>')
      .argument('<fsbl>', 'the FSBL with its STM32 header')
      .option('-i, --image <file...>', 'the images the FSBL loads next (SSBL, OP-TEE), each with its STM32 header')
      .option('-p, --platform <file>', 'firewall and debug configuration (JSON or .dts)')
      .addOption(
        new Option('--decprot-encoding <enc>', 'cells in st,decprot: OP-TEE (id | lock<<8 | mode<<9) or TF-A legacy')
          .choices(['optee', 'tf-a'])
          .default('optee'),
      )
      .option('--json', 'machine-readable output')
      .action((dir, fsbl, o) => {
        const dev = Mp1Device.open(dir);
        const platform =
          o.platform === undefined
            ? undefined
            : parsePlatform(new TextDecoder().decode(readInput(o.platform, 'platform')), {
                encoding: o.decprotEncoding as DecprotEncoding,
              });
        const images = (o.image ?? []).map((f) => ({ name: basename(f), bytes: readInput(f, 'image') }));
        const r = mp1Boot(dev, readInput(fsbl, 'FSBL'), { images, ...(platform === undefined ? {} : { platform }) });
        cliStatus.code = r.ok ? 0 : 1;
        if (o.json) return printJson(r);
        const line = (stage: string, c: { ok: boolean; check: string; detail: string; image?: string }): string =>
          `  ${stage.padEnd(4)} ${c.ok ? 'ok  ' : 'FAIL'} ${c.image === undefined ? '' : `${c.image}: `}${c.check}: ${c.detail}`;
        const open = (x: boolean): string => (x ? 'open' : 'closed');
        io.out(
          [
            `stm32mp1 cold boot of ${dir}: ${r.closed ? 'closed' : 'open'}`,
            ...r.rom.map((c) => line('ROM', c)),
            `  ROM  auth_status ${r.authStatus} (${['none', 'failed', 'success'][r.authStatus]})`,
            ...r.fsbl.map((c) => line('FSBL', c)),
            ...r.firewall.map((l) => `  FSBL ${l}`),
            ...r.warnings.map((w) => `  FSBL warning: ${w}`),
            `  debug: secure ${open(r.debug.secure)}, non-secure ${open(r.debug.nonSecure)}${r.debug.locked ? ' (DENABLE locked until reset)' : ''}`,
            r.ok
              ? `  reached the runtime${platform === undefined ? ' (no platform file: firewalls at their reset values)' : ''}`
              : `  ${r.reached === 'rom' ? 'ROM' : 'FSBL'} stops: ${r.halt}`,
          ].join('\n') + '\n',
        );
      }),
  );
  cmd.addCommand(
    new Command('access')
      .summary('may this master read or write this address? (the firewalls the last boot configured)')
      .description(
        'One access on the virtual bus of a booted device: the ETZPC (DECPROT per peripheral, TZMA splits of ROM and SYSRAM), the TZC-400 (DDR regions, secure attributes, NSAIDs), the secure-only blocks and the secure configuration of RCC (TZEN, MCKPROT), PWR, RTC (RTC_SMCR), TAMP (TAMP_SMCR zones and DPROT), GPIOZ (per-pin SECCFGR), EXTI (per-line TZENR), GIC (group 0) and MDMA (CxCR.SM) decide; a secure --write --value to one of their control registers sets it. A denied access is recorded as the hardware records it (the TZC-400 FAIL registers, the violation log) unless --dry-run. Exit 0 allowed, 1 denied.',
      )
      .argument('<dir>')
      .requiredOption('--master <m>', 'a7-s (Cortex-A7 secure), a7-ns (Cortex-A7 non-secure) or m4 (Cortex-M4)')
      .requiredOption('--addr <a>', 'physical address', parseU32('address'))
      .option('--read', 'a read (the default)')
      .option('--write', 'a write')
      .option(
        '--value <v>',
        'the value a write carries: which pins, lines, interrupts or channels it touches, and what a secure write to a control register (RCC_TZCR, RTC_SMCR, TAMP_SMCR, GPIOZ_SECCFGR, EXTI_TZENRx, GICD_IGROUPRx, MDMA_CxCR) sets (default: all bits)',
        parseU32('value'),
      )
      .option('--dry-run', 'decide without recording a violation or changing a register')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        if (o.read === true && o.write === true) throw new RseError('E_USAGE', '--read and --write are mutually exclusive');
        if (o.value !== undefined && o.write !== true) throw new RseError('E_USAGE', '--value goes with --write');
        const dev = Mp1Device.open(dir);
        const master = parseMaster(o.master);
        const r =
          o.dryRun === true
            ? dev.bus.check(master, o.addr, o.write === true, o.value)
            : dev.bus.access(master, o.addr, o.write === true, o.value);
        if ((r.violation !== undefined || o.write === true) && o.dryRun !== true) dev.save();
        cliStatus.code = r.allowed ? 0 : 1;
        if (o.json) return printJson(r);
        io.out(
          `${r.allowed ? 'allowed' : 'denied'}: ${master} ${r.write ? 'write' : 'read'} ${hex8(r.addr)} (${r.target})\n  ${r.rule}\n` +
            (r.violation === undefined
              ? ''
              : `  ${r.violation.firewall} violation: ${r.violation.response}${r.violation.interrupt ? ', interrupt raised' : ''}\n`),
        );
      }),
  );
  cmd.addCommand(
    new Command('firewall')
      .summary('the firewall state a booted device runs with, and the violations recorded since boot')
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const dev = Mp1Device.open(dir);
        const s = dev.bus.save();
        if (o.json) return printJson(s);
        const e = dev.bus.etzpc;
        const lines = [`${dir}: firewalls as boot ${dev.boots} left them`];
        lines.push(`  ETZPC: RCC TZEN ${e.tzen ? 1 : 0}, MCKPROT ${e.mckprot ? 1 : 0}`);
        for (const [k, t] of Object.entries(e.tzma))
          lines.push(
            `  ETZPC TZMA ${k}: ${t.securePages === TZMA_ALL_SECURE ? 'all' : t.securePages} secure pages${t.locked ? ', locked' : ''}`,
          );
        const nonDefault = MP15_PERIPHERALS.filter((p) => e.decprot[p.id] !== 'S_RW' || e.locked[p.id]);
        for (const p of nonDefault)
          lines.push(`  ETZPC ${String(p.id).padStart(2)} ${p.name.padEnd(9)} ${e.decprot[p.id]}${e.locked[p.id] ? ', locked' : ''}`);
        lines.push(`  ETZPC: ${MP15_PERIPHERALS.length - nonDefault.length} other peripherals S_RW (reset value)`);
        s.tzc.regions.forEach((r, n) => {
          if (r !== null && (n === 0 || r.filters !== 0))
            lines.push(
              `  TZC-400 region ${n}: ${hex8(r.base)}..${hex8(r.top)} secure ${SEC_ATTR_NAMES[r.secAttr]}, NSAID access ${hex8(r.idAccess)}, filters ${r.filters}`,
            );
        });
        lines.push(`  TZC-400 action ${ACTIONS[s.tzc.action]}, INT_STATUS ${hex8(s.tzc.intStatus)}`);
        const c = dev.bus.secure;
        const h = (n: number, w: number): string => `0x${n.toString(16).padStart(w, '0')}`;
        lines.push(
          `  secure configuration: RTC_SMCR ${h(c.rtcSmcr, 4)}, TAMP zones ${dev.tamp.zone1End}/${dev.tamp.zone2End} DPROT ${c.tampDprot ? 1 : 0}, GPIOZ_SECCFGR ${h(c.gpiozSeccfgr, 2)}`,
          `  secure configuration: EXTI_TZENR ${c.extiTzenr.map((v) => h(v, 8)).join(' ')}, MDMA secure channels ${h(c.mdmaSecure, 8)}, GIC group-1 interrupts ${c.gicGroup.reduce((n, w) => n + w.toString(2).replaceAll('0', '').length, 0)} of 288`,
        );
        s.tzc.failures.forEach((f, i) => {
          if (f !== null) lines.push(`  TZC-400 filter ${i}: FAIL_ADDR ${hex8(f.addr)} FAIL_CONTROL ${hex8(f.control)} FAIL_ID ${f.id}`);
        });
        for (const v of s.violations)
          lines.push(
            `  violation: ${v.master} ${v.write ? 'write' : 'read'} ${hex8(v.addr)}: ${v.rule} (${v.response}${v.interrupt ? ', interrupt' : ''})`,
          );
        if (s.violations.length === 0) lines.push('  no violations since boot');
        io.out(`${lines.join('\n')}\n`);
      }),
  );
  cmd.addCommand(
    new Command('debug')
      .summary('the debug the last boot left open: DENABLE decoded, and whether DENREG froze it')
      .description(
        "DENABLE as the FSBL left it after applying the platform file's debug (JSON `debug: {secure, nonSecure, lock}`, or in a .dts the boolean properties rsekit,debug-secure, rsekit,debug-non-secure and rsekit,debug-unlocked): secure debug is SPIDEN and SPNIDEN, non-secure debug DBGEN, NIDEN and DEVICEEN, both behind DBGSWENABLE; DENREG keeps DENABLE until the next reset. An open device before its first boot has every path open.",
      )
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const dev = Mp1Device.open(dir);
        const b = dev.bsec;
        const open = b.debug();
        const bits = (Object.entries(DENABLE) as [string, number][]).filter(([, v]) => (b.denable & v) !== 0).map(([k]) => k);
        if (o.json)
          return printJson({
            denable: b.denable,
            bits,
            secure: open.secure,
            nonSecure: open.nonSecure,
            locked: b.denableLocked,
            boots: dev.boots,
          });
        io.out(
          `${dir}: DENABLE ${hex8(b.denable)} (${bits.join(' ') || 'nothing'})${b.denableLocked ? ', frozen by DENREG until reset' : ', not frozen'}\n` +
            `  secure debug ${open.secure ? 'open' : 'closed'}, non-secure debug ${open.nonSecure ? 'open' : 'closed'}\n`,
        );
      }),
  );
  cmd.addCommand(tampCommand());
  cmd.addCommand(smcServeCommand());
  cmd.addCommand(smcCallCommand());
  return cmd;
}

export const OTP_NAMES: Readonly<Record<number, string>> = {
  0: 'CFG0 (bit 6: closed)',
  1: 'part number',
  2: 'CFG2 (ST security counter, key id)',
  3: 'boot configuration',
  4: 'anti-rollback counter (thermometer)',
  8: 'CFG8 (bit 8: SSP requested, bit 9: SSP done)',
  13: 'UID[0]',
  14: 'UID[1]',
  15: 'UID[2]',
  56: 'RMA',
  57: 'MAC address (non-secure)',
  58: 'MAC address (non-secure)',
};

export function otpName(n: number): string | undefined {
  if (n >= 24 && n <= 31) return `PKH[${n - 24}]`;
  if (n >= 40 && n <= 55) return `chip certificate[${n - 40}]`;
  if (n >= 59) return 'OEM secret (secure only)';
  return OTP_NAMES[n];
}
