/**
 * Profile `rss-1.7`: TF-M 1.7's RSS on Total Compute with TF-A v2.8/v2.10. Sources:
 * `platform/ext/target/arm/rss/tc/` (`flash_layout.h`, `bl2/boot_hal_bl2.c`),
 * `rss/common/otp_lcm.c`, `bl2/src/shared_data.c`. The FVP preloads the flash image into VM0.
 * @module
 */
import { OTP_RSS_1_7 } from './otp-layout.ts';
import { HOST_ROTPK_FIELDS } from './rse-2.1.ts';
import type { RseProfile } from './types.ts';

/** TF-M 1.7's RSS. */
export const RSS_1_7: RseProfile = {
  name: 'rss-1.7',
  description: 'TF-M 1.7 RSS on Total Compute, TF-A v2.8/v2.10',
  otp: OTP_RSS_1_7,
  // 8 MiB VM1: a device keeps the part up to the end of the NS window (S at VM1, NS at + 512 KiB).
  memory: { vm0Size: 0x80000, vm1Kept: 0x100000, romSize: 0x20000 },
  provisioning: { format: 'rom-bundle-stages', psi: false },
  bl1: {
    bl2PartitionSize: 0x20000,
    kdf: 'hash-ecb',
    bl2Source: { kind: 'flash-offsets', offsets: [0, 0x20000] },
    bootKeys: 'huk-lcs',
    loadsImageKeys: false,
  },
  bl2: {
    images: [
      {
        index: 0,
        name: 'S',
        flash: [0x40000, 0x140000],
        slotSize: 0x80000,
        exec: { start: 0x31800000, size: 0x80000 },
        swType: 'RT_0',
        // 1.7 keeps image 0's key hash in the LCM ROTPK slot.
        rotpkField: 'rotpk',
      },
      {
        index: 1,
        name: 'NS',
        flash: [0xc0000, 0x1c0000],
        slotSize: 0x80000,
        exec: { start: 0x31880000, size: 0x80000 },
        swType: 'RT_1',
        rotpkField: 'bl2_rotpk_1',
      },
      {
        index: 2,
        name: 'AP BL1',
        flash: [0x240000, 0x340000],
        slotSize: 0x80000,
        exec: { start: 0x70000000, size: 0x20000 },
        host: 'ap',
        swType: 'RT_2',
        rotpkField: 'bl2_rotpk_2',
      },
      {
        index: 3,
        name: 'SCP BL1',
        flash: [0x2c0000, 0x3c0000],
        slotSize: 0x80000,
        exec: { start: 0x70100000, size: 0x10000 },
        host: 'scp',
        swType: '',
        rotpkField: 'bl2_rotpk_3',
      },
    ],
    hostSram: { ap: { base: 0x0, size: 0x20000 }, scp: { base: 0x40000000, size: 0x10000 } },
    vm0: 0x31000000,
    vm1: 0x31800000,
    flash: { kind: 'vm0', size: 0x800000 },
    hostHeaderSize: 0x1000,
    hostHeader: 'in-place',
  },
  sharedData: { size: 0x400, metadata: 'version-string' },
  runtime: { swTypeMax: 20, compareAlgo: false, cryptoAbi: 'tfm-2.0', commsPacking: 'v2.10', hostRotpks: HOST_ROTPK_FIELDS },
  fipNaming: 'rss',
  variants: {},
};
