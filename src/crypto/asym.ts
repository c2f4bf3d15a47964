/**
 * Asymmetric keys: loading (PEM, DER, encrypted PEM), generating, importing raw and DER public keys, exporting in the encodings imgtool and the tokens use.
 * @module
 */

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

// ---------------------------------------------------------------------------------------------
// Keys

export type AsymKeyType = 'rsa-2048' | 'rsa-3072' | 'ecdsa-p256' | 'ecdsa-p384' | 'ed25519' | 'x25519';

export const ASYM_KEY_TYPES: readonly AsymKeyType[] = ['rsa-2048', 'rsa-3072', 'ecdsa-p256', 'ecdsa-p384', 'ed25519', 'x25519'];

/** A loaded key: its type, whether it holds the private half, and the node key objects. */
export interface AsymKey {
  readonly type: AsymKeyType;
  readonly isPrivate: boolean;
  readonly publicKey: KeyObject;
  readonly privateKey?: KeyObject;
  /**
   * How an ECDSA signature's nonce is drawn: from the CSPRNG (the default, as OpenSSL signs) or
   * RFC 6979's HMAC-DRBG over the key and the digest (`--deterministic`: the same key and input
   * always give the same signature).
   */
  readonly nonce?: 'random' | 'rfc6979';
  /** A key held in a PKCS#11 token: signatures are made there ({@link TokenSigner}); `privateKey` is absent. */
  readonly token?: TokenSigner;
}

/** How a token-held key signs: what the mechanism takes (a digest, or for EdDSA the message). */
export interface TokenSigner {
  /** ECDSA: raw r ‖ s of a digest; RSA: PSS (SHA-256, MGF1, 32-byte salt) of a SHA-256 digest; Ed25519: of the message. */
  sign(input: Uint8Array): Uint8Array;
  /** The key's URI without its PIN, for messages. */
  readonly uri: string;
}

/** The key with RFC 6979 nonces for its ECDSA signatures (other key types sign as before). */
export function deterministicKey(key: AsymKey): AsymKey {
  if (key.token !== undefined)
    throw new RseError('E_USAGE', `${key.token.uri}: --deterministic needs the key in a file (a token draws its own nonces)`, {
      field: '--deterministic',
    });
  return key.type === 'ecdsa-p256' || key.type === 'ecdsa-p384' ? { ...key, nonce: 'rfc6979' } : key;
}

export function keyTypeOf(k: KeyObject): AsymKeyType {
  const t = k.asymmetricKeyType;
  const d = k.asymmetricKeyDetails;
  if (t === 'rsa') {
    if (d?.modulusLength === 2048) return 'rsa-2048';
    if (d?.modulusLength === 3072) return 'rsa-3072';
    throw new RseError('E_KEY', `unsupported RSA key size: ${d?.modulusLength ?? '?'} bits (2048 or 3072 only)`);
  }
  if (t === 'ec') {
    if (d?.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (d?.namedCurve === 'secp384r1') return 'ecdsa-p384';
    throw new RseError('E_KEY', `unsupported EC curve: ${d?.namedCurve ?? '?'} (P-256 or P-384 only)`);
  }
  if (t === 'ed25519' || t === 'x25519') return t;
  throw new RseError('E_KEY', `unsupported key type: ${t ?? 'unknown'}`);
}

/**
 * Loads a PEM (PKCS#8, PKCS#1, SEC1 private keys; SubjectPublicKeyInfo or PKCS#1 public keys) or
 * DER key. Encrypted private keys need `passphrase`.
 */
export function loadKey(data: Uint8Array, passphrase?: string): AsymKey {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const text = buf.toString('latin1');
  const isPem = text.includes('-----BEGIN');
  const isPrivatePem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
  try {
    if (isPem && !isPrivatePem) {
      const publicKey = createPublicKey(buf);
      return { type: keyTypeOf(publicKey), isPrivate: false, publicKey };
    }
    if (isPem && /ENCRYPTED/.test(text) && passphrase === undefined) {
      throw new RseError('E_KEY', 'the key is encrypted: a passphrase is needed', { field: 'passphrase' });
    }
    let privateKey: KeyObject;
    try {
      privateKey = isPem
        ? createPrivateKey(passphrase === undefined ? buf : { key: buf, passphrase })
        : createPrivateKey({ key: buf, format: 'der', type: 'pkcs8' });
    } catch (e) {
      if (isPem) throw e;
      const publicKey = createPublicKey({ key: buf, format: 'der', type: 'spki' });
      return { type: keyTypeOf(publicKey), isPrivate: false, publicKey };
    }
    const publicKey = createPublicKey(privateKey);
    return { type: keyTypeOf(privateKey), isPrivate: true, publicKey, privateKey };
  } catch (e) {
    if (e instanceof RseError) throw e;
    // OpenSSL's "bad decrypt" under a passphrase: the passphrase is wrong (or the file damaged).
    if (passphrase !== undefined && /bad decrypt/.test((e as Error).message)) {
      throw new RseError('E_KEY', 'wrong passphrase (or a damaged key file)', { cause: e });
    }
    throw new RseError('E_KEY', `cannot read key: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A public key from DER bytes as MCUboot's PUBKEY TLV holds them: SubjectPublicKeyInfo (EC,
 * Ed25519) or PKCS#1 RSAPublicKey (RSA).
 */
export function importPublicDer(der: Uint8Array): AsymKey {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  for (const type of ['spki', 'pkcs1'] as const) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key, format: 'der', type });
    } catch {
      continue;
    }
    return { type: keyTypeOf(publicKey), isPrivate: false, publicKey };
  }
  throw new RseError('E_KEY', 'not a DER public key (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey)');
}

/** Generates a key pair of the given type (RSA with e = 65537). */
export function generateKey(type: AsymKeyType): AsymKey {
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  switch (type) {
    case 'rsa-2048':
    case 'rsa-3072':
      pair = generateKeyPairSync('rsa', { modulusLength: type === 'rsa-2048' ? 2048 : 3072, publicExponent: 65537 });
      break;
    case 'ecdsa-p256':
    case 'ecdsa-p384':
      pair = generateKeyPairSync('ec', { namedCurve: type === 'ecdsa-p256' ? 'prime256v1' : 'secp384r1' });
      break;
    case 'ed25519':
      pair = generateKeyPairSync('ed25519');
      break;
    case 'x25519':
      pair = generateKeyPairSync('x25519');
      break;
  }
  return { type, isPrivate: true, publicKey: pair.publicKey, privateKey: pair.privateKey };
}

/** PKCS#8 PEM of a private key, optionally encrypted (AES-256-CBC, PBKDF2). */
export function exportPrivatePem(key: AsymKey, passphrase?: string): string {
  const priv = requirePrivate(key);
  return priv.export(
    passphrase === undefined ? { type: 'pkcs8', format: 'pem' } : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
  ) as string;
}

/** DER of a private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), unencrypted. */
export function exportPrivateDer(key: AsymKey, format: 'pkcs8' | 'pkcs1' | 'sec1'): Uint8Array {
  return asU8(requirePrivate(key).export({ type: format, format: 'der' }) as Buffer);
}

export function exportPublicPem(key: AsymKey): string {
  return key.publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

export function exportPublicDer(key: AsymKey, format: 'spki' | 'pkcs1'): Uint8Array {
  return asU8(key.publicKey.export({ type: format, format: 'der' }) as Buffer);
}

/** An EC public point (uncompressed) or raw X25519/Ed25519 public key. */
export function rawPublicKey(key: AsymKey): Uint8Array {
  const jwk = key.publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  if (key.type === 'ecdsa-p256' || key.type === 'ecdsa-p384') {
    const y = Buffer.from(jwk.y ?? '', 'base64url');
    return asU8(Buffer.concat([Buffer.from([4]), x, y]));
  }
  return asU8(x);
}

/** The DER SubjectPublicKeyInfo before the uncompressed point, per curve (id-ecPublicKey + the named curve). */
export const EC_SPKI_PREFIX: Readonly<Record<'P-256' | 'P-384' | 'P-521', Buffer>> = {
  'P-256': Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
  'P-384': Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
  'P-521': Buffer.from('30819b301006072a8648ce3d020106052b8104002303818600', 'hex'),
};

/**
 * An EC public key from its uncompressed point 0x04 ‖ X ‖ Y, imported as SPKI DER (OpenSSL checks
 * the point is on the curve; a third of the cost of a JWK import). Throws on a bad point.
 */
export function ecPublicKeyFromPoint(curve: 'P-256' | 'P-384' | 'P-521', point: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([EC_SPKI_PREFIX[curve], point]), format: 'der', type: 'spki' });
}

/** Imports a raw public key: an uncompressed SEC1 point for EC, 32 bytes for X25519/Ed25519. */
export function importRawPublicKey(type: AsymKeyType, raw: Uint8Array): AsymKey {
  try {
    let jwk: { kty: string; crv: string; x: string; y?: string };
    if (type === 'ecdsa-p256' || type === 'ecdsa-p384') {
      const n = type === 'ecdsa-p256' ? 32 : 48;
      if (raw.length !== 2 * n + 1 || raw[0] !== 4) throw new Error(`expected a ${2 * n + 1}-byte uncompressed point`);
      return { type, isPrivate: false, publicKey: ecPublicKeyFromPoint(type === 'ecdsa-p256' ? 'P-256' : 'P-384', raw) };
    }
    if (type === 'x25519' || type === 'ed25519') {
      if (raw.length !== 32) throw new Error('expected 32 bytes');
      jwk = { kty: 'OKP', crv: type === 'x25519' ? 'X25519' : 'Ed25519', x: Buffer.from(raw).toString('base64url') };
    } else {
      throw new Error('raw import is for EC and Montgomery/Edwards keys');
    }
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    return { type, isPrivate: false, publicKey };
  } catch (e) {
    throw new RseError('E_BAD_FIELD', `invalid ${type} public key: ${(e as Error).message}`, { field: 'public key', cause: e });
  }
}

export function requirePrivate(key: AsymKey): KeyObject {
  if (key.token !== undefined)
    throw new RseError(
      'E_KEY',
      `${key.token.uri} is held in a PKCS#11 token, which does not give its private key out; this needs a key file`,
      {
        field: 'key',
      },
    );
  if (key.privateKey === undefined) throw new RseError('E_KEY', `a private ${key.type} key is needed`);
  return key.privateKey;
}
