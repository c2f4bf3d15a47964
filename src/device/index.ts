/**
 * `rsekit/device`: the virtual RSE's hardware and state: a device directory of plain images and
 * `device.json` (every write atomic), the OTP behind the lifecycle manager (fuse rules, LCS, TP
 * mode, zero counts), the platform OTP fields of its profile, the KMU and the ATU; and the
 * profiles themselves, as data.
 *
 * @example Open a device and read a field of its OTP
 * ```ts
 * import { Device, DirStore, otpReport } from 'rsekit/device';
 *
 * const dev = Device.open(new DirStore('dev'));
 * console.log(dev.profile.name, dev.lcm.getLcs());
 * console.log(dev.plat.readCounter('nv_counter_bl2_0'));
 * console.log(otpReport(dev).fields.length);
 * ```
 * @module
 */

export type { LcsName, OtpProgram, TpModeName } from '../otp/lcm.ts';
export { LCS, Lcm, LcmError, lcsFromOtp, TP_MODE, zeroBits } from '../otp/lcm.ts';
export type { IntegrityProblem } from '../otp/plat-otp.ts';
export { decodeCounter, encodeCounter, PlatOtp, PlatOtpError } from '../otp/plat-otp.ts';
export type { FipNaming } from '../profiles/fip-table.ts';
export type * from '../profiles/index.ts';
export {
  DEFAULT_RSE_PROFILE,
  findRseProfile,
  profileVariant,
  RSE_2_1,
  RSE_2_1_XIP,
  RSS_1_7,
  registerRseProfile,
  rseProfile,
  rseProfileNames,
} from '../profiles/index.ts';
export type { OtpField, OtpLayout } from '../profiles/otp-layout.ts';
export { LCM_OTP, layoutProblems, OTP_RSE_2_1, OTP_RSS_1_7, OTP_SIZE, otpField } from '../profiles/otp-layout.ts';
export { STM32L5, STM32MP1 } from '../profiles/stm32.ts';
export { Atu, Bus, BusFault } from './atu.ts';
export type { CreateOptions, DeviceJson, DeviceStore, OpenOptions } from './device.ts';
export { Device, DirStore, FaultPlan, MemoryStore, PowerCut } from './device.ts';
export type { OtpReport } from './otp-report.ts';
export { otpReport, renderOtpReport } from './otp-report.ts';
