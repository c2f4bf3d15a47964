/**
 * How RSE comms messages travel over a Unix or TCP socket (rsekit's framing; the messages inside
 * are the exact bytes TF-A hands its MHU driver):
 *
 * ```
 * frame   = body_length u32 LE ‖ body            (body_length ≤ MAX_FRAME)
 * body    = kind u8 ‖ payload
 * 0x00 MSG       payload = message                → reply 0x00: the reply bytes
 * 0x01 MSG_MEM   payload = n u8 ‖ n × region ‖ message
 *                region  = addr u64 LE ‖ len u32 LE ‖ bytes
 *                the regions back the host pointers of a pointer-access message (the host memory
 *                the RSE reads through its ATU)   → reply 0x01: n u8 ‖ the regions the RSE wrote ‖ reply
 * 0x02 CTRL      payload = UTF-8 JSON {"cmd": …}  → reply 0x02: UTF-8 JSON
 * 0x03 MHU_ROUND payload = N × u32 LE: one MHU round (channel registers at the doorbell; `mhu.ts`)
 * 0x04 MHU_ACK   empty: the receiver cleared the channels (the sender may send its next round)
 * 0x7F ERROR     (server → client) UTF-8 text: a frame the server could not take
 * ```
 * @module
 */
import { readU32le, readU64le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const FRAME = { MSG: 0x00, MSG_MEM: 0x01, CTRL: 0x02, MHU_ROUND: 0x03, MHU_ACK: 0x04, ERROR: 0x7f } as const;
/** The largest body a peer accepts (a message is at most 0x844 bytes; regions make up the rest). */
export const MAX_FRAME = 0x100000;

export interface Region {
  readonly addr: bigint;
  readonly bytes: Uint8Array;
}

export function frame(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(0, 1 + payload.length, true);
  out[4] = kind;
  out.set(payload, 5);
  return out;
}

export function encodeRegions(regions: readonly Region[], tail: Uint8Array): Uint8Array {
  if (regions.length > 255) throw new RseError('E_COMMS', 'at most 255 regions per call', { field: 'regions' });
  const size = 1 + regions.reduce((n, r) => n + 12 + r.bytes.length, 0) + tail.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = regions.length;
  let at = 1;
  for (const r of regions) {
    dv.setBigUint64(at, r.addr, true);
    dv.setUint32(at + 8, r.bytes.length, true);
    out.set(r.bytes, at + 12);
    at += 12 + r.bytes.length;
  }
  out.set(tail, at);
  return out;
}

export function decodeRegions(b: Uint8Array): { regions: Region[]; rest: Uint8Array } {
  if (b.length < 1) throw new RseError('E_COMMS', 'MSG_MEM payload is empty', { field: 'frame', offset: 0 });
  const n = b[0] as number;
  const regions: Region[] = [];
  let at = 1;
  for (let i = 0; i < n; i++) {
    if (at + 12 > b.length) throw new RseError('E_COMMS', `region ${i} header runs past the frame`, { field: 'frame', offset: at });
    const addr = readU64le(b, at);
    const len = readU32le(b, at + 8);
    if (at + 12 + len > b.length)
      throw new RseError('E_COMMS', `region ${i} (${len} bytes) runs past the frame`, { field: 'frame', offset: at + 8 });
    regions.push({ addr, bytes: b.subarray(at + 12, at + 12 + len) });
    at += 12 + len;
  }
  return { regions, rest: b.subarray(at) };
}

/**
 * Splits a byte stream into frames; throws on a body length over `MAX_FRAME` or of zero. Bytes
 * are appended to one growing buffer (amortised copies), so a frame trickling in byte by byte
 * costs linear time, not a copy of everything held per byte.
 */
export class FrameReader {
  private buf = new Uint8Array(256);
  private start = 0;
  private end = 0;

  push(chunk: Uint8Array): { kind: number; payload: Uint8Array }[] {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const next =
        live + chunk.length <= this.buf.length >> 1 ? this.buf : new Uint8Array(Math.max(this.buf.length * 2, live + chunk.length));
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
    const out: { kind: number; payload: Uint8Array }[] = [];
    while (this.end - this.start >= 4) {
      const len = readU32le(this.buf, this.start);
      if (len === 0 || len > MAX_FRAME)
        throw new RseError('E_COMMS', `frame body of ${len} bytes (1..${MAX_FRAME} allowed)`, { field: 'frame', offset: this.start });
      if (this.end - this.start - 4 < len) break;
      out.push({ kind: this.buf[this.start + 4] as number, payload: this.buf.slice(this.start + 5, this.start + 4 + len) });
      this.start += 4 + len;
    }
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
      // Give back a buffer a large frame grew.
      if (this.buf.length > 64 * 1024) this.buf = new Uint8Array(256);
    }
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.end - this.start;
  }
}
