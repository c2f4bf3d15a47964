/**
 * The `rse` binary's fast path for `rse`, `rse --help` and `rse completion SHELL`: printed from the
 * help index the build writes (dist/help-index.json), without loading commander or any verb. @module
 */
import { readFileSync } from 'node:fs';
import { completionScript, SHELLS, type Shell } from './completion.ts';
import { formatTopHelp, type HelpIndex, helpWidth } from './help-text.ts';

/** Prints what `argv` asks for and returns the exit status, or undefined when this path cannot answer. */
export function fastHelp(argv: readonly string[], indexUrl: URL): number | undefined {
  let index: HelpIndex;
  try {
    index = JSON.parse(readFileSync(indexUrl, 'utf8')) as HelpIndex;
  } catch {
    return undefined;
  }
  if (argv.length === 0) {
    process.stderr.write(formatTopHelp(index, helpWidth(process.stderr)));
    return 2;
  }
  if (argv.length === 1 && ['-h', '--help', 'help'].includes(argv[0] ?? '')) {
    process.stdout.write(formatTopHelp(index, helpWidth()));
    return 0;
  }
  if (argv[0] === 'completion' && argv.length === 2 && (SHELLS as readonly string[]).includes(argv[1] ?? '')) {
    process.stdout.write(completionScript(index, argv[1] as Shell));
    return 0;
  }
  return undefined;
}
