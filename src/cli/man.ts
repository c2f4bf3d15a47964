/**
 * Man pages made from the help index: `rse(1)` lists the verbs, `rse-<verb>(1)` holds what
 * `--help` says for the verb and each of its subcommands, laid out as a man(7) page. @module
 */
import { commandTerm, type HelpCommand, type HelpIndex } from './help-text.ts';

/** Text safe in a roff line: backslashes, leading dots and quotes escaped. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** Paragraphs as `.PP` blocks; indented lines (examples) as no-fill blocks. */
function body(text: string): string {
  const out: string[] = [];
  let verbatim = false;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length > 0) out.push('.PP', roff(para.join(' ')));
    para = [];
  };
  for (const line of text.replace(/\s+$/, '').split('\n')) {
    if (/^\s/.test(line) && line.trim() !== '') {
      flush();
      if (!verbatim) out.push('.PP', '.nf', '.RS 4');
      verbatim = true;
      out.push(roff(line.replace(/^ {2}/, '').replace(/\t/g, '    ')));
      continue;
    }
    if (verbatim) out.push('.RE', '.fi');
    verbatim = false;
    if (line.trim() === '') flush();
    else para.push(line.trim());
  }
  if (verbatim) out.push('.RE', '.fi');
  flush();
  return out.join('\n');
}

/** The file name of a command's page: `rse-gpt-create`. */
export function manName(path: readonly string[]): string {
  return ['rse', ...path].join('-');
}

function header(name: string, version: string): string {
  return `.TH ${roff(name.toUpperCase())} 1 "" "rsekit ${version}" "rsekit manual"`;
}

/** A command's arguments and options as tagged paragraphs. */
function argumentsAndOptions(c: HelpCommand, heading: (t: string) => string): string[] {
  const lines: string[] = [];
  if (c.arguments.length > 0) {
    lines.push(heading('Arguments'));
    for (const a of c.arguments) lines.push('.TP', `.I ${roff(a.name)}`, roff(a.description.replace(/\s*\n\s*/g, ' ')));
  }
  if (c.options.length > 0) {
    lines.push(heading('Options'));
    for (const o of c.options) lines.push('.TP', `.B ${roff(o.flags)}`, roff(o.description.replace(/\s*\n\s*/g, ' ')));
  }
  return lines;
}

/** A subcommand (and its own subcommands) as a section of its verb's page. */
function subsection(path: readonly string[], c: HelpCommand): string[] {
  const lines = ['.SS', `.B "rse ${roff(path.join(' '))} ${roff(c.usage)}"`.replace(/ "$/, '"'), body(c.description)];
  lines.push(...argumentsAndOptions(c, (t) => `.PP\n.I ${t}:`));
  if (c.after.trim() !== '') lines.push(body(c.after));
  for (const s of c.commands) lines.push(...subsection([...path, s.name], s));
  return lines;
}

/** The page of one verb: its description, options, and each subcommand as a section. */
function page(c: HelpCommand, version: string): string {
  const name = manName([c.name]);
  const lines = [
    header(name, version),
    '.SH NAME',
    `${roff(name)} \\- ${roff(c.summary)}`,
    '.SH SYNOPSIS',
    `.B rse ${roff(commandTerm(c))}`,
  ];
  for (const s of c.commands) lines.push('.br', `.B rse ${roff(c.name)} ${roff(commandTerm(s))}`);
  lines.push('.SH DESCRIPTION', body(c.description));
  lines.push(...argumentsAndOptions(c, (t) => `.SH ${t.toUpperCase()}`));
  if (c.commands.length > 0) {
    lines.push('.SH COMMANDS');
    for (const s of c.commands) lines.push(...subsection([c.name, s.name], s));
  }
  if (c.after.trim() !== '') lines.push('.SH NOTES', body(c.after));
  lines.push(
    '.SH EXIT STATUS',
    '0 on success, 1 when a check failed (an image that does not verify, a device that stops), 2 on a usage or input error. With \\-\\-json the result is one JSON object on stdout, errors included.',
    '.SH SEE ALSO',
    '.BR rse (1)',
  );
  return `${lines.join('\n')}\n`;
}

/** Every page: `rse.1` and one per verb (`rse-sign.1`, `rse-gpt.1`, …), as file name → roff text. */
export function manPages(index: HelpIndex): Map<string, string> {
  const pages = new Map<string, string>();
  const top = [
    header('rse', index.version),
    '.SH NAME',
    `rse \\- ${roff(index.description)}`,
    '.SH SYNOPSIS',
    '.B rse',
    '.I command',
    '[options] [arguments]',
    '.SH COMMANDS',
    ...index.commands.flatMap((c) => ['.TP', `.BR ${manName([c.name])} (1)`, roff(c.summary)]),
    '.SH OPTIONS',
    '.TP',
    '.B \\-V, \\-\\-version',
    'print the rsekit version',
    '.TP',
    '.B \\-h, \\-\\-help',
    'show help',
    '.SH EXIT STATUS',
    '0 on success, 1 when a check failed, 2 on a usage or input error. With \\-\\-json every verb prints one JSON object: {"ok": true, ...} or {"ok": false, "error": {"code", "message", "field", "offset"}}.',
  ];
  pages.set('rse.1', `${top.join('\n')}\n`);
  for (const c of index.commands) pages.set(`${manName([c.name])}.1`, page(c, index.version));
  return pages;
}
