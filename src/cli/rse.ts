/** Entry point of the `rse` ESM bundle (every verb; the dispatcher sends most verbs to a standalone bundle instead). @module */
import { runProcess } from './process.ts';

await runProcess();
