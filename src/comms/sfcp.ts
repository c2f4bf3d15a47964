/**
 * SFCP packets ("comms v2": TF-A v2.15.0 `drivers/arm/sfcp/`, TF-M 2.3.1 `rse/common/sfcp/`): a
 * 4-byte header {metadata, sender, receiver, message_id}, then the optional 20-byte cryptography
 * block, the optional ID extension {client_id u16, application_id u16} and the payload; metadata
 * holds the packet type in bits [7:6] (0 needs a reply, 1 no reply, 2 reply, 3 protocol error),
 * uses-cryptography [5], uses-ID-extension [4] and the protocol version [2:0], which is 2. A reply
 * keeps the request's sender and receiver and echoes its message id. A protocol-error reply is
 * exactly 8 bytes: the header, client_id and the error code. The PSA layer inside the payload is
 * {protocol_ver, 3 reserved} then the same embed or pointer-access body the RSE comms messages
 * carry, so an SFCP request converts to the legacy message TF-M's legacy path reads.
 * @module
 */
import { readU16le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const SFCP_PROTOCOL_VERSION = 2;
export const SFCP_PACKET_TYPE = { MSG_NEEDS_REPLY: 0, MSG_NO_REPLY: 1, REPLY: 2, PROTOCOL_ERROR_REPLY: 3 } as const;
export type SfcpPacketType = (typeof SFCP_PACKET_TYPE)[keyof typeof SFCP_PACKET_TYPE];

/** `sfcp_protocol_error.h`. */
export const SFCP_PROTOCOL_ERROR = {
  SUCCESS: 0,
  UNSUPPORTED: 1,
  FORWARDING_UNSUPPORTED: 2,
  INVALID_FORWARDING_DESTINATION: 3,
  FORWARDING_FAILED: 4,
  INVALID_CONTEXT: 5,
  TRY_AGAIN_LATER: 6,
  MSG_DELIVERY_TEMPORARY_FAILURE: 7,
  CRYPTO_UNSUPPORTED: 8,
  HANDSHAKE_FAILED: 9,
  MSG_TOO_LARGE_TO_RECIEVE: 10,
  INVALID_APPLICATION_ID: 11,
  INVALID_CLIENT_ID: 12,
  DECRYPTION_FAILED: 13,
  HANDLER_FAILED: 14,
  INTERNAL_ERROR: 15,
} as const;

const CRYPTO_BLOCK_SIZE = 20;

/** An SFCP packet (not a protocol-error reply). */
export interface SfcpPacket {
  readonly type: SfcpPacketType;
  readonly sender: number;
  readonly receiver: number;
  readonly messageId: number;
  /** The 20-byte cryptography block, when the packet uses it (carried, not interpreted here). */
  readonly crypto?: Uint8Array;
  /** Present when the packet has the ID extension. */
  readonly ids?: { readonly clientId: number; readonly applicationId: number };
  readonly payload: Uint8Array;
}

/** A protocol-error reply. */
export interface SfcpProtocolError {
  readonly sender: number;
  readonly receiver: number;
  readonly messageId: number;
  readonly clientId: number;
  readonly error: number;
}

const bad = (msg: string, field: string, offset: number): RseError => new RseError('E_COMMS', msg, { field, offset });

/** The version, if byte 0 of a message reads as an SFCP header (TF-M's test for SFCP vs legacy). */
export function isSfcpPacket(b: Uint8Array): boolean {
  return b.length >= 4 && ((b[0] as number) & 7) === SFCP_PROTOCOL_VERSION;
}

/** Decodes a packet; a protocol-error reply comes back as `{ protocolError }`. */
export function decodeSfcpPacket(b: Uint8Array): SfcpPacket | { readonly protocolError: SfcpProtocolError } {
  if (b.length < 4) throw bad(`an SFCP packet is at least 4 bytes, got ${b.length}`, 'header', 0);
  const m = b[0] as number;
  if ((m & 7) !== SFCP_PROTOCOL_VERSION) throw bad(`SFCP protocol version ${m & 7}, not 2`, 'metadata', 0);
  if ((m & 0x08) !== 0) throw bad('the reserved metadata bit 3 is set', 'metadata', 0);
  const type = (m >> 6) as SfcpPacketType;
  const [sender, receiver, messageId] = [b[1] as number, b[2] as number, b[3] as number];
  if (type === SFCP_PACKET_TYPE.PROTOCOL_ERROR_REPLY) {
    if ((m & 0x30) !== 0) throw bad('a protocol-error reply carries no cryptography block or ID extension', 'metadata', 0);
    if (b.length !== 8) throw bad(`a protocol-error reply is 8 bytes, got ${b.length}`, 'protocol error', 0);
    return { protocolError: { sender, receiver, messageId, clientId: readU16le(b, 4), error: readU16le(b, 6) } };
  }
  let at = 4;
  let crypto: Uint8Array | undefined;
  if ((m & 0x20) !== 0) {
    if (b.length < at + CRYPTO_BLOCK_SIZE) throw bad('the cryptography block runs past the packet', 'crypto', at);
    crypto = b.slice(at, at + CRYPTO_BLOCK_SIZE);
    at += CRYPTO_BLOCK_SIZE;
  }
  let ids: SfcpPacket['ids'];
  if ((m & 0x10) !== 0) {
    if (b.length < at + 4) throw bad('the ID extension runs past the packet', 'id extension', at);
    ids = { clientId: readU16le(b, at), applicationId: readU16le(b, at + 2) };
    at += 4;
  }
  return {
    type,
    sender,
    receiver,
    messageId,
    ...(crypto === undefined ? {} : { crypto }),
    ...(ids === undefined ? {} : { ids }),
    payload: b.slice(at),
  };
}

const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];

/** Encodes a packet (the ID extension and crypto block when given). */
export function encodeSfcpPacket(p: SfcpPacket): Uint8Array {
  const metadata = (p.type << 6) | (p.crypto === undefined ? 0 : 0x20) | (p.ids === undefined ? 0 : 0x10) | SFCP_PROTOCOL_VERSION;
  const head = [metadata, p.sender & 0xff, p.receiver & 0xff, p.messageId & 0xff];
  const ids = p.ids === undefined ? [] : [...u16(p.ids.clientId), ...u16(p.ids.applicationId)];
  return new Uint8Array(Buffer.concat([Uint8Array.from(head), p.crypto ?? new Uint8Array(0), Uint8Array.from(ids), p.payload]));
}

/** The 8-byte protocol-error reply to a request (sender and receiver kept, message id echoed). */
export function encodeSfcpProtocolError(e: SfcpProtocolError): Uint8Array {
  return Uint8Array.from([
    (SFCP_PACKET_TYPE.PROTOCOL_ERROR_REPLY << 6) | SFCP_PROTOCOL_VERSION,
    e.sender & 0xff,
    e.receiver & 0xff,
    e.messageId & 0xff,
    ...u16(e.clientId),
    ...u16(e.error),
  ]);
}

/**
 * The legacy RSE comms message a request's PSA payload amounts to (`sfcp_legacy_msg.c` in
 * reverse): {protocol_ver, seq = message_id, client_id} then the same body.
 */
export function sfcpToLegacyMessage(p: SfcpPacket): Uint8Array {
  if (p.payload.length < 4) throw bad('the PSA payload is shorter than its 4-byte header', 'payload', 0);
  const clientId = p.ids?.clientId ?? 0;
  return new Uint8Array(Buffer.concat([Uint8Array.of(p.payload[0] as number, p.messageId, ...u16(clientId)), p.payload.subarray(4)]));
}

/** The SFCP reply to `request` carrying a legacy reply's PSA body (its 4-byte legacy header dropped). */
export function sfcpReplyFromLegacy(request: SfcpPacket, legacyReply: Uint8Array): Uint8Array {
  if (legacyReply.length < 4) throw bad('a legacy reply is at least 4 bytes', 'reply', 0);
  return encodeSfcpPacket({
    type: SFCP_PACKET_TYPE.REPLY,
    sender: request.sender,
    receiver: request.receiver,
    messageId: request.messageId,
    ...(request.ids === undefined ? {} : { ids: request.ids }),
    payload: new Uint8Array(Buffer.concat([Uint8Array.of(legacyReply[0] as number, 0, 0, 0), legacyReply.subarray(4)])),
  });
}
