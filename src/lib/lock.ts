/**
 * An exclusive lock on a directory for one long-running process (a server owning a device): a
 * lock file created with O_EXCL holding the owner's pid, what it is and since when. A lock whose
 * process is gone (killed with SIGKILL) is stale and taken over. @module
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RseError } from './errors.ts';

/** The lock file's name inside the locked directory. */
export const LOCK_FILE = '.rse.lock';

/** Who holds a lock, as its file says. */
export interface LockHolder {
  readonly pid: number;
  readonly what: string;
  readonly since: string;
}

/** A held lock: release it when the process is done (idempotent). */
export interface DirLock {
  readonly path: string;
  release(): void;
}

/** Whether process `pid` exists (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of `dir`'s lock when a live process holds it, else undefined. */
export function lockHolder(dir: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return undefined;
    return processAlive(h.pid) ? { pid: h.pid, what: String(h.what ?? 'a process'), since: String(h.since ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `dir`'s lock for this process as `what` (e.g. `rse serve on rse.sock`). A live holder is
 * an E_LOCKED error naming it; a stale lock (its process gone, or an unreadable file) is replaced.
 */
export function lockDirectory(dir: string, what: string): DirLock {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new RseError('E_IO', `cannot lock ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { field: dir });
      const holder = lockHolder(dir);
      if (holder !== undefined)
        throw new RseError(
          'E_LOCKED',
          `${dir} is in use by ${holder.what} (pid ${holder.pid}${holder.since === '' ? '' : `, since ${holder.since}`}): stop it first (kill ${holder.pid})`,
          { field: dir },
        );
      // Stale: its process is gone. Another taker may race us here; O_EXCL decides.
      try {
        unlinkSync(path);
      } catch {
        // already removed by the other taker
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify({ pid: process.pid, what, since: new Date().toISOString() })}\n`);
    } finally {
      closeSync(fd);
    }
    let held = true;
    return {
      path,
      release(): void {
        if (!held) return;
        held = false;
        // Only our own lock is removed (a takeover after a stale detection is someone else's).
        try {
          const h = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown };
          if (h.pid === process.pid) unlinkSync(path);
        } catch {
          // gone already
        }
      },
    };
  }
  throw new RseError('E_LOCKED', `${dir}: could not take its lock (another process keeps taking it)`, { field: dir });
}
