/**
 * `npm run bench`, the `rse-2.3` section: provisioning a TF-M 2.3.1 device end to end with its CM
 * and DM messages (in process, and as `rse provision run` on a device directory) and `rse bl1
 * sign --profile rse-2.3` with a cached LMS tree, each as CPU time against the machine's limit
 * for the same cryptography, measured by `openssl speed` (CPU time) in the same run, the two
 * interleaved round by round. Medians of 7 rounds, after 25 warm-up provisionings.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { lmsSignerPool } from '../src/bl1/lms-key.ts';
import { bootDevice } from '../src/boot/chain.ts';
import { createDevice, provisionRun } from '../src/boot/power-on.ts';
import { RseClient } from '../src/comms/client.ts';
import { RseServer } from '../src/comms/server.ts';
import { generateKey, loadKey, rawPublicKey } from '../src/crypto/index.ts';
import { Device, MemoryStore } from '../src/device/device.ts';
import { buildFlash } from '../src/flash/build.ts';
import { RSE_2_3 } from '../src/profiles/index.ts';
import { buildProvisioningMessage, type MessageSpec } from '../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../src/provisioning/messages-rom.ts';
import { placeholderBl1_2 } from '../src/provisioning/values.ts';
import { cmValues23, dmValues23 } from '../src/provisioning/values-2.3-yaml.ts';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** CPU milliseconds (user + system) of `f` in this process. */
function cpuMs(f: () => void): number {
  const a = process.cpuUsage();
  f();
  const d = process.cpuUsage(a);
  return (d.user + d.system) / 1000;
}

/** CPU milliseconds of a child (bash's `time`: user + sys). */
function childCpuMs(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const quoted = [cmd, ...args].map((x) => `'${x.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; { time ${quoted} >/dev/null 2>/dev/null ; } 2>&1`], { encoding: 'utf8', env });
  const [u, s] = r.stdout.trim().split(/\s+/).map(Number);
  if (r.status !== 0 || u === undefined || s === undefined || Number.isNaN(u)) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return (u + s) * 1000;
}

/** The last lines of `openssl speed` (CPU time by default) for one algorithm, or undefined. */
function opensslSpeed(args: readonly string[]): string | undefined {
  const r = spawnSync('openssl', ['speed', '-seconds', '1', ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}
/** ECDSA P-256 signatures and verifications per CPU second. */
const ecdsaP256 = (): { sign: number; verify: number } | undefined => {
  const nums = opensslSpeed(['ecdsap256'])
    ?.split('\n')
    .find((l) => /256 bits ecdsa/i.test(l))
    ?.trim()
    .split(/\s+/)
    .filter((x) => /^\d+(\.\d+)?$/.test(x));
  return nums === undefined || nums.length < 2 ? undefined : { sign: Number(nums[nums.length - 2]), verify: Number(nums[nums.length - 1]) };
};
/** SHA-256 compressions per CPU second from `openssl speed -bytes 64 sha256` (one 64-byte block each). */
const sha256Blocks = (): number | undefined => {
  const k = opensslSpeed(['-bytes', '64', '-evp', 'sha256'])
    ?.split('\n')
    .find((l) => /^sha256\s/i.test(l.trim()))
    ?.trim()
    .split(/\s+/)
    .at(-1);
  return k?.endsWith('k') ? (Number(k.slice(0, -1)) * 1000) / 64 : undefined;
};

/** The rse-2.3 section; `rse` runs the CLI, `work` is a scratch directory. */
export function benchRse23(rse: (args: readonly string[]) => [string, string[]], work: string, env: NodeJS.ProcessEnv): string {
  const signer = generateKey('ecdsa-p256');
  const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);
  const spec = (flow: 'cm' | 'dm'): MessageSpec => ({
    flow,
    cm: {
      trngRoscSc: new Uint8Array(16),
      trngInUse: 0,
      entropyHighThreshold: 821,
      entropyRepetitionCount: 81,
      rotpks: [],
      dmaIcs: new Uint8Array(0),
      bl1_2: placeholderBl1_2(),
      bl1_2Hash: new Uint8Array(32),
    },
    dm: { rotpks: [] },
    cmSecrets: [key(1), key(2), key(3)],
    dmSecrets: [key(4), key(5)],
    tpMode: 'TCI',
    auth: { kind: 'ecdsa', key: signer },
    krtl: new Uint8Array(32),
    iv: new Uint8Array(8).fill(9),
  });
  const messages = [buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm'))];
  const rom = { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) };
  const dir = mkdtempSync(join(work, 'rse23-'));
  const files = messages.map((m, i) => {
    const p = join(dir, `${i}.bin`);
    writeFileSync(p, m);
    return p;
  });
  // The machine's floor for a provisioning: two ECDSA P-256 verifications and SHA-256 over both messages.
  const hashedBlocks = Math.ceil((messages[0] as Uint8Array).length / 64) + Math.ceil((messages[1] as Uint8Array).length / 64);
  const inProc: number[] = [];
  const cli: number[] = [];
  const floors: number[] = [];
  const sign: number[] = [];
  const signFloors: number[] = [];
  const lms = join(dir, 'lms');
  const [kc, ka] = rse(['lms', 'keygen', lms]);
  childCpuMs(kc, ka, env);
  const bl2 = join(dir, 'bl2.bin');
  writeFileSync(bl2, new Uint8Array(8192).fill(0x5a));
  writeFileSync(join(dir, 'kce.bin'), key(3));
  for (let warm = 0; warm < 25; warm++) {
    const store = new MemoryStore();
    createDevice(store, { profile: RSE_2_3, files: rom });
    provisionRun(Device.open(store), { messages });
  }
  for (let round = 0; round < 7; round++) {
    const ec = ecdsaP256();
    const sha = sha256Blocks();
    if (ec !== undefined && sha !== undefined) floors.push((2 / ec.verify + hashedBlocks / sha) * 1000);
    // LMOTS_SHA256_N32_W8 signing: 34 chains of 127.5 steps on average, then the message hashes.
    if (sha !== undefined) signFloors.push(((34 * 127.5 + 1100) / sha) * 1000);
    // 20 devices per round: one provisioning is a few milliseconds, below the timer's and GC's noise.
    inProc.push(
      cpuMs(() => {
        for (let i = 0; i < 20; i++) {
          const store = new MemoryStore();
          createDevice(store, { profile: RSE_2_3, files: rom });
          if (!provisionRun(Device.open(store), { messages }).ok) throw new Error('rse-2.3 provisioning failed');
        }
      }) / 20,
    );
    const devDir = join(dir, `dev${round}`);
    const [c1, a1] = rse(['device', 'create', devDir, '--profile', 'rse-2.3']);
    childCpuMs(c1, a1, env);
    for (const [name, bytes] of Object.entries(rom)) writeFileSync(join(devDir, name), bytes);
    const [c2, a2] = rse(['provision', 'run', devDir, '--message', ...files]);
    cli.push(childCpuMs(c2, a2, env));
    copyFileSync(bl2, join(dir, 'in.bin'));
    const [c3, a3] = rse([
      'bl1',
      'sign',
      '--profile',
      'rse-2.3',
      '-k',
      `${lms}.prv`,
      '--encrypt-key',
      join(dir, 'kce.bin'),
      join(dir, 'in.bin'),
      join(dir, `out${round}.bin`),
    ]);
    sign.push(childCpuMs(c3, a3, env));
    rmSync(devDir, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  const ratio = (x: number, floor: number[]): string =>
    floor.length === 0
      ? 'openssl speed unavailable'
      : `${(x / median(floor)).toFixed(1)}x the machine's floor of ${median(floor).toFixed(2)} ms`;
  return (
    `\nrse-2.3 (TF-M 2.3.1), CPU time, medians of 7 interleaved rounds with openssl speed:\n` +
    `  provision CM + DM messages in process (per device, 20 a round) ${median(inProc).toFixed(1)} ms CPU; ${ratio(median(inProc), floors)} (2 ECDSA P-256 verifications + SHA-256 of ${hashedBlocks} blocks)\n` +
    `  rse provision run (CLI, device on disk) ${median(cli).toFixed(1)} ms CPU; ${ratio(median(cli), floors)}\n` +
    `  rse bl1 sign --profile rse-2.3 (LMS, cached tree) ${median(sign).toFixed(1)} ms CPU; ${ratio(median(sign), signFloors)} (one LMOTS W8 signature)\n`
  );
}

/**
 * The rse-2.3 example at run time: its first cold boot in process (BL1_1 → BL1_2 v2 → BL2, which
 * checks signatures and binds the images) and its second (BL2 checks the binding tags), against
 * openssl speed's P-256 verification, round by round; then the
 * runtime served on a Unix socket, the same measured-boot read called over SFCP and over the
 * legacy RSE comms messages, in alternating batches: calls per second, p50 and p99.
 */
export async function benchRse23Runtime(exDir: string, work: string): Promise<string> {
  const read = (p: string): Uint8Array => new Uint8Array(readFileSync(join(exDir, p)));
  const lms = lmsSignerPool((n) => new Uint8Array(randomBytes(n)));
  const build = buildFlash(parseYaml(readFileSync(join(exDir, 'platform.yaml'), 'utf8')), {
    readFile: read,
    readKey: (p) => loadKey(read(p)),
    lmsSign: (p, msg) => lms(join(exDir, p), msg),
  });
  const values = parseYaml(readFileSync(join(exDir, 'provisioning.yaml'), 'utf8')) as unknown;
  const key = loadKey(read('../keys/root-EC-P256.pem'));
  const store = new MemoryStore();
  // The example is a MCUBOOT_IMAGE_BINDING build.
  const dev = createDevice(store, {
    profile: RSE_2_3,
    imageBinding: true,
    files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(key).subarray(1) },
  });
  const base = { tpMode: 'TCI' as const, auth: { kind: 'ecdsa' as const, key }, krtl: new Uint8Array(32), iv: new Uint8Array(8) };
  const cm = cmValues23(values, read);
  const dm = dmValues23(values, read);
  const messages = [
    buildProvisioningMessage({ ...base, flow: 'cm', cm: cm.values, cmSecrets: cm.secrets }),
    buildProvisioningMessage({ ...base, flow: 'dm', dm: dm.values, dmSecrets: dm.secrets }),
  ];
  if (!provisionRun(dev, { messages }).ok) throw new Error('provisioning the rse-2.3 example failed');
  store.write('flash.bin', build.hostFlash as Uint8Array);
  // First boots (signatures checked, images bound) and second boots (binding tags checked),
  // interleaved with openssl speed's P-256 verification rate, round by round.
  const bound = store.clone();
  if (!bootDevice(Device.open(bound)).ok) throw new Error('the rse-2.3 example does not boot');
  const boots: Record<'first' | 'second', number[]> = { first: [], second: [] };
  const bl2: Record<'first' | 'second', number[]> = { first: [], second: [] };
  const verifyMs: number[] = [];
  // A collection before each timed boot (npm run bench gives node --expose-gc): the 4 MiB flash
  // copies of the in-memory store otherwise land in whichever boot the collector picks.
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 15; i++) {
    for (const [which, from] of [
      ['first', store],
      ['second', bound],
    ] as const) {
      const d = Device.open(from.clone());
      gc?.();
      let r: ReturnType<typeof bootDevice> | undefined;
      boots[which].push(
        cpuMs(() => {
          r = bootDevice(d);
        }),
      );
      bl2[which].push(r?.stages.find((x) => x.stage === 'BL2')?.ms ?? Number.NaN);
      const by = r?.placed.map((p) => p.authenticatedBy) ?? [];
      if (r?.ok !== true || by.some((x) => x !== (which === 'first' ? 'signature' : 'binding-tag')))
        throw new Error(`the rse-2.3 example's ${which} boot does not behave: ${r?.halt?.reason ?? by.join(', ')}`);
    }
    const e = ecdsaP256();
    if (e !== undefined) verifyMs.push(1000 / e.verify);
  }
  const first = median(boots.first);
  const second = median(boots.second);
  const floor = verifyMs.length === 0 ? undefined : 4 * median(verifyMs);
  const server = new RseServer(Device.open(store.clone()));
  if (!server.boot().ok) throw new Error('the rse-2.3 example does not serve');
  const path = await server.listen({ path: join(mkdtempSync(join(work, 'sock-')), 'rse.sock') });
  const legacy = await RseClient.connect({ path });
  const sfcp = await RseClient.connect({ path }, { sfcp: { receiver: 0 } });
  const lat: Record<'legacy' | 'sfcp', number[]> = { legacy: [], sfcp: [] };
  const wall: Record<'legacy' | 'sfcp', number> = { legacy: 0, sfcp: 0 };
  for (let round = 0; round < 10; round++)
    for (const [name, c] of [
      ['legacy', legacy],
      ['sfcp', sfcp],
    ] as const) {
      const t = performance.now();
      for (let i = 0; i < 300; i++) {
        const a = performance.now();
        const r = await c.measuredBootRead(2);
        if (r.status !== 0) throw new Error(`measured-boot read over ${name}: ${r.status}`);
        if (round > 0) lat[name].push(performance.now() - a);
      }
      if (round > 0) wall[name] += performance.now() - t;
    }
  legacy.close();
  sfcp.close();
  await server.close();
  const row = (name: 'legacy' | 'sfcp'): string => {
    const xs = [...lat[name]].sort((a, b) => a - b);
    return `${((xs.length / wall[name]) * 1000).toFixed(0)} calls/s, p50 ${(xs[Math.floor(xs.length / 2)] as number).toFixed(3)} ms, p99 ${(xs[Math.floor(xs.length * 0.99)] as number).toFixed(3)} ms`;
  };
  return (
    `  first boot of the rse-2.3 example      ${first.toFixed(1)} ms CPU; its BL2 ${median(bl2.first).toFixed(1)} ms (4 signatures checked, 4 images bound, the 4 MiB flash image the binding programmed saved)\n` +
    `  second boot (binding tags)              ${second.toFixed(1)} ms CPU; its BL2 ${median(bl2.second).toFixed(1)} ms (4 CMAC tags checked instead of the signatures)\n` +
    `  reference: 4 P-256 verifications        ${floor === undefined ? 'openssl speed unavailable' : `${floor.toFixed(2)} ms CPU at openssl speed (what a bound boot no longer spends on signatures)`}\n` +
    `  measured-boot read over SFCP            ${row('sfcp')}\n` +
    `  measured-boot read over legacy comms    ${row('legacy')} (same socket and runtime, alternating batches of 300)\n`
  );
}
