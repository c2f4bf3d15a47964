/**
 * One facade over node:crypto for every algorithm rsekit uses: hashes and MACs (`hash.ts`),
 * asymmetric keys (`asym.ts`), signatures (`signature.ts`) and ciphers (`cipher.ts`). The rest
 * of rsekit imports its primitives from here.
 * @module
 */

export type { AsymKey, AsymKeyType } from './asym.ts';
export {
  ASYM_KEY_TYPES,
  deterministicKey,
  ecPublicKeyFromPoint,
  exportPrivateDer,
  exportPrivatePem,
  exportPublicDer,
  exportPublicPem,
  generateKey,
  importPublicDer,
  importRawPublicKey,
  loadKey,
  rawPublicKey,
} from './asym.ts';

('./cipher.ts');

export {
  aesCbcMacLastBlock,
  aesCcmDecrypt,
  aesCcmEncrypt,
  aesEcbEncrypt,
  aesGcmDecrypt,
  aesGcmEncrypt,
  ecdh,
  ecKeyFromPrivate,
  ecPublicFromPrivate,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
} from './cipher.ts';
export type { HashAlg, Hasher, KeyObject, RandomSource } from './hash.ts';
export { aesCtr, constantTimeEqual, HASH_SIZES, hash, hasher, hkdf, hmac, randomBytes, sha1 } from './hash.ts';
export {
  ecdsaSign,
  ecdsaSigner,
  ecdsaSignRaw,
  ecdsaVerifier,
  ecdsaVerify,
  ecdsaVerifyRaw,
  ed25519Sign,
  ed25519Verify,
  rsaPssSignDigest,
  rsaPssVerifyDigest,
} from './signature.ts';
