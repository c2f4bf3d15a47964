/**
 * CBOR diagnostic notation (RFC 8949 §8, with the EDN forms the attestation drafts use) parsed
 * into values cbor2 encodes: integers (bigint past 2^53), h'…' byte strings, "…" text, arrays,
 * maps, tags `N(…)`, embedded CBOR `<< … >>`, true / false / null / undefined, and `/ … /`
 * comments. Claim sets written in diag (the Veraison and draft examples) become real CBOR.
 * @module
 */
import { encode, Tag } from 'cbor2';
import { RseError } from '../lib/errors.ts';

class DiagParser {
  private at = 0;
  private readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  fail(what: string): never {
    throw new RseError('E_CBOR', `diagnostic notation: ${what} at character ${this.at}`, { field: 'diag', offset: this.at });
  }

  skip(): void {
    for (;;) {
      while (this.at < this.s.length && /\s|,/.test(this.s[this.at] as string)) this.at++;
      if (this.s[this.at] !== '/') return;
      const end = this.s.indexOf('/', this.at + 1);
      if (end < 0) this.fail('unterminated comment');
      this.at = end + 1;
    }
  }

  eat(token: string): boolean {
    this.skip();
    if (!this.s.startsWith(token, this.at)) return false;
    this.at += token.length;
    return true;
  }

  value(depth = 0): unknown {
    if (depth > 256) this.fail('nesting too deep');
    this.skip();
    const c = this.s[this.at];
    if (c === undefined) this.fail('unexpected end');
    if (c === '[') {
      this.at++;
      const out: unknown[] = [];
      while (!this.eat(']')) out.push(this.value(depth + 1));
      return out;
    }
    if (c === '{') {
      this.at++;
      const out = new Map<unknown, unknown>();
      while (!this.eat('}')) {
        const k = this.value(depth + 1);
        if (!this.eat(':')) this.fail("expected ':'");
        out.set(k, this.value(depth + 1));
      }
      return out;
    }
    if (this.eat('<<')) {
      const items: Uint8Array[] = [];
      while (!this.eat('>>')) items.push(encode(this.value(depth + 1)));
      return Buffer.concat(items);
    }
    if (c === '"') return this.text();
    if (this.s.startsWith("h'", this.at)) {
      const end = this.s.indexOf("'", this.at + 2);
      if (end < 0) this.fail('unterminated byte string');
      const hex = this.s.slice(this.at + 2, end).replace(/\s+/g, '');
      if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) this.fail('bad hex');
      this.at = end + 1;
      return new Uint8Array(Buffer.from(hex, 'hex'));
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
      ['undefined', undefined],
    ] as const) {
      if (this.s.startsWith(word, this.at)) {
        this.at += word.length;
        return v;
      }
    }
    const m = /^-?\d+(\.\d+)?/.exec(this.s.slice(this.at));
    if (m === null) this.fail(`unexpected '${c}'`);
    this.at += m[0].length;
    if (m[1] !== undefined) return Number(m[0]);
    const n = BigInt(m[0]);
    if (this.eat('(')) {
      const inner = this.value(depth + 1);
      if (!this.eat(')')) this.fail("expected ')'");
      return new Tag(Number(n), inner);
    }
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }

  text(): string {
    let end = this.at + 1;
    while (end < this.s.length && this.s[end] !== '"') end += this.s[end] === '\\' ? 2 : 1;
    if (end >= this.s.length) this.fail('unterminated text string');
    const raw = this.s.slice(this.at, end + 1);
    this.at = end + 1;
    return JSON.parse(raw) as string;
  }

  done(): void {
    this.skip();
    if (this.at !== this.s.length) this.fail('trailing characters');
  }
}

/** Parses one diagnostic-notation value. */
export function parseDiag(text: string): unknown {
  const p = new DiagParser(text);
  const v = p.value();
  p.done();
  return v;
}
