/**
 * Atomic file output: data goes to a temporary file beside the target, is flushed to disk and
 * renamed over the target, so a crash leaves either the old file or the new one, never a part.
 * @module
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
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

/**
 * The first `length` bytes of a file, copied into the output through one small buffer instead of
 * being held in memory (FIP images of tens of MiB).
 */
export interface FileSlice {
  readonly path: string;
  readonly length: number;
}

/** A piece of output: bytes, or bytes still in a file. */
export type WritePart = Uint8Array | FileSlice;

/** How much of a {@link FileSlice} one read moves. */
const COPY_CHUNK = 4 << 20;

function writeAll(fd: number, b: Uint8Array, length = b.length): void {
  let off = 0;
  while (off < length) off += writeSync(fd, b, off, length - off);
}

function copySlice(fd: number, s: FileSlice, buf: Uint8Array): void {
  const src = openSync(s.path, 'r');
  try {
    let left = s.length;
    while (left > 0) {
      const n = readSync(src, buf, 0, Math.min(buf.length, left), null);
      if (n === 0) throw new Error(`${s.path} ended ${left} bytes early: it changed while being read`);
      writeAll(fd, buf, n);
      left -= n;
    }
  } finally {
    closeSync(src);
  }
}

/** Writes `parts` (concatenated) to `path` atomically. */
export function writeFileAtomic(path: string, parts: WritePart | readonly WritePart[] | string, options: AtomicWriteOptions = {}): void {
  const list: readonly WritePart[] =
    typeof parts === 'string' ? [new TextEncoder().encode(parts)] : Array.isArray(parts) ? parts : [parts as WritePart];
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let buf: Uint8Array | undefined;
    for (const p of list) {
      if (p instanceof Uint8Array) {
        writeAll(fd, p);
        continue;
      }
      // Uninitialised: only the pages a read fills are ever touched.
      buf ??= Buffer.allocUnsafe(COPY_CHUNK);
      copySlice(fd, p, buf);
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
