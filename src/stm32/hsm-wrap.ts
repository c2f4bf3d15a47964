/**
 * Secrets at rest in the virtual HSMs (the SFI ledger, the SSP HSM): each value wrapped with
 * AES-256-GCM, its purpose as associated data, under a 32-byte wrapping key kept outside the
 * store it protects: in a file (by default beside it: `STORE.wrap-key`, 0600), or as a
 * non-extractable AES key in a PKCS#11 token (a `pkcs11:` URI; the token encrypts and decrypts,
 * the key never leaves it). Values written before wrapping (plain hex) are still read.
 * @module
 */
import { existsSync } from 'node:fs';
import { aesGcmDecrypt, aesGcmEncrypt, randomBytes } from '../crypto/index.ts';
import { openTokenAesKey } from '../crypto/pkcs11-keys.ts';
import { readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';

const WRAPPED = 'gcm1:';

/** The default wrapping-key file of a store at `path` (a directory or file): beside it. */
export const wrapKeyFileBeside = (path: string): string => `${path.replace(/\/+$/, '')}.wrap-key`;

/** A wrapping key: AES-256-GCM with it, on the host (a key file) or in a token. */
export interface WrapKey {
  encrypt(iv: Uint8Array, aad: Uint8Array, plain: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array };
  decrypt(iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array | undefined;
}

/** A 32-byte wrapping key held in memory. */
export function memoryWrapKey(k: Uint8Array): WrapKey {
  return {
    encrypt: (iv, aad, plain) => aesGcmEncrypt(k, iv, aad, plain),
    decrypt: (iv, aad, ct, tag) => aesGcmDecrypt(k, iv, aad, ct, tag),
  };
}

/**
 * The wrapping key at `path`: a 32-byte key file (made 0600 first when `create` and it does not
 * exist), or a `pkcs11:` URI of an AES key in a token (generated there when `create` and missing;
 * the PIN from the URI or RSE_PKCS11_PIN, the module from the URI or PKCS11_MODULE).
 */
export function wrapKeyOf(path: string, create: boolean): WrapKey {
  if (path.startsWith('pkcs11:')) return openTokenAesKey(path, create, { pin: () => process.env.RSE_PKCS11_PIN });
  if (create && !existsSync(path)) writeFileAtomic(path, randomBytes(32), { durable: true, secret: true });
  const k = readStateFile(path, 32);
  if (k === undefined)
    throw new RseError('E_HSM', `the wrapping key ${path} is missing: the HSM's secrets cannot be read`, { field: 'wrap-key' });
  if (k.length !== 32) throw new RseError('E_HSM', `${path} is not a 32-byte wrapping key`, { field: 'wrap-key' });
  return memoryWrapKey(k);
}

/** `secret` wrapped for `purpose` (`gcm1:` ‖ hex of IV ‖ ciphertext ‖ tag). */
export function wrapSecret(key: WrapKey, purpose: string, secret: Uint8Array): string {
  const iv = randomBytes(12);
  const { ciphertext, tag } = key.encrypt(iv, new TextEncoder().encode(`rsekit-hsm:${purpose}`), secret);
  return `${WRAPPED}${toHex(iv)}${toHex(ciphertext)}${toHex(tag)}`;
}

/** The secret a {@link wrapSecret} value holds (a plain hex value as it is); E_HSM under another key. */
export function unwrapSecret(key: WrapKey, purpose: string, stored: string): Uint8Array {
  if (!stored.startsWith(WRAPPED)) return fromHex(stored, purpose);
  const b = fromHex(stored.slice(WRAPPED.length), purpose);
  const plain =
    b.length < 28
      ? undefined
      : key.decrypt(
          b.subarray(0, 12),
          new TextEncoder().encode(`rsekit-hsm:${purpose}`),
          b.subarray(12, b.length - 16),
          b.subarray(b.length - 16),
        );
  if (plain === undefined) throw new RseError('E_HSM', `${purpose} does not unwrap: wrong wrapping key`, { field: 'wrap-key' });
  return plain;
}
