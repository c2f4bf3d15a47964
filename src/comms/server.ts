/**
 * `rse serve`: a booted virtual RSE answering RSE comms messages on a Unix or TCP socket (the
 * framing is in `frames.ts`), like swtpm does for TPMs, with a control channel: state, reset
 * (a new cold boot; the runtime starts again from its boot records), shutdown and fault
 * injection (answer the next N calls busy, or drop their replies).
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { bootDevice, type ChainReport } from '../boot/chain.ts';
import type { Device } from '../device/device.ts';
import { isRseError, RseError } from '../lib/errors.ts';
import { PSA } from '../services/psa.ts';
import { type HostLink, Runtime, type RuntimeOptions } from '../services/spm.ts';
import { AttachedMemory, type CallRecord, Endpoint } from './endpoint.ts';
import { decodeRegions, encodeRegions, FRAME, FrameReader, frame } from './frames.ts';
import { encodeRound, MHU_DEFAULT_CHANNELS, MhuReceiver, mhuRounds } from './mhu.ts';
import { type CtrlPacking, decodeHeader, encodeErrorReply, HEADER_SIZE, PAYLOAD_MAX } from './protocol.ts';

export type Listen = { readonly path: string } | { readonly port: number; readonly host?: string };

/** How {@link RseServer} serves: the host link, permissions, packing, faults and hooks. */
export interface ServeOptions {
  readonly packing?: CtrlPacking;
  readonly link?: HostLink;
  readonly permissions?: RuntimeOptions['permissions'];
  readonly dakKeyFormat?: RuntimeOptions['dakKeyFormat'];
  readonly tokenProfile?: RuntimeOptions['tokenProfile'];
  /** Channels per MHU round for clients that use MHU framing (default 16). */
  readonly mhuChannels?: number;
  readonly onCall?: (r: CallRecord) => void;
  /** Called after each boot (the first and every reset). */
  readonly onBoot?: (r: ChainReport) => void;
  /** Connection and buffer limits (each defaults to {@link SERVE_LIMITS}). */
  readonly limits?: Partial<ServeLimits>;
  /**
   * The control channel's credential: on TCP every command but `state` must carry it as
   * `"token"`. A Unix socket is made 0600 (its owner's only) and needs none.
   */
  readonly ctrlToken?: string;
}

/** What one `rse serve` process holds at most, whatever its clients do. */
export interface ServeLimits {
  /** Open connections; one more gets an error frame and is closed. */
  readonly connections: number;
  /** Bytes of incomplete frames over all connections; beyond, the connections holding the most are closed. */
  readonly buffered: number;
  /** A connection silent this long is closed. */
  readonly idleMs: number;
  /** A frame must arrive whole within this long of its first byte (slow senders are closed). */
  readonly frameMs: number;
}

export const SERVE_LIMITS: ServeLimits = { connections: 4096, buffered: 64 * 1024 * 1024, idleMs: 120_000, frameMs: 10_000 };

/** Whether a listening or bind address is this host's loopback. */
export const isLoopbackHost = (h: string): boolean => h === 'localhost' || h === '::1' || /^127\./.test(h);
const digest = (t: string): Buffer => createHash('sha256').update(t).digest();

/** The runtime services of a booted device on a socket, as swtpm serves a TPM: message frames, pointer access, MHU rounds and a control channel. */
export class RseServer {
  readonly dev: Device;
  private endpoint: Endpoint | undefined;
  private readonly o: ServeOptions;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private faults = { busy: 0, drop: 0 };
  private readonly limits: ServeLimits;
  /** Bytes of incomplete frames held, per connection and in all. */
  private readonly pending = new Map<Socket, number>();
  private buffered = 0;
  /** Whether control commands need the token: true once listening anywhere but a 0600 Unix socket. */
  private ctrlGuarded = false;
  /** Connections closed by the limits, by reason. */
  readonly refused = { connections: 0, idle: 0, slowFrame: 0, buffer: 0 };
  calls = 0;
  boots = 0;
  /** Resets the abuse counters caused. */
  abuseResets = 0;
  lastBoot: ChainReport | undefined;

  constructor(dev: Device, o: ServeOptions = {}) {
    this.dev = dev;
    this.o = o;
    this.limits = { ...SERVE_LIMITS, ...o.limits };
  }

  /** Cold-boots the device and starts the runtime; false when the boot stopped. */
  boot(): ChainReport {
    const r = bootDevice(this.dev);
    this.boots++;
    this.lastBoot = r;
    this.o.onBoot?.(r);
    this.endpoint = r.ok
      ? new Endpoint(
          new Runtime(this.dev, r.measurements, {
            ...(this.o.permissions === undefined ? {} : { permissions: this.o.permissions }),
            ...(this.o.dakKeyFormat === undefined ? {} : { dakKeyFormat: this.o.dakKeyFormat }),
            ...(this.o.tokenProfile === undefined ? {} : { tokenProfile: this.o.tokenProfile }),
            onAbuseReset: () => {
              this.abuseResets++;
              this.boot();
            },
            onSystemReset: () => {
              this.boot();
            },
          }),
          {
            packing: this.o.packing ?? this.dev.profile.runtime.commsPacking,
            ...(this.dev.profile.runtime.sfcp === undefined ? {} : { sfcp: this.dev.profile.runtime.sfcp }),
            ...(this.o.link === undefined ? {} : { link: this.o.link }),
            ...(this.o.onCall === undefined ? {} : { onCall: this.o.onCall }),
          },
        )
      : undefined;
    return r;
  }

  get runtime(): Runtime | undefined {
    return this.endpoint?.runtime;
  }

  /** One message in, its reply (or undefined: no reply is sent). */
  private message(msg: Uint8Array, mem?: AttachedMemory): Uint8Array | undefined {
    this.calls++;
    if (this.faults.drop > 0) {
      this.faults.drop--;
      return undefined;
    }
    if (msg.length >= 4 && (this.faults.busy > 0 || this.endpoint === undefined)) {
      if (this.faults.busy > 0) this.faults.busy--;
      return encodeErrorReply(decodeHeader(msg), PSA.ERROR_CONNECTION_BUSY);
    }
    return this.endpoint?.handle(msg, mem);
  }

  /** Handles one frame; returns the frame to send back, if any. */
  handleFrame(kind: number, payload: Uint8Array): Uint8Array | undefined {
    const err = (text: string): Uint8Array => frame(FRAME.ERROR, new TextEncoder().encode(text));
    try {
      if (kind === FRAME.MSG) {
        const r = this.message(payload);
        if (r === undefined) return payload.length < 4 ? err('a message needs its 4-byte header') : undefined;
        return frame(FRAME.MSG, r);
      }
      if (kind === FRAME.MSG_MEM) {
        const { regions, rest } = decodeRegions(payload);
        const mem = new AttachedMemory(regions.map((x) => ({ addr: x.addr, bytes: x.bytes })));
        const r = this.message(rest, mem);
        if (r === undefined) return rest.length < 4 ? err('a message needs its 4-byte header') : undefined;
        return frame(FRAME.MSG_MEM, encodeRegions(mem.written, r));
      }
      if (kind === FRAME.CTRL) return frame(FRAME.CTRL, new TextEncoder().encode(JSON.stringify(this.control(payload))));
      return err(`unknown frame kind 0x${kind.toString(16)}`);
    } catch (e) {
      if (isRseError(e)) return err(e.message);
      throw e;
    }
  }

  private control(payload: Uint8Array): Record<string, unknown> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return { ok: false, error: 'control frames carry JSON' };
    }
    // A JSON object, own properties only (`null`, arrays and scalars are no command).
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return { ok: false, error: 'a control frame is a JSON object: {"cmd": …}' };
    const own = (k: string): unknown => (Object.hasOwn(parsed, k) ? (parsed as Record<string, unknown>)[k] : undefined);
    const cmd = { cmd: own('cmd'), busy: own('busy'), drop: own('drop') };
    if (this.ctrlGuarded && cmd.cmd !== 'state') {
      const t = own('token');
      const want = this.o.ctrlToken;
      if (want === undefined) return { ok: false, error: 'control over TCP needs a token: start rse serve with --ctrl-token FILE' };
      if (typeof t !== 'string' || !timingSafeEqual(digest(t), digest(want)))
        return { ok: false, error: 'control refused: wrong or missing token' };
    }
    switch (cmd.cmd) {
      case 'state':
        return {
          ok: true,
          profile: this.dev.profile.name,
          lcs: this.dev.lcm.getLcs(),
          booted: this.endpoint !== undefined,
          boots: this.boots,
          calls: this.calls,
          abuseResets: this.abuseResets,
          // The serving process's memory: now and its peak (resident set).
          rssBytes: process.memoryUsage().rss,
          maxRssBytes: process.resourceUsage().maxRSS * 1024,
          slots: this.runtime?.mboot.populated().map((s) => s.index) ?? [],
          connections: this.sockets.size,
          bufferedBytes: this.buffered,
          refused: { ...this.refused },
          ...(this.lastBoot?.halt === undefined ? {} : { halt: this.lastBoot.halt }),
        };
      case 'reset':
      case 'power-cycle': {
        const r = this.boot();
        return { ok: r.ok, boots: this.boots, ...(r.halt === undefined ? {} : { halt: r.halt }) };
      }
      case 'shutdown':
        setImmediate(() => void this.close());
        return { ok: true };
      case 'fault': {
        const n = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0);
        this.faults = { busy: n(cmd.busy), drop: n(cmd.drop) };
        return { ok: true, ...this.faults };
      }
      default:
        return { ok: false, error: 'commands: state, reset, power-cycle, shutdown, fault {busy, drop}' };
    }
  }

  /** MHU framing on one connection: the rounds of the message coming in, those of the reply going out. */
  private mhu(sock: Socket): (kind: number, payload: Uint8Array) => boolean {
    const channels = this.o.mhuChannels ?? MHU_DEFAULT_CHANNELS;
    const rx = new MhuReceiver(channels, HEADER_SIZE + PAYLOAD_MAX);
    let tx: Uint32Array[] = [];
    return (kind, payload) => {
      if (kind === FRAME.MHU_ACK) {
        const next = tx.shift();
        if (next !== undefined) sock.write(frame(FRAME.MHU_ROUND, encodeRound(next)));
        return true;
      }
      if (kind !== FRAME.MHU_ROUND) return false;
      let msg: Uint8Array | undefined;
      try {
        msg = rx.push(payload);
      } catch (e) {
        sock.write(frame(FRAME.ERROR, new TextEncoder().encode(isRseError(e) ? e.message : String(e))));
        return true;
      }
      sock.write(frame(FRAME.MHU_ACK, new Uint8Array(0)));
      if (msg === undefined) return true;
      const r = this.message(msg);
      if (r === undefined) {
        if (msg.length < 4) sock.write(frame(FRAME.ERROR, new TextEncoder().encode('a message needs its 4-byte header')));
        return true;
      }
      tx = mhuRounds(r, channels);
      const first = tx.shift() as Uint32Array;
      sock.write(frame(FRAME.MHU_ROUND, encodeRound(first)));
      return true;
    };
  }

  private connection(sock: Socket): void {
    if (this.sockets.size >= this.limits.connections) {
      this.refused.connections++;
      sock.on('error', () => sock.destroy());
      sock.end(frame(FRAME.ERROR, new TextEncoder().encode(`too many connections (${this.limits.connections})`)));
      return;
    }
    this.sockets.add(sock);
    this.pending.set(sock, 0);
    const mhu = this.mhu(sock);
    const reader = new FrameReader();
    let frameTimer: NodeJS.Timeout | undefined;
    const hangUp = (why: string, reason: keyof RseServer['refused']): void => {
      this.refused[reason]++;
      sock.end(frame(FRAME.ERROR, new TextEncoder().encode(why)));
      sock.destroy();
    };
    sock.setTimeout(this.limits.idleMs, () => hangUp(`idle for ${this.limits.idleMs} ms`, 'idle'));
    sock.on('data', (chunk: Buffer) => {
      let frames: { kind: number; payload: Uint8Array }[];
      try {
        frames = reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        // A length no frame may have: say why and hang up (the stream cannot be resynchronised).
        sock.end(frame(FRAME.ERROR, new TextEncoder().encode(isRseError(e) ? e.message : String(e))));
        return;
      }
      this.account(sock, reader.pending);
      // A frame begun must arrive whole in time: a sender trickling bytes holds no buffer for long.
      if (reader.pending === 0) {
        clearTimeout(frameTimer);
        frameTimer = undefined;
      } else
        frameTimer ??= setTimeout(
          () => hangUp(`a frame did not arrive whole within ${this.limits.frameMs} ms`, 'slowFrame'),
          this.limits.frameMs,
        );
      for (const f of frames) {
        if (mhu(f.kind, f.payload)) continue;
        const out = this.handleFrame(f.kind, f.payload);
        if (out !== undefined) sock.write(out);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(frameTimer);
      this.account(sock, 0);
      this.pending.delete(sock);
      this.sockets.delete(sock);
    });
  }

  /** Records what `sock` holds; over the budget, the connections holding the most are closed. */
  private account(sock: Socket, held: number): void {
    this.buffered += held - (this.pending.get(sock) ?? 0);
    this.pending.set(sock, held);
    if (this.buffered <= this.limits.buffered) return;
    const heaviest = [...this.pending].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    for (const [s, n] of heaviest) {
      if (this.buffered <= this.limits.buffered) break;
      this.refused.buffer++;
      this.buffered -= n;
      this.pending.set(s, 0);
      s.end(frame(FRAME.ERROR, new TextEncoder().encode('the server holds too many incomplete frames: this one is dropped')));
      s.destroy();
    }
  }

  /**
   * Starts listening. A Unix socket path may hold only a stale socket, which is replaced; any other
   * file, or a socket a server still answers on, is refused (`E_EXISTS`) and left alone.
   */
  async listen(where: Listen): Promise<string> {
    if (!('path' in where) && !isLoopbackHost(where.host ?? '127.0.0.1') && this.o.ctrlToken === undefined)
      throw new RseError(
        'E_USAGE',
        `listening on ${where.host} would let anyone who reaches it reset or shut down the RSE: give --ctrl-token FILE (or bind 127.0.0.1)`,
        { field: 'host' },
      );
    // On a Unix socket the file mode guards the control channel; anywhere else, the token does.
    this.ctrlGuarded = !('path' in where);
    const { server, address } = await listenOn(where, (s) => this.connection(s));
    this.server = server;
    return address;
  }

  private markClosed: () => void = () => {};
  /** Settles once the server has closed (a shutdown command or {@link RseServer.close}). */
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

/**
 * A server listening on `where` for `onConnection`: a Unix socket (a stale one replaced, then made
 * 0600: another local user can neither call nor control it) or TCP. Resolves with the server and
 * the address it listens on (the path, or `host:port`).
 */
export async function listenOn(where: Listen, onConnection: (s: Socket) => void): Promise<{ server: Server; address: string }> {
  if ('path' in where) await freeSocketPath(where.path);
  const server = createServer(onConnection);
  const address = await new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in where)
      server.listen(where.path, () => {
        chmodSync(where.path, 0o600);
        resolve(where.path);
      });
    else
      server.listen(where.port, where.host ?? '127.0.0.1', () => {
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? `${a.address}:${a.port}` : String(a));
      });
  });
  return { server, address };
}

/** Makes `path` free for a Unix socket: nothing there, or a stale socket (removed); anything else is E_EXISTS. */
async function freeSocketPath(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new RseError('E_EXISTS', `${path} exists and is not a socket: refusing to replace it (choose another --socket path)`, {
      field: 'socket',
    });
  const live = await new Promise<boolean>((resolve) => {
    const c = netConnect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new RseError('E_EXISTS', `${path}: a server is listening there already`, { field: 'socket' });
  unlinkSync(path);
}
