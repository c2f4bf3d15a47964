/**
 * Atomic file output: data goes to a temporary file beside the target, is flushed to disk and
 * renamed over the target, so a crash leaves either the old file or the new one, never a part.
 * @module
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RseError } from './errors.ts';

let counter = 0;

export interface AtomicWriteOptions {
  /**
   * fsync before the rename, so the new content survives a power cut (device state). Off for
   * build outputs: the rename alone already guarantees old-or-new, never a partial file.
   */
  readonly durable?: boolean;
}

/** Writes `parts` (concatenated) to `path` atomically. */
export function writeFileAtomic(path: string, parts: Uint8Array | readonly Uint8Array[] | string, options: AtomicWriteOptions = {}): void {
  const list: readonly Uint8Array[] =
    typeof parts === 'string' ? [new TextEncoder().encode(parts)] : parts instanceof Uint8Array ? [parts] : parts;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (const p of list) {
      let off = 0;
      while (off < p.length) off += writeSync(fd, p, off, p.length - off);
    }
    if (options.durable !== false) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new RseError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { field: path, cause: e });
  }
}
