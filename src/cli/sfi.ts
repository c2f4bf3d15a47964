/** `rse sfi package | info`: SFI images in rsekit's documented layout (docs/sfi-format.md). @module */
import { Command, Option } from '@commander-js/extra-typings';
import { loadKey, randomBytes } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { editsMakeNonSecure } from '../stm32/l5.ts';
import {
  AREA_TYPES,
  type AreaInput,
  type AreaType,
  checkHeaderTag,
  decryptArea,
  FLAG_UNIQUE_KEY,
  packageSfi,
  parseSfi,
  type SfiImage,
} from '../stm32/sfi.ts';
import { SfiHsm } from '../stm32/sfi-hsm.ts';
import { sfiInstall } from '../stm32/sfi-install.ts';
import {
  cliStatus,
  collect,
  hexOrFileBytes,
  io,
  PKCS11_MODULE_HELP,
  parseInteger,
  printJson,
  readInput,
  usePkcs11Module,
} from './common.ts';

function parseArea(spec: string, unique: boolean): AreaInput {
  const m = /^([FMX]):([^:]+):(.+)$/i.exec(spec);
  if (!m) throw new RseError('E_USAGE', `--area ${spec}: TYPE:ADDRESS:FILE with TYPE F (firmware), M (module) or X (external flash)`);
  const type = (m[1] as string).toUpperCase() as AreaType;
  return {
    type,
    destination: parseInteger(m[2] as string),
    data: readInput(m[3] as string, 'area'),
    ...(type === 'X' && unique ? { flags: FLAG_UNIQUE_KEY } : {}),
  };
}

function describe(path: string, img: SfiImage, checked?: { header: boolean; areas: (string | undefined)[] }): string {
  const h = img.header;
  const lines = [
    `${path}: SFI protocol version ${h.protocolVersion}, ${h.areaCount} areas, image version ${h.imageVersion}`,
    `  nonce ${toHex(h.nonce)}${checked === undefined ? '' : `, header tag ${checked.header ? 'authenticates' : 'does NOT authenticate (wrong key?)'}`}`,
  ];
  img.areas.forEach((a, i) => {
    const c = checked?.areas[i];
    lines.push(
      `  area ${i}: type ${a.type} (${AREA_TYPES[a.type]}${a.type === 'X' ? `, OTFDEC ${a.flags & FLAG_UNIQUE_KEY ? 'device-unique' : 'global'} key` : ''}), size ${a.length}, destination ${hex0x(a.destination, 8)}${c === undefined ? '' : `, ${c}`}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

function report(dir: string, r: Awaited<ReturnType<typeof sfiInstall>>, check: boolean, json: boolean): void {
  cliStatus.code = r.ok ? 0 : 1;
  if (json) {
    printJson({ ...r, check });
    return;
  }
  const end = r.ok
    ? check
      ? '  the checks pass (nothing written)\n'
      : '  installed\n'
    : `  ${check ? 'would be refused' : 'refused, device unchanged'}: ${r.halt ?? r.steps.at(-1)?.what}\n`;
  io.out(`SFI ${check ? 'check' : 'install'} on ${dir}\n${r.steps.map((s) => `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.what}`).join('\n')}\n${end}`);
}

export function sfiCommand() {
  const cmd = new Command('sfi').summary('STM32 Secure Firmware Install: package, info, check, hsm, install');
  cmd.addCommand(
    new Command('package')
      .summary('encrypt firmware areas and option bytes into an SFI image')
      .description(
        'Build an SFI image as STM32 Trusted Package Creator does: a header authenticated with the OEM firmware key (AES-128-GCM, the nonce as IV), then one area per --area (AES-128-GCM, IV = nonce + area index, the area descriptor as AAD, a truncated SHA-256 of the plaintext), the OTFDEC global key area when --otfdec-key is given, and the option-byte configuration area last. Layout: docs/sfi-format.md.',
      )
      .requiredOption('--key <hex|file>', 'OEM firmware key, AES-128 (16 bytes)')
      .option('--nonce <hex|file>', '12-byte nonce (default: random, printed)')
      .option('--area <TYPE:ADDR:FILE>', 'an area: F internal firmware, M module, X external flash (repeatable, in order)', collect)
      .option('--ob <edits>', 'option bytes applied last, as rse l5 ob set takes them, e.g. "rdp=1 tzen=1 secwm1=0-63"')
      .option(
        '--otfdec-key <hex|file|unique>',
        'OTFDEC key of the X areas: a global key (16 bytes), or unique (drawn on each chip; the default)',
      )
      .addOption(
        new Option('--otfdec-key-address <addr>', 'where the RSS stores the OTFDEC key in internal flash (must end up secure)')
          .argParser((v) => parseInteger(v))
          .default(0x0c03f800, '0x0C03F800'),
      )
      .option('--image-version <n>', 'SFI image version', (v) => parseInteger(v), 0)
      .requiredOption('-o, --output <file>', 'the SFI image')
      .option('--json', 'machine-readable output')
      .action((o) => {
        const key = hexOrFileBytes(o.key, 16, '--key');
        const nonce = o.nonce === undefined ? randomBytes(12) : hexOrFileBytes(o.nonce, 12, '--nonce');
        const unique = o.otfdecKey === undefined || o.otfdecKey === 'unique';
        const areas: AreaInput[] = (o.area ?? []).map((a) => parseArea(a, unique));
        if (areas.some((a) => a.type === 'X'))
          areas.push({
            type: 'K',
            destination: o.otfdecKeyAddress,
            data: unique ? new Uint8Array(0) : hexOrFileBytes(o.otfdecKey as string, 16, '--otfdec-key'),
          });
        else if (o.otfdecKey !== undefined) throw new RseError('E_USAGE', '--otfdec-key is for images with external-flash (X) areas');
        if (o.ob !== undefined) {
          const edits = o.ob
            .trim()
            .split(/[\s,;]+/)
            .filter(Boolean);
          // The RSS refuses to store the OTFDEC key where these option bytes make flash non-secure,
          // and only at install, after the license is spent: refuse it here.
          const why = areas.some((a) => a.type === 'X') ? editsMakeNonSecure(edits, o.otfdecKeyAddress) : undefined;
          if (why !== undefined)
            throw new RseError(
              'E_CONFIG',
              `--otfdec-key-address ${hex0x(o.otfdecKeyAddress, 8)} would be non-secure once --ob applies (${why}): the install would refuse it after spending a license; move the key into the secure area or widen the watermark`,
              { field: '--otfdec-key-address' },
            );
          const text = edits.join('\n');
          areas.push({ type: 'C', destination: 0, data: new TextEncoder().encode(`${text}\n`) });
        }
        const bytes = packageSfi({ key, nonce, imageVersion: o.imageVersion, areas });
        writeFileAtomic(o.output, bytes, { durable: false });
        const img = parseSfi(bytes);
        if (o.json)
          printJson({
            file: o.output,
            size: bytes.length,
            nonce: toHex(nonce),
            areas: img.areas.map((a) => ({ type: a.type, destination: a.destination, length: a.length })),
          });
        else io.out(describe(o.output, img));
      }),
  );
  cmd.addCommand(
    new Command('info')
      .summary('print an SFI image; with --key, authenticate the header and every area')
      .argument('<image>')
      .option('--key <hex|file>', 'OEM firmware key: check the header tag, each area tag and plaintext hash')
      .option('--json', 'machine-readable output')
      .action((path, o) => {
        const img = parseSfi(readInput(path, 'SFI image'));
        let checked: { header: boolean; areas: (string | undefined)[] } | undefined;
        if (o.key !== undefined) {
          const key = hexOrFileBytes(o.key, 16, '--key');
          const header = checkHeaderTag(img, key);
          const areas = img.areas.map((_, i) => {
            try {
              decryptArea(img, i, key).fill(0);
              return 'authenticated';
            } catch (e) {
              if (e instanceof RseError) return `REFUSED: ${e.message}`;
              throw e;
            }
          });
          checked = { header, areas };
          cliStatus.code = header && areas.every((a) => a === 'authenticated') ? 0 : 1;
        }
        if (o.json)
          return printJson({
            file: path,
            protocolVersion: img.header.protocolVersion,
            imageVersion: img.header.imageVersion,
            nonce: toHex(img.header.nonce),
            areas: img.areas.map((a, i) => ({
              type: a.type,
              flags: a.flags,
              destination: a.destination,
              length: a.length,
              hash: toHex(a.hash),
              ...(checked ? { check: checked.areas[i] } : {}),
            })),
            ...(checked ? { headerTag: checked.header } : {}),
          });
        io.out(describe(path, img, checked));
      }),
  );
  const dbOption = () =>
    new Option(
      '--db <url|dir>',
      'the HSM ledger: a data directory (SQLite), or a postgres:// URL shared by production lines',
    ).makeOptionMandatory();
  const wrapKeyOption = () =>
    new Option(
      '--wrap-key <file|uri>',
      'the key that wraps the OEM key and nonce in the ledger, kept outside it: a 32-byte file, or a pkcs11: URI of an AES-256 key in a token (made there by init; PIN from the URI or RSE_PKCS11_PIN) (default: DIR.wrap-key beside a ledger directory, made 0600 by init; required with postgres://)',
    );
  const moduleOption = () => new Option('--pkcs11-module <lib>', PKCS11_MODULE_HELP);
  const hsm = new Command('hsm').summary('the SFI HSM: OEM key, nonce and a counted number of installs, in a SQLite or PostgreSQL ledger');
  hsm.addCommand(
    new Command('init')
      .description(
        'Personalise an HSM: the OEM firmware key and nonce it will wrap into licenses, the number of installs it allows, the CA it trusts for device certificates',
      )
      .addOption(dbOption())
      .option('--id <name>', 'the HSM within the ledger', 'default')
      .requiredOption('--key <hex|file>', 'OEM firmware key (16 bytes), as given to rse sfi package')
      .requiredOption('--nonce <hex|file>', 'the SFI image nonce (12 bytes)')
      .requiredOption('--max <n>', 'installs it allows', (v) => parseInteger(v))
      .option('--ca <file>', 'CA public key of the device certificates (default: the virtual ST CA)')
      .addOption(
        new Option('--license <type>', 'live (bound to the install session) or normal').choices(['live', 'normal']).default('live'),
      )
      .option('--force', 'replace an HSM of that id (its count starts again)')
      .addOption(wrapKeyOption())
      .addOption(moduleOption())
      .action(async (o) => {
        usePkcs11Module(o.pkcs11Module);
        const h = await SfiHsm.init(
          o.db,
          o.id,
          {
            key: hexOrFileBytes(o.key, 16, '--key'),
            nonce: hexOrFileBytes(o.nonce, 12, '--nonce'),
            maxInstalls: o.max,
            license: o.license as 'live' | 'normal',
            ...(o.ca === undefined ? {} : { ca: loadKey(readInput(o.ca, 'CA key')) }),
          },
          o.force === true,
          o.wrapKey === undefined ? {} : { wrapKeyFile: o.wrapKey },
        );
        const i = await h.info();
        await h.close();
        io.out(`HSM ${i.id} in ${o.db}: ${i.remaining} ${i.license} installs\n`);
      }),
  );
  hsm.addCommand(
    new Command('show')
      .description('The count and the ledger of licenses issued (never the key)')
      .addOption(dbOption())
      .option('--id <name>', 'the HSM within the ledger', 'default')
      .option('--json', 'machine-readable output')
      .action(async (o) => {
        const h = await SfiHsm.open(o.db, o.id);
        const i = await h.info();
        await h.close();
        if (o.json) return printJson(i);
        io.out(
          `HSM ${i.id}: ${i.issued} of ${i.maxInstalls} ${i.license} licenses issued, ${i.remaining} left\n${i.ledger.map((l) => `  ${l.seq}. ${l.productId} chip ${l.chip}\n`).join('')}`,
        );
      }),
  );
  cmd.addCommand(hsm);
  cmd.addCommand(
    new Command('install')
      .summary("install an SFI image on a virtual STM32L552, the HSM's license in the loop")
      .description(
        'The RSS install: the device certificate to the HSM, its license unwrapped with the chip key, the header authenticated, every area authenticated and decrypted, the firmware programmed and the option bytes applied last, in one commit: any failure (or a power cut) leaves the device as it was. Exit 0 installed, 1 refused.',
      )
      .argument('<device>')
      .argument('<image>')
      .addOption(dbOption())
      .option('--id <name>', 'the HSM within the ledger', 'default')
      .option('--json', 'machine-readable output')
      .option('--dry-run', 'check the device, the image and the HSM (licenses left) without asking for a license; nothing is written')
      .option('--key <hex|file>', 'with --dry-run: the OEM firmware key, to check the area contents too')
      .addOption(wrapKeyOption())
      .addOption(moduleOption())
      .action(async (dir, path, o) => {
        usePkcs11Module(o.pkcs11Module);
        const image = readInput(path, 'SFI image');
        const h = await SfiHsm.open(o.db, o.id, o.wrapKey === undefined ? {} : { wrapKeyFile: o.wrapKey });
        let r: Awaited<ReturnType<typeof sfiInstall>>;
        try {
          if (o.dryRun === true) {
            const info = await h.info();
            r =
              info.remaining > 0
                ? await sfiInstall(dir, image, undefined, { check: o.key === undefined ? {} : { key: hexOrFileBytes(o.key, 16, '--key') } })
                : {
                    ok: false,
                    steps: [{ ok: false, what: `HSM ${info.id}: no license left (${info.issued} of ${info.maxInstalls} issued)` }],
                    writes: 0,
                  };
            if (r.ok)
              r = { ...r, steps: [{ ok: true, what: `HSM ${info.id}: ${info.remaining} license(s) left, none asked for` }, ...r.steps] };
          } else {
            if (o.key !== undefined)
              throw new RseError('E_USAGE', '--key goes with --dry-run: an install takes the key from the HSM license', { field: '--key' });
            r = await sfiInstall(dir, image, h);
          }
        } finally {
          await h.close();
        }
        report(dir, r, o.dryRun === true, o.json === true);
      }),
  );
  cmd.addCommand(
    new Command('check')
      .summary('run every install check that needs no license (device, image layout; with --key the contents and option bytes)')
      .description(
        'Checks an SFI image against a device as the install would, without an HSM and without a license: RDP level 0, the image structure, every area destination, the OTFDEC key area; with --key (the OEM firmware key) also the header and area tags, the option bytes the image applies (allowed from level 0, the OTFDEC key left in secure flash) and every programming step. Nothing is written. Exit 0 when the install would pass these checks, 1 otherwise.',
      )
      .argument('<device>')
      .argument('<image>')
      .option('--key <hex|file>', 'OEM firmware key (16 bytes): check the area contents too')
      .option('--json', 'machine-readable output')
      .action(async (dir, path, o) => {
        const r = await sfiInstall(dir, readInput(path, 'SFI image'), undefined, {
          check: o.key === undefined ? {} : { key: hexOrFileBytes(o.key, 16, '--key') },
        });
        report(dir, r, true, o.json === true);
      }),
  );
  return cmd;
}
