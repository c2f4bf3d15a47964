/**
 * `rsekit/stm32`: STM32 root-security features: STM32MP1 image headers (sign, verify, parse),
 * the virtual STM32MP15 (BSEC fuses, ROM and FSBL secure boot, ETZPC/TZC-400 firewalls, TAMP,
 * Secure Secret Provisioning with a counting HSM, the secure monitor's PSCI/SCMI/SiP services)
 * and the virtual STM32L552 (option bytes, RDP,
 * HDP, RSSLIB, Secure Firmware Install with a counting HSM, OTFDEC).
 *
 * @example Sign an FSBL with an STM32 header v1 and check it as the ROM does
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { generateKey } from 'rsekit/mcuboot';
 * import { checkStm32Image, createStm32Image, p256PublicXY, parseStm32Image, publicKeyHash } from 'rsekit/stm32';
 *
 * const key = generateKey('ecdsa-p256');
 * const image = createStm32Image({
 *   payload: readFileSync('tf-a.bin'),
 *   loadAddress: 0x2ffc2500,
 *   entryPoint: 0x2ffc2500,
 *   binaryType: 0x10, // FSBL
 *   key,
 * });
 * const pkh = publicKeyHash(p256PublicXY(key));
 * console.log(checkStm32Image(parseStm32Image(image), { pkh, closed: true }).every((c) => c.ok));
 * ```
 * @module
 */
export type { Stm32CheckOptions, Stm32CreateOptions, Stm32Header, Stm32Image } from './image.ts';
export { checkStm32Image, createStm32Image, p256PublicXY, parseStm32Image, pkhOtpWords, publicKeyHash } from './image.ts';
export { L5Device } from './l5-device.ts';
export type { MonitorState, SmcCall, SmcResult } from './monitor.ts';
export { initialMonitorState, SecureMonitor } from './monitor.ts';
export type { Mp1BootReport } from './mp1.ts';
export { Mp1Device, mp1Boot } from './mp1.ts';
export type { SfiImage } from './sfi.ts';
export { packageSfi, parseSfi } from './sfi.ts';
export { SfiHsm } from './sfi-hsm.ts';
export type { SfiInstallReport } from './sfi-install.ts';
export { sfiInstall } from './sfi-install.ts';
export type { SspReport } from './ssp-provision.ts';
export { SspHsm, sspProvision } from './ssp-provision.ts';
