/**
 * The demo's steps: each runs one `rse` command line in-process and stops the demo when the exit
 * status is not the expected one. By default a step prints one line (what it showed) and its
 * command and output go to `$DEMO/demo.log`; with --verbose every command and its output are
 * printed as they run. Paths in the working directory are shown as `$DEMO`.
 * @module
 */
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../cli/main.ts';

export interface Demo {
  /** The demo's working directory. */
  readonly dir: string;
  /** A path in the working directory. */
  f(name: string): string;
  /** Runs `rse ARGS`; a title starts a new section ('' continues the last one). */
  step(title: string, args: string[], expect?: number): Promise<void>;
  /**
   * `rse serve DEVICE --daemon` on `socket` (the command a host's scripts run), then `body`, then
   * `rse call control shutdown`, waiting until the server has let the device go.
   */
  served(device: string, socket: string, extra: string[], body: () => Promise<void>): Promise<void>;
  /** The same for an STM32MP15's secure monitor: `rse stm32 serve DEVICE --daemon`, `body`, shutdown. */
  smcServed(device: string, socket: string, body: () => Promise<void>): Promise<void>;
}

/** The demo's log: every command with its full output. */
export const DEMO_LOG = 'demo.log';

export function demoSteps(dir: string, o: { verbose: boolean }): Demo {
  const shown = (args: readonly string[]): string => `rse ${args.map((a) => (a.startsWith(dir) ? a.replace(dir, '$DEMO') : a)).join(' ')}`;
  const log = join(dir, DEMO_LOG);
  let n = 0;
  const step = async (title: string, args: string[], expect = 0): Promise<void> => {
    n++;
    const cmd = shown(args);
    let out = '';
    const capture = {
      out: (d: string | Uint8Array): void => {
        out += typeof d === 'string' ? d : Buffer.from(d).toString('latin1');
      },
      err: (d: string): void => {
        out += d;
      },
    };
    if (o.verbose) process.stdout.write(`${title === '' ? '' : `\n== ${title}\n`}$ ${cmd}\n`);
    const code = await main(
      args,
      o.verbose ? { out: (d) => void process.stdout.write(d), err: (d) => void process.stderr.write(d) } : capture,
    );
    appendFileSync(log, `\n[${n}] ${title}\n$ ${cmd}\n${out}${code === 0 ? '' : `(exit status ${code})\n`}`);
    if (!o.verbose) {
      const line = `${code === expect ? '  ok  ' : '  FAIL'} ${title === '' ? '  ...' : ''}${(title === '' ? cmd : title).replace(/^\.\.\. /, '')}`;
      process.stdout.write(`${line.length > 110 ? `${line.slice(0, 109)}…` : line}\n`);
    }
    if (code !== expect) {
      if (!o.verbose) process.stdout.write(`$ ${cmd}\n${out}`);
      process.stdout.write(`demo failed: exit status ${code}, expected ${expect}\n`);
      process.exit(1);
    }
  };
  /** A server started with --daemon on `socket`, `body`, then its shutdown, waiting until it let the device go. */
  const daemon = async (serve: string[], shutdown: string[], socket: string, body: () => Promise<void>): Promise<void> => {
    const pid = `${socket}.pid`;
    await step('', [...serve, '--daemon', '--socket', socket, '--pid-file', pid]);
    await body();
    await step('', [...shutdown, '--socket', socket]);
    for (let i = 0; i < 200 && existsSync(pid); i++) await new Promise((r) => setTimeout(r, 25));
  };
  return {
    dir,
    f: (name) => join(dir, name),
    step,
    served: (device, socket, extra, body) => daemon(['serve', device, ...extra], ['call', 'control', 'shutdown'], socket, body),
    smcServed: (device, socket, body) => daemon(['stm32', 'serve', device], ['stm32', 'call', 'control', 'shutdown'], socket, body),
  };
}
