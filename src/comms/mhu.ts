/**
 * MHU channel framing (TF-A `mhu_wrapper_v2_x.c` / `mhu_wrapper_v3_x.c` semantics), for clients
 * that want to exercise their mailbox driver logic against the virtual RSE. With N channels the
 * last one is the doorbell: the first round carries the message length in channel 0 and message
 * words in channels 1..N-2, later rounds carry words in channels 0..N-2; each round ends with
 * 1234 written to the doorbell, and the receiver acknowledges it by clearing the channels. Words
 * are the message read as u32 LE, the last one zero-padded.
 *
 * On the socket a round travels as an `MHU_ROUND` frame (N × u32 LE: the channel registers when
 * the doorbell rang) and the acknowledgement as an empty `MHU_ACK` frame: the sender waits for it
 * before the next round, in both directions. A message longer than the receiver's buffer is
 * `MHU_ERR_BUFFER_TOO_SMALL`.
 * @module
 */
import { RseError } from '../lib/errors.ts';

export const MHU_DOORBELL = 1234;
/** Channels per round unless a peer says otherwise. */
export const MHU_DEFAULT_CHANNELS = 16;

/** The rounds that carry `msg` over `channels` channels. */
export function mhuRounds(msg: Uint8Array, channels: number): Uint32Array[] {
  if (!Number.isInteger(channels) || channels < 2 || channels > 124)
    throw new RseError('E_USAGE', `an MHU needs 2..124 channels, not ${channels}`, { field: 'mhu.channels' });
  const words = Math.ceil(msg.length / 4);
  const padded = new Uint8Array(words * 4);
  padded.set(msg);
  const dv = new DataView(padded.buffer);
  const rounds: Uint32Array[] = [];
  let round = new Uint32Array(channels);
  round[0] = msg.length;
  let ch = 1;
  for (let w = 0; w < words; w++) {
    if (ch === channels - 1) {
      round[channels - 1] = MHU_DOORBELL;
      rounds.push(round);
      round = new Uint32Array(channels);
      ch = 0;
    }
    round[ch++] = dv.getUint32(w * 4, true);
  }
  round[channels - 1] = MHU_DOORBELL;
  rounds.push(round);
  return rounds;
}

export function encodeRound(r: Uint32Array): Uint8Array {
  const out = new Uint8Array(r.length * 4);
  const dv = new DataView(out.buffer);
  r.forEach((v, i) => {
    dv.setUint32(i * 4, v, true);
  });
  return out;
}

/** Collects rounds into a message, as the receiving driver does. */
export class MhuReceiver {
  private length: number | undefined;
  private words: number[] = [];
  readonly channels: number;
  private readonly max: number;

  constructor(channels: number, max: number) {
    this.channels = channels;
    this.max = max;
  }

  /** Takes one round (the frame's payload); the message once complete, else undefined. */
  push(payload: Uint8Array): Uint8Array | undefined {
    const n = this.channels;
    if (payload.length !== n * 4) throw this.fail(`an MHU round is ${n} channels (${n * 4} bytes), got ${payload.length} bytes`);
    const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    if (dv.getUint32((n - 1) * 4, true) !== MHU_DOORBELL)
      throw this.fail(`the doorbell channel holds ${dv.getUint32((n - 1) * 4, true)}, not ${MHU_DOORBELL}`);
    let ch = 0;
    if (this.length === undefined) {
      const len = dv.getUint32(0, true);
      if (len > this.max) throw this.fail(`MHU_ERR_BUFFER_TOO_SMALL: a ${len}-byte message for a ${this.max}-byte buffer`);
      this.length = len;
      ch = 1;
    }
    const want = Math.ceil(this.length / 4);
    for (; ch < n - 1 && this.words.length < want; ch++) this.words.push(dv.getUint32(ch * 4, true));
    if (this.words.length < want) return undefined;
    const out = new Uint8Array(want * 4);
    const odv = new DataView(out.buffer);
    this.words.forEach((w, i) => {
      odv.setUint32(i * 4, w, true);
    });
    const msg = out.slice(0, this.length);
    this.length = undefined;
    this.words = [];
    return msg;
  }

  private fail(text: string): RseError {
    this.length = undefined;
    this.words = [];
    return new RseError('E_COMMS', text, { field: 'mhu' });
  }
}
