/** `rse device`, `rse otp` and `rse provision`. @module */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import { parse as parseYaml } from 'yaml';
import { BOOT_FILES, bootDevice } from '../boot/chain.ts';
import { createDevice, powerOn, provisionRun, type StageReport } from '../boot/power-on.ts';
import { extendedSlotValue, parseSharedData } from '../boot/shared-data.ts';
import { bundleKey } from '../crypto/rse-keys.ts';
import { Device, DirStore, isDeviceDir, prepareDeviceDir } from '../device/device.ts';
import { type OtpReport, otpReport, renderOtpReport, SECRET_FIELDS } from '../device/otp-report.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, hex0x, toHex } from '../lib/hex.ts';
import { TP_MODE } from '../otp/lcm.ts';
import { PlatOtpError, platOtpToRseError } from '../otp/plat-otp.ts';
import { DEFAULT_RSE_PROFILE, rseProfile, rseProfileNames, xipProfileNames } from '../profiles/index.ts';
import { encodeBundle, RESUMABLE_CODE_MARKER } from '../provisioning/bundle.ts';
import { bl2DataInputs, encodeBl2Data, encodeRomBundle, encodeTfmData, romBundleInputs, tfmDataInputs } from '../provisioning/rss17.ts';
import { cmInputs, dmInputs } from '../provisioning/values.ts';
import { cliStatus, io, printJson, readInput } from './common.ts';

export function openDevice(dir: string): Device {
  if (!isDeviceDir(dir))
    throw new RseError('E_DEVICE', `${dir} is not a device directory (create one with 'rse device create ${dir}')`, { field: dir });
  return Device.open(new DirStore(dir));
}

const tpOption = (def?: string) => {
  const o = new Option('--tp-mode <mode>', 'TP mode: tci (test chip, zero RTL key) or pci (production, the device RTL key)').choices([
    'tci',
    'pci',
  ] as const);
  return def === undefined ? o : o.default(def);
};

function platCall<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PlatOtpError) throw platOtpToRseError(e);
    throw e;
  }
}

export function deviceCommand() {
  const cmd = new Command('device').summary('virtual RSE devices: a directory of plain images and device.json');
  cmd.addCommand(
    new Command('create')
      .summary('create a fresh device (TP mode Virgin, LCS CM, blank OTP)')
      .description(
        'Create a device directory: otp.bin (16 KiB, blank), rom.bin (128 KiB), flash.bin (empty until\n' +
          'a host flash is attached), sram-vm0.bin and sram-vm1.bin (where a rig preloads the CM and DM\n' +
          'bundles), krtl.bin (the RTL key, used in PCI mode) and device.json. Every later write is\n' +
          'atomic: a crash leaves the old or the new file, never a part.',
      )
      .argument('<dir>')
      .addOption(new Option('--profile <profile>', 'device profile').choices(rseProfileNames()).default(DEFAULT_RSE_PROFILE.name))
      .option('--krtl <file>', '32-byte RTL key (default: the upstream dummy pci_krtl_dummy.bin)')
      .addOption(tpOption('tci').conflicts('debugger'))
      .option('--debugger', 'the ROM is not a dummy-provisioning build: it waits for the rig to choose the TP mode')
      .option('--rom <file>', 'ROM image to install (up to 128 KiB)')
      .addOption(
        new Option(
          '--lcm-version <n>',
          "LCM revision: 0 as TF-M 2.1's LCM_VERSION=0 (the ROM arms each LCS transition when provisioning starts), 1 transitions only when the provisioning code asks",
        )
          .choices(['0', '1'] as const)
          .default('0' as const),
      )
      .option(
        '--xip',
        'rse-2.1 firmware built with RSE_XIP: 64 KiB VM0/VM1, BL2 loads the signed SIC tables and the S/NS runtimes execute in place through the SIC',
      )
      .option('--force', 'replace an existing device in DIR')
      .option('--json', 'print the device summary as JSON')
      .action((dir, o) => {
        if (o.xip === true && rseProfile(o.profile).variants.xip === undefined)
          throw new RseError('E_USAGE', `--xip is not a build option of ${o.profile} (profiles with one: ${xipProfileNames().join(', ')})`);
        prepareDeviceDir(dir, o.force === true);
        const dev = createDevice(new DirStore(dir), {
          profile: o.profile,
          ...(o.krtl === undefined ? {} : { krtl: readInput(o.krtl, 'RTL key') }),
          ...(o.rom === undefined ? {} : { rom: readInput(o.rom, 'ROM image') }),
          dummyProvisioning: o.debugger !== true,
          romTpMode: o.tpMode === 'pci' ? 'PCI' : 'TCI',
          lcmVersion: o.lcmVersion === '1' ? 1 : 0,
          xip: o.xip === true,
        });
        const summary = {
          dir,
          profile: dev.profile.name,
          lcs: dev.lcm.getLcs(),
          tpMode: dev.lcm.tpMode,
          dummyProvisioning: dev.json.dummyProvisioning,
          romTpMode: dev.json.romTpMode,
          lcmVersion: dev.lcmVersion,
          xip: dev.xip,
        };
        if (o.json === true) printJson(summary);
        else
          io.out(
            `created ${dir}: ${dev.profile.name}${dev.xip ? ' (XIP)' : ''}, LCM r${summary.lcmVersion}, LCS ${summary.lcs}, TP mode ${summary.tpMode}, ROM ${summary.dummyProvisioning ? `dummy provisioning (selects ${summary.romTpMode})` : 'waits for the debugger'}\n`,
          );
      }),
  );
  cmd.addCommand(
    new Command('boot')
      .summary('power the device on once: BL1_1 init, integrity check and provisioning dispatch')
      .description(
        'Runs BL1_1 up to its hand-over to BL1_2 (or a reset, wait or stop) and reports each step.\nExit status 1 when the device stops on an error.',
      )
      .argument('<dir>')
      .addOption(tpOption())
      .option('--json', 'print the boot report as JSON')
      .action((dir, o) => {
        const dev = openDevice(dir);
        const r = powerOn(dev, o.tpMode === undefined ? {} : { tpMode: o.tpMode === 'pci' ? 'PCI' : 'TCI' });
        if (r.result.kind === 'halt') cliStatus.code = 1;
        if (o.json === true) {
          printJson(r);
          return;
        }
        for (const e of r.events) io.out(`  ${e.psi === undefined ? '      ' : `PSI ${hex0x(e.psi)}`}  ${e.message}\n`);
        io.out(`LCS ${r.lcs}, TP mode ${r.tpMode}: ${dev.json.lastBoot ?? ''}\n`);
      }),
  );
  cmd.addCommand(
    new Command('load-flash')
      .summary("attach a host flash image (what 'rse flash build' makes) or, for rss-1.7, the emulated flash")
      .argument('<dir>')
      .argument('<file>', 'flash image')
      .action((dir, file) => {
        const dev = openDevice(dir);
        const bytes = readInput(file, 'flash image');
        dev.store.write('flash.bin', bytes);
        io.out(`${dir}: flash.bin ${hex0x(bytes.length)} bytes\n`);
      }),
  );
  cmd.addCommand(
    new Command('dump')
      .summary('show a memory of the device: host SRAMs, VM0/VM1, the boot shared data, OTP, ROM, flash')
      .description(
        'Print a hexdump of one memory (runs of identical lines folded, like xxd -a), or write it raw\n' +
          "with -o. After 'rse boot' the host SRAMs hold what BL2 placed (ap-sram: AP boot SRAM at\n" +
          'physical 0x0; scp-sram: SCP boot SRAM at 0x40000000), vm0/vm1 the RSE S and NS images, and\n' +
          'shared-data the boot records (also decoded, slot by slot, unless --raw). On an XIP device\n' +
          'xip-s/xip-ns are the S and NS runtimes as the SIC presents them at 0x12000000/0x12060000\n' +
          '(authenticated and decrypted).',
      )
      .argument('<dir>')
      .addOption(
        new Option('--region <name>', 'memory to show')
          .choices(['ap-sram', 'scp-sram', 'shared-data', 'vm0', 'vm1', 'xip-s', 'xip-ns', 'otp', 'rom', 'flash'] as const)
          .makeOptionMandatory(),
      )
      .option('--offset <n>', 'first byte (0x hex or decimal)', '0')
      .option('--length <n>', 'bytes to show (default: to the end)')
      .option('-o, --output <file>', 'write the bytes raw to a file instead')
      .option('--raw', 'shared-data: only the hexdump')
      .option('--json', 'shared-data: the decoded records as JSON')
      .action((dir, o) => {
        const dev = openDevice(dir);
        const file = DUMP_FILES[o.region];
        const bytes = dev.store.read(file);
        if (bytes === undefined)
          throw new RseError(
            'E_DEVICE',
            `${dir} has no ${file} yet${o.region.endsWith('sram') || o.region === 'shared-data' || o.region.startsWith('xip') ? ` (run 'rse boot' first${o.region.startsWith('xip') ? ' on a device created with --xip' : ''})` : ''}`,
            {
              field: o.region,
            },
          );
        const num = (v: string, what: string): number => {
          const n = /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : Number.NaN;
          if (!Number.isSafeInteger(n) || n < 0) throw new RseError('E_USAGE', `${what} must be a non-negative number, got ${v}`);
          return n;
        };
        const from = num(o.offset, '--offset');
        if (from > bytes.length)
          throw new RseError('E_USAGE', `--offset ${hex0x(from)} is past the ${hex0x(bytes.length)}-byte ${o.region}`);
        const len = o.length === undefined ? bytes.length - from : num(o.length, '--length');
        const view = bytes.subarray(from, Math.min(bytes.length, from + len));
        if (o.output !== undefined) {
          writeFileAtomic(o.output, view, { durable: false });
          io.out(`${o.region}: ${hex0x(view.length)} bytes from ${hex0x(from)} written to ${o.output}\n`);
          return;
        }
        if (o.region === 'shared-data' && o.raw !== true) {
          const records = parseSharedData(dev.profile.sharedData, bytes);
          if (o.json === true) {
            printJson(
              records.map((m) => ({
                slot: m.slot,
                swType: m.swType,
                version: m.version,
                signerId: toHex(m.signerId),
                measurement: toHex(m.value),
                locked: m.locked,
              })),
            );
            return;
          }
          for (const m of records)
            io.out(
              `slot ${String(m.slot).padEnd(2)} ${(m.swType || '-').padEnd(6)} ${m.version.padEnd(9)} signer ${toHex(m.signerId).slice(0, 16)}… measurement ${toHex(m.value)}${m.locked ? ' (locked)' : ''}\n`,
            );
          io.out('\n');
        }
        io.out(hexdump(view, from));
      }),
  );
  return cmd;
}

/** Device files behind `rse device dump --region`. */
const DUMP_FILES = {
  'ap-sram': BOOT_FILES.apSram,
  'scp-sram': BOOT_FILES.scpSram,
  'shared-data': BOOT_FILES.sharedData,
  vm0: 'sram-vm0.bin',
  vm1: 'sram-vm1.bin',
  'xip-s': BOOT_FILES.xipS,
  'xip-ns': BOOT_FILES.xipNs,
  otp: 'otp.bin',
  rom: 'rom.bin',
  flash: 'flash.bin',
} as const;

/** xxd-style lines, 16 bytes each; runs of identical lines after the first become '*'. */
export function hexdump(b: Uint8Array, base = 0): string {
  const out: string[] = [];
  let prev: string | undefined;
  let starred = false;
  for (let at = 0; at < b.length; at += 16) {
    const row = b.subarray(at, Math.min(b.length, at + 16));
    const hex = Array.from(row, (x) => x.toString(16).padStart(2, '0')).join(' ');
    if (hex === prev && at + 16 < b.length) {
      if (!starred) out.push('*');
      starred = true;
      continue;
    }
    starred = false;
    prev = hex;
    const ascii = Array.from(row, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    out.push(`${(base + at).toString(16).padStart(8, '0')}: ${hex.padEnd(47)}  ${ascii}`);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

export function otpCommand() {
  const cmd = new Command('otp').summary("a device's OTP: annotated dump, single fields with fuse rules");
  cmd.addCommand(
    new Command('show')
      .summary('every OTP field explained: LCS, TP mode, integrity, counters, keys (values of secrets hidden)')
      .argument('<dir>')
      .option('--json', 'machine-readable report')
      .option('--all', 'also list blank fields')
      .action((dir, o) => {
        const dev = openDevice(dir);
        const report: OtpReport = otpReport(dev);
        if (report.integrity.length > 0) cliStatus.code = 1;
        if (o.json === true) printJson(report);
        else io.out(renderOtpReport(report, o.all === true, dev.profile.provisioning.psi));
      }),
  );
  cmd.addCommand(
    new Command('read')
      .summary('read one field through the LCM (counters decoded, encrypted keys decrypted)')
      .argument('<dir>')
      .argument('<field>', "field name as in 'rse otp show' (e.g. implementation_id, nv_counter_ns_0)")
      .option('--reveal-secret', `allow reading secret fields (${[...SECRET_FIELDS].join(', ')})`)
      .option('--json', 'print {field, offset, size, hex} or {field, value}')
      .action((dir, field, o) => {
        const dev = openDevice(dir);
        const f = platCall(() => dev.plat.field(field));
        if (SECRET_FIELDS.has(field) && o.revealSecret !== true) {
          throw new RseError('E_USAGE', `${field} is a secret; add --reveal-secret to print it`, { field });
        }
        if (f.kind === 'counter') {
          const value = platCall(() => dev.plat.readCounter(field));
          if (o.json === true) printJson({ field, offset: f.offset, value });
          else io.out(`${value}\n`);
          return;
        }
        const bytes = platCall(() => dev.plat.read(field));
        if (o.json === true) printJson({ field, offset: f.offset, size: bytes.length, hex: toHex(bytes) });
        else io.out(`${toHex(bytes)}\n`);
      }),
  );
  cmd.addCommand(
    new Command('write')
      .summary('program one field with the fuse rules (bits only go 0 to 1; counters only go up)')
      .description(
        'VALUE is hex for byte fields (shorter than the field programs its start) and a decimal or 0x\n' +
          'number for NV counters. A bit that is already 1 cannot go back to 0: such a write fails\n' +
          'read-back verification (E_OTP_WRITE, exit 1) and programs nothing else.',
      )
      .argument('<dir>')
      .argument('<field>')
      .argument('<value>')
      .action((dir, field, value) => {
        const dev = openDevice(dir);
        const f = platCall(() => dev.plat.field(field));
        if (f.kind === 'counter') {
          const n = Number(value);
          if (!Number.isInteger(n) || n < 0)
            throw new RseError('E_ARGUMENT', `counter value '${value}' is not a non-negative integer`, { field });
          const current = platCall(() => dev.plat.readCounter(field));
          if (n < current)
            throw new RseError('E_OTP_WRITE', `${field} is ${current}; an NV counter never goes down`, { field, offset: f.offset });
          platCall(() => dev.plat.setCounter(field, n));
          return;
        }
        if (f.kind === 'encrypted-key' && dev.lcm.tpMode === 'VIRGIN') {
          throw new RseError('E_LIFECYCLE', `${field} is stored encrypted with KCE_CM, which a Virgin device does not have`, { field });
        }
        platCall(() => dev.plat.write(field, fromHex(value.replace(/^0x/i, ''), field)));
      }),
  );
  return cmd;
}

function keyFor(kind: 'cm' | 'dm', o: { tpMode?: string; krtl?: string; key?: string }): Uint8Array {
  if (o.key !== undefined) {
    const k = readInput(o.key, 'provisioning key');
    if (k.length !== 32) throw new RseError('E_KEY', `${o.key}: a provisioning key is 32 bytes, got ${k.length}`, { field: '--key' });
    return k;
  }
  const pci = o.tpMode === 'pci';
  const krtl = pci ? readInput(o.krtl ?? '', 'RTL key') : new Uint8Array(32);
  if (krtl.length !== 32) throw new RseError('E_KEY', `the RTL key must be 32 bytes, got ${krtl.length}`, { field: '--krtl' });
  return bundleKey(kind === 'cm' ? 'CM' : 'DM', pci ? TP_MODE.PCI : TP_MODE.TCI, krtl);
}

export const VALUES_EXAMPLE = `cm:
  bl1_2_image: bl1_2.bin            # default: a placeholder 8 KiB image
  ics: otp_dma_ics.bin              # default: empty
  guk: 0123456789012345678901234567890123456789012345678901234567890123
  cca_system_properties: 0xDEADBEEF
dm:
  bl2_rotpk: [root-RSA-3072.pem, root-RSA-3072_1.pem, root-RSA-3072.pem, root-RSA-3072.pem]
  host_rotpk_cca: host-cca-p384.pem  # or 96 bytes of hex X||Y
  implementation_id: aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd
  verification_service_url: www.trustedfirmware.org
  profile_definition: http://arm.com/CCA-SSD/1.0.0
`;

export const VALUES_EXAMPLE_17 = `rom:                                # rss-1.7 ROM bundle (BL1_1)
  bl1_2_image: bl1_2.bin            # padded to 8 KiB and hashed
  bl2_image_hash: bl2_signed_hash.bin
  bl1_rotpk_0: bl1_rotpk.pub        # LMS public key (60-byte .pub or 56 bytes)
bl2:                                # compiled into BL2
  bl2_rotpk_alg: rsa-3072
tfm:                                # compiled into TF-M
  huk: 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f
  cert_ref: 0604565272829-10010
  profile_definition: http://arm.com/CCA-SSD/1.0.0
`;

function readValues(file: string | undefined): { description: unknown; read: (p: string) => Uint8Array } {
  let description: unknown = {};
  let base = process.cwd();
  if (file !== undefined) {
    const text = Buffer.from(readInput(file, 'values file')).toString('utf8');
    try {
      description = parseYaml(text);
    } catch (e) {
      throw new RseError('E_CONFIG', `${file}: ${(e as Error).message.split('\n')[0]}`, { field: file });
    }
    base = dirname(resolve(file));
  }
  return { description, read: (p: string): Uint8Array => readInput(isAbsolute(p) ? p : join(base, p)) };
}

/** rss-1.7's plain parts: the ROM bundle and the data BL2 / TF-M are built with. */
function rss17Part(kind: 'rom' | 'bl2' | 'tfm', description: unknown, read: (p: string) => Uint8Array): Uint8Array {
  if (kind === 'rom') return encodeRomBundle(romBundleInputs(description, read));
  if (kind === 'bl2') return encodeBl2Data(bl2DataInputs(description, read));
  return encodeTfmData(tfmDataInputs(description, read));
}

export function provisionCommand() {
  const cmd = new Command('provision').summary('CM/DM provisioning bundles and the whole provisioning journey');
  cmd.addCommand(
    new Command('bundle')
      .summary('write a provisioning bundle: cm or dm (rse-2.1, AES-256-CCM), rom, bl2 or tfm (rss-1.7, plain)')
      .description(
        'cm, dm: the bundles the RSE 2.1 ROM consumes (0xED2C bytes): magic, AES-256-CCM(code,\n' +
          'values, data), nonce, tag, magic. The key is derived as the ROM derives it: from the zero\n' +
          'RTL key in TCI mode, from --krtl in PCI mode, or given directly with --key.\n' +
          'rom: the RSS 1.7 BL1_1 bundle (magic 0xC0DEFEED, 0x20BC bytes, byte-identical to\n' +
          "create_provisioning_bundle.py); bl2, tfm: the provisioning structs TF-M 1.7's BL2 and\n" +
          'runtime are built with (for `rse provision run --bl2-data/--tfm-data`).\n' +
          'Values come from a YAML or JSON file (a cm:/dm:/rom:/bl2:/tfm: section, or the top level\n' +
          "for cm/dm); every field left out takes TF-M's dummy provisioning value, so no --values gives\n" +
          'the dummy bundle. Paths in the values file are relative to it.\n\n' +
          `Example values file (rse-2.1):\n${VALUES_EXAMPLE}\nExample values file (rss-1.7):\n${VALUES_EXAMPLE_17}`,
      )
      .addArgument(new Command().createArgument('<kind>', 'cm, dm, rom, bl2 or tfm').choices(['cm', 'dm', 'rom', 'bl2', 'tfm']))
      .option('--values <file>', 'YAML/JSON values (default: the dummy values)')
      .requiredOption('-o, --output <file>', 'bundle file to write')
      .addOption(tpOption('tci'))
      .option('--krtl <file>', 'RTL key of the target device (PCI mode)')
      .option('--key <file>', '32-byte provisioning key, instead of deriving it')
      .option(
        '--code <file|resumable>',
        "provisioning code section: a code image (opaque to rsekit), or 'resumable' for rsekit's resumable provisioning code; default empty, which the device runs with TF-M 2.1's semantics",
      )
      .option('--json', 'print what went into the bundle')
      .action((kindArg, o) => {
        const { description, read } = readValues(o.values);
        if (kindArg === 'rom' || kindArg === 'bl2' || kindArg === 'tfm') {
          if (o.krtl !== undefined || o.key !== undefined || o.code !== undefined)
            throw new RseError('E_USAGE', `${kindArg} is plain (rss-1.7): --krtl, --key and --code are for cm and dm`);
          const bytes = rss17Part(kindArg, description, read);
          writeFileAtomic(o.output, bytes, { durable: false });
          if (o.json === true) printJson({ kind: kindArg, output: o.output, size: bytes.length });
          else
            io.out(
              `${kindArg.toUpperCase()} ${kindArg === 'rom' ? 'bundle' : 'provisioning data'} ${o.output}: ${hex0x(bytes.length)} bytes (rss-1.7, plain)\n`,
            );
          return;
        }
        const kind = kindArg;
        if (o.tpMode === 'pci' && o.krtl === undefined && o.key === undefined)
          throw new RseError('E_USAGE', 'PCI mode needs --krtl (or --key)');
        const inputs = kind === 'cm' ? cmInputs(description, read) : dmInputs(description, read);
        const code =
          o.code === undefined
            ? inputs.code
            : o.code === 'resumable'
              ? RESUMABLE_CODE_MARKER.slice()
              : readInput(o.code, 'provisioning code');
        const bundle = encodeBundle(kind, keyFor(kind, o), { ...inputs, code });
        writeFileAtomic(o.output, bundle, { durable: false });
        if (o.json === true) printJson({ kind, output: o.output, size: bundle.length, tpMode: o.tpMode, values: inputs.summary });
        else io.out(`${kind.toUpperCase()} bundle ${o.output}: ${hex0x(bundle.length)} bytes (${(o.tpMode ?? 'tci').toUpperCase()} key)\n`);
      }),
  );
  cmd.addCommand(
    new Command('run')
      .summary('the whole journey: Virgin → TCI/PCI → CM → DM → SE, one line per boot')
      .description(
        'Acts as the provisioning rig: powers the device on, and again after every reset, until\n' +
          'BL1_1 hands over to BL1_2 in SE. Each boot prints its LCS, TP mode, PSI code and outcome.\n' +
          'rse-2.1: preloads the bundles where the ROM polls for them (CM at VM0 + 0x400, DM at VM1).\n' +
          'rss-1.7: --rom-bundle goes into the ROM image at 0xE000 (as building the ROM does);\n' +
          '--bl2-data and --tfm-data replace what the BL2 and TF-M images were built with (a device\n' +
          'created without --debugger has the dummy data). If power is lost, run the same command\n' +
          'again. Exit status 0 when the device reaches SE, 1 when it stops on the way.',
      )
      .argument('<dir>')
      .option('--cm <file>', 'CM bundle (rse-2.1)')
      .option('--dm <file>', 'DM bundle (rse-2.1)')
      .option('--rom-bundle <file>', 'BL1_1 ROM bundle, magic 0xC0DEFEED (rss-1.7)')
      .option('--bl2-data <file>', "BL2's provisioning data, from 'rse provision bundle bl2' (rss-1.7)")
      .option('--tfm-data <file>', "TF-M's provisioning data, from 'rse provision bundle tfm' (rss-1.7)")
      .addOption(tpOption())
      .option('--json', 'print every boot report as JSON')
      .action((dir, o) => {
        const dev = openDevice(dir);
        const line = (s: StageReport): void => {
          if (o.json !== true) io.out(`boot ${s.boot}: LCS ${s.lcs.padEnd(3)} TP ${s.tpMode.padEnd(6)} ${s.summary}\n`);
        };
        const r = provisionRun(
          dev,
          {
            ...(o.cm === undefined ? {} : { cm: readInput(o.cm, 'CM bundle') }),
            ...(o.dm === undefined ? {} : { dm: readInput(o.dm, 'DM bundle') }),
            ...(o.romBundle === undefined ? {} : { romBundle: readInput(o.romBundle, 'ROM bundle') }),
            ...(o.bl2Data === undefined ? {} : { bl2Data: readInput(o.bl2Data, 'BL2 provisioning data') }),
            ...(o.tfmData === undefined ? {} : { tfmData: readInput(o.tfmData, 'TF-M provisioning data') }),
            ...(o.tpMode === undefined ? {} : { tpMode: o.tpMode === 'pci' ? ('PCI' as const) : ('TCI' as const) }),
          },
          line,
        );
        if (!r.ok) cliStatus.code = 1;
        if (o.json === true) printJson(r);
        else io.out(r.ok ? `provisioned: LCS SE, OTP integrity intact\n` : `not provisioned: ${dev.json.lastBoot ?? ''}\n`);
      }),
  );
  return cmd;
}

export function bootCommand() {
  return new Command('boot')
    .summary('power a provisioned device on and run BL1_1 → BL1_2 → BL2 with every check, placement and measurement')
    .description(
      'Cold-boot the device: BL1_1 (OTP init, integrity, provisioning dispatch, the BL1_2 hash),\n' +
        'BL1_2 (BL2 from FIP_A, else FIP_B, or the 1.7 flash: counter bound, decryption, LMS signature,\n' +
        'NV counter) and BL2 (MCUboot RAM-load of SCP BL1, AP BL1, NS and S, in that order: slot\n' +
        'choice, load window, overlap, validation in RAM against the OTP key hashes and NV counters,\n' +
        'dependencies, ATU mappings, boot records). The report lists each stage with its time, each\n' +
        'check, what was placed where, and the measured-boot table (slot, type, version, signer id,\n' +
        'measurement and the slot value H(0 ‖ measurement) the runtime will hold). Afterwards the\n' +
        'device holds host-ap-sram.bin, host-scp-sram.bin, sram-vm0/1.bin and shared-data.bin\n' +
        "('rse device dump DIR --region ap-sram'). The Cortex-M code in the images is not executed.\n" +
        'Exit status 0 when the runtime is entered, 1 when a stage stops.',
    )
    .argument('<dir>')
    .option('--json', 'the report as JSON')
    .action((dir, o) => {
      const dev = openDevice(dir);
      const r = bootDevice(dev);
      if (!r.ok) cliStatus.code = 1;
      if (o.json === true) {
        printJson({
          ok: r.ok,
          profile: r.profile,
          lcs: r.lcs,
          ms: r.ms,
          stages: r.stages,
          checks: r.checks,
          placed: r.placed.map((p) => ({
            ...p,
            loadAddress: hex0x(p.loadAddress, 8),
            imageHash: toHex(p.imageHash),
            ...(p.xip === undefined
              ? {}
              : {
                  xip: {
                    ...p.xip,
                    flashOffset: hex0x(p.xip.flashOffset),
                    logical: hex0x(p.xip.logical, 8),
                    regionSize: hex0x(p.xip.regionSize),
                    imageOffset: hex0x(p.xip.imageOffset),
                    nonce: toHex(p.xip.nonce),
                  },
                }),
          })),
          measurements: r.measurements.map((m) => ({
            slot: m.slot,
            swType: m.swType,
            version: m.version,
            signerId: toHex(m.signerId),
            measurement: toHex(m.value),
            slotValue: toHex(extendedSlotValue(m.value)),
            locked: m.locked,
          })),
          started: r.started,
          atu: r.atu,
          ...(r.bl2 === undefined ? {} : { bl2: r.bl2 }),
          ...(r.halt === undefined ? {} : { halt: r.halt }),
        });
        return;
      }
      io.out(`${r.profile} cold boot of ${dir}: LCS ${r.lcs}\n`);
      for (const st of r.stages)
        io.out(`  ${st.stage.padEnd(6)} ${`${st.ms.toFixed(2)} ms`.padStart(10)}  ${st.ok ? 'handed over' : 'stopped'}\n`);
      io.out('checks:\n');
      for (const c of r.checks) io.out(`  ${c.stage.padEnd(6)} ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}\n`);
      if (r.placed.length > 0) {
        const w = Math.max(12, ...r.placed.map((p) => `${p.index} ${p.name}`.length));
        io.out(`placed:\n  ${'image'.padEnd(w)} slot       version   counter  load        size     where\n`);
        for (const p of r.placed)
          io.out(
            `  ${`${p.index} ${p.name}`.padEnd(w)} ${p.slot.padEnd(10)} ${p.version.padEnd(9)} ${String(p.securityCounter).padEnd(8)} ${hex0x(p.loadAddress, 8)}  ${String(p.size).padEnd(8)} ${p.target}\n`,
          );
        for (const p of r.placed)
          if (p.xip !== undefined)
            io.out(
              `  XIP: ${p.xip.entry} (${p.xip.bank}, flash ${hex0x(p.xip.flashOffset)}, ${p.xip.size} bytes) executes at ${hex0x(p.xip.logical + p.xip.imageOffset, 8)} through the SIC, ${p.xip.pages} pages of 1 KiB, fw_revision ${p.xip.fwVersion}\n`,
            );
      }
      for (const s of r.started) io.out(`  host: ${s}\n`);
      if (r.measurements.length > 0) {
        io.out('measured boot (slot value = H(0 ‖ measurement), what the runtime holds):\n');
        io.out('  slot type   version   signer id          measurement        slot value\n');
        for (const m of r.measurements)
          io.out(
            `  ${String(m.slot).padEnd(4)} ${(m.swType || '-').padEnd(6)} ${m.version.padEnd(9)} ${toHex(m.signerId).slice(0, 16)}…  ${toHex(m.value).slice(0, 16)}…  ${toHex(extendedSlotValue(m.value))}${m.locked ? ' (locked)' : ''}\n`,
          );
      }
      const xipS = r.placed.find((p) => p.index === 0)?.xip;
      io.out(
        r.ok
          ? `booted in ${r.ms.toFixed(1)} ms: BL2 (${r.bl2?.bank}, ${r.bl2?.version}) placed ${r.placed.length} images and jumps to the S runtime${xipS === undefined ? '' : ` at ${hex0x(xipS.logical + xipS.imageOffset, 8)} (XIP)`}\n`
          : `stopped in ${r.halt?.stage}: ${r.halt?.reason} [${r.halt?.code}]\n`,
      );
    });
}
