/**
 * The file-system side of `rse flash build` as a library call: a {@link BuildIo} that reads
 * inputs and keys relative to the platform description's directory and signs BL1 images with the
 * stateful LMS keys found there (each leaf persisted before its signature is used).
 * @module
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { lmsSignerPool } from '../bl1/lms-key.ts';
import { hash, hmac, loadKey, type RandomSource, randomBytes } from '../crypto/index.ts';
import { u32le } from '../lib/bytes.ts';
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

/**
 * The randomness of a reproducible build (`rse flash build --deterministic`): each draw is
 * HMAC-SHA-256, keyed by the transcript so far (the platform description, then every input file
 * the build read, by path and SHA-256) over a draw counter. The same inputs give the same IVs,
 * SIC nonces and LMS randomisers on every run and machine; an input that changes changes every
 * draw after it, so an IV is never reused for other plaintext under the same key.
 */
export function reproducibleRandom(description: Uint8Array): {
  readonly random: RandomSource;
  observe(path: string, data: Uint8Array): void;
} {
  let transcript = hash('sha256', new TextEncoder().encode('rsekit reproducible build v1\0'), description);
  let draws = 0;
  return {
    observe: (path, data) => {
      transcript = hash('sha256', transcript, new TextEncoder().encode(`${path}\0`), hash('sha256', data));
    },
    random: (n) => {
      const out = new Uint8Array(n);
      draws++;
      for (let block = 0; block * 32 < n; block++)
        out.set(hmac('sha256', transcript, u32le(draws, block)).subarray(0, Math.min(32, n - block * 32)), block * 32);
      return out;
    },
  };
}
