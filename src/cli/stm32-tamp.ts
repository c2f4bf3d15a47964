/**
 * `rse stm32 tamp`: the STM32MP15 backup domain (TAMP): backup registers and their zones, backup
 * SRAM, the monotonic counter, tamper configuration and events.
 * @module
 */

import { Command } from '@commander-js/extra-typings';
import { RseError } from '../lib/errors.ts';
import { parseMaster } from '../stm32/bus.ts';
import { Mp1Device } from '../stm32/mp1.ts';
import { parseTamperSource, TAMPER_SOURCES, type TamperSource } from '../stm32/tamp.ts';
import { hex8, io, parseInteger, parseU32, printJson, readInput } from './common.ts';

export const sourceList = (v: string): TamperSource[] => (v === '' ? [] : v.split(',').map((x) => parseTamperSource(x.trim())));

export function tampCommand() {
  const tamp = new Command('tamp').summary('the backup domain: backup registers and zones, backup SRAM, monotonic counter, tamper events');
  const withDevice = (dir: string, f: (dev: Mp1Device) => void): void => {
    const dev = Mp1Device.open(dir);
    f(dev);
    dev.save();
  };
  tamp.addCommand(
    new Command('show')
      .description(
        'Zones, enabled tamper sources, flags, counter; which backup registers hold data and whether the backup SRAM does (never their values)',
      )
      .argument('<dir>')
      .option('--json', 'machine-readable output')
      .action((dir, o) => {
        const t = Mp1Device.open(dir).tamp;
        const used = [...t.backup.keys()].filter((i) => t.backup[i] !== 0);
        const sram = t.bkpsram.some((x) => x !== 0);
        const s = t.save();
        if (o.json) return printJson({ ...s, backup: undefined, registersInUse: used, bkpsramInUse: sram, hidden: t.hidden });
        io.out(
          `${dir}: TAMP zones: 0..${t.zone1End - 1} secure only, ${t.zone1End}..${t.zone2End - 1} non-secure read, ${t.zone2End}..31 shared\n` +
            `  tamper sources enabled: ${s.enabled.join(', ') || 'none'}${s.noErase.length ? ` (potential, not erasing: ${s.noErase.join(', ')})` : ''}\n` +
            `  flags: ${s.flags.join(', ') || 'none'}${t.hidden ? ' (secrets hidden until cleared)' : ''}\n` +
            `  monotonic counter ${t.counter}\n  backup registers in use: ${used.join(', ') || 'none'}; backup SRAM ${sram ? 'holds data' : 'blank'}\n`,
        );
      }),
  );
  tamp.addCommand(
    new Command('config')
      .description('Secure configuration: the zone bounds (SMCR) and which tamper sources are enabled, erasing or only hiding (NOER)')
      .argument('<dir>')
      .option('--zones <z1,z2>', 'ends of zone 1 (secure only) and zone 2 (non-secure read only), in registers')
      .option('--enable <sources>', `comma-separated: ${Object.keys(TAMPER_SOURCES).join(', ')}`)
      .option('--potential <sources>', 'sources that hide the secrets instead of erasing them (NOER = 1)')
      .action((dir, o) =>
        withDevice(dir, (dev) => {
          const t = dev.tamp;
          if (o.zones !== undefined) {
            const [a, b] = o.zones.split(',').map((x) => parseInteger(x.trim()));
            t.setZones(a ?? 0, b ?? a ?? 0);
          }
          if (o.enable !== undefined) {
            t.enabled.clear();
            for (const x of sourceList(o.enable)) t.enabled.add(x);
          }
          if (o.potential !== undefined) {
            t.noErase.clear();
            for (const x of sourceList(o.potential)) t.noErase.add(x);
          }
          io.out(`${dir}: zones ${t.zone1End},${t.zone2End}; enabled ${[...t.enabled].join(', ') || 'none'}\n`);
        }),
      ),
  );
  tamp.addCommand(
    new Command('write')
      .description('Write a backup register as MASTER (zones decide), or load the backup SRAM with --sram (secure)')
      .argument('<dir>')
      .argument('[register]', 'backup register 0..31', parseU32('register'))
      .argument('[value]', '32-bit value', parseU32('value'))
      .option('--master <m>', 'a7-s, a7-ns or m4', 'a7-s')
      .option('--sram <file>', 'load the backup SRAM (up to 4 KB) instead')
      .action((dir, reg, value, o) =>
        withDevice(dir, (dev) => {
          const master = parseMaster(o.master);
          if (o.sram !== undefined) {
            const d = readInput(o.sram, 'backup SRAM image');
            if (d.length > dev.tamp.bkpsram.length)
              throw new RseError('E_SIZE', `backup SRAM is ${dev.tamp.bkpsram.length} bytes, ${o.sram} is ${d.length}`, {
                field: 'bkpsram',
              });
            const c = dev.bus.check(master, 0x54000000, true);
            if (!c.allowed) throw new RseError('E_ACCESS', c.rule, { field: 'bkpsram' });
            dev.tamp.bkpsram.fill(0);
            dev.tamp.bkpsram.set(d);
            io.out(`backup SRAM loaded (${d.length} bytes)\n`);
            return;
          }
          if (reg === undefined || value === undefined) throw new RseError('E_USAGE', 'give REGISTER VALUE, or --sram FILE');
          dev.tamp.write(reg, value, master);
          io.out(`backup register ${reg} written${dev.tamp.hidden ? ' (dropped: secrets hidden by a potential tamper)' : ''}\n`);
        }),
      ),
  );
  tamp.addCommand(
    new Command('read')
      .description('Read a backup register as MASTER (zones decide; zero while a potential tamper hides the secrets)')
      .argument('<dir>')
      .argument('<register>', 'backup register 0..31', parseU32('register'))
      .option('--master <m>', 'a7-s, a7-ns or m4', 'a7-s')
      .action((dir, reg, o) => {
        io.out(`${hex8(Mp1Device.open(dir).tamp.read(reg, parseMaster(o.master)))}\n`);
      }),
  );
  tamp.addCommand(
    new Command('event')
      .description(
        'A tamper event: erases the backup registers and backup SRAM (or hides them, for a potential tamper) when the source is enabled',
      )
      .argument('<dir>')
      .argument('<source>', Object.keys(TAMPER_SOURCES).join(', '))
      .option('--json', 'machine-readable output')
      .action((dir, source, o) =>
        withDevice(dir, (dev) => {
          const r = dev.tamp.tamper(parseTamperSource(source));
          if (o.json) return printJson(r);
          io.out(`${r.source} (${TAMPER_SOURCES[r.source]}): ${r.detected ? 'detected, ' : ''}${r.action}\n`);
        }),
      ),
  );
  tamp.addCommand(
    new Command('clear')
      .description('Clear the tamper flags (SCR); secrets a potential tamper hid come back')
      .argument('<dir>')
      .option('--erase', 'confirm the tamper instead: BKERASE erases the registers and the backup SRAM')
      .action((dir, o) =>
        withDevice(dir, (dev) => {
          if (o.erase === true) dev.tamp.erase();
          dev.tamp.clearFlags();
          io.out(`tamper flags cleared${o.erase === true ? ', backup registers and SRAM erased' : ''}\n`);
        }),
      ),
  );
  return tamp;
}
