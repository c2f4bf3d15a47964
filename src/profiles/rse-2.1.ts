/**
 * Profile `rse-2.1`: TF-M 2.1's RSE on Total Compute with TF-A v2.11 (the default), and its
 * `RSE_XIP` build as a variant. Sources: `platform/ext/target/arm/rse/tc/` (`flash_layout.h`,
 * `region_defs.h`, `bl2/boot_hal_bl2.c`), `rse/common/otp_lcm.c`, `bl2/src/shared_data.c`.
 * @module
 */
import { OTP_RSE_2_1 } from './otp-layout.ts';
import type { Bl2ImageSpec, Bl2Layout, HostRotpkSpec, RseProfile } from './types.ts';

const rotpk = (i: number): string => `bl2_rotpk_${i}`;

/** TC's four BL2 images in FIP entries, loaded 3 → 0. */
const BL2: Bl2Layout = {
  images: [
    {
      index: 0,
      name: 'S',
      fipEntry: 'rse-s',
      slotSize: 0x60000,
      exec: { start: 0x31000000, size: 0x60000 },
      swType: 'RT_0',
      rotpkField: rotpk(0),
    },
    {
      index: 1,
      name: 'NS',
      fipEntry: 'rse-ns',
      slotSize: 0x60000,
      exec: { start: 0x310a0000, size: 0x60000 },
      swType: 'RT_1',
      rotpkField: rotpk(1),
    },
    {
      index: 2,
      name: 'AP BL1',
      fipEntry: 'rse-ap-bl1',
      slotSize: 0x80000,
      exec: { start: 0x70000000, size: 0x80000 },
      host: 'ap',
      swType: 'RT_2',
      rotpkField: rotpk(2),
    },
    {
      index: 3,
      name: 'SCP BL1',
      fipEntry: 'rse-scp-bl1',
      slotSize: 0x80000,
      exec: { start: 0x71000000, size: 0x80000 },
      host: 'scp',
      swType: '',
      rotpkField: rotpk(3),
    },
  ],
  hostSram: { ap: { base: 0x0, size: 0x80000 }, scp: { base: 0x40000000, size: 0x80000 } },
  vm0: 0x31000000,
  vm1: 0x31080000,
  flash: { kind: 'host-flash' },
  hostHeaderSize: 0x2000,
  hostHeader: 'separate-region',
};

/** VM0/VM1 of an `RSE_XIP` build (`rse_memory_sizes.h`). */
const XIP_SRAM_SIZE = 0x10000;
/** Where the SIC's auth region starts (`RSE_RUNTIME_S_XIP_BASE_S`): HTR entry 0. */
const SIC_AUTH_BASE = 0x12000000;
const SIC_TABLE_SIZE = 0x3800;

/** The `RSE_XIP` BL2 (`tc/flash_layout.h`, `region_defs.h`): images 0/1 are the signed SIC tables. */
function xipBl2(base: Bl2Layout): Bl2Layout {
  const vm1 = base.vm0 + XIP_SRAM_SIZE;
  const [s, ns, ...host] = base.images as [Bl2ImageSpec, Bl2ImageSpec, ...Bl2ImageSpec[]];
  return {
    ...base,
    vm1,
    images: [
      {
        ...s,
        name: 'S SIC tables',
        fipEntry: 'rse-sic-tables-s',
        slotSize: SIC_TABLE_SIZE,
        exec: { start: vm1, size: SIC_TABLE_SIZE },
        xip: { entry: 'rse-s', region: 0, logical: SIC_AUTH_BASE, maxSize: 0x60000, kmuSlot: 'SECURE_ENCRYPTION_KEY' },
      },
      {
        ...ns,
        name: 'NS SIC tables',
        fipEntry: 'rse-sic-tables-ns',
        slotSize: SIC_TABLE_SIZE,
        exec: { start: vm1 + SIC_TABLE_SIZE, size: SIC_TABLE_SIZE },
        xip: {
          entry: 'rse-ns',
          region: 1,
          logical: SIC_AUTH_BASE + 0x60000,
          maxSize: 0x60000,
          kmuSlot: 'NON_SECURE_ENCRYPTION_KEY',
        },
      },
      ...host,
    ],
  };
}

/** The host ROTPKs of TF-M 2.1 (and 1.7): P-384 points in OTP fields, builtin keys 0x7FFF816C..E. */
export const HOST_ROTPK_FIELDS = [
  { keyId: 0x7fff816c, at: { field: 'host_rotpk_s' }, form: 'point' },
  { keyId: 0x7fff816d, at: { field: 'host_rotpk_ns' }, form: 'point' },
  { keyId: 0x7fff816e, at: { field: 'host_rotpk_cca' }, form: 'point' },
] as const satisfies readonly HostRotpkSpec[];

const BASE: Omit<RseProfile, 'variants'> = {
  name: 'rse-2.1',
  description: 'TF-M 2.1 RSE on Total Compute, TF-A v2.11',
  otp: OTP_RSE_2_1,
  memory: { vm0Size: 0x80000, vm1Kept: 0x80000, romSize: 0x20000 },
  provisioning: { format: 'cm-dm-bundles', psi: true },
  bl1: {
    bl2PartitionSize: 0x10000,
    kdf: 'cmac-counter',
    bl2Source: { kind: 'fip', entry: 'rse-bl2' },
    bootKeys: 'guk-boot-state',
    measureBl1_2: { slot: 0, swType: 'BL1_2' },
    measureBl2: { slot: 1, swType: 'BL2' },
    loadsImageKeys: true,
  },
  bl2: BL2,
  sharedData: { size: 0x600, metadata: 'version-fields' },
  runtime: { swTypeMax: 32, compareAlgo: true, cryptoAbi: 'tfm-2.1', commsPacking: 'v2.11', hostRotpks: HOST_ROTPK_FIELDS },
  fipNaming: 'rse',
};

/** TF-M 2.1's RSE built with `RSE_XIP`: 64 KiB VM0/VM1, runtimes executing in place through the SIC. */
export const RSE_2_1_XIP: RseProfile = {
  ...BASE,
  name: 'rse-2.1',
  description: 'TF-M 2.1 RSE on Total Compute, TF-A v2.11, RSE_XIP',
  memory: { ...BASE.memory, vm0Size: XIP_SRAM_SIZE, vm1Kept: XIP_SRAM_SIZE },
  bl2: xipBl2(BL2),
  variants: {},
};

/** TF-M 2.1's RSE (the default profile). */
export const RSE_2_1: RseProfile = { ...BASE, variants: { xip: RSE_2_1_XIP } };
