/** `rse completion bash|zsh|fish`: shell completion scripts made from the help index. @module */
import { type HelpCommand, type HelpIndex, type HelpOption, walkIndex } from './help-text.ts';

/** The shells a completion script is made for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** A word safe inside single quotes in every shell this module writes for. */
function quoted(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function optionWords(o: HelpOption): string[] {
  return [o.long, o.short].filter((w): w is string => w !== undefined);
}

function subcommandWords(c: { commands: readonly HelpCommand[] }): string[] {
  return c.commands.flatMap((s) => [s.name, ...s.aliases]);
}

/** The bash function: command paths, then each path's subcommands, options and option values. */
function bash(index: HelpIndex): string {
  const entries = [...walkIndex(index)];
  const paths = entries.map((e) => ` ${e.path.join(' ')}`);
  const aliasPaths = entries.flatMap((e) =>
    e.command.aliases.map((a) => ({ alias: ` ${[...e.path.slice(0, -1), a].join(' ')}`, path: ` ${e.path.join(' ')}` })),
  );
  const lines = [
    '# bash completion for rse (rsekit). Load with: source <(rse completion bash)',
    '_rse() {',
    '  local cur prev path i w',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${…}
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${…}
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    '  path=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${…}
    '    w="${COMP_WORDS[i]}"',
    '    case "$path $w" in',
    ...aliasPaths.map((a) => `      ${quoted(a.alias)}) path=${quoted(a.path)} ;;`),
    `      ${paths.map(quoted).join('|')}) path="$path $w" ;;`,
    '    esac',
    '  done',
    '  local subs="" opts="" valued=""',
    '  case "$path" in',
    `    '') subs=${quoted([...subcommandWords(index), 'help'].join(' '))}; opts='--help --version' ;;`,
  ];
  for (const { path, command } of entries) {
    const opts = [...command.options.flatMap(optionWords), '--help'];
    const valued = command.options.filter((o) => o.takesValue).flatMap(optionWords);
    lines.push(
      `    ${quoted(` ${path.join(' ')}`)}) subs=${quoted(subcommandWords(command).join(' '))}; opts=${quoted(opts.join(' '))}; valued=${quoted(valued.join(' '))} ;;`,
    );
  }
  lines.push('  esac', '  case "$path|$prev" in');
  for (const { path, command } of entries) {
    for (const o of command.options) {
      if (o.choices === undefined) continue;
      const pattern = optionWords(o)
        .map((w) => quoted(` ${path.join(' ')}|${w}`))
        .join('|');
      lines.push(`    ${pattern}) COMPREPLY=($(compgen -W ${quoted(o.choices.join(' '))} -- "$cur")); return ;;`);
    }
  }
  lines.push(
    '  esac',
    '  if [[ " $valued " == *" $prev "* ]]; then',
    '    COMPREPLY=($(compgen -f -- "$cur"))',
    '  elif [[ $cur == -* ]]; then',
    '    COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
    '  elif [[ -n $subs ]]; then',
    '    COMPREPLY=($(compgen -W "$subs" -- "$cur"))',
    '  else',
    '    COMPREPLY=($(compgen -f -- "$cur"))',
    '  fi',
    '}',
    'complete -o filenames -F _rse rse',
  );
  return `${lines.join('\n')}\n`;
}

/** zsh runs the bash function through its bash completion layer. */
function zsh(index: HelpIndex): string {
  return [
    '#compdef rse',
    '# zsh completion for rse (rsekit). Load with: source <(rse completion zsh)',
    'autoload -U +X compinit && compinit',
    'autoload -U +X bashcompinit && bashcompinit',
    bash(index).split('\n').slice(1).join('\n'),
  ].join('\n');
}

/** fish: one `complete` line per subcommand and option, conditioned on the words typed so far. */
function fish(index: HelpIndex): string {
  const desc = (s: string): string => quoted(s.split('\n')[0]?.slice(0, 80) ?? '');
  const lines = [
    '# fish completion for rse (rsekit). Load with: rse completion fish | source',
    'complete -c rse -f',
    ...index.commands.map((c) => `complete -c rse -n __fish_use_subcommand -a ${c.name} -d ${desc(c.description)}`),
  ];
  for (const { path, command } of walkIndex(index)) {
    // The condition: every word of the path typed, and no subcommand of this command yet.
    const seen = path.map((p) => `__fish_seen_subcommand_from ${p}`).join('; and ');
    const notDeeper = command.commands.length > 0 ? `; and not __fish_seen_subcommand_from ${subcommandWords(command).join(' ')}` : '';
    const cond = quoted(`${seen}${notDeeper}`);
    for (const s of command.commands) lines.push(`complete -c rse -n ${cond} -a ${s.name} -d ${desc(s.description)}`);
    for (const o of command.options) {
      const flags = [o.long === undefined ? '' : ` -l ${o.long.slice(2)}`, o.short === undefined ? '' : ` -s ${o.short.slice(1)}`].join('');
      const value = o.choices !== undefined ? ` -x -a ${quoted(o.choices.join(' '))}` : o.takesValue ? ' -r -F' : '';
      lines.push(`complete -c rse -n ${cond}${flags}${value} -d ${desc(o.description)}`);
    }
    if (command.commands.length === 0 && command.arguments.length > 0) lines.push(`complete -c rse -n ${cond} -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export function completionScript(index: HelpIndex, shell: Shell): string {
  return shell === 'bash' ? bash(index) : shell === 'zsh' ? zsh(index) : fish(index);
}
