/**
 * The shape of a firmware profile: every table that differs between the RSE/RSS firmware
 * versions rsekit models, as plain data one implementation consumes. Code asks the profile; it
 * never compares profile names. A profile may extend another (`{ ...base, bl2: {...} }`).
 * @module
 */
import type { FipNaming } from './fip-table.ts';
import type { OtpLayout } from './otp-layout.ts';

/** The key derivation of BL1_2's BL2 key and of the bundles: SP 800-108 CMAC (2.1) or hash-then-ECB (1.7). */
export type Bl1Kdf = 'cmac-counter' | 'cmac-counter-be' | 'hash-ecb';

/**
 * How the runtime seeds (VHUK, CPAK seed, DAK seed) are bound to the boot: 2.1's KDF over GUK
 * and the boot state (LCS, TP mode, reprovisioning bits, BL1_2 hash), or 1.7's over the HUK
 * with the BL1_2 hash and the LCS.
 */
export type BootKeyDerivation = 'guk-boot-state' | 'huk-lcs';

/**
 * How the ROM provisions a device: 2.1's encrypted CM/DM bundles polled for in SRAM (with PSI
 * codes on the GPIO), 1.7's plain stages (ROM bundle in BL1_1, then BL2 and TF-M data), or
 * 2.2+'s provisioning messages (BLOB, plain data) staged in VM1.
 */
export type ProvisioningFormat = 'cm-dm-bundles' | 'rom-bundle-stages' | 'messages';

/**
 * The provisioning build of a message-provisioned RSE (TF-M 2.3 `config.cmake`): how blobs are
 * authenticated, where the message is staged, how large its parts may be, and the optional flows.
 */
export interface MessageProvisioning {
  /** `RSE_SYMMETRIC_PROVISIONING`: AES-CCM under KPROV; otherwise ECDSA with AES-CTR. */
  readonly symmetric: boolean;
  /** `RSE_PROVISIONING_CURVE` (and the matching `RSE_PROVISIONING_HASH_ALG`). */
  readonly curve: 'P-256' | 'P-384';
  /** `PROVISIONING_MESSAGE_START` as an offset into VM1, and `RSE_PROVISIONING_MESSAGE_MAX_SIZE`. */
  readonly messageOffset: number;
  readonly messageMaxSize: number;
  /** ITCM/2, the VM1 data area and the DTCM values area the blob is unpacked into. */
  readonly codeMax: number;
  readonly dataMax: number;
  readonly valuesMax: number;
  /** `RSE_ROTPK_REVOCATION`, `RSE_NON_ENDORSED_DM_PROVISIONING`. */
  readonly rotpkRevocation: boolean;
  readonly nonEndorsedDm: boolean;
  /** `RSE_ENABLE_CHIP_OUTPUT_DATA`: CM provisioning derives the RAK and writes the CMAC'd Chip Output Data. */
  readonly chipOutputData: boolean;
  /** `RSE_ACCEPTABLE_MAX_KRTL_USAGE_VALUE` of the CM provisioning code. */
  readonly maxKrtlUsage: number;
  /**
   * The provisioning public key built into the ROM for TCI mode (`tci_rotpk_x ‖ tci_rotpk_y`, raw
   * X ‖ Y, hex): TF-M's default is the public part of its test key `root-EC-P256.pem`.
   */
  readonly romRotpkTci: string;
}

/** A measured-boot record a BL1 stage stores. */
export interface MeasurementSlot {
  readonly slot: number;
  readonly swType: string;
}

/** Where BL1_2 finds BL2. */
export type Bl2Source =
  /** `entry`: the FIP entry (`rse-bl2`). */
  { readonly kind: 'fip'; readonly entry: string } | { readonly kind: 'flash-offsets'; readonly offsets: readonly number[] };

/** The build-time shape of the image (`bl1_2_config.h`, the platform's flash layout). */
export interface Bl1ImageV2Config {
  /** `FLASH_BL2_PARTITION_SIZE`: the file's size. */
  readonly partitionSize: number;
  /** `TFM_BL1_2_HEADER_MAX_SIZE`: the code area is the partition minus this. */
  readonly headerMaxSize: number;
  readonly rotpkMaxSize: number;
  readonly sigMaxSize: number;
  /** `TFM_BL1_2_SIGNER_AMOUNT`. */
  readonly signers: number;
  /** `TFM_BL1_2_IMAGE_ENCRYPTION`. */
  readonly encryption: boolean;
  /** `TFM_BL1_2_IMAGE_BINDING`: a 16-byte tag after the IV, zero until BL1_2 binds the image. */
  readonly binding: boolean;
}

/** BL1_1 and BL1_2. */
export interface Bl1Profile {
  /**
   * TF-M 2.2+'s BL2 image (`bl1_2_image_t`: embedded ROTPKs checked against the OTP ROTPK arrays,
   * CM/DM signers, KCE_CM-derived decryption), of this shape; absent: 2.1's LMS image.
   */
  readonly imageV2?: Bl1ImageV2Config;
  /** `FLASH_BL2_PARTITION_SIZE`: the bytes BL1_2 reads and decrypts. */
  readonly bl2PartitionSize: number;
  readonly kdf: Bl1Kdf;
  readonly bl2Source: Bl2Source;
  readonly bootKeys: BootKeyDerivation;
  /** BL1_1 measures BL1_2 (2.1); absent: no record. */
  readonly measureBl1_2?: MeasurementSlot;
  /** BL1_2 measures BL2 (2.1); absent: no record. */
  readonly measureBl2?: MeasurementSlot;
  /** `boot_platform_post_init` moves the S/NS image (SIC) keys from the OTP into the KMU. */
  readonly loadsImageKeys: boolean;
}

/** Where `sic_boot_post_load` maps an XIP runtime and how it programs the SIC for it. */
export interface XipSpec {
  /** The FIP entry of the encrypted image (`rse-s` / `rse-ns`). */
  readonly entry: string;
  /** ATU region and SIC decrypt region (0 for S, 1 for NS). */
  readonly region: number;
  /** `RSE_RUNTIME_S/NS_XIP_BASE_S`. */
  readonly logical: number;
  /** `S_CODE_SIZE` / `NS_CODE_SIZE` (the S/NS partition size). */
  readonly maxSize: number;
  /** The KMU slot holding the image key. */
  readonly kmuSlot: 'SECURE_ENCRYPTION_KEY' | 'NON_SECURE_ENCRYPTION_KEY';
}

/** One BL2 image of a profile. */
export interface Bl2ImageSpec {
  readonly index: number;
  readonly name: string;
  /** The FIP entry holding the image (host-flash profiles), by its fiptool option name. */
  readonly fipEntry?: string;
  /** Primary and secondary offsets in the emulated flash (flash-in-VM0 profiles). */
  readonly flash?: readonly [number, number];
  /** MCUboot flash-area size. */
  readonly slotSize: number;
  /** `boot_get_image_exec_ram_info`. */
  readonly exec: { readonly start: number; readonly size: number };
  readonly host?: 'ap' | 'scp';
  /** Measurement sw_type (`shared_data.c`: image 3 has none). */
  readonly swType: string;
  /** The OTP field holding the hash of the key that signs this image. */
  readonly rotpkField: string;
  /**
   * 2.3: the key is a ROTPK of the CM or DM array in use (`rse_cm/dm_get_bl2_rotpk`), whose
   * field follows the revocation counter; it replaces {@link Bl2ImageSpec.rotpkField}.
   */
  readonly rotpk?: { readonly array: 'cm' | 'dm'; readonly slot: number };
  /**
   * 2.3 with `MCUBOOT_IMAGE_MULTI_SIG_SUPPORT`: the CM ROTPK (key index 0) and DM ROTPK (key
   * index 1) that may sign the image (`rse_rotpk_config.h`); each one's OTP policy says whether
   * its signature is required.
   */
  readonly signers?: { readonly cm?: number; readonly dm?: number };
  /** The NV counter of the image (default `nv_counter_bl2_<index>`). */
  readonly nvCounter?: string;
  /** XIP builds: this image is the SIC table of a runtime that executes in place. */
  readonly xip?: XipSpec;
}

/** A host boot SRAM in the host's address map. */
export interface HostSram {
  readonly base: number;
  readonly size: number;
}

/** BL2 (MCUboot RAM-load) and the memories it works on. */
export interface Bl2Layout {
  readonly images: readonly Bl2ImageSpec[];
  readonly hostSram: { readonly ap: HostSram; readonly scp: HostSram };
  /** Where VM0/VM1 sit in the RSE's address map. */
  readonly vm0: number;
  readonly vm1: number;
  /**
   * Where the images come from: the host flash behind the ATU (2.1, FIP entries), or a flash
   * image the FVP preloads into VM0 (1.7, fixed offsets; this many bytes of it are visible).
   */
  readonly flash: { readonly kind: 'host-flash' } | { readonly kind: 'vm0'; readonly size: number };
  /** Header size the host images carry. */
  readonly hostHeaderSize: number;
  /**
   * What happens to a host image's header: 2.1 maps it to a region at the end of the target SRAM
   * (zeroed at post-load) and the code to the start; 1.7 loads it in place and moves SCP BL1
   * down over its header at post-load.
   */
  readonly hostHeader: 'separate-region' | 'in-place';
  /**
   * TLVs MCUboot also allows outside the protected area beyond the base list (MCUboot's
   * `allowed_unprot_tlvs` of the branch the firmware pins: 2.3 adds KEYID and SHA512).
   */
  readonly extraUnprotectedTlvs?: readonly number[];
  /**
   * `MCUBOOT_IMAGE_MULTI_SIG_SUPPORT` (TF-M 2.3+), a build option off by default: each image's
   * signers are checked against {@link Bl2ImageSpec.signers} and their ROTPK policies.
   */
  readonly multiSig?: { readonly enabled: boolean };
  /** `MCUBOOT_IMAGE_BINDING` (TF-M 2.3+): a build option, off by default; see {@link ImageBindingConfig}. */
  readonly imageBinding?: ImageBindingConfig;
  /**
   * `MCUBOOT_ENC_IMAGES` (a build option, off by default): BL2 decrypts an image whose header says
   * it is encrypted (AES-CTR, its key wrapped for the key built into BL2) in RAM before validating
   * it; `keyBytes` is `MCUBOOT_ENC_KEY_LEN` / 8.
   */
  readonly encImages?: { readonly enabled: boolean; readonly keyBytes: 16 | 32 };
}

/**
 * Image binding of TF-M 2.3 (`rse_bl2_binding_cmac.c`): BL1_2 derives a binding key from the HUK
 * into the KMU; BL2 writes a CMAC tag over the first verified image into its BIND_TAG TLV and marks
 * BIND_METADATA bound, and on later boots checks the tag instead of the signature.
 */
export interface ImageBindingConfig {
  /** Whether the firmware was built with it (`rse device create --image-binding`). */
  readonly enabled: boolean;
  /** The KDF label of the key (a C string: its NUL is part of it); no context (boot state: none). */
  readonly keyLabel: string;
  /** The unprotected TLV types of the metadata and the tag (16 bytes each). */
  readonly metaTlv: number;
  readonly tagTlv: number;
  /**
   * With `MCUBOOT_ENC_IMAGES` (`rse_bl2_binding_ccm.c`): AES-CCM re-encryption of the payload, with
   * this associated-data label (a C string: `sizeof` counts its NUL), nonce and tag lengths, and
   * the chunk BL2 encrypts and programs at a time.
   */
  readonly ccm: { readonly adLabel: string; readonly nonceLen: number; readonly tagLen: number; readonly chunk: number };
}

/** The boot-to-runtime shared data area. */
export interface SharedDataLayout {
  readonly size: number;
  /** `struct boot_measurement_metadata`: version as {u8, u8, u16, u32} (92 bytes) or a 14-char string (96). */
  readonly metadata: 'version-fields' | 'version-string';
}

/** The runtime's wire and service tables. */
export interface RuntimeProfile {
  /** Measured boot: the longest sw_type (`SW_TYPE_MAX_SIZE`). */
  readonly swTypeMax: 20 | 32;
  /** Measured boot: a slot extend must use the slot's algorithm. */
  readonly compareAlgo: boolean;
  /** The crypto service ABI the host's calls use. */
  readonly cryptoAbi: 'tfm-2.1' | 'tfm-2.0';
  /** The RSE comms ctrl_param packing TF-A of that era sends. */
  readonly commsPacking: 'v2.11' | 'v2.10';
  /**
   * The runtime also speaks SFCP (TF-M 2.3+, TF-A v2.15+), as this node; legacy RSE comms
   * messages are still answered (`SFCP_SUPPORT_LEGACY_MSG_PROTOCOL`). Absent: RSE comms only.
   */
  readonly sfcp?: { readonly node: number };
  /**
   * Attestation identity claims the firmware builds in instead of reading OTP fields (TF-M 2.3.1
   * `attest_hal.c`: a dummy implementation id, verification service "none", no profile definition,
   * so the token carries its default profile string). Absent: read from OTP.
   */
  /**
   * The crypto functions the host may call (the platform's comms permissions HAL): TF-M 2.1 opens
   * only the export of the host ROTPKs; TF-M 2.3.1 (`sfcp_permissions_hal.c`) also random
   * generation, which TF-A uses for entropy since v2.13. Default: `exportPublicKey` only.
   */
  readonly hostCrypto?: readonly ('exportKey' | 'exportPublicKey' | 'generateRandom')[];
  /** The host ROTPKs the crypto partition holds as builtin keys (`crypto_keys.c`). */
  readonly hostRotpks: readonly HostRotpkSpec[];
  readonly attestationIds?: { readonly implementationId: string; readonly verificationService: string; readonly profile: string };
  /**
   * The CCA platform config claim: absent, TF-M 2.1's 4-byte 0xDEADBEEF placeholder; `lcm-dcu-map`,
   * TF-M 2.3.1's CBOR map { 1: the LCM's 16 DCU-enable bytes }.
   */
  readonly platformConfig?: 'lcm-dcu-map';
}

/**
 * A host ROTPK as a builtin key: its PSA key id, where the OTP holds it (a fixed field, or a ROTPK
 * slot of the CM/DM array in use) and in which form: `point`, a public key's X ‖ Y (export_public_key
 * gives 0x04 ‖ X ‖ Y; all zero means unprovisioned); `hash`, the key's hash as raw data
 * (`RSE_OTP_*_ROTPK_IS_HASH_NOT_KEY`), which only export_key gives, unprovisioned or not.
 */
export interface HostRotpkSpec {
  readonly keyId: number;
  readonly at: { readonly field: string } | { readonly array: 'cm' | 'dm'; readonly slot: number };
  readonly form: 'point' | 'hash';
}

/** One RSE/RSS firmware version. */
export interface RseProfile {
  readonly name: string;
  /** One line: which firmware this is. */
  readonly description: string;
  readonly otp: OtpLayout;
  readonly memory: {
    /** VM0 and the part of VM1 a device keeps. */
    readonly vm0Size: number;
    readonly vm1Kept: number;
    readonly romSize: number;
  };
  readonly provisioning: {
    readonly format: ProvisioningFormat;
    /** The ROM reports its progress as PSI codes on the GPIO. */
    readonly psi: boolean;
    /** Message provisioning (format `messages`). */
    readonly messages?: MessageProvisioning;
  };
  readonly bl1: Bl1Profile;
  readonly bl2: Bl2Layout;
  readonly sharedData: SharedDataLayout;
  readonly runtime: RuntimeProfile;
  /** Which spelling of the RSE FIP rows the TF-A of this profile uses. */
  readonly fipNaming: FipNaming;
  /** Build options that make another profile (`xip`: `RSE_XIP`). */
  readonly variants: { readonly xip?: RseProfile };
}
