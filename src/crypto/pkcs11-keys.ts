/**
 * Keys held in a PKCS#11 token. Signing keys: the private key never leaves the token; the data is
 * hashed on the host and only the digest goes to it (CKM_ECDSA, CKM_RSA_PKCS_PSS with
 * SHA-256/MGF1/32-byte salt as MCUboot wants), except Ed25519 (CKM_EDDSA over what is signed,
 * which for MCUboot is the image digest); the public key is read from the token's public object of
 * the same label or id. Key pairs are generated in the token (sensitive, not extractable). AES-256
 * wrapping keys (the virtual HSMs' key-encryption keys) encrypt and decrypt with CKM_AES_GCM there.
 * @module
 */

import { createPublicKey } from 'node:crypto';
import { RseError } from '../lib/errors.ts';
import type { AsymKey, AsymKeyType, TokenSigner } from './asym.ts';
import { importRawPublicKey } from './asym.ts';
import { randomBytes } from './hash.ts';
import { C, type Module, openTokenSession, type Template, type TokenKeyOptions, type TokenSession, tokenError } from './pkcs11.ts';

/** The signing mechanism of a key type. */
function mechanismOf(type: AsymKeyType): { mechanism: number; parameter?: unknown } {
  if (type === 'rsa-2048' || type === 'rsa-3072')
    return {
      mechanism: C('CKM_RSA_PKCS_PSS'),
      parameter: { type: C('CK_PARAMS_RSA_PSS'), hashAlg: C('CKM_SHA256'), mgf: C('CKG_MGF1_SHA256'), saltLen: 32 },
    };
  return { mechanism: C(type === 'ed25519' ? 'CKM_EDDSA' : 'CKM_ECDSA') };
}

function signingKeyOf(t: TokenSession, priv: Buffer, pub: Buffer): AsymKey {
  const { module: m, session } = t;
  const { type, publicKey } = publicOf(m, session, pub);
  const mechanism = mechanismOf(type);
  const token: TokenSigner = {
    uri: t.name,
    sign: (input) => {
      try {
        m.C_SignInit(session, mechanism, priv);
        return new Uint8Array(m.C_Sign(session, Buffer.from(input), Buffer.alloc(512)));
      } catch (e) {
        throw tokenError(e, 'signing');
      }
    },
  };
  return { type, isPrivate: true, publicKey, token };
}

/** Opens the private key a PKCS#11 URI names: logs in, finds it and its public key, and returns an rsekit key that signs through the token. */
export function openTokenKey(uri: string, o: TokenKeyOptions = {}): AsymKey {
  const t = openTokenSession(uri, o);
  const priv = t.find('CKO_PRIVATE_KEY');
  if (priv === undefined) throw new RseError('E_KEY', `PKCS#11: no private key ${t.name} on the token`, { field: 'pkcs11' });
  const pub = t.find('CKO_PUBLIC_KEY');
  if (pub === undefined)
    throw new RseError('E_KEY', `PKCS#11: no public key object ${t.name} beside the private key (rsekit reads the public key from it)`, {
      field: 'pkcs11',
    });
  return signingKeyOf(t, priv, pub);
}

/** DER OIDs of the curves rsekit signs with, as CKA_EC_PARAMS holds them. */
const EC_PARAMS: Readonly<Record<string, AsymKeyType>> = {
  '06082a8648ce3d030107': 'ecdsa-p256',
  '06052b81040022': 'ecdsa-p384',
  '06032b6570': 'ed25519',
  '130c656477617264733235353139': 'ed25519', // PrintableString "edwards25519"
};

/** The key types a token can generate, and how. */
const GENERATE: Readonly<Partial<Record<AsymKeyType, { mechanism: string; pub: (t: Template) => void }>>> = {
  'ecdsa-p256': {
    mechanism: 'CKM_EC_KEY_PAIR_GEN',
    pub: (t) => t.push({ type: C('CKA_EC_PARAMS'), value: Buffer.from('06082a8648ce3d030107', 'hex') }),
  },
  'ecdsa-p384': {
    mechanism: 'CKM_EC_KEY_PAIR_GEN',
    pub: (t) => t.push({ type: C('CKA_EC_PARAMS'), value: Buffer.from('06052b81040022', 'hex') }),
  },
  ed25519: {
    mechanism: 'CKM_EC_EDWARDS_KEY_PAIR_GEN',
    pub: (t) => t.push({ type: C('CKA_EC_PARAMS'), value: Buffer.from('06032b6570', 'hex') }),
  },
  'rsa-2048': {
    mechanism: 'CKM_RSA_PKCS_KEY_PAIR_GEN',
    pub: (t) => t.push({ type: C('CKA_MODULUS_BITS'), value: 2048 }, { type: C('CKA_PUBLIC_EXPONENT'), value: Buffer.from([1, 0, 1]) }),
  },
  'rsa-3072': {
    mechanism: 'CKM_RSA_PKCS_KEY_PAIR_GEN',
    pub: (t) => t.push({ type: C('CKA_MODULUS_BITS'), value: 3072 }, { type: C('CKA_PUBLIC_EXPONENT'), value: Buffer.from([1, 0, 1]) }),
  },
};

/** Key types {@link generateTokenKey} makes. */
export const TOKEN_KEY_TYPES: readonly AsymKeyType[] = Object.keys(GENERATE) as AsymKeyType[];

/**
 * Generates a key pair in the token under the URI's label (`object=`) and id (`id=`, else 8
 * random bytes): the private key sensitive and never extractable, both on the token. Refuses
 * (E_EXISTS) when the URI already names a key: a signing key is not replaced by accident.
 */
export function generateTokenKey(uri: string, type: AsymKeyType, o: TokenKeyOptions = {}): { key: AsymKey; id: Uint8Array } {
  const g = GENERATE[type];
  if (g === undefined)
    throw new RseError('E_KEY', `a token generates ${TOKEN_KEY_TYPES.join(', ')} keys, not ${type}`, { field: '--type' });
  const t = openTokenSession(uri, o, true);
  if (t.find('CKO_PRIVATE_KEY') !== undefined || t.find('CKO_PUBLIC_KEY') !== undefined)
    throw new RseError(
      'E_EXISTS',
      `${t.name} already names a key on the token: refusing to add another (delete it with the token's tools)`,
      {
        field: '--key',
      },
    );
  const id = t.uri.id ?? randomBytes(8);
  const named: Template = [
    { type: C('CKA_TOKEN'), value: true },
    { type: C('CKA_ID'), value: Buffer.from(id) },
    ...(t.uri.object === undefined ? [] : [{ type: C('CKA_LABEL'), value: t.uri.object }]),
  ];
  const pub: Template = [...named, { type: C('CKA_VERIFY'), value: true }];
  g.pub(pub);
  const priv: Template = [
    ...named,
    { type: C('CKA_PRIVATE'), value: true },
    { type: C('CKA_SENSITIVE'), value: true },
    { type: C('CKA_EXTRACTABLE'), value: false },
    { type: C('CKA_SIGN'), value: true },
  ];
  let pair: { publicKey: Buffer; privateKey: Buffer };
  try {
    pair = t.module.C_GenerateKeyPair(t.session, { mechanism: C(g.mechanism) }, pub, priv);
  } catch (e) {
    throw tokenError(e, `generating a ${type} key pair`);
  }
  return { key: signingKeyOf(t, pair.privateKey, pair.publicKey), id };
}

/** An AES-256 key in a token, used with AES-GCM there (12-byte IV, 16-byte tag). */
export interface TokenAesKey {
  readonly uri: string;
  encrypt(iv: Uint8Array, aad: Uint8Array, plain: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array };
  /** The plaintext, or undefined when the tag does not verify. */
  decrypt(iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array | undefined;
}

/**
 * The AES secret key a URI names, generated in the token (AES-256, sensitive, not extractable,
 * encrypt/decrypt only) when `create` and it is missing.
 */
export function openTokenAesKey(uri: string, create: boolean, o: TokenKeyOptions = {}): TokenAesKey {
  const t = openTokenSession(uri, o, create);
  let key = t.find('CKO_SECRET_KEY');
  if (key === undefined && create) {
    const template: Template = [
      { type: C('CKA_CLASS'), value: C('CKO_SECRET_KEY') },
      { type: C('CKA_KEY_TYPE'), value: C('CKK_AES') },
      { type: C('CKA_TOKEN'), value: true },
      { type: C('CKA_PRIVATE'), value: true },
      { type: C('CKA_SENSITIVE'), value: true },
      { type: C('CKA_EXTRACTABLE'), value: false },
      { type: C('CKA_ENCRYPT'), value: true },
      { type: C('CKA_DECRYPT'), value: true },
      { type: C('CKA_VALUE_LEN'), value: 32 },
      { type: C('CKA_ID'), value: Buffer.from(t.uri.id ?? randomBytes(8)) },
      ...(t.uri.object === undefined ? [] : [{ type: C('CKA_LABEL'), value: t.uri.object }]),
    ];
    try {
      key = t.module.C_GenerateKey(t.session, { mechanism: C('CKM_AES_KEY_GEN') }, template);
    } catch (e) {
      throw tokenError(e, 'generating an AES-256 key');
    }
  }
  if (key === undefined) throw new RseError('E_KEY', `PKCS#11: no secret key ${t.name} on the token`, { field: 'pkcs11' });
  const k = key;
  const gcm = (iv: Uint8Array, aad: Uint8Array) => ({
    mechanism: C('CKM_AES_GCM'),
    parameter: { type: C('CK_PARAMS_AES_GCM'), iv: Buffer.from(iv), aad: Buffer.from(aad), ivBits: iv.length * 8, tagBits: 128 },
  });
  return {
    uri: t.name,
    encrypt: (iv, aad, plain) => {
      let out: Buffer;
      try {
        t.module.C_EncryptInit(t.session, gcm(iv, aad), k);
        out = t.module.C_Encrypt(t.session, Buffer.from(plain), Buffer.alloc(plain.length + 16));
      } catch (e) {
        throw tokenError(e, 'encrypting');
      }
      return { ciphertext: new Uint8Array(out.subarray(0, out.length - 16)), tag: new Uint8Array(out.subarray(out.length - 16)) };
    },
    decrypt: (iv, aad, ciphertext, tag) => {
      try {
        t.module.C_DecryptInit(t.session, gcm(iv, aad), k);
        const out = t.module.C_Decrypt(t.session, Buffer.concat([ciphertext, tag]), Buffer.alloc(ciphertext.length + 16));
        return new Uint8Array(out);
      } catch (e) {
        // The tag does not verify (another key, or altered data): CKR_ENCRYPTED_DATA_INVALID, or
        // CKR_GENERAL_ERROR from SoftHSM2, whose GCM decryption reports a bad tag so.
        if (/CKR_ENCRYPTED_DATA_INVALID|CKR_ENCRYPTED_DATA_LEN_RANGE|CKR_GENERAL_ERROR/.test(String(e))) return undefined;
        throw tokenError(e, 'decrypting');
      }
    },
  };
}

function publicOf(m: Module, session: Buffer, object: Buffer): { type: AsymKeyType; publicKey: AsymKey['publicKey'] } {
  const attr = (t: string): Buffer | undefined => {
    try {
      return m.C_GetAttributeValue(session, object, [{ type: C(t) }])[0]?.value;
    } catch {
      return undefined;
    }
  };
  const keyType = attr('CKA_KEY_TYPE');
  const kt = keyType === undefined ? -1 : keyType.readUIntLE(0, Math.min(keyType.length, 6));
  if (kt === C('CKK_RSA')) {
    const n = attr('CKA_MODULUS');
    const e = attr('CKA_PUBLIC_EXPONENT');
    if (n === undefined || e === undefined)
      throw new RseError('E_KEY', 'PKCS#11: the RSA public key has no modulus or exponent', { field: 'pkcs11' });
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
    const bits = publicKey.asymmetricKeyDetails?.modulusLength;
    if (bits !== 2048 && bits !== 3072)
      throw new RseError('E_KEY', `PKCS#11: an RSA-${bits} key; rsekit signs with RSA-2048 or 3072`, { field: 'pkcs11' });
    return { type: bits === 2048 ? 'rsa-2048' : 'rsa-3072', publicKey };
  }
  const params = attr('CKA_EC_PARAMS');
  const point = attr('CKA_EC_POINT');
  const type = params === undefined ? undefined : EC_PARAMS[params.toString('hex')];
  if (type === undefined || point === undefined)
    throw new RseError('E_KEY', 'PKCS#11: the key is not RSA-2048/3072, ECDSA P-256/P-384 or Ed25519', { field: 'pkcs11' });
  // CKA_EC_POINT is a DER OCTET STRING around the point (some modules give the bare point).
  const size = type === 'ecdsa-p256' ? 65 : type === 'ecdsa-p384' ? 97 : 32;
  const raw = point.length === size + 2 && point[0] === 0x04 && point[1] === size ? point.subarray(2) : point;
  return { type, publicKey: importRawPublicKey(type, new Uint8Array(raw)).publicKey };
}
