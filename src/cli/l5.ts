/** `rse l5`: a virtual STM32L552: option bytes (RDP, TZEN, watermarks, HDP, WRP, boot), flash, RSS services. @module */
import { Command, Option } from '@commander-js/extra-typings';
import { loadKey } from '../crypto/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import {
  EXT_BASE,
  editOptionBytes,
  hdpInactiveReason,
  hdpPages,
  type OptionBytes,
  type Requester,
  RSSLIB_SUCCESS,
  rdpLevel,
} from '../stm32/l5.ts';
import { L5Device } from '../stm32/l5-device.ts';
import { cliStatus, io, parseInteger, printJson, readInput } from './common.ts';

const hex8 = (n: number): string => hex0x(n, 8);
const who = () =>
  new Option('--as <requester>', 'debugger (the programmer, non-secure) or secure (secure code, the RSS)')
    .choices(['debugger', 'secure'] as const)
    .default('debugger' as const);
const range = (r: readonly [number, number]): string => (r[0] <= r[1] ? `pages ${r[0]}..${r[1]}` : 'none');

function describe(ob: OptionBytes, hdpClosed: readonly boolean[]): string {
  const lines = [
    `RDP          0x${ob.rdp.toString(16).padStart(2, '0')} (level ${rdpLevel(ob.rdp)})`,
    `TZEN         ${ob.tzen ? 1 : 0}`,
    `nSWBOOT0     ${ob.nSwBoot0 ? 1 : 0}   nBOOT0 ${ob.nBoot0 ? 1 : 0}`,
    `NSBOOTADD0   ${hex8(ob.nsBootAdd0)}   NSBOOTADD1 ${hex8(ob.nsBootAdd1)}`,
    `SECBOOTADD0  ${hex8(ob.secBootAdd0)}   BOOT_LOCK ${ob.bootLock ? 1 : 0}`,
  ];
  ob.banks.forEach((b, i) => {
    const hdp = hdpPages(ob, i as 0 | 1);
    lines.push(
      `bank ${i + 1}       SECWM ${range([b.secwmStart, b.secwmEnd])}; HDP ${hdp === undefined ? 'off' : `${range(hdp)}${hdpClosed[i] ? ' (closed until reset)' : ''}`}; WRP A ${range(b.wrpA)}, B ${range(b.wrpB)}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/** Why CloseExitHDP refused `mask` / `vtor` (the device only says RSSLIB_ERROR and resets). */
function closeExitHdpWhy(ob: OptionBytes, mask: number, vtor: number): string {
  if (!Number.isInteger(mask) || mask <= 0 || mask > 3) return `area mask ${mask}: bit 0 is HDP area 1, bit 1 area 2 (1, 2 or 3)`;
  for (const b of [0, 1] as const) {
    if (((mask >> b) & 1) === 0) continue;
    const reason = hdpInactiveReason(ob, b);
    if (reason !== undefined) return reason;
    if (!ob.banks[b].hdpEnable) return `HDP area ${b + 1} is not enabled (set hdp${b + 1}=PAGE, which enables it)`;
  }
  if (vtor % 128 !== 0) return `vector table ${hex8(vtor)} is not 128-byte aligned`;
  return `vector table ${hex8(vtor)} is not in flash`;
}

export function l5Command() {
  const cmd = new Command('l5').summary('STM32L5: a virtual L552 with its option bytes, RDP, HDP and RSS services');
  const device = new Command('device').summary('virtual STM32L552 devices');
  device.addCommand(
    new Command('create')
      .description(
        "Create an STM32L552 as it leaves ST's factory: erased flash, RDP 0, TrustZone off, its SFI key pair certified by --ca (the virtual ST CA by default)",
      )
      .argument('<dir>')
      .option('--ca <file>', 'P-256 private key of the CA that signs the chip certificate')
      .option('--force', 'replace a device already there')
      .action((dir, o) => {
        const d = L5Device.create(dir, {
          force: o.force === true,
          ...(o.ca === undefined ? {} : { ca: loadKey(readInput(o.ca, 'CA key')) }),
        });
        io.out(`created ${dir}: stm32l5, product ${d.productId}, RDP 0, flash erased\n`);
      }),
  );
  cmd.addCommand(device);
  const ob = new Command('ob').summary('option bytes: show, set');
  ob.addCommand(
    new Command('show')
      .description('The option bytes, decoded')
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const d = L5Device.open(dir);
        if (o.json) return printJson({ ...d.ob, rdpLevel: d.rdp, hdpClosed: d.hdpClosed });
        io.out(describe(d.ob, d.hdpClosed));
      }),
  );
  ob.addCommand(
    new Command('set')
      .description(
        "Change option bytes (FIELD=VALUE ...) and launch them, with the device's rules: level 2 freezes everything; RDP only rises except the regressions 1 -> 0.5 (non-secure flash erased) and 1 or 0.5 -> 0 (flash, SRAM2 and backup registers erased); 0.5 needs TZEN; TZEN set only at level 0 and cleared only with a regression to 0; BOOT_LOCK cleared only at level 0; secure option bytes from secure code once TrustZone is on above level 0. Fields: rdp=0|0.5|1|2|0xNN tzen= nswboot0= nboot0= boot_lock= nsbootadd0= nsbootadd1= secbootadd0= secwm1=A-B|none secwm2= hdp1=PAGE hdp2= hdpen1= hdpen2= wrpa1=A-B|none wrpb1= wrpa2= wrpb2=",
      )
      .argument('<dir>')
      .argument('<edits...>', 'FIELD=VALUE')
      .addOption(who())
      .option('--json', 'machine-readable output')
      .action((dir, edits, o) => {
        const d = L5Device.open(dir);
        const r = d.setOptionBytes(editOptionBytes(d.ob, edits), o.as as Requester);
        d.save();
        // The hardware takes an HDP area that protects nothing; say so where it is set.
        const warnings = [0, 1].flatMap((b) => hdpInactiveReason(r.ob, b as 0 | 1) ?? []);
        for (const w of warnings) io.err(`rse l5 ob set: warning: ${w}\n`);
        if (o.json) return printJson({ ...r.ob, rdpLevel: d.rdp, erased: r.erased, warnings });
        io.out(`${describe(r.ob, d.hdpClosed)}${r.erased.length ? `erased by the regression: ${r.erased.join(', ')}\n` : ''}`);
      }),
  );
  cmd.addCommand(ob);
  cmd.addCommand(
    new Command('read')
      .description(
        'Read flash as the debugger or secure code (RDP, secure watermarks and closed HDP areas decide); external flash at 0x90000000 raw (the ciphertext on the OCTOSPI bus) or with --otfdec through the on-the-fly decryption',
      )
      .argument('<dir>')
      .argument('<addr>', '0x08000000.. (non-secure alias), 0x0c000000.. (secure alias), 0x90000000.. (external flash)', (v) =>
        parseInteger(v),
      )
      .argument('<length>', 'bytes', (v) => parseInteger(v))
      .addOption(who())
      .option('--otfdec', 'external flash: read through OTFDEC (plaintext) instead of raw')
      .option('-o, --output <file>', 'write the bytes to a file instead of printing hex')
      .action((dir, addr, len, o) => {
        const d = L5Device.open(dir);
        const b =
          addr >= EXT_BASE
            ? d.readExternal(addr, len, { otfdec: o.otfdec === true, who: o.as as Requester })
            : d.read(addr, len, o.as as Requester);
        if (o.output !== undefined) writeFileAtomic(o.output, b, { durable: false });
        else io.out(`${toHex(b)}\n`);
      }),
  );
  cmd.addCommand(
    new Command('program')
      .description('Program a binary into flash at ADDR (WRP, RDP, watermarks and HDP decide)')
      .argument('<dir>')
      .argument('<addr>', 'flash address', (v) => parseInteger(v))
      .argument('<file>')
      .addOption(who())
      .action((dir, addr, file, o) => {
        const d = L5Device.open(dir);
        const data = readInput(file);
        d.program(addr, data, o.as as Requester);
        d.save();
        io.out(`${data.length} bytes programmed at ${hex8(addr)}\n`);
      }),
  );
  cmd.addCommand(
    new Command('reset')
      .description('System reset: HDP areas open again until secure code closes them')
      .argument('<dir>')
      .action((dir) => {
        const d = L5Device.open(dir);
        d.reset();
        d.save();
        io.out(`${dir} reset (${d.resets})\n`);
      }),
  );
  cmd.addCommand(
    new Command('boot')
      .description(
        'Power-on reset: the boot address the option bytes select (BOOT_LOCK, BOOT0, TZEN), and the initial SP and reset handler of the vector table there. Exit 1 when that flash is erased.',
      )
      .argument('<dir>')
      .addOption(new Option('--boot0 <level>', 'the BOOT0 pin (PH3), read when nSWBOOT0 = 1').choices(['0', '1']).default('0'))
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const d = L5Device.open(dir);
        const r = d.boot({ boot0Pin: o.boot0 === '1' ? 1 : 0 });
        d.save();
        cliStatus.code = r.erased ? 1 : 0;
        if (o.json) return printJson(r);
        io.out(
          `${dir}: RDP ${d.rdp}, TZEN ${d.ob.tzen ? 1 : 0}: boot from ${hex8(r.address)} (${r.target})` +
            (r.sp === undefined
              ? '\n'
              : r.erased
                ? ': erased flash, nothing to run\n'
                : `: initial SP ${hex8(r.sp)}, reset handler ${hex8(r.pc ?? 0)}\n`),
        );
      }),
  );
  const rss = new Command('rss').summary('Root Security Services: CloseExitHDP, the device certificate');
  rss.addCommand(
    new Command('close-exit-hdp')
      .description(
        'RSSLIB CloseExitHDP(areaMask, vectorTable): close HDP areas (bit 0 area 1, bit 1 area 2) until reset, and jump to the reset handler; a bad input resets the device. Exit 0 closed, 1 reset.',
      )
      .argument('<dir>')
      .argument('<mask>', 'HDP area mask', (v) => parseInteger(v))
      .argument('<vtor>', 'vector table address', (v) => parseInteger(v))
      .option('--json', 'machine-readable output')
      .action((dir, mask, vtor, o) => {
        const d = L5Device.open(dir);
        const r = d.closeExitHdp(mask, vtor);
        d.save();
        cliStatus.code = r.code === RSSLIB_SUCCESS ? 0 : 1;
        const why = r.reset ? closeExitHdpWhy(d.ob, mask, vtor) : undefined;
        if (o.json) return printJson({ ...r, code: hex8(r.code), ...(why === undefined ? {} : { why }) });
        io.out(
          r.reset
            ? `RSSLIB_ERROR (${hex8(r.code)}): ${why}; the device reset\n`
            : `HDP areas closed: ${r.closed
                .map((c, i) => (c ? i + 1 : ''))
                .filter(Boolean)
                .join(', ')}; jump to ${hex8(r.jump ?? 0)}\n`,
        );
      }),
  );
  rss.addCommand(
    new Command('secure-ob')
      .description(
        'The RSS boot-time service for the secure option bytes (SECBOOTADD0, BOOT_LOCK, SECWM, HDP): without edits, get them; with FIELD=VALUE edits, set them as secure code does (the option-byte rules still apply)',
      )
      .argument('<dir>')
      .argument('[edits...]', 'FIELD=VALUE: secbootadd0, boot_lock, secwm1/2, hdp1/2, hdpen1/2')
      .option('--json', 'machine-readable output')
      .action((dir, edits, o) => {
        const d = L5Device.open(dir);
        const secure = /^(secbootadd0|boot_lock|bootlock|secwm[12]|hdp[12]|hdpen[12])=/i;
        const bad = edits.find((e) => !secure.test(e));
        if (bad !== undefined)
          throw new RseError(
            'E_ARGUMENT',
            `${bad}: the secure option-byte service sets secbootadd0, boot_lock, secwm1/2, hdp1/2, hdpen1/2`,
            { field: 'edits' },
          );
        if (edits.length > 0) {
          d.setOptionBytes(editOptionBytes(d.ob, edits), 'secure');
          d.save();
        }
        const view = {
          secBootAdd0: d.ob.secBootAdd0,
          bootLock: d.ob.bootLock,
          banks: d.ob.banks.map((b) => ({ secwm: [b.secwmStart, b.secwmEnd], hdpEnd: b.hdpEnd, hdpEnable: b.hdpEnable })),
        };
        if (o.json) return printJson(view);
        io.out(
          describe(d.ob, d.hdpClosed)
            .split('\n')
            .filter((l) => /^(SECBOOTADD0|bank)/.test(l))
            .join('\n') + '\n',
        );
      }),
  );
  rss.addCommand(
    new Command('certificate')
      .description("The device certificate the RSS gives the programmer: product id, chip public key, ST's signature")
      .argument('<dir>')
      .requiredOption('-o, --output <file>', 'the 136-byte certificate message')
      .action((dir, o) => {
        const d = L5Device.open(dir);
        const cert = d.certificateMessage();
        writeFileAtomic(o.output, cert, { durable: false });
        io.out(`${o.output}: certificate of ${d.productId} (${cert.length} bytes)\n`);
      }),
  );
  cmd.addCommand(rss);
  return cmd;
}
