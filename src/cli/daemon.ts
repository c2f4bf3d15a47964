/**
 * `--daemon` and `--pid-file` for the servers (`rse serve`, `rse verifier serve`): the command
 * runs again in a detached child with its output in a log file; the parent returns once the child
 * says it listens, or fails with the child's own error. @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { writeFileAtomic } from '../lib/atomic.ts';
import { ERROR_CODES, RseError, type RseErrorCode } from '../lib/errors.ts';
import { processAlive } from '../lib/lock.ts';
import { cliArgv } from './common.ts';

/** Set in the child a `--daemon` parent starts: it reports readiness over the IPC channel. */
const CHILD_ENV = 'RSE_DAEMON_CHILD';

/** The `rse` binary to run the child with: the package's dist/rse.cjs, wherever this module was loaded from. */
function rseBinary(): string {
  for (const rel of ['../rse.cjs', '../../rse.cjs', '../../dist/rse.cjs', '../../../dist/rse.cjs']) {
    const p = new URL(rel, import.meta.url);
    if (existsSync(p)) return p.pathname;
  }
  throw new RseError('E_USAGE', '--daemon runs from the built rse binary (npm run build): dist/rse.cjs not found');
}

/**
 * Writes this process's pid to `path` (atomically) and returns a function that removes it again if
 * it still holds our pid. A pid file naming a live process is E_LOCKED.
 */
export function writePidFile(path: string): () => void {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid))
      throw new RseError('E_LOCKED', `${path}: pid ${pid} is running (stop it first: kill ${pid})`, { field: '--pid-file' });
  } catch (e) {
    if (e instanceof RseError) throw e;
    // no pid file, or an unreadable one: ours replaces it
  }
  writeFileAtomic(path, `${process.pid}\n`, { durable: false });
  return () => {
    try {
      if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
    } catch {
      // gone already
    }
  };
}

/** Whether this process is a `--daemon` child. */
export function isDaemonChild(): boolean {
  return process.env[CHILD_ENV] === '1' && typeof process.send === 'function';
}

/** In a `--daemon` child: tell the parent we listen (`info` is what it prints), then let it go. */
export function announceReady(info: Record<string, unknown>): void {
  if (!isDaemonChild() || process.send === undefined) return;
  process.send({ ready: info }, () => process.disconnect());
}

/** What a started daemon is. */
export interface Daemon {
  readonly pid: number;
  readonly log: string;
  /** What the child announced (where it listens). */
  readonly ready: Record<string, unknown>;
}

/**
 * Starts this command line again without `--daemon` in a detached child writing to `log`, and
 * resolves once it is ready. A child that exits first is that child's error (its code and
 * message, from the log); one not ready within `timeoutMs` is stopped and an E_IO error.
 */
export function daemonize(log: string, timeoutMs = 30_000): Promise<Daemon> {
  // The child writes for people (its log); the parent prints the result, as JSON if asked.
  const args = cliArgv.current.filter((a) => a !== '--daemon' && a !== '--json');
  const fd = openSync(log, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, [rseBinary(), ...args], {
      detached: true,
      stdio: ['ignore', fd, fd, 'ipc'],
      env: { ...process.env, [CHILD_ENV]: '1' },
    });
  } finally {
    closeSync(fd);
  }
  return new Promise<Daemon>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new RseError('E_IO', `the daemon was not ready within ${timeoutMs} ms (see ${log})`, { field: '--daemon' }));
    }, timeoutMs);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.unref();
      child.disconnect?.();
      const ready = (m as { ready?: Record<string, unknown> }).ready ?? {};
      resolve({ pid: child.pid ?? 0, log, ready });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(childError(log, code));
    });
  });
}

/** The error a child that stopped before being ready printed last (`rse: E_CODE: message`). */
function childError(log: string, code: number | null): RseError {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    // no log
  }
  const last = text
    .split('\n')
    .reverse()
    .map((l) => /^rse: (E_[A-Z0-9_]+): (.*?)(?: \(field ([^,)]*)[^)]*\))?$/.exec(l))
    .find((m) => m !== null);
  if (last?.[1] !== undefined && Object.hasOwn(ERROR_CODES, last[1]))
    return new RseError(last[1] as RseErrorCode, last[2] ?? '', { field: last[3] ?? '--daemon' });
  return new RseError('E_IO', `the daemon exited (status ${code ?? 'signal'}) before it was ready: see ${log}`, { field: '--daemon' });
}
