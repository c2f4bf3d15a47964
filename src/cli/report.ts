/** `rse report DIR -o report.html`: a page to look at, drawn from what a directory holds. @module */
import { Command } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../lib/atomic.ts';
import { gatherReport } from '../report/gather.ts';
import { renderReport } from '../report/html.ts';
import { io, printJson } from './common.ts';

export function reportCommand() {
  return new Command('report')
    .summary('an HTML report of a directory: flash maps, provisioning paths, boot checks, measurements, firewalls')
    .description(
      'Looks through DIR (and two levels below) for flash builds (manifest.json from rse flash build), RSE devices, ' +
        'STM32MP15 and STM32L5 devices, and writes one self-contained HTML page (no script, nothing fetched): the host ' +
        'flash, FIP and ROM drawn as maps; each RSE device’s provisioning path (Virgin → TCI/PCI → CM → DM → SE); its ' +
        'boot checks as an image × check grid and its measured-boot table (each device is booted in memory for this: ' +
        'its directory is not changed); the MP15 ETZPC and TZC-400 state and the L5 flash security per page.',
    )
    .argument('<dir>')
    .requiredOption('-o, --output <file>', 'the HTML file to write')
    .option('--json', 'print what the report holds (counts per section)')
    .action((dir, o) => {
      const data = gatherReport(dir);
      writeFileAtomic(o.output, renderReport(data), { durable: false });
      const counts = { builds: data.builds.length, devices: data.devices.length, stm32: data.firewalls.length };
      if (o.json === true) printJson({ output: o.output, ...counts });
      else
        io.out(
          `${o.output}: ${counts.builds} flash build(s), ${counts.devices} RSE device(s), ${counts.stm32} STM32 device(s); open it in a browser\n`,
        );
    });
}
