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
  ecdsaVerify,
  ed25519Sign,
  ed25519Verify,
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
