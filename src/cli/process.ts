/** Running the CLI as a process: what both entry points (the ESM bundle and the standalone CommonJS ones) do. @module */
import { removeTempsInFlight } from '../lib/atomic.ts';
import { main } from './main.ts';

const STOPS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** Runs `rse` on this process's arguments and sets the exit status. */
export async function runProcess(): Promise<void> {
  // A closed pipe (`rse gpt list disk.bin | head`) ends the output quietly, as C tools do.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  // A stopping signal removes what this process was writing and had not published, then ends it
  // as the signal would (128 + its number); a verb with its own handler (serve, verifier) also
  // gets the signal and shuts down its way. The handler runs as soon as the event loop is free.
  for (const [sig, n] of Object.entries(STOPS)) {
    process.on(sig, () => {
      removeTempsInFlight();
      if (process.listenerCount(sig) <= 1) process.exit(128 + n);
    });
  }
  process.exitCode = await main(process.argv.slice(2));
}
