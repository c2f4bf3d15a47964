/** `rse serve DEVICE` and `rse call …`: the runtime services over a socket, and a client for them. @module */

import { join } from 'node:path';
import { decode } from 'cbor2';
import { Command, Option } from 'commander';
import { CCA_PLATFORM_PROFILE } from '../attestation/claims.ts';
import { RseClient } from '../comms/client.ts';
import type { CtrlPacking } from '../comms/protocol.ts';
import { type Listen, RseServer, SERVE_LIMITS } from '../comms/server.ts';
import { decodeCose } from '../cose/message.ts';
import { randomBytes } from '../crypto/index.ts';
import type { Device } from '../device/index.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { lockDirectory } from '../lib/lock.ts';
import { CRYPTO_ABI } from '../services/platform.ts';
import { PSA, statusName } from '../services/psa.ts';
import { cliStatus, io, parseInteger, printJson, readTokens } from './common.ts';
import { announceReady, daemonize, writePidFile } from './daemon.ts';
import { openDevice } from './device.ts';

const DEFAULT_SOCKET = 'rse.sock';

/** The CCA platform profiles `--token-profile` takes: a tag URI's last part, or the whole URI. */
const TOKEN_PROFILES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(CCA_PLATFORM_PROFILE).flatMap((u) => [[u.startsWith('tag:') ? u.slice(u.lastIndexOf(':') + 1) : u, u] as const]),
);

interface ServeOptions {
  packing?: string;
  link: 'ap-monitor' | 'ap-ns';
  permissions: 'tc' | 'open';
  dakKeyFormat: 'sec1' | 'cose-key';
  tokenProfile?: string;
  mhuChannels: string;
  maxConnections: string;
  maxBuffered: string;
  frameTimeout: string;
  idleTimeout: string;
  log?: boolean;
  pidFile?: string;
  json?: boolean;
  ctrlToken?: unknown;
}

function mhuChannels(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 2 || n > 124) throw new RseError('E_USAGE', `--mhu-channels ${v}: an MHU has 2..124 channels`);
  return n;
}

/** The environment variables naming a server, and the socket when none is set. */
export interface ServerNames {
  readonly socketVar: string;
  readonly portVar?: string;
  readonly hostVar?: string;
  readonly socket: string;
}
const RSE_NAMES: ServerNames = { socketVar: 'RSE_SOCKET', portVar: 'RSE_PORT', hostVar: 'RSE_HOST', socket: DEFAULT_SOCKET };

/**
 * Where to listen or connect: --socket or --port (with --host), else the environment's RSE_SOCKET
 * or RSE_PORT (with RSE_HOST), as TPM2TOOLS_TCTI names a swtpm, else ./rse.sock (`names` gives
 * another server its own variables and socket).
 */
export function where(
  o: { socket?: string; port?: string; host?: string },
  env: NodeJS.ProcessEnv = process.env,
  names: ServerNames = RSE_NAMES,
): Listen {
  const fromEnv = o.socket === undefined && o.port === undefined;
  const envOf = (v: string | undefined): string | undefined => (fromEnv && v !== undefined ? env[v] : undefined);
  const portText = o.port ?? (env[names.socketVar] === undefined ? envOf(names.portVar) : undefined);
  const host = o.host ?? envOf(names.hostVar);
  if (portText !== undefined) {
    const port = Number(portText);
    const what = o.port !== undefined ? '--port' : (names.portVar as string);
    if (portText.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
      throw new RseError('E_USAGE', `${what} ${portText} is not a TCP port`, { field: what });
    return { port, ...(host === undefined ? {} : { host }) };
  }
  return { path: o.socket ?? envOf(names.socketVar) ?? names.socket };
}

const transportOptions = (c: Command): Command =>
  c
    .option('--socket <path>', `Unix socket (default: $RSE_SOCKET, else ./${DEFAULT_SOCKET})`)
    .option('--port <n>', 'TCP port instead of a Unix socket (default: $RSE_PORT when RSE_SOCKET is unset)')
    .option('--host <addr>', 'TCP address (default: $RSE_HOST, else 127.0.0.1)')
    .option('--ctrl-token <file>', 'the control channel token (first line of FILE, at least 16 characters): needed on TCP');

function positive(v: string, what: string): number {
  const n = parseInteger(v);
  if (n <= 0) throw new RseError('E_USAGE', `${what} must be positive`);
  return n;
}

/** `--ctrl-token FILE`: its first token (the file's rules are {@link readTokens}'); never echoed. */
const ctrlTokenOf = (path: string | undefined): string | undefined =>
  path === undefined ? undefined : readTokens(path, 'control token', '--ctrl-token')[0];

export function serveCommand() {
  const cmd = new Command('serve')
    .summary('boot a device, then serve its runtime services (attestation, measured boot, NV counters, crypto) on a socket')
    .description(
      'Cold-boots DEVICE (as rse boot does) and answers RSE comms messages, the exact bytes TF-A sends ' +
        'over the MHU, on a Unix socket or TCP port, until a client sends shutdown or the process is ' +
        'interrupted. Frames: u32 LE body length, then a kind byte: 0x00 a message (reply: the reply ' +
        'bytes); 0x01 regions (n u8, then n × addr u64 ‖ len u32 ‖ bytes) followed by a pointer-access ' +
        'message whose host pointers they back (reply: the regions the RSE wrote, then the reply); ' +
        '0x02 JSON control {"cmd": "state" | "reset" | "power-cycle" | "shutdown" | "fault", "busy": N, ' +
        '"drop": N}; 0x03 an MHU round (N channel words, doorbell 1234 last) and 0x04 its ' +
        'acknowledgement, for clients that carry messages as MHU rounds; 0x7F an error text from the ' +
        'server. Host permissions follow TF-M 2.1 TC (attestation, delegated attestation, measured boot, ' +
        'NV read/increment, ROTPK export; pointers only into the TC host windows) unless ' +
        '--permissions open, which also opens PSA Crypto, platform ioctl and reset. ' +
        'The Unix socket is made 0600 (its owner alone may call or control the RSE). On TCP every control ' +
        'command but state needs the --ctrl-token (clients: rse call control --ctrl-token FILE), and a ' +
        'non-loopback --host is refused without one. Limits: 4096 connections, 64 MiB of incomplete frames ' +
        'in all (the connections holding most are dropped beyond), a frame must arrive whole within 10 s of ' +
        'its first byte, and a connection idle for 2 minutes is closed.',
    )
    .argument('<device>')
    .addOption(
      new Option('--packing <p>', 'ctrl_param packing (default: v2.11 for rse-2.1, v2.10 for rss-1.7)').choices([
        'v2.11',
        'v2.10',
      ] as const),
    )
    .addOption(
      new Option('--link <link>', 'the MHU the host talks on').choices(['ap-monitor', 'ap-ns'] as const).default('ap-monitor' as const),
    )
    .addOption(new Option('--permissions <p>', 'host permission table').choices(['tc', 'open'] as const).default('tc' as const))
    .addOption(
      new Option(
        '--dak-key-format <f>',
        'what the delegated attestation binding hashes: the SEC1 point (TF-M 2.1) or its COSE_Key (later TF-M)',
      )
        .choices(['sec1', 'cose-key'] as const)
        .default('sec1' as const),
    )
    .addOption(
      new Option(
        '--token-profile <p>',
        "the CCA platform token profile the attestation service emits (default: the firmware's); 2.0.0 adds the client id",
      ).choices(Object.keys(TOKEN_PROFILES)),
    )
    .option('--mhu-channels <n>', 'channels per round for clients using MHU framing (frame kinds 0x03/0x04)', '16')
    .option('--max-connections <n>', 'open connections at most', String(SERVE_LIMITS.connections))
    .option('--max-buffered <bytes>', 'bytes of incomplete frames held over all connections', String(SERVE_LIMITS.buffered))
    .option('--frame-timeout <ms>', 'a frame must arrive whole within this long of its first byte', String(SERVE_LIMITS.frameMs))
    .option('--idle-timeout <ms>', 'a connection silent this long is closed', String(SERVE_LIMITS.idleMs))
    .option('--log', 'print one line per call')
    .option('--daemon', 'run in the background: return once the server listens (its output goes to --log-file)')
    .option('--pid-file <file>', 'write the server’s pid here once it listens (removed when it stops)')
    .option('--log-file <file>', 'where a --daemon server writes its output (default: DEVICE/serve.log)')
    .option('--json', 'print {ok, listening, pid, …} once listening; errors as {ok: false, error}');
  transportOptions(cmd);
  return cmd.action(async (dir, o) => {
    const dev = openDevice(dir);
    const listen = where(o);
    const place = 'path' in listen ? listen.path : `${listen.host ?? '127.0.0.1'}:${listen.port}`;
    if (o.daemon === true) {
      // The child takes the lock and the socket; the parent only reports.
      const d = await daemonize(o.logFile ?? join(dir, 'serve.log'));
      if (o.json === true) printJson({ ok: true, pid: d.pid, log: d.log, ...d.ready });
      else io.out(`rse serve: pid ${d.pid} serving ${String(d.ready.listening)} (log ${d.log})\n`);
      return;
    }
    const lock = lockDirectory(dir, `rse serve on ${place}`);
    try {
      await serveLocked(dev, listen, o);
    } finally {
      lock.release();
    }
  });
}

async function serveLocked(dev: Device, listen: Listen, o: ServeOptions): Promise<void> {
  const ctrlToken = ctrlTokenOf(o.ctrlToken as string | undefined);
  const server = new RseServer(dev, {
    ...(ctrlToken === undefined ? {} : { ctrlToken }),
    limits: {
      connections: positive(o.maxConnections, '--max-connections'),
      buffered: positive(o.maxBuffered, '--max-buffered'),
      frameMs: positive(o.frameTimeout, '--frame-timeout'),
      idleMs: positive(o.idleTimeout, '--idle-timeout'),
    },
    ...(o.packing === undefined ? {} : { packing: o.packing as CtrlPacking }),
    link: o.link,
    permissions: o.permissions,
    dakKeyFormat: o.dakKeyFormat,
    ...(o.tokenProfile === undefined ? {} : { tokenProfile: TOKEN_PROFILES[o.tokenProfile] as string }),
    mhuChannels: mhuChannels(o.mhuChannels),
    onBoot: (r) =>
      o.json !== true &&
      io.out(
        r.ok
          ? `booted in ${r.ms.toFixed(1)} ms: ${r.measurements.length} measurements\n`
          : `boot stopped: ${r.halt?.reason} [${r.halt?.code}]\n`,
      ),
    ...(o.log === true
      ? {
          onCall: (c) =>
            io.out(
              `seq ${c.header.seq} client ${c.clientId ?? c.header.clientId} ${c.kind} handle 0x${((c.handle ?? 0) >>> 0).toString(16)} type ${c.type ?? '-'}: ${statusName(c.status)}${c.why ? ` (${c.why})` : ''}\n`,
            ),
        }
      : {}),
  });
  const r = server.boot();
  if (!r.ok) cliStatus.code = 1;
  const at = await server.listen(listen);
  const stop = (): void => void server.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  const dropPid = o.pidFile === undefined ? undefined : writePidFile(o.pidFile);
  try {
    const ready = { listening: at, pid: process.pid, profile: dev.profile.name, booted: r.ok };
    if (o.json === true) printJson({ ok: true, ...ready }, true);
    else io.out(`serving ${dev.profile.name} on ${at}${r.ok ? '' : ' (boot stopped: every call is answered busy until a reset)'}\n`);
    announceReady(ready);
    await server.closed;
  } finally {
    dropPid?.();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
  }
  if (o.json !== true) io.out(`served ${server.calls} calls\n`);
}

function timeoutArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 3_600_000) throw new RseError('E_USAGE', `--timeout ${v}: a number of ms, 1..3600000`);
  return n;
}

export async function withClient<T>(
  o: {
    socket?: string;
    port?: string;
    host?: string;
    packing?: string;
    protocol?: string;
    mhuChannels?: string;
    sfcp?: string | boolean;
    timeout?: string;
    ctrlToken?: string;
  },
  f: (c: RseClient) => Promise<T>,
): Promise<T> {
  const ctrlToken = ctrlTokenOf(o.ctrlToken);
  const c = await RseClient.connect(where(o), {
    ...(ctrlToken === undefined ? {} : { ctrlToken }),
    ...(o.sfcp === undefined || o.sfcp === false ? {} : { sfcp: { receiver: o.sfcp === true ? 0 : parseInteger(o.sfcp) } }),
    ...(o.mhuChannels === undefined ? {} : { mhuChannels: mhuChannels(o.mhuChannels) }),
    ...(o.packing === undefined ? {} : { packing: o.packing as CtrlPacking }),
    ...(o.protocol === undefined ? {} : { protocol: o.protocol as 'embed' | 'pointer' }),
    ...(o.timeout === undefined ? {} : { timeoutMs: timeoutArg(o.timeout) }),
  });
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

function statusOut(status: number, json: boolean, extra: Record<string, unknown>, text: string): void {
  if (status !== PSA.SUCCESS) cliStatus.code = 1;
  if (json) printJson({ status, statusName: statusName(status), ...extra });
  else io.out(status === PSA.SUCCESS ? text : `${statusName(status)} (${status})\n`);
}

/** The transport and protocol options of a client of a served RSE (`rse call …`, `rse attest`). */
export const clientOptions = (c: Command): Command => {
  transportOptions(c);
  return c
    .addOption(new Option('--packing <p>', 'ctrl_param packing').choices(['v2.11', 'v2.10']).default('v2.11'))
    .addOption(new Option('--protocol <p>', "force embed or pointer access (default: TF-A's choice)").choices(['embed', 'pointer']))
    .option('--mhu-channels <n>', 'send messages as MHU rounds over N channels (the server must use the same N)')
    .option(
      '--sfcp [node]',
      'speak SFCP as TF-A v2.15 does, to this RSE node (rse-2.3: 0, the default), instead of the legacy RSE comms messages',
    )
    .option('--timeout <ms>', 'give up when the RSE has not answered within this many ms (exit 2)', '10000')
    .option('--json', 'machine-readable output');
};

const CLAIM_NAMES: Record<number, string> = {
  10: 'challenge',
  256: 'instance id',
  2396: 'implementation id',
  2395: 'security lifecycle',
  2399: 'software components',
  265: 'profile',
  2402: 'hash algorithm',
  2401: 'platform config',
  2400: 'verification service',
};

/** The claims of a CCA platform token, one per line, software components as a table. */
function describeClaims(payload: Uint8Array): string {
  const claims = decode(payload);
  if (!(claims instanceof Map)) return 'the payload is not a claims map\n';
  const show = (v: unknown): string =>
    v instanceof Uint8Array ? toHex(v) : typeof v === 'number' ? `${v} (0x${v.toString(16)})` : JSON.stringify(v);
  const out: string[] = [];
  for (const [k, v] of claims) {
    if (k === 2399 && Array.isArray(v)) {
      out.push(`  ${CLAIM_NAMES[k]} (${k}):`);
      for (const c of v as unknown[]) {
        if (!(c instanceof Map)) continue;
        const val = c.get(2);
        out.push(
          `    ${String(c.get(1) || '-').padEnd(6)} ${String(c.get(4) || '-').padEnd(9)} ${String(c.get(6))} ${val instanceof Uint8Array ? toHex(val) : ''}`,
        );
      }
    } else out.push(`  ${CLAIM_NAMES[k as number] ?? 'claim'} (${k}): ${show(v)}`);
  }
  return `${out.join('\n')}\n`;
}

function hexArg(v: string, what: string): Uint8Array {
  try {
    return fromHex(v.replace(/^0x/i, ''), what);
  } catch {
    throw new RseError('E_USAGE', `${what} must be hex`);
  }
}

export function callCommand() {
  const cmd = new Command('call').summary('call a served RSE (rse serve) the way TF-A does');
  const attest = clientOptions(new Command('attest').summary('get a platform attestation token (GET_TOKEN)'))
    .option('--challenge <hex>', '32, 48 or 64 bytes (default: 32 random bytes)')
    .option('-o, --output <file>', 'write the token (COSE_Sign1) to a file')
    .option('--claims', 'print the decoded claims instead of the token bytes')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const challenge = typeof o.challenge === 'string' ? hexArg(o.challenge, '--challenge') : randomBytes(32);
      const r = await withClient(o as Record<string, string>, (c) => c.attestationToken(challenge));
      const token = r.status === PSA.SUCCESS ? r.outVecs[0] : undefined;
      if (token !== undefined && typeof o.output === 'string') writeFileAtomic(o.output, token, { durable: false });
      statusOut(
        r.status,
        o.json === true,
        token === undefined ? {} : { protocol: r.protocol, size: token.length, token: toHex(token) },
        token === undefined
          ? ''
          : `token: ${token.length} bytes (COSE_Sign1, payload ${decodeCose(token).payload.length} bytes) over ${r.protocol}${typeof o.output === 'string' ? `, written to ${o.output}` : ''}\n${o.claims === true ? describeClaims(decodeCose(token).payload) : `${toHex(token)}\n`}`,
      );
    });
  const mboot = new Command('mboot').summary('measured boot: read or extend a slot');
  mboot.addCommand(
    clientOptions(new Command('read').summary('read a slot (READ)').argument('<slot>')).action(
      async (slot: string, o: Record<string, string | boolean | undefined>) => {
        const r = await withClient(o as Record<string, string>, (c) =>
          c.measuredBootRead(Number(slot), { swTypeMax: o.packing === 'v2.10' ? 20 : 32 }),
        );
        const s = r.slot;
        statusOut(
          r.status,
          o.json === true,
          s === undefined
            ? {}
            : {
                slot: Number(slot),
                locked: s.locked,
                algo: s.algo,
                swType: s.swType,
                version: s.version,
                signerId: toHex(s.signerId),
                value: toHex(s.value),
              },
          s === undefined
            ? ''
            : `slot ${slot}: ${s.swType || '-'} ${s.version || '-'}${s.locked ? ' (locked)' : ''}\n  signer id ${toHex(s.signerId)}\n  value     ${toHex(s.value)}\n`,
        );
      },
    ),
  );
  mboot.addCommand(
    clientOptions(new Command('extend').summary('extend a slot (EXTEND)'))
      .requiredOption('--slot <n>', 'slot 0..31')
      .requiredOption('--measurement <hex>', '32..64 bytes')
      .option('--signer-id <hex>', '32..64 bytes (default 32 zero bytes)')
      .option('--sw-type <text>', 'software type', '')
      .option('--sw-version <text>', 'version (up to 14 bytes)', '')
      .option('--lock', 'lock the slot')
      .action(async (o: Record<string, string | boolean | undefined>) => {
        const r = await withClient(o as Record<string, string>, (c) =>
          c.measuredBootExtend(
            {
              slot: Number(o.slot),
              measurement: hexArg(String(o.measurement), '--measurement'),
              signerId: typeof o.signerId === 'string' ? hexArg(o.signerId, '--signer-id') : new Uint8Array(32),
              swType: String(o.swType ?? ''),
              version: String(o.swVersion ?? ''),
              lock: o.lock === true,
            },
            o.packing === 'v2.10' ? 20 : 32,
          ),
        );
        statusOut(r.status, o.json === true, {}, `slot ${o.slot} extended\n`);
      }),
  );
  const nv = new Command('nv').summary('host NV counters 0..2 (NV_READ, NV_INCREMENT)');
  nv.addCommand(
    clientOptions(new Command('read').argument('<id>')).action(async (id: string, o: Record<string, string | boolean | undefined>) => {
      const r = await withClient(o as Record<string, string>, (c) => c.nvRead(Number(id)));
      statusOut(r.status, o.json === true, r.value === undefined ? {} : { id: Number(id), value: r.value }, `${r.value}\n`);
    }),
  );
  nv.addCommand(
    clientOptions(new Command('inc').argument('<id>')).action(async (id: string, o: Record<string, string | boolean | undefined>) => {
      const r = await withClient(o as Record<string, string>, (c) => c.nvIncrement(Number(id)));
      statusOut(r.status, o.json === true, { id: Number(id) }, `counter ${id} incremented\n`);
    }),
  );
  const rotpk = clientOptions(
    new Command('rotpk').summary('export a host ROTPK (crypto EXPORT_PUBLIC_KEY)').argument('<which>', 's, ns or cca'),
  )
    .addOption(
      new Option('--abi <abi>', 'crypto function ids: tfm-2.1 (0x0206) or tfm-2.0 (0x0701, TF-A ≤ v2.11)')
        .choices(['tfm-2.1', 'tfm-2.0'])
        .default('tfm-2.1'),
    )
    .action(async (which: string, o: Record<string, string | boolean | undefined>) => {
      if (which !== 's' && which !== 'ns' && which !== 'cca') throw new RseError('E_USAGE', 'which ROTPK: s, ns or cca');
      const abi = CRYPTO_ABI[o.abi === 'tfm-2.0' ? 'tfm-2.0' : 'tfm-2.1'];
      const r = await withClient(o as Record<string, string>, (c) => c.rotpk(which, abi));
      const key = r.outVecs[0];
      statusOut(r.status, o.json === true, key === undefined ? {} : { which, key: toHex(key) }, `${toHex(key ?? new Uint8Array(0))}\n`);
    });
  const control = clientOptions(
    new Command('control').summary("the server's control channel").argument('<cmd>', 'state, reset, power-cycle, shutdown'),
  ).action(async (c: string, o: Record<string, string | boolean | undefined>) => {
    const r = await withClient(o as Record<string, string>, (cl) => cl.control({ cmd: c }));
    if (r.ok !== true) cliStatus.code = 1;
    printJson(r);
  });
  for (const c of [attest, mboot, nv, rotpk, control]) cmd.addCommand(c);
  return cmd;
}
