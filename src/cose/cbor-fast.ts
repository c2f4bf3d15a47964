/**
 * A fast reader for the CBOR evidence is made of: unsigned and negative integers, byte and text
 * strings, arrays, maps (as `Map`, duplicate keys refused), tags (kept as cbor2's {@link Tag}),
 * false, true, null and 64-bit floats, all definite-length. It yields exactly what cbor2's
 * `decode` yields with the strict options of {@link decodeStrict}; anything else (indefinite
 * lengths, half and single floats, simple values, 8-byte integers and lengths, nesting past 512) makes it
 * give up with {@link NOT_FAST}, and the caller decodes with cbor2, which then accepts or refuses
 * as it always did. Malformed input (truncation, trailing bytes, invalid UTF-8, a duplicate key)
 * is thrown as an Error with a message. @module
 */
import { Tag } from 'cbor2';

/** Thrown when the input uses something this reader leaves to cbor2. */
export const NOT_FAST: unique symbol = Symbol('not-fast');

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  at = 0;
  depth = 0;
  readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }

  need(n: number): void {
    if (this.at + n > this.b.length) throw new Error(`unexpected end of input at ${this.at}`);
  }

  /** The argument of a head with additional information `ai`. */
  arg(ai: number): number {
    if (ai < 24) return ai;
    const b = this.b;
    if (ai === 24) {
      this.need(1);
      return b[this.at++] as number;
    }
    if (ai === 25) {
      this.need(2);
      const v = ((b[this.at] as number) << 8) | (b[this.at + 1] as number);
      this.at += 2;
      return v;
    }
    if (ai === 26) {
      this.need(4);
      const v =
        ((b[this.at] as number) * 0x1000000 +
          (((b[this.at + 1] as number) << 16) | ((b[this.at + 2] as number) << 8) | (b[this.at + 3] as number))) >>>
        0;
      this.at += 4;
      return v;
    }
    // An 8-byte argument: cbor2 gives a bigint for an integer (whatever its value) and checks
    // lengths against it its own way; left to it.
    // 28..30 are reserved, 31 is an indefinite length: cbor2 decides.
    throw NOT_FAST;
  }

  item(): unknown {
    this.need(1);
    const head = this.b[this.at++] as number;
    const major = head >> 5;
    const ai = head & 0x1f;
    switch (major) {
      case 0:
        return this.arg(ai);
      case 1: {
        const n = this.arg(ai);
        // -1 - n must stay a safe integer for cbor2 to give a number.
        if (n >= Number.MAX_SAFE_INTEGER) throw NOT_FAST;
        return -1 - n;
      }
      case 2: {
        const n = this.arg(ai);
        this.need(n);
        const v = this.b.slice(this.at, this.at + n);
        this.at += n;
        return v;
      }
      case 3: {
        const n = this.arg(ai);
        this.need(n);
        const v = utf8.decode(this.b.subarray(this.at, this.at + n));
        this.at += n;
        return v;
      }
      case 4: {
        const n = this.arg(ai);
        if (n > this.b.length - this.at) throw new Error(`array of ${n} items at ${this.at} runs past the input`);
        this.enter();
        const out: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.item();
        this.depth--;
        return out;
      }
      case 5: {
        const n = this.arg(ai);
        if (2 * n > this.b.length - this.at) throw new Error(`map of ${n} pairs at ${this.at} runs past the input`);
        this.enter();
        const out = new Map<unknown, unknown>();
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const start = this.at;
          const k = this.item();
          // Numbers and texts compare by value (a non-preferred encoding of the same key is the same
          // key), anything else by its encoding.
          const raw =
            typeof k === 'number'
              ? `n${k}`
              : typeof k === 'string'
                ? `s${k}`
                : `b${Buffer.from(this.b.buffer, this.b.byteOffset + start, this.at - start).toString('latin1')}`;
          if (seen.has(raw)) throw new Error(`duplicate map key at ${start}`);
          seen.add(raw);
          out.set(k, this.item());
        }
        this.depth--;
        return out;
      }
      case 6: {
        const t = this.arg(ai);
        // Tags cbor2 interprets even with global tags ignored are left to it.
        if (t < 6 || t === 21 || t === 22 || t === 23 || t === 24 || t === 32 || t === 258 || t === 55799) throw NOT_FAST;
        this.enter();
        const v = new Tag(t, this.item());
        this.depth--;
        return v;
      }
      default:
        if (ai === 20) return false;
        if (ai === 21) return true;
        if (ai === 22) return null;
        if (ai === 27) {
          this.need(8);
          const v = new DataView(this.b.buffer, this.b.byteOffset + this.at, 8).getFloat64(0);
          this.at += 8;
          return v;
        }
        throw NOT_FAST;
    }
  }

  enter(): void {
    if (++this.depth > 512) throw NOT_FAST;
  }
}

/** Decodes one item that fills `bytes`; throws {@link NOT_FAST} when cbor2 must decide. */
export function decodeFast(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const v = r.item();
  if (r.at !== bytes.length) throw new Error(`${bytes.length - r.at} bytes after the item`);
  return v;
}
