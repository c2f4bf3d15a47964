/**
 * Help text without commander: reflowing descriptions to a width, the command index (every verb,
 * its arguments and options, as data), the top-level help, shell completion scripts and man pages
 * made from that index. This module imports nothing, so the `rse` binary can print the top-level
 * help from a prebuilt index without loading any verb. @module
 */

/** One option of a command, as its help shows it. */
export interface HelpOption {
  /** As written, e.g. `-o, --output <file>`. */
  readonly flags: string;
  readonly long?: string;
  readonly short?: string;
  readonly description: string;
  /** The values the option accepts, when it has a fixed list. */
  readonly choices?: readonly string[];
  /** Whether the option takes a value. */
  readonly takesValue: boolean;
}

/** One positional argument of a command. */
export interface HelpArgument {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
  readonly choices?: readonly string[];
}

/** A command of the index: a verb, or one of its subcommands. */
export interface HelpCommand {
  readonly name: string;
  readonly aliases: readonly string[];
  /** The usage term, e.g. `[options] <infile> <outfile>`. */
  readonly usage: string;
  readonly description: string;
  /** The one line a listing shows. */
  readonly summary: string;
  /** Text printed after the options (examples). */
  readonly after: string;
  readonly arguments: readonly HelpArgument[];
  readonly options: readonly HelpOption[];
  readonly commands: readonly HelpCommand[];
}

/** Every verb of `rse`, in help order, with the package's version and summary. */
export interface HelpIndex {
  readonly version: string;
  readonly description: string;
  readonly commands: readonly HelpCommand[];
}

/** An example block for a description: every line indented two spaces, so help keeps it as written. */
export function example(text: string): string {
  return text
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');
}

/** The width help is wrapped to: the terminal's when output goes to one, 80 otherwise. */
export function helpWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  const cols = stream.isTTY === true ? (stream.columns ?? 80) : 80;
  return Math.max(40, Math.min(cols, 200));
}

/**
 * Reflows help text to `width` columns. Lines written one after another form a paragraph and are
 * joined and wrapped; an empty line separates paragraphs; a line that starts with a space (an
 * example, a YAML or code block, a list item's continuation) is kept exactly as written.
 */
export function reflow(text: string, width: number): string {
  const out: string[] = [];
  let para: string[] = [];
  const flush = (): void => {
    if (para.length === 0) return;
    out.push(...wrapWords(para.join(' '), width));
    para = [];
  };
  for (const line of text.replace(/\s+$/, '').split(/\r?\n/)) {
    if (line.trim() === '') {
      flush();
      out.push('');
    } else if (/^\s/.test(line)) {
      flush();
      out.push(line.replace(/\s+$/, ''));
    } else {
      para.push(line.trim());
    }
  }
  flush();
  return out.join('\n');
}

/** Splits one paragraph into lines of at most `width` columns (a longer word stands alone). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/** A term and its description, the description wrapped in a column beside the term. */
export function formatItem(term: string, termWidth: number, description: string, width: number): string {
  const indent = 2;
  const gap = 2;
  if (description === '') return ' '.repeat(indent) + term;
  const column = indent + termWidth + gap;
  const room = width - column;
  if (room < 30) {
    // Too narrow for two columns: the description goes under the term.
    return `${' '.repeat(indent)}${term}\n${reflow(description, width - indent - 4)
      .split('\n')
      .map((l) => ' '.repeat(indent + 4) + l)
      .join('\n')}`;
  }
  const lines = reflow(description, room).split('\n');
  // A term wider than its column stands on its own line, the description under it.
  const head =
    term.length > termWidth
      ? `${' '.repeat(indent)}${term}\n${' '.repeat(column)}`
      : `${' '.repeat(indent)}${term.padEnd(termWidth + gap)}`;
  return `${head}${lines.map((l, i) => (i === 0 ? l : ' '.repeat(column) + l)).join('\n')}`;
}

/** The term a subcommand is listed by: `name|alias usage`. */
export function commandTerm(c: HelpCommand): string {
  return [[c.name, ...c.aliases].join('|'), c.usage].filter((s) => s !== '').join(' ');
}

/** The first sentence-line of a description, as a listing shows it. */
export function summary(description: string): string {
  const first = description.split(/\n\s*\n/)[0] ?? '';
  return first.replace(/\s*\n\s*/g, ' ').trim();
}

const TOP_OPTIONS: readonly [string, string][] = [
  ['-V, --version', 'print the rsekit version'],
  ['-h, --help', 'show help'],
];

/** `rse --help`: the verbs and what each does, wrapped to `width`. */
export function formatTopHelp(index: HelpIndex, width: number): string {
  const terms = index.commands.map((c) => commandTerm(c));
  const termWidth = Math.min(Math.max(...terms.map((t) => t.length), ...TOP_OPTIONS.map(([t]) => t.length)), 28);
  const lines = [
    'Usage: rse [options] [command]',
    '',
    reflow(index.description, width),
    '',
    'Options:',
    ...TOP_OPTIONS.map(([t, d]) => formatItem(t, termWidth, d, width)),
    '',
    'Commands:',
    ...index.commands.map((c, i) => formatItem(terms[i] ?? c.name, termWidth, c.summary, width)),
    formatItem('help [command]', termWidth, 'show help for a command', width),
    '',
    reflow("Run 'rse <command> --help' for a command's options and examples, or 'man rse-<command>' once installed.", width),
  ];
  return `${lines.join('\n')}\n`;
}

/** The command at `path` (names or aliases) of the index, or undefined. */
export function findCommand(index: HelpIndex, path: readonly string[]): HelpCommand | undefined {
  let list = index.commands;
  let found: HelpCommand | undefined;
  for (const name of path) {
    found = list.find((c) => c.name === name || c.aliases.includes(name));
    if (found === undefined) return undefined;
    list = found.commands;
  }
  return found;
}

/** Every command of the index with its path, depth first. */
export function* walkIndex(index: HelpIndex): Generator<{ path: readonly string[]; command: HelpCommand }> {
  function* walk(c: HelpCommand, path: readonly string[]): Generator<{ path: readonly string[]; command: HelpCommand }> {
    const here = [...path, c.name];
    yield { path: here, command: c };
    for (const s of c.commands) yield* walk(s, here);
  }
  for (const c of index.commands) yield* walk(c, []);
}
