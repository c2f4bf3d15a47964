/** A closed virtual STM32MP15 made through the CLI, as the firewall and debug tests boot it. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers.ts';

/**
 * In `dir`: an OEM key, an FSBL signed with it (`bl2.stm32`), and a device provisioned with the
 * key's hash and closed (`dev`). Returns the paths.
 */
export async function closedCliDevice(dir: string): Promise<{ key: string; fsbl: string; dev: string }> {
  const key = join(dir, 'oem.pem');
  const fsbl = join(dir, 'bl2.stm32');
  const dev = join(dir, 'dev');
  assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', key])).code, 0);
  writeFileSync(join(dir, 'bl2.bin'), new Uint8Array(1024).fill(7));
  for (const args of [
    ['stm32', 'sign', join(dir, 'bl2.bin'), fsbl, '-l', '0x2ffc2500', '-e', '0x2ffc2500', '-b', '0x10', '-v', '1', '-k', key],
    ['stm32', 'device', 'create', dev],
    ['stm32', 'provision', dev, '-k', key, '--close'],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  return { key, fsbl, dev };
}
