/**
 * Issue 27: `rse stm32 serve` / `rse stm32 call` end to end on a booted device with the example's
 * firewall.dts: what the calls change persists in the device (a core powered, a clock gated, a fuse
 * burnt) across server restarts; a device not booted to its run time, or stopped by SYSTEM_RESET,
 * is not served; random frames on the socket's framing get a defined reply.
 */
import assert from 'node:assert/strict';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { SMC_FRAME, SmcServer } from '../../src/comms/smc.ts';
import { Mp1Device } from '../../src/stm32/mp1.ts';
import { type CliResult, runCli, tempDir } from '../helpers.ts';
import { closedCliDevice } from './closed-device.ts';

const FIREWALL = new URL('../../examples/stm32mp1/firewall.dts', import.meta.url).pathname;

async function booted(): Promise<{ dir: string; dev: string; fsbl: string }> {
  const dir = tempDir();
  const { dev, fsbl } = await closedCliDevice(dir);
  const b = await runCli(['stm32', 'boot', dev, fsbl, '--platform', FIREWALL]);
  assert.equal(b.code, 0, b.stdout + b.stderr);
  return { dir, dev, fsbl };
}

/** Serves `dev` in-process while `body` runs its calls, then shuts the server down. */
async function serving(
  dev: string,
  sock: string,
  extra: string[],
  body: (call: (...a: string[]) => Promise<CliResult>) => Promise<void>,
): Promise<CliResult> {
  const server = runCli(['stm32', 'serve', dev, '--socket', sock, ...extra]);
  const call = (...a: string[]): Promise<CliResult> => runCli(['stm32', 'call', ...a, '--socket', sock]);
  for (let i = 0; i < 100; i++) {
    if ((await call('control', 'state')).code === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await body(call);
  assert.equal((await call('control', 'shutdown')).code, 0);
  return server;
}

test('CLI: PSCI, SCMI and SiP calls with their exit statuses; what they change persists across server restarts', async () => {
  const { dir, dev } = await booted();
  const sock = join(dir, 'smc.sock');
  const served = await serving(dev, sock, [], async (call) => {
    const v = await call('psci', 'version', '--json');
    assert.equal(v.code, 0, v.stderr);
    assert.deepEqual(JSON.parse(v.stdout).regs.slice(0, 1), [0x10000]);
    assert.equal((await call('psci', 'cpu-on', '1', '0xc0100000')).code, 0);
    // Refusals exit 1 and say why.
    const cryp = await call('scmi', 'clock', 'config-set', '10', '1');
    assert.equal(cryp.code, 1);
    assert.match(cryp.stdout, /clock config-set: DENIED/);
    const usart = await call('scmi', 'clock', 'config-set', '20', '1');
    assert.equal(usart.code, 0, usart.stdout);
    const secret = await call('sip', 'bsec', 'read-shadow', '60');
    assert.equal(secret.code, 1);
    assert.match(secret.stdout, /INVALID_PARAMS/);
    assert.equal((await call('sip', 'bsec', 'prog-otp', '10', '0x100')).code, 0);
    // Malformed: an unknown function id; a name the CLI does not know is a usage error.
    const unk = await call('smc', '0x82001fff', '--json');
    assert.equal(unk.code, 1);
    assert.equal(JSON.parse(unk.stdout).regs[0], 0xffffffff);
    assert.equal((await call('psci', 'cpu-melt')).code, 2);
    assert.equal((await call('scmi', 'clock', 'warp', '1')).code, 2);
  });
  assert.equal(served.code, 0, served.stderr);
  // Persisted: the fuse, the clock, the core.
  const d = Mp1Device.open(dev);
  assert.equal(d.bsec.fuse(10), 0x100);
  assert.deepEqual(d.monitor?.cores, ['on', 'on']);
  assert.equal(d.monitor?.agents[0]?.clocks[20], true);
  assert.equal(d.monitor?.agents[0]?.clocks[10], false);
  // A second server answers from that state.
  await serving(dev, sock, [], async (call) => {
    assert.match((await call('scmi', 'clock', 'clock-attributes', '20')).stdout, /"usart1_k" enabled/);
    assert.match((await call('psci', 'affinity-info', '1')).stdout, /^PSCI AFFINITY_INFO: ON/);
    assert.match((await call('sip', 'bsec', 'read-otp', '10')).stdout, /OTP 10: 0x00000100/);
    // SYSTEM_RESET does not return; the SoC then answers nothing.
    const reset = await call('psci', 'system-reset', '--json');
    assert.equal(reset.code, 0);
    assert.equal(JSON.parse(reset.stdout).returned, false);
    const after = await call('psci', 'version');
    assert.equal(after.code, 2);
    assert.match(after.stderr, /SoC is stopped/);
  });
  // Stopped: not served until booted again.
  const refused = await runCli(['stm32', 'serve', dev, '--socket', sock, '--json']);
  assert.equal(refused.code, 2);
  assert.match(JSON.parse(refused.stdout).error.message, /has not been booted since its last reset/);
});

test('serve refuses a device whose boot stopped, and a monitor other than the one its run time runs', async () => {
  const { dir, dev, fsbl } = await booted();
  const sock = join(dir, 'smc.sock');
  await serving(dev, sock, ['--monitor', 'sp-min'], async (call) => {
    assert.match((await call('psci', 'version')).stdout, /PSCI VERSION: 1\.1/);
    assert.match((await call('psci', 'cpu-suspend', '0')).stdout, /SUCCESS/);
  });
  const other = await runCli(['stm32', 'serve', dev, '--socket', sock, '--monitor', 'optee']);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /runs sp-min since its last boot/);
  // An unsigned FSBL: the ROM stops; nothing runs to answer.
  const bad = await runCli(['stm32', 'boot', dev, join(dir, 'bl2.bin')]);
  assert.equal(bad.code, 1);
  const r = await runCli(['stm32', 'serve', dev, '--socket', sock]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /stopped in the ROM/);
  // Booted again: served afresh (the run time starts at the hand-over state).
  assert.equal((await runCli(['stm32', 'boot', dev, fsbl, '--platform', FIREWALL])).code, 0);
  await serving(dev, sock, [], async (call) => {
    assert.match((await call('psci', 'affinity-info', '1')).stdout, /^PSCI AFFINITY_INFO: OFF/);
  });
});

test('property: any frame kind and payload on the socket framing gets an SMC reply, an event or an error text', async () => {
  const { dev } = await booted();
  const server = new SmcServer(Mp1Device.open(dev));
  fc.assert(
    fc.property(fc.nat(255), fc.uint8Array({ maxLength: 200 }), (kind, payload) => {
      const out = server.handleFrame(kind, payload);
      const len = new DataView(out.buffer, out.byteOffset).getUint32(0, true);
      assert.equal(len, out.length - 4);
      const k = out[4] as number;
      assert.ok([SMC_FRAME.SMC, SMC_FRAME.EVENT, SMC_FRAME.CTRL, SMC_FRAME.ERROR].includes(k as 0x10), `reply kind ${k}`);
      if (k === SMC_FRAME.SMC) assert.ok(out.length === 5 + 32 || out.length === 5 + 32 + 128);
    }),
    { numRuns: 300 },
  );
});

test('while another process serves the device, its other verbs are refused (E_LOCKED) instead of racing the server', async () => {
  const { dev } = await booted();
  // The parent process is alive and is not us: as a served device's lock names its server.
  writeFileSync(join(dev, '.rse.lock'), JSON.stringify({ pid: process.ppid, what: 'rse stm32 serve', since: 'now' }));
  const r = await runCli(['stm32', 'otp', 'program', dev, '10', '0x1']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /in use by rse stm32 serve/);
  unlinkSync(join(dev, '.rse.lock'));
  assert.equal((await runCli(['stm32', 'otp', 'program', dev, '10', '0x1'])).code, 0);
});
