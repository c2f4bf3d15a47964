/**
 * Issue 26's weight figures: how long `rse verifier serve` takes to listen and what it holds then,
 * on its embedded default (PGlite in memory) and on a PGlite directory: wall time to the
 * "listening" line, the process's CPU time and resident set at that moment (from /proc), median of
 * three starts each.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './cpu.ts';

interface Start {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly rssMiB: number;
}

/** One start: spawn, wait for "listening", read /proc/PID, stop it. */
function startOnce(rseBin: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Start> {
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
      if (!/listening on/.test(seen)) return;
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      let cpu = Number.NaN;
      let rss = Number.NaN;
      try {
        const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpu = ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime in clock ticks (100 Hz)
        rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1]) / 1024;
      } catch {
        // not Linux: the wall time alone
      }
      clearTimeout(timer);
      p.once('exit', () => resolve({ wallMs, cpuMs: cpu, rssMiB: rss }));
      p.kill('SIGTERM');
    });
    p.stderr.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    p.once('error', reject);
  });
}

/** The report lines: each store, median of three starts. */
export async function benchVerifierStart(rseBin: string, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rsekit-verifier-'));
  const rows: string[] = [];
  try {
    for (const [what, args] of [
      ['PGlite in memory (the default)', []],
      ['PGlite in a directory (--db DIR)', ['--db', join(dir, 'db')]],
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
