/** `rse device`, `rse otp` and `rse provision`. @module */

import { Command, Option } from '@commander-js/extra-typings';
import { BOOT_FILES } from '../boot/chain.ts';
import { createDevice, powerOn } from '../boot/power-on.ts';
import { parseSharedData } from '../boot/shared-data.ts';
import { loadKey, rawPublicKey } from '../crypto/index.ts';
import { Device, DirStore, isDeviceDir, prepareDeviceDir } from '../device/device.ts';
import { isSecretField, type OtpReport, otpReport, renderOtpReport, SECRET_FIELDS } from '../device/otp-report.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, hex0x, toHex } from '../lib/hex.ts';
import { PlatOtpError, platOtpToRseError } from '../otp/plat-otp.ts';
import { DEFAULT_RSE_PROFILE, rseProfile, rseProfileNames, xipProfileNames } from '../profiles/index.ts';
import { ROM_ROTPK_FILE } from '../provisioning/messages-rom.ts';
import { cliStatus, hexOrFileBytes, io, printJson, readInput, readKey } from './common.ts';

/** The ROM's provisioning key files from `--rom-rotpk` (its raw X ‖ Y on the profile's curve). */
function romRotpkFiles(profile: string, file: string): Record<string, Uint8Array> {
  const cfg = rseProfile(profile).provisioning.messages;
  if (cfg === undefined) throw new RseError('E_USAGE', `--rom-rotpk is for message-provisioned profiles; ${profile} uses bundles`);
  const key = loadKey(readInput(file, 'ROM provisioning key'));
  const want = cfg.curve === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384';
  if (key.type !== want)
    throw new RseError('E_KEY', `${file}: the ROM checks ${cfg.curve} signatures; this is a ${key.type} key`, { field: '--rom-rotpk' });
  const raw = rawPublicKey(key).subarray(1);
  return { [ROM_ROTPK_FILE.TCI]: raw, [ROM_ROTPK_FILE.PCI]: raw };
}

/** `--enc-key`: the private key BL2 is built with, as PKCS#8 DER. */
function bl2EncKey(file: string): Uint8Array {
  const key = readKey(file, 'BL2 decryption key');
  if (!['rsa-2048', 'ecdsa-p256', 'x25519'].includes(key.type))
    throw new RseError('E_KEY', `${file}: MCUboot decrypts with RSA-2048, P-256 or X25519 keys; this is a ${key.type} key`, {
      field: '--enc-key',
    });
  if (key.privateKey === undefined)
    throw new RseError('E_KEY', `${file}: BL2 needs the private key (images are encrypted for its public part)`, { field: '--enc-key' });
  return new Uint8Array(key.privateKey.export({ type: 'pkcs8', format: 'der' }));
}

export function openDevice(dir: string): Device {
  if (!isDeviceDir(dir))
    throw new RseError('E_DEVICE', `${dir} is not a device directory (create one with 'rse device create ${dir}')`, { field: dir });
  return Device.open(new DirStore(dir));
}

export const tpOption = (def?: string) => {
  const o = new Option('--tp-mode <mode>', 'TP mode: tci (test chip, zero RTL key) or pci (production, the device RTL key)').choices([
    'tci',
    'pci',
  ] as const);
  return def === undefined ? o : o.default(def);
};

export function platCall<T>(f: () => T): T {
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
      .option(
        '--rom-rotpk <key>',
        "message-provisioned profiles (rse-2.3): the provisioning public key built into the ROM (PEM, public or private), used in TCI and PCI mode (default: TF-M's test key root-EC-P256)",
      )
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
      .option(
        '--rotpk-revocation',
        'message-provisioned profiles (rse-2.3): firmware built with RSE_ROTPK_REVOCATION (BL1_2 takes revocation messages)',
      )
      .option(
        '--non-endorsed-dm',
        'rse-2.3: firmware built with RSE_NON_ENDORSED_DM_PROVISIONING (DM provisioning leaves the DM ROTPKs out; in SE, BL1_2 takes a plain-data-handler blob signed by a CM ROTPK and then the DM ROTPKs as plain data, if the CM policies allow it)',
      )
      .option(
        '--chip-output-data',
        "rse-2.3: firmware built with RSE_ENABLE_CHIP_OUTPUT_DATA (CM provisioning derives the RSE attestation key and records the CMAC'd Chip Output Data, read with `rse provision cod`; the SoC identity must be written first, `rse provision soc-id`)",
      )
      .option(
        '--image-binding',
        'rse-2.3: firmware built with MCUBOOT_IMAGE_BINDING (BL1_2 derives the binding key; BL2 binds each image to the device after its first verification and later checks its tag instead of the signature: a CMAC, or AES-CCM re-encryption with --enc-key; images must carry the 0xA4/0xA5 placeholders)',
      )
      .option(
        '--multi-sig',
        'rse-2.3: firmware built with MCUBOOT_IMAGE_MULTI_SIG_SUPPORT (BL2 checks each image against its CM and DM ROTPKs and their OTP policies: every required ROTPK must sign)',
      )
      .option(
        '--enc-key <file>',
        'rse-2.3: firmware built with MCUBOOT_ENC_IMAGES, this private key built into BL2 (RSA-2048 for ENC_RSA2048, P-256 for ENC_EC256, X25519 for ENC_X25519; AES-128): BL2 decrypts images encrypted for it (rse sign -E with its public part) in RAM; with --image-binding, binding re-encrypts them with AES-CCM. Kept in the device as bl2-enc-key.der, mode 0600',
      )
      .option(
        '--implementation-id <hex>',
        "rse-2.3: the 32-byte implementation id the firmware's attestation HAL reports (a product's tfm_plat_get_implementation_id; TF-M 2.3.1's own returns the 4-byte dummy 0xACDCABBA, which no CCA verifier accepts)",
      )
      .option('--force', 'replace an existing device in DIR')
      .option('--json', 'print the device summary as JSON')
      .action((dir, o) => {
        if (o.xip === true && rseProfile(o.profile).variants.xip === undefined)
          throw new RseError('E_USAGE', `--xip is not a build option of ${o.profile} (profiles with one: ${xipProfileNames().join(', ')})`);
        // Every input is read and checked before the directory is touched.
        const inputs = {
          ...(o.krtl === undefined ? {} : { krtl: readInput(o.krtl, 'RTL key') }),
          ...(o.rom === undefined ? {} : { rom: readInput(o.rom, 'ROM image') }),
          ...(o.romRotpk === undefined ? {} : { files: romRotpkFiles(o.profile, o.romRotpk) }),
          ...(o.encKey === undefined ? {} : { encKey: bl2EncKey(o.encKey) }),
          ...(o.implementationId === undefined ? {} : { implementationId: hexOrFileBytes(o.implementationId, 32, '--implementation-id') }),
        };
        prepareDeviceDir(dir, o.force === true);
        const dev = createDevice(new DirStore(dir), {
          profile: o.profile,
          ...inputs,
          dummyProvisioning: o.debugger !== true,
          romTpMode: o.tpMode === 'pci' ? 'PCI' : 'TCI',
          lcmVersion: o.lcmVersion === '1' ? 1 : 0,
          xip: o.xip === true,
          ...(o.rotpkRevocation === true ? { rotpkRevocation: true } : {}),
          ...(o.nonEndorsedDm === true ? { nonEndorsedDm: true } : {}),
          ...(o.chipOutputData === true ? { chipOutputData: true } : {}),
          ...(o.imageBinding === true ? { imageBinding: true } : {}),
          ...(o.multiSig === true ? { multiSig: true } : {}),
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
          imageBinding: dev.profile.bl2.imageBinding?.enabled === true,
          multiSig: dev.profile.bl2.multiSig?.enabled === true,
          encImages: dev.profile.bl2.encImages?.enabled === true,
          rotpkRevocation: dev.profile.provisioning.messages?.rotpkRevocation === true,
          nonEndorsedDm: dev.profile.provisioning.messages?.nonEndorsedDm === true,
          chipOutputData: dev.profile.provisioning.messages?.chipOutputData === true,
        };
        const built = [
          ...(dev.xip ? ['XIP'] : []),
          ...(summary.imageBinding ? ['image binding'] : []),
          ...(summary.multiSig ? ['multi-signature BL2'] : []),
          ...(summary.encImages ? ['encrypted images'] : []),
          ...(summary.rotpkRevocation ? ['ROTPK revocation'] : []),
          ...(summary.nonEndorsedDm ? ['non-endorsed DM'] : []),
          ...(summary.chipOutputData ? ['Chip Output Data'] : []),
        ];
        if (o.json === true) printJson(summary);
        else
          io.out(
            `created ${dir}: ${dev.profile.name}${built.length === 0 ? '' : ` (${built.join(', ')})`}, LCM r${summary.lcmVersion}, LCS ${summary.lcs}, TP mode ${summary.tpMode}, ROM ${summary.dummyProvisioning ? `dummy provisioning (selects ${summary.romTpMode})` : 'waits for the debugger'}\n`,
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
export const DUMP_FILES = {
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
        if (isSecretField(field) && o.revealSecret !== true) {
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
