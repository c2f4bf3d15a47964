/** Entry point of the `rse` binary. @module */
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
