/** C's `strtoull` (for tools whose number syntax we mirror exactly). @module */

export interface StrtoullResult {
  /** The value as C returns it (negative inputs wrap modulo 2^64, overflow gives 2^64-1). */
  readonly value: bigint;
  /** What follows the number (C's `*endptr`); the whole input when nothing was parsed. */
  readonly rest: string;
  /** C would set errno = ERANGE. */
  readonly overflow: boolean;
}

const MAX = 0xffff_ffff_ffff_ffffn;

/** `strtoull(s, &end, base)` for base 0 (auto: 0x hex, 0 octal, else decimal) or 2..36. */
export function strtoull(s: string, base: number): StrtoullResult {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i] as string)) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  const isHexDigit = (c: string | undefined): boolean => c !== undefined && /[0-9a-fA-F]/.test(c);
  let b = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && isHexDigit(s[i + 2])) {
    i += 2;
    b = 16;
  } else if (b === 0) {
    b = s[i] === '0' ? 8 : 10;
  }
  const start = i;
  let value = 0n;
  let overflow = false;
  for (; i < s.length; i++) {
    const d = Number.parseInt(s[i] as string, 36);
    if (Number.isNaN(d) || d >= b) break;
    value = value * BigInt(b) + BigInt(d);
    if (value > MAX) overflow = true;
  }
  if (i === start) return { value: 0n, rest: s, overflow: false };
  if (overflow) return { value: MAX, rest: s.slice(i), overflow: true };
  return { value: negative ? (MAX + 1n - value) & MAX : value, rest: s.slice(i), overflow: false };
}

/**
 * A size as descriptions and size options write it: decimal or 0x hex (underscores allowed),
 * optionally followed by K, M or G (binary units, an optional `iB`/`B`). Undefined if malformed
 * or beyond 2^53.
 */
export function parseSizeText(text: string): number | undefined {
  const m = /^(0x[0-9a-f_]+|[0-9_]+)\s*([KMG]?)(i?B)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const n = Number((m[1] as string).replaceAll('_', '')) * 1024 ** ' KMG'.indexOf(((m[2] as string) || ' ').toUpperCase());
  return Number.isSafeInteger(n) ? n : undefined;
}
