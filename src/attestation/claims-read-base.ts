/**
 * The readers every claim validation uses: a claim source over a CBOR map or JSON names, the
 * required/optional accessors, and the typed readers (bytes, sizes, UEIDs, nonces, lifecycle,
 * hash names, software components).
 * @module
 */
import { bytesOf, cborType, fromBase64 } from '../cose/cbor.ts';
import { RseError } from '../lib/errors.ts';
import { type ClaimDef, HASH_NAMES, lifecycleName, SW, type SwComponent } from './claims.ts';

export type { Mode } from './claims.ts';

// ---------------------------------------------------------------------------------------------
// Validation helpers

export function bad(claim: string, message: string): never {
  throw new RseError('E_CLAIMS', `${claim}: ${message}`, { field: claim });
}

/** A claim source: CBOR map keys or JSON names, both read through the same defs. */
export interface Source {
  get(d: ClaimDef): unknown;
  has(d: ClaimDef): boolean;
  /** JSON values are converted: base64 → bytes for byte claims. */
  readonly json: boolean;
}

export function cborSource(m: ReadonlyMap<unknown, unknown>): Source {
  return { get: (d) => m.get(d.key), has: (d) => m.has(d.key), json: false };
}

export function jsonSource(o: Readonly<Record<string, unknown>>): Source {
  return { get: (d) => o[d.json], has: (d) => Object.hasOwn(o, d.json), json: true };
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function readBytes(src: Source, v: unknown, claim: string): Uint8Array {
  if (src.json) {
    if (typeof v !== 'string') bad(claim, `must be base64 bytes, not ${typeof v}`);
    return fromBase64(v, claim);
  }
  const b = bytesOf(v);
  if (b === undefined) bad(claim, `must be bytes, not ${cborType(v)}`);
  return b;
}

export function req<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T {
  if (d === undefined || !src.has(d)) bad(d?.json ?? 'claim', 'missing mandatory claim');
  return read(src.get(d), d.json);
}

export function opt<T>(src: Source, d: ClaimDef | undefined, read: (v: unknown, claim: string) => T): T | undefined {
  if (d === undefined || !src.has(d)) return undefined;
  return read(src.get(d), d.json);
}

export const text = (v: unknown, claim: string): string => (typeof v === 'string' ? v : bad(claim, `must be text, not ${cborType(v)}`));
export const nonEmptyText = (v: unknown, claim: string): string => {
  const s = text(v, claim);
  if (s.length === 0) bad(claim, 'empty string');
  return s;
};

export function sized(src: Source, sizes: readonly number[]) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (!sizes.includes(b.length)) bad(claim, `length ${b.length} (MUST be ${sizes.join(', ').replace(/, (\d+)$/, ' or $1')} bytes)`);
    return b;
  };
}

export function ueid(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    const b = readBytes(src, v, claim);
    if (b.length !== 33) bad(claim, `invalid length ${b.length} (MUST be 33 bytes)`);
    if (b[0] !== 0x01) bad(claim, 'invalid EUID type (MUST be RAND=0x01)');
    return b;
  };
}

export function nonce(src: Source) {
  return (v: unknown, claim: string): Uint8Array => {
    if (Array.isArray(v)) bad(claim, `got ${v.length} nonces, want 1`);
    return sized(src, [32, 48, 64])(v, claim);
  };
}

export function lifecycle(v: unknown, claim: string): number {
  if (!isInt(v) || lifecycleName(v) === undefined) bad(claim, `value ${String(v)} is invalid`);
  return v;
}

export function hashName(v: unknown, claim: string): string {
  const s = text(v, claim);
  if (!HASH_NAMES.has(s)) bad(claim, `"${s}" is not an IANA hash algorithm name`);
  return s;
}

export function swComponents(src: Source, signerRequired: boolean) {
  return (v: unknown, claim: string): SwComponent[] => {
    if (!Array.isArray(v)) bad(claim, `must be an array, not ${cborType(v)}`);
    if (v.length === 0) bad(claim, 'MUST have at least one sw component');
    return v.map((c: unknown, i) => {
      const at = `${claim}[${i}]`;
      let s: Source;
      if (src.json) {
        if (typeof c !== 'object' || c === null || Array.isArray(c)) bad(at, 'must be an object');
        s = jsonSource(c as Record<string, unknown>);
      } else {
        if (!(c instanceof Map)) bad(at, `must be a map, not ${cborType(c)}`);
        s = cborSource(c);
      }
      const sub = <T>(d: ClaimDef, read: (v: unknown, claim: string) => T): T | undefined =>
        s.has(d) ? read(s.get(d), `${at}.${d.json}`) : undefined;
      const value = sub(SW.measurementValue, sized(s, [32, 48, 64]));
      if (value === undefined) bad(`${at}.measurement-value`, 'missing mandatory claim');
      const signerId = sub(SW.signerId, sized(s, [32, 48, 64]));
      if (signerRequired && signerId === undefined) bad(`${at}.signer-id`, 'missing mandatory claim');
      const measurementType = sub(SW.measurementType, text);
      const version = sub(SW.version, text);
      const measurementDescription = sub(SW.measurementDescription, text);
      return {
        measurementValue: value,
        ...(measurementType === undefined ? {} : { measurementType }),
        ...(version === undefined ? {} : { version }),
        ...(signerId === undefined ? {} : { signerId }),
        ...(measurementDescription === undefined ? {} : { measurementDescription }),
      };
    });
  };
}
