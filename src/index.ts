/**
 * rsekit's public API: named exports only.
 * @module
 */

export type { PowerOnReport, PowerOnResult, ProvisionRunResult, StageReport } from './boot/power-on.ts';
export { loadBundle, powerOn, provisionRun } from './boot/power-on.ts';
export type { AsymKey, AsymKeyType, HashAlg } from './crypto/index.ts';
export { generateKey, loadKey } from './crypto/index.ts';
export { aesCmac, deriveHkdfEcKey, kdfCmacCounter, kdfHashEcb, psaDeriveEcPrivate } from './crypto/kdf.ts';
export { KMU_SLOT, Kmu } from './crypto/kmu.ts';
export type { BootKeys, BootStateInputs, RseKdf } from './crypto/rse-keys.ts';
export { bl2DecryptionKey, bootState, bundleKey, deriveBootKeys, deriveIak, instanceId, provisioningKey } from './crypto/rse-keys.ts';
export type { CreateOptions, DeviceJson, DeviceStore } from './device/device.ts';
export { Device, DirStore, FaultPlan, MemoryStore, PowerCut } from './device/device.ts';
export type { OtpReport } from './device/otp-report.ts';
export { otpReport } from './device/otp-report.ts';
export type { Fip, FipEntry, FipImage, PackedFip, PackOptions } from './fip/fip.ts';
export { checkFipForFirmware, fipBytes, fipUuidFromString, fipUuidToString, packFip, parseFip, platTocFlags } from './fip/fip.ts';
export type { BuildIo, BuildResult, BuiltImage } from './flash/build.ts';
export { buildFlash } from './flash/build.ts';
export type { BankState, FwuImage, FwuMetadata } from './gpt/fwu.ts';
export { alternateBank, encodeFwuMetadata, parseFwuMetadata, switchActiveBank } from './gpt/fwu.ts';
export type { GptDisk, GptLayout, GptPartition, GptProblem, PartitionRequest, PlanOptions, SectorSize } from './gpt/gpt.ts';
export { FIP_TYPE_GUID, FWU_METADATA_TYPE_GUID, findPartition, partitionBytes, planGpt, readGpt, writeGpt } from './gpt/gpt.ts';
export { guidFromBytes, guidToBytes } from './gpt/guid.ts';
export { bytesToIeee, infoText, listText, verifyText } from './gpt/sgdisk.ts';
export type { Fill, LayoutOptions, LayoutResult, Placement } from './layout/layout.ts';
export { layout } from './layout/layout.ts';
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
export type { LcsName, OtpProgram, TpModeName } from './otp/lcm.ts';
export { LCM_OTP, LCS, Lcm, LcmError, lcsFromOtp, OTP_SIZE, TP_MODE, zeroBits } from './otp/lcm.ts';
export type { IntegrityProblem } from './otp/plat-otp.ts';
export { decodeCounter, encodeCounter, PlatOtp, PlatOtpError } from './otp/plat-otp.ts';
export type { FipNaming, FipTableEntry } from './profiles/fip-table.ts';
export { fipTable } from './profiles/fip-table.ts';
export type { OtpField, OtpLayout } from './profiles/otp-layout.ts';
export { OTP_RSE_2_1, OTP_RSS_1_7, otpField } from './profiles/otp-layout.ts';
export type { BundleKind, BundlePlain, CmValues, DmValues } from './provisioning/bundle.ts';
export { BUNDLE_SIZE, decodeBundle, encodeBundle, otpIcsBlob } from './provisioning/bundle.ts';
export { PSI } from './provisioning/rom.ts';
export { cmInputs, DUMMY, dmInputs } from './provisioning/values.ts';
