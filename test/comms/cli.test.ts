/** `rse serve` as a process and `rse call …` against it: the CLI ends of the runtime services. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { DirStore } from '../../src/device/device.ts';
import { exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir } from '../helpers.ts';

const TSX = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).pathname;
const RSE = new URL('../../src/cli/rse.ts', import.meta.url).pathname;

test('rse serve + rse call attest / mboot / nv / control shutdown', async () => {
  const fx = exampleFixture('rse-2.1');
  const dir = join(tempDir(), 'dev');
  const store = new DirStore(dir);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of fx.store.files) store.write(name, bytes);
  const sock = join(tempDir(), 'rse.sock');
  const server = spawn(process.execPath, ['--import', TSX, RSE, 'serve', dir, '--socket', sock, '--log'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  server.stdout.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<number>((resolve) => server.on('exit', (c) => resolve(c ?? -1)));
  try {
    for (let i = 0; i < 200 && !log.includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(log, /serving rse-2\.1 on /);
    const t = await runCli(['call', 'attest', '--socket', sock, '--challenge', '22'.repeat(48), '--json']);
    assert.equal(t.code, 0, t.stderr);
    const j = JSON.parse(t.stdout) as { status: number; token: string; size: number };
    assert.equal(j.status, 0);
    assert.ok(j.token.startsWith('d28444a1013822'));
    const m = await runCli(['call', 'mboot', 'read', '1', '--socket', sock]);
    assert.match(m.stdout, /slot 1: BL2 2\.1\.0\+0 \(locked\)/);
    const missing = await runCli(['call', 'mboot', 'read', '30', '--socket', sock]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /PSA_ERROR_DOES_NOT_EXIST/);
    assert.equal((await runCli(['call', 'nv', 'inc', '2', '--socket', sock])).code, 0);
    assert.equal((await runCli(['call', 'nv', 'read', '2', '--socket', sock])).stdout.trim(), '1');
    const bad = await runCli(['call', 'attest', '--socket', sock, '--challenge', '22'.repeat(20)]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /PSA_ERROR_INVALID_ARGUMENT/);
    assert.equal((await runCli(['call', 'control', 'shutdown', '--socket', sock])).code, 0);
    assert.equal(await exited, 0);
    assert.match(log, /handle 0x40000103 type 1001: PSA_SUCCESS/);
  } finally {
    server.kill();
  }
});
