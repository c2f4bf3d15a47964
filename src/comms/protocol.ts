/**
 * The RSE comms messages TF-A sends over the MHU (`drivers/arm/rse/rse_comms_protocol*.c`, TF-M
 * `rse_comms_protocol*.c`): a 4-byte header (protocol, sequence number, client id), then either
 * the embed form (handle, ctrl_param, u16 sizes, the in-vectors inline) or the pointer-access form
 * (handle, ctrl_param, u32 sizes, u64 host pointers). ctrl_param has two packings: TF-A ≥ v2.11
 * (type in bits 0..15, out_len 16..18, in_len 24..26) and ≤ v2.10 (type << 16 | in_len << 8 |
 * out_len). Everything is little-endian and checked before use.
 * @module
 */
import { readU16le, readU32le, readU64le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const PROTOCOL_EMBED = 0;
export const PROTOCOL_POINTER = 1;
export const HEADER_SIZE = 4;
export const EMBED_REQUEST_FIXED = 20;
export const POINTER_REQUEST_SIZE = 60;
/** `RSE_COMMS_PAYLOAD_MAX_SIZE`: the RSE's message buffer (sized for a token). */
export const PAYLOAD_MAX = 0x840;
export const PSA_MAX_IOVEC = 4;

export type CtrlPacking = 'v2.11' | 'v2.10';

export interface Header {
  readonly protocol: number;
  readonly seq: number;
  readonly clientId: number;
}

interface RequestBase {
  readonly header: Header;
  readonly handle: number;
  readonly type: number;
  readonly inLen: number;
  readonly outLen: number;
}

export interface EmbedRequest extends RequestBase {
  readonly kind: 'embed';
  readonly inVecs: readonly Uint8Array[];
  readonly outCaps: readonly number[];
}

export interface PointerRequest extends RequestBase {
  readonly kind: 'pointer';
  /** In sizes then out capacities, as sent (unused entries included). */
  readonly ioSizes: readonly number[];
  readonly hostPtrs: readonly bigint[];
}

export type Request = EmbedRequest | PointerRequest;

const fail = (msg: string, offset?: number): RseError =>
  new RseError('E_COMMS', msg, { field: 'message', ...(offset === undefined ? {} : { offset }) });

export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_SIZE) throw fail(`a message is at least a ${HEADER_SIZE}-byte header, got ${b.length} bytes`, 0);
  return { protocol: b[0] as number, seq: b[1] as number, clientId: readU16le(b, 2) };
}

export function encodeHeader(h: Header): Uint8Array {
  return Uint8Array.of(h.protocol, h.seq, h.clientId & 0xff, (h.clientId >> 8) & 0xff);
}

/** Splits ctrl_param; type is a signed 16-bit value. */
export function decodeCtrl(ctrl: number, packing: CtrlPacking): { type: number; inLen: number; outLen: number } {
  if (packing === 'v2.11') {
    const t = ctrl & 0xffff;
    return { type: t >= 0x8000 ? t - 0x10000 : t, outLen: (ctrl >>> 16) & 0x7, inLen: (ctrl >>> 24) & 0x7 };
  }
  const t = (ctrl >>> 16) & 0xffff;
  return { type: t >= 0x8000 ? t - 0x10000 : t, inLen: (ctrl >>> 8) & 0xff, outLen: ctrl & 0xff };
}

export function encodeCtrl(type: number, inLen: number, outLen: number, packing: CtrlPacking): number {
  const t = type & 0xffff;
  return packing === 'v2.11' ? (t | (outLen << 16) | (inLen << 24)) >>> 0 : ((t << 16) | (inLen << 8) | outLen) >>> 0;
}

/** Decodes a request; throws E_COMMS with the offset of the first field that does not hold. */
export function decodeRequest(b: Uint8Array, packing: CtrlPacking): Request {
  const header = decodeHeader(b);
  if (header.protocol !== PROTOCOL_EMBED && header.protocol !== PROTOCOL_POINTER)
    throw fail(`protocol_ver ${header.protocol} is neither embed (0) nor pointer access (1)`, 0);
  if (b.length < HEADER_SIZE + 8) throw fail(`a request needs handle and ctrl_param: ${b.length} bytes`, b.length);
  const handle = readU32le(b, 4) | 0;
  const ctrl = decodeCtrl(readU32le(b, 8), packing);
  if (ctrl.inLen + ctrl.outLen > PSA_MAX_IOVEC) throw fail(`in_len ${ctrl.inLen} + out_len ${ctrl.outLen} exceeds ${PSA_MAX_IOVEC}`, 8);
  const base = { header, handle, ...ctrl };
  if (header.protocol === PROTOCOL_EMBED) {
    if (b.length < EMBED_REQUEST_FIXED) throw fail(`an embed request is at least ${EMBED_REQUEST_FIXED} bytes, got ${b.length}`, b.length);
    if (b.length > HEADER_SIZE + PAYLOAD_MAX)
      throw fail(`${b.length} bytes exceed the ${PAYLOAD_MAX}-byte payload`, HEADER_SIZE + PAYLOAD_MAX);
    const sizes = [0, 1, 2, 3].map((i) => readU16le(b, 12 + 2 * i));
    const inVecs: Uint8Array[] = [];
    let at = EMBED_REQUEST_FIXED;
    for (let i = 0; i < ctrl.inLen; i++) {
      const n = sizes[i] as number;
      if (at + n > b.length) throw fail(`in_vec[${i}] of ${n} bytes runs past the ${b.length}-byte message`, at);
      inVecs.push(b.slice(at, at + n));
      at += n;
    }
    if (at !== b.length) throw fail(`${b.length - at} bytes follow the in-vectors`, at);
    const outCaps = sizes.slice(ctrl.inLen, ctrl.inLen + ctrl.outLen);
    return { kind: 'embed', ...base, inVecs, outCaps };
  }
  if (b.length !== POINTER_REQUEST_SIZE)
    throw fail(
      `a pointer-access request is exactly ${POINTER_REQUEST_SIZE} bytes, got ${b.length}`,
      Math.min(b.length, POINTER_REQUEST_SIZE),
    );
  const ioSizes = [0, 1, 2, 3].map((i) => readU32le(b, 12 + 4 * i));
  const hostPtrs = [0, 1, 2, 3].map((i) => readU64le(b, 28 + 8 * i));
  return { kind: 'pointer', ...base, ioSizes, hostPtrs };
}

/** An embed request (what TF-A's serialiser makes). */
export function encodeEmbedRequest(
  h: Header,
  handle: number,
  type: number,
  inVecs: readonly Uint8Array[],
  outCaps: readonly number[],
  packing: CtrlPacking,
): Uint8Array {
  const total = inVecs.reduce((n, v) => n + v.length, 0);
  const out = new Uint8Array(EMBED_REQUEST_FIXED + total);
  const dv = new DataView(out.buffer);
  out.set(encodeHeader(h), 0);
  dv.setInt32(4, handle, true);
  dv.setUint32(8, encodeCtrl(type, inVecs.length, outCaps.length, packing), true);
  [...inVecs.map((v) => v.length), ...outCaps].forEach((s, i) => {
    dv.setUint16(12 + 2 * i, s, true);
  });
  let at = EMBED_REQUEST_FIXED;
  for (const v of inVecs) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/** A pointer-access request. */
export function encodePointerRequest(
  h: Header,
  handle: number,
  type: number,
  inLen: number,
  outLen: number,
  ioSizes: readonly number[],
  hostPtrs: readonly bigint[],
  packing: CtrlPacking,
): Uint8Array {
  const out = new Uint8Array(POINTER_REQUEST_SIZE);
  const dv = new DataView(out.buffer);
  out.set(encodeHeader(h), 0);
  dv.setInt32(4, handle, true);
  dv.setUint32(8, encodeCtrl(type, inLen, outLen, packing), true);
  for (let i = 0; i < 4; i++) {
    dv.setUint32(12 + 4 * i, ioSizes[i] ?? 0, true);
    dv.setBigUint64(28 + 8 * i, hostPtrs[i] ?? 0n, true);
  }
  return out;
}

/** The reply to an embed request: status, u16 out sizes, the out data. */
export function encodeEmbedReply(h: Header, status: number, outVecs: readonly Uint8Array[]): Uint8Array {
  const total = outVecs.reduce((n, v) => n + v.length, 0);
  const out = new Uint8Array(16 + total);
  const dv = new DataView(out.buffer);
  out.set(encodeHeader(h), 0);
  dv.setInt32(4, status, true);
  outVecs.forEach((v, i) => {
    dv.setUint16(8 + 2 * i, v.length, true);
  });
  let at = 16;
  for (const v of outVecs) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/** The reply to a pointer-access request: status and u32 out sizes. */
export function encodePointerReply(h: Header, status: number, outSizes: readonly number[]): Uint8Array {
  const out = new Uint8Array(24);
  const dv = new DataView(out.buffer);
  out.set(encodeHeader(h), 0);
  dv.setInt32(4, status, true);
  outSizes.forEach((s, i) => {
    dv.setUint32(8 + 4 * i, s, true);
  });
  return out;
}

/** An error reply: the header echoed, the status, no payload. */
export function encodeErrorReply(h: Header, status: number): Uint8Array {
  return h.protocol === PROTOCOL_POINTER ? encodePointerReply(h, status, []) : encodeEmbedReply(h, status, []);
}

export interface DecodedReply {
  readonly header: Header;
  readonly status: number;
  readonly outSizes: readonly number[];
  /** Embed replies: the out data, split by the sizes. */
  readonly outVecs: readonly Uint8Array[];
}

/** Decodes a reply (client side); `outLen` says how many sizes are meaningful. */
export function decodeReply(b: Uint8Array, outLen: number): DecodedReply {
  const header = decodeHeader(b);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (header.protocol === PROTOCOL_EMBED) {
    if (b.length < 16) throw fail(`an embed reply is at least 16 bytes, got ${b.length}`, b.length);
    const outSizes = [0, 1, 2, 3].map((i) => readU16le(b, 8 + 2 * i)).slice(0, outLen);
    const outVecs: Uint8Array[] = [];
    let at = 16;
    for (const [i, n] of outSizes.entries()) {
      if (at + n > b.length) throw fail(`out_vec[${i}] of ${n} bytes runs past the ${b.length}-byte reply`, at);
      outVecs.push(b.slice(at, at + n));
      at += n;
    }
    return { header, status: dv.getInt32(4, true), outSizes, outVecs };
  }
  if (header.protocol === PROTOCOL_POINTER) {
    if (b.length < 24) throw fail(`a pointer-access reply is 24 bytes, got ${b.length}`, b.length);
    return {
      header,
      status: dv.getInt32(4, true),
      outSizes: [0, 1, 2, 3].map((i) => readU32le(b, 8 + 4 * i)).slice(0, outLen),
      outVecs: [],
    };
  }
  throw fail(`protocol_ver ${header.protocol} is neither embed (0) nor pointer access (1)`, 0);
}
