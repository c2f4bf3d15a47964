/**
 * `npm run bench`: rse against imgtool 2.4.0 (found on PATH) doing the same work in the same run,
 * and in-process SHA-256 against `openssl speed`. Figures against imgtool are medians of wall time
 * (ratios < 1 mean rse is faster); figures against `openssl speed` and the startup ratios are CPU
 * time against CPU time, the two sides interleaved round by round (bench/cpu.ts). Nothing here is a pass/fail test.
 *
 * Child processes run without NODE_EXTRA_CA_CERTS: a machine that sets it makes every node
 * process parse that CA bundle before running any code (tens of ms; rse makes no TLS connection
 * in what is timed). The bench measures and prints that cost when the variable is set, and runs
 * both tools on fresh output paths, so neither pays for freeing the previous run's file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { lmsSignerPool } from '../src/bl1/lms-key.ts';
import { bootDevice } from '../src/boot/chain.ts';
import { createDevice, powerOn, provisionFromValues, provisionRun } from '../src/boot/power-on.ts';
import { RseClient } from '../src/comms/client.ts';
import { RseServer } from '../src/comms/server.ts';
import { hash as facadeHash, loadKey } from '../src/crypto/index.ts';
import { bundleKey } from '../src/crypto/rse-keys.ts';
import { Device, DirStore, MemoryStore } from '../src/device/device.ts';
import { endorse } from '../src/endorse/endorse.ts';
import { deviceFacts } from '../src/endorse/identity.ts';
import { buildFlash } from '../src/flash/build.ts';
import { TP_MODE } from '../src/otp/lcm.ts';
import { HOST_IMAGE_SIGN_FLAGS } from '../src/profiles/host-signing.ts';
import { decodeBundle, encodeBundle } from '../src/provisioning/bundle.ts';
import { encodeRomBundle, romBundleInputs } from '../src/provisioning/rss17.ts';
import { cmInputs, dmInputs } from '../src/provisioning/values.ts';
import { childCpuMs, cpuMs, cpuMsAsync, interleaved, median, opensslRow } from './cpu.ts';
import { benchPkcs11 } from './pkcs11.ts';
import { benchRse23, benchRse23Runtime } from './rse23.ts';
import { benchVerifierStart, procUsage, serveVerifierProcess } from './verifier-start.ts';

const here = dirname(fileURLToPath(import.meta.url));
const rseBin = resolve(here, '../rse.cjs');
const work = mkdtempSync(join(tmpdir(), 'rsekit-bench-'));

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const extraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
const childEnv: NodeJS.ProcessEnv = { ...process.env };
delete childEnv.NODE_EXTRA_CA_CERTS;

function timeRun(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = childEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return ms;
}

/** The same bytes for the same name (copies of one image must agree where they are placed). */
const fixed = new Map<string, Uint8Array>();
function randomFor(name: string, size: number): Uint8Array {
  let b = fixed.get(name);
  if (b === undefined) {
    b = randomBytes(size);
    fixed.set(name, b);
  }
  return b;
}

const imgtool = which('imgtool');
const rse = (args: readonly string[]): [string, string[]] => [process.execPath, [rseBin, ...args]];

// Inputs and keys.
const p1k = join(work, 'p1k.bin');
const p16m = join(work, 'p16m.bin');
writeFileSync(p1k, randomBytes(1024));
writeFileSync(p16m, randomBytes(16 * 1024 * 1024));
const keys: Record<string, string> = {};
for (const t of ['rsa-3072', 'ed25519']) {
  keys[t] = join(work, `${t}.pem`);
  const [c, a] = rse(['keygen', '-t', t, '-k', keys[t] as string]);
  timeRun(c, a);
}

const RSE_FLAGS = [...HOST_IMAGE_SIGN_FLAGS, '-L', '0x70000000'];

interface Row {
  readonly what: string;
  readonly rseMs: number;
  readonly refMs: number | undefined;
}
const rows: Row[] = [];

/**
 * Times rse and the reference tool alternately, `runs` times each; medians. `outputs` are removed
 * before each round, so no run pays for freeing the previous one's file.
 */
function timePair(
  rseArgs: readonly string[],
  refBin: string | undefined,
  refArgs: readonly string[] | undefined,
  outputs: readonly string[],
  runs: number,
): { rseMs: number; refMs: number | undefined } {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const f of outputs) rmSync(f, { force: true });
    const [c, a] = rse(rseArgs);
    ours.push(timeRun(c, a));
    if (refBin !== undefined && refArgs !== undefined) theirs.push(timeRun(refBin, refArgs));
  }
  return { rseMs: median(ours), refMs: theirs.length > 0 ? median(theirs) : undefined };
}

function compare(what: string, rseArgs: string[], refArgs: string[], runs: number, outputs: readonly string[] = []): void {
  rows.push({ what, ...timePair(rseArgs, imgtool, refArgs, outputs, runs) });
}

for (const [label, input, slot, runs] of [
  ['1 KiB', p1k, '0x80000', 11],
  ['16 MiB', p16m, '0x1200000', 9],
] as const) {
  for (const t of ['rsa-3072', 'ed25519']) {
    const key = keys[t] as string;
    const outR = join(work, `r-${t}-${label}.bin`);
    const outI = join(work, `i-${t}-${label}.bin`);
    const args = (out: string): string[] => ['sign', '-k', key, ...RSE_FLAGS, '-S', slot, input, out];
    compare(`sign ${t} ${label}`, args(outR), args(outI), runs, [outR, outI]);
    if (imgtool !== undefined && !readFileSync(outR).equals(readFileSync(outI)) && t === 'ed25519')
      throw new Error(`rse sign and imgtool made different ${t} ${label} images`);
    compare(`verify ${t} ${label}`, ['verify', '-k', key, outR], ['verify', '-k', key, imgtool === undefined ? outR : outI], runs);
  }
}

// Flash tools: FIP packing against Debian's fiptool, placement against srec_cat.
interface ToolRow {
  readonly what: string;
  readonly ref: string;
  readonly rseMs: number;
  readonly refMs: number | undefined;
  readonly target?: number;
}
const toolRows: ToolRow[] = [];
function compareTool(
  what: string,
  ref: string,
  rseArgs: string[],
  refArgs: string[],
  outputs: string[],
  runs: number,
  target?: number,
): void {
  toolRows.push({ what, ref, ...timePair(rseArgs, which(ref), refArgs, outputs, runs), ...(target === undefined ? {} : { target }) });
}
const fipImages = ['tb-fw', 'soc-fw', 'nt-fw', 'tos-fw'].flatMap((name, i) => {
  const f = join(work, `fip${i}.bin`);
  writeFileSync(f, randomBytes(16 * 1024 * 1024));
  return [`--${name}`, f];
});
const [rFip, fFip] = [join(work, 'r.fip'), join(work, 'f.fip')];
compareTool(
  'fip create 4x16 MiB',
  'fiptool',
  ['fip', 'create', '--align', '8192', ...fipImages, rFip],
  ['create', '--align', '8192', ...fipImages, fFip],
  [rFip, fFip],
  9,
  1.5,
);
const [cmpA, cmpB] = [readFileSync(rFip), which('fiptool') === undefined ? readFileSync(rFip) : readFileSync(fFip)];
if (!cmpA.equals(cmpB)) throw new Error('rse fip and fiptool made different FIPs');
compareTool('fip info 4x16 MiB', 'fiptool', ['fip', 'info', rFip], ['info', rFip], [], 9);
const flashParts: [string, number, number][] = [
  ['bl2', 0x11170, 0x0],
  ['bl2', 0x11170, 0x20000],
  ['s_ns', 300000, 0x40000],
  ['s_ns', 300000, 0x140000],
  ['ap', 40000, 0x240000],
  ['scp', 30000, 0x2c0000],
  ['ap', 40000, 0x340000],
  ['scp', 30000, 0x3c0000],
];
const srecArgs: string[] = [];
for (const [name, size, off] of flashParts) {
  const f = join(work, `${name}.bin`);
  writeFileSync(f, randomFor(name, size));
  srecArgs.push(f, '-Binary', '-offset', `0x${off.toString(16)}`);
}
const [rFlash, sFlash] = [join(work, 'r-flash.bin'), join(work, 's-flash.bin')];
compareTool(
  'layout RSS flash (3.8 MiB)',
  'srec_cat',
  ['layout', ...srecArgs, '-o', rFlash, '-Binary'],
  [...srecArgs, '-o', sFlash, '-Binary'],
  [rFlash, sFlash],
  9,
);
if (which('srec_cat') !== undefined && !readFileSync(rFlash).equals(readFileSync(sFlash)))
  throw new Error('rse layout and srec_cat made different images');

// The floor: a bare Node process that initialises OpenSSL and hashes 1 byte.
const floorRuns: number[] = [];
for (let i = 0; i < 9; i++)
  floorRuns.push(timeRun(process.execPath, ['-e', "require('node:crypto').createHash('sha256').update('x').digest()"]));
const floorMs = median(floorRuns);
// What NODE_EXTRA_CA_CERTS costs every node process on this machine, when it is set.
let caCostMs: number | undefined;
if (extraCaCerts !== undefined) {
  const withCa: number[] = [];
  for (let i = 0; i < 9; i++)
    withCa.push(timeRun(process.execPath, ['-e', "require('node:crypto').createHash('sha256').update('x').digest()"], process.env));
  caCostMs = median(withCa) - floorMs;
}

// Hashing: in-process SHA-256 over 16 MiB in 1 MiB updates vs `openssl speed -evp sha256` (16 KiB
// blocks), CPU time against CPU time, round by round.
const buf = randomBytes(16 * 1024 * 1024);
const opensslSha = (): number | undefined => {
  const k = opensslRow(['-bytes', '16384', '-evp', 'sha256'], /^sha256\s/i)?.at(-1);
  return k === undefined ? undefined : k / 1e6;
};
const sha = await interleaved(
  5,
  async () => {
    let n = 0;
    const ms = cpuMs(() => {
      for (let r = 0; r < 4; r++) {
        const h = createHash('sha256');
        for (let off = 0; off < buf.length; off += 1 << 20) h.update(buf.subarray(off, off + (1 << 20)));
        h.digest();
        n += buf.length;
      }
    });
    return { units: n / 1e6, cpuMs: ms };
  },
  opensslSha,
);

// Provisioning: both bundles on a fresh device, in memory and on disk (durable atomic OTP writes),
// a cold boot's OTP init on a provisioned device, and the share of AES-CCM + KDF work in it.
const noFile = (p: string): Uint8Array => {
  throw new Error(p);
};
const zeroKrtl = new Uint8Array(32);
const cmKey = bundleKey('CM', TP_MODE.TCI, zeroKrtl);
const dmKey = bundleKey('DM', TP_MODE.TCI, zeroKrtl);
const cmBundle = encodeBundle('cm', cmKey, cmInputs({}, noFile));
const dmBundle = encodeBundle('dm', dmKey, dmInputs({}, noFile));
const timeMs = (f: () => void): number => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const provMem: number[] = [];
const provDisk: number[] = [];
const boots: number[] = [];
const cryptoMs: number[] = [];
for (let i = 0; i < 15; i++) {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rse-2.1' });
  provMem.push(timeMs(() => provisionRun(Device.open(store), { cm: cmBundle, dm: dmBundle })));
  const dev = Device.open(store);
  boots.push(timeMs(() => powerOn(dev)));
  cryptoMs.push(
    timeMs(() => {
      decodeBundle('cm', bundleKey('CM', TP_MODE.TCI, zeroKrtl), cmBundle);
      decodeBundle('dm', bundleKey('DM', TP_MODE.TCI, zeroKrtl), dmBundle);
    }),
  );
  if (i < 5) {
    const dir = mkdtempSync(join(work, 'dev-'));
    createDevice(new DirStore(dir), { profile: 'rse-2.1' });
    provDisk.push(timeMs(() => provisionRun(Device.open(new DirStore(dir)), { cm: cmBundle, dm: dmBundle })));
  }
}
const romBundle17 = encodeRomBundle(romBundleInputs({}, noFile));
const prov17: number[] = [];
for (let i = 0; i < 15; i++) {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rss-1.7' });
  prov17.push(timeMs(() => provisionRun(Device.open(store), { romBundle: romBundle17 })));
}
// Cold boot of the rse-2.1 example (BL1_1 → BL1_2 → BL2 with 4 images): in-process on a fresh clone
// of a provisioned device, and as a CLI process on a device directory (vs the bare-node floor).
const examplesDir = join(work, 'examples');
cpSync(resolve(here, '../../examples'), examplesDir, { recursive: true });
const exDir = join(examplesDir, 'rse-2.1');
const lms = lmsSignerPool(randomBytes);
const exBuild = buildFlash(parseYaml(readFileSync(join(exDir, 'platform.yaml'), 'utf8')), {
  readFile: (p) => new Uint8Array(readFileSync(join(exDir, p))),
  readKey: (p) => loadKey(new Uint8Array(readFileSync(join(exDir, p)))),
  lmsSign: (p, msg) => lms(join(exDir, p), msg),
});
const exValues = parseYaml(readFileSync(join(exDir, 'provisioning.yaml'), 'utf8')) as unknown;
const exRead = (p: string): Uint8Array => new Uint8Array(readFileSync(join(exDir, p)));
const exStore = new MemoryStore();
if (!provisionFromValues(createDevice(exStore, { profile: 'rse-2.1' }), exValues, exRead).ok)
  throw new Error('provisioning the example failed');
exStore.write('flash.bin', exBuild.hostFlash as Uint8Array);
const bootMs: number[] = [];
const stageMs: Record<string, number[]> = { BL1_1: [], BL1_2: [], BL2: [] };
for (let i = 0; i < 15; i++) {
  const dev = Device.open(exStore.clone());
  let rep: ReturnType<typeof bootDevice> | undefined;
  bootMs.push(timeMs(() => (rep = bootDevice(dev))));
  if (rep === undefined || !rep.ok) throw new Error(`the example does not boot: ${rep?.halt?.reason}`);
  for (const st of rep.stages) stageMs[st.stage]?.push(st.ms);
}
const cliDev = join(work, 'boot-dev');
mkdirSync(cliDev);
{
  const ds = new DirStore(cliDev);
  for (const [name, data] of exStore.files) ds.write(name, data);
}
const cliBoot: number[] = [];
for (let i = 0; i < 9; i++) cliBoot.push(timeRun(process.execPath, [rseBin, 'boot', cliDev]));
// Image hashing as BL2 does it (the crypto facade, one 512 KiB host-image slot at a time), CPU
// time against openssl's, round by round.
const slotBuf = randomBytes(512 * 1024);
const imageHash = await interleaved(
  5,
  async () => ({
    units: (64 * slotBuf.length) / 1e6,
    cpuMs: cpuMs(() => {
      for (let k = 0; k < 64; k++) facadeHash('sha256', slotBuf);
    }),
  }),
  opensslSha,
);
// `rse --help` and `--version` against a bare `node -e 0`: CPU time of the whole process, interleaved.
const startup = { node: [] as number[], help: [] as number[], version: [] as number[] };
for (let i = 0; i < 11; i++) {
  startup.node.push(childCpuMs(process.execPath, ['-e', '0'], childEnv));
  startup.help.push(childCpuMs(process.execPath, [rseBin, '--help'], childEnv));
  startup.version.push(childCpuMs(process.execPath, [rseBin, '--version'], childEnv));
}
const bootRow = {
  first: bootMs[0] as number,
  mem: median(bootMs.slice(1)),
  cli: median(cliBoot),
  bl1_1: median(stageMs.BL1_1 as number[]),
  bl1_2: median(stageMs.BL1_2 as number[]),
  bl2: median(stageMs.BL2 as number[]),
};

const provRow = { mem: median(provMem), disk: median(provDisk), boot: median(boots), crypto: median(cryptoMs), rss17: median(prov17) };

const rse23Section =
  benchRse23(rse, work, childEnv) +
  (await benchRse23Runtime(join(work, 'examples', 'rse-2.3'), work)) +
  benchPkcs11(rseBin, work, childEnv);

rmSync(work, { recursive: true, force: true });

const fmt = (n: number): string => n.toFixed(1).padStart(8);
process.stdout.write(`rsekit bench (node ${process.version}); reference: ${imgtool ?? 'imgtool not found on PATH: ratios skipped'}\n\n`);
process.stdout.write(`${'case'.padEnd(26)}${'rse ms'.padStart(8)}${'imgtool'.padStart(9)}  ratio (target)\n`);
for (const r of rows) {
  const target = r.what.endsWith('16 MiB') ? 0.4 : 0.5;
  const ratio = r.refMs === undefined ? '     -' : (r.rseMs / r.refMs).toFixed(2).padStart(6);
  process.stdout.write(
    `${r.what.padEnd(26)}${fmt(r.rseMs)} ${r.refMs === undefined ? '       -' : fmt(r.refMs)}  ${ratio} (<= ${target})\n`,
  );
}
process.stdout.write(`\n${'case'.padEnd(30)}${'rse ms'.padStart(8)}${'ref ms'.padStart(9)}  ratio (target)  reference\n`);
for (const r of toolRows) {
  const ratio = r.refMs === undefined ? '     -' : (r.rseMs / r.refMs).toFixed(2).padStart(6);
  process.stdout.write(
    `${r.what.padEnd(30)}${fmt(r.rseMs)} ${r.refMs === undefined ? '       -' : fmt(r.refMs)}  ${ratio}${r.target === undefined ? '         ' : ` (<= ${r.target})`}  ${r.refMs === undefined ? `${r.ref} not found` : r.ref}\n`,
  );
}
const fipRow = toolRows.find((r) => r.what.startsWith('fip create'));
if (fipRow?.refMs !== undefined) {
  process.stdout.write(`(the bare-node floor alone is ${(floorMs / fipRow.refMs).toFixed(2)}x fiptool's whole 4x16 MiB create)\n`);
}
process.stdout.write(
  `\nprovisioning (rse-2.1, dummy CM + DM bundles, 41 OTP program operations):\n` +
    `  in memory ${provRow.mem.toFixed(1)} ms; on disk with a durable atomic write per OTP program ${provRow.disk.toFixed(1)} ms\n` +
    `  AES-256-CCM decryption of both bundles + both provisioning-key KDFs: ${provRow.crypto.toFixed(2)} ms = ${((100 * provRow.crypto) / provRow.mem).toFixed(0)}% of the in-memory run\n` +
    `  cold boot of a provisioned device (LCM init + OTP integrity check): ${provRow.boot.toFixed(2)} ms\n` +
    `provisioning (rss-1.7, ROM bundle + BL2 and TF-M stages, 45 OTP program operations, in memory): ${provRow.rss17.toFixed(1)} ms\n`,
);
const ed1k = rows.find((r) => r.what === 'sign ed25519 1 KiB');
process.stdout.write(
  `\nfloor: bare node + OpenSSL init ${floorMs.toFixed(1)} ms${
    ed1k?.refMs === undefined ? '' : ` = ${(floorMs / ed1k.refMs).toFixed(2)}x imgtool's Ed25519 1 KiB sign`
  }\n`,
);
if (caCostMs !== undefined) {
  process.stdout.write(
    `NODE_EXTRA_CA_CERTS=${extraCaCerts} is set here: it adds ${caCostMs.toFixed(1)} ms to every node start (left out of the timed runs)\n`,
  );
}
process.stdout.write(
  `\ncold boot of the rse-2.1 example (BL1_1 → BL1_2 → BL2, 4 images RAM-loaded, measured):\n` +
    `  in-process, first in this process ${bootRow.first.toFixed(1)} ms; warm (median of the next 14) ${bootRow.mem.toFixed(1)} ms (BL1_1 ${bootRow.bl1_1.toFixed(2)}, BL1_2 ${bootRow.bl1_2.toFixed(2)} (LMS verify), BL2 ${bootRow.bl2.toFixed(2)})\n` +
    `  as a CLI process (rse boot DIR, on disk; every run a first boot) ${bootRow.cli.toFixed(1)} ms = ${(bootRow.cli / floorMs).toFixed(2)}x the bare-node floor\n` +
    `image hashing as BL2 does it (SHA-256, 512 KiB slots) ${imageHash.ours.toFixed(0)} MB per CPU s${
      imageHash.ratio === undefined
        ? ''
        : `; vs openssl speed -evp sha256 (CPU time, interleaved) ${imageHash.ratio.toFixed(2)} (target >= 0.8)`
    }\n`,
);
process.stdout.write(
  `SHA-256 in-process ${sha.ours.toFixed(0)} MB per CPU s; openssl speed -evp sha256 (16 KiB) ${sha.theirs === undefined ? 'unavailable' : `${sha.theirs.toFixed(0)} MB per CPU s; ratio ${(sha.ratio ?? 0).toFixed(2)}, median of 5 interleaved rounds (target >= 0.8)`}\n`,
);
process.stdout.write(
  `startup, CPU time of the whole process (median of 11 interleaved runs): node -e 0 ${median(startup.node).toFixed(0)} ms, ` +
    `rse --help ${median(startup.help).toFixed(0)} ms (${(median(startup.help) / median(startup.node)).toFixed(2)}x), ` +
    `rse --version ${median(startup.version).toFixed(0)} ms (${(median(startup.version) / median(startup.node)).toFixed(2)}x) (target <= 1.5x)\n`,
);

/** The nonce the verifier section's sessions use; the device's token is made for it. */
const VERIFIER_NONCE = new Uint8Array(48).map((_, i) => (i * 11 + 3) & 0xff);
let deviceToken: Uint8Array | undefined;

// Runtime services over a Unix socket: sequential calls from one client (latency) for a
// measured-boot read and a platform token, the token rate against openssl's ECDSA P-384 signing.
{
  const sockDir = mkdtempSync(join(tmpdir(), 'rsekit-bench-sock-'));
  const server = new RseServer(Device.open(exStore.clone()));
  if (!server.boot().ok) throw new Error('the example does not boot');
  const path = join(sockDir, 'rse.sock');
  await server.listen({ path });
  const client = await RseClient.connect({ path });
  const lat = async (n: number, f: () => Promise<{ status: number }>): Promise<{ perSec: number; p50: number; p99: number }> => {
    for (let i = 0; i < 20; i++) await f();
    const ts: number[] = [];
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const a = process.hrtime.bigint();
      const r = await f();
      if (r.status !== 0) throw new Error(`call failed: ${r.status}`);
      ts.push(Number(process.hrtime.bigint() - a) / 1e6);
    }
    const total = Number(process.hrtime.bigint() - t) / 1e9;
    ts.sort((x, y) => x - y);
    return { perSec: n / total, p50: ts[Math.floor(n / 2)] as number, p99: ts[Math.floor(n * 0.99)] as number };
  };
  const mb = await lat(3000, () => client.measuredBootRead(2));
  const challenge = new Uint8Array(32).fill(1);
  const tok = await lat(400, () => client.attestationToken(challenge));
  // The token rate in CPU time (client and server share this process) against openssl's P-384
  // signing in CPU time, round by round.
  const tokCpu = await interleaved(
    5,
    async () => {
      const ms = await cpuMsAsync(async () => {
        for (let i = 0; i < 60; i++) await client.attestationToken(challenge);
      });
      return { units: 60, cpuMs: ms };
    },
    () => opensslRow(['ecdsap384'], /384 bits ecdsa/i)?.at(-2),
  );
  const fresh = await client.attestationToken(VERIFIER_NONCE);
  if (fresh.status !== 0) throw new Error(`token for the verifier section: status ${fresh.status}`);
  deviceToken = fresh.outVecs[0];
  client.close();
  await server.close();
  rmSync(sockDir, { recursive: true, force: true });
  const signPerSec = tokCpu.theirs;
  process.stdout.write(
    `\nruntime services over a Unix socket (one client, sequential calls):\n` +
      `  measured-boot read  ${mb.perSec.toFixed(0)} calls/s, p50 ${mb.p50.toFixed(3)} ms, p99 ${mb.p99.toFixed(3)} ms\n` +
      `  platform token      ${tok.perSec.toFixed(0)} calls/s, p50 ${tok.p50.toFixed(3)} ms, p99 ${tok.p99.toFixed(3)} ms` +
      (signPerSec === undefined
        ? '; openssl speed ecdsap384 unavailable\n'
        : `\n  platform tokens per CPU second ${tokCpu.ours.toFixed(0)} (client and server); openssl speed ecdsap384 ${signPerSec.toFixed(0)} signs per CPU s; ratio ${(tokCpu.ratio ?? 0).toFixed(2)}, median of 5 interleaved rounds (target >= 0.7)\n`),
  );
}

// `rse serve` under abuse (issue 25): its own process; 32 good clients' measured-boot reads, p50
// and p99, alone and then beside 1,500 half-open connections (each holding 48 KiB of a declared
// 1 MiB frame) and 50 slow senders, in the same run; the server's peak RSS after.
{
  const dir = mkdtempSync(join(tmpdir(), 'rsekit-bench-abuse-'));
  const store = new DirStore(join(dir, 'dev'));
  mkdirSync(join(dir, 'dev'));
  for (const [name, bytes] of exStore.files) store.write(name, bytes);
  const path = join(dir, 'rse.sock');
  const [node, args] = rse(['serve', join(dir, 'dev'), '--socket', path, '--frame-timeout', '60000']);
  const proc = spawn(node, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  for (let i = 0; i < 200 && !out.includes('serving'); i++) await new Promise((r) => setTimeout(r, 50));
  const good = async (): Promise<number[]> => {
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        const c = await RseClient.connect({ path });
        // Paced as a host's callers are (a call every 5 ms each: 6,400 calls/s offered in all).
        for (let i = 0; i < 300; i++) {
          await new Promise((r) => setTimeout(r, 5));
          const a = process.hrtime.bigint();
          const r = await c.measuredBootRead(2);
          if (r.status !== 0) throw new Error(`measured-boot read under abuse: ${r.status}`);
          if (i >= 20) lat.push(Number(process.hrtime.bigint() - a) / 1e6);
        }
        c.close();
      }),
    );
    return lat.sort((x, y) => x - y);
  };
  const q = (xs: number[], p: number): string => (xs[Math.floor((xs.length - 1) * p)] as number).toFixed(2);
  const alone = await good();
  const attackers: Socket[] = [];
  const header = Buffer.alloc(4);
  header.writeUInt32LE(0x100000);
  for (let i = 0; i < 1500; i++) {
    const a = netConnect(path);
    a.on('error', () => undefined);
    a.write(Buffer.concat([header, Buffer.alloc(48 * 1024)]));
    attackers.push(a);
  }
  const drips = Array.from({ length: 50 }, () => {
    const a = netConnect(path);
    a.on('error', () => undefined);
    attackers.push(a);
    return setInterval(() => a.write(Uint8Array.of(1)), 100);
  });
  await new Promise((r) => setTimeout(r, 1000));
  const attacked = await good();
  const ctl = await RseClient.connect({ path });
  const st = (await ctl.control({ cmd: 'state' })) as { maxRssBytes: number; connections: number; bufferedBytes: number };
  ctl.close();
  for (const d of drips) clearInterval(d);
  for (const a of attackers) a.destroy();
  proc.kill();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `\nrse serve under abuse (its own process, 32 clients × 280 measured-boot reads, one every 5 ms each):\n` +
      `  alone                          p50 ${q(alone, 0.5)} ms, p99 ${q(alone, 0.99)} ms\n` +
      `  beside 1,500 half-open + 50 slow senders  p50 ${q(attacked, 0.5)} ms, p99 ${q(attacked, 0.99)} ms (target p99 < 10 ms); ` +
      `${st.connections} connections open, ${(st.bufferedBytes / 2 ** 20).toFixed(1)} MiB of partial frames held (budget 64), server peak RSS ${(st.maxRssBytes / 2 ** 20).toFixed(0)} MiB\n`,
  );
}

// The verifier: CCA collections (ES384 platform and realm, TF-M tools' example token) decoded and
// verified in process, against openssl's ECDSA P-384 verification; then appraisals over HTTP
// (newSession + evidence, SQLite in memory) of the example device's token against rse endorse.
{
  const vectors = resolve(here, '../../../shared/vectors/attestation');
  const tokenPath = join(vectors, 'cca/tfm-tools/cca_example_token.cbor');
  let line = 'CCA collection verification: ../shared/vectors not found\n';
  try {
    readFileSync(tokenPath);
    // Two P-384 verifications per collection, per CPU second, against openssl's, round by round;
    // ours in a fresh process each round (bench/token-verify.ts), 1,000 collections after a warm-up.
    const v = await interleaved(
      5,
      async () => {
        const r = spawnSync(
          process.execPath,
          [join(here, 'token-verify.js'), tokenPath, join(vectors, 'cca/tfm-tools/cca_platform.pem'), '1000'],
          { encoding: 'utf8', env: childEnv },
        );
        if (r.status !== 0) throw new Error(`token-verify.js failed: ${r.stderr}`);
        return JSON.parse(r.stdout) as { units: number; cpuMs: number };
      },
      () => opensslRow(['ecdsap384'], /384 bits ecdsa/i)?.at(-1),
    );
    line =
      `CCA collection (ES384 platform + ES384 realm + binding) decoded and verified: ${(v.ours / 2).toFixed(0)} tokens per CPU s` +
      (v.theirs === undefined
        ? '; openssl speed ecdsap384 unavailable\n'
        : ` = ${v.ours.toFixed(0)} P-384 verifications per CPU s; openssl speed ecdsap384 ${v.theirs.toFixed(0)} verify per CPU s; ratio ${(v.ratio ?? 0).toFixed(2)}, median of 5 interleaved rounds\n`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // The verifier in its own process, as a relying party meets it; this process is the clients.
  const token = randomBytes(24).toString('hex');
  const tokenDir = mkdtempSync(join(tmpdir(), 'rsekit-verifier-'));
  const tokenFile = join(tokenDir, 'tokens');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const served = await serveVerifierProcess(rseBin, ['--auth-tokens', tokenFile], childEnv);
  const base = served.base;
  const corim = endorse(exBuild.manifest, deviceFacts(Device.open(exStore.clone()))).corim;
  const sub = await fetch(`${base}/endorsement-provisioning/v1/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/rim+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0"', authorization: `Bearer ${token}` },
    body: corim,
  });
  if (sub.status !== 200) throw new Error(`provisioning failed: ${sub.status} ${await sub.text()}`);
  const evidence = deviceToken as Uint8Array;
  const nonce = Buffer.from(VERIFIER_NONCE).toString('base64url');
  const appraisal = async (): Promise<void> => {
    const s = await fetch(`${base}/challenge-response/v1/newSession?nonce=${nonce}`, { method: 'POST' });
    const loc = s.headers.get('location');
    await s.arrayBuffer();
    const r = await fetch(`${base}/challenge-response/v1/${loc}`, {
      method: 'POST',
      headers: { 'content-type': 'application/eat+cwt; eat_profile="tag:arm.com,2023:cca_platform#1.0.0"' },
      body: evidence,
    });
    const j = (await r.json()) as { status?: string; result?: string };
    if (j.status !== 'complete' || j.result === undefined) throw new Error(`appraisal failed: ${JSON.stringify(j)}`);
    const ear = JSON.parse(Buffer.from(j.result.split('.')[1] as string, 'base64url').toString()) as {
      submods: Record<string, { 'ear.status': string }>;
    };
    if (ear.submods.CCA_SSD_PLATFORM?.['ear.status'] !== 'affirming') throw new Error(`not affirming: ${JSON.stringify(ear)}`);
  };
  const rate = async (clients: number, seconds: number): Promise<{ rate: number; p50: number; p95: number; count: number }> => {
    const lat: number[] = [];
    const end = Date.now() + seconds * 1000;
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (Date.now() < end) {
          const a = process.hrtime.bigint();
          await appraisal();
          lat.push(Number(process.hrtime.bigint() - a) / 1e6);
        }
      }),
    );
    lat.sort((x, y) => x - y);
    const q = (f: number): number => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] as number;
    return { rate: lat.length / (Number(process.hrtime.bigint() - t) / 1e9), p50: q(0.5), p95: q(0.95), count: lat.length };
  };
  await rate(1, 0.5);
  const cpu0 = procUsage(served.process.pid as number).cpuMs;
  const seq = await rate(1, 3);
  const par = await rate(8, 3);
  const serverCpu = procUsage(served.process.pid as number).cpuMs - cpu0;
  const served1 = procUsage(served.process.pid as number).rssMiB;
  await new Promise((r) => {
    served.process.once('exit', r);
    served.process.kill('SIGTERM');
  });
  rmSync(tokenDir, { recursive: true, force: true });
  const starts = await benchVerifierStart(rseBin, childEnv);
  const fmt = (r: { rate: number; p50: number; p95: number }, who: string): string =>
    `${r.rate.toFixed(0)}/s ${who} (p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms)`;
  process.stdout.write(
    `\nverifier:\n  ${line}` +
      `  HTTP appraisals (newSession + CCA platform token ES384 → EAR JWT; rse verifier serve in its own process, SQLite in memory; affirming): ` +
      `${fmt(seq, 'one client')}, ${fmt(par, 'eight clients')} (goal: >= 200/s, p95 < 100 ms); ` +
      `server ${(serverCpu / (seq.count + par.count)).toFixed(2)} CPU ms per appraisal, ${served1.toFixed(0)} MiB resident after\n` +
      starts,
  );
}

process.stdout.write(rse23Section);
