/**
 * `rsekit/mcuboot`: MCUboot images as imgtool 2.4.0 makes them: sign, verify, parse, dump.
 *
 * @example Sign a RAM-load image with an EC P-256 key and verify it
 * ```ts
 * import { readFileSync, writeFileSync } from 'node:fs';
 * import { imageFileParts, loadKey, signImageFile, verifyImage } from 'rsekit/mcuboot';
 *
 * const key = loadKey(readFileSync('root-EC-P256.pem'));
 * const signed = signImageFile(
 *   { payload: readFileSync('bl32.bin'), key },
 *   { headerSize: 0x2000, padHeader: true, slotSize: 0x80000, loadAddress: 0x70000000, version: '0.0.1', publicKeyFormat: 'full' },
 * );
 * const bytes = Buffer.concat(imageFileParts(signed));
 * writeFileSync('bl32_signed.bin', bytes);
 * console.log(verifyImage(bytes, { key }).ok); // true
 * ```
 * @module
 */
export type { AsymKey, AsymKeyType, HashAlg } from '../crypto/index.ts';
export { generateKey, loadKey } from '../crypto/index.ts';
export { IMAGE_FLAGS, TLV, UNPROTECTED_TLV_ALLOW_LIST } from './constants.ts';
export type { DumpInfo } from './dumpinfo.ts';
export { dumpInfo, dumpInfoJson, dumpInfoText } from './dumpinfo.ts';
export type { ImageHeader, ParsedImage, TlvArea, TlvEntry, TrailerInfo } from './image.ts';
export { parseHeader, parseImage, readTrailer } from './image.ts';
export { mcubootPublicKeyBytes } from './keys.ts';
export { imageFileParts, imageHexSegments, signImageFile } from './sign.ts';
export type { Dependency, EncryptOptions, SignedImage, SignInput, SignOptions } from './sign-options.ts';
export type { VerifyOptions, VerifyReport } from './verify.ts';
export { verifyImage } from './verify.ts';
export type { ImageVersion } from './version.ts';
export { compareVersions, formatVersion, parseVersion } from './version.ts';
