/**
 * One production line for the concurrency test: creates `count` virtual L552s under `dir` and runs
 * SFI on each against the HSM `id` in the PostgreSQL at `url`; prints {"installed": n, "refused": m}.
 * Usage: node --import tsx test/stm32/sfi-factory.ts URL ID DIR COUNT IMAGE WRAP_KEY_FILE
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { L5Device } from '../../src/stm32/l5-device.ts';
import { SfiHsm } from '../../src/stm32/sfi-hsm.ts';
import { sfiInstall } from '../../src/stm32/sfi-install.ts';

const [url, id, dir, count, imagePath, wrapKeyFile] = process.argv.slice(2) as [string, string, string, string, string, string];
const image = new Uint8Array(readFileSync(imagePath));
const hsm = await SfiHsm.open(url, id, { wrapKeyFile });
const out = { installed: 0, refused: 0, other: [] as string[] };
for (let i = 0; i < Number(count); i++) {
  const dev = L5Device.create(join(dir, `dev${i}`)).dir;
  const r = await sfiInstall(dev, image, hsm);
  if (r.ok) out.installed++;
  else if (/install counter exhausted/.test(r.halt ?? '')) out.refused++;
  else out.other.push(r.halt ?? '');
}
await hsm.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
