/**
 * COSE_Sign1 (tag 18) and COSE_Mac0 (tag 17) as attestation tokens use them (RFC 9052, RFC 9783):
 * decoded with every part's type checked and the received bytes kept, verified over
 * ["Signature1" | "MAC0", protected, h'', payload] with ES256/ES384/ES512 (raw r ‖ s) or
 * HMAC 256/384/512 (full-length tag); created for test tokens, and, as TF-M's t_cose makes the
 * RSE's tokens (tag 18, protected {1: alg} as a bstr, an empty unprotected map, the payload bstr,
 * raw r ‖ s), written directly by {@link coseSign1} with a size known in advance.
 * @module
 */
import { createHmac, sign, verify } from 'node:crypto';
import { encode } from 'cbor2';
import { ecdsaSignDigestRfc6979 } from '../crypto/ecdsa-digest.ts';
import { type AsymKey, constantTimeEqual, ecdsaSignRaw, hash } from '../crypto/index.ts';
import { concatBytes as concat } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { bstrHead, bytesOf, cborType, decodeStrict, Tag } from './cbor.ts';
import { CURVE_SIZE, type EcCurve, type TokenKey } from './keys.ts';

export const COSE_MAC0_TAG = 17;
export const COSE_SIGN1_TAG = 18;

/** COSE algorithm ids of the PSA TF-M profile: ES256/384/512 and HMAC 256/384/512. */
export const COSE_ALGS = {
  ES256: -7,
  ES384: -35,
  ES512: -36,
  HMAC256: 5,
  HMAC384: 6,
  HMAC512: 7,
} as const;

const EC_ALG: Readonly<Record<number, { crv: EcCurve; hash: string; name: string }>> = {
  [-7]: { crv: 'P-256', hash: 'sha256', name: 'ES256' },
  [-35]: { crv: 'P-384', hash: 'sha384', name: 'ES384' },
  [-36]: { crv: 'P-521', hash: 'sha512', name: 'ES512' },
};
const MAC_ALG: Readonly<Record<number, { hash: string; size: number; name: string }>> = {
  5: { hash: 'sha256', size: 32, name: 'HMAC256/256' },
  6: { hash: 'sha384', size: 48, name: 'HMAC384/384' },
  7: { hash: 'sha512', size: 64, name: 'HMAC512/512' },
};

/** The name of a COSE algorithm id (ES256, HMAC256/256, …), or its number. */
export function coseAlgName(alg: number | undefined): string {
  if (alg === undefined) return 'none';
  return EC_ALG[alg]?.name ?? MAC_ALG[alg]?.name ?? String(alg);
}

export interface CoseMessage {
  readonly kind: 'sign1' | 'mac0';
  /** Whether the message carried its CBOR tag (18 / 17). */
  readonly tagged: boolean;
  /** The alg (label 1) of the protected header; undefined when the header is empty. */
  readonly alg: number | undefined;
  readonly protectedHeader: Uint8Array;
  readonly unprotected: ReadonlyMap<unknown, unknown>;
  readonly kid: Uint8Array | undefined;
  readonly payload: Uint8Array;
  /** The signature (Sign1) or tag (Mac0). */
  readonly signature: Uint8Array;
}

/** Decodes a COSE_Sign1 or COSE_Mac0 from bytes or from an already decoded CBOR value. */
export function decodeCose(input: Uint8Array | unknown, field = 'token'): CoseMessage {
  let v = input instanceof Uint8Array ? decodeStrict(input, field) : input;
  let tagged = false;
  let kind: 'sign1' | 'mac0' = 'sign1';
  if (v instanceof Tag) {
    if (v.tag !== COSE_SIGN1_TAG && v.tag !== COSE_MAC0_TAG)
      throw new RseError('E_COSE', `${field}: CBOR tag ${v.tag} is neither COSE_Sign1 (18) nor COSE_Mac0 (17)`, { field });
    kind = v.tag === COSE_MAC0_TAG ? 'mac0' : 'sign1';
    tagged = true;
    v = v.contents;
  }
  if (!Array.isArray(v) || v.length !== 4)
    throw new RseError('E_COSE', `${field}: a COSE message is an array of 4, not ${cborType(v)}`, { field });
  const [p, u, payload, signature] = v as unknown[];
  const ph = bytesOf(p);
  const pl = bytesOf(payload);
  const sig = bytesOf(signature);
  if (ph === undefined || pl === undefined || sig === undefined)
    throw new RseError('E_COSE', `${field}: the protected header, payload and signature must be byte strings`, { field });
  if (!(u instanceof Map))
    throw new RseError('E_COSE', `${field}: the unprotected header must be a map`, { field: `${field}.unprotected` });
  let alg: number | undefined;
  if (ph.length > 0) {
    const hdr = decodeStrict(ph, `${field}.protected`);
    if (!(hdr instanceof Map))
      throw new RseError('E_COSE', `${field}: the protected header must be a map`, { field: `${field}.protected` });
    const a = hdr.get(1);
    if (a !== undefined && (typeof a !== 'number' || !Number.isInteger(a)))
      throw new RseError('E_COSE', `${field}: alg (1) must be an integer`, { field: `${field}.protected` });
    alg = a;
  }
  const kidV = u.get(4);
  const kid = bytesOf(kidV);
  if (kidV !== undefined && kid === undefined)
    throw new RseError('E_COSE', `${field}: kid (4) must be a byte string`, { field: `${field}.unprotected` });
  if (!tagged && alg !== undefined && MAC_ALG[alg] !== undefined) kind = 'mac0';
  return { kind, tagged, alg, protectedHeader: ph, unprotected: u, kid, payload: pl, signature: sig };
}

export interface CoseVerifyOptions {
  /** Accept an empty protected header (old TF-M tools tokens) by taking the algorithm from the key. */
  readonly allowMissingAlg?: boolean;
}

/**
 * Verifies a decoded message with `key`; throws `E_SIGNATURE` when it does not verify and
 * `E_COSE` when the algorithm does not fit the key. Returns the algorithm used.
 */
export function verifyCose(msg: CoseMessage, key: TokenKey, opts: CoseVerifyOptions = {}, field = 'token'): number {
  let alg = msg.alg;
  if (alg === undefined) {
    if (opts.allowMissingAlg !== true)
      throw new RseError('E_COSE', `${field}: no alg in the protected header`, { field: `${field}.protected` });
    alg = key.kind === 'hmac' ? COSE_ALGS.HMAC256 : ({ 'P-256': -7, 'P-384': -35, 'P-521': -36 } as const)[key.crv];
  }
  if (msg.kind === 'mac0') {
    const m = MAC_ALG[alg];
    if (m === undefined) throw new RseError('E_COSE', `${field}: alg ${alg} is not an HMAC algorithm`, { field: `${field}.protected` });
    if (key.kind !== 'hmac') throw new RseError('E_COSE', `${field}: a COSE_Mac0 needs an HMAC key`, { field });
    const tag = createHmac(m.hash, key.secret)
      .update(toBeSigned(msg.protectedHeader, msg.payload, 'MAC0'))
      .digest();
    if (msg.signature.length !== m.size || !constantTimeEqual(tag, msg.signature))
      throw new RseError('E_SIGNATURE', `${field}: MAC verification failed`, { field });
    return alg;
  }
  const e = EC_ALG[alg];
  if (e === undefined) throw new RseError('E_COSE', `${field}: alg ${alg} is not ES256, ES384 or ES512`, { field: `${field}.protected` });
  if (key.kind !== 'ec' || key.crv !== e.crv) throw new RseError('E_COSE', `${field}: ${e.name} needs a ${e.crv} key`, { field });
  const ok =
    msg.signature.length === 2 * CURVE_SIZE[e.crv] &&
    verify(e.hash, toBeSigned(msg.protectedHeader, msg.payload), { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, msg.signature);
  if (!ok) throw new RseError('E_SIGNATURE', `${field}: signature verification failed`, { field });
  return alg;
}

/** Signs (EC key: tagged COSE_Sign1) or MACs (HMAC key: tagged COSE_Mac0) a payload. */
export function createCose(
  payload: Uint8Array,
  key: TokenKey,
  opts: {
    readonly macAlg?: 5 | 6 | 7;
    readonly kid?: Uint8Array;
    /** More protected header parameters, after alg (1): a signed CoRIM's content type and meta. */
    readonly headers?: ReadonlyMap<number, unknown>;
  } = {},
): Uint8Array {
  const unprotected = new Map<number, Uint8Array>(opts.kid === undefined ? [] : [[4, opts.kid]]);
  if (key.kind === 'hmac') {
    const alg = opts.macAlg ?? COSE_ALGS.HMAC256;
    const ph = encode(new Map([[1, alg]]));
    const tag = createHmac((MAC_ALG[alg] as { hash: string }).hash, key.secret)
      .update(toBeSigned(ph, payload, 'MAC0'))
      .digest();
    return encode(new Tag(COSE_MAC0_TAG, [ph, unprotected, payload, new Uint8Array(tag)]));
  }
  if (key.privateKey === undefined && key.token === undefined) throw new RseError('E_KEY', 'signing needs a private key', { field: 'key' });
  const alg = ({ 'P-256': -7, 'P-384': -35, 'P-521': -36 } as const)[key.crv];
  const ph = encode(new Map<number, unknown>([[1, alg], ...(opts.headers ?? [])]));
  const hashAlg = (EC_ALG[alg] as { hash: string }).hash;
  let sig: Uint8Array;
  if (key.token !== undefined) {
    // The token signs the digest (CKM_ECDSA) and returns r ‖ s, COSE's form.
    sig = key.token.sign(hash(hashAlg === 'sha384' ? 'sha384' : hashAlg === 'sha512' ? 'sha512' : 'sha256', toBeSigned(ph, payload)));
  } else if (key.nonce === 'rfc6979') {
    if (key.crv === 'P-521') throw new RseError('E_KEY', 'deterministic signing is for P-256 and P-384 keys', { field: 'key' });
    const asym: AsymKey = {
      type: key.crv === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384',
      isPrivate: true,
      publicKey: key.publicKey,
      ...(key.privateKey === undefined ? {} : { privateKey: key.privateKey }),
    };
    const h = hashAlg === 'sha384' ? 'sha384' : 'sha256';
    sig = ecdsaSignDigestRfc6979(asym, hash(h, toBeSigned(ph, payload)), h);
  } else if (key.privateKey !== undefined) sig = sign(hashAlg, toBeSigned(ph, payload), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  else throw new RseError('E_KEY', 'signing needs a private key', { field: 'key' });
  return encode(new Tag(COSE_SIGN1_TAG, [ph, unprotected, payload, new Uint8Array(sig)]));
}

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

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
  [COSE_ALGS.ES256]: u8(encode(new Map([[1, COSE_ALGS.ES256]]))),
  [COSE_ALGS.ES384]: u8(encode(new Map([[1, COSE_ALGS.ES384]]))),
};

/** The size of {@link coseSign1}'s output for a payload of `payloadLength` bytes (raw r ‖ s is fixed-size). */
export function coseSign1Size(payloadLength: number, key: AsymKey): number {
  const p384 = key.type === 'ecdsa-p384';
  const protectedHeader = PROTECTED[p384 ? COSE_ALGS.ES384 : COSE_ALGS.ES256];
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
  const alg = key.type === 'ecdsa-p384' ? COSE_ALGS.ES384 : COSE_ALGS.ES256;
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
