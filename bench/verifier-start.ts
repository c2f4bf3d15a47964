/**
 * Issue 26's weight figures: how long `rse verifier serve` takes to listen and what it holds then,
 * on its embedded default (SQLite in memory) and on a data directory: wall time to the
 * "listening" line, the process's CPU time and resident set at that moment (from /proc), median of
 * three starts each.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './cpu.ts';

interface Start {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly rssMiB: number;
}

/** CPU ms (user + system) and resident MiB of a process, from /proc; NaN elsewhere. */
export function procUsage(pid: number): { cpuMs: number; rssMiB: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100, // utime + stime in clock ticks (100 Hz)
      rssMiB: Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024,
    };
  } catch {
    return { cpuMs: Number.NaN, rssMiB: Number.NaN }; // not Linux
  }
}

/** A started `rse verifier serve`: its base URL, process and the wall ms it took to listen. */
export interface ServedVerifier {
  readonly base: string;
  readonly process: ChildProcess;
  readonly wallMs: number;
}

/** Spawns `rse verifier serve --port 0 ARGS` and waits for its "listening" line. */
export function serveVerifierProcess(rseBin: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ServedVerifier> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(process.execPath, [rseBin, 'verifier', 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`verifier did not listen: ${seen}`));
    }, 60_000);
    p.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /listening on (\S+)/.exec(seen);
      if (m === null) return;
      clearTimeout(timer);
      resolve({ base: m[1] as string, process: p, wallMs: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
    p.stderr.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    p.once('error', reject);
  });
}

/** One start: spawn, wait for "listening", read /proc/PID, stop it. */
async function startOnce(rseBin: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Start> {
  const v = await serveVerifierProcess(rseBin, args, env);
  const u = procUsage(v.process.pid as number);
  await new Promise((resolve) => {
    v.process.once('exit', resolve);
    v.process.kill('SIGTERM');
  });
  return { wallMs: v.wallMs, ...u };
}

/** The report lines: each store, median of three starts. */
export async function benchVerifierStart(rseBin: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rsekit-verifier-'));
  const rows: string[] = [];
  try {
    for (const [what, args] of [
      ['SQLite in memory (the default)', []],
      ['SQLite in a directory (--db DIR)', ['--db', join(dir, 'db')]],
    ] as const) {
      const runs: Start[] = [];
      for (let i = 0; i < 3; i++) runs.push(await startOnce(rseBin, args, env));
      const m = (k: keyof Start): number => median(runs.map((r) => r[k]));
      rows.push(
        `  start ${what}: ${m('wallMs').toFixed(0)} ms to listen, ${m('cpuMs').toFixed(0)} ms CPU, ${m('rssMiB').toFixed(0)} MiB resident (goal: < 1 s, < 150 MiB)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return `${rows.join('\n')}\n`;
}
