/**
 * MCUboot image encryption (spec §2.16): a fresh AES key per image, AES-CTR over the payload
 * with a zero initial counter, and the AES key carried in an ENC_* TLV: RSA-OAEP (ENC_RSA2048),
 * or ECIES over P-256 or X25519 with HKDF ("MCUBoot_ECIES_v1") and an HMAC tag.
 * @module
 */
import {
  type AsymKey,
  aesCtr,
  constantTimeEqual,
  ecdh,
  generateKey,
  HASH_SIZES,
  type HashAlg,
  hkdf,
  hmac,
  importRawPublicKey,
  rawPublicKey,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
} from '../crypto/index.ts';
import { concatBytes } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { TLV } from './constants.ts';

const ECIES_INFO = new TextEncoder().encode('MCUBoot_ECIES_v1');
const ZERO_COUNTER = new Uint8Array(16);

export interface WrappedKey {
  readonly tlvType: number;
  readonly value: Uint8Array;
}

/** Encrypts or decrypts a payload in place semantics: AES-CTR, counter block 0 at the payload start. */
export function cryptPayload(aesKey: Uint8Array, data: Uint8Array): Uint8Array {
  return aesCtr(aesKey, ZERO_COUNTER, data);
}

function eciesKeys(shared: Uint8Array, keyLen: number, alg: HashAlg): { encKey: Uint8Array; macKey: Uint8Array } {
  const okm = hkdf(alg, shared, new Uint8Array(0), ECIES_INFO, keyLen + HASH_SIZES[alg]);
  return { encKey: okm.subarray(0, keyLen), macKey: okm.subarray(keyLen) };
}

/**
 * Wraps `aesKey` for the recipient's public key. `hmacSha` 512 is only for X25519.
 * `ephemeral` injects the ECIES ephemeral key (tests only); by default a fresh one is made.
 */
export function wrapImageKey(recipient: AsymKey, aesKey: Uint8Array, hmacSha: 256 | 512 = 256, ephemeral?: AsymKey): WrappedKey {
  if (recipient.type === 'rsa-2048' || recipient.type === 'rsa-3072') {
    if (hmacSha !== 256) throw new RseError('E_ARGUMENT', 'Currently only ECIES-X25519 supports HMAC-SHA512', { field: '--hmac-sha' });
    return { tlvType: TLV.ENCRSA2048, value: rsaOaepEncrypt(recipient, aesKey) };
  }
  if (recipient.type !== 'ecdsa-p256' && recipient.type !== 'x25519') {
    throw new RseError('E_KEY', `a ${recipient.type} key cannot encrypt images (RSA, P-256 or X25519 only)`, { field: '--encrypt' });
  }
  if (hmacSha === 512 && recipient.type !== 'x25519') {
    throw new RseError('E_ARGUMENT', 'Currently only ECIES-X25519 supports HMAC-SHA512', { field: '--hmac-sha' });
  }
  const eph = ephemeral ?? generateKey(recipient.type);
  const alg: HashAlg = hmacSha === 512 ? 'sha512' : 'sha256';
  const { encKey, macKey } = eciesKeys(ecdh(eph, recipient), aesKey.length, alg);
  const cipherKey = aesCtr(encKey, ZERO_COUNTER, aesKey);
  const tag = hmac(alg, macKey, cipherKey);
  const tlvType = recipient.type === 'ecdsa-p256' ? TLV.ENCEC256 : hmacSha === 512 ? TLV.ENCX25519_SHA512 : TLV.ENCX25519;
  return { tlvType, value: concatBytes([rawPublicKey(eph), tag, cipherKey]) };
}

/** Recovers the AES key from an ENC_* TLV with the recipient's private key. */
export function unwrapImageKey(wrapped: WrappedKey, recipient: AsymKey, keyLen: 16 | 32): Uint8Array {
  const fail = (msg: string): RseError => new RseError('E_DECRYPT', msg, { field: 'encryption key TLV' });
  if (!recipient.isPrivate) throw new RseError('E_KEY', 'decrypting an image needs the private encryption key', { field: '--enc-key' });
  switch (wrapped.tlvType) {
    case TLV.ENCRSA2048: {
      if (!recipient.type.startsWith('rsa')) throw fail(`ENC_RSA2048 image, but the key is ${recipient.type}`);
      const k = rsaOaepDecrypt(recipient, wrapped.value);
      if (k.length !== keyLen) throw fail(`unwrapped key is ${k.length} bytes, the header flags say ${keyLen}`);
      return k;
    }
    case TLV.ENCEC256:
    case TLV.ENCX25519:
    case TLV.ENCX25519_SHA512: {
      const type = wrapped.tlvType === TLV.ENCEC256 ? 'ecdsa-p256' : 'x25519';
      if (recipient.type !== type) throw fail(`${type} encryption, but the key is ${recipient.type}`);
      const alg: HashAlg = wrapped.tlvType === TLV.ENCX25519_SHA512 ? 'sha512' : 'sha256';
      const pubLen = type === 'ecdsa-p256' ? 65 : 32;
      const tagLen = HASH_SIZES[alg];
      if (wrapped.value.length !== pubLen + tagLen + keyLen) {
        throw fail(`encryption key TLV is ${wrapped.value.length} bytes, expected ${pubLen + tagLen + keyLen}`);
      }
      const eph = importRawPublicKey(type, wrapped.value.subarray(0, pubLen));
      const tag = wrapped.value.subarray(pubLen, pubLen + tagLen);
      const cipherKey = wrapped.value.subarray(pubLen + tagLen);
      const { encKey, macKey } = eciesKeys(ecdh(recipient, eph), keyLen, alg);
      if (!constantTimeEqual(hmac(alg, macKey, cipherKey), tag)) throw fail('the key TLV HMAC does not verify with this key');
      return aesCtr(encKey, ZERO_COUNTER, cipherKey);
    }
    default:
      throw fail(`TLV 0x${wrapped.tlvType.toString(16)} is not an encryption key TLV this tool can unwrap`);
  }
}
