/**
 * The demo's steps: each runs one `rse` command line in-process, prints it with the working
 * directory shown as `$DEMO`, and stops the demo when the exit status is not the expected one.
 * @module
 */
import { join } from 'node:path';
import { main } from '../cli/main.ts';

export interface Demo {
  /** The demo's working directory. */
  readonly dir: string;
  /** A path in the working directory. */
  f(name: string): string;
  /** Runs `rse ARGS`; a title starts a new section ('' continues the last one). */
  step(title: string, args: string[], expect?: number): Promise<void>;
}

export function demoSteps(dir: string): Demo {
  return {
    dir,
    f: (name) => join(dir, name),
    step: async (title, args, expect = 0) => {
      process.stdout.write(
        `${title === '' ? '' : `\n== ${title}\n`}$ rse ${args.map((a) => (a.startsWith(dir) ? a.replace(dir, '$DEMO') : a)).join(' ')}\n`,
      );
      const code = await main(args);
      if (code !== expect) {
        process.stdout.write(`demo failed: exit status ${code}, expected ${expect}\n`);
        process.exit(1);
      }
    },
  };
}
