/**
 * The STM32MP15 secure monitor on a socket (`rse stm32 serve`): the normal world's SMCs as frames,
 * in the framing `rse serve` uses (`frame = body_length u32 LE ‖ kind u8 ‖ payload`):
 *
 * ```
 * 0x10 SMC    payload = cpu u8 ‖ 3 × 0 ‖ r0..r7 (8 × u32 LE) [‖ the SCMI channel, exactly its size]
 *             → 0x10: r0..r7 as the monitor left them [‖ the channel after the call]
 *             → 0x11 EVENT: UTF-8 text, the call did not return (a core powered off, the SoC
 *               reset or switched off, a monitor panic)
 * 0x02 CTRL   UTF-8 JSON {"cmd": "state" | "shutdown"} → 0x02: UTF-8 JSON
 * 0x7F ERROR  UTF-8 text: the frame was refused (malformed, from a core that is off, the SoC stopped)
 * ```
 *
 * Every call is saved with the device before its reply is sent (a burnt fuse, a gated clock and a
 * powered core survive the server). The server owns the device while it runs.
 * @module
 */
import { connect, type Server, type Socket } from 'node:net';
import { isRseError, RseError } from '../lib/errors.ts';
import { initialMonitorState, monitorData, SecureMonitor, type SmcResult } from '../stm32/monitor.ts';
import type { Mp1Device } from '../stm32/mp1.ts';
import { FRAME, FrameReader, frame } from './frames.ts';
import { isLoopbackHost, type Listen, listenOn } from './server.ts';

export const SMC_FRAME = { SMC: 0x10, EVENT: 0x11, CTRL: FRAME.CTRL, ERROR: FRAME.ERROR } as const;
export const SMC_REGS = 8;
/** Connections a server keeps open at once; one more is told so and closed. */
export const SMC_MAX_CONNECTIONS = 256;
const CALL_SIZE = 4 + 4 * SMC_REGS;

export interface SmcFrame {
  readonly cpu: number;
  readonly regs: readonly number[];
  readonly shm?: Uint8Array;
}

export function encodeSmc(c: SmcFrame): Uint8Array {
  if (!Number.isInteger(c.cpu) || c.cpu < 0 || c.cpu > 0xff)
    throw new RseError('E_ARGUMENT', `core ${c.cpu} does not fit the frame's byte`, { field: 'cpu' });
  const out = new Uint8Array(CALL_SIZE + (c.shm?.length ?? 0));
  const dv = new DataView(out.buffer);
  out[0] = c.cpu;
  for (let i = 0; i < SMC_REGS; i++) dv.setUint32(4 + 4 * i, (c.regs[i] ?? 0) >>> 0, true);
  if (c.shm !== undefined) out.set(c.shm, CALL_SIZE);
  return out;
}

/** An SMC frame's payload, checked: the core byte, zero padding, eight registers, no channel or exactly one. */
export function decodeSmc(p: Uint8Array, shmSize: number): SmcFrame {
  if (p.length !== CALL_SIZE && p.length !== CALL_SIZE + shmSize)
    throw new RseError('E_COMMS', `an SMC frame is ${CALL_SIZE} bytes, or ${CALL_SIZE + shmSize} with the SCMI channel; got ${p.length}`, {
      field: 'frame',
      offset: 0,
    });
  if (p[1] !== 0 || p[2] !== 0 || p[3] !== 0)
    throw new RseError('E_COMMS', 'bytes 1..3 of an SMC frame are reserved (0)', { field: 'frame', offset: 1 });
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const regs = Array.from({ length: SMC_REGS }, (_, i) => dv.getUint32(4 + 4 * i, true));
  return { cpu: p[0] as number, regs, ...(p.length > CALL_SIZE ? { shm: p.slice(CALL_SIZE) } : {}) };
}

function encodeRegs(regs: readonly number[], shm?: Uint8Array): Uint8Array {
  return encodeSmc({ cpu: 0, regs, ...(shm === undefined ? {} : { shm }) }).subarray(4);
}

export interface SmcServeOptions {
  /** The secure monitor's name (`optee`, `sp-min`); default: the one the device's run time already has, else `optee`. */
  readonly monitor?: string;
  /** Called after each call with what it did. */
  readonly onCall?: (r: SmcResult | { readonly error: string }) => void;
  readonly idleMs?: number;
}

/** `rse stm32 serve`: a booted STM32MP15's secure monitor answering SMCs on a Unix or TCP socket. */
export class SmcServer {
  readonly dev: Mp1Device;
  readonly monitor: SecureMonitor;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly o: SmcServeOptions;

  constructor(dev: Mp1Device, o: SmcServeOptions = {}) {
    if (dev.reached !== 'runtime')
      throw new RseError(
        'E_DEVICE',
        dev.reached === undefined
          ? `${dev.dir} has not been booted since its last reset: rse stm32 boot it first`
          : `the last boot of ${dev.dir} stopped in the ${dev.reached === 'rom' ? 'ROM' : 'FSBL'}: nothing runs to answer SMCs`,
        { field: 'device' },
      );
    const want = o.monitor ?? dev.monitor?.monitor ?? 'optee';
    const data = monitorData(want);
    if (dev.monitor !== undefined && dev.monitor.monitor !== want)
      throw new RseError('E_USAGE', `${dev.dir} runs ${dev.monitor.monitor} since its last boot; boot it again to run ${want}`, {
        field: 'monitor',
      });
    dev.monitor ??= initialMonitorState(data);
    if (dev.monitor.halted !== undefined)
      throw new RseError('E_DEVICE', `${dev.dir} is stopped (${dev.monitor.halted}): rse stm32 boot it again`, { field: 'device' });
    this.dev = dev;
    this.o = o;
    this.monitor = new SecureMonitor(dev.monitor, dev.bsec, dev.bus.etzpc);
    dev.save();
  }

  /** One frame in, the frame to send back. */
  handleFrame(kind: number, payload: Uint8Array): Uint8Array {
    const text = (k: number, s: string): Uint8Array => frame(k, new TextEncoder().encode(s));
    if (kind === SMC_FRAME.CTRL) return text(SMC_FRAME.CTRL, JSON.stringify(this.control(payload)));
    if (kind !== SMC_FRAME.SMC) return text(SMC_FRAME.ERROR, `unknown frame kind 0x${kind.toString(16)}`);
    let r: SmcResult;
    try {
      r = this.monitor.call(decodeSmc(payload, this.monitor.data.scmi.shmSize));
    } catch (e) {
      if (!isRseError(e)) throw e;
      this.o.onCall?.({ error: e.message });
      return text(SMC_FRAME.ERROR, e.message);
    }
    if (r.event !== undefined && this.monitor.state.halted !== undefined) this.dev.systemReset();
    this.dev.save();
    this.o.onCall?.(r);
    if (r.regs === undefined) return text(SMC_FRAME.EVENT, r.event ?? r.detail);
    return frame(SMC_FRAME.SMC, encodeRegs(r.regs, r.shm));
  }

  private control(payload: Uint8Array): Record<string, unknown> {
    let cmd: unknown;
    try {
      cmd = (JSON.parse(new TextDecoder().decode(payload)) as { cmd?: unknown } | null)?.cmd;
    } catch {
      return { ok: false, error: 'control frames carry JSON' };
    }
    if (cmd === 'shutdown') {
      setImmediate(() => void this.close());
      return { ok: true };
    }
    if (cmd !== 'state') return { ok: false, error: 'commands: state, shutdown' };
    const m = this.monitor;
    return {
      ok: true,
      monitor: m.data.name,
      calls: m.state.calls,
      cores: m.state.cores,
      ...(m.state.halted === undefined ? {} : { halted: m.state.halted }),
      agents: m.data.scmi.agents.map((a, i) => {
        const s = m.state.agents[i];
        return {
          clocksOn: a.clocks.filter((_, j) => s?.clocks[j] === true).map((c) => c.name),
          resetsAsserted: a.resets.filter((_, j) => s?.resets[j] === true).map((x) => x.name),
          regulatorsOn: a.voltages.filter((_, j) => s?.voltages[j]?.on === true).map((v) => v.name),
        };
      }),
    };
  }

  private connection(sock: Socket): void {
    if (this.sockets.size >= SMC_MAX_CONNECTIONS) {
      sock.on('error', () => sock.destroy());
      sock.end(frame(SMC_FRAME.ERROR, new TextEncoder().encode(`too many connections (${SMC_MAX_CONNECTIONS})`)));
      return;
    }
    this.sockets.add(sock);
    const reader = new FrameReader();
    sock.setTimeout(this.o.idleMs ?? 120_000, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      let frames: { kind: number; payload: Uint8Array }[];
      try {
        frames = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        sock.end(frame(SMC_FRAME.ERROR, new TextEncoder().encode(isRseError(e) ? e.message : String(e))));
        return;
      }
      for (const f of frames) sock.write(this.handleFrame(f.kind, f.payload));
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  /** Starts listening: a Unix socket (0600, a stale one replaced) or loopback TCP. */
  async listen(where: Listen): Promise<string> {
    if (!('path' in where) && !isLoopbackHost(where.host ?? '127.0.0.1'))
      throw new RseError('E_USAGE', 'the secure monitor listens on loopback only: anyone reaching it could burn fuses', { field: 'host' });
    const { server, address } = await listenOn(where, (s) => this.connection(s));
    this.server = server;
    return address;
  }

  private markClosed: () => void = () => {};
  readonly closed: Promise<void> = new Promise((resolve) => {
    this.markClosed = resolve;
  });

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise<void>((resolve) => {
      if (this.server === undefined) resolve();
      else this.server.close(() => resolve());
    }).then(() => this.markClosed());
  }
}

/** What a call came back with. */
export type SmcReply =
  | { readonly kind: 'regs'; readonly regs: readonly number[]; readonly shm?: Uint8Array }
  | { readonly kind: 'event'; readonly text: string }
  | { readonly kind: 'error'; readonly text: string };

/** A client of `rse stm32 serve`: one SMC (or control command) per round trip. */
export class SmcClient {
  private readonly sock: Socket;
  private readonly reader = new FrameReader();
  private readonly waiting: { resolve: (f: { kind: number; payload: Uint8Array }) => void; reject: (e: Error) => void }[] = [];

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const f of this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
          this.waiting.shift()?.resolve(f);
      } catch (e) {
        this.failAll(e as Error);
      }
    });
    sock.on('error', (e) => this.failAll(e));
    sock.on('close', () => this.failAll(new RseError('E_IO', 'the secure monitor closed the connection')));
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  static connect(where: Listen): Promise<SmcClient> {
    return new Promise((resolve, reject) => {
      const sock = 'path' in where ? connect(where.path) : connect(where.port, where.host ?? '127.0.0.1');
      sock.once('error', (e) => reject(new RseError('E_IO', `cannot reach the secure monitor: ${e.message}`)));
      sock.once('connect', () => resolve(new SmcClient(sock)));
    });
  }

  private round(kind: number, payload: Uint8Array): Promise<{ kind: number; payload: Uint8Array }> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(frame(kind, payload));
    });
  }

  async smc(c: SmcFrame): Promise<SmcReply> {
    const f = await this.round(SMC_FRAME.SMC, encodeSmc(c));
    const text = new TextDecoder().decode(f.payload);
    if (f.kind === SMC_FRAME.EVENT) return { kind: 'event', text };
    if (f.kind !== SMC_FRAME.SMC) return { kind: 'error', text };
    const dv = new DataView(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength);
    if (f.payload.length < 4 * SMC_REGS) return { kind: 'error', text: `a reply of ${f.payload.length} bytes` };
    const regs = Array.from({ length: SMC_REGS }, (_, i) => dv.getUint32(4 * i, true));
    return { kind: 'regs', regs, ...(f.payload.length > 4 * SMC_REGS ? { shm: f.payload.slice(4 * SMC_REGS) } : {}) };
  }

  async control(cmd: string): Promise<Record<string, unknown>> {
    const f = await this.round(SMC_FRAME.CTRL, new TextEncoder().encode(JSON.stringify({ cmd })));
    return JSON.parse(new TextDecoder().decode(f.payload)) as Record<string, unknown>;
  }

  close(): void {
    this.sock.end();
  }
}
