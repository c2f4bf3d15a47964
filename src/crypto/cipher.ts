/**
 * Key transport and the block-cipher constructs the RSE needs: RSA-OAEP, ECDH, AES-ECB single blocks, AES-CCM and AES-GCM, EC public keys from private scalars.
 * @module
 */

import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { type AsymKey, requirePrivate } from './asym.ts';

// ---------------------------------------------------------------------------------------------
// Key transport

/** RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label. */
export function rsaOaepEncrypt(key: AsymKey, data: Uint8Array): Uint8Array {
  return asU8(publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data));
}

export function rsaOaepDecrypt(key: AsymKey, data: Uint8Array): Uint8Array {
  try {
    return asU8(privateDecrypt({ key: requirePrivate(key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, data));
  } catch (e) {
    if (e instanceof RseError) throw e;
    throw new RseError('E_DECRYPT', 'RSA-OAEP decryption of the image key failed', { cause: e });
  }
}

/** ECDH (P-256) or X25519 shared secret. */
export function ecdh(privateKey: AsymKey, publicKey: AsymKey): Uint8Array {
  return asU8(diffieHellman({ privateKey: requirePrivate(privateKey), publicKey: publicKey.publicKey }));
}

// ---------------------------------------------------------------------------------------------
// Block-cipher constructs the RSE needs (AES-ECB single blocks, AES-CCM)

/** AES-ECB over whole 16-byte blocks, no padding (key 16 or 32 bytes). */
export function aesEcbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) {
    throw new RseError('E_BAD_FIELD', `AES key must be 16 or 32 bytes, got ${key.length}`, { field: 'aes key' });
  }
  const c = createCipheriv(key.length === 16 ? 'aes-128-ecb' : 'aes-256-ecb', key, null);
  c.setAutoPadding(false);
  const out = new Uint8Array(data.length);
  const a = c.update(data);
  out.set(a, 0);
  out.set(c.final(), a.length);
  return out;
}

/** The last block of AES-CBC with a zero IV over whole 16-byte blocks (the CBC-MAC chain, one native call). */
export function aesCbcMacLastBlock(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) {
    throw new RseError('E_BAD_FIELD', `AES key must be 16 or 32 bytes, got ${key.length}`, { field: 'aes key' });
  }
  const c = createCipheriv(key.length === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, new Uint8Array(16));
  c.setAutoPadding(false);
  const a = c.update(data);
  c.final();
  return new Uint8Array(a.subarray(a.length - 16));
}

export type AeadAlg = 'aes-256-ccm' | 'aes-128-gcm' | 'aes-256-gcm';
export const gcmFor = (key: Uint8Array): AeadAlg => (key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

// CCM and GCM take the same calls here: CCM needs the plaintext length with the AAD, GCM ignores it.
// The CCM typing covers both (the GCM names are not in Node's CipherCCMTypes).
export function aeadSeal(
  alg: AeadAlg,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  tagLength: number,
): { ciphertext: Uint8Array; tag: Uint8Array } {
  const c = createCipheriv(alg as 'aes-256-ccm', key, nonce, { authTagLength: tagLength });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const out = new Uint8Array(plaintext.length);
  const a = c.update(plaintext);
  out.set(a, 0);
  out.set(c.final(), a.length);
  return { ciphertext: out, tag: asU8(c.getAuthTag()) };
}

export function aeadOpen(
  alg: AeadAlg,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  const d = createDecipheriv(alg as 'aes-256-ccm', key, nonce, { authTagLength: tag.length });
  d.setAuthTag(tag);
  d.setAAD(aad, { plaintextLength: ciphertext.length });
  const out = asU8(d.update(ciphertext));
  try {
    d.final();
  } catch {
    out.fill(0);
    return undefined;
  }
  return out;
}

/** AES-256-CCM encryption: returns ciphertext and tag (`tagLength` bytes). */
export const aesCcmEncrypt = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  tagLength = 16,
): { ciphertext: Uint8Array; tag: Uint8Array } => aeadSeal('aes-256-ccm', key, nonce, aad, plaintext, tagLength);

/** AES-256-CCM decryption; `undefined` when the tag does not authenticate (nothing of the plaintext escapes then). */
export const aesCcmDecrypt = (
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined => aeadOpen('aes-256-ccm', key, nonce, aad, ciphertext, tag);

/** AES-GCM encryption (16- or 32-byte key, any IV length: a 16-byte IV goes through GHASH as GCM says); 16-byte tag. */
export const aesGcmEncrypt = (
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { ciphertext: Uint8Array; tag: Uint8Array } => aeadSeal(gcmFor(key), key, iv, aad, plaintext, 16);

/** AES-GCM decryption; `undefined` when the tag does not authenticate (nothing of the plaintext escapes then). */
export const aesGcmDecrypt = (
  key: Uint8Array,
  iv: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined => (tag.length === 16 ? aeadOpen(gcmFor(key), key, iv, aad, ciphertext, tag) : undefined);

/** The public point (uncompressed, 0x04‖X‖Y) of a NIST P-curve private scalar. */
export function ecPublicFromPrivate(curve: 'P-256' | 'P-384' | 'P-521', d: Uint8Array): Uint8Array {
  const ecdh = createECDH(({ 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' } as const)[curve]);
  ecdh.setPrivateKey(d);
  return asU8(ecdh.getPublicKey());
}

/** An ECDSA key object from a private scalar on a NIST P-curve. */
export function ecKeyFromPrivate(curve: 'P-256' | 'P-384', d: Uint8Array): AsymKey {
  const pub = ecPublicFromPrivate(curve, d);
  const n = d.length;
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
  const privateKey = createPrivateKey({
    key: { kty: 'EC', crv: curve, d: b64(d), x: b64(pub.subarray(1, 1 + n)), y: b64(pub.subarray(1 + n)) },
    format: 'jwk',
  });
  return { type: curve === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384', isPrivate: true, privateKey, publicKey: createPublicKey(privateKey) };
}
