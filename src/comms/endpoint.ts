/**
 * The RSE side of a host link: a message in, a reply out, as TF-M's `rse_comms` does it. The
 * header is echoed; a message that does not deserialize (bad protocol, sizes, a host pointer the
 * permission table refuses or that no buffer backs) gets PSA_ERROR_CONNECTION_BUSY; a host client
 * id out of the link's range PSA_ERROR_INVALID_ARGUMENT; a forbidden (handle, type)
 * PSA_ERROR_NOT_PERMITTED. Pointer-access vectors are read from and written to `HostMemory`.
 * @module
 */
import { isRseError } from '../lib/errors.ts';
import { PSA, type PsaReply } from '../services/psa.ts';
import { type HostLink, Runtime } from '../services/spm.ts';
import {
  type CtrlPacking,
  decodeHeader,
  decodeRequest,
  encodeEmbedReply,
  encodeErrorReply,
  encodePointerReply,
  HEADER_SIZE,
  type Header,
  PAYLOAD_MAX,
  type Request,
} from './protocol.ts';
import {
  decodeSfcpPacket,
  encodeSfcpProtocolError,
  isSfcpPacket,
  SFCP_PACKET_TYPE,
  SFCP_PROTOCOL_ERROR,
  sfcpReplyFromLegacy,
  sfcpToLegacyMessage,
} from './sfcp.ts';

/**
 * A pointer-access vector is mapped through one comms ATU window: 64 KiB (8 pages of 8 KiB) from
 * the page holding its first byte; a vector that does not fit it cannot be mapped.
 */
export const COMMS_WINDOW = 0x10000;
const COMMS_PAGE = 0x2000n;

function fitsWindow(ptr: bigint, size: number): boolean {
  return Number(ptr % COMMS_PAGE) + size <= COMMS_WINDOW;
}

/** Host memory the RSE reaches through its ATU for pointer-access messages. */
export interface HostMemory {
  read(addr: bigint, len: number): Uint8Array | undefined;
  write(addr: bigint, data: Uint8Array): boolean;
}

/** Host memory made of the buffers a client attached to one call (and what the RSE wrote). */
export class AttachedMemory implements HostMemory {
  readonly regions: { addr: bigint; bytes: Uint8Array }[];
  readonly written: { addr: bigint; bytes: Uint8Array }[] = [];
  constructor(regions: { addr: bigint; bytes: Uint8Array }[]) {
    this.regions = regions;
  }
  read(addr: bigint, len: number): Uint8Array | undefined {
    for (const r of this.regions) {
      const off = addr - r.addr;
      if (off >= 0n && off + BigInt(len) <= BigInt(r.bytes.length)) return r.bytes.subarray(Number(off), Number(off) + len);
    }
    return len === 0 ? new Uint8Array(0) : undefined;
  }
  write(addr: bigint, data: Uint8Array): boolean {
    this.written.push({ addr, bytes: data.slice() });
    return true;
  }
}

/** One handled call, for logs. */
export interface CallRecord {
  readonly header: Header;
  readonly kind: 'embed' | 'pointer' | 'malformed';
  readonly handle?: number;
  readonly type?: number;
  readonly clientId?: number;
  readonly status: number;
  readonly why?: string;
}

export interface EndpointOptions {
  readonly packing: CtrlPacking;
  /** Also answer SFCP packets, as this SFCP node (legacy messages are still answered). */
  readonly sfcp?: { readonly node: number };
  readonly link?: HostLink;
  readonly onCall?: (r: CallRecord) => void;
}

export class Endpoint {
  readonly runtime: Runtime;
  readonly packing: CtrlPacking;
  readonly link: HostLink;
  private readonly onCall: ((r: CallRecord) => void) | undefined;
  readonly sfcp: { readonly node: number } | undefined;

  constructor(runtime: Runtime, o: EndpointOptions) {
    this.runtime = runtime;
    this.packing = o.packing;
    this.sfcp = o.sfcp;
    this.link = o.link ?? 'ap-monitor';
    this.onCall = o.onCall;
  }

  /** The reply to `msg`, or undefined when it is too short to carry a header to echo. */
  handle(msg: Uint8Array, mem?: HostMemory): Uint8Array | undefined {
    if (this.sfcp !== undefined && isSfcpPacket(msg)) return this.handleSfcp(msg, this.sfcp.node, mem);
    return this.handleLegacy(msg, this.packing, mem);
  }

  /**
   * An SFCP packet (TF-M 2.3's `sfcp.c` receive path): a request for this node goes through the
   * same PSA layer as a legacy message and its reply comes back as an SFCP reply; what the node
   * cannot take gets the protocol-error reply TF-M sends.
   */
  private handleSfcp(msg: Uint8Array, node: number, mem?: HostMemory): Uint8Array | undefined {
    const error = (code: number, clientId = 0): Uint8Array =>
      encodeSfcpProtocolError({ sender: msg[1] as number, receiver: msg[2] as number, messageId: msg[3] as number, clientId, error: code });
    let p: ReturnType<typeof decodeSfcpPacket>;
    try {
      p = decodeSfcpPacket(msg);
    } catch (e) {
      if (!isRseError(e)) throw e;
      return error(SFCP_PROTOCOL_ERROR.UNSUPPORTED);
    }
    if ('protocolError' in p) return undefined;
    const clientId = p.ids?.clientId ?? 0;
    if (p.type !== SFCP_PACKET_TYPE.MSG_NEEDS_REPLY) return error(SFCP_PROTOCOL_ERROR.UNSUPPORTED, clientId);
    if (p.crypto !== undefined) return error(SFCP_PROTOCOL_ERROR.CRYPTO_UNSUPPORTED, clientId);
    if (p.receiver !== node) return error(SFCP_PROTOCOL_ERROR.FORWARDING_UNSUPPORTED, clientId);
    if (p.payload.length < 4) return error(SFCP_PROTOCOL_ERROR.INVALID_CONTEXT, clientId);
    const reply = this.handleLegacy(sfcpToLegacyMessage(p), 'v2.11', mem);
    return reply === undefined ? error(SFCP_PROTOCOL_ERROR.HANDLER_FAILED, clientId) : sfcpReplyFromLegacy(p, reply);
  }

  private handleLegacy(msg: Uint8Array, packing: CtrlPacking, mem?: HostMemory): Uint8Array | undefined {
    if (msg.length < HEADER_SIZE) {
      this.onCall?.({
        header: { protocol: 0, seq: 0, clientId: 0 },
        kind: 'malformed',
        status: PSA.ERROR_CONNECTION_BUSY,
        why: 'no header',
      });
      return undefined;
    }
    const header = decodeHeader(msg);
    const refuse = (status: number, why: string, req?: Request): Uint8Array => {
      this.onCall?.({
        header,
        kind: req?.kind ?? 'malformed',
        ...(req === undefined ? {} : { handle: req.handle, type: req.type }),
        status,
        why,
      });
      return encodeErrorReply(header, status);
    };
    let req: Request;
    try {
      req = decodeRequest(msg, packing);
    } catch (e) {
      if (isRseError(e)) return refuse(PSA.ERROR_CONNECTION_BUSY, e.message);
      throw e;
    }
    const clientId = Runtime.clientId(this.link, header.clientId);
    if (clientId === undefined) return refuse(PSA.ERROR_INVALID_ARGUMENT, `host client id ${header.clientId} is out of range`, req);
    let inVecs: readonly Uint8Array[];
    let outCaps: readonly number[];
    if (req.kind === 'embed') {
      inVecs = req.inVecs;
      outCaps = req.outCaps;
    } else {
      const vecs: Uint8Array[] = [];
      for (let i = 0; i < req.inLen; i++) {
        const size = req.ioSizes[i] as number;
        const ptr = req.hostPtrs[i] as bigint;
        if (size === 0) {
          vecs.push(new Uint8Array(0));
          continue;
        }
        if (!fitsWindow(ptr, size))
          return refuse(
            PSA.ERROR_CONNECTION_BUSY,
            `in_vec[${i}] of ${size} bytes does not fit a ${COMMS_WINDOW / 1024} KiB ATU window`,
            req,
          );
        if (!this.runtime.memoryAllowed(this.link, ptr, size, false))
          return refuse(PSA.ERROR_CONNECTION_BUSY, `in_vec[${i}] at 0x${ptr.toString(16)} is not host memory this link may read`, req);
        const b = mem?.read(ptr, size);
        if (b === undefined) return refuse(PSA.ERROR_CONNECTION_BUSY, `in_vec[${i}] at 0x${ptr.toString(16)} maps no host memory`, req);
        vecs.push(b.slice());
      }
      inVecs = vecs;
      outCaps = req.ioSizes.slice(req.inLen, req.inLen + req.outLen);
      for (let i = 0; i < req.outLen; i++) {
        const size = outCaps[i] as number;
        const ptr = req.hostPtrs[req.inLen + i] as bigint;
        if (!fitsWindow(ptr, size))
          return refuse(
            PSA.ERROR_CONNECTION_BUSY,
            `out_vec[${i}] of ${size} bytes does not fit a ${COMMS_WINDOW / 1024} KiB ATU window`,
            req,
          );
        if (size > 0 && !this.runtime.memoryAllowed(this.link, ptr, size, true))
          return refuse(PSA.ERROR_CONNECTION_BUSY, `out_vec[${i}] at 0x${ptr.toString(16)} is not host memory this link may write`, req);
      }
    }
    if (!this.runtime.serviceAllowed(req.handle, req.type, inVecs))
      return refuse(PSA.ERROR_NOT_PERMITTED, `handle 0x${(req.handle >>> 0).toString(16)} type ${req.type} is not open to the host`, req);
    let r: PsaReply = this.runtime.call({ handle: req.handle, type: req.type, clientId, inVecs, outCaps });
    // A partition never returns more than asked for; the SPM enforces it.
    if (r.outVecs.some((v, i) => v.length > (outCaps[i] ?? 0))) r = { status: PSA.ERROR_PROGRAMMER_ERROR, outVecs: [] };
    // The SPM reports what the partition wrote whatever the status (`update_caller_outvec_len`).
    const outs = r.outVecs;
    this.onCall?.({ header, kind: req.kind, handle: req.handle, type: req.type, clientId, status: r.status });
    if (req.kind === 'embed') {
      const total = outs.reduce((n, v) => n + v.length, 0);
      if (12 + total > PAYLOAD_MAX) return encodeEmbedReply(header, PSA.ERROR_BUFFER_TOO_SMALL, []);
      return encodeEmbedReply(header, r.status, outs);
    }
    outs.forEach((v, i) => {
      if (v.length > 0) mem?.write(req.hostPtrs[req.inLen + i] as bigint, v);
    });
    return encodePointerReply(
      header,
      r.status,
      outs.map((v) => v.length),
    );
  }
}
