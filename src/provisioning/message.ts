/**
 * TF-M 2.2+'s RSE provisioning messages (`provisioning/rse_provisioning_message.h`, the scripts'
 * `sign_then_encrypt_data.py`, the ROM's `rse_provisioning_auth_message_handler.c`): an 8-byte
 * header {type, data_length}; for a BLOB, a 248-byte authentication header {signature_size,
 * signature[96], metadata, purpose, version, iv[8], soc_uid[12], batch_id, dm_number,
 * code_size, data_size, secret_values_size, public_key[96]} and the code, data and secret
 * values, each zero-padded to 16 bytes. The secret values (and, when the metadata says so, the
 * code and data too, as one stream) are encrypted. Asymmetric messages are AES-256-CTR from
 * `iv ‖ 0⁸` under KPROV with an ECDSA signature (RFC 6979, raw r ‖ s) over the 148 bytes from
 * `metadata` on, the clear parts and the plaintext of the encrypted ones; symmetric messages are
 * AES-256-CCM under KPROV with the 8-byte iv as nonce, that header and the clear parts as
 * associated data, and the 16-byte tag as the signature.
 * @module
 */

import { ecdsaSignDeterministic, ecdsaVerifyParts } from '../crypto/ecdsa-digest.ts';
import { type AsymKey, aesCcmDecrypt, aesCcmEncrypt, aesCtr } from '../crypto/index.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

/** `rse_provisioning_message_type_t`. */
export const PROVISIONING_MESSAGE_TYPE = {
  BLOB: 0x1111b10b,
  CERTIFICATE: 0x2222ce57,
  PLAIN_DATA: 0x3333da7a,
  AUTHENTICATED_PLAIN_DATA: 0x4444da7a,
} as const;

export const MESSAGE_HEADER_SIZE = 8;
export const BLOB_AUTH_HEADER_SIZE = 248;
/** Where the authenticated part of the header starts (`metadata`). */
const AUTHENTICATED_FROM = 0x6c;
const BODY_AT = MESSAGE_HEADER_SIZE + BLOB_AUTH_HEADER_SIZE;

/** `metadata` bits [1:0] and [3:2]: what is encrypted. */
export const CODE_DATA_DECRYPTION = { NONE: 0, AES: 1 } as const;
export const SECRET_VALUES_DECRYPTION = { AES: 1, BY_MESSAGE: 2 } as const;

/** The fields of a BLOB's authentication header the author chooses. */
export interface BlobHeader {
  readonly metadata: number;
  readonly purpose: number;
  readonly version: number;
  /** 8 bytes: the CTR counter block's first half, or the CCM nonce. */
  readonly iv: Uint8Array;
  /** 12 bytes: zero, or the SoC UID a personalised blob is bound to. */
  readonly socUid: Uint8Array;
  readonly batchId: number;
  readonly dmNumber: number;
  /** Raw X ‖ Y of the signing key (ROTPK_NOT_IN_ROM with a CM ROTPK), else empty. */
  readonly publicKey: Uint8Array;
}

/** The body as its author wrote it (each part is zero-padded to 16 bytes in the message). */
export interface BlobBody {
  readonly code: Uint8Array;
  readonly data: Uint8Array;
  readonly secretValues: Uint8Array;
}

/** How a BLOB is authenticated: ECDSA (P-256/SHA-256 or P-384/SHA-384) with AES-CTR, or AES-CCM. */
export type BlobAuth =
  | { readonly kind: 'ecdsa'; readonly signingKey: AsymKey; readonly encryptionKey: Uint8Array }
  | { readonly kind: 'ccm'; readonly key: Uint8Array };

const pad16 = (b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(b.length / 16) * 16);
  out.set(b);
  return out;
};

/** Whether code and data are encrypted with the secret values (metadata bits [1:0]). */
const codeDataEncrypted = (metadata: number): boolean => (metadata & 3) === CODE_DATA_DECRYPTION.AES;

/** The authentication header with `signature_size` and `signature` still empty. */
function authHeader(h: BlobHeader, sizes: { code: number; data: number; secrets: number }): Uint8Array {
  if (h.iv.length !== 8) throw new RseError('E_ARGUMENT', 'the blob iv is 8 bytes', { field: 'iv' });
  if (h.socUid.length !== 12) throw new RseError('E_ARGUMENT', 'the SoC UID is 12 bytes', { field: 'soc_uid' });
  if (h.publicKey.length > 96) throw new RseError('E_ARGUMENT', 'the public key field holds 96 bytes', { field: 'public_key' });
  const a = new Uint8Array(BLOB_AUTH_HEADER_SIZE);
  a.set(u32le(h.metadata >>> 0, h.purpose >>> 0, h.version >>> 0), 0x64);
  a.set(h.iv, 0x70);
  a.set(h.socUid, 0x78);
  a.set(u32le(h.batchId >>> 0, h.dmNumber >>> 0, sizes.code, sizes.data, sizes.secrets), 0x84);
  a.set(h.publicKey, 0x98);
  return a;
}

/** Makes a BLOB message: pads the body, encrypts what the metadata says, signs or tags it. */
export function encodeBlob(h: BlobHeader, body: BlobBody, auth: BlobAuth): Uint8Array {
  const code = pad16(body.code);
  const data = pad16(body.data);
  const secrets = pad16(body.secretValues);
  const a = authHeader(h, { code: code.length, data: data.length, secrets: secrets.length });
  const hdr148 = a.subarray(AUTHENTICATED_FROM - MESSAGE_HEADER_SIZE);
  const all = codeDataEncrypted(h.metadata);
  const clear = all ? [] : [code, data];
  const plain = new Uint8Array(Buffer.concat(all ? [code, data, secrets] : [secrets]));
  const aad = new Uint8Array(Buffer.concat([hdr148, ...clear]));
  let cipher: Uint8Array;
  if (auth.kind === 'ecdsa') {
    const sig = ecdsaSignDeterministic(auth.signingKey, aad, plain);
    a.set(u32le(sig.length), 0);
    a.set(sig, 4);
    cipher = aesCtr(auth.encryptionKey, Uint8Array.of(...h.iv, 0, 0, 0, 0, 0, 0, 0, 0), plain);
  } else {
    const r = aesCcmEncrypt(auth.key, h.iv, aad, plain, 16);
    a.set(u32le(16), 0);
    a.set(r.tag, 4);
    cipher = r.ciphertext;
  }
  const length = BLOB_AUTH_HEADER_SIZE + code.length + data.length + secrets.length;
  return new Uint8Array(Buffer.concat([u32le(PROVISIONING_MESSAGE_TYPE.BLOB, length), a, ...clear, cipher]));
}

/** A BLOB as read from the wire: its header fields, signature and (possibly encrypted) parts. */
export interface DecodedBlob {
  readonly header: BlobHeader;
  readonly signature: Uint8Array;
  /** The parts as carried: encrypted ones still encrypted. */
  readonly code: Uint8Array;
  readonly data: Uint8Array;
  readonly secretValues: Uint8Array;
}

/** Reads a BLOB message; every size is checked against the message and against each other. */
export function decodeBlob(b: Uint8Array, source = 'provisioning message'): DecodedBlob {
  if (b.length < BODY_AT)
    throw new RseError('E_TRUNCATED', `${source} is ${b.length} bytes; a blob's headers are ${BODY_AT}`, {
      field: 'header',
      offset: b.length,
    });
  const type = readU32le(b, 0);
  if (type !== PROVISIONING_MESSAGE_TYPE.BLOB)
    throw new RseError('E_BAD_MAGIC', `${source}: type 0x${type.toString(16)} is not a BLOB (0x1111b10b)`, { field: 'type', offset: 0 });
  const length = readU32le(b, 4);
  if (length !== b.length - MESSAGE_HEADER_SIZE)
    throw new RseError('E_BOUNDS', `${source}: data_length ${length} but ${b.length - MESSAGE_HEADER_SIZE} bytes follow the header`, {
      field: 'data_length',
      offset: 4,
    });
  const sigSize = readU32le(b, 8);
  if (sigSize > 96)
    throw new RseError('E_BOUNDS', `${source}: signature_size ${sigSize} exceeds 96`, { field: 'signature_size', offset: 8 });
  const at = (o: number): number => readU32le(b, o);
  const [code, data, secrets] = [at(0x94), at(0x98), at(0x9c)];
  if (BLOB_AUTH_HEADER_SIZE + code + data + secrets !== length)
    throw new RseError('E_BOUNDS', `${source}: code ${code} + data ${data} + secrets ${secrets} do not fill data_length ${length}`, {
      field: 'code_size',
      offset: 0x94,
    });
  return {
    header: {
      metadata: at(0x6c),
      purpose: at(0x70),
      version: at(0x74),
      iv: b.slice(0x78, 0x80),
      socUid: b.slice(0x80, 0x8c),
      batchId: at(0x8c),
      dmNumber: at(0x90),
      publicKey: b.slice(0xa0, 0x100),
    },
    signature: b.slice(0x0c, 0x0c + sigSize),
    code: b.slice(BODY_AT, BODY_AT + code),
    data: b.slice(BODY_AT + code, BODY_AT + code + data),
    secretValues: b.slice(BODY_AT + code + data),
  };
}

/**
 * Authenticates and decrypts a decoded BLOB as the ROM does: ECDSA with the verifying key over
 * the header, the clear parts and the decrypted ones, or the CCM tag; `E_AUTH` when it fails
 * (and nothing of the plaintext is returned then).
 */
export function openBlob(
  m: DecodedBlob,
  auth: { kind: 'ecdsa'; verifyingKey: AsymKey; encryptionKey: Uint8Array } | { kind: 'ccm'; key: Uint8Array },
): BlobBody {
  const a = authHeader(m.header, { code: m.code.length, data: m.data.length, secrets: m.secretValues.length });
  const hdr148 = a.subarray(AUTHENTICATED_FROM - MESSAGE_HEADER_SIZE);
  const all = codeDataEncrypted(m.header.metadata);
  const clear = all ? [] : [m.code, m.data];
  const cipher = new Uint8Array(Buffer.concat(all ? [m.code, m.data, m.secretValues] : [m.secretValues]));
  const aad = new Uint8Array(Buffer.concat([hdr148, ...clear]));
  let plain: Uint8Array;
  if (auth.kind === 'ecdsa') {
    plain = aesCtr(auth.encryptionKey, Uint8Array.of(...m.header.iv, 0, 0, 0, 0, 0, 0, 0, 0), cipher);
    if (!ecdsaVerifyParts(auth.verifyingKey, m.signature, aad, plain))
      throw new RseError('E_AUTH', 'the provisioning message signature does not verify', { field: 'signature', offset: 0x0c });
  } else {
    const p = m.signature.length === 16 ? aesCcmDecrypt(auth.key, m.header.iv, aad, cipher, m.signature) : undefined;
    if (p === undefined)
      throw new RseError('E_AUTH', 'the provisioning message tag does not authenticate', { field: 'signature', offset: 0x0c });
    plain = p;
  }
  if (!all) return { code: m.code, data: m.data, secretValues: plain };
  return {
    code: plain.slice(0, m.code.length),
    data: plain.slice(m.code.length, m.code.length + m.data.length),
    secretValues: plain.slice(m.code.length + m.data.length),
  };
}

/** `plain_metadata`: what a plain data message carries. */
export const PLAIN_DATA_TYPE = {
  UNSPECIFIED: 0,
  NON_ENDORSED_DM_ROTPKS: 1,
  ENDORSEMENT_CERTIFICATE_PACKAGE: 2,
  REQUEST_TO_EXPORT_ENDORSEMENT_CERTIFICATE: 3,
  CM_ROTPK_ARRAY_REVOCATION: 4,
  DM_ROTPK_ARRAY_REVOCATION: 5,
} as const;

/** A plain data message: header {PLAIN_DATA, 4 + payload length}, `plain_metadata`, the payload. */
export function encodePlainDataMessage(plainType: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([u32le(PROVISIONING_MESSAGE_TYPE.PLAIN_DATA, 4 + payload.length, plainType >>> 0), payload]));
}

/** Reads a plain data message; the length must be exact. */
export function decodePlainDataMessage(
  b: Uint8Array,
  source = 'plain data message',
): { readonly plainType: number; readonly payload: Uint8Array } {
  if (b.length < 12)
    throw new RseError('E_TRUNCATED', `${source} is ${b.length} bytes; its header is 12`, { field: 'header', offset: b.length });
  const type = readU32le(b, 0);
  if (type !== PROVISIONING_MESSAGE_TYPE.PLAIN_DATA)
    throw new RseError('E_BAD_MAGIC', `${source}: type 0x${type.toString(16)} is not PLAIN_DATA (0x3333da7a)`, {
      field: 'type',
      offset: 0,
    });
  const length = readU32le(b, 4);
  if (length !== b.length - MESSAGE_HEADER_SIZE)
    throw new RseError('E_BOUNDS', `${source}: data_length ${length} but ${b.length - MESSAGE_HEADER_SIZE} bytes follow`, {
      field: 'data_length',
      offset: 4,
    });
  return { plainType: readU32le(b, 8), payload: b.slice(12) };
}
