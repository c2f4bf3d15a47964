/**
 * A host-side client for a served virtual RSE: `psa_call` as TF-A's `rse_comms.c` makes it (client
 * id 1, sequence numbers from 1, embed when request and reply fit the mailbox, pointer access
 * otherwise, with the buffers attached as host memory in the AP's non-secure RAM window), and the
 * service wrappers of TF-A's `lib/psa`.
 * @module
 */
import { connect, type Socket } from 'node:net';
import { readU16le, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { encodePackIovec, type PackIovec } from '../services/crypto-wire.ts';
import { HANDLE, PSA, PSA_ALG, PSA_ECC_FAMILY_SECP_R1 } from '../services/psa.ts';
import { decodeRegions, encodeRegions, FRAME, FrameReader, frame, MAX_FRAME } from './frames.ts';
import { encodeRound, MhuReceiver, mhuRounds } from './mhu.ts';
import {
  type CtrlPacking,
  decodeReply,
  EMBED_REQUEST_FIXED,
  encodeEmbedRequest,
  encodePointerRequest,
  PAYLOAD_MAX,
  PROTOCOL_EMBED,
  PROTOCOL_POINTER,
} from './protocol.ts';
import type { Listen } from './server.ts';
import { decodeSfcpPacket, encodeSfcpPacket, SFCP_PACKET_TYPE } from './sfcp.ts';

/** Where the client places pointer-access buffers: TC's non-secure RAM (open to every link). */
export const CLIENT_BUFFER_BASE = 0x06000000n;

/** The reply to one `psa_call`: status, output vectors, and the protocol that carried it. */
export interface CallResult {
  readonly status: number;
  readonly outVecs: readonly Uint8Array[];
  /** How the call went: `local` when the client refused it without sending (as TF-A's does). */
  readonly protocol: 'embed' | 'pointer' | 'local';
}

/** How an {@link RseClient} talks: ctrl packing, mailbox size, protocol, client id, MHU framing, buffer placement. */
export interface ClientOptions {
  readonly packing?: CtrlPacking;
  /** The mailbox's largest message (TF-A's choice of protocol); default 0x840 + 4. */
  readonly mailboxMax?: number;
  /** `embed` or `pointer` for every call, instead of TF-A's choice. */
  readonly protocol?: 'embed' | 'pointer';
  /** The header's client id (default 1, as TF-A sends): the RSE maps it into the link's range. */
  readonly clientId?: number;
  /** Carry messages as MHU rounds over this many channels (the server's `mhuChannels`) instead of message frames. */
  readonly mhuChannels?: number;
  /**
   * Where pointer-access buffers are laid out in host memory (default {@link CLIENT_BUFFER_BASE},
   * TC's non-secure RAM, which every link may use): the RSE checks each against the link's
   * host-memory rules.
   */
  readonly bufferBase?: bigint;
  /**
   * Speak SFCP (TF-A v2.15's comms v2) to this node (`runtime.sfcp.node` of the device's
   * profile), as `sender` (TC's AP: 2): each message goes out as a packet with the ID extension
   * (client id, application id 0) and the PSA payload, and the reply comes back the same way.
   */
  readonly sfcp?: { readonly receiver: number; readonly sender?: number };
  /**
   * How long to wait for each frame of a reply, in ms (default: forever). On expiry the call fails
   * with `E_COMMS` and the connection is closed (a late reply would answer the wrong call).
   */
  readonly timeoutMs?: number;
  /** The server's control token (`rse serve --ctrl-token`): sent with every control command. */
  readonly ctrlToken?: string;
}

/** A client of `rse serve`: TF-A's RSE comms calls (attestation, measured boot, delegated attestation, NV counters, crypto) over a Unix or TCP socket. */
export class RseClient {
  private readonly sock: Socket;
  private readonly reader = new FrameReader();
  private readonly waiting: { resolve: (f: { kind: number; payload: Uint8Array }) => void; reject: (e: Error) => void }[] = [];
  /** Frames that came before anyone waited for them (an MHU reply's first round). */
  private readonly inbox: { kind: number; payload: Uint8Array }[] = [];
  private seq = 1;
  readonly packing: CtrlPacking;
  private readonly mailboxMax: number;
  private readonly protocol: 'embed' | 'pointer' | undefined;
  private readonly clientId: number;
  private readonly mhuChannels: number;
  private readonly bufferBase: bigint;
  private readonly sfcp: { readonly receiver: number; readonly sender: number } | undefined;
  private readonly timeoutMs: number | undefined;
  private readonly ctrlToken: string | undefined;

  private constructor(sock: Socket, o: ClientOptions) {
    this.sock = sock;
    this.packing = o.packing ?? 'v2.11';
    this.mailboxMax = o.mailboxMax ?? PAYLOAD_MAX + 4;
    this.protocol = o.protocol;
    this.clientId = o.clientId ?? 1;
    this.mhuChannels = o.mhuChannels ?? 0;
    this.bufferBase = o.bufferBase ?? CLIENT_BUFFER_BASE;
    this.sfcp = o.sfcp === undefined ? undefined : { receiver: o.sfcp.receiver, sender: o.sfcp.sender ?? 2 };
    this.timeoutMs = o.timeoutMs;
    this.ctrlToken = o.ctrlToken;
    sock.on('data', (chunk: Buffer) => {
      let frames: { kind: number; payload: Uint8Array }[];
      try {
        frames = this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        this.failAll(e as Error);
        return;
      }
      for (const f of frames) {
        const w = this.waiting.shift();
        if (w === undefined) this.inbox.push(f);
        else w.resolve(f);
      }
    });
    sock.on('error', (e) => this.failAll(e));
    sock.on('close', () => this.failAll(new RseError('E_IO', 'the RSE closed the connection')));
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  static connect(where: Listen, o: ClientOptions = {}): Promise<RseClient> {
    return new Promise((resolve, reject) => {
      const sock = 'path' in where ? connect(where.path) : connect(where.port, where.host ?? '127.0.0.1');
      sock.once('error', (e) => reject(new RseError('E_IO', `cannot reach the RSE: ${e.message}`)));
      sock.once('connect', () => resolve(new RseClient(sock, o)));
    });
  }

  close(): void {
    this.sock.end();
  }

  /** Waits for the next frame, within the timeout if there is one. */
  private wait(resolve: (f: { kind: number; payload: Uint8Array }) => void, reject: (e: Error) => void): void {
    const ms = this.timeoutMs;
    if (ms === undefined) {
      this.waiting.push({ resolve, reject });
      return;
    }
    const w = {
      resolve: (f: { kind: number; payload: Uint8Array }) => {
        clearTimeout(timer);
        resolve(f);
      },
      reject: (e: Error) => {
        clearTimeout(timer);
        reject(e);
      },
    };
    const timer = setTimeout(() => {
      const i = this.waiting.indexOf(w);
      if (i >= 0) this.waiting.splice(i, 1);
      reject(new RseError('E_COMMS', `no reply from the RSE within ${ms} ms (the connection is closed)`, { field: 'timeout' }));
      this.sock.destroy();
    }, ms);
    this.waiting.push(w);
  }

  /** Sends one frame and waits for the frame that answers it. */
  exchange(kind: number, payload: Uint8Array): Promise<{ kind: number; payload: Uint8Array }> {
    return new Promise((resolve, reject) => {
      this.wait(resolve, reject);
      this.sock.write(frame(kind, payload));
    });
  }

  /** The next frame from the RSE, without sending anything. */
  private nextFrame(): Promise<{ kind: number; payload: Uint8Array }> {
    const ready = this.inbox.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => this.wait(resolve, reject));
  }

  /** One message through MHU framing: the rounds out (each acknowledged), the reply's rounds in. */
  private async mhuExchange(msg: Uint8Array): Promise<Uint8Array> {
    const fail = (f: { kind: number; payload: Uint8Array }): RseError =>
      new RseError('E_COMMS', `the RSE answered: ${f.kind === FRAME.ERROR ? new TextDecoder().decode(f.payload) : `frame kind ${f.kind}`}`);
    for (const r of mhuRounds(msg, this.mhuChannels)) {
      const ack = await this.exchange(FRAME.MHU_ROUND, encodeRound(r));
      if (ack.kind !== FRAME.MHU_ACK) throw fail(ack);
    }
    const rx = new MhuReceiver(this.mhuChannels, MAX_FRAME);
    let f = await this.nextFrame();
    for (;;) {
      if (f.kind !== FRAME.MHU_ROUND) throw fail(f);
      const reply = rx.push(f.payload);
      if (reply !== undefined) {
        this.sock.write(frame(FRAME.MHU_ACK, new Uint8Array(0)));
        return reply;
      }
      f = await this.exchange(FRAME.MHU_ACK, new Uint8Array(0));
    }
  }

  async control(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const body = this.ctrlToken === undefined ? cmd : { ...cmd, token: this.ctrlToken };
    const f = await this.exchange(FRAME.CTRL, new TextEncoder().encode(JSON.stringify(body)));
    if (f.kind !== FRAME.CTRL) throw new RseError('E_COMMS', new TextDecoder().decode(f.payload));
    return JSON.parse(new TextDecoder().decode(f.payload)) as Record<string, unknown>;
  }

  /** `psa_call`. */
  async call(handle: number, type: number, inVecs: readonly Uint8Array[], outCaps: readonly number[]): Promise<CallResult> {
    const seq = this.seq;
    this.seq = (this.seq + 1) & 0xff;
    const inTotal = inVecs.reduce((n, v) => n + v.length, 0);
    const outTotal = outCaps.reduce((n, v) => n + v, 0);
    const fits = EMBED_REQUEST_FIXED + inTotal <= this.mailboxMax - 4 && 16 + outTotal <= this.mailboxMax - 4;
    const useEmbed = this.protocol === undefined ? fits : this.protocol === 'embed';
    if (this.mhuChannels > 0 && !useEmbed)
      throw new RseError('E_USAGE', 'MHU framing carries embed messages only (pointer access needs attached host memory)', {
        field: 'protocol',
      });
    if (useEmbed) {
      const msg = encodeEmbedRequest(
        { protocol: PROTOCOL_EMBED, seq, clientId: this.clientId },
        handle,
        type,
        inVecs,
        outCaps,
        this.packing,
      );
      let replyBytes: Uint8Array;
      const wire = this.toWire(msg);
      if (this.mhuChannels > 0) replyBytes = await this.mhuExchange(wire);
      else {
        const f = await this.exchange(FRAME.MSG, wire);
        if (f.kind !== FRAME.MSG) throw new RseError('E_COMMS', `the RSE answered: ${new TextDecoder().decode(f.payload)}`);
        replyBytes = f.payload;
      }
      const r = decodeReply(this.fromWire(replyBytes, msg), outCaps.length);
      return { status: r.status, outVecs: r.outVecs, protocol: 'embed' };
    }
    // Pointer access: lay the buffers out in host memory and attach the inputs.
    let addr = this.bufferBase;
    const ptrs: bigint[] = [];
    const regions = inVecs.map((v) => {
      const r = { addr, bytes: v };
      ptrs.push(addr);
      addr += BigInt(Math.max(16, (v.length + 15) & ~15));
      return r;
    });
    for (const c of outCaps) {
      ptrs.push(addr);
      addr += BigInt(Math.max(16, (c + 15) & ~15));
    }
    const msg = encodePointerRequest(
      { protocol: PROTOCOL_POINTER, seq, clientId: this.clientId },
      handle,
      type,
      inVecs.length,
      outCaps.length,
      [...inVecs.map((v) => v.length), ...outCaps],
      ptrs,
      this.packing,
    );
    const f = await this.exchange(FRAME.MSG_MEM, encodeRegions(regions, this.toWire(msg)));
    if (f.kind !== FRAME.MSG_MEM) throw new RseError('E_COMMS', `the RSE answered: ${new TextDecoder().decode(f.payload)}`);
    const { regions: written, rest } = decodeRegions(f.payload);
    const r = decodeReply(this.fromWire(rest, msg), outCaps.length);
    const outVecs = outCaps.map((_, i) => {
      const w = written.find((x) => x.addr === ptrs[inVecs.length + i]);
      return (w?.bytes ?? new Uint8Array(0)).slice(0, r.outSizes[i] ?? 0);
    });
    return { status: r.status, outVecs, protocol: 'pointer' };
  }

  /** A legacy message as it goes on the wire: itself, or as an SFCP packet. */
  private toWire(legacy: Uint8Array): Uint8Array {
    if (this.sfcp === undefined) return legacy;
    return encodeSfcpPacket({
      type: SFCP_PACKET_TYPE.MSG_NEEDS_REPLY,
      sender: this.sfcp.sender,
      receiver: this.sfcp.receiver,
      messageId: legacy[1] as number,
      ids: { clientId: readU16le(legacy, 2), applicationId: 0 },
      payload: new Uint8Array(Buffer.concat([Uint8Array.of(legacy[0] as number, 0, 0, 0), legacy.subarray(4)])),
    });
  }

  /** A reply off the wire as a legacy reply, with the checks TF-A's `sfcp_receive_reply` makes. */
  private fromWire(reply: Uint8Array, request: Uint8Array): Uint8Array {
    if (this.sfcp === undefined) return reply;
    const p = decodeSfcpPacket(reply);
    if ('protocolError' in p)
      throw new RseError('E_COMMS', `the RSE answered with SFCP protocol error ${p.protocolError.error}`, { field: 'sfcp' });
    const clientId = readU16le(request, 2);
    if (p.type !== SFCP_PACKET_TYPE.REPLY || p.messageId !== request[1] || p.ids?.clientId !== clientId || p.ids.applicationId !== 0)
      throw new RseError('E_COMMS', 'the SFCP reply does not answer this request (type, message id or ids)', { field: 'sfcp' });
    if (p.payload.length < 4) throw new RseError('E_COMMS', 'the SFCP reply has no PSA header', { field: 'sfcp' });
    return new Uint8Array(
      Buffer.concat([Uint8Array.of(p.payload[0] as number, p.messageId, clientId & 0xff, clientId >> 8), p.payload.subarray(4)]),
    );
  }

  /** `psa_initial_attest_get_token`. */
  async attestationToken(challenge: Uint8Array, capacity = 0x800): Promise<CallResult> {
    return this.call(HANDLE.ATTESTATION, 1001, [challenge], [capacity]);
  }

  /**
   * `rse_measured_boot_read_measurement`. The buffer sizes default to the largest (the struct's
   * sw_type and version, 64-byte signer id and value); smaller ones are what the read checks.
   */
  async measuredBootRead(slot: number, o: MbootReadOptions = {}): Promise<CallResult & { slot?: MbootReadout }> {
    const swTypeMax = o.swTypeMax ?? 32;
    const outSize = 8 + swTypeMax + 1 + 14 + 1;
    const r = await this.call(
      HANDLE.MEASURED_BOOT,
      1001,
      [Uint8Array.of(slot, o.swTypeSize ?? swTypeMax, o.versionSize ?? 14)],
      [outSize, o.signerIdCapacity ?? 64, o.valueCapacity ?? 64],
    );
    if (r.status !== 0) return r;
    const out = r.outVecs[0] as Uint8Array;
    const text = (b: Uint8Array): string => new TextDecoder().decode(b);
    const swLen = Math.min(out[8 + swTypeMax] as number, swTypeMax);
    const verLen = Math.min(out[9 + swTypeMax + 14] as number, 14);
    return {
      ...r,
      slot: {
        locked: out[0] === 1,
        algo: readU32le(out, 4),
        swType: text(out.subarray(8, 8 + swLen)),
        version: text(out.subarray(9 + swTypeMax, 9 + swTypeMax + verLen)),
        signerId: r.outVecs[1] as Uint8Array,
        value: r.outVecs[2] as Uint8Array,
      },
    };
  }

  /**
   * `rse_measured_boot_extend_measurement`: as the client library does, a trailing NUL of the
   * version or sw_type is not sent, and an sw_type longer than the struct's field is refused
   * here (INVALID_ARGUMENT, nothing sent).
   */
  async measuredBootExtend(
    a: { slot: number; signerId: Uint8Array; version: string; swType: string; measurement: Uint8Array; lock: boolean; algo?: number },
    swTypeMax: 20 | 32 = 32,
  ): Promise<CallResult> {
    const sw = new TextEncoder().encode(a.swType.replace(/\0$/, ''));
    if (sw.length > swTypeMax) return { status: PSA.ERROR_INVALID_ARGUMENT, outVecs: [], protocol: 'local' };
    const ext = new Uint8Array(8 + swTypeMax + 4);
    ext[0] = a.slot;
    ext[1] = a.lock ? 1 : 0;
    ext.set(u32le(a.algo ?? PSA_ALG.SHA_256), 4);
    ext.set(sw, 8);
    ext[8 + swTypeMax] = sw.length;
    const version = new TextEncoder().encode(a.version.replace(/\0$/, ''));
    return this.call(HANDLE.MEASURED_BOOT, 1002, [ext, a.signerId, version, a.measurement], []);
  }

  async nvRead(id: number): Promise<CallResult & { value?: number }> {
    const r = await this.call(HANDLE.PLATFORM, 1010, [u32le(id)], [4]);
    return r.status === 0 && r.outVecs[0]?.length === 4 ? { ...r, value: readU32le(r.outVecs[0], 0) } : r;
  }

  async nvIncrement(id: number): Promise<CallResult> {
    return this.call(HANDLE.PLATFORM, 1011, [u32le(id)], []);
  }

  /** Host ROTPK export (`rse_platform_key_read`): `s`, `ns` or `cca`, with the profile's crypto ABI. */
  async rotpk(which: 's' | 'ns' | 'cca', abi: { packSize: number; functionIdAt: number; exportPublicKey: number }): Promise<CallResult> {
    const iov = new Uint8Array(abi.packSize);
    const dv = new DataView(iov.buffer);
    dv.setUint32(0, { s: 0x7fff816c, ns: 0x7fff816d, cca: 0x7fff816e }[which], true);
    dv.setUint16(abi.functionIdAt, abi.exportPublicKey, true);
    return this.call(HANDLE.CRYPTO, 0, [iov], [97]);
  }

  /** `rse_delegated_attest_get_delegated_key`: the DAK private scalar, ⌈bits/8⌉ bytes. */
  async delegatedKey(keyBits: number, hashAlg: number = PSA_ALG.SHA_256, capacity = 66): Promise<CallResult> {
    return this.call(
      HANDLE.DELEGATED_ATTESTATION,
      1001,
      [Uint8Array.of(PSA_ECC_FAMILY_SECP_R1), u32le(keyBits), u32le(hashAlg)],
      [capacity],
    );
  }

  /** `rse_delegated_attest_get_token`: the platform token whose challenge is the DAK public-key hash. */
  async delegatedToken(dakPubHash: Uint8Array, capacity = 0x800): Promise<CallResult> {
    return this.call(HANDLE.DELEGATED_ATTESTATION, 1002, [dakPubHash], [capacity]);
  }

  /**
   * A PSA Crypto call as TF-M 2.1's client library makes it: the pack iovec (function id, key id,
   * algorithm, operation handle, AEAD nonce, derivation step and capacity), then the inputs.
   */
  async crypto(
    iov: Partial<PackIovec> & { functionId: number },
    inVecs: readonly Uint8Array[] = [],
    outCaps: readonly number[] = [],
  ): Promise<CallResult> {
    return this.call(HANDLE.CRYPTO, 0, [encodePackIovec(iov), ...inVecs], outCaps);
  }

  /** `tfm_platform_ioctl`: the request word, an optional input and output capacity. */
  async platformIoctl(request: number, input?: Uint8Array, outCapacity = 0): Promise<CallResult> {
    const ins = input === undefined ? [u32le(request)] : [u32le(request), input];
    return this.call(HANDLE.PLATFORM, 1013, ins, outCapacity > 0 ? [outCapacity] : []);
  }

  /** `tfm_platform_system_reset`: answered, then the RSE resets. */
  async systemReset(): Promise<CallResult> {
    return this.call(HANDLE.PLATFORM, 1012, [], []);
  }
}

/** Buffer sizes of a measured-boot read. */
export interface MbootReadOptions {
  /** The profile's SW_TYPE_MAX_SIZE (struct layout): 32 (TF-M 2.1) or 20 (RSS era). */
  readonly swTypeMax?: 20 | 32;
  /** The caller's sw_type / version buffer sizes (read_in). */
  readonly swTypeSize?: number;
  readonly versionSize?: number;
  /** The signer id and measurement value buffer sizes (out_vec[1], out_vec[2]). */
  readonly signerIdCapacity?: number;
  readonly valueCapacity?: number;
}

/** One measured-boot slot as the service returns it. */
export interface MbootReadout {
  readonly locked: boolean;
  readonly algo: number;
  readonly swType: string;
  readonly version: string;
  readonly signerId: Uint8Array;
  readonly value: Uint8Array;
}
