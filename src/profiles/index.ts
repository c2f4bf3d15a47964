/**
 * The firmware profiles rsekit knows, by name. A profile is data ({@link RseProfile}); the
 * virtual device, the boot stages and the toolchain take it and never compare names.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { RSE_2_1 } from './rse-2.1.ts';
import { RSE_2_3 } from './rse-2.3.ts';
import { RSS_1_7 } from './rss-1.7.ts';
import type { RseProfile } from './types.ts';

export { RSE_2_1, RSE_2_1_XIP } from './rse-2.1.ts';
export { RSE_2_3 } from './rse-2.3.ts';
export { RSS_1_7 } from './rss-1.7.ts';
export type * from './types.ts';

const registry = new Map<string, RseProfile>([
  [RSE_2_1.name, RSE_2_1],
  [RSS_1_7.name, RSS_1_7],
  [RSE_2_3.name, RSE_2_3],
]);

/** The default RSE profile (`rse-2.1`). */
export const DEFAULT_RSE_PROFILE: RseProfile = RSE_2_1;

/** The names of every RSE/RSS profile, built in or registered. */
export function rseProfileNames(): string[] {
  return [...registry.keys()];
}

/** The profile called `name`, or `undefined` (any string is safe here, `__proto__` included). */
export function findRseProfile(name: string): RseProfile | undefined {
  return registry.get(name);
}

/** The profile called `name`; an unknown name is an `E_ARGUMENT` listing the known ones. */
export function rseProfile(name: string): RseProfile {
  const p = registry.get(name);
  if (p === undefined)
    throw new RseError('E_ARGUMENT', `unknown profile ${JSON.stringify(name)}: one of ${rseProfileNames().join(', ')}`, {
      field: 'profile',
    });
  return p;
}

/** `p` itself, or the profile it names. */
export function asRseProfile(p: RseProfile | string): RseProfile {
  return typeof p === 'string' ? rseProfile(p) : p;
}

/**
 * Adds a profile made of data (for instance an existing one extended with another memory map)
 * so that devices, builds and boots can name it. Built-in names cannot be replaced.
 */
export function registerRseProfile(p: RseProfile): void {
  const had = registry.get(p.name);
  if (had !== undefined && had !== p) throw new RseError('E_EXISTS', `a profile named ${p.name} exists already`, { field: 'profile' });
  registry.set(p.name, p);
}

/** The profiles that have an `RSE_XIP` build. */
export function xipProfileNames(): string[] {
  return [...registry.values()].filter((p) => p.variants.xip !== undefined).map((p) => p.name);
}

/** A profile with its build variant applied (`xip`: the `RSE_XIP` build), if it has one. */
export function profileVariant(p: RseProfile, xip: boolean): RseProfile | undefined {
  return xip ? p.variants.xip : p;
}
