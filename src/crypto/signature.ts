/**
 * Signatures: RSA-PSS over a digest (MGF1-SHA-256, as MCUboot), ECDSA (DER or raw, streamed), Ed25519.
 * @module
 */

import {
  constants,
  createHash,
  createSign,
  createVerify,
  sign as nodeSign,
  verify as nodeVerify,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { type AsymKey, requirePrivate } from './asym.ts';
import { ecdsaRawToDer, ecdsaSignDigestRfc6979 } from './ecdsa-digest.ts';
import { constantTimeEqual, hash, randomBytes } from './hash.ts';

// ---------------------------------------------------------------------------------------------
// Signatures

export function mgf1Sha256(seed: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const c = new Uint8Array(4);
  for (let i = 0, at = 0; at < len; i++, at += 32) {
    new DataView(c.buffer).setUint32(0, i);
    out.set(hash('sha256', seed, c).subarray(0, Math.min(32, len - at)), at);
  }
  return out;
}

export function rsaModulusBits(key: AsymKey): number {
  const bits = key.publicKey.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) throw new RseError('E_KEY', 'not an RSA key');
  return bits;
}

/**
 * RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) over a precomputed SHA-256 `digest` (RFC 8017
 * §9.1.1 encoding, then the raw RSA private operation): signing an image without hashing it a
 * second time. `salt` is injectable for deterministic tests only.
 */
export function rsaPssSignDigest(key: AsymKey, digest: Uint8Array, salt: Uint8Array = randomBytes(32)): Uint8Array {
  if (digest.length !== 32 || salt.length !== 32) throw new RseError('E_ARGUMENT', 'RSA-PSS needs a 32-byte digest and salt');
  // A token key: CKM_RSA_PKCS_PSS over the digest, its salt drawn in the token.
  if (key.token !== undefined) return key.token.sign(digest);
  const emBits = rsaModulusBits(key) - 1;
  const emLen = Math.ceil(emBits / 8);
  const h = hash('sha256', new Uint8Array(8), digest, salt);
  const db = new Uint8Array(emLen - 33);
  db[db.length - 33] = 0x01;
  db.set(salt, db.length - 32);
  const mask = mgf1Sha256(h, db.length);
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number);
  db[0] = (db[0] as number) & (0xff >> (8 * emLen - emBits));
  const em = new Uint8Array(emLen);
  em.set(db, 0);
  em.set(h, db.length);
  em[emLen - 1] = 0xbc;
  const k = Math.ceil((emBits + 1) / 8);
  const block = new Uint8Array(k);
  block.set(em, k - emLen);
  return asU8(privateDecrypt({ key: requirePrivate(key), padding: constants.RSA_NO_PADDING }, block));
}

/** Verifies an RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) signature over a precomputed digest. */
export function rsaPssVerifyDigest(key: AsymKey, digest: Uint8Array, sig: Uint8Array): boolean {
  const emBits = rsaModulusBits(key) - 1;
  const k = Math.ceil((emBits + 1) / 8);
  if (sig.length !== k || digest.length !== 32) return false;
  let block: Uint8Array;
  try {
    block = asU8(publicEncrypt({ key: key.publicKey, padding: constants.RSA_NO_PADDING }, sig));
  } catch {
    return false;
  }
  const emLen = Math.ceil(emBits / 8);
  const em = block.subarray(k - emLen);
  if (k !== emLen && block[0] !== 0) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - 33);
  const h = em.subarray(emLen - 33, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if (((maskedDb[0] as number) & ~topMask) !== 0) return false;
  const mask = mgf1Sha256(h, maskedDb.length);
  const db = maskedDb.map((b, i) => b ^ (mask[i] as number));
  db[0] = (db[0] as number) & topMask;
  const ps = db.length - 33;
  for (let i = 0; i < ps; i++) if (db[i] !== 0) return false;
  if (db[ps] !== 0x01) return false;
  return constantTimeEqual(hash('sha256', new Uint8Array(8), digest, db.subarray(ps + 1)), h);
}

/** ECDSA with the curve's hash (P-256/SHA-256, P-384/SHA-384); DER signature unless `encoding` says raw r ‖ s. */
export function ecdsaSign(key: AsymKey, parts: readonly Uint8Array[], encoding: 'der' | 'ieee-p1363' = 'der'): Uint8Array {
  const s = ecdsaSigner(key, encoding);
  for (const p of parts) s.update(p);
  return s.sign();
}

/**
 * {@link ecdsaSign} fed piece by piece. A key marked for RFC 6979 nonces ({@link AsymKey.nonce})
 * signs the same input the same way every time; otherwise OpenSSL draws the nonce.
 */
export function ecdsaSigner(key: AsymKey, encoding: 'der' | 'ieee-p1363' = 'der'): { update(piece: Uint8Array): void; sign(): Uint8Array } {
  const alg = key.type === 'ecdsa-p384' ? 'sha384' : 'sha256';
  const token = key.token;
  if (token !== undefined) {
    // Hashed here; only the digest goes to the token (CKM_ECDSA), which returns r ‖ s.
    const h = createHash(alg);
    return {
      update: (piece) => {
        h.update(piece);
      },
      sign: () => {
        const raw = token.sign(asU8(h.digest()));
        return encoding === 'der' ? ecdsaRawToDer(raw) : raw;
      },
    };
  }
  const priv = requirePrivate(key);
  if (key.nonce === 'rfc6979') {
    const h = createHash(alg);
    return {
      update: (piece) => {
        h.update(piece);
      },
      sign: () => {
        const raw = ecdsaSignDigestRfc6979(key, asU8(h.digest()), alg);
        return encoding === 'der' ? ecdsaRawToDer(raw) : raw;
      },
    };
  }
  const s = createSign(alg);
  return {
    update: (piece) => {
      s.update(piece);
    },
    sign: () => asU8(s.sign({ key: priv, dsaEncoding: encoding })),
  };
}

/** {@link ecdsaVerify} fed piece by piece. */
export function ecdsaVerifier(
  key: AsymKey,
  encoding: 'der' | 'ieee-p1363' = 'der',
): { update(piece: Uint8Array): void; verify(sig: Uint8Array): boolean } {
  const v = createVerify(key.type === 'ecdsa-p384' ? 'sha384' : 'sha256');
  return {
    update: (piece) => {
      v.update(piece);
    },
    verify: (sig) => {
      try {
        return v.verify({ key: key.publicKey, dsaEncoding: encoding }, sig);
      } catch {
        return false;
      }
    },
  };
}

export function ecdsaVerify(key: AsymKey, parts: readonly Uint8Array[], sig: Uint8Array, encoding: 'der' | 'ieee-p1363' = 'der'): boolean {
  const v = createVerify(key.type === 'ecdsa-p384' ? 'sha384' : 'sha256');
  for (const p of parts) v.update(p);
  try {
    return v.verify({ key: key.publicKey, dsaEncoding: encoding }, sig);
  } catch {
    return false;
  }
}

/** ECDSA with a raw r ‖ s signature (COSE). */
export const ecdsaSignRaw = (key: AsymKey, parts: readonly Uint8Array[]): Uint8Array => ecdsaSign(key, parts, 'ieee-p1363');
export const ecdsaVerifyRaw = (key: AsymKey, parts: readonly Uint8Array[], sig: Uint8Array): boolean =>
  ecdsaVerify(key, parts, sig, 'ieee-p1363');

/** Plain Ed25519 over `message`. */
export function ed25519Sign(key: AsymKey, message: Uint8Array): Uint8Array {
  if (key.token !== undefined) return key.token.sign(message);
  return asU8(nodeSign(null, message, requirePrivate(key)));
}

export function ed25519Verify(key: AsymKey, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    return nodeVerify(null, message, key.publicKey, sig);
  } catch {
    return false;
  }
}
