/**
 * Bounded little/big-endian reading and writing over `Uint8Array`. A {@link ByteReader} checks
 * every read against its window and throws `E_TRUNCATED` with the absolute offset and the field
 * name; nothing here can throw a RangeError on untrusted input.
 * @module
 */
import { RseError } from './errors.ts';

export type Endian = 'little' | 'big';

/** A cursor over a window `[start, end)` of a byte array; offsets reported are absolute. */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly end: number;
  readonly littleEndian: boolean;
  #pos: number;
  readonly #view: DataView;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length, endian: Endian = 'little') {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > bytes.length || start > end) {
      throw new RseError('E_BOUNDS', `window [${start}, ${end}) outside ${bytes.length}-byte input`, { offset: start });
    }
    this.bytes = bytes;
    this.end = end;
    this.#pos = start;
    this.littleEndian = endian === 'little';
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get pos(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.end - this.#pos;
  }

  /** Throws `E_TRUNCATED` unless `n` more bytes are available. */
  need(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.end - this.#pos) {
      throw new RseError(
        'E_TRUNCATED',
        `${field}: needs ${n} byte(s) at offset 0x${this.#pos.toString(16)}, only ${Math.max(0, this.end - this.#pos)} left`,
        { field, offset: this.#pos },
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const v = this.#view.getUint8(this.#pos);
    this.#pos += 1;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.#view.getUint16(this.#pos, this.littleEndian);
    this.#pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.#view.getUint32(this.#pos, this.littleEndian);
    this.#pos += 4;
    return v;
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytesView(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.#pos += n;
  }
}

/** An append-only byte builder with explicit endianness. */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;
  readonly littleEndian: boolean;

  constructor(initialCapacity = 256, endian: Endian = 'little') {
    this.#buf = new Uint8Array(Math.max(16, initialCapacity));
    this.#view = new DataView(this.#buf.buffer);
    this.littleEndian = endian === 'little';
  }

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      let cap = this.#buf.length * 2;
      while (cap < at + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    const at = this.#reserve(1);
    this.#view.setUint8(at, v);
    return this;
  }

  u16(v: number): this {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, this.littleEndian);
    return this;
  }

  u32(v: number): this {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, this.littleEndian);
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.#reserve(b.length);
    this.#buf.set(b, at);
    return this;
  }

  fill(value: number, n: number): this {
    const at = this.#reserve(n);
    this.#buf.fill(value, at, at + n);
    return this;
  }

  /** Overwrites a u16 already written at `at`. */
  setU16(at: number, v: number): void {
    this.#view.setUint16(at, v, this.littleEndian);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Views a Node Buffer (or any view) as a plain Uint8Array without copying. */
export function asU8(b: ArrayBufferView): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The values as consecutive u32 little-endian words. */
export function u32le(...values: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    dv.setUint32(4 * i, v >>> 0, true);
  });
  return out;
}

/** The value as a u64 little-endian word. */
export function u64le(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

/**
 * Throws `E_TRUNCATED` unless `b` holds `n` bytes at `offset`: the one bounds rule of the word
 * readers below, so an out-of-range read is a typed error, never 0, NaN or a RangeError.
 */
function within(b: Uint8Array, offset: number, n: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + n > b.length)
    throw new RseError('E_TRUNCATED', `${what} at offset ${offset} runs past the end of ${b.length} bytes`, { field: what, offset });
}

/** The u32 little-endian word at `offset`; `E_TRUNCATED` past the end. */
export function readU32le(b: Uint8Array, offset = 0): number {
  within(b, offset, 4, 'u32');
  return (
    ((b[offset] as number) | ((b[offset + 1] as number) << 8) | ((b[offset + 2] as number) << 16) | ((b[offset + 3] as number) << 24)) >>> 0
  );
}

/** The u16 little-endian word at `offset`; `E_TRUNCATED` past the end. */
export function readU16le(b: Uint8Array, offset = 0): number {
  within(b, offset, 2, 'u16');
  return ((b[offset] as number) | ((b[offset + 1] as number) << 8)) >>> 0;
}

/** The u64 little-endian word at `offset`; `E_TRUNCATED` past the end. */
export function readU64le(b: Uint8Array, offset = 0): bigint {
  within(b, offset, 8, 'u64');
  return (BigInt(readU32le(b, offset + 4)) << 32n) | BigInt(readU32le(b, offset));
}

/** A big-endian u32 (RFC 8554 and other network-order formats). */
export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, false);
  return out;
}

/** The big-endian u32 at `offset`; `E_TRUNCATED` past the end. */
export function readU32be(b: Uint8Array, offset = 0): number {
  within(b, offset, 4, 'u32');
  return (
    (((b[offset] as number) << 24) | ((b[offset + 1] as number) << 16) | ((b[offset + 2] as number) << 8) | (b[offset + 3] as number)) >>> 0
  );
}
