/**
 * COSE_Sign1 (RFC 9052 §4.4) as TF-M's t_cose makes attestation tokens: tag 18, protected header
 * {1: alg} as a bstr, an empty unprotected map, the payload bstr and a raw r ‖ s ECDSA signature
 * over Sig_structure ["Signature1", protected, h'', payload].
 * @module
 */
import { decode, encode, Tag } from 'cbor2';
import { type AsymKey, ecdsaSignRaw, ecdsaVerifyRaw } from '../crypto/index.ts';
import { concatBytes as concat } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export const COSE_ALG = { ES256: -7, ES384: -35 } as const;
export const COSE_SIGN1_TAG = 18;

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** The CBOR head of a byte string of `n` bytes (major type 2, preferred length encoding). */
export function bstrHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x40 | n);
  if (n < 0x100) return Uint8Array.of(0x58, n);
  if (n < 0x10000) return Uint8Array.of(0x59, n >> 8, n & 0xff);
  return Uint8Array.of(0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/**
 * [context, protected, h'', payload], written directly (the same bytes cbor2 gives): the
 * Sig_structure of COSE_Sign1 (context "Signature1") and the MAC_structure of COSE_Mac0 ("MAC0").
 */
export function toBeSigned(protectedHeader: Uint8Array, payload: Uint8Array, context = 'Signature1'): Uint8Array {
  const label = new TextEncoder().encode(context);
  return concat([
    Uint8Array.of(0x84, 0x60 | label.length),
    label,
    bstrHead(protectedHeader.length),
    protectedHeader,
    Uint8Array.of(0x40),
    bstrHead(payload.length),
    payload,
  ]);
}

const PROTECTED = {
  [COSE_ALG.ES256]: u8(encode(new Map([[1, COSE_ALG.ES256]]))),
  [COSE_ALG.ES384]: u8(encode(new Map([[1, COSE_ALG.ES384]]))),
};

/** The size of {@link coseSign1}'s output for a payload of `payloadLength` bytes (raw r ‖ s is fixed-size). */
export function coseSign1Size(payloadLength: number, key: AsymKey): number {
  const p384 = key.type === 'ecdsa-p384';
  const protectedHeader = PROTECTED[p384 ? COSE_ALG.ES384 : COSE_ALG.ES256];
  const sig = p384 ? 96 : 64;
  return (
    2 +
    bstrHead(protectedHeader.length).length +
    protectedHeader.length +
    1 +
    bstrHead(payloadLength).length +
    payloadLength +
    bstrHead(sig).length +
    sig
  );
}

/** Signs `payload` with an ECDSA P-256 (ES256) or P-384 (ES384) key: tag 18, {1: alg}, {}, payload, r ‖ s. */
export function coseSign1(payload: Uint8Array, key: AsymKey): Uint8Array {
  const alg = key.type === 'ecdsa-p384' ? COSE_ALG.ES384 : COSE_ALG.ES256;
  const protectedHeader = PROTECTED[alg];
  const sig = ecdsaSignRaw(key, [toBeSigned(protectedHeader, payload)]);
  return concat([
    Uint8Array.of(0xd2, 0x84),
    bstrHead(protectedHeader.length),
    protectedHeader,
    Uint8Array.of(0xa0),
    bstrHead(payload.length),
    payload,
    bstrHead(sig.length),
    sig,
  ]);
}

export interface Sign1 {
  readonly alg: number;
  readonly protectedHeader: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** Decodes a (tagged or untagged) COSE_Sign1; every part's type is checked. */
export function decodeSign1(token: Uint8Array): Sign1 {
  let v: unknown;
  try {
    v = decode(token);
  } catch (e) {
    throw new RseError('E_CBOR', `not CBOR: ${(e as Error).message}`, { field: 'token' });
  }
  if (v instanceof Tag) {
    if (v.tag !== COSE_SIGN1_TAG) throw new RseError('E_COSE', `CBOR tag ${v.tag} is not COSE_Sign1 (18)`, { field: 'token' });
    v = v.contents;
  }
  if (!Array.isArray(v) || v.length !== 4) throw new RseError('E_COSE', 'a COSE_Sign1 is an array of 4', { field: 'token' });
  const [p, , payload, signature] = v as unknown[];
  if (!(p instanceof Uint8Array) || !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array))
    throw new RseError('E_COSE', 'COSE_Sign1 protected header, payload and signature must be byte strings', { field: 'token' });
  let hdr: unknown;
  try {
    hdr = decode(p);
  } catch {
    throw new RseError('E_COSE', 'the protected header is not CBOR', { field: 'protected' });
  }
  const alg = hdr instanceof Map ? hdr.get(1) : undefined;
  if (typeof alg !== 'number') throw new RseError('E_COSE', 'the protected header has no alg (1)', { field: 'protected' });
  return { alg, protectedHeader: u8(p), payload: u8(payload), signature: u8(signature) };
}

/** Verifies a decoded COSE_Sign1 with `key`. */
export function verifySign1(s: Sign1, key: AsymKey): boolean {
  const want = key.type === 'ecdsa-p384' ? COSE_ALG.ES384 : key.type === 'ecdsa-p256' ? COSE_ALG.ES256 : undefined;
  if (want === undefined || s.alg !== want) return false;
  return ecdsaVerifyRaw(key, [toBeSigned(s.protectedHeader, s.payload)], s.signature);
}
