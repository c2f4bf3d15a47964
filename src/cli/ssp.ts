/** `rse ssp package | hsm init | hsm show | provision | info`: STM32MP15 Secure Secret Provisioning. @module */
import { Command, Option } from '@commander-js/extra-typings';
import { loadKey } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { readU32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { p256PublicXY, publicKeyHash } from '../stm32/image.ts';
import { Mp1Device } from '../stm32/mp1.ts';
import {
  CERTIFICATE_SIZE,
  decodeCertificate,
  decodeLicense,
  decodePayload,
  LICENSE_LIVE,
  LICENSE_NORMAL,
  LICENSE_SIZE,
  PAYLOAD_MAGIC,
  PAYLOAD_SIZE,
  packagePayload,
} from '../stm32/ssp.ts';
import { SspHsm, sspProvision } from '../stm32/ssp-provision.ts';
import { cliStatus, hexOrFileBytes, io, PKCS11_MODULE_HELP, parseInteger, printJson, readInput, usePkcs11Module } from './common.ts';

const WRAP_KEY_HELP =
  'the key that wraps the OEM key and IV, kept outside the HSM directory: a 32-byte file, or a pkcs11: URI of an AES-256 key in a token (made there by init; PIN from the URI or RSE_PKCS11_PIN) (default: DIR.wrap-key, made 0600)';

const bytes16 = (v: string, what: string): Uint8Array => hexOrFileBytes(v, 16, what);

const count = (v: string): number => parseInteger(v);

export function sspCommand() {
  const cmd = new Command('ssp').summary('STM32MP15 Secure Secret Provisioning: package OEM secrets, a counting HSM, provision a device');
  cmd.addCommand(
    new Command('package')
      .summary('encrypt the OEM secrets into an SSP payload (.ssp)')
      .description(
        "Encrypt the OEM secrets (RMA password in the first 4 bytes, then the words for OTP 59..95; at most 152 bytes) with the OEM's AES-128 key and 16-byte IV, bound to the OEM public key whose hash the device will lock as its PKH. The HSM gets the same key and IV (rse ssp hsm init).",
      )
      .requiredOption('--secrets <file>', 'the secrets: 4..152 bytes')
      .requiredOption('--pubkey <file>', 'the OEM P-256 key (public or private) that signs the FSBL')
      .requiredOption('--key <hex|file>', 'AES-128 key (16 bytes)')
      .requiredOption('--iv <hex|file>', 'AES-GCM IV (16 bytes)')
      .requiredOption('-o, --output <file>', 'the payload (244 bytes)')
      .option('--json', 'machine-readable output')
      .action((o) => {
        const pub = p256PublicXY(loadKey(readInput(o.pubkey, 'OEM key')));
        const payload = packagePayload({
          secrets: readInput(o.secrets, 'secrets'),
          oemPublicKey: pub,
          key: bytes16(o.key, '--key'),
          iv: bytes16(o.iv, '--iv'),
        });
        writeFileAtomic(o.output, payload, { durable: false });
        const p = decodePayload(payload);
        if (o.json) printJson({ file: o.output, size: payload.length, secretSize: p.secretSize, pkh: toHex(publicKeyHash(pub)) });
        else io.out(`${o.output}: SSP payload v1, ${p.secretSize} secret bytes, PKH ${toHex(publicKeyHash(pub))}\n`);
      }),
  );
  const hsm = new Command('hsm').summary('a virtual HSM that counts SSP licenses');
  hsm.addCommand(
    new Command('init')
      .description(
        'Personalise a virtual HSM: the OEM key and IV it will wrap, how many licenses it may issue, the CA it trusts for chip certificates',
      )
      .argument('<dir>')
      .requiredOption('--key <hex|file>', 'AES-128 key (16 bytes), as given to rse ssp package')
      .requiredOption('--iv <hex|file>', 'AES-GCM IV (16 bytes), as given to rse ssp package')
      .requiredOption('--max <n>', 'licenses it may issue', count)
      .option('--fsbl-min-version <n>', 'the lowest FSBL image version the license lets the ROM accept', count, 0)
      .option('--ca <file>', 'the CA public key that signs chip certificates (default: the virtual ST CA of rse stm32 device create)')
      .addOption(new Option('--license <type>', 'live (bound to the boot session) or normal').choices(['live', 'normal']).default('live'))
      .option('--force', 'replace an HSM already there')
      .option('--wrap-key <file|uri>', WRAP_KEY_HELP)
      .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
      .action((dir, o) => {
        usePkcs11Module(o.pkcs11Module);
        const h = SspHsm.init(
          dir,
          {
            oemKey: bytes16(o.key, '--key'),
            oemIv: bytes16(o.iv, '--iv'),
            maxLicenses: o.max,
            fsblMinVersion: o.fsblMinVersion,
            license: o.license as 'live' | 'normal',
            ...(o.ca === undefined ? {} : { ca: loadKey(readInput(o.ca, 'CA key')) }),
          },
          o.force === true,
          o.wrapKey,
        );
        io.out(`${dir}: SSP HSM, ${h.remaining} ${o.license} licenses\n`);
      }),
  );
  hsm.addCommand(
    new Command('show')
      .description('The counter and the ledger of licenses issued (never the OEM key)')
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const i = SspHsm.open(dir).info();
        if (o.json) return printJson(i);
        io.out(
          `${dir}: ${i.issued} of ${i.maxLicenses} ${i.license} licenses issued, ${i.remaining} left; FSBL min version ${i.fsblMinVersion}\n` +
            i.ledger
              .map(
                (l, n) =>
                  `  ${n + 1}. ${l.productId} chip ${l.chip}${l.session === undefined ? '' : ` session 0x${l.session.toString(16)}`}\n`,
              )
              .join(''),
        );
      }),
  );
  cmd.addCommand(hsm);
  cmd.addCommand(
    new Command('provision')
      .summary('run SSP on a virtual MP15: three boots of the SSP FSBL, the HSM in the loop')
      .description(
        "Provision an open STM32MP15 device: boot 1 requests SSP, boot 2 sends the chip certificate to the programmer and gets the HSM's license with the payload, boot 3 has the ROM authenticate and decrypt them; the FSBL then locks the PKH, closes the device, and programs and locks the RMA password and the secrets. A refusal at any step leaves no secret programmed. Exit 0 provisioned, 1 refused.",
      )
      .argument('<device>')
      .requiredOption('--hsm <dir>', 'the HSM (rse ssp hsm init)')
      .requiredOption('--payload <file>', 'the SSP payload (rse ssp package)')
      .requiredOption('--fsbl <file>', 'the SSP FSBL with its STM32 header (its version is checked against the license)')
      .option('--license <file>', 'send this license instead of asking the HSM (a replay)')
      .option('--save-license <file>', 'keep the license the HSM issued')
      .option('--wrap-key <file|uri>', 'the key the HSM was made with (rse ssp hsm init --wrap-key)')
      .option('--pkcs11-module <lib>', PKCS11_MODULE_HELP)
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        usePkcs11Module(o.pkcs11Module);
        const dev = Mp1Device.open(dir);
        const payload = readInput(o.payload, 'payload');
        const replay = o.license === undefined ? undefined : readInput(o.license, 'license');
        const h = replay === undefined ? SspHsm.open(o.hsm, o.wrapKey) : undefined;
        const r = sspProvision(dev, readInput(o.fsbl, 'FSBL'), ({ certificate, sessionId }) => {
          const license = replay ?? (h as SspHsm).issue(certificate, sessionId);
          if (o.saveLicense !== undefined && replay === undefined) writeFileAtomic(o.saveLicense, license, { durable: false });
          return { license, payload };
        });
        cliStatus.code = r.ok ? 0 : 1;
        if (o.json) return printJson({ ...r, ...(h === undefined ? {} : { hsmRemaining: h.remaining }) });
        io.out(
          `SSP on ${dir}\n${r.steps.map((s) => `  boot ${s.boot} ${s.stage.padEnd(10)} ${s.ok ? 'ok  ' : 'FAIL'} ${s.what}`).join('\n')}\n` +
            (r.ok
              ? `  provisioned and closed; ${r.programmed.length} OTP words programmed and locked${h === undefined ? '' : `; HSM: ${h.remaining} licenses left`}\n`
              : `  refused: ${r.halt}\n`),
        );
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('decode an SSP message: chip certificate (136), license (136), payload (244)')
      .argument('<file>')
      .option('--json', 'machine-readable output')
      .action((path, o) => {
        const b = readInput(path, 'SSP message');
        const t = b.length >= 4 ? readU32le(b, 0) : 0;
        let out: Record<string, unknown>;
        if (b.length === PAYLOAD_SIZE || t === PAYLOAD_MAGIC) {
          const p = decodePayload(b);
          out = {
            kind: 'payload',
            version: p.version,
            secretSize: p.secretSize,
            oemPublicKey: toHex(p.oemPublicKey),
            pkh: toHex(publicKeyHash(p.oemPublicKey)),
            tag: toHex(p.tag),
          };
        } else if (b.length === LICENSE_SIZE && (t === LICENSE_NORMAL || t === LICENSE_LIVE)) {
          const l = decodeLicense(b);
          out = {
            kind: 'license',
            type: l.type,
            sessionId: l.sessionId,
            version: l.version,
            fsblMinVersion: l.fsblMinVersion,
            ephemeralPublicKey: toHex(l.ephemeralPublicKey),
            tag: toHex(l.tag),
          };
        } else if (b.length === CERTIFICATE_SIZE) {
          const c = decodeCertificate(b);
          out = {
            kind: 'chip certificate',
            productId: c.productId,
            chipPublicKey: toHex(c.chipPublicKey),
            certificate: toHex(c.certificate),
          };
        } else
          throw new RseError('E_BAD_FIELD', `${path}: ${b.length} bytes is no SSP message (certificate 136, license 136, payload 244)`, {
            field: 'size',
          });
        if (o.json) return printJson(out);
        io.out(
          `${Object.entries(out)
            .map(([k, v]) => `${k.padEnd(18)} ${String(v)}`)
            .join('\n')}\n`,
        );
      }),
  );
  return cmd;
}
