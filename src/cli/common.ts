/** Shared CLI plumbing: reading files and keys, number parsing, output. @module */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, type Stats, statSync } from 'node:fs';
import { extname } from 'node:path';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { loadTokenKey, type TokenKey } from '../cose/keys.ts';
import { type AsymKey, deterministicKey, loadKey } from '../crypto/index.ts';
import { openTokenKey } from '../crypto/pkcs11-keys.ts';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, hex0x } from '../lib/hex.ts';
import { hexToBinary, parseIntelHex } from '../lib/intel-hex.ts';
import type { PayloadStream } from '../mcuboot/sign-options.ts';
import { keyPassphrase, promptHidden } from './passphrase.ts';

/**
 * How a path is named in an error: as given, unless it is missing and looks like key material
 * typed where a file was expected (16 bytes or more of hex), which is never echoed.
 */
function shown(path: string, e?: unknown): string {
  const missing = (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  const keyLike = /^(0x)?[0-9a-f]{32,}$/i.test(path);
  return missing && keyLike ? '(a value that looks like key material, not a file: not shown)' : path;
}

function readFailure(path: string, what: string, e: unknown): RseError {
  const p = shown(path, e);
  return new RseError('E_IO', `cannot read ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
    field: p,
  });
}

/** The stat of `path`, which must be a regular file (E_IO otherwise, before anything opens it). */
function regularFile(path: string, what: string): Stats {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw readFailure(path, what, e);
  }
  if (!st.isFile())
    throw new RseError('E_IO', `cannot read ${what} ${path}: not a regular file (a device, FIFO, socket or directory)`, { field: path });
  return st;
}

/** The most any input read whole may hold (larger payloads are signed streamed). */
export const INPUT_MAX_SIZE = 1 << 30;

/**
 * A whole input file. Only regular files: a device (`/dev/zero`), FIFO or directory is refused
 * before anything is read, and so is a file over {@link INPUT_MAX_SIZE} (`E_SIZE`).
 */
export function readInput(path: string, what = 'input file'): Uint8Array {
  const st = regularFile(path, what);
  if (st.size > INPUT_MAX_SIZE)
    throw new RseError('E_SIZE', `${what} ${path} is ${st.size} bytes, over the ${INPUT_MAX_SIZE}-byte limit of inputs read whole`, {
      field: path,
    });
  try {
    return asU8(readFileSync(path));
  } catch (e) {
    throw readFailure(path, what, e);
  }
}

/** Payloads from this size up are signed streamed rather than read whole (one read is cheaper below). */
export const STREAM_MIN_SIZE = 1 << 20;
const STREAM_PIECE = 1 << 20;

/**
 * `length` bytes of an open file from `start`, read once through a reused 1 MiB buffer. With
 * `toEnd` (the payload is the whole file) bytes past `length` are passed on too, so a file that
 * grew while being read is noticed instead of signed in part.
 */
function fileStream(path: string, fd: number, start: number, length: number, toEnd: boolean): PayloadStream {
  return {
    length,
    read(each) {
      const buf = Buffer.allocUnsafe(Math.min(STREAM_PIECE, Math.max(1, length)));
      let at = start;
      for (;;) {
        const left = start + length - at;
        const want = left > 0 ? Math.min(buf.length, left) : toEnd ? 1 : 0;
        if (want === 0) return;
        const n = readAt(path, fd, buf, 0, want, at);
        if (n === 0) return;
        each(buf.subarray(0, n));
        at += n;
      }
    },
  };
}

function openForRead(path: string): number {
  // A FIFO's open would block until a writer comes: only regular files are opened.
  regularFile(path, 'input file');
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw readFailure(path, 'input file', e);
  }
}

/** readSync at `position`, a failure being E_IO on `path`. */
function readAt(path: string, fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
  try {
    return readSync(fd, buf, offset, length, position);
  } catch (e) {
    throw readFailure(path, 'input file', e);
  }
}

/**
 * Opens a regular file of at least `minSize` bytes for one streamed read through a reused 1 MiB
 * buffer (no 16 MiB allocation to fault in, pieces hashed while in cache); undefined for a
 * smaller or special file, which the caller reads whole. Close it when done.
 */
export function openPayloadStream(path: string, minSize: number): { stream: PayloadStream; close(): void } | undefined {
  const fd = openForRead(path);
  const st = fstatSync(fd);
  if (!st.isFile() || st.size < minSize) {
    closeSync(fd);
    return undefined;
  }
  return { stream: fileStream(path, fd, 0, st.size, true), close: () => closeSync(fd) };
}

/** What of an image file's tail is read for verification: the TLV areas (two of at most 64 KiB) and the trailer. */
const TLV_SPAN = 2 * 0x10000 + 8;
const TRAILER_SPAN = 0x1000;

/**
 * An MCUboot image file of at least `minSize` bytes, for verification in one pass: `bytes` is
 * the file's full length with the header, the TLV areas and the trailer read in, and the payload
 * area left a hole (zero pages, never touched) that `payload` streams. Undefined for a smaller,
 * special or malformed file, which the caller reads whole (and whose errors it reports).
 */
export function openImageStream(path: string, minSize: number): { bytes: Uint8Array; payload: PayloadStream; close(): void } | undefined {
  const fd = openForRead(path);
  let kept = false;
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size < minSize) return undefined;
    const size = st.size;
    const head = Buffer.alloc(32);
    if (readAt(path, fd, head, 0, 32, 0) !== 32) return undefined;
    const hdrSize = head.readUInt16LE(8);
    const imgSize = head.readUInt32LE(12);
    const tail = hdrSize + imgSize;
    if (hdrSize < 32 || tail > size) return undefined;
    const bytes = new Uint8Array(size);
    const fill = (from: number, to: number): boolean => {
      for (let at = from; at < to; ) {
        const n = readAt(path, fd, bytes, at, to - at, at);
        if (n === 0) return false;
        at += n;
      }
      return true;
    };
    if (!fill(0, hdrSize) || !fill(tail, Math.min(size, tail + TLV_SPAN)) || !fill(Math.max(tail, size - TRAILER_SPAN), size)) {
      return undefined;
    }
    kept = true;
    return { bytes, payload: fileStream(path, fd, hdrSize, imgSize, false), close: () => closeSync(fd) };
  } finally {
    if (!kept) closeSync(fd);
  }
}

export const isHexPath = (p: string): boolean => extname(p).toLowerCase() === '.hex';

/** Reads a binary or (by extension) Intel HEX file; HEX gaps are filled with 0xff. */
export function readImageFile(path: string): { data: Uint8Array; baseAddr?: number } {
  const raw = readInput(path);
  if (!isHexPath(path)) return { data: raw };
  const { base, data } = hexToBinary(parseIntelHex(Buffer.from(raw).toString('latin1')));
  return { data, baseAddr: base };
}

/** Loads a key file; an encrypted one takes its passphrase from RSE_KEY_PASSPHRASE or the terminal. */
/** A token's PIN when its URI has none: RSE_PKCS11_PIN, or asked on the terminal. */
export function tokenPin(): string {
  const pin = process.env.RSE_PKCS11_PIN ?? promptHidden('Enter the token PIN: ');
  if (pin === undefined)
    throw new RseError('E_KEY', 'the token needs a PIN: pin-source= in the URI, RSE_PKCS11_PIN, or run on a terminal to be asked', {
      field: 'pin',
    });
  return pin;
}

export function readKey(path: string, what = 'key'): AsymKey {
  if (path.startsWith('pkcs11:')) return openTokenKey(path, { pin: tokenPin });
  const data = readInput(path, what);
  const load = (pass: string | undefined): AsymKey => {
    try {
      return loadKey(data, pass);
    } catch (e) {
      if (e instanceof RseError && e.field !== 'passphrase') throw new RseError(e.code, `${path}: ${e.message}`, { field: path });
      throw e;
    }
  };
  try {
    return load(undefined);
  } catch (e) {
    if (!(e instanceof RseError && e.field === 'passphrase')) throw e;
  }
  return load(keyPassphrase(path));
}

/** imgtool's integer syntax: decimal, 0x, 0o, 0b. */
export function parseInteger(value: string): number {
  const v = value.trim().toLowerCase();
  const m = /^(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|0|[1-9][0-9_]*)$/.exec(v);
  if (m === null) {
    throw new InvalidArgumentError(
      `${value} is not a valid integer. Please use code literals prefixed with 0b/0B, 0o/0O, or 0x/0X as necessary.`,
    );
  }
  const n = Number(v.replaceAll('_', ''));
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${value} is too large`);
  return n;
}

/** Where the CLI writes: the process's streams, or a caller's sinks (tests, embedding). */
export interface CliIo {
  out(data: string | Uint8Array): void;
  err(data: string): void;
}

export const processIo: CliIo = {
  out: (d) => void process.stdout.write(d),
  err: (d) => void process.stderr.write(d),
};

/** The sinks of the command being run; `main` sets them for the duration of a call. */
export const io: CliIo = { out: (d) => processIo.out(d), err: (d) => processIo.err(d) };

/**
 * With --json, stdout carries one JSON result and nothing else: what a verb gives printJson is held
 * until the verb ends, then printed with `ok` (true when the exit status is 0), or replaced by
 * `{ok: false, error}` when it fails; a verb that gives nothing prints `{ok}`. Text a verb writes
 * for people goes to stderr meanwhile. `main` sets this up for each call.
 */
export const jsonResult: { on: boolean; held: unknown[]; printed: boolean; out: (s: string) => void } = {
  on: false,
  held: [],
  printed: false,
  out: () => {},
};

/** Prints `value` as JSON: held for the end of the verb under --json, unless `now` (a server's "listening"). */
export function printJson(value: unknown, now = false): void {
  if (jsonResult.on && !now) jsonResult.held.push(value);
  else {
    jsonResult.printed = true;
    (jsonResult.on ? jsonResult.out : io.out)(`${JSON.stringify(value, null, 2)}\n`);
  }
}

/** Under --json: prints what the verb gave (or `{ok}`) with `ok` from the exit status; returns the status. */
export function flushJson(code: number): number {
  if (!jsonResult.on) return code;
  // A server that printed its result when it started listening has said it all.
  if (jsonResult.printed && jsonResult.held.length === 0) return code;
  const held = jsonResult.held.length === 0 ? [{}] : jsonResult.held;
  jsonResult.held = [];
  for (const v of held) {
    const plain = typeof v === 'object' && v !== null && !Array.isArray(v);
    const ok = code === 0 && (v as { ok?: unknown }).ok !== false;
    // A failed check that threw nothing still says so in `error`; its report says which.
    const error =
      ok || (v as { error?: unknown }).error !== undefined
        ? {}
        : { error: { code: 'E_CHECK_FAILED', message: 'a check failed: see the rest of this result' } };
    const r = plain ? { ...(v as Record<string, unknown>), ok, ...error } : v;
    // ok first, as people read it.
    jsonResult.out(`${JSON.stringify(plain ? { ok: (r as { ok: boolean }).ok, ...(r as object) } : r, null, 2)}\n`);
  }
  return code;
}

/** Exit status a command that printed its own report asks for (e.g. 1 = problems found). */
export const cliStatus = { code: 0 };

/** The command line being run (without node and script), for a verb that starts itself again (`--daemon`). */
export const cliArgv: { current: readonly string[] } = { current: [] };

/** `n` bytes given as hex on the command line, or a file holding them (raw, or as hex text). */
export function hexOrFileBytes(v: string, n: number, what: string): Uint8Array {
  const hexText = (t: string): Uint8Array | undefined => {
    const h = t.trim().replace(/^0x/i, '');
    return h.length === 2 * n && /^[0-9a-f]+$/i.test(h) ? fromHex(h, what) : undefined;
  };
  const direct = hexText(v);
  if (direct !== undefined) return direct;
  if (!existsSync(v)) throw new RseError('E_ARGUMENT', `${what} is ${n} bytes: ${2 * n} hex digits or a file`, { field: what });
  const b = readInput(v, what);
  if (b.length === n) return b;
  const h = hexText(new TextDecoder().decode(b));
  if (h === undefined) throw new RseError('E_ARGUMENT', `${v}: ${what} is ${n} bytes (raw) or ${2 * n} hex digits`, { field: what });
  return h;
}

/** Commander's accumulator for a repeatable option. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** An option parser for a 32-bit unsigned integer named `what` (any base {@link parseInteger} takes). */
export const parseU32 =
  (what: string) =>
  (v: string): number => {
    const n = parseInteger(v);
    if (n > 0xffffffff) throw new RseError('E_ARGUMENT', `${what} ${v} does not fit 32 bits`, { field: what });
    return n;
  };

/** `0x` and eight hex digits. */
export const hex8 = (n: number): string => hex0x(n, 8);

/**
 * Bearer tokens from `path`, one per line (blank lines and `#` comments skipped), each at least 16
 * characters without spaces; a bad one is named by its number, never echoed.
 */
export function readTokens(path: string, what: string, option: string): string[] {
  const lines = Buffer.from(readInput(path, what))
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  lines.forEach((t, i) => {
    if (t.length < 16 || /\s/.test(t))
      throw new RseError('E_CONFIG', `${path}: token ${i + 1} must be at least 16 characters without spaces`, { field: option });
  });
  if (lines.length === 0) throw new RseError('E_CONFIG', `${path} holds no token`, { field: option });
  return lines;
}

/** `--deterministic`, for every verb that signs with a key file. */
export const DETERMINISTIC_HELP =
  'ECDSA P-256/P-384 signatures with RFC 6979 nonces: the same key and input give the same bytes on every run and machine (Ed25519 always does; RSA-PSS stays randomized by its salt)';

let rsaWarned = false;
/** The key as `--deterministic` asks: RFC 6979 nonces for ECDSA; for an RSA key, said once, its signatures stay randomized. */
export function signingKey(key: AsymKey, deterministic: boolean | undefined): AsymKey {
  if (deterministic !== true) return key;
  if ((key.type === 'rsa-2048' || key.type === 'rsa-3072') && !rsaWarned) {
    rsaWarned = true;
    io.err('rse: --deterministic: RSA-PSS signatures stay randomized (a random salt); the rest of the output is reproducible\n');
  }
  return deterministicKey(key);
}

/** `--pkcs11-module`, for every verb that takes a key as a PKCS#11 URI. */
export const PKCS11_MODULE_HELP =
  'the PKCS#11 module (.so) of a -k pkcs11: URI key, when the URI has no module-path (default: PKCS11_MODULE)';

/** Makes `--pkcs11-module` the module {@link readKey} opens token keys with. */
export function usePkcs11Module(path: string | undefined): void {
  if (path !== undefined) process.env.PKCS11_MODULE = path;
}

/**
 * An EC key for COSE and JWS (tokens, CoRIMs, EARs): a PEM, JWK or COSE_Key file (or a raw HMAC
 * key where a token takes one), or a P-256/P-384 key in a PKCS#11 token (`pkcs11:` URI).
 */
export function tokenKey(path: string, what: string): TokenKey {
  if (path.startsWith('pkcs11:')) {
    const k = readKey(path, what);
    if (k.type !== 'ecdsa-p256' && k.type !== 'ecdsa-p384')
      throw new RseError('E_KEY', `${what}: an ECDSA P-256 or P-384 key is needed, not ${k.type}`, { field: what });
    return {
      kind: 'ec',
      crv: k.type === 'ecdsa-p256' ? 'P-256' : 'P-384',
      publicKey: k.publicKey,
      ...(k.token === undefined ? {} : { token: k.token }),
    };
  }
  try {
    return loadTokenKey(readInput(path, what));
  } catch (e) {
    if (e instanceof RseError) throw new RseError(e.code, `${path}: ${e.message}`, { field: path });
    throw e;
  }
}

/** An EC token key as `--deterministic` asks: RFC 6979 nonces; refused for a key in a token (it draws its own). */
export function deterministicTokenKey(k: TokenKey, deterministic: boolean | undefined): TokenKey {
  if (deterministic !== true || k.kind !== 'ec') return k;
  if (k.token !== undefined)
    throw new RseError('E_USAGE', `${k.token.uri}: --deterministic needs the key in a file (a token draws its own nonces)`, {
      field: '--deterministic',
    });
  return { ...k, nonce: 'rfc6979' };
}
