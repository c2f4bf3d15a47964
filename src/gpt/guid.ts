/**
 * EFI GUIDs as GPT and PSA FWU metadata store them: the first three groups little-endian, the
 * last two in text order (`0D5C011F-0776-...` is stored `1F 01 5C 0D 76 07 ...`).
 * @module
 */
import { RseError } from '../lib/errors.ts';

const TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const isGuidText = (s: string): boolean => TEXT.test(s);

/** Text (any case) to the 16 stored bytes. */
export function guidToBytes(text: string, field = 'guid'): Uint8Array {
  if (!TEXT.test(text)) throw new RseError('E_ARGUMENT', `'${text}' is not a GUID (8-4-4-4-12 hex digits)`, { field });
  const h = Buffer.from(text.replaceAll('-', ''), 'hex');
  const out = new Uint8Array(16);
  out.set([h[3], h[2], h[1], h[0], h[5], h[4], h[7], h[6]] as number[], 0);
  out.set(h.subarray(8), 8);
  return out;
}

/** The 16 stored bytes to uppercase text, as gdisk prints it. */
export function guidFromBytes(b: Uint8Array): string {
  const x = (i: number): string => (b[i] as number).toString(16).padStart(2, '0');
  const s = `${x(3)}${x(2)}${x(1)}${x(0)}-${x(5)}${x(4)}-${x(7)}${x(6)}-${x(8)}${x(9)}-${x(10)}${x(11)}${x(12)}${x(13)}${x(14)}${x(15)}`;
  return s.toUpperCase();
}

export const NULL_GUID = '00000000-0000-0000-0000-000000000000';
