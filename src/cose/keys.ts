/**
 * Keys that sign or MAC attestation tokens, read from the forms the ecosystem ships them in:
 * PEM (SPKI, SEC1 or PKCS#8), JWK (EC or `oct`), COSE_Key (EC2 or Symmetric, CBOR or diagnostic
 * notation), an uncompressed SEC1 point, raw HMAC key bytes, or an rsekit key; and the COSE_Key
 * of an EC public key as t_cose encodes it (`t_cose_key.c`): `{1: 2, -1: crv, -2: x, -3: y}` in
 * that key order, definite lengths, x and y full-width, which TF-M hashes for the instance id and
 * the delegated attestation key binding and TF-RMM puts in the realm token.
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { TokenSigner } from '../crypto/asym.ts';
import { type AsymKey, ecPublicKeyFromPoint } from '../crypto/index.ts';
import { concatBytes } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { bstrHead, bytesOf, decodeStrict } from './cbor.ts';
import { parseDiag } from './diag.ts';

export type EcCurve = 'P-256' | 'P-384' | 'P-521';

export const CURVE_SIZE: Readonly<Record<EcCurve, number>> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };
const CURVE_BY_SIZE: Readonly<Record<number, EcCurve>> = { 32: 'P-256', 48: 'P-384', 66: 'P-521' };
const COSE_CRV: Readonly<Record<number, EcCurve>> = { 1: 'P-256', 2: 'P-384', 3: 'P-521' };

export type TokenKey =
  | {
      readonly kind: 'ec';
      readonly crv: EcCurve;
      readonly publicKey: KeyObject;
      readonly privateKey?: KeyObject;
      /** RFC 6979 nonces (`--deterministic`) instead of OpenSSL's random ones. */
      readonly nonce?: 'random' | 'rfc6979';
      /** A key held in a PKCS#11 token: it signs the digest there (no `privateKey`). */
      readonly token?: TokenSigner;
    }
  | { readonly kind: 'hmac'; readonly secret: Uint8Array };

const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

function ecFromKeyObject(k: KeyObject, isPrivate: boolean): TokenKey {
  if (k.asymmetricKeyType !== 'ec') throw new RseError('E_KEY', `an EC key is needed, not ${k.asymmetricKeyType}`, { field: 'key' });
  const crv = k.asymmetricKeyDetails?.namedCurve;
  const name = ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, EcCurve>)[crv ?? ''];
  if (name === undefined) throw new RseError('E_KEY', `unsupported curve ${crv}`, { field: 'key' });
  return isPrivate ? { kind: 'ec', crv: name, privateKey: k, publicKey: createPublicKey(k) } : { kind: 'ec', crv: name, publicKey: k };
}

/**
 * Public keys made from points, the most recent 256: a verifier sees the same realm and platform
 * keys token after token, and importing a point costs more than decoding the token around it.
 * KeyObjects are immutable, so sharing one is safe.
 */
const PUBLIC_KEYS = new Map<string, TokenKey>();

function cachedPublic(crv: EcCurve, x: Uint8Array, y: Uint8Array): TokenKey {
  const id = `${crv}:${Buffer.from(x).toString('hex')}${Buffer.from(y).toString('hex')}`;
  const hit = PUBLIC_KEYS.get(id);
  if (hit !== undefined) {
    PUBLIC_KEYS.delete(id);
    PUBLIC_KEYS.set(id, hit);
    return hit;
  }
  const k = ecFromKeyObject(ecPublicKeyFromPoint(crv, concatBytes([Uint8Array.of(4), x, y])), false);
  PUBLIC_KEYS.set(id, k);
  if (PUBLIC_KEYS.size > 256) PUBLIC_KEYS.delete(PUBLIC_KEYS.keys().next().value as string);
  return k;
}

function ecFromCoordinates(crv: EcCurve, x: Uint8Array, y: Uint8Array, d?: Uint8Array): TokenKey {
  const n = CURVE_SIZE[crv];
  if (x.length !== n || y.length !== n || (d !== undefined && d.length !== n))
    throw new RseError('E_KEY', `${crv} coordinates must be ${n} bytes`, { field: 'key' });
  try {
    if (d === undefined) return cachedPublic(crv, x, y);
    const jwk = { kty: 'EC', crv, x: b64u(x), y: b64u(y), d: b64u(d) };
    return ecFromKeyObject(createPrivateKey({ key: jwk, format: 'jwk' }), true);
  } catch (e) {
    throw new RseError('E_KEY', `not a point on ${crv}: ${(e as Error).message}`, { field: 'key', cause: e });
  }
}

/** An EC public key from an uncompressed SEC1 point 0x04 ‖ X ‖ Y (P-256, P-384 or P-521 by size). */
export function ecKeyFromPoint(point: Uint8Array): TokenKey {
  const n = (point.length - 1) / 2;
  const crv = CURVE_BY_SIZE[n];
  if (point[0] !== 0x04 || crv === undefined)
    throw new RseError('E_KEY', `not an uncompressed P-256/384/521 point (${point.length} bytes)`, { field: 'key' });
  return ecFromCoordinates(crv, point.subarray(1, 1 + n), point.subarray(1 + n));
}

/** An EC2 or Symmetric COSE_Key (a decoded CBOR map). */
export function keyFromCoseKey(m: unknown): TokenKey {
  if (!(m instanceof Map)) throw new RseError('E_KEY', 'a COSE_Key is a map', { field: 'key' });
  const kty = m.get(1);
  if (kty === 4) {
    const k = bytesOf(m.get(-1));
    if (k === undefined || k.length === 0) throw new RseError('E_KEY', 'symmetric COSE_Key without k (-1)', { field: 'key' });
    return { kind: 'hmac', secret: k };
  }
  if (kty !== 2) throw new RseError('E_KEY', `COSE_Key kty ${String(kty)} is not EC2 (2) or Symmetric (4)`, { field: 'key' });
  const crv = COSE_CRV[m.get(-1) as number];
  const x = bytesOf(m.get(-2));
  const y = bytesOf(m.get(-3));
  const dv = m.get(-4);
  const d = bytesOf(dv);
  if (crv === undefined || x === undefined || y === undefined || (dv !== undefined && d === undefined))
    throw new RseError('E_KEY', 'EC2 COSE_Key needs crv 1..3 and x, y byte strings', { field: 'key' });
  return ecFromCoordinates(crv, x, y, d);
}

interface Jwk {
  readonly kty?: unknown;
  readonly crv?: unknown;
  readonly x?: unknown;
  readonly y?: unknown;
  readonly d?: unknown;
  readonly k?: unknown;
}

/** An EC or `oct` JWK. */
export function keyFromJwk(jwk: Jwk): TokenKey {
  if (jwk.kty === 'oct' && typeof jwk.k === 'string') return { kind: 'hmac', secret: new Uint8Array(Buffer.from(jwk.k, 'base64url')) };
  if (
    jwk.kty !== 'EC' ||
    typeof jwk.crv !== 'string' ||
    !Object.hasOwn(CURVE_SIZE, jwk.crv) ||
    typeof jwk.x !== 'string' ||
    typeof jwk.y !== 'string'
  )
    throw new RseError('E_KEY', 'a JWK must be kty EC (P-256/384/521, x, y) or oct (k)', { field: 'key' });
  const dec = (s: unknown): Uint8Array | undefined => (typeof s === 'string' ? new Uint8Array(Buffer.from(s, 'base64url')) : undefined);
  return ecFromCoordinates(jwk.crv as EcCurve, dec(jwk.x) as Uint8Array, dec(jwk.y) as Uint8Array, dec(jwk.d));
}

/**
 * Reads a token key from a file's bytes: PEM, JWK JSON, COSE_Key (CBOR or diagnostic notation),
 * or, when nothing else fits, the bytes themselves as an HMAC key.
 */
export function loadTokenKey(data: Uint8Array): TokenKey {
  const text = Buffer.from(data).toString('utf8').trim();
  if (text.startsWith('-----BEGIN')) {
    try {
      return /PRIVATE KEY-----/.test(text) ? ecFromKeyObject(createPrivateKey(text), true) : ecFromKeyObject(createPublicKey(text), false);
    } catch (e) {
      if (e instanceof RseError) throw e;
      throw new RseError('E_KEY', `unreadable PEM key: ${(e as Error).message}`, { field: 'key', cause: e });
    }
  }
  if (text.startsWith('{') && text.includes('"kty"')) {
    let jwk: unknown;
    try {
      jwk = JSON.parse(text);
    } catch (e) {
      throw new RseError('E_KEY', `unreadable JWK: ${(e as Error).message}`, { field: 'key', cause: e });
    }
    return keyFromJwk(jwk as Jwk);
  }
  if (text.startsWith('{')) {
    try {
      return keyFromCoseKey(parseDiag(text));
    } catch {
      // not diagnostic notation: fall through to CBOR / raw
    }
  }
  if (data[0] !== undefined && data[0] >= 0xa1 && data[0] <= 0xa5) {
    try {
      return keyFromCoseKey(decodeStrict(data, 'key'));
    } catch {
      // not a COSE_Key: raw bytes
    }
  }
  if (data.length === 0) throw new RseError('E_KEY', 'empty key file', { field: 'key' });
  return { kind: 'hmac', secret: new Uint8Array(data) };
}

/** The uncompressed SEC1 point of an EC key. */
export function ecPoint(key: TokenKey): Uint8Array {
  if (key.kind !== 'ec') throw new RseError('E_KEY', 'an EC key is needed', { field: 'key' });
  const jwk = key.publicKey.export({ format: 'jwk' });
  return new Uint8Array(Buffer.concat([Buffer.of(4), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]));
}

/** The public key as a JWK (for trust-anchor stores and discovery documents). */
export function publicJwk(key: TokenKey): Record<string, string> {
  if (key.kind !== 'ec') throw new RseError('E_KEY', 'an EC key is needed', { field: 'key' });
  const j = key.publicKey.export({ format: 'jwk' });
  return { kty: 'EC', crv: key.crv, x: j.x ?? '', y: j.y ?? '' };
}

/** The public key as SPKI PEM. */
export function publicPem(key: TokenKey): string {
  if (key.kind !== 'ec') throw new RseError('E_KEY', 'an EC key is needed', { field: 'key' });
  return key.publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

/** An rsekit ECDSA key (P-256 or P-384) as a token key. */
export function tokenKeyOf(key: AsymKey): TokenKey {
  if (key.type !== 'ecdsa-p256' && key.type !== 'ecdsa-p384')
    throw new RseError('E_KEY', `tokens are signed with ECDSA P-256 or P-384, not ${key.type}`, { field: 'key' });
  const crv: EcCurve = key.type === 'ecdsa-p256' ? 'P-256' : 'P-384';
  return key.privateKey === undefined
    ? { kind: 'ec', crv, publicKey: key.publicKey }
    : { kind: 'ec', crv, publicKey: key.publicKey, privateKey: key.privateKey };
}

/** COSE curve ids (RFC 9053): P-256 1, P-384 2, P-521 3, by coordinate size. */
const COSE_CRV_BY_SIZE: Readonly<Record<number, number>> = { 32: 1, 48: 2, 66: 3 };

/** The COSE_Key of an uncompressed SEC1 point 0x04 ‖ X ‖ Y. */
export function coseKeyEc2(sec1: Uint8Array): Uint8Array {
  const n = (sec1.length - 1) / 2;
  const crv = COSE_CRV_BY_SIZE[n];
  if (sec1[0] !== 0x04 || crv === undefined)
    throw new RseError('E_COSE', `not an uncompressed P-256/384/521 point (${sec1.length} bytes)`, { field: 'cose_key' });
  const head = bstrHead(n);
  const out = new Uint8Array(5 + 2 * (1 + head.length + n));
  // a4: map(4); 01 02: kty EC2; 20 crv: -1 = crv; 21 / 22: -2 = x, -3 = y.
  out.set([0xa4, 0x01, 0x02, 0x20, crv], 0);
  let at = 5;
  for (const [label, coord] of [
    [0x21, sec1.subarray(1, 1 + n)],
    [0x22, sec1.subarray(1 + n)],
  ] as const) {
    out[at++] = label;
    out.set(head, at);
    at += head.length;
    out.set(coord, at);
    at += n;
  }
  return out;
}
