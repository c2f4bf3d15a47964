/**
 * `npm run fuzz -- [--seconds N] [--seed S] [--target NAME…] [--out DIR]`: a mutation fuzzer over
 * every parser rsekit exposes. Each target runs in its own child process for its share of the
 * budget: seeds are the shared vectors and files the setup makes; each run mutates one (bit and
 * byte flips, interesting values, truncation, extension, duplication, splicing; lines and
 * numbers for text) and feeds it to the CLI verb, the socket server or the verifier's HTTP API.
 *
 * Findings: an internal error (exit 70, a stack trace, an exception that is not an RseError, an
 * HTTP 500), a hang (no progress for 10 s: the parent kills the child and keeps the input), or a
 * resident set over 512 MiB. Each is saved in the output directory with the input that caused it.
 * Exit 0 when nothing was found, 1 otherwise; the report gives runs per target.
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.ts';
import { isRseError } from '../src/lib/errors.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (fuzz/ runs from source or from dist/fuzz/). */
const root = existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..');
const V = resolve(root, '..', 'shared', 'vectors');
const HANG_MS = 10_000;
const RSS_LIMIT = 512 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Randomness and mutations.

/** xorshift32: reproducible from the seed the report prints. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return n <= 0 ? 0 : s % n;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

function mutateBytes(seed: Uint8Array, other: Uint8Array, r: (n: number) => number): Uint8Array {
  let b = seed.slice();
  for (let k = 1 + r(4); k > 0; k--) {
    const at = r(Math.max(1, b.length));
    switch (r(8)) {
      case 0:
        if (b.length > 0) b[at] = (b[at] as number) ^ (1 << r(8));
        break;
      case 1:
        if (b.length > 0) b[at] = r(256);
        break;
      case 2: {
        // An interesting value, 1, 2 or 4 bytes, either byte order.
        const v = INTERESTING[r(INTERESTING.length)] as number;
        const w = [1, 2, 4][r(3)] as number;
        for (let i = 0; i < w && at + i < b.length; i++) b[at + i] = r(2) === 0 ? (v >>> (8 * i)) & 0xff : (v >>> (8 * (w - 1 - i))) & 0xff;
        break;
      }
      case 3:
        b = b.slice(0, at);
        break;
      case 4: {
        const extra = new Uint8Array(1 + r(64));
        for (let i = 0; i < extra.length; i++) extra[i] = r(256);
        const out = new Uint8Array(b.length + extra.length);
        out.set(b.subarray(0, at));
        out.set(extra, at);
        out.set(b.subarray(at), at + extra.length);
        b = out;
        break;
      }
      case 5: {
        // Duplicate a chunk in place.
        if (at >= b.length) break;
        const len = 1 + r(Math.min(256, b.length - at));
        const out = new Uint8Array(b.length + len);
        out.set(b.subarray(0, at + len));
        out.set(b.subarray(at, at + len), at + len);
        out.set(b.subarray(at + len), at + 2 * len);
        b = out;
        break;
      }
      case 6: {
        // Splice: this seed's head, another's tail.
        const cut = r(Math.max(1, other.length));
        const out = new Uint8Array(at + other.length - cut);
        out.set(b.subarray(0, at));
        out.set(other.subarray(cut), at);
        b = out;
        break;
      }
      default:
        // Fill a run with one value.
        b.fill([0, 0xff, r(256)][r(3)] as number, at, at + 1 + r(64));
    }
  }
  return b;
}

function mutateText(seed: Uint8Array, other: Uint8Array, r: (n: number) => number): Uint8Array {
  let lines = new TextDecoder().decode(seed).split('\n');
  const others = new TextDecoder().decode(other).split('\n');
  for (let k = 1 + r(3); k > 0; k--) {
    const i = r(Math.max(1, lines.length));
    const line = lines[i] ?? '';
    switch (r(6)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, line);
        break;
      case 2:
        lines[i] = line.replace(/\d+/, String(INTERESTING[r(INTERESTING.length)]) + '0'.repeat(r(3) * 4));
        break;
      case 3:
        lines[i] = line.replace(/0x[0-9a-fA-F]+/, `0x${'f'.repeat(1 + r(16))}`);
        break;
      case 4:
        lines.splice(i, 0, others[r(Math.max(1, others.length))] ?? '');
        break;
      default: {
        const enc = new TextEncoder().encode(lines.join('\n'));
        return mutateBytes(enc, other, r);
      }
    }
  }
  lines = lines.slice(0, 5000);
  return new TextEncoder().encode(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Targets.

/** What one run found, if anything. */
type Outcome = undefined | { readonly kind: 'internal'; readonly detail: string };

interface Target {
  readonly name: string;
  readonly text?: boolean;
  /** Makes the seeds (and whatever the runs need) in `work`. */
  setup(work: string): Promise<Uint8Array[]>;
  /** Runs one input (already written to `file`). */
  run(file: string, work: string): Promise<Outcome>;
}

const files = (dir: string, re: RegExp, max = 1 << 20): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { recursive: true })
        .map((n) => join(dir, String(n)))
        .filter((p) => re.test(p) && statSync(p).isFile() && statSync(p).size <= max)
    : [];
const read = (ps: readonly string[]): Uint8Array[] => ps.map((p) => new Uint8Array(readFileSync(p)));

/** Runs the CLI in process; an exit 70 or a stack trace in its output is an internal error. */
async function cli(args: readonly string[]): Promise<Outcome> {
  let out = '';
  const code = await main(args, {
    out: (d) => {
      if (out.length < 1 << 16) out += typeof d === 'string' ? d : '';
    },
    err: (d) => {
      if (out.length < 1 << 16) out += d;
    },
  });
  if (code === 70 || /internal error|\n\s+at .+\(.+:\d+:\d+\)/.test(out)) return { kind: 'internal', detail: `exit ${code}: ${out.slice(0, 2000)}` };
  return undefined;
}

const KEY_P256 = (): string => join(V, 'mcuboot/keys/ecdsa-p256.pub.pem');

function cliTarget(name: string, seeds: (work: string) => Promise<Uint8Array[]> | Uint8Array[], args: (file: string, work: string) => string[], text = false): Target {
  return { name, text, setup: async (w) => seeds(w), run: (f, w) => cli(args(f, w)) };
}

/** A device directory target: `json` is the mutated device.json, the other files are reset from `base` each run. */
function deviceTarget(name: string, create: string[], verb: (dir: string) => string[]): Target {
  return {
    name,
    text: true,
    async setup(work) {
      const base = join(work, 'base');
      const r = await main([...create, base], { out: () => {}, err: () => {} });
      if (r !== 0) throw new Error(`${name}: ${create.join(' ')} failed`);
      return [new Uint8Array(readFileSync(join(base, 'device.json')))];
    },
    async run(file, work) {
      const dir = join(work, 'dev');
      rmSync(dir, { recursive: true, force: true });
      cpSync(join(work, 'base'), dir, { recursive: true });
      cpSync(file, join(dir, 'device.json'));
      return cli(verb(dir));
    },
  };
}

const TARGETS: readonly Target[] = [
  cliTarget('dumpinfo', () => read(files(join(V, 'mcuboot/signed'), /\.bin$/)), (f) => ['dumpinfo', f]),
  cliTarget('verify', () => read(files(join(V, 'mcuboot/signed'), /ecp256.*\.bin$|rse-ecp256/)), (f) => ['verify', '-k', KEY_P256(), f]),
  cliTarget('sign-list', () => read(files(join(V, 'imgtool-tfm-2.3/signed'), /\.bin$/)), (f) => ['sign-list', f]),
  cliTarget('fip-info', () => read(files(join(V, 'fip'), /\.fip$/)), (f) => ['fip', 'info', f]),
  cliTarget('gpt-list', () => read(files(join(V, 'gpt'), /fip_gpt.*\.bin$/, 8 << 20)), (f) => ['gpt', 'list', f]),
  cliTarget('fwu-info', () => read(files(join(V, 'gpt'), /metadata\.bin$/)), (f) => ['fwu', 'info', f]),
  cliTarget('bl1-info', () => read(files(join(V, 'rse-2.3/bl2'), /\.bin$/)), (f) => ['bl1', 'info', f, '--profile', 'rse-2.3']),
  cliTarget('token-print', () => read(files(join(V, 'attestation'), /\.(cbor|cose)$/, 64 << 10)), (f) => ['token', 'print', f, '--json']),
  cliTarget(
    'corim-appraise',
    () => read(files(join(V, 'attestation/corim'), /\.cbor$/, 64 << 10)),
    (f) => ['token', 'verify', join(V, 'attestation/cca/veraison-services/cca-good.cbor'), '--corim', f, '--json'],
  ),
  cliTarget(
    'signed-corim',
    async (w) => {
      // The valid CCA CoRIM signed with Veraison's EAR test key; its public half is the trusted signer.
      const { signCorim } = await import('../src/attestation/corim-sign.ts');
      const { loadTokenKey, publicPem } = await import('../src/cose/keys.ts');
      const k = loadTokenKey(new Uint8Array(readFileSync(join(V, 'attestation/ear/skey.json'))));
      writeFileSync(join(w, 'signer.pem'), publicPem(k));
      const c = new Uint8Array(readFileSync(join(V, 'attestation/corim/cca/corim-cca-platform-valid.cbor')));
      return [signCorim(c, k, { signer: 'fuzz', signerUri: 'https://example.com', notAfter: new Date('2099-01-01') }, Uint8Array.of(1, 2))];
    },
    (f, w) => [
      'token',
      'verify',
      join(V, 'attestation/cca/veraison-services/cca-good.cbor'),
      '--corim',
      f,
      '--corim-signer',
      join(w, 'signer.pem'),
      '--json',
    ],
  ),
  cliTarget(
    'layout-hex',
    () => read([...files(join(V, 'srec'), /\.hex$/), ...files(join(V, 'mcuboot/signed'), /\.hex$/)]),
    (f, w) => ['layout', f, '-Intel', '-o', join(w, 'out.bin'), '-Binary', '--max-size', '0x1000000'],
    true,
  ),
  cliTarget(
    'stm32-info',
    async (w) => {
      writeFileSync(join(w, 'fsbl.bin'), new Uint8Array(4096).fill(0x11));
      const key = join(root, 'examples/keys/root-EC-P256.pem');
      await main(['stm32', 'sign', '-s', join(w, 'fsbl.bin'), '-d', join(w, 'fsbl.stm32'), '-l', '0x2ffc2500', '-e', '0x2ffc2500', '-b', '0x10', '-k', key], {
        out: () => {},
        err: () => {},
      });
      return read([join(w, 'fsbl.stm32')]);
    },
    (f) => ['stm32', 'info', f, '--json'],
  ),
  cliTarget(
    'sfi-info',
    async (w) => {
      writeFileSync(join(w, 'fw.bin'), new Uint8Array(2048).fill(0x3c));
      const k = '00112233445566778899aabbccddeeff';
      await main(['sfi', 'package', '--key', k, '--nonce', '000102030405060708090a0b', '--area', `F:0x0c000000:${join(w, 'fw.bin')}`, '-o', join(w, 'fw.sfi')], {
        out: () => {},
        err: () => {},
      });
      writeFileSync(join(w, 'k.hex'), k);
      return read([join(w, 'fw.sfi')]);
    },
    (f, w) => ['sfi', 'info', f, '--key', join(w, 'k.hex')],
  ),
  cliTarget(
    'lms-info',
    async (w) => {
      await main(['lms', 'keygen', join(w, 'k'), '--height', '5'], { out: () => {}, err: () => {} });
      return read([join(w, 'k.prv')]);
    },
    (f, w) => {
      cpSync(f, join(w, 'k.prv'));
      return ['lms', 'info', join(w, 'k'), '--json'];
    },
  ),
  cliTarget(
    'provision-values',
    () => read([join(root, 'examples/rse-2.1/provisioning.yaml')]),
    (f, w) => ['provision', 'bundle', 'cm', '--values', f, '-o', join(w, 'cm.bin'), '--json'],
    true,
  ),
  cliTarget(
    'platform-yaml',
    (w) => {
      cpSync(join(root, 'examples'), join(w, 'examples'), { recursive: true });
      // MCUboot images and a raw host flash only: no stateful LMS key is spent per run.
      const yaml = [
        'platform: rse-2.1',
        'atu: { host-window-base: 0x70000000, host-window-size: 0x10000000 }',
        'images:',
        '  - { name: tfm_s, input: payloads/tfm_s.bin, key: keys/root-EC-P256.pem, version: 2.1.0, header-size: 0x400, pad-header: true, slot-size: 0x60000, load-address: 0x31000000, security-counter: 1 }',
        '  - { name: ap_bl1, input: payloads/ap_bl1.bin, key: keys/root-EC-P256.pem, version: 0.0.1, header-size: 0x2000, pad-header: true, slot-size: 0x80000, load-address: 0x70000000 }',
        'host-flash:',
        '  type: raw',
        '  size: 2M',
        '  placements:',
        '    - { image: tfm_s, offset: 0x0 }',
        '    - { image: ap_bl1, offset: 0x100000 }',
        '',
      ].join('\n');
      return [new TextEncoder().encode(yaml)];
    },
    (f, w) => {
      cpSync(f, join(w, 'examples/platform.yaml'));
      return ['flash', 'build', join(w, 'examples/platform.yaml'), '-o', join(w, 'out'), '--json'];
    },
    true,
  ),
  deviceTarget('rse-device-json', ['device', 'create'], (d) => ['otp', 'show', d, '--json']),
  deviceTarget('mp1-device-json', ['stm32', 'device', 'create'], (d) => ['stm32', 'firewall', d, '--json']),
  deviceTarget('l5-device-json', ['l5', 'device', 'create'], (d) => ['l5', 'ob', 'show', d, '--json']),
  socketTarget(),
  httpTarget(),
  smcTarget(),
];

/** The socket entry point: frames of every kind into a served rse-2.1 device (in process). */
function socketTarget(): Target {
  let handle: ((kind: number, payload: Uint8Array) => unknown) | undefined;
  return {
    name: 'socket-frames',
    async setup(work) {
      const { RseServer } = await import('../src/comms/server.ts');
      const { encodeEmbedRequest } = await import('../src/comms/protocol.ts');
      const { Device, DirStore } = await import('../src/device/device.ts');
      const dev = join(work, 'dev');
      await main(['device', 'create', dev], { out: () => {}, err: () => {} });
      const server = new RseServer(Device.open(new DirStore(dev)), { permissions: 'open' });
      server.boot();
      handle = (k, p) => server.handleFrame(k, p);
      const h = { protocol: 0, seq: 1, clientId: 1 };
      const msg = (handleId: number, type: number, ins: Uint8Array[], outs: number[]): Uint8Array =>
        Uint8Array.of(0, ...encodeEmbedRequest(h, handleId, type, ins, outs, 'v2.11'));
      return [
        msg(0x40000103, 1002, [Uint8Array.of(48, 0, 0, 0)], [4]),
        msg(0x40000110, 1001, [new Uint8Array(4)], [0x100]),
        msg(0x40000105, 1010, [new Uint8Array(4)], [4]),
        msg(0x40000100, 1, [new Uint8Array(8)], [64]),
        Uint8Array.of(2, ...new TextEncoder().encode('{"cmd":"state"}')),
        Uint8Array.of(1, 1, ...new Uint8Array(12), ...encodeEmbedRequest({ ...h, protocol: 1 }, 0x40000105, 1010, [], [], 'v2.11')),
      ];
    },
    async run(file) {
      const b = new Uint8Array(readFileSync(file));
      try {
        // A fault injection that silences replies is allowed: the next runs would see nothing.
        if (b[0] === 2 && /"fault"|"shutdown"/.test(new TextDecoder().decode(b))) return undefined;
        handle?.(b[0] ?? 0, b.subarray(1));
      } catch (e) {
        if (!isRseError(e)) return { kind: 'internal', detail: String((e as Error).stack ?? e) };
      }
      return undefined;
    },
  };
}

/** The STM32MP15 secure monitor's socket entry point: SMC frames (PSCI, SiP, SCMI channels) into a booted device (in process). */
function smcTarget(): Target {
  let handle: ((kind: number, payload: Uint8Array) => unknown) | undefined;
  return {
    name: 'smc-frames',
    async setup(work) {
      const { SmcServer, encodeSmc } = await import('../src/comms/smc.ts');
      const { Mp1Device } = await import('../src/stm32/mp1.ts');
      const { smtMessage } = await import('../src/stm32/scmi.ts');
      const { MONITOR_OPTEE } = await import('../src/profiles/stm32-monitor.ts');
      const quiet = { out: () => {}, err: () => {} };
      const dev = join(work, 'dev');
      writeFileSync(join(work, 'bl2.bin'), new Uint8Array(1024).fill(7));
      for (const args of [
        ['stm32', 'sign', join(work, 'bl2.bin'), join(work, 'bl2.stm32'), '-l', '0x2ffc2500', '-e', '0x2ffc2500', '-b', '0x10'],
        ['stm32', 'device', 'create', dev],
        ['stm32', 'boot', dev, join(work, 'bl2.stm32'), '--platform', join(root, 'examples/stm32mp1/firewall.dts')],
      ])
        if ((await main(args, quiet)) !== 0) throw new Error(`smc-frames: ${args.join(' ')} failed`);
      const server = new SmcServer(Mp1Device.open(dev));
      handle = (k, p) => server.handleFrame(k, p);
      const smc = (regs: number[], shm?: Uint8Array): Uint8Array =>
        Uint8Array.of(0x10, ...encodeSmc({ cpu: 0, regs, ...(shm === undefined ? {} : { shm }) }));
      const scmi = (protocol: number, message: number, words: number[]): Uint8Array =>
        smc([0x82002000], smtMessage(MONITOR_OPTEE, protocol, message, new Uint8Array(new Uint32Array(words).buffer)));
      return [
        smc([0x84000000]),
        smc([0x84000003, 1, 0xc0100000]),
        smc([0x8400000a, 0x84000001]),
        smc([0x82001003, 4, 57]),
        smc([0x82001003, 2, 10, 0x100]),
        scmi(0x10, 6, [0]),
        scmi(0x14, 7, [20, 1]),
        scmi(0x16, 4, [0, 2, 0]),
        scmi(0x17, 4, [3, 0]),
        Uint8Array.of(2, ...new TextEncoder().encode('{"cmd":"state"}')),
      ];
    },
    async run(file) {
      const b = new Uint8Array(readFileSync(file));
      // Calls that stop the SoC or a core would leave the next runs nothing to reach: not sent.
      const fid = b.length >= 9 ? new DataView(b.buffer, b.byteOffset).getUint32(5, true) : 0;
      if ([0x84000002, 0x84000008, 0x84000009].includes(fid) || (b[0] === 2 && /shutdown/.test(new TextDecoder().decode(b)))) return undefined;
      try {
        handle?.(b[0] ?? 0, b.subarray(1));
      } catch (e) {
        if (!isRseError(e)) return { kind: 'internal', detail: String((e as Error).stack ?? e) };
      }
      return undefined;
    },
  };
}

/** The verifier's HTTP entry points: evidence into a session and CoRIMs into provisioning. */
function httpTarget(): Target {
  let app: { request(path: string, init?: RequestInit): Response | Promise<Response> } | undefined;
  return {
    name: 'verifier-http',
    async setup(work) {
      const { createVerifierApp } = await import('../src/verifier/server.ts');
      const { openStore } = await import('../src/verifier/store.ts');
      const { loadTokenKey } = await import('../src/cose/keys.ts');
      app = createVerifierApp({
        // PostgreSQL when the parent started one (as a shared production verifier runs); else the
        // embedded SQLite in a data directory.
        store: await openStore(process.env.RSE_FUZZ_PG ?? join(work, 'db')),
        earKey: loadTokenKey(new Uint8Array(readFileSync(join(V, 'attestation/ear/skey.json')))),
        provisioning: { tokens: ['fuzz-provisioning-token-0000'] },
      });
      // CoSERV queries (reference values of a PSA class, trust anchors of an instance) as seeds too.
      const { encode, Tag } = await import('cbor2');
      const coserv = (artifact: number, kind: number, sel: unknown): Uint8Array =>
        encode(
          new Map<number, unknown>([
            [0, 'tag:arm.com,2025:psa#1.0.0'],
            [1, new Map<number, unknown>([[0, artifact], [1, new Map([[kind, [[sel]]]])], [2, 0]])],
          ]),
        );
      writeFileSync(join(work, 'coserv-rv.cbor'), coserv(2, 0, new Map([[0, new Tag(600, new Uint8Array(32).fill(0x7f))]])));
      writeFileSync(join(work, 'coserv-ta.cbor'), coserv(1, 1, new Tag(550, new Uint8Array(33).fill(1))));
      return read([
        join(work, 'coserv-rv.cbor'),
        join(work, 'coserv-ta.cbor'),
        ...files(join(V, 'attestation/corim'), /\.cbor$/, 64 << 10).slice(0, 20),
        ...files(join(V, 'attestation/psa/veraison-services'), /\.cose$/),
        ...files(join(V, 'attestation/cca/veraison-services'), /\.cbor$/),
      ]);
    },
    async run(file) {
      const body = new Uint8Array(readFileSync(file));
      const a = app as NonNullable<typeof app>;
      const s = await a.request('/challenge-response/v1/newSession?nonceSize=32', { method: 'POST' });
      const loc = s.headers.get('location') ?? 'session/x';
      for (const [path, type] of [
        [`/challenge-response/v1/${loc}`, 'application/psa-attestation-token'],
        [`/challenge-response/v1/${loc}`, 'application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"'],
        ['/endorsement-provisioning/v1/submit', 'application/rim+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0"'],
      ] as const) {
        const r = await a.request(path, {
          method: 'POST',
          headers: { 'content-type': type, authorization: 'Bearer fuzz-provisioning-token-0000' },
          body,
        });
        if (r.status >= 500) return { kind: 'internal', detail: `${path}: ${r.status} ${await r.text()}` };
      }
      const q = await a.request(`/endorsement-distribution/v1/coserv/${Buffer.from(body).toString('base64url')}`);
      if (q.status >= 500) return { kind: 'internal', detail: `coserv: ${q.status} ${await q.text()}` };
      return undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Child: one target for a budget, heartbeats to the parent.

async function child(name: string, seconds: number, seed: number, out: string): Promise<void> {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no target ${name}`);
  const work = mkdtempSync(join(tmpdir(), `rse-fuzz-${name}-`));
  const send = (m: Record<string, unknown>): void => void process.send?.(m);
  try {
    // The setup is not fuzzed (a database to create, a device to make): alive while it runs.
    const alive = setInterval(() => send({ alive: true }), 1000);
    const seeds = (await t.setup(work)).filter((s) => s.length > 0);
    clearInterval(alive);
    if (seeds.length === 0) throw new Error(`${name}: no seeds`);
    const r = rng(seed);
    const input = join(work, t.text === true ? 'input.txt' : 'input.bin');
    const current = join(out, `${name}.current`);
    const end = Date.now() + seconds * 1000;
    // A target whose setup alone passes the limit (none today) is held to its own baseline plus
    // 256 MiB instead, and the report says so.
    const baseline = process.memoryUsage().rss;
    const limit = Math.max(RSS_LIMIT, baseline + 256 * 1024 * 1024);
    send({ baseline });
    let runs = 0;
    let findings = 0;
    let maxRss = 0;
    while (Date.now() < end) {
      const s = seeds[r(seeds.length)] as Uint8Array;
      const o = seeds[r(seeds.length)] as Uint8Array;
      const m = t.text === true ? mutateText(s, o, r) : mutateBytes(s, o, r);
      writeFileSync(input, m);
      writeFileSync(current, m);
      const res = await t.run(input, work);
      runs++;
      const rss = process.memoryUsage().rss;
      maxRss = Math.max(maxRss, rss);
      if (res !== undefined || rss > limit) {
        findings++;
        const tag = `${name}-${res === undefined ? 'rss' : res.kind}-${runs}`;
        writeFileSync(join(out, `${tag}.input`), m);
        writeFileSync(join(out, `${tag}.txt`), res === undefined ? `resident set ${rss} bytes after this input\n` : `${res.detail}\n`);
        send({ finding: tag });
        if (rss > limit) break;
      }
      if (runs % 20 === 0) send({ runs, maxRss });
    }
    send({ done: true, runs, findings, maxRss });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Parent: the targets one after the other, each under a watchdog.

interface Report {
  name: string;
  runs: number;
  findings: string[];
  hangs: number;
  maxRss: number;
  baseline: number;
}

function runChild(t: string, seconds: number, seed: number, out: string): Promise<Report> {
  return new Promise((resolveReport) => {
    const rep: Report = { name: t, runs: 0, findings: [], hangs: 0, maxRss: 0, baseline: 0 };
    const start = Date.now();
    const spawnOne = (left: number, runsBefore: number): void => {
      let last = Date.now();
      let hung = false;
      const p: ChildProcess = fork(
        fileURLToPath(import.meta.url),
        ['--child', t, '--seconds', String(left), '--seed', String(seed + rep.hangs), '--out', out],
        { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
      );
      const watch = setInterval(() => {
        if (Date.now() - last <= HANG_MS) return;
        // No progress for 10 s: keep the input, kill the child, go on with a fresh one.
        clearInterval(watch);
        hung = true;
        rep.hangs++;
        const cur = join(out, `${t}.current`);
        if (existsSync(cur)) cpSync(cur, join(out, `${t}-hang-${rep.hangs}.input`));
        rep.findings.push(`${t}-hang-${rep.hangs}`);
        p.kill('SIGKILL');
      }, 1000);
      p.on('message', (m: { runs?: number; maxRss?: number; finding?: string; baseline?: number }) => {
        last = Date.now();
        if (m.baseline !== undefined) rep.baseline = Math.max(rep.baseline, m.baseline);
        if (m.runs !== undefined) rep.runs = runsBefore + m.runs;
        if (m.maxRss !== undefined) rep.maxRss = Math.max(rep.maxRss, m.maxRss);
        if (m.finding !== undefined) rep.findings.push(m.finding);
      });
      p.on('exit', (code) => {
        clearInterval(watch);
        const left = seconds - (Date.now() - start) / 1000;
        if (hung && left > 1) return spawnOne(left, rep.runs);
        if (!hung && code !== 0) rep.findings.push(`${t}: the child exited ${code}`);
        resolveReport(rep);
      });
    };
    spawnOne(seconds, 0);
  });
}

async function parent(argv: readonly string[]): Promise<number> {
  const opt = (k: string): string | undefined => {
    const i = argv.indexOf(k);
    return i < 0 ? undefined : argv[i + 1];
  };
  const seconds = Number(opt('--seconds') ?? 60);
  const seed = Number(opt('--seed') ?? Date.now() % 0x7fffffff);
  const only = argv.flatMap((a, i) => (argv[i - 1] === '--target' ? [a] : []));
  const targets = TARGETS.filter((t) => only.length === 0 || only.includes(t.name));
  const out = opt('--out') ?? mkdtempSync(join(tmpdir(), 'rse-fuzz-out-'));
  mkdirSync(out, { recursive: true });
  const each = Math.max(1, seconds / targets.length);
  // The verifier's store: Debian's PostgreSQL when it is installed.
  let pg: { process: { kill(): boolean } } | undefined;
  if (targets.some((t) => t.name === 'verifier-http') && process.env.RSE_FUZZ_PG === undefined) {
    try {
      const { startPostgres } = await import('../test/postgres.ts');
      const started = await startPostgres();
      pg = started;
      process.env.RSE_FUZZ_PG = started.url;
    } catch {
      process.stdout.write('  (PostgreSQL not found: the verifier target uses the embedded SQLite store)\n');
    }
  }
  process.stdout.write(`rsekit fuzz: ${targets.length} targets, ${each.toFixed(1)} s each, seed ${seed}, findings in ${out}\n`);
  let bad = 0;
  for (const t of targets) {
    const r = await runChild(t.name, each, seed, out);
    const f = r.findings.length;
    bad += f;
    process.stdout.write(
      `  ${t.name.padEnd(18)} ${String(r.runs).padStart(7)} runs  ${f === 0 ? 'ok' : `${f} FINDINGS: ${r.findings.slice(0, 3).join(', ')}`}  max RSS ${(r.maxRss / 2 ** 20).toFixed(0)} MiB${r.baseline > RSS_LIMIT ? ` (NOTE: ${(r.baseline / 2 ** 20).toFixed(0)} MiB before any input, over the 512 MiB limit: held to baseline + 256 MiB)` : ''}\n`,
    );
  }
  pg?.process.kill();
  for (const f of readdirSync(out)) if (f.endsWith('.current')) rmSync(join(out, f));
  process.stdout.write(bad === 0 ? 'no internal error, hang or runaway memory\n' : `${bad} findings (inputs and details in ${out})\n`);
  return bad === 0 ? 0 : 1;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const get = (k: string): string => args[args.indexOf(k) + 1] as string;
  await child(args[1] as string, Number(get('--seconds')), Number(get('--seed')), get('--out'));
  process.exit(0);
} else process.exitCode = await parent(args);
