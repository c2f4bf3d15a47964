/** Running the CLI as a process: what both entry points (the ESM bundle and the standalone CommonJS ones) do. @module */
import { main } from './main.ts';

/** Runs `rse` on this process's arguments and sets the exit status. */
export async function runProcess(): Promise<void> {
  // A closed pipe (`rse gpt list disk.bin | head`) ends the output quietly, as C tools do.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  process.exitCode = await main(process.argv.slice(2));
}
