/**
 * Image versions `maj[.min[.rev[+build]]]` with imgtool's syntax, checked against the header's
 * field widths (u8, u8, u16, u32) instead of crashing on overflow as imgtool does.
 * @module
 */
import { RseError } from '../lib/errors.ts';

/** An image version: major.minor.revision+build. */
export interface ImageVersion {
  readonly major: number;
  readonly minor: number;
  readonly revision: number;
  readonly build: number;
}

const VERSION_RE = /^(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\+(0|[1-9]\d*))?)?)?$/;

const LIMITS: readonly [keyof ImageVersion, number][] = [
  ['major', 0xff],
  ['minor', 0xff],
  ['revision', 0xffff],
  ['build', 0xffffffff],
];

/** Parses a version string; `field` names the option in error messages. */
export function parseVersion(text: string, field = '--version'): ImageVersion {
  const m = VERSION_RE.exec(text);
  if (m === null) {
    throw new RseError('E_ARGUMENT', `Invalid version number '${text}', should be maj.min.rev+build with later parts optional`, { field });
  }
  const v: ImageVersion = {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    revision: Number(m[3] ?? 0),
    build: Number(m[4] ?? 0),
  };
  for (const [k, max] of LIMITS) {
    if (v[k] > max) throw new RseError('E_ARGUMENT', `version ${k} ${v[k]} in '${text}' exceeds ${max}`, { field });
  }
  return v;
}

export function formatVersion(v: ImageVersion, withBuild = true): string {
  const base = `${v.major}.${v.minor}.${v.revision}`;
  return withBuild ? `${base}+${v.build}` : base;
}

/** MCUboot's comparison: major, minor, revision, and the build number only when asked. */
export function compareVersions(a: ImageVersion, b: ImageVersion, useBuild = false): number {
  return a.major - b.major || a.minor - b.minor || a.revision - b.revision || (useBuild ? a.build - b.build : 0);
}
