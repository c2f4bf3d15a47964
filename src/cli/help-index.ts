/** The help index made from commander's command definitions, and the help layout every command uses. @module */
import type { Command, Help } from '@commander-js/extra-typings';
import { formatItem, type HelpArgument, type HelpCommand, type HelpIndex, type HelpOption, reflow, summary } from './help-text.ts';

/**
 * How every command prints its help: descriptions reflowed to the width (paragraphs joined and
 * wrapped, indented example lines kept as written), subcommands listed by their first sentence.
 */
export const HELP_LAYOUT = {
  sortSubcommands: false,
  boxWrap: (str: string, width: number): string => reflow(str, width),
  preformatted: (): boolean => false,
  formatItem: (term: string, termWidth: number, description: string, helper: Help): string =>
    formatItem(term, termWidth, description, helper.helpWidth ?? 80),
  subcommandDescription: (cmd: { summary(): string; description(): string }): string => cmd.summary() || firstSentence(cmd.description()),
};

/** The first sentence of a description's first paragraph (a listing's one line). */
export function firstSentence(description: string): string {
  const para = summary(description);
  const cut = /(?<=[a-z0-9)\]`'’]\.)\s+(?=[A-Z`'(])/.exec(para);
  return cut === null ? para : para.slice(0, cut.index);
}

type AnyCommand = Command<unknown[], Record<string, unknown>, Record<string, unknown>>;

/** The text a command's `addHelpText('after', …)` adds. */
function afterText(c: AnyCommand): string {
  const events = c as unknown as NodeJS.EventEmitter;
  let text = '';
  const context = { error: false, command: c, write: (s: string) => (text += s) };
  events.emit('beforeHelp', context);
  const before = text;
  text = '';
  events.emit('afterHelp', context);
  return [before, text].filter((s) => s.trim() !== '').join('\n');
}

/** One command (and its subcommands) as help data. */
export function helpCommand(cmd: unknown): HelpCommand {
  const c = cmd as AnyCommand;
  const help = c.createHelp();
  const options: HelpOption[] = c.options
    .filter((o) => !o.hidden)
    .map((o) => ({
      flags: o.flags,
      ...(o.long === undefined ? {} : { long: o.long }),
      ...(o.short === undefined ? {} : { short: o.short }),
      description: help.optionDescription(o),
      ...(o.argChoices === undefined ? {} : { choices: [...o.argChoices] }),
      takesValue: o.required || o.optional,
    }));
  const args: HelpArgument[] = c.registeredArguments.map((a) => ({
    name: a.name(),
    description: help.argumentDescription(a),
    required: a.required,
    ...(a.argChoices === undefined ? {} : { choices: [...a.argChoices] }),
  }));
  return {
    name: c.name(),
    aliases: c.aliases(),
    usage: c.commands.length > 0 && c.registeredArguments.length === 0 ? '' : c.usage(),
    description: c.description() || c.summary(),
    summary: c.summary() || firstSentence(c.description()),
    after: afterText(c),
    arguments: args,
    options,
    commands: c.commands.filter((s) => (s as unknown as { _hidden?: boolean })._hidden !== true).map((s) => helpCommand(s)),
  };
}

/** The index of `commands` (every verb, in help order). */
export function helpIndexOf(version: string, description: string, commands: readonly unknown[]): HelpIndex {
  return { version, description, commands: commands.map((c) => helpCommand(c)) };
}
