/**
 * CPU time for the bench: of work in this process (process.cpuUsage), of a child process (bash's
 * `times`, which reports the children's user and system time), and `openssl speed` rates (CPU time
 * by default) measured round by round, interleaved with ours, so both sides share the machine's
 * state of the moment.
 */
import { spawnSync } from 'node:child_process';

/** CPU ms (user + system) this process spends in `f`. */
export function cpuMs(f: () => void): number {
  const a = process.cpuUsage();
  f();
  const d = process.cpuUsage(a);
  return (d.user + d.system) / 1000;
}

/** CPU ms (user + system) this process spends in `f`, which may await. */
export async function cpuMsAsync(f: () => Promise<void>): Promise<number> {
  const a = process.cpuUsage();
  await f();
  const d = process.cpuUsage(a);
  return (d.user + d.system) / 1000;
}

/** CPU ms (user + system) of one run of `cmd args` as a child, from bash's `times`. */
export function childCpuMs(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('bash', ['-c', `${quoted} >/dev/null 2>&1 || exit 99; times`], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  // times: the shell's user/sys, then its children's.
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const secs = [...last.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`times printed ${JSON.stringify(r.stdout)}`);
  return ((secs[0] ?? 0) + (secs[1] ?? 0)) * 1000;
}

/** One `openssl speed -seconds 1 ARGS` run: the numbers of the last row matching `row`, or undefined. */
export function opensslRow(args: readonly string[], row: RegExp): number[] | undefined {
  const r = spawnSync('openssl', ['speed', '-seconds', '1', ...args], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const line = r.stdout
    .split('\n')
    .filter((l) => row.test(l))
    .at(-1);
  const nums = line
    ?.trim()
    .split(/\s+/)
    .map((x) => (x.endsWith('k') ? Number(x.slice(0, -1)) * 1000 : Number(x)))
    .filter((x) => Number.isFinite(x));
  return nums === undefined || nums.length === 0 ? undefined : nums;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
};

/**
 * Our rate against openssl's, `rounds` times: each round measures ours (units per CPU second) and
 * then openssl's (its CPU-time rate); the result is the median of the per-round ratios.
 */
export async function interleaved(
  rounds: number,
  ours: () => Promise<{ units: number; cpuMs: number }>,
  theirs: () => number | undefined,
): Promise<{ ours: number; theirs: number | undefined; ratio: number | undefined }> {
  const o: number[] = [];
  const t: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await ours();
    const rate = r.units / (r.cpuMs / 1000);
    o.push(rate);
    const their = theirs();
    if (their !== undefined) {
      t.push(their);
      ratios.push(rate / their);
    }
  }
  return { ours: median(o), theirs: t.length === 0 ? undefined : median(t), ratio: ratios.length === 0 ? undefined : median(ratios) };
}
