/**
 * `rse provision message|soc-id|cod`: the provisioning messages of TF-M 2.3.1's RSE (BLOBs for
 * CM, DM and combined provisioning, chained DM, the plain-data handler and its non-endorsed DM
 * ROTPKs), the SoC identity a DCSU writes, and the Chip Output Data it reads back.
 * @module
 */

import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { parse as parseYaml } from 'yaml';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { COD_REPLY_TYPE, codCmacVerifies, readChipOutputData, socIdentity, writeSocIdentity } from '../provisioning/cod-2.3.ts';
import { decodeBlob } from '../provisioning/message.ts';
import { buildNonEndorsedDmMessage, buildProvisioningMessage } from '../provisioning/messages-build.ts';
import { Refused } from '../provisioning/refusal-2.3.ts';
import { cmValues23, dmRotpks23, dmValues23, VALUES_EXAMPLE_23 } from '../provisioning/values-2.3-yaml.ts';
import {
  cliStatus,
  hexOrFileBytes,
  io,
  PKCS11_MODULE_HELP,
  parseInteger,
  printJson,
  readInput,
  readKey,
  usePkcs11Module,
} from './common.ts';
import { openDevice, tpOption } from './device.ts';
import { example } from './help-text.ts';

/** A YAML/JSON values file, and a reader for the paths in it (relative to the file). */
export function readValues(file: string | undefined): { description: unknown; read: (p: string) => Uint8Array } {
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

/** Optional `n` bytes of hex (or a file holding them). */
const hexOf = (v: string | undefined, n: number, what: string): Uint8Array | undefined =>
  v === undefined ? undefined : hexOrFileBytes(v, n, what);

const KINDS = ['cm', 'dm', 'combined', 'dm-chained', 'plain-data-handler', 'non-endorsed-dm-rotpks'] as const;

export function messageCommand() {
  return new Command('message')
    .summary('write a rse-2.3 provisioning message: a CM, DM, combined, chained or plain-data-handler BLOB, or non-endorsed DM ROTPKs')
    .description(
      "The messages TF-M 2.3.1's BL1 consumes (rse_provisioning_message.h). A BLOB is the 8-byte\n" +
        'header, the 248-byte authentication header (metadata, purpose: flow, TP mode, SP mode, valid\n' +
        "LCS), rsekit's provisioning code, the non-secret values as DATA and the secrets. Asymmetric\n" +
        '(the default, ROTPK in ROM): signed with -k (ECDSA P-256/P-384, RFC 6979) and the secrets\n' +
        'AES-CTR encrypted under KPROV; --symmetric: AES-CCM under KPROV. KPROV is derived as the ROM\n' +
        'derives it: KMASTER from the RTL key (zero in TCI mode, --krtl in PCI) and the batch or DM\n' +
        'number, then KPROV_CM (cm, combined) or KPROV_DM. Paths in the values file are relative to it.\n\n' +
        'cm, dm and combined provision the CM and/or DM values. dm-chained is a DM blob whose code\n' +
        'fetches the next message and runs it as a chained one (RSE_DM_CHAINED_PROVISIONING): follow\n' +
        'it with `dm --chained` made with the same key and DM number. The chained message reuses the\n' +
        "key the loader's message set up; with ECDSA nothing in the loader is encrypted, so only\n" +
        '--symmetric chains authenticate, as in TF-M 2.3.1. plain-data-handler is a blob valid in SE,\n' +
        'signed by a CM ROTPK (-k, --cm-rotpk N), whose code fetches a plain data message\n' +
        '(RSE_NON_ENDORSED_DM_PROVISIONING); non-endorsed-dm-rotpks is that message: the dm: rotpks\n' +
        'of --values, unsigned, for the next free DM ROTPK array (the CM policies must allow it:\n' +
        'cm_policies bit 4).\n\n' +
        `Example values file:\n\n${example(VALUES_EXAMPLE_23)}`,
    )
    .addArgument(new Command().createArgument('<kind>', KINDS.join(', ')).choices(KINDS))
    .option('--values <file>', 'YAML/JSON values: a cm: and/or dm: section (cm, dm, combined, non-endorsed-dm-rotpks)')
    .requiredOption('-o, --output <file>', 'message file to write')
    .option(
      '-k, --key <pem>',
      'ECDSA signing key (PEM, or a pkcs11: URI of a key in a token): the ROM provisioning key of the target device, or with --cm-rotpk a CM ROTPK',
    )
    .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
    .option('--symmetric', 'AES-CCM under KPROV instead of an ECDSA signature (RSE_SYMMETRIC_PROVISIONING)')
    .addOption(tpOption('tci'))
    .option('--krtl <file>', 'RTL key of the target device (PCI mode)')
    .option('--iv <hex>', 'the 8-byte IV (default: random, as the scripts draw it)')
    .option('--soc-uid <hex>', "personalise the blob for this 12-byte SoC UID (see 'rse provision soc-id')")
    .option('--encrypt-code-data', 'encrypt the code and data too (RSE_PROVISIONING_*_ENCRYPT_CODE_DATA)')
    .option('--chained', 'dm: the message a dm-chained loader fetches (purpose bit 27; ECDSA as PREVIOUS_MESSAGE)')
    .option('--cm-rotpk <n>', 'sign with CM ROTPK n of the array in use, its public key in the message (ROTPK_NOT_IN_ROM)')
    .option('--version <n>', 'blob version (RSE_CM_BLOB_VERSION / RSE_DM_BLOB_VERSION)', '0')
    .option('--batch-id <n>', 'batch number of the KMASTER_CM derivation', '0')
    .option('--dm-number <n>', 'DM number of the KMASTER_DM derivation', '0')
    .option('--json', 'print what went into the message')
    .action((kind, o) => {
      const { description, read } = readValues(o.values);
      usePkcs11Module(o.pkcs11Module);
      const needValues = kind === 'cm' || kind === 'dm' || kind === 'combined' || kind === 'non-endorsed-dm-rotpks';
      if (needValues && o.values === undefined) throw new RseError('E_USAGE', `a ${kind} message needs --values`);
      if (kind === 'non-endorsed-dm-rotpks') {
        if (o.key !== undefined || o.symmetric === true)
          throw new RseError('E_USAGE', 'non-endorsed DM ROTPKs are plain data: neither signed nor sealed (give no -k or --symmetric)');
        const bytes = buildNonEndorsedDmMessage(dmRotpks23(description, read));
        writeFileAtomic(o.output, bytes, { durable: false });
        if (o.json === true) printJson({ kind, output: o.output, size: bytes.length, auth: 'none' });
        else io.out(`non-endorsed DM ROTPKs ${o.output}: ${hex0x(bytes.length)} bytes, plain data\n`);
        return;
      }
      if ((o.key === undefined) === (o.symmetric !== true))
        throw new RseError('E_USAGE', 'give -k KEY (ECDSA) or --symmetric (AES-CCM), one of them');
      if (kind === 'plain-data-handler' && (o.key === undefined || o.cmRotpk === undefined))
        throw new RseError('E_USAGE', 'a plain-data-handler blob is signed by a CM ROTPK: give -k KEY and --cm-rotpk N');
      if (o.chained === true && kind !== 'dm') throw new RseError('E_USAGE', '--chained is for the dm message a dm-chained loader fetches');
      const pci = o.tpMode === 'pci';
      if (pci && o.krtl === undefined) throw new RseError('E_USAGE', 'PCI mode needs --krtl');
      const krtl = pci ? readInput(o.krtl as string, 'RTL key') : new Uint8Array(32);
      if (krtl.length !== 32) throw new RseError('E_KEY', `the RTL key must be 32 bytes, got ${krtl.length}`, { field: '--krtl' });
      const cm = kind === 'cm' || kind === 'combined' ? cmValues23(description, read) : undefined;
      const dm = kind === 'dm' || kind === 'combined' ? dmValues23(description, read) : undefined;
      const socUid = hexOf(o.socUid, 12, '--soc-uid');
      const bytes = buildProvisioningMessage({
        flow: kind === 'plain-data-handler' ? 'plain-data' : kind,
        ...(cm === undefined ? {} : { cm: cm.values, cmSecrets: cm.secrets }),
        ...(dm === undefined ? {} : { dm: dm.values, dmSecrets: dm.secrets }),
        tpMode: pci ? 'PCI' : 'TCI',
        auth: o.key === undefined ? { kind: 'ccm' } : { kind: 'ecdsa', key: readKey(o.key, 'signing key') },
        krtl,
        iv: hexOf(o.iv, 8, '--iv') ?? new Uint8Array(randomBytes(8)),
        version: parseInteger(o.version),
        batchId: parseInteger(o.batchId),
        dmNumber: parseInteger(o.dmNumber),
        ...(socUid === undefined ? {} : { socUid }),
        ...(o.encryptCodeData === true ? { encryptCodeData: true } : {}),
        ...(o.chained === true ? { chained: true } : {}),
        ...(o.cmRotpk === undefined ? {} : { cmRotpk: parseInteger(o.cmRotpk) }),
      });
      writeFileAtomic(o.output, bytes, { durable: false });
      const words = decodeBlob(bytes, o.output).header;
      const out = {
        kind,
        output: o.output,
        size: bytes.length,
        metadata: hex0x(words.metadata, 8),
        purpose: hex0x(words.purpose, 8),
        auth: o.key === undefined ? 'AES-CCM' : 'ECDSA',
      };
      if (o.json === true) printJson(out);
      else
        io.out(
          `${kind} message ${o.output}: ${hex0x(bytes.length)} bytes, ${out.auth}, metadata ${out.metadata}, purpose ${out.purpose}\n`,
        );
    });
}

/** A TF-M refusal as a CLI error: its name and number, and exit 2 (the device is not in a state for it). */
function asCliError(e: unknown): never {
  if (e instanceof Refused) throw new RseError('E_DEVICE', `${e.why} (TFM_PLAT_ERR_${e.errName})`, { field: 'device' });
  throw e;
}

export function socIdCommand() {
  return new Command('soc-id')
    .summary('as the SoC DCSU does on a rse-2.3 device: generate the SoC unique id, write the family id and IEEE ECID')
    .description(
      "The SoC identity in the OTP SoC area (TF-M 2.3.1 rse_soc_uid.c, rse_dcsu_hal.c): the DCSU's\n" +
        'GENERATE_SOC_UNIQUE_ID draws 12 bytes from the RSE TRNG and writes them with their zero count\n' +
        '(once: a second generation is refused); WRITE_OTP writes the family id and the IEEE ECID, only\n' +
        'after the unique id exists, and their zero count once both are set. Personalised blobs\n' +
        '(--soc-uid) are bound to the unique id; a build with RSE_ENABLE_CHIP_OUTPUT_DATA needs all\n' +
        'three before CM provisioning, which records them in the Chip Output Data. Without options it\n' +
        'generates the unique id if there is none and prints the identity.',
    )
    .argument('<dir>')
    .option('--family-id <n>', 'SoC family id (32 bits, not zero)')
    .option('--ecid <hex>', 'IEEE ECID (16 bytes of hex)')
    .option('--json', 'print the identity as JSON')
    .action((dir, o) => {
      const dev = openDevice(dir);
      const familyId = o.familyId === undefined ? undefined : parseInteger(o.familyId);
      if (familyId !== undefined && (familyId <= 0 || familyId > 0xffffffff))
        throw new RseError('E_ARGUMENT', '--family-id is a non-zero 32-bit number', { field: '--family-id' });
      const ieeeEcid = hexOf(o.ecid, 16, '--ecid');
      const now = socIdentity(dev);
      if (familyId !== undefined && now.familyId !== 0 && now.familyId !== familyId)
        throw new RseError('E_DEVICE', `the family id is already written (${hex0x(now.familyId, 8)}); OTP bits cannot be cleared`, {
          field: '--family-id',
        });
      if (ieeeEcid !== undefined && now.ieeeEcid.some((b) => b !== 0) && Buffer.compare(now.ieeeEcid, ieeeEcid) !== 0)
        throw new RseError('E_DEVICE', `the IEEE ECID is already written (${toHex(now.ieeeEcid)}); OTP bits cannot be cleared`, {
          field: '--ecid',
        });
      let generated = false;
      try {
        const uidMissing = now.socUid.every((b) => b === 0);
        generated = writeSocIdentity(dev, {
          generateUid: uidMissing,
          ...(familyId === undefined ? {} : { familyId }),
          ...(ieeeEcid === undefined ? {} : { ieeeEcid }),
        }).generated;
      } catch (e) {
        asCliError(e);
      }
      const id = socIdentity(dev);
      const out = { socUid: toHex(id.socUid), familyId: id.familyId, ieeeEcid: toHex(id.ieeeEcid), generated };
      if (o.json === true) printJson(out);
      else
        io.out(
          `SoC unique id ${out.socUid}${generated ? ' (generated now)' : ''}\nfamily id     ${hex0x(id.familyId, 8)}\nIEEE ECID     ${out.ieeeEcid}\n`,
        );
    });
}

export function codCommand() {
  return new Command('cod')
    .summary('read the Chip Output Data of a rse-2.3 device, as its DCSU does, and check its CMAC')
    .description(
      'The CHIP_OUTPUT_DATA reply (type 0x33330C0D) a DCSU read returns on a device whose firmware\n' +
        'is built with RSE_ENABLE_CHIP_OUTPUT_DATA (rse device create --chip-output-data) after CM\n' +
        'provisioning: the COD CMAC and the record (SoC unique id, family id, IEEE ECID, die id, the RSE\n' +
        "attestation key's public part, the CM blob version, the BL1_2 hash, the SHA-384 of the DMA\n" +
        'ICS). The CMAC is checked under KEXPORT_CM, derived as the CM derives it from the RTL key (zero\n' +
        'in TCI mode; --krtl in PCI mode) and the family id. rsekit MACs the whole record where TF-M\n' +
        "2.3.1's rse_generate_chip_output_data MACs sizeof(pointer) bytes, and derives KEXPORT_CM with\n" +
        "the family id's bytes where TF-M passes its value as a pointer; the record is filled as TF-M\n" +
        'fills it (family id and die id 0). Exit status 1 when the CMAC does not verify.',
    )
    .argument('<dir>')
    .option('-o, --output <file>', 'write the reply (header, metadata, CMAC, record) to this file')
    .option('--krtl <file>', 'the RTL key to check the CMAC with (PCI mode)')
    .option('--json', 'print the record as JSON')
    .action((dir, o) => {
      const dev = openDevice(dir);
      if (dev.profile.provisioning.messages?.chipOutputData !== true)
        throw new RseError(
          'E_USAGE',
          `${dir}: the firmware is not built with RSE_ENABLE_CHIP_OUTPUT_DATA (the DCSU answers INVALID_COMMAND)`,
        );
      let cod: ReturnType<typeof readChipOutputData> | undefined;
      try {
        cod = readChipOutputData(dev);
      } catch (e) {
        asCliError(e);
      }
      const c = cod as ReturnType<typeof readChipOutputData>;
      const pci = dev.lcm.tpMode === 'PCI';
      const krtl = o.krtl !== undefined ? readInput(o.krtl, 'RTL key') : pci ? undefined : new Uint8Array(32);
      if (krtl !== undefined && krtl.length !== 32)
        throw new RseError('E_KEY', `the RTL key must be 32 bytes, got ${krtl.length}`, { field: '--krtl' });
      const verified = krtl === undefined ? undefined : codCmacVerifies(c, krtl);
      if (verified === false) cliStatus.code = 1;
      if (o.output !== undefined) writeFileAtomic(o.output, c.reply, { durable: false });
      const f = c.fields;
      const out = {
        type: hex0x(COD_REPLY_TYPE, 8),
        size: c.reply.length,
        cmac: toHex(c.cmac),
        cmacVerified: verified ?? null,
        socUid: toHex(f.socUid),
        familyId: f.familyId,
        ieeeEcid: toHex(f.ieeeEcid),
        dieId: f.dieId,
        rakPublic: toHex(f.rakPublic),
        cmBlobVersion: f.cmBlobVersion,
        bl1_2Hash: toHex(f.bl1_2Hash),
        dmaIcsHash: toHex(f.dmaIcsHash),
        ...(o.output === undefined ? {} : { output: o.output }),
      };
      if (o.json === true) printJson(out);
      else {
        const check = verified === undefined ? 'not checked (PCI: give --krtl)' : verified ? 'verifies' : 'DOES NOT VERIFY';
        io.out(
          `Chip Output Data (${c.reply.length} bytes${o.output === undefined ? '' : `, written to ${o.output}`})\n` +
            `  CMAC             ${out.cmac}  ${check}\n  SoC unique id    ${out.socUid}\n  family id        ${hex0x(f.familyId, 8)}\n` +
            `  IEEE ECID        ${out.ieeeEcid}\n  die id           ${hex0x(f.dieId, 8)}\n  RAK public       ${out.rakPublic}\n` +
            `  CM blob version  ${f.cmBlobVersion}\n  BL1_2 hash       ${out.bl1_2Hash}\n  DMA ICS SHA-384  ${out.dmaIcsHash}\n`,
        );
      }
    });
}
