/**
 * The file-system side of `rse flash build` as a library call: a {@link BuildIo} that reads
 * inputs and keys relative to the platform description's directory and signs BL1 images with the
 * stateful LMS keys found there (each leaf persisted before its signature is used).
 * @module
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { lmsSignerPool } from '../bl1/lms-key.ts';
import { loadKey, type RandomSource, randomBytes } from '../crypto/index.ts';
import type { BuildIo } from './images.ts';

/**
 * Build I/O rooted at `baseDir`: files and PEM keys read from there (an encrypted key takes
 * `passphrase`), LMS keys used and advanced in place, IVs from `random`.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { parse } from 'yaml';
 * import { buildFlash, fileBuildIo } from 'rsekit/flash';
 *
 * const description = parse(readFileSync('examples/rse-2.1/platform.yaml', 'utf8'));
 * const build = buildFlash(description, fileBuildIo('examples/rse-2.1'));
 * console.log(build.manifest);
 * ```
 */
export function fileBuildIo(baseDir: string, o: { passphrase?: string; random?: RandomSource } = {}): BuildIo {
  const at = (p: string): string => (isAbsolute(p) ? p : join(baseDir, p));
  const random = o.random ?? randomBytes;
  const lms = lmsSignerPool(random);
  return {
    readFile: (p) => new Uint8Array(readFileSync(at(p))),
    readKey: (p) => loadKey(new Uint8Array(readFileSync(at(p))), o.passphrase),
    lmsSign: (p, msg) => lms(at(p), msg),
    random,
  };
}
