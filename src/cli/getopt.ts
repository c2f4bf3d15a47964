/**
 * GNU `getopt_long` as glibc implements it, for commands whose command line must behave exactly
 * like a C tool's (fiptool): argument permutation, `--name=value`, unambiguous abbreviations
 * (several matches that all mean the same kind of option pick the first, as glibc does), and
 * glibc's diagnostics.
 * @module
 */

export interface LongOption {
  readonly name: string;
  readonly hasArg: boolean;
  /** What the option means; options sharing a `val` are interchangeable for ambiguity. */
  readonly val: string;
}

export type GetoptItem =
  | { readonly kind: 'option'; readonly val: string; readonly name: string; readonly arg: string | undefined }
  | { readonly kind: 'error'; readonly message: string };

export interface GetoptResult {
  /** Options (and at most one trailing error, where parsing stopped) in command-line order. */
  readonly items: readonly GetoptItem[];
  /** Non-option arguments in order. */
  readonly operands: readonly string[];
}

export interface GetoptConfig {
  /** Program name used in messages (argv[0] of the C tool). */
  readonly prog: string;
  /** Short options: letter, followed by ':' if it takes an argument; maps to `val` = the letter. */
  readonly short: string;
  readonly long: readonly LongOption[];
  /** Stop at the first non-option (getopt's leading '+'). */
  readonly posix?: boolean;
}

export function getoptLong(args: readonly string[], cfg: GetoptConfig): GetoptResult {
  const items: GetoptItem[] = [];
  const operands: string[] = [];
  const fail = (message: string): GetoptResult => {
    items.push({ kind: 'error', message: `${cfg.prog}: ${message}\n` });
    return { items, operands };
  };
  let i = 0;
  while (i < args.length) {
    const a = args[i++] as string;
    if (a === '--') {
      operands.push(...args.slice(i));
      break;
    }
    if (a.length < 2 || !a.startsWith('-')) {
      if (cfg.posix === true) {
        operands.push(a, ...args.slice(i));
        break;
      }
      operands.push(a);
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const typed = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      let opt = cfg.long.find((o) => o.name === typed);
      if (opt === undefined) {
        const matches = cfg.long.filter((o) => o.name.startsWith(typed));
        if (matches.length === 0) return fail(`unrecognized option '${a}'`);
        const first = matches[0] as LongOption;
        if (matches.some((m) => m.hasArg !== first.hasArg || m.val !== first.val)) {
          return fail(`option '--${typed}' is ambiguous; possibilities:${matches.map((m) => ` '--${m.name}'`).join('')}`);
        }
        opt = first;
      }
      if (!opt.hasArg) {
        if (inline !== undefined) return fail(`option '--${opt.name}' doesn't allow an argument`);
        items.push({ kind: 'option', val: opt.val, name: opt.name, arg: undefined });
        continue;
      }
      let arg = inline;
      if (arg === undefined) {
        if (i >= args.length) return fail(`option '--${opt.name}' requires an argument`);
        arg = args[i++] as string;
      }
      items.push({ kind: 'option', val: opt.val, name: opt.name, arg });
      continue;
    }
    // A cluster of short options.
    for (let k = 1; k < a.length; k++) {
      const c = a[k] as string;
      const at = cfg.short.indexOf(c);
      if (c === ':' || at < 0) return fail(`invalid option -- '${c}'`);
      if (cfg.short[at + 1] !== ':') {
        items.push({ kind: 'option', val: c, name: c, arg: undefined });
        continue;
      }
      let arg = a.slice(k + 1);
      if (arg === '') {
        if (i >= args.length) return fail(`option requires an argument -- '${c}'`);
        arg = args[i++] as string;
      }
      items.push({ kind: 'option', val: c, name: c, arg });
      break;
    }
  }
  return { items, operands };
}
