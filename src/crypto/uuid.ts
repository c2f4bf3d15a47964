/** UUIDs as 16 raw bytes; name-based version 5 (RFC 9562 §5.5). @module */

import { RseError } from '../lib/errors.ts';
import { sha1 } from './index.ts';

export const NAMESPACE_DNS: Uint8Array = parseUuid('6ba7b810-9dad-11d1-80b4-00c04fd430c8');

/** Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` or 32 hex digits. */
export function parseUuid(s: string): Uint8Array {
  const t = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s) ? s.replaceAll('-', '') : s;
  if (!/^[0-9a-fA-F]{32}$/.test(t)) throw new RseError('E_ARGUMENT', `'${s}' is not a UUID`, { field: 'uuid' });
  return new Uint8Array(Buffer.from(t, 'hex'));
}

/** Bytes in storage order as 8-4-4-4-12 uppercase hex (RFC text for RFC-order bytes). */
export function formatUuid(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, 16).toString('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function uuid5(namespace: Uint8Array, name: string): Uint8Array {
  const h = sha1(namespace, new TextEncoder().encode(name)).slice(0, 16);
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  return h;
}
