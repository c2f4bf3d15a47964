/**
 * Typed validation of JSON read from disk (device directories): small combinators that check a
 * parsed value and return a fresh typed copy built from own properties only, or throw a
 * {@link SchemaError} naming the path (`optionBytes.banks[0].secwmStart`) and what it should be.
 * A prototype key (`__proto__`, `constructor`) is never looked up: objects are read with
 * `Object.hasOwn`, and unknown keys are dropped.
 * @module
 */
import { RseError } from './errors.ts';

/** A value at `path` is not what the schema says (an `E_DEVICE`: schemas check device state read from disk). */
export class SchemaError extends RseError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('E_DEVICE', `${path === '' ? '(top)' : path} ${message}`, { field: path });
    this.path = path;
  }
}

/** Checks a value and returns its typed copy. */
export interface Check<T> {
  (v: unknown, path: string): T;
  readonly optional?: false;
}
/** A check whose key may be absent from its object. */
export interface OptionalCheck<T> {
  (v: unknown, path: string): T | undefined;
  readonly optional: true;
}

type AnyCheck = Check<unknown> | OptionalCheck<unknown>;
type Required<S> = { [K in keyof S as S[K] extends OptionalCheck<unknown> ? never : K]: S[K] extends Check<infer T> ? T : never };
type Optional<S> = { [K in keyof S as S[K] extends OptionalCheck<unknown> ? K : never]?: S[K] extends OptionalCheck<infer T> ? T : never };
/** The object type a shape of checks gives. */
export type ObjectOf<S> = { readonly [K in keyof (Required<S> & Optional<S>)]: (Required<S> & Optional<S>)[K] };

const fail = (path: string, what: string): never => {
  throw new SchemaError(path, `must be ${what}`);
};

/** An integer in [min, max]. */
export function int(min: number, max: number): Check<number> {
  return (v, p) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(p, `an integer in ${min}..${max}`));
}

/** A 32-bit unsigned integer. */
export const u32: Check<number> = int(0, 0xffffffff);

export const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, 'true or false'));

/** A string, matching `re` if given (`what` says what it should be). */
export function str(re?: RegExp, what = 'a string'): Check<string> {
  return (v, p) => (typeof v === 'string' && (re === undefined || re.test(v)) ? v : fail(p, what));
}

/** `n` bytes as lower- or upper-case hex digits. */
export const hexBytes = (n: number): Check<string> => str(new RegExp(`^[0-9a-fA-F]{${2 * n}}$`), `${n} bytes of hex`);

/** One of `values`. */
export function oneOf<const T extends readonly (string | number)[]>(values: T): Check<T[number]> {
  return (v, p) =>
    (values as readonly unknown[]).includes(v) ? (v as T[number]) : fail(p, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
}

/** An array of `item`, of `length` items if given (else at most `max`). */
export function array<T>(item: Check<T>, o: { length?: number; max?: number } = {}): Check<T[]> {
  return (v, p) => {
    if (!Array.isArray(v)) return fail(p, 'an array');
    if (o.length !== undefined && v.length !== o.length) return fail(p, `an array of ${o.length} items`);
    if (o.max !== undefined && v.length > o.max) return fail(p, `an array of at most ${o.max} items`);
    return v.map((x, i) => item(x, `${p}[${i}]`));
  };
}

/** A fixed-length array of the same check (a tuple such as `[start, end]`). */
export function pair<T>(item: Check<T>): Check<[T, T]> {
  return (v, p) => array(item, { length: 2 })(v, p) as [T, T];
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return (v, p) => (v === null ? null : c(v, p));
}

/** The key may be absent (or undefined); present, it must pass `c`. */
export function optional<T>(c: Check<T>): OptionalCheck<T> {
  const f = ((v: unknown, p: string) => (v === undefined ? undefined : c(v, p))) as OptionalCheck<T>;
  Object.defineProperty(f, 'optional', { value: true });
  return f;
}

/** An object with these keys (own properties only); the copy holds only them. */
export function object<S extends Readonly<Record<string, AnyCheck>>>(shape: S): Check<ObjectOf<S>> {
  return (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, 'an object');
    const out: Record<string, unknown> = {};
    for (const [k, c] of Object.entries(shape)) {
      const val = Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
      const at = p === '' ? k : `${p}.${k}`;
      if (val === undefined && c.optional !== true) return fail(at, 'present');
      const got = c(val, at);
      if (got !== undefined) out[k] = got;
    }
    return out as ObjectOf<S>;
  };
}
