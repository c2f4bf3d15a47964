/**
 * Secrets at rest in the virtual HSMs (the SFI ledger, the SSP HSM): each value wrapped with
 * AES-256-GCM, its purpose as associated data, under a 32-byte wrapping key kept in a file
 * outside the store it protects (by default beside it: `STORE.wrap-key`, 0600). Values written
 * before wrapping (plain hex) are still read.
 * @module
 */
import { existsSync } from 'node:fs';
import { aesGcmDecrypt, aesGcmEncrypt, randomBytes } from '../crypto/index.ts';
import { readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';

const WRAPPED = 'gcm1:';

/** The default wrapping-key file of a store at `path` (a directory or file): beside it. */
export const wrapKeyFileBeside = (path: string): string => `${path.replace(/\/+$/, '')}.wrap-key`;

/** The 32-byte wrapping key in `path` (made 0600 first when `create` and it does not exist). */
export function wrapKeyOf(path: string, create: boolean): Uint8Array {
  if (create && !existsSync(path)) writeFileAtomic(path, randomBytes(32), { durable: true, secret: true });
  const k = readStateFile(path, 32);
  if (k === undefined)
    throw new RseError('E_HSM', `the wrapping key ${path} is missing: the HSM's secrets cannot be read`, { field: 'wrap-key' });
  if (k.length !== 32) throw new RseError('E_HSM', `${path} is not a 32-byte wrapping key`, { field: 'wrap-key' });
  return k;
}

/** `secret` wrapped for `purpose` (`gcm1:` ‖ hex of IV ‖ ciphertext ‖ tag). */
export function wrapSecret(key: Uint8Array, purpose: string, secret: Uint8Array): string {
  const iv = randomBytes(12);
  const { ciphertext, tag } = aesGcmEncrypt(key, iv, new TextEncoder().encode(`rsekit-hsm:${purpose}`), secret);
  return `${WRAPPED}${toHex(iv)}${toHex(ciphertext)}${toHex(tag)}`;
}

/** The secret a {@link wrapSecret} value holds (a plain hex value as it is); E_HSM under another key. */
export function unwrapSecret(key: Uint8Array, purpose: string, stored: string): Uint8Array {
  if (!stored.startsWith(WRAPPED)) return fromHex(stored, purpose);
  const b = fromHex(stored.slice(WRAPPED.length), purpose);
  const plain =
    b.length < 28
      ? undefined
      : aesGcmDecrypt(
          key,
          b.subarray(0, 12),
          new TextEncoder().encode(`rsekit-hsm:${purpose}`),
          b.subarray(12, b.length - 16),
          b.subarray(b.length - 16),
        );
  if (plain === undefined) throw new RseError('E_HSM', `${purpose} does not unwrap: wrong wrapping key`, { field: 'wrap-key' });
  return plain;
}
