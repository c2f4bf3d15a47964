/** Shared set-up for BL1 tests: a private copy of the example LMS key. */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.ts';

/** A private copy of the example H10 key (signing moves its state). */
export function exampleLmsKey(): string {
  const dir = tempDir();
  for (const ext of ['prv', 'pub', 'tree'])
    copyFileSync(new URL(`../../examples/keys/bl1-lms.${ext}`, import.meta.url), join(dir, `bl1-lms.${ext}`));
  return join(dir, 'bl1-lms');
}
