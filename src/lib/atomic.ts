/**
 * Atomic file output: data goes to a temporary file beside the target, is flushed to disk and
 * renamed over the target, so a crash leaves either the old file or the new one, never a part.
 * @module
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { RseError } from './errors.ts';

let counter = 0;

export interface AtomicWriteOptions {
  /**
   * fsync before the rename, so the new content survives a power cut (device state). Off for
   * build outputs: the rename alone already guarantees old-or-new, never a partial file.
   */
  readonly durable?: boolean;
  /**
   * A secret (a private key, a stateful LMS `.prv`): created 0600, or with the mode the file it
   * replaces already has; other files are created 0644 less the umask.
   */
  readonly secret?: boolean;
}

/** The mode of a new secret file: the replaced file's permission bits, else 0600. */
function secretMode(path: string): number {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return 0o600;
  }
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
      if (n === 0) throw new RseError('E_IO', `${s.path} ended ${left} bytes early: it changed while being read`, { field: s.path });
      writeAll(fd, buf, n);
      left -= n;
    }
  } finally {
    closeSync(src);
  }
}

/** `.NAME.PID.N.tmp`: the temporary file of an {@link AtomicFile} being written by process PID. */
const TMP_NAME = /^\..+\.(\d+)\.\d+\.tmp$/;

/** Whether process `pid` is alive (EPERM: alive, another user's). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const swept = new Set<string>();

/** Temporaries (files, or staging directories) this process is writing and has not published. */
const inFlight = new Set<string>();

/** Marks `path` as a temporary to remove if the process is stopped before publishing it. */
export function trackTemp(path: string): void {
  inFlight.add(path);
}

/** `path` was published or removed: no longer this process's to clean. */
export function untrackTemp(path: string): void {
  inFlight.delete(path);
}

/**
 * Removes every temporary this process has in flight (a stopping signal: SIGTERM, SIGINT,
 * SIGHUP); what a SIGKILL leaves is swept by the next write into that directory.
 */
export function removeTempsInFlight(): void {
  for (const p of inFlight) rmSync(p, { recursive: true, force: true });
  inFlight.clear();
}

/**
 * Removes the temporaries a killed writer left in `dir` (any signal, SIGKILL included: their
 * process is gone). Done once per directory and process, before the first write there.
 */
export function sweepStaleTemps(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = TMP_NAME.exec(n);
    if (m !== null && !alive(Number(m[1]))) rmSync(join(dir, n), { force: true });
  }
}

/**
 * An output file written piece by piece and published at once: bytes go to a temporary file
 * beside `path`; {@link AtomicFile.commit} renames it over `path`, {@link AtomicFile.abort}
 * removes it. Until the commit `path` keeps its old content (or stays absent).
 */
export class AtomicFile {
  readonly path: string;
  readonly #tmp: string;
  #fd: number | undefined;
  #buf: Uint8Array | undefined;

  private constructor(path: string, tmp: string, fd: number) {
    this.path = path;
    this.#tmp = tmp;
    this.#fd = fd;
  }

  /** Creates the temporary file (a secret's with its mode from the start); E_IO if the directory is not writable. */
  static open(path: string, options: { readonly secret?: boolean } = {}): AtomicFile {
    sweepStaleTemps(resolve(dirname(path)));
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
    trackTemp(tmp);
    try {
      if (options.secret !== true) return new AtomicFile(path, tmp, openSync(tmp, 'wx', 0o644));
      const mode = secretMode(path);
      const fd = openSync(tmp, 'wx', 0o600);
      // Exactly the mode (the umask only narrows the creation mode); never wider than asked.
      fchmodSync(fd, mode);
      return new AtomicFile(path, tmp, fd);
    } catch (e) {
      throw ioError(path, e);
    }
  }

  #open(): number {
    if (this.#fd === undefined) throw new RseError('E_IO', `${this.path} was already committed or aborted`, { field: this.path });
    return this.#fd;
  }

  /** Appends bytes, or a file's first bytes (copied through one reused buffer). */
  write(part: WritePart): void {
    const fd = this.#open();
    try {
      if (part instanceof Uint8Array) writeAll(fd, part);
      else {
        // Uninitialised: only the pages a read fills are ever touched.
        this.#buf ??= Buffer.allocUnsafe(COPY_CHUNK);
        copySlice(fd, part, this.#buf);
      }
    } catch (e) {
      this.abort();
      throw ioError(this.path, e);
    }
  }

  /** Publishes the file: optionally fsynced first (device state), then renamed over `path`. */
  commit(options: AtomicWriteOptions = {}): void {
    const fd = this.#open();
    try {
      if (options.durable !== false) fsyncSync(fd);
      closeSync(fd);
      this.#fd = undefined;
      renameSync(this.#tmp, this.path);
      untrackTemp(this.#tmp);
    } catch (e) {
      this.abort();
      throw ioError(this.path, e);
    }
  }

  /** Drops the temporary file; `path` is left as it was. Safe to call more than once. */
  abort(): void {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already unusable: the file is removed below either way
      }
      this.#fd = undefined;
    }
    rmSync(this.#tmp, { force: true });
    untrackTemp(this.#tmp);
  }
}

function ioError(path: string, e: unknown): RseError {
  if (e instanceof RseError) return e;
  return new RseError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { field: path, cause: e });
}

/** Writes `parts` (concatenated) to `path` atomically. */
export function writeFileAtomic(path: string, parts: WritePart | readonly WritePart[] | string, options: AtomicWriteOptions = {}): void {
  const list: readonly WritePart[] =
    typeof parts === 'string' ? [new TextEncoder().encode(parts)] : Array.isArray(parts) ? parts : [parts as WritePart];
  const file = AtomicFile.open(path, options);
  for (const p of list) file.write(p);
  file.commit(options);
}

/**
 * Reads a state file whole (a device directory's JSON or image): undefined when it does not
 * exist; a directory, a FIFO or any other non-regular file, a file over `maxBytes`, or a read
 * error (EACCES, EIO, …) is an `E_DEVICE` naming the file and the errno, never an exception.
 */
export function readStateFile(path: string, maxBytes: number): Uint8Array | undefined {
  let fd: number | undefined;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new RseError('E_DEVICE', `${path} is not a regular file`, { field: basename(path) });
    if (st.size > maxBytes)
      throw new RseError('E_DEVICE', `${path} is ${st.size} bytes, more than the ${maxBytes} it can hold`, { field: basename(path) });
    fd = openSync(path, 'r');
    const out = new Uint8Array(st.size);
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === out.length ? out : out.slice(0, got);
  } catch (e) {
    if (e instanceof RseError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RseError('E_DEVICE', `cannot read ${path}: ${code ?? (e as Error).message}`, { field: basename(path) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Creates `dir` (and its parents); a failure (a file in the way, no permission) is E_IO naming it. */
export function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new RseError('E_IO', `cannot create directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { field: dir });
  }
}
