/** Hex encoding helpers. @module */
import { RseError } from './errors.ts';

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Parses an even-length hex string (optional `0x` prefix); throws `E_ARGUMENT` otherwise. */
export function fromHex(s: string, field = 'hex'): Uint8Array {
  const t = s.startsWith('0x') || s.startsWith('0X') ? s.slice(2) : s;
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) {
    throw new RseError('E_ARGUMENT', `${field}: '${s}' is not an even-length hex string`, { field });
  }
  return new Uint8Array(Buffer.from(t, 'hex'));
}

/** `0x` + lower-case hex, at least `width` digits. */
export function hex0x(n: number, width = 1): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}
