/**
 * rsekit's public API: named exports only.
 * @module
 */
export type { AsymKey, AsymKeyType, HashAlg } from './crypto/index.ts';
export { generateKey, loadKey } from './crypto/index.ts';
export type { Endian } from './lib/bytes.ts';
export { ByteReader, ByteWriter } from './lib/bytes.ts';
export type { RseErrorCategory, RseErrorCode } from './lib/errors.ts';
export { ERROR_CODES, isRseError, RseError } from './lib/errors.ts';
export type { HexImage, HexSegment } from './lib/intel-hex.ts';
export { hexToBinary, parseIntelHex, writeIntelHex } from './lib/intel-hex.ts';
export { IMAGE_FLAGS, TLV } from './mcuboot/constants.ts';
export type { DumpInfo } from './mcuboot/dumpinfo.ts';
export { dumpInfo, dumpInfoJson, dumpInfoText } from './mcuboot/dumpinfo.ts';
export type { ImageHeader, ParsedImage, TlvArea, TlvEntry, TrailerInfo } from './mcuboot/image.ts';
export { parseHeader, parseImage, readTrailer } from './mcuboot/image.ts';
export { mcubootPublicKeyBytes } from './mcuboot/keys.ts';
export type { Dependency, EncryptOptions, SignedImage, SignInput, SignOptions } from './mcuboot/sign.ts';
export { imageFileParts, imageHexSegments, signImageFile } from './mcuboot/sign.ts';
export type { VerifyOptions, VerifyReport } from './mcuboot/verify.ts';
export { verifyImage } from './mcuboot/verify.ts';
export type { ImageVersion } from './mcuboot/version.ts';
export { compareVersions, formatVersion, parseVersion } from './mcuboot/version.ts';
