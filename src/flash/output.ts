/**
 * All-or-nothing output of `rse flash build`: every file is written into a staging directory
 * inside the output directory, a `COMMITTED` list is written there once all are complete, and only
 * then are the files renamed into place, the manifest last. A run killed before the list leaves
 * the old outputs (the stage is dropped by the next run); killed after it, the next run finishes
 * the renames. Either way the directory ends holding one build, never parts of two.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { trackTemp, untrackTemp, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';

/** The staging directory inside a build output directory. */
export const BUILD_STAGING = '.rse-build.staging';
const COMMITTED = 'COMMITTED';

/** A relative output path that stays inside the output directory. */
function inside(name: string): string {
  const n = normalize(name);
  if (n.startsWith('..') || n.startsWith('/') || n === BUILD_STAGING || n.startsWith(`${BUILD_STAGING}/`))
    throw new RseError('E_IO', `build output ${name} is outside its directory`, { field: name });
  return n;
}

/** Carries out a committed stage: the removals (`-NAME`), then the renames (`+NAME`) in order, the manifest last. Idempotent. */
function finish(out: string): void {
  const stage = join(out, BUILD_STAGING);
  const lines = readFileSync(join(stage, COMMITTED), 'utf8')
    .split('\n')
    .filter((n) => n !== '');
  for (const l of lines) if (l.startsWith('-')) rmSync(join(out, inside(l.slice(1))), { force: true });
  for (const l of lines) {
    if (!l.startsWith('+')) continue;
    const n = inside(l.slice(1));
    const from = join(stage, n);
    if (!existsSync(from)) continue; // moved before the interruption
    mkdirSync(dirname(join(out, n)), { recursive: true });
    renameSync(from, join(out, n));
  }
  rmSync(stage, { recursive: true, force: true });
}

/**
 * What a killed build left in `out`: a committed stage is finished, an uncommitted one dropped.
 * Returns what was done.
 */
export function recoverBuildOutput(out: string): 'nothing' | 'finished' | 'dropped' {
  const stage = join(out, BUILD_STAGING);
  if (!existsSync(stage)) return 'nothing';
  if (existsSync(join(stage, COMMITTED))) {
    finish(out);
    return 'finished';
  }
  rmSync(stage, { recursive: true, force: true });
  return 'dropped';
}

/**
 * Writes `files` (relative paths, the manifest last) into `out` as one build; outputs the previous
 * build listed in `previous` that this one does not make are removed with it.
 */
export function writeBuildOutput(
  out: string,
  files: readonly (readonly [string, Uint8Array | string])[],
  previous: readonly string[] = [],
): void {
  mkdirSync(out, { recursive: true });
  recoverBuildOutput(out);
  const stage = join(out, BUILD_STAGING);
  mkdirSync(stage, { recursive: true });
  // Until the plan is written, a stopped run leaves nothing: the stage is removed on the signal.
  trackTemp(stage);
  try {
    for (const [name, data] of files) {
      const at = join(stage, inside(name));
      mkdirSync(dirname(at), { recursive: true });
      writeFileAtomic(at, data, { durable: false });
    }
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
  const made = new Set(files.map(([n]) => inside(n)));
  const gone = previous.map(inside).filter((n) => !made.has(n));
  const plan = [...gone.map((n) => `-${n}`), ...files.map(([n]) => `+${inside(n)}`)];
  writeFileAtomic(join(stage, COMMITTED), `${plan.join('\n')}\n`, { durable: false });
  untrackTemp(stage);
  finish(out);
}
