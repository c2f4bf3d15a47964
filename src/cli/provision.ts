/**
 * `rse provision`: the CM/DM provisioning bundles (and 1.7's ROM bundle, BL2 and TF-M data) from
 * values, and the rig that provisions a device with them.
 * @module
 */

import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { provisionRun, type StageReport } from '../boot/power-on.ts';
import { exportPublicDer, loadKey } from '../crypto/index.ts';
import { bundleKey } from '../crypto/rse-keys.ts';
import type { Device } from '../device/device.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { TP_MODE } from '../otp/lcm.ts';
import { encodeBundle, RESUMABLE_CODE_MARKER } from '../provisioning/bundle.ts';
import { socIdentity } from '../provisioning/cod-2.3.ts';
import { buildRevocationMessage } from '../provisioning/messages-build.ts';
import { bl2DataInputs, encodeBl2Data, encodeRomBundle, encodeTfmData, romBundleInputs, tfmDataInputs } from '../provisioning/rss17.ts';
import { cmInputs, dmInputs } from '../provisioning/values.ts';
import { cliStatus, io, parseInteger, printJson, readInput } from './common.ts';
import { openDevice, tpOption } from './device.ts';
import { example } from './help-text.ts';
import { codCommand, messageCommand, readValues, socIdCommand } from './provision-2.3.ts';

export function keyFor(kind: 'cm' | 'dm', o: { tpMode?: string; krtl?: string; key?: string }): Uint8Array {
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
  guk: "0123456789012345678901234567890123456789012345678901234567890123"
  cca_system_properties: 0xDEADBEEF
dm:
  bl2_rotpk: [root-RSA-3072.pem, root-RSA-3072_1.pem,
              root-RSA-3072.pem, root-RSA-3072.pem]
  host_rotpk_cca: host-cca-p384.pem  # or 96 bytes of hex X||Y
  implementation_id: "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb\\
    ccccccccccccccccdddddddddddddddd"
  verification_service_url: www.trustedfirmware.org
  profile_definition: http://arm.com/CCA-SSD/1.0.0
`;

export const VALUES_EXAMPLE_17 = `rom:                                # rss-1.7 ROM bundle (BL1_1)
  bl1_2_image: bl1_2.bin            # padded to 8 KiB and hashed
  bl2_image_hash: bl2_signed_hash.bin
  bl1_rotpk_0: bl1_rotpk.pub        # LMS public key (60-byte .pub or 56 B)
bl2:                                # compiled into BL2
  bl2_rotpk_alg: rsa-3072
tfm:                                # compiled into TF-M
  huk: 000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f
  cert_ref: 0604565272829-10010
  profile_definition: http://arm.com/CCA-SSD/1.0.0
`;

/** rss-1.7's plain parts: the ROM bundle and the data BL2 / TF-M are built with. */
export function rss17Part(kind: 'rom' | 'bl2' | 'tfm', description: unknown, read: (p: string) => Uint8Array): Uint8Array {
  if (kind === 'rom') return encodeRomBundle(romBundleInputs(description, read));
  if (kind === 'bl2') return encodeBl2Data(bl2DataInputs(description, read));
  return encodeTfmData(tfmDataInputs(description, read));
}

/**
 * A build with Chip Output Data records the SoC identity during CM provisioning; without it TF-M
 * 2.3.1 stops after writing the HUK, and the next run cannot write another HUK: the device is stuck.
 */
function codTrap(dev: Device): string | undefined {
  if (dev.profile.provisioning.messages?.chipOutputData !== true || dev.lcm.getLcs() !== 'CM') return undefined;
  const id = socIdentity(dev);
  const missing = [
    ...(id.socUid.every((b) => b === 0) ? ['the SoC unique id'] : []),
    ...(id.familyId === 0 ? ['the family id'] : []),
    ...(id.ieeeEcid.every((b) => b === 0) ? ['the IEEE ECID'] : []),
  ];
  if (missing.length === 0) return undefined;
  return `this firmware records the Chip Output Data in CM provisioning, and ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not written: TF-M 2.3.1 would stop after writing the HUK and the device could not be provisioned again. Write them first ('rse provision soc-id DIR --family-id N --ecid HEX'), or run with --force`;
}

/** The option that fixes a run that stopped where a wrong or missing option leaves a device, if any. */
function provisionHint(dir: string, last: StageReport | undefined, tpGiven: boolean): string | undefined {
  if (last === undefined) return undefined;
  if (/waiting for a debugger to choose the TP mode/.test(last.summary) && !tpGiven)
    return `this device's ROM waits for a debugger to choose the TP mode: run again with --tp-mode tci (test chip, zero RTL key) or --tp-mode pci (production, the device's RTL key)`;
  if (/bundle does not authenticate/.test(last.summary)) {
    const pci = last.tpMode === 'PCI';
    return pci
      ? `this device is in PCI mode: its bundles are encrypted under a key derived from its RTL key; make them with 'rse provision bundle cm|dm --tp-mode pci --krtl ${join(dir, 'krtl.bin')}'`
      : `this device is in TCI mode: its bundles are encrypted under the key derived from the zero RTL key; make them with 'rse provision bundle cm|dm --tp-mode tci' (the default)`;
  }
  return undefined;
}

export function provisionCommand() {
  const cmd = new Command('provision').summary('CM/DM provisioning bundles and the whole provisioning journey');
  cmd.addCommand(
    new Command('bundle')
      .summary('write a provisioning bundle: cm or dm (rse-2.1, AES-256-CCM), rom, bl2 or tfm (rss-1.7, plain)')
      .description(
        'cm, dm: the bundles the RSE 2.1 ROM consumes (0xED2C bytes): magic, AES-256-CCM(code,\n' +
          'values, data), nonce, tag, magic. The key is derived as the ROM derives it: from the zero\n' +
          'RTL key in TCI mode, from --krtl in PCI mode, or given directly with --key.\n\n' +
          'rom: the RSS 1.7 BL1_1 bundle (magic 0xC0DEFEED, 0x20BC bytes, byte-identical to\n' +
          "create_provisioning_bundle.py); bl2, tfm: the provisioning structs TF-M 1.7's BL2 and\n" +
          'runtime are built with (for `rse provision run --bl2-data/--tfm-data`).\n\n' +
          'Values come from a YAML or JSON file (a cm:/dm:/rom:/bl2:/tfm: section, or the top level\n' +
          "for cm/dm); every field left out takes TF-M's dummy provisioning value, so no --values gives\n" +
          'the dummy bundle. Paths in the values file are relative to it.\n\n' +
          `Example values file (rse-2.1):\n\n${example(VALUES_EXAMPLE)}\n\nExample values file (rss-1.7):\n\n${example(VALUES_EXAMPLE_17)}`,
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
  cmd.addCommand(messageCommand());
  cmd.addCommand(socIdCommand());
  cmd.addCommand(codCommand());
  cmd.addCommand(
    new Command('revoke')
      .summary('write a rse-2.3 ROTPK revocation: the CM or DM ROTPK array moves on, optionally to new keys')
      .description(
        'The authenticated plain data message (0x4444DA7A) BL1_2 of a firmware built with\n' +
          'RSE_ROTPK_REVOCATION takes (rse_provisioning_plain_data_handler.c): plain data type 4 (CM)\n' +
          'or 5 (DM), then the array index (0: the next one), how many ROTPKs follow, their policy word\n' +
          'and the ROTPK hashes. Signed with -k, a ROTPK of the array in use (its number with\n' +
          '--rotpk-number), whose public key travels in the message. Without --rotpk only the\n' +
          'revocation counter moves (the next array must hold keys and its zero count); with one\n' +
          '--rotpk per slot of the array (4 CM, 3 DM) the counter moves and the new array is written.\n' +
          'Feed it to a provisioned device with `rse provision run DIR --message FILE`.',
      )
      .addArgument(new Command().createArgument('<who>', 'cm or dm').choices(['cm', 'dm']))
      .requiredOption('-k, --key <pem>', 'signing key: a CM (or DM) ROTPK of the array in use')
      .requiredOption('--rotpk-number <n>', 'which ROTPK of the array in use -k is (metadata bits [16:8])')
      .requiredOption('-o, --output <file>', 'message file to write')
      .option('--index <n>', 'the array to move to (default 0: the next one)', '0')
      .option('--rotpk <key...>', 'the new array, one key per slot (.pem: ECDSA, .pub: LMS), hashed with SHA-256, signature required')
      .option('--version <n>', 'blob version', '0')
      .option('--json', 'print what went into the message')
      .action((who, o) => {
        const perArea = who === 'cm' ? 4 : 3;
        const keys = o.rotpk ?? [];
        if (keys.length !== 0 && keys.length !== perArea)
          throw new RseError('E_USAGE', `give no --rotpk (revoke only) or ${perArea}, one per ${who.toUpperCase()} ROTPK slot`, {
            field: '--rotpk',
          });
        const rotpks = keys.map((f, index) => {
          const lms = /\.pub$/i.test(f);
          const bytes = readInput(f, 'ROTPK');
          return {
            index,
            key: lms ? bytes.subarray(4) : exportPublicDer(loadKey(bytes), 'spki'),
            type: lms ? ('lms' as const) : ('ecdsa' as const),
            hashAlg: 'sha256' as const,
            policy: 'required' as const,
          };
        });
        const bytes = buildRevocationMessage({
          who,
          index: parseInteger(o.index),
          rotpks,
          key: loadKey(readInput(o.key, 'signing key')),
          rotpkNumber: parseInteger(o.rotpkNumber),
          version: parseInteger(o.version),
        });
        writeFileAtomic(o.output, bytes, { durable: false });
        const out = { who, output: o.output, size: bytes.length, index: parseInteger(o.index), rotpks: rotpks.length };
        if (o.json === true) printJson(out);
        else
          io.out(
            `${who.toUpperCase()} ROTPK revocation ${o.output}: ${hex0x(bytes.length)} bytes, ${rotpks.length === 0 ? 'revoke only' : `new array of ${rotpks.length} keys`}\n`,
          );
      }),
  );
  cmd.addCommand(
    new Command('run')
      .summary('the whole journey: Virgin → TCI/PCI → CM → DM → SE, one line per boot')
      .description(
        'Acts as the provisioning rig: powers the device on, and again after every reset, until\n' +
          'BL1_1 hands over to BL1_2 in SE. Each boot prints its LCS, TP mode, PSI code and outcome.\n' +
          'rse-2.1: preloads the bundles where the ROM polls for them (CM at VM0 + 0x400, DM at VM1).\n' +
          'rse-2.3: stages each --message in VM1 (PROVISIONING_MESSAGE_START) before the boots that\n' +
          'need it; the first message sets the TP mode, and a refused message stops BL1_1 with\n' +
          "TF-M's error (TFM_PLAT_ERR_PROVISIONING_...) and is wiped; nothing is written to OTP for it.\n" +
          'rss-1.7: --rom-bundle goes into the ROM image at 0xE000 (as building the ROM does);\n' +
          '--bl2-data and --tfm-data replace what the BL2 and TF-M images were built with (a device\n' +
          'created without --debugger has the dummy data). If power is lost, run the same command\n' +
          'again. Exit status 0 when the device reaches SE, 1 when it stops on the way.',
      )
      .argument('<dir>')
      .option(
        '--message <file...>',
        "provisioning messages in order (rse-2.3), each staged at VM1 + 0x60000 when the device needs it (for BL1_2 in SE); a message a blob's code fetches (chained DM, plain data) follows that blob",
      )
      .option('--cm <file>', 'CM bundle (rse-2.1)')
      .option('--dm <file>', 'DM bundle (rse-2.1)')
      .option('--rom-bundle <file>', 'BL1_1 ROM bundle, magic 0xC0DEFEED (rss-1.7)')
      .option('--bl2-data <file>', "BL2's provisioning data, from 'rse provision bundle bl2' (rss-1.7)")
      .option('--tfm-data <file>', "TF-M's provisioning data, from 'rse provision bundle tfm' (rss-1.7)")
      .addOption(tpOption())
      .option('--force', 'run even where rsekit sees the run would leave the device stuck (Chip Output Data without the SoC identity)')
      .option('--json', 'print every boot report as JSON')
      .action((dir, o) => {
        const dev = openDevice(dir);
        const trap = o.force === true ? undefined : codTrap(dev);
        if (trap !== undefined) throw new RseError('E_USAGE', trap, { field: dir });
        const line = (s: StageReport): void => {
          if (o.json !== true) io.out(`boot ${s.boot}: LCS ${s.lcs.padEnd(3)} TP ${s.tpMode.padEnd(6)} ${s.summary}\n`);
        };
        const r = provisionRun(
          dev,
          {
            ...(o.message === undefined ? {} : { messages: o.message.map((f) => readInput(f, 'provisioning message')) }),
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
        const hint = r.ok ? undefined : provisionHint(dir, r.stages.at(-1), o.tpMode !== undefined);
        if (o.json === true) printJson({ ...r, ...(hint === undefined ? {} : { hint }) });
        else io.out(r.ok ? `provisioned: LCS SE, OTP integrity intact\n` : `not provisioned: ${dev.json.lastBoot ?? ''}\n`);
        if (hint !== undefined) io.err(`rse provision run: hint: ${hint}\n`);
      }),
  );
  return cmd;
}
