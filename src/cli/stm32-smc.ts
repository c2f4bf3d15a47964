/** `rse stm32 serve | call`: the STM32MP15 secure monitor's SMC interface on a socket, and its client. @module */
import { join } from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { Listen } from '../comms/server.ts';
import { SmcClient, type SmcReply, SmcServer } from '../comms/smc.ts';
import { RseError } from '../lib/errors.ts';
import { lockDirectory } from '../lib/lock.ts';
import {
  BSEC_CMD,
  MONITOR_OPTEE,
  MONITORS,
  PSCI_FN,
  PSCI_RET,
  SCMI_PROTOCOL,
  SCMI_STATUS,
  SMCCC,
  STM32_SIP,
} from '../profiles/stm32-monitor.ts';
import { Mp1Device } from '../stm32/mp1.ts';
import { smtMessage, smtReply } from '../stm32/scmi.ts';
import { cliStatus, io, parseInteger, printJson } from './common.ts';
import { announceReady, daemonize, writePidFile } from './daemon.ts';
import { where } from './serve.ts';

const DEFAULT_SOCKET = 'rse-smc.sock';

interface Transport {
  readonly socket?: string;
  readonly port?: string;
  readonly host?: string;
}

/** Adds --socket, --port and --host; the action reads them as {@link Transport}. */
function transport<C extends { option(flags: string, description: string): unknown }>(c: C): C {
  c.option('--socket <path>', `Unix socket (default: $RSE_SMC_SOCKET, else ./${DEFAULT_SOCKET})`);
  c.option('--port <n>', 'loopback TCP port instead of a Unix socket');
  c.option('--host <addr>', 'TCP address: loopback only (default 127.0.0.1)');
  return c;
}
const listenOf = (o: object): Listen => where(o as Transport, process.env, { socketVar: 'RSE_SMC_SOCKET', socket: DEFAULT_SOCKET });

export function smcServeCommand() {
  const cmd = new Command('serve')
    .summary("answer a booted device's SMCs (PSCI, SCMI, ST SiP) on a socket, as its secure monitor")
    .description(
      'After rse stm32 boot reached the run time, serves the secure monitor the normal world calls ' +
        'with smc: SMCCC 1.1 (version, arch features), PSCI (version, features, CPU_ON/OFF/SUSPEND for ' +
        'the two Cortex-A7 cores, AFFINITY_INFO, SYSTEM_OFF/RESET), the SCMI doorbells over the ' +
        'shared-memory channel (base, clock, reset-domain, voltage-domain; a clock or reset of a ' +
        "peripheral the ETZPC keeps secure is DENIED to the non-secure agent) and ST's SiP BSEC service " +
        '(OTP read, shadow write, program, permanent lock; upper words not marked non-secure refused). ' +
        '--monitor picks whose answers: optee (OP-TEE 4.9, the default) or sp-min (TF-A v2.8 SP_MIN). ' +
        'Frames as rse serve: u32 LE body length, a kind byte, the payload: 0x10 an SMC (cpu u8, ' +
        '3 zero bytes, r0..r7 u32 LE, then the SCMI channel when r0 is an SCMI doorbell; reply 0x10: ' +
        'r0..r7, then the channel), 0x11 a call that did not return (text), 0x02 JSON control ' +
        '{"cmd": "state" | "shutdown"}, 0x7F an error text. Each call is saved with the device before ' +
        'its reply: powered cores, gated clocks, asserted resets and burnt fuses persist. SYSTEM_RESET ' +
        'and SYSTEM_OFF stop the SoC until the next rse stm32 boot. The Unix socket is 0600; TCP is ' +
        'loopback only. At most 256 connections; one idle for 2 minutes is closed. While it runs, ' +
        'other rse stm32 verbs that would change the device are refused (E_LOCKED).',
    )
    .argument('<device>')
    .addOption(new Option('--monitor <name>', 'whose secure monitor answers').choices(MONITORS.map((m) => m.name)))
    .option('--log', 'print one line per call')
    .option('--daemon', 'run in the background: return once the server listens (output to --log-file)')
    .option('--pid-file <file>', "write the server's pid here once it listens (removed when it stops)")
    .option('--log-file <file>', 'where a --daemon server writes (default: DEVICE/smc.log)')
    .option('--json', 'print {ok, listening, pid, monitor} once listening; errors as {ok: false, error}');
  transport(cmd);
  return cmd.action(async (dir, o) => {
    const dev = Mp1Device.open(dir);
    const listen = listenOf(o);
    if (o.daemon === true) {
      // Check before forking: a device that cannot serve fails here, not in the child's log.
      new SmcServer(dev, o.monitor === undefined ? {} : { monitor: o.monitor });
      const d = await daemonize(o.logFile ?? join(dir, 'smc.log'));
      if (o.json === true) printJson({ ok: true, pid: d.pid, log: d.log, ...d.ready });
      else io.out(`rse stm32 serve: pid ${d.pid} serving ${String(d.ready.listening)} (log ${d.log})\n`);
      return;
    }
    const lock = lockDirectory(dir, 'rse stm32 serve');
    try {
      const server = new SmcServer(dev, {
        ...(o.monitor === undefined ? {} : { monitor: o.monitor }),
        ...(o.log === true
          ? {
              onCall: (r) =>
                io.out(
                  'error' in r ? `refused: ${r.error}\n` : `${r.service}: ${r.detail}${r.event === undefined ? '' : ' (no return)'}\n`,
                ),
            }
          : {}),
      });
      const at = await server.listen(listen);
      const stop = (): void => void server.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const dropPid = o.pidFile === undefined ? undefined : writePidFile(o.pidFile);
      try {
        const ready = { listening: at, pid: process.pid, monitor: server.monitor.data.name };
        if (o.json === true) printJson({ ok: true, ...ready }, true);
        else io.out(`serving the ${server.monitor.data.description} secure monitor of ${dir} on ${at}\n`);
        announceReady(ready);
        await server.closed;
        // The device is free before the pid file goes: whoever waits on the pid file may write it at once.
        lock.release();
      } finally {
        dropPid?.();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      if (o.json !== true) io.out(`served ${server.monitor.state.calls} calls\n`);
    } finally {
      lock.release();
    }
  });
}

const num = (v: string, what: string): number => {
  const n = parseInteger(v);
  if (n < -0x80000000 || n > 0xffffffff) throw new RseError('E_USAGE', `${what} ${v} is not a 32-bit value`, { field: what });
  return n >>> 0;
};
/** `--cpu`: the core byte of the frame (the monitor says whether that core exists). */
const cpuOf = (v: string): number => {
  const n = parseInteger(v);
  if (n < 0 || n > 0xff) throw new RseError('E_USAGE', `--cpu ${v}: a core number (0 or 1)`, { field: '--cpu' });
  return n;
};
const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
/** `cpu-on` ⇄ `CPU_ON`. */
const key = (s: string): string => s.toUpperCase().replaceAll('-', '_');
const kebab = (s: string): string => s.toLowerCase().replaceAll('_', '-');
const psciId = (name: string): number | undefined => (PSCI_FN as Readonly<Record<string, number>>)[key(name)];
const signed = (n: number): number => n | 0;
const nameOf = (table: Readonly<Record<string, number>>, v: number): string =>
  Object.entries(table).find(([, x]) => x === v)?.[0] ?? String(v);

async function withSmc<T>(o: object, f: (c: SmcClient) => Promise<T>): Promise<T> {
  const c = await SmcClient.connect(listenOf(o));
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

/** Prints a register reply; `ok` says whether r0 is a success for the service, `text` what it meant. */
function report(
  r: SmcReply,
  o: { json?: boolean },
  describe: (regs: readonly number[]) => { ok: boolean; text: string; extra?: object },
): void {
  if (r.kind === 'error') throw new RseError('E_COMMS', `the monitor refused the call: ${r.text}`, { field: 'smc' });
  if (r.kind === 'event') {
    if (o.json === true) printJson({ ok: true, returned: false, event: r.text });
    else io.out(`the call did not return: ${r.text}\n`);
    return;
  }
  const d = describe(r.regs);
  if (!d.ok) cliStatus.code = 1;
  if (o.json === true) printJson({ ok: d.ok, returned: true, regs: r.regs, result: d.text, ...d.extra });
  else io.out(`${d.text}\n  r0..r3 ${r.regs.slice(0, 4).map(hex).join(' ')}\n`);
}

function psciCall() {
  const names = Object.keys(PSCI_FN).map(kebab);
  return transport(
    new Command('psci')
      .summary('one PSCI call: version, features, cpu-on, cpu-off, cpu-suspend, affinity-info, system-reset, …')
      .description(
        `FUNCTION is one of ${names.join(', ')}; ARGS are r1..r3 (numbers; features takes a function name too). Examples:\n  rse stm32 call psci version\n  rse stm32 call psci cpu-on 1 0xc0100000\n  rse stm32 call psci features cpu-suspend\n  rse stm32 call psci cpu-off --cpu 1\nExit status 1 when PSCI returns an error code.`,
      )
      .argument('<function>')
      .argument('[args...]')
      .option('--cpu <n>', 'the core that calls (0 or 1)', '0')
      .option('--json', 'machine-readable output'),
  ).action(async (fn, args, o) => {
    const cpu = cpuOf(o.cpu);
    const id = psciId(fn);
    if (id === undefined) throw new RseError('E_USAGE', `no PSCI function ${fn} (${names.join(', ')})`, { field: 'function' });
    // FEATURES takes the function it asks about by name too.
    const regs = [id, ...args.map((a, i) => (i === 0 && key(fn) === 'FEATURES' ? psciId(a) : undefined) ?? num(a, `r${i + 1}`))];
    const r = await withSmc(o, (c) => c.smc({ cpu, regs }));
    report(r, o, (g) => {
      const v = signed(g[0] as number);
      const f = `PSCI ${key(fn)}`;
      if (key(fn) === 'VERSION') return { ok: true, text: `${f}: ${(v >>> 16) & 0xffff}.${v & 0xffff}` };
      if (key(fn) === 'AFFINITY_INFO' && v >= 0) return { ok: true, text: `${f}: ${['ON', 'OFF', 'ON_PENDING'][v] ?? String(v)}` };
      if (key(fn) === 'MIGRATE_INFO_TYPE' && v >= 0) return { ok: true, text: `${f}: type ${v}` };
      return { ok: v >= 0, text: `${f}: ${v >= 0 ? (v === 0 ? 'SUCCESS' : String(v)) : nameOf(PSCI_RET, v)}` };
    });
  });
}

function sipCall() {
  return transport(
    new Command('sip')
      .summary("one call to ST's SiP service: bsec (OTP), uid, version, count")
      .description(
        `SERVICE bsec takes a command (${Object.keys(BSEC_CMD).map(kebab).join(', ')}), the OTP word and, to program or write a shadow, the value. Examples:\n  rse stm32 call sip bsec read-otp 57\n  rse stm32 call sip bsec read-shadow 60\n  rse stm32 call sip uid\nExit status 1 when the service answers FAILED, INVALID_PARAMS or NOT_SUPPORTED.`,
      )
      .argument('<service>')
      .argument('[args...]')
      .option('--cpu <n>', 'the core that calls (0 or 1)', '0')
      .option('--json', 'machine-readable output'),
  ).action(async (svc, args, o) => {
    const cpu = cpuOf(o.cpu);
    const s = key(svc);
    let regs: number[];
    if (s === 'BSEC') {
      const [cmd = '', word = '', value = '0'] = args;
      const id = (BSEC_CMD as Record<string, number>)[key(cmd)];
      if (id === undefined) throw new RseError('E_USAGE', `no BSEC command ${cmd}`, { field: 'command' });
      if (word === '') throw new RseError('E_USAGE', 'which OTP word?', { field: 'otp' });
      regs = [STM32_SIP.BSEC, id, num(word, 'otp'), num(value, 'value')];
    } else if (s === 'UID') regs = [SMCCC.SIP_UID];
    else if (s === 'VERSION') regs = [SMCCC.SIP_REVISION];
    else if (s === 'COUNT') regs = [SMCCC.SIP_CALL_COUNT];
    else throw new RseError('E_USAGE', `no SiP service ${svc} (bsec, uid, version, count)`, { field: 'service' });
    const r = await withSmc(o, (c) => c.smc({ cpu, regs }));
    report(r, o, (g) => {
      const r0 = g[0] as number;
      if (s === 'UID') return { ok: true, text: `UID ${g.slice(0, 4).map(hex).join(' ')}` };
      if (s === 'VERSION') return { ok: true, text: `revision ${r0}.${g[1]}` };
      if (s === 'COUNT') return { ok: true, text: `${r0} calls` };
      const ok = r0 === STM32_SIP.OK;
      const what = nameOf(
        { OK: 0, FAILED: STM32_SIP.FAILED, INVALID_PARAMS: STM32_SIP.INVALID_PARAMS, NOT_SUPPORTED: STM32_SIP.NOT_SUPPORTED },
        r0,
      );
      const read = key(args[0] ?? '').startsWith('READ');
      const f = `BSEC ${key(args[0] ?? '')} OTP ${args[1]}`;
      return { ok, text: ok && read ? `${f}: ${hex(g[1] as number)}` : `${f}: ${what}`, ...(ok && read ? { extra: { value: g[1] } } : {}) };
    });
  });
}

/** SCMI message names per protocol (DEN0056), as the CLI takes them. */
const SCMI_MESSAGES: Readonly<Record<string, readonly string[]>> = {
  base: [
    'version',
    'attributes',
    'message-attributes',
    'discover-vendor',
    'discover-sub-vendor',
    'discover-implementation-version',
    'discover-list-protocols',
    'discover-agent',
  ],
  clock: ['version', 'attributes', 'message-attributes', 'clock-attributes', 'describe-rates', 'rate-set', 'rate-get', 'config-set'],
  reset: ['version', 'attributes', 'message-attributes', 'domain-attributes', 'reset', 'notify'],
  voltage: [
    'version',
    'attributes',
    'message-attributes',
    'domain-attributes',
    'describe-levels',
    'config-set',
    'config-get',
    'level-set',
    'level-get',
  ],
};
const SCMI_IDS: Readonly<Record<string, number>> = {
  base: SCMI_PROTOCOL.BASE,
  clock: SCMI_PROTOCOL.CLOCK,
  reset: SCMI_PROTOCOL.RESET_DOMAIN,
  voltage: SCMI_PROTOCOL.VOLTAGE_DOMAIN,
};

const DOORBELLS = [...new Set(MONITORS.flatMap((m) => m.scmi.agents.map((a) => a.fid)))].sort((a, b) => a - b);

function scmiCall() {
  return transport(
    new Command('scmi')
      .summary("one SCMI message through the agent's shared-memory channel and doorbell")
      .description(
        `PROTOCOL is base, clock, reset or voltage; MESSAGE a name (${Object.entries(SCMI_MESSAGES)
          .map(([p, m]) => `${p}: ${m.slice(3).join(', ')}`)
          .join(
            '; ',
          )}; and version, attributes, message-attributes for each) or a number; ARGS the payload as 32-bit words. Examples:\n  rse stm32 call scmi base discover-vendor\n  rse stm32 call scmi clock clock-attributes 10\n  rse stm32 call scmi clock config-set 10 1\n  rse stm32 call scmi voltage level-get 3\nExit status 1 when the status is not SUCCESS.`,
      )
      .argument('<protocol>')
      .argument('<message>')
      .argument('[args...]')
      .option('--agent <n>', 'the SCMI agent (channel) that sends', '0')
      .option('--cpu <n>', 'the core that rings the doorbell (0 or 1)', '0')
      .option('--json', 'machine-readable output'),
  ).action(async (proto, msg, args, o) => {
    const cpu = cpuOf(o.cpu);
    const p = proto.toLowerCase();
    const protocol = SCMI_IDS[p];
    const messages = SCMI_MESSAGES[p];
    if (protocol === undefined || messages === undefined)
      throw new RseError('E_USAGE', `no SCMI protocol ${proto} (base, clock, reset, voltage)`, { field: 'protocol' });
    const message = /^\d/.test(msg) ? num(msg, 'message') : messages.indexOf(msg.toLowerCase());
    if (message < 0) throw new RseError('E_USAGE', `no ${p} message ${msg} (${messages.join(', ')})`, { field: 'message' });
    const agent = num(o.agent, '--agent');
    const payload = new Uint8Array(4 * args.length);
    args.forEach((a, i) => {
      new DataView(payload.buffer).setUint32(4 * i, num(a, `word ${i}`), true);
    });
    // The agent's doorbell, as the monitors' data list them (agent n rings the same id on each).
    const fid = DOORBELLS[agent];
    if (fid === undefined) throw new RseError('E_USAGE', `no SCMI agent ${agent} (0..${DOORBELLS.length - 1})`, { field: '--agent' });
    const shm = smtMessage(MONITOR_OPTEE, protocol, message, payload);
    const r = await withSmc(o, (c) => c.smc({ cpu, regs: [fid], shm }));
    report(r, o, (g) => {
      if (g[0] !== 0) return { ok: false, text: `the doorbell answered ${nameOf({ NOT_SUPPORTED: SMCCC.NOT_SUPPORTED }, g[0] as number)}` };
      if (r.kind !== 'regs' || r.shm === undefined) return { ok: false, text: 'no channel came back' };
      const rep = smtReply(r.shm);
      if (rep.error) return { ok: false, text: 'the channel reports an error (free and error bits set): the message was not taken' };
      const words = Array.from({ length: Math.floor(rep.payload.length / 4) }, (_, i) =>
        new DataView(rep.payload.buffer).getUint32(4 * i, true),
      );
      const st = nameOf(SCMI_STATUS, rep.status);
      const names = describeScmi(p, messages[message] ?? '', rep.payload);
      return {
        ok: rep.status === 0,
        text: `${p} ${messages[message] ?? message}: ${st}${rep.status === 0 && names !== '' ? ` ${names}` : ''}`,
        extra: { status: rep.status, statusName: st, payload: words },
      };
    });
  });
}

/** A reply's payload in words a person reads: names, rates, levels. */
function describeScmi(p: string, msg: string, b: Uint8Array): string {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const w = (i: number): number => (4 * i + 4 <= b.length ? dv.getUint32(4 * i, true) : 0);
  const name = (at: number): string => new TextDecoder().decode(b.subarray(at, at + 16)).replace(/\0.*$/s, '');
  if (msg === 'version' || msg === 'discover-implementation-version') return `0x${w(0).toString(16)}`;
  if (msg === 'discover-vendor' || msg === 'discover-sub-vendor') return `"${name(0)}"`;
  if (msg === 'discover-list-protocols')
    return `[${Array.from(b.subarray(4, 4 + w(0)))
      .map((x) => `0x${x.toString(16)}`)
      .join(', ')}]`;
  if (msg === 'clock-attributes') return `"${name(4)}" ${w(0) & 1 ? 'enabled' : 'disabled'}`;
  if (msg === 'rate-get') return `${w(0) + w(1) * 2 ** 32} Hz`;
  if (msg === 'domain-attributes') return `"${name(p === 'reset' ? 8 : 4)}"`;
  if (msg === 'level-get') return `${dv.getInt32(0, true)} µV`;
  if (msg === 'config-get') return w(0) === 7 ? 'on' : 'off';
  if (msg === 'describe-rates' || msg === 'describe-levels') {
    const n = w(0) & 0xfff;
    const vals =
      p === 'clock'
        ? Array.from({ length: n }, (_, i) => w(1 + 2 * i) + w(2 + 2 * i) * 2 ** 32)
        : Array.from({ length: n }, (_, i) => dv.getInt32(4 + 4 * i, true));
    return `${vals.join(', ')}${w(0) >>> 16 ? ` (${w(0) >>> 16} remaining)` : ''}`;
  }
  if (msg === 'attributes') return `0x${w(0).toString(16)}`;
  return '';
}

function rawCall() {
  return transport(
    new Command('smc')
      .summary('one raw SMC: r0 (function id) and r1..r7')
      .description('Prints r0..r3 as the monitor left them. Example:\n  rse stm32 call smc 0x80000000')
      .argument('<fid>')
      .argument('[args...]')
      .option('--cpu <n>', 'the core that calls (0 or 1)', '0')
      .option('--json', 'machine-readable output'),
  ).action(async (fid, args, o) => {
    const call = { cpu: cpuOf(o.cpu), regs: [num(fid, 'fid'), ...args.map((a, i) => num(a, `r${i + 1}`))] };
    const r = await withSmc(o, (c) => c.smc(call));
    report(r, o, (g) => ({ ok: g[0] !== SMCCC.NOT_SUPPORTED, text: `r0 ${hex(g[0] as number)}` }));
  });
}

function controlCall() {
  return transport(
    new Command('control')
      .summary('the server: state (cores, clocks, resets, regulators) or shutdown')
      .argument('<cmd>')
      .option('--json', 'machine-readable output'),
  ).action(async (cmd, o) => {
    if (cmd !== 'state' && cmd !== 'shutdown') throw new RseError('E_USAGE', 'control commands: state, shutdown', { field: 'cmd' });
    const r = await withSmc(o, (c) => c.control(cmd));
    if (r.ok !== true) cliStatus.code = 1;
    if (o.json === true) return printJson(r);
    io.out(`${JSON.stringify(r, null, 2)}\n`);
  });
}

export function smcCallCommand() {
  return new Command('call')
    .summary('call a served STM32MP15 secure monitor: psci, scmi, sip, smc, control')
    .addCommand(psciCall())
    .addCommand(scmiCall())
    .addCommand(sipCall())
    .addCommand(rawCall())
    .addCommand(controlCall());
}
