/**
 * Strict CBOR decoding for untrusted evidence, and the base64 forms the attestation JSON uses.
 *
 * Tokens are decoded definite-length only, without global tag decoders (a tag stays a {@link Tag}),
 * with duplicate map keys refused and maps kept as `Map`s; anything cbor2 throws (truncation, a
 * length beyond the input, nesting deeper than 1024, invalid UTF-8, trailing bytes) becomes one
 * `E_CBOR` error naming the field. Non-preferred encodings are accepted: signatures are checked
 * over the bytes received, never over a re-encoding.
 * @module
 */
import { decode, Tag } from 'cbor2';
import { RseError } from '../lib/errors.ts';
import { decodeFast } from './cbor-fast.ts';

export { Tag };

const STRICT = {
  ignoreGlobalTags: true,
  rejectStreaming: true,
  rejectDuplicateKeys: true,
  preferMap: true,
} as const;

/**
 * Decodes one CBOR item that must fill `bytes` exactly. The common case goes through
 * {@link decodeFast}; whatever it does not take, and every malformed input, is cbor2's to decode
 * or refuse, so values and error messages are cbor2's either way.
 */
export function decodeStrict(bytes: Uint8Array, field: string): unknown {
  try {
    return decodeFast(bytes);
  } catch {
    // cbor2 decides below.
  }
  try {
    return decode(bytes, STRICT);
  } catch (e) {
    throw new RseError('E_CBOR', `${field}: not a well-formed CBOR item (${(e as Error).message})`, { field });
  }
}

const view = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The value as bytes, or undefined when it is not a byte string. */
export function bytesOf(v: unknown): Uint8Array | undefined {
  // A plain Uint8Array as it is: a view's `.buffer` makes V8 move a small array off its heap.
  return v instanceof Uint8Array ? (v.constructor === Uint8Array ? v : view(v)) : undefined;
}

/** CBOR's name of a decoded value's type, for error messages. */
export function cborType(v: unknown): string {
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Tag) return `tag ${v.tag}`;
  if (v instanceof Map) return 'map';
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return 'int';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'string') return 'text';
  return typeof v;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Standard base64 with padding, as Go's encoding/json writes []byte; anything else is refused. */
export function fromBase64(s: string, field: string): Uint8Array {
  if (!B64.test(s)) throw new RseError('E_CLAIMS', `${field}: not standard base64`, { field });
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** base64url with or without padding (the nonce form of the challenge-response API). */
export function fromBase64Url(s: string, field: string): Uint8Array {
  const bare = s.replace(/=+$/, '');
  if (!B64URL.test(s) || bare.length % 4 === 1) throw new RseError('E_ARGUMENT', `${field}: not base64url`, { field });
  return new Uint8Array(Buffer.from(bare, 'base64url'));
}

export const toBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
export const toBase64Url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/** The CBOR head of a byte string of `n` bytes (major type 2, preferred length encoding). */
export function bstrHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x40 | n);
  if (n < 0x100) return Uint8Array.of(0x58, n);
  if (n < 0x10000) return Uint8Array.of(0x59, n >> 8, n & 0xff);
  return Uint8Array.of(0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}
