/** Entry point of the `rse` binary. @module */
import { main } from './main.ts';

// A closed pipe (`rse gpt list disk.bin | head`) ends the output quietly, as C tools do.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
process.exitCode = await main(process.argv.slice(2));
