/** Issue 9 acceptance 3: two factory processes install against one PostgreSQL HSM ledger; the count is never exceeded. */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FLASH_S_BASE } from '../../src/stm32/l5.ts';
import { packageSfi } from '../../src/stm32/sfi.ts';
import { SfiHsm } from '../../src/stm32/sfi-hsm.ts';
import { tempDir } from '../helpers.ts';
import { pgSkip, startPostgres, stopAll } from '../postgres.ts';

const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const FACTORY = new URL('./sfi-factory.ts', import.meta.url).pathname;
const WRAP_FILE = join(tempDir(), 'hsm.wrap-key');
const procs: ChildProcess[] = [];
after(() => stopAll(procs));

function line(url: string, dir: string, count: number, image: string): Promise<{ installed: number; refused: number; other: string[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', TSX, FACTORY, url, 'line', dir, String(count), image, WRAP_FILE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as { installed: number; refused: number; other: string[] })
        : reject(new Error(`factory exited ${code}: ${err}`)),
    );
  });
}

test('two factory processes, one PostgreSQL ledger, N = 150 licenses, 240 installs: exactly N installed, never more', {
  skip: pgSkip,
  timeout: 300_000,
}, async () => {
  const pg = await startPostgres();
  procs.push(pg.process);
  const key = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0x40 + i);
  const N = 150;
  // The key that wraps the OEM key lives outside PostgreSQL: a file every production line reads.
  writeFileSync(
    WRAP_FILE,
    Uint8Array.from({ length: 32 }, (_, i) => 0xa0 ^ i),
    { mode: 0o600 },
  );
  const hsm = await SfiHsm.init(pg.url, 'line', { key, nonce, maxInstalls: N, license: 'live' }, false, { wrapKeyFile: WRAP_FILE });
  const dir = tempDir();
  const image = join(dir, 'fw.sfi');
  writeFileSync(
    image,
    packageSfi({
      key,
      nonce,
      areas: [
        { type: 'F', destination: FLASH_S_BASE, data: new Uint8Array(1024).fill(0x3c) },
        { type: 'C', destination: 0, data: new TextEncoder().encode('rdp=1\n') },
      ],
    }),
  );
  const [a, b] = await Promise.all([line(pg.url, join(dir, 'a'), 120, image), line(pg.url, join(dir, 'b'), 120, image)]);
  assert.deepEqual([a.other, b.other], [[], []]);
  assert.equal(a.installed + b.installed, N, `installed ${a.installed} + ${b.installed}`);
  assert.equal(a.refused + b.refused, 240 - N);
  assert.ok(a.installed > 0 && b.installed > 0, 'both lines installed some');
  const info = await hsm.info();
  assert.deepEqual([info.issued, info.remaining, info.ledger.length], [N, 0, N]);
  assert.equal(new Set(info.ledger.map((l) => l.seq)).size, N, 'one ledger row per license');
  await hsm.close();
});
