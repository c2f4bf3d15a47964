/**
 * `rsekit/endorse`: reference values from your own build: a `rse flash build` manifest and the
 * provisioned device it boots on become a CoRIM (trust anchor and every measured component) that
 * the verifier appraises tokens against.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { Device, DirStore } from 'rsekit/device';
 * import { deviceFacts, endorse } from 'rsekit/endorse';
 *
 * const manifest = JSON.parse(readFileSync('build/manifest.json', 'utf8'));
 * const { corim } = endorse(manifest, deviceFacts(Device.open(new DirStore('dev'))));
 * ```
 * @module
 */
export type { EndorseResult, ReferenceComponent } from './endorse.ts';
export { endorse, readManifest, referenceComponents } from './endorse.ts';
export type { DeviceFacts } from './identity.ts';
export { deviceFacts } from './identity.ts';
