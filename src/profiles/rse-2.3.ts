/**
 * Profile `rse-2.3`: TF-M 2.3.1's RSE on Total Compute with TF-A v2.15. Its device root is new:
 * the OTP map of `rse_otp_layout.h` (area infos with zero counts, ROTPK arrays with revocation,
 * a SoC area) and provisioning by messages staged in VM1 (`bl1_1_provisioning.c`,
 * `rse_provisioning_auth_message_handler.c`; `config.cmake` defaults: asymmetric, P-256, ROTPK in
 * ROM, no revocation or non-endorsed DM flows). BL2's image table is TC's, as in 2.1; the host
 * link is SFCP with the legacy messages still answered. Sources: `platform/ext/target/arm/rse/
 * common/{config.cmake,partition/region_defs.h,partition/rse_memory_sizes_common.h}`.
 * @module
 */
import { OTP_RSE_2_3 } from './otp-rse-2.3.ts';
import { RSE_2_1 } from './rse-2.1.ts';
import type { RseProfile } from './types.ts';

const VM_SIZE = 0x80000;
/** `VM_COLD_RESET_RETAINED_SIZE`, `PERSISTENT_DATA_SIZE` (no OTP emulation in SRAM on TC). */
const RETAINED = 0x20000;
const PERSISTENT_DATA = 0xc00;

/** TF-M 2.3.1's RSE. */
export const RSE_2_3: RseProfile = {
  ...RSE_2_1,
  name: 'rse-2.3',
  description: 'TF-M 2.3.1 RSE on Total Compute, TF-A v2.15',
  otp: OTP_RSE_2_3,
  provisioning: {
    format: 'messages',
    psi: false,
    messages: {
      symmetric: false,
      curve: 'P-256',
      messageOffset: VM_SIZE - RETAINED,
      messageMaxSize: RETAINED - PERSISTENT_DATA,
      codeMax: 0x4000,
      dataMax: 0x5000,
      valuesMax: 0x1000,
      rotpkRevocation: false,
      nonEndorsedDm: false,
      chipOutputData: false,
      maxKrtlUsage: 6,
      romRotpkTci:
        '2acb403ce8feed5ba44995a1a91daee8dbbe1937cd14fb2f245737e5953988d9' +
        '94b9d65aebd7cdd5308ad6fe48b24a6a810ee5f07d8b6834cc3a6afc538efac1',
    },
  },
  bl1: {
    ...RSE_2_1.bl1,
    bl2PartitionSize: 0xf800,
    kdf: 'cmac-counter-be',
    imageV2: {
      partitionSize: 0xf800,
      headerMaxSize: 0xd00,
      rotpkMaxSize: 120,
      sigMaxSize: 1452,
      signers: 1,
      encryption: true,
      binding: false,
    },
    loadsImageKeys: false,
  },
  bl2: {
    ...RSE_2_1.bl2,
    // `rse_rotpk_config.h`: every image but NS is signed by CM ROTPK 1 (BL2), NS by DM ROTPK 1
    // (without MCUBOOT_IMAGE_MULTI_SIG_SUPPORT one key per image, the CM one where both map);
    // `rse_nv_counter_mapping.c`: bank 0 counter 1 + image.
    images: RSE_2_1.bl2.images.map((i) => ({
      ...i,
      rotpk: { array: i.index === 1 ? 'dm' : 'cm', slot: 1 },
      nvCounter: `dynamic.security_version_counters_bank_0_${1 + i.index}`,
      // With MCUBOOT_IMAGE_MULTI_SIG_SUPPORT: CM ROTPK 1 for every image but NS, DM ROTPK 1 for S and NS.
      signers: { ...(i.index === 1 ? {} : { cm: 1 }), ...(i.index <= 1 ? { dm: 1 } : {}) },
    })),
    multiSig: { enabled: false },
    // MCUboot e2a6d0b `allowed_unprot_tlvs`: KEYID and SHA512 join the list.
    extraUnprotectedTlvs: [0x03, 0x12],
    // `mcuboot_default_config.cmake` (OFF), `rse_kmu_keys.c`, `rse_bl2_binding.h`.
    imageBinding: {
      enabled: false,
      keyLabel: 'BL1_2_IMAGE_BINDING_KEY_DERIVATION',
      metaTlv: 0xa4,
      tagTlv: 0xa5,
      // `rse_bl2_binding_ccm.c`: RSE_AD_LABEL, RSE_BIND_CCM_IV_LEN, RSE_BIND_CCM_TAG_LEN, BIND_BLOCK_SIZE.
      ccm: { adLabel: 'RSEBINDv1\0', nonceLen: 12, tagLen: 16, chunk: 1024 },
    },
    // TF-M's `config.cmake` (MCUBOOT_ENC_IMAGES OFF), `mcuboot_default_config.cmake` (MCUBOOT_ENC_KEY_LEN 128).
    encImages: { enabled: false, keyBytes: 16 },
  },
  runtime: {
    ...RSE_2_1.runtime,
    sfcp: { node: 0 },
    // sfcp_permissions_hal.c: export_key too, as the ROTPKs are hashes (RSE_OTP_*_ROTPK_IS_HASH_NOT_KEY).
    hostCrypto: ['exportKey', 'exportPublicKey', 'generateRandom'],
    // tfm_builtin_key_ids.h, rse_rotpk_config.h: CM HOST_0 (CM ROTPK 2) at 0x7FFF816C, then
    // 0x7FFF816D is HOST_CM_MAX (no key), DM HOST_0/1 (DM ROTPK 2/3) at 0x7FFF816E/F.
    hostRotpks: [
      { keyId: 0x7fff816c, at: { array: 'cm', slot: 2 }, form: 'hash' },
      { keyId: 0x7fff816e, at: { array: 'dm', slot: 2 }, form: 'hash' },
      { keyId: 0x7fff816f, at: { array: 'dm', slot: 3 }, form: 'hash' },
    ],
    // `attest_hal.c`: 0xACDCABBA as a little-endian u32, "none", and the CCA default profile of TF-M >= 2.2.
    attestationIds: { implementationId: 'babadcac', verificationService: 'none', profile: 'tag:arm.com,2023:cca_platform#1.0.0' },
    platformConfig: 'lcm-dcu-map',
  },
  variants: {},
};
