/**
 * `rsekit/flash`: whole platform builds (`rse flash build` as a library): a platform description
 * becomes the signed images, the FIP, the host flash (raw or GPT with FIP_A/FIP_B and FWU
 * metadata), the ROM and a manifest.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { parse } from 'yaml';
 * import { buildFlash, fileBuildIo } from 'rsekit/flash';
 *
 * const build = buildFlash(parse(readFileSync('platform.yaml', 'utf8')), fileBuildIo('.'));
 * // build.hostFlash, build.fip, build.rom, build.images, build.manifest
 * ```
 * @module
 */
export { buildFlash } from './build.ts';
export type { BuildIo, BuildResult, BuiltImage } from './images.ts';
export { fileBuildIo } from './io.ts';
