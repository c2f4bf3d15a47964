/**
 * One facade over node:crypto for every algorithm rsekit uses. Nothing else in rsekit imports
 * node:crypto directly, so the algorithms in use are listed here and nowhere else.
 * @module
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes as nodeRandomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  privateDecrypt,
  publicEncrypt,
  timingSafeEqual,
} from 'node:crypto';
import { asU8 } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';

export type { KeyObject };

export type HashAlg = 'sha256' | 'sha384' | 'sha512';

export const HASH_SIZES: Readonly<Record<HashAlg, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/** Hashes the concatenation of `parts` without concatenating them. */
export function hash(alg: HashAlg, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** A hash fed piece by piece (a payload too large to hold at once). */
export interface Hasher {
  update(piece: Uint8Array): void;
  digest(): Uint8Array;
}

export function hasher(alg: HashAlg): Hasher {
  const h = createHash(alg);
  return {
    update: (piece) => {
      h.update(piece);
    },
    digest: () => asU8(h.digest()),
  };
}

export function sha1(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

export function hmac(alg: HashAlg, key: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHmac(alg, key);
  for (const p of parts) h.update(p);
  return asU8(h.digest());
}

/** HKDF (RFC 5869); an empty salt is the same as HashLen zero bytes. */
export function hkdf(alg: HashAlg, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync(alg, ikm, salt, info, length));
}

/** AES-CTR with a 16-byte initial counter block (128-bit big-endian counter). Encrypts or decrypts. */
export function aesCtr(key: Uint8Array, counter: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16 && key.length !== 32) {
    throw new RseError('E_BAD_FIELD', `AES key must be 16 or 32 bytes, got ${key.length}`, { field: 'aes key' });
  }
  const c = createCipheriv(key.length === 16 ? 'aes-128-ctr' : 'aes-256-ctr', key, counter);
  const out = new Uint8Array(data.length);
  const a = c.update(data);
  out.set(a, 0);
  out.set(c.final(), a.length);
  return out;
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Random bytes; callers that need determinism in tests inject their own source instead. */
export function randomBytes(n: number): Uint8Array {
  return asU8(nodeRandomBytes(n));
}

export type RandomSource = (n: number) => Uint8Array;

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
}

function keyTypeOf(k: KeyObject): AsymKeyType {
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
const EC_SPKI_PREFIX: Readonly<Record<'P-256' | 'P-384' | 'P-521', Buffer>> = {
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

function requirePrivate(key: AsymKey): KeyObject {
  if (key.privateKey === undefined) throw new RseError('E_KEY', `a private ${key.type} key is needed`);
  return key.privateKey;
}

// ---------------------------------------------------------------------------------------------
// Signatures

function mgf1Sha256(seed: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const c = new Uint8Array(4);
  for (let i = 0, at = 0; at < len; i++, at += 32) {
    new DataView(c.buffer).setUint32(0, i);
    out.set(hash('sha256', seed, c).subarray(0, Math.min(32, len - at)), at);
  }
  return out;
}

function rsaModulusBits(key: AsymKey): number {
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
  const s = createSign(key.type === 'ecdsa-p384' ? 'sha384' : 'sha256');
  for (const p of parts) s.update(p);
  return asU8(s.sign({ key: requirePrivate(key), dsaEncoding: encoding }));
}

/** {@link ecdsaSign} fed piece by piece. */
export function ecdsaSigner(key: AsymKey, encoding: 'der' | 'ieee-p1363' = 'der'): { update(piece: Uint8Array): void; sign(): Uint8Array } {
  const s = createSign(key.type === 'ecdsa-p384' ? 'sha384' : 'sha256');
  const priv = requirePrivate(key);
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
  return asU8(nodeSign(null, message, requirePrivate(key)));
}

export function ed25519Verify(key: AsymKey, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    return nodeVerify(null, message, key.publicKey, sig);
  } catch {
    return false;
  }
}

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

type AeadAlg = 'aes-256-ccm' | 'aes-128-gcm' | 'aes-256-gcm';
const gcmFor = (key: Uint8Array): AeadAlg => (key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

// CCM and GCM take the same calls here: CCM needs the plaintext length with the AAD, GCM ignores it.
// The CCM typing covers both (the GCM names are not in Node's CipherCCMTypes).
function aeadSeal(
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

function aeadOpen(
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
