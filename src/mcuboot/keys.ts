/**
 * What MCUboot and imgtool make of each key type: the public-key bytes embedded in images
 * (PKCS#1 RSAPublicKey for RSA, SubjectPublicKeyInfo otherwise), the signature TLV, which image
 * hashes a key allows, and signing/verifying the hashed region.
 * @module
 */
import {
  type AsymKey,
  ecdsaSign,
  ecdsaSigner,
  ecdsaVerifier,
  ecdsaVerify,
  ed25519Sign,
  ed25519Verify,
  exportPrivateDer,
  exportPublicDer,
  type HashAlg,
  rsaPssSignDigest,
  rsaPssVerifyDigest,
} from '../crypto/index.ts';
import { concatBytes } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { TLV } from './constants.ts';

/** The key bytes imgtool puts in a PUBKEY TLV and hashes for KEYHASH. */
export function mcubootPublicKeyBytes(key: AsymKey): Uint8Array {
  return exportPublicDer(key, key.type.startsWith('rsa') ? 'pkcs1' : 'spki');
}

/** The signature TLV type a key produces, or undefined for X25519 (encryption only). */
export function signatureTlvType(key: AsymKey): number | undefined {
  switch (key.type) {
    case 'rsa-2048':
      return TLV.RSA2048;
    case 'rsa-3072':
      return TLV.RSA3072;
    case 'ecdsa-p256':
    case 'ecdsa-p384':
      return TLV.ECDSASIG;
    case 'ed25519':
      return TLV.ED25519;
    case 'x25519':
      return undefined;
  }
}

/** imgtool's signature-type name, used in its messages. */
export function signatureTypeName(key: AsymKey): string {
  switch (key.type) {
    case 'rsa-2048':
      return 'PKCS1_PSS_RSA2048_SHA256';
    case 'rsa-3072':
      return 'PKCS1_PSS_RSA3072_SHA256';
    case 'ecdsa-p256':
      return 'ECDSA256_SHA256';
    case 'ecdsa-p384':
      return 'ECDSA384_SHA384';
    case 'ed25519':
      return 'ED25519';
    case 'x25519':
      return 'X25519';
  }
}

/** imgtool's C/Rust identifier stem for `getpub`. */
export function keyShortName(key: AsymKey): string {
  switch (key.type) {
    case 'rsa-2048':
    case 'rsa-3072':
      return 'rsa';
    case 'ecdsa-p256':
      return 'ecdsa';
    case 'ecdsa-p384':
      return 'ecdsap384';
    case 'ed25519':
    case 'x25519':
      return key.type;
  }
}

/**
 * Image hash algorithms a key may be used with, the default first. A P-256 *public* key (as
 * given to `--fix-sig-pubkey`) also allows SHA-512, as in imgtool.
 */
export function allowedHashes(key: AsymKey, pure: boolean): readonly HashAlg[] {
  if (pure) {
    if (key.type === 'ed25519' && key.isPrivate) return ['sha512'];
    throw new RseError('E_ARGUMENT', `--pure is only supported with an Ed25519 private key, not ${key.type}`, {
      field: '--pure',
    });
  }
  switch (key.type) {
    case 'ecdsa-p384':
      return ['sha384'];
    case 'ecdsa-p256':
      return key.isPrivate ? ['sha256'] : ['sha256', 'sha512'];
    case 'rsa-2048':
    case 'rsa-3072':
      return ['sha256'];
    case 'ed25519':
    case 'x25519':
      return ['sha256', 'sha512'];
  }
}

/** Maximum DER length of an ECDSA signature, the length `--pad-sig` pads to. */
export function ecdsaPaddedLength(key: AsymKey): number {
  return key.type === 'ecdsa-p384' ? 103 : 72;
}

/**
 * Signs an image: RSA-PSS and ECDSA sign the hashed region (RSA from its SHA-256 digest, which is
 * the same thing); Ed25519 signs the digest, or with `pure` the whole region. `digest` must be
 * the SHA-256 of the region for RSA keys (imgtool allows only SHA-256 with RSA).
 */
export function signImage(key: AsymKey, region: readonly Uint8Array[], digest: Uint8Array, pure: boolean, padSig = false): Uint8Array {
  switch (key.type) {
    case 'rsa-2048':
    case 'rsa-3072':
      // PSS over SHA-256(region) == PSS over the region: the image digest is that hash.
      return rsaPssSignDigest(key, digest);
    case 'ecdsa-p256':
    case 'ecdsa-p384': {
      const sig = ecdsaSign(key, region);
      if (!padSig) return sig;
      const out = new Uint8Array(ecdsaPaddedLength(key));
      out.set(sig);
      return out;
    }
    case 'ed25519':
      return ed25519Sign(key, pure ? concatBytes(region) : digest);
    case 'x25519':
      throw new RseError('E_KEY', 'an X25519 key cannot sign; use it with -E to encrypt', { field: '--key' });
  }
}

/**
 * {@link signImage} for a region fed piece by piece (a streamed payload): RSA-PSS and Ed25519 sign
 * the digest, ECDSA hashes the pieces itself. Pure Ed25519 needs the whole region and is refused.
 */
export function imageSigner(key: AsymKey, padSig = false): { update(piece: Uint8Array): void; sign(digest: Uint8Array): Uint8Array } {
  if (key.type === 'ecdsa-p256' || key.type === 'ecdsa-p384') {
    const s = ecdsaSigner(key);
    return {
      update: (piece) => s.update(piece),
      sign: () => {
        const sig = s.sign();
        if (!padSig) return sig;
        const out = new Uint8Array(ecdsaPaddedLength(key));
        out.set(sig);
        return out;
      },
    };
  }
  return { update: () => {}, sign: (digest) => signImage(key, [], digest, false, padSig) };
}

/** Verifies a signature made by {@link signImage}. `--pad-sig` zero padding is tolerated for ECDSA. */
export function verifyImageSignature(
  key: AsymKey,
  region: readonly Uint8Array[],
  digest: Uint8Array,
  sig: Uint8Array,
  pure: boolean,
): boolean {
  switch (key.type) {
    case 'rsa-2048':
    case 'rsa-3072':
      return rsaPssVerifyDigest(key, digest, sig);
    case 'ecdsa-p256':
    case 'ecdsa-p384':
      return ecdsaVerify(key, region, stripDerPadding(sig));
    case 'ed25519':
      return ed25519Verify(key, pure ? concatBytes(region) : digest, sig);
    case 'x25519':
      return false;
  }
}

/**
 * {@link verifyImageSignature} for a region fed piece by piece: ECDSA hashes the pieces itself,
 * RSA-PSS and Ed25519 check the digest. Not for pure signatures (they need the whole region).
 */
export function imageVerifier(key: AsymKey, sig: Uint8Array): { update(piece: Uint8Array): void; verify(digest: Uint8Array): boolean } {
  if (key.type === 'ecdsa-p256' || key.type === 'ecdsa-p384') {
    const v = ecdsaVerifier(key);
    return { update: (piece) => v.update(piece), verify: () => v.verify(stripDerPadding(sig)) };
  }
  return { update: () => {}, verify: (digest) => verifyImageSignature(key, [], digest, sig, false) };
}

/** Drops zero bytes after the end of a DER SEQUENCE (what `--pad-sig` appended). */
function stripDerPadding(sig: Uint8Array): Uint8Array {
  if (sig.length < 2 || sig[0] !== 0x30) return sig;
  const l = sig[1] as number;
  let total: number;
  if (l < 0x80) total = 2 + l;
  else if (l === 0x81 && sig.length >= 3) total = 3 + (sig[2] as number);
  else return sig;
  if (total >= sig.length) return sig;
  return sig.subarray(total).every((b) => b === 0) ? sig.subarray(0, total) : sig;
}

// ---------------------------------------------------------------------------------------------
// getpriv: the private key as the bootloader's decryption key

/** The encodings `getpriv -f` offers: `openssl` is PKCS#1 for RSA and SEC1 for EC. */
export type PrivateFormat = 'openssl' | 'pkcs8';

/** One DER element: its tag, where its content starts and ends, and where the element ends. */
interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

function derElement(der: Uint8Array, at: number, limit: number): DerElement {
  const bad = (why: string): RseError => new RseError('E_KEY', `private key DER: ${why}`, { field: '--key', offset: at });
  if (at + 2 > limit) throw bad('element header past the end');
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let contentStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || contentStart + n > limit) throw bad('unsupported length form');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[contentStart + i] as number);
    contentStart += n;
  }
  if (contentStart + len > limit) throw bad('element runs past its container');
  return { tag, start: at, contentStart, end: contentStart + len };
}

function derChildren(der: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const e = derElement(der, at, parent.end);
    out.push(e);
    at = e.end;
  }
  return out;
}

function derEncode(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const head = n < 0x80 ? [tag, n] : n < 0x100 ? [tag, 0x81, n] : [tag, 0x82, n >> 8, n & 0xff];
  return concatBytes([new Uint8Array(head), content]);
}

const raw = (der: Uint8Array, e: DerElement): Uint8Array => der.subarray(e.start, e.end);

/** An ECPrivateKey without its optional `[1] publicKey` (what `--minimal` drops). */
function minimalEcPrivateKey(der: Uint8Array, ecPrivateKey: DerElement): Uint8Array {
  const kept = derChildren(der, ecPrivateKey).filter((e) => e.tag !== 0xa1);
  return derEncode(0x30, concatBytes(kept.map((e) => raw(der, e))));
}

/**
 * The DER `imgtool getpriv` prints: RSA as PKCS#1 (`openssl`, the only choice), EC as PKCS#8
 * (default) or SEC1, X25519 as PKCS#8; Ed25519 has no use as a decryption key and is refused.
 * `minimal` keeps RSA's n, e, d, p, q (no CRT values) and drops the EC public key. imgtool 2.4.0
 * does this by patching P-256 offsets and fails on P-384; this walks the DER, so P-384 works too.
 */
export function privateKeyBytes(key: AsymKey, format: PrivateFormat | undefined, minimal: boolean): Uint8Array {
  const short = keyShortName(key);
  const refuse = (msg: string): RseError => new RseError('E_KEY', msg, { field: '--format' });
  switch (key.type) {
    case 'rsa-2048':
    case 'rsa-3072': {
      if ((format ?? 'openssl') !== 'openssl') throw refuse(`${short} does not support ${format}`);
      const der = exportPrivateDer(key, 'pkcs1');
      if (!minimal) return der;
      const top = derElement(der, 0, der.length);
      const fields = derChildren(der, top);
      if (fields.length < 6) throw new RseError('E_KEY', 'private key DER: RSA key with fewer than 6 fields', { field: '--key' });
      return derEncode(0x30, concatBytes(fields.slice(0, 6).map((e) => raw(der, e))));
    }
    case 'ecdsa-p256':
    case 'ecdsa-p384': {
      const f = format ?? 'pkcs8';
      if (f === 'openssl') {
        const der = exportPrivateDer(key, 'sec1');
        return minimal ? minimalEcPrivateKey(der, derElement(der, 0, der.length)) : der;
      }
      const der = exportPrivateDer(key, 'pkcs8');
      if (!minimal) return der;
      // PrivateKeyInfo { version, algorithm, OCTET STRING { ECPrivateKey } }
      const [version, algorithm, octets] = derChildren(der, derElement(der, 0, der.length));
      if (version === undefined || algorithm === undefined || octets === undefined || octets.tag !== 0x04) {
        throw new RseError('E_KEY', 'private key DER: not a PKCS#8 EC key', { field: '--key' });
      }
      const inner = minimalEcPrivateKey(der, derElement(der, octets.contentStart, octets.end));
      return derEncode(0x30, concatBytes([raw(der, version), raw(der, algorithm), derEncode(0x04, inner)]));
    }
    case 'x25519':
      if ((format ?? 'pkcs8') !== 'pkcs8') throw refuse(`${short} does not support ${format}`);
      return exportPrivateDer(key, 'pkcs8');
    case 'ed25519':
      throw refuse(`Operation not supported with ${short} keys`);
  }
}
