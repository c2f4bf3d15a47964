/**
 * `rse serve --daemon` as a host's scripts use it (issue 29): it returns once listening, so a call
 * right after it succeeds; `rse call` finds the socket through RSE_SOCKET (or RSE_PORT); a second
 * server on the same device is refused naming the holder; the pid file stops it, and with it go the
 * pid file and the device lock. Before: no --daemon, `serve &` then `call` failed with ENOENT, and a
 * second server on another socket silently shared the device directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { where } from '../../src/cli/serve.ts';
import { DirStore } from '../../src/device/device.ts';
import { LOCK_FILE, lockDirectory, lockHolder } from '../../src/lib/lock.ts';
import { exampleFixture } from '../boot/examples.ts';
import { refusalOf, tempDir } from '../helpers.ts';

const RSE = new URL('../../dist/rse.cjs', import.meta.url).pathname;

function rse(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [RSE, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('rse serve --daemon: ready on return, called through RSE_SOCKET at once, a second server refused, stopped by its pid file', async () => {
  const fx = exampleFixture('rse-2.1');
  const root = tempDir();
  const dir = join(root, 'dev');
  mkdirSync(dir, { recursive: true });
  const store = new DirStore(dir);
  for (const [name, bytes] of fx.store.files) store.write(name, bytes);
  const env = { RSE_SOCKET: join(root, 'rse.sock') };
  const pidFile = join(root, 'serve.pid');
  const started = rse(['serve', dir, '--daemon', '--pid-file', pidFile, '--json'], env);
  assert.equal(started.code, 0, started.stdout + started.stderr);
  const info = JSON.parse(started.stdout) as { ok: boolean; pid: number; listening: string; log: string };
  assert.equal(info.ok, true);
  assert.equal(info.listening, env.RSE_SOCKET);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.equal(pid, info.pid);
  try {
    // At once, with no --socket: RSE_SOCKET names it.
    const call = rse(['call', 'mboot', 'read', '1', '--json'], env);
    assert.equal(call.code, 0, call.stdout + call.stderr);
    assert.equal((JSON.parse(call.stdout) as { status: number }).status, 0);
    // A second server on the same device, on another socket: refused, naming the holder.
    const second = rse(['serve', dir, '--socket', join(root, 'other.sock'), '--json']);
    assert.equal(second.code, 2);
    const err = (JSON.parse(second.stdout) as { ok: boolean; error: { code: string; message: string } }).error;
    assert.equal(err.code, 'E_LOCKED');
    assert.match(err.message, new RegExp(`in use by rse serve on .*rse\\.sock \\(pid ${pid}`));
    // The same through --daemon: the child's error comes back to the caller.
    const third = rse(['serve', dir, '--daemon', '--socket', join(root, 'third.sock'), '--json']);
    assert.equal(third.code, 2);
    assert.equal((JSON.parse(third.stdout) as { error: { code: string } }).error.code, 'E_LOCKED');
    assert.ok(existsSync(join(dir, LOCK_FILE)));
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(pid), false, 'stopped by SIGTERM to the pid in its pid file');
  assert.equal(existsSync(pidFile), false, 'pid file removed');
  assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'device lock released');
  assert.match(readFileSync(info.log, 'utf8'), /served \d+ calls/);
  // The device is free again.
  const again = rse(['serve', dir, '--daemon', '--pid-file', pidFile], env);
  assert.equal(again.code, 0, again.stderr);
  const pid2 = Number(readFileSync(pidFile, 'utf8').trim());
  const shutdown = rse(['call', 'control', 'shutdown'], env);
  assert.equal(shutdown.code, 0, shutdown.stderr);
  for (let i = 0; i < 100 && alive(pid2); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(pid2), false);
});

test('RSE_SOCKET, RSE_PORT and RSE_HOST name the server when no option does; options win; a bad RSE_PORT is a usage error naming it', () => {
  assert.deepEqual(where({}, {}), { path: 'rse.sock' });
  assert.deepEqual(where({}, { RSE_SOCKET: '/run/rse.sock' }), { path: '/run/rse.sock' });
  assert.deepEqual(where({}, { RSE_PORT: '4000', RSE_HOST: '10.0.0.2' }), { port: 4000, host: '10.0.0.2' });
  assert.deepEqual(where({ socket: 'a.sock' }, { RSE_PORT: '4000' }), { path: 'a.sock' });
  assert.deepEqual(where({ port: '5000' }, { RSE_SOCKET: '/x' }), { port: 5000 });
  assert.match(refusalOf(() => where({}, { RSE_PORT: 'http' })) ?? '', /E_USAGE.*RSE_PORT http is not a TCP port/);
});

test('a stale device lock (its process gone) is taken over; a live one names its holder', () => {
  const dir = tempDir();
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: Number(gone.stdout), what: 'a killed server', since: 'then' }));
  assert.equal(lockHolder(dir), undefined);
  const lock = lockDirectory(dir, 'test');
  assert.deepEqual({ ...lockHolder(dir), since: '' }, { pid: process.pid, what: 'test', since: '' });
  assert.match(refusalOf(() => lockDirectory(dir, 'another')) ?? '', new RegExp(`E_LOCKED.*in use by test \\(pid ${process.pid}`));
  lock.release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});

test('rse verifier serve --daemon answers as soon as it returns and stops by its pid file', async () => {
  const root = tempDir();
  const pidFile = join(root, 'verifier.pid');
  const r = rse(['verifier', 'serve', '--port', '0', '--daemon', '--pid-file', pidFile, '--log-file', join(root, 'v.log'), '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const info = JSON.parse(r.stdout) as { pid: number; listening: string };
  try {
    const res = await fetch(`${info.listening}/.well-known/veraison/verification`);
    assert.equal(res.status, 200);
    assert.equal(Number(readFileSync(pidFile, 'utf8').trim()), info.pid);
  } finally {
    process.kill(info.pid, 'SIGTERM');
  }
  for (let i = 0; i < 100 && alive(info.pid); i++) await new Promise((res) => setTimeout(res, 50));
  assert.equal(alive(info.pid), false);
  assert.equal(existsSync(pidFile), false);
});
