/**
 * The OTP maps of the two RSE profiles: the LCM header every profile shares and each profile's
 * user area (TF-M 2.1 `rse/common/otp_lcm.c` for the TC build with four MCUboot images, RSA or
 * P-256 ROTPK hashes, one RSE and the R0 LCM; TF-M 1.7 `rss/common/otp_lcm.c`). Offsets are
 * absolute OTP byte offsets, computed from the packed C structs.
 * @module
 */
/** The RSE OTP's size (16 KiB), the same on every profile. */
export const OTP_SIZE = 0x4000;

/** Byte offsets of the LCM's own OTP header (`struct lcm_otp_layout_t`). */
export const LCM_OTP = {
  huk: 0x00,
  guk: 0x20,
  kp_cm: 0x40,
  kce_cm: 0x60,
  kp_dm: 0x80,
  kce_dm: 0xa0,
  rotpk: 0xc0,
  tp_mode_config: 0xe0,
  cm_config_1: 0xe4,
  cm_config_2: 0xe8,
  dm_config: 0xec,
  cm_rma_flag: 0xf0,
  dm_rma_flag: 0xf4,
  user_data: 0xf8,
} as const;

/** Which part of the OTP a field sits in, and so what protects it. */
export type OtpArea = 'lcm' | 'cm-locked' | 'dm-locked' | 'unlocked' | 'bl1_2' | 'ics' | 'integrity' | 'soc';

/** How a field's bytes are meant to be read. */
export type OtpKind =
  | 'key'
  | 'hash'
  | 'u32'
  | 'u64'
  | 'string'
  | 'bytes'
  | 'lms-key'
  | 'ec-point'
  | 'counter'
  | 'encrypted-key'
  | 'image'
  | 'config';

/** One field of an OTP map: where it is, what protects it, how to read it. */
export interface OtpField {
  /** Field name, the TF-M `PLAT_OTP_ID_*` name in lower case where there is one. */
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly area: OtpArea;
  readonly kind: OtpKind;
  /** One line saying what the field is for. */
  readonly doc: string;
  /** RSS 1.7: the OTP word holding this field's zero count, written with the field. */
  readonly zeroCountAt?: number;
  /** RSS 1.7: a zero-count word BL1's tamper check skips (the IAK fields; the ADAC key without ADAC). */
  readonly zeroCountUnchecked?: true;
}

export type NvCounterEncoding = 'bits' | 'magic-words';

/** One profile's OTP map. */
export interface OtpLayout {
  readonly fields: readonly OtpField[];
  /** NV counter encoding: bit thermometer (2.1, `RSE_BIT_PROGRAMMABLE_OTP`) or 0x3333CAFE words. */
  readonly counterEncoding: NvCounterEncoding;
  /** 2.1: the locked areas whose size and zero count are written at the LCS transitions. */
  readonly cmLocked?: { readonly offset: number; readonly size: number };
  readonly dmLocked?: { readonly offset: number; readonly size: number };
  /** End of the BL1_2 area: the image is stored right-aligned below this offset. */
  readonly bl1_2End: number;
  readonly bl1_2MaxSize: number;
  /**
   * Where `bl1_2_image` is programmed: right-aligned below {@link OtpLayout.bl1_2End} (2.1, its
   * length in `bl1_2_image_len`) or at the start of its field (1.7).
   */
  readonly bl1_2Placement: 'right-aligned' | 'field';
  /** The field BL1_1 compares the SHA-256 of the 8 KiB BL1_2 with. */
  readonly bl1_2HashField: string;
  /**
   * What BL1_1's tamper check covers: the CM/DM locked areas with their sizes and zero counts
   * (2.1, from DM on), or every field's zero-count word and the ROTPK slot (1.7, in SE), or the
   * area infos, areas and current ROTPK arrays against their zero-count words (2.3,
   * `rse_zero_count_regions.c`).
   */
  readonly integrity: 'locked-areas' | 'zero-count-words' | 'area-zero-counts';
  /**
   * 2.3: which ROTPK of the CM and DM arrays each user verifies with (`rse_rotpk_config.h`: BL1_2's
   * signers, BL2's images, the host, secure debug).
   */
  readonly rotpkMap?: {
    readonly cm: { readonly bl1: number; readonly bl2: number; readonly host: number; readonly secureDebug: number };
    readonly dm: { readonly bl1: number; readonly bl2: number; readonly host: number };
  };
  /** The NV counters the non-secure side names 0, 1, 2 (default `nv_counter_ns_<i>`). */
  readonly nsCounters?: readonly string[];
  /** The re-provisioning counter the boot state is bound to (default `reprovisioning_bits`). */
  readonly reprovisioningField?: string;
  /** 2.3: the NV counter field of BL1_2's anti-rollback check (`PLAT_NV_COUNTER_BL1_0`). */
  readonly bl1Counter?: string;
}

const HEADER: readonly OtpField[] = [
  {
    name: 'huk',
    offset: LCM_OTP.huk,
    size: 32,
    area: 'lcm',
    kind: 'key',
    doc: 'hardware unique key (random, from the TRNG at CM provisioning)',
  },
  { name: 'guk', offset: LCM_OTP.guk, size: 32, area: 'lcm', kind: 'key', doc: 'group unique key (from the CM bundle)' },
  { name: 'kp_cm', offset: LCM_OTP.kp_cm, size: 32, area: 'lcm', kind: 'key', doc: 'CM provisioning key slot (dummy-filled at CM to DM)' },
  {
    name: 'kce_cm',
    offset: LCM_OTP.kce_cm,
    size: 32,
    area: 'lcm',
    kind: 'key',
    doc: 'CM code-encryption key = ROM OTP encryption key (random, encrypts keys at rest)',
  },
  { name: 'kp_dm', offset: LCM_OTP.kp_dm, size: 32, area: 'lcm', kind: 'key', doc: 'DM provisioning key slot (dummy-filled)' },
  { name: 'kce_dm', offset: LCM_OTP.kce_dm, size: 32, area: 'lcm', kind: 'key', doc: 'DM code-encryption key slot (dummy-filled)' },
  {
    name: 'rotpk',
    offset: LCM_OTP.rotpk,
    size: 32,
    area: 'lcm',
    kind: 'hash',
    doc: 'LCM ROTPK slot: the SHA-256 of the 8 KiB BL1_2 image (2.1); BL2 ROTPK 0 hash (1.7)',
  },
  {
    name: 'tp_mode_config',
    offset: LCM_OTP.tp_mode_config,
    size: 4,
    area: 'lcm',
    kind: 'config',
    doc: 'TP mode: 0 Virgin, 0x0000FFFF TCI, 0xFFFF0000 PCI',
  },
  { name: 'cm_config_1', offset: LCM_OTP.cm_config_1, size: 4, area: 'lcm', kind: 'config', doc: 'written at CM to DM (reads back 0)' },
  {
    name: 'cm_config_2',
    offset: LCM_OTP.cm_config_2,
    size: 4,
    area: 'lcm',
    kind: 'config',
    doc: 'ROTPK zero count (bits 0..7), GPPC (bits 8..23), 0x800 on R0',
  },
  {
    name: 'dm_config',
    offset: LCM_OTP.dm_config,
    size: 4,
    area: 'lcm',
    kind: 'config',
    doc: 'written at DM to SE (reads back the key zero-count error status)',
  },
  { name: 'cm_rma_flag', offset: LCM_OTP.cm_rma_flag, size: 4, area: 'lcm', kind: 'config', doc: 'all ones once the device entered RMA' },
  { name: 'dm_rma_flag', offset: LCM_OTP.dm_rma_flag, size: 4, area: 'lcm', kind: 'config', doc: 'all ones once the device entered RMA' },
];

function rse21(): OtpLayout {
  const f: OtpField[] = [...HEADER];
  const add = (name: string, offset: number, size: number, area: OtpArea, kind: OtpKind, doc: string): void => {
    f.push({ name, offset, size, area, kind, doc });
  };
  add('cm_locked_size', 0xf8, 8, 'integrity', 'u64', 'size of the CM-locked area, written at CM to DM');
  add('cm_locked_size_zero_count', 0x100, 4, 'integrity', 'u32', 'zero count of cm_locked_size');
  add('cm_zero_count', 0x104, 4, 'integrity', 'u32', 'zero count of the CM-locked area');
  add('dm_locked_size', 0x108, 8, 'integrity', 'u64', 'size of the DM-locked area, written at DM to SE');
  add('dm_locked_size_zero_count', 0x110, 4, 'integrity', 'u32', 'zero count of dm_locked_size');
  add('dm_zero_count', 0x114, 4, 'integrity', 'u32', 'zero count of the DM-locked area');
  add('bl1_2_image_len', 0x118, 4, 'cm-locked', 'u32', 'length of the BL1_2 image stored in OTP');
  add('cca_system_properties', 0x11c, 4, 'cm-locked', 'u32', 'CCA system properties (attestation claim)');
  add('cm_config_flags', 0x120, 4, 'cm-locked', 'u32', 'CM configuration flags');
  add('cm_pad', 0x124, 4, 'cm-locked', 'bytes', 'padding');
  add('bl1_rotpk_0', 0x128, 56, 'dm-locked', 'lms-key', 'LMS public key that verifies BL2 (type, OTS type, I, T[1])');
  for (let i = 0; i < 4; i++)
    add(`bl2_rotpk_${i}`, 0x160 + 32 * i, 32, 'dm-locked', 'hash', `hash of the MCUboot public key of image ${i}`);
  add('iak_len', 0x1e0, 4, 'dm-locked', 'u32', 'IAK length (unused on RSE: the IAK is derived)');
  add('iak_type', 0x1e4, 4, 'dm-locked', 'u32', 'IAK type (unused on RSE)');
  add('iak_id', 0x1e8, 32, 'dm-locked', 'bytes', 'IAK id (unused on RSE)');
  add('implementation_id', 0x208, 32, 'dm-locked', 'bytes', 'attestation implementation id');
  add('verification_service_url', 0x228, 32, 'dm-locked', 'string', 'attestation verification service URL');
  add('profile_definition', 0x248, 32, 'dm-locked', 'string', 'attestation profile definition');
  add('secure_debug_pk', 0x268, 32, 'dm-locked', 'hash', 'ADAC secure debug public key hash');
  add('host_rotpk_s', 0x288, 96, 'dm-locked', 'ec-point', 'host secure ROTPK (raw P-384 X‖Y)');
  add('host_rotpk_ns', 0x2e8, 96, 'dm-locked', 'ec-point', 'host non-secure ROTPK (raw P-384 X‖Y)');
  add('host_rotpk_cca', 0x348, 96, 'dm-locked', 'ec-point', 'host CCA ROTPK (raw P-384 X‖Y)');
  add('dm_config_flags', 0x3a8, 4, 'dm-locked', 'u32', 'DM configuration flags');
  add('rse_id', 0x3ac, 4, 'dm-locked', 'u32', 'id of this RSE in a multi-RSE system');
  add('bl2_encryption_key', 0x3b0, 32, 'dm-locked', 'encrypted-key', 'BL2 encryption key (AES-CTR encrypted with KCE_CM)');
  add('s_image_encryption_key', 0x3d0, 32, 'dm-locked', 'encrypted-key', 'secure image (SIC) encryption key (encrypted)');
  add('ns_image_encryption_key', 0x3f0, 32, 'dm-locked', 'encrypted-key', 'non-secure image (SIC) encryption key (encrypted)');
  add('runtime_otp_encryption_key', 0x410, 32, 'dm-locked', 'key', 'runtime OTP encryption key (random, R0 LCM)');
  add('nv_counter_bl1_0', 0x430, 64, 'unlocked', 'counter', 'BL1 NV counter (BL2 security counter)');
  for (let i = 0; i < 4; i++) add(`nv_counter_bl2_${i}`, 0x470 + 64 * i, 64, 'unlocked', 'counter', `BL2 NV counter of image ${i}`);
  for (let i = 0; i < 3; i++) add(`nv_counter_ns_${i}`, 0x570 + 64 * i, 64, 'unlocked', 'counter', `host (non-secure) NV counter ${i}`);
  add('reprovisioning_bits', 0x630, 4, 'unlocked', 'u32', 'reprovisioning bits (part of the boot state)');
  add('bl1_2_image', 0x1c00, 0x2000, 'bl1_2', 'image', 'BL1_2 image, stored right-aligned below the ICS');
  add('dma_ics', 0x3c00, 0x400, 'ics', 'bytes', 'OTP part of the DMA initial command sequence (zero count, 0, commands)');
  return {
    fields: f,
    bl1_2Placement: 'right-aligned',
    bl1_2HashField: 'rotpk',
    integrity: 'locked-areas',
    counterEncoding: 'bits',
    cmLocked: { offset: 0x118, size: 16 },
    dmLocked: { offset: 0x128, size: 0x308 },
    bl1_2End: 0x3c00,
    bl1_2MaxSize: 0x2000,
  };
}

/** Where the LCM slots' contents come from on RSS 1.7 (no CM/DM bundles, no random keys). */
const RSS17_SLOT_DOCS: Readonly<Record<string, string>> = {
  huk: 'hardware unique key (from the TF-M image, written in CM)',
  guk: 'group unique key (from the BL1_1 ROM bundle)',
  kce_cm: 'CM code-encryption key slot (dummy-filled at CM to DM)',
  rotpk: 'LCM ROTPK slot: BL2 ROTPK 0 hash (from the BL2 image), hardware zero count in cm_config_2',
};

function rss17(): OtpLayout {
  const f: OtpField[] = HEADER.map((h) => {
    const doc = RSS17_SLOT_DOCS[h.name];
    return doc === undefined ? h : { ...h, doc };
  });
  const zcNames = [
    'boot_seed',
    'implementation_id',
    'cert_ref',
    'verification_service_url',
    'profile_definition',
    'iak_len',
    'iak_type',
    'iak_id',
    'bl2_rotpk_1',
    'bl2_rotpk_2',
    'bl2_rotpk_3',
    'bl2_encryption_key',
    'bl1_2_image_hash',
    'bl2_image_hash',
    'bl1_rotpk_0',
    'secure_debug_pk',
    'host_rotpk_s',
    'host_rotpk_ns',
    'host_rotpk_cca',
    'cca_system_properties',
  ];
  const zc = new Map<string, number>();
  zcNames.forEach((n, i) => {
    const at = 0xf8 + 4 * i;
    zc.set(n, at);
    f.push({ name: `${n}_zero_bits`, offset: at, size: 4, area: 'integrity', kind: 'u32', doc: `zero count of ${n}, written with it` });
  });
  const unchecked = new Set(['iak_len', 'iak_type', 'iak_id', 'secure_debug_pk']);
  const add = (name: string, offset: number, size: number, kind: OtpKind, doc: string, area: OtpArea = 'unlocked'): void => {
    const at = zc.get(name);
    const field: OtpField = { name, offset, size, area, kind, doc };
    f.push(at === undefined ? field : { ...field, zeroCountAt: at, ...(unchecked.has(name) ? { zeroCountUnchecked: true as const } : {}) });
  };
  add('iak_len', 0x148, 4, 'u32', 'IAK length');
  add('iak_type', 0x14c, 4, 'u32', 'IAK type');
  add('iak_id', 0x150, 32, 'bytes', 'IAK id');
  add('boot_seed', 0x170, 32, 'bytes', 'attestation boot seed');
  add('implementation_id', 0x190, 32, 'bytes', 'attestation implementation id');
  add('cert_ref', 0x1b0, 32, 'string', 'attestation certification reference');
  add('verification_service_url', 0x1d0, 32, 'string', 'attestation verification service URL');
  add('profile_definition', 0x1f0, 32, 'string', 'attestation profile definition');
  for (let i = 1; i <= 3; i++) add(`bl2_rotpk_${i}`, 0x210 + 32 * (i - 1), 32, 'hash', `hash of the MCUboot public key of image ${i}`);
  for (let i = 0; i < 4; i++) add(`nv_counter_bl2_${i}`, 0x270 + 512 * i, 512, 'counter', `BL2 NV counter of image ${i}`);
  add('bl2_encryption_key', 0xa70, 32, 'key', 'BL2 encryption key (plain)');
  add('bl1_2_image_hash', 0xa90, 32, 'hash', 'SHA-256 of the BL1_2 image');
  add('bl2_image_hash', 0xab0, 32, 'hash', 'BL2 image hash (BL1 without PQ crypto)');
  add('nv_counter_bl1_0', 0xad0, 512, 'counter', 'BL1 NV counter');
  add('secure_debug_pk', 0xcd0, 32, 'hash', 'ADAC secure debug public key hash');
  for (let i = 0; i < 3; i++) add(`nv_counter_ns_${i}`, 0xcf0 + 512 * i, 512, 'counter', `host (non-secure) NV counter ${i}`);
  add('bl1_rotpk_0', 0x12f0, 56, 'lms-key', 'LMS public key that verifies BL2');
  add('host_rotpk_s', 0x1328, 96, 'ec-point', 'host secure ROTPK');
  add('host_rotpk_ns', 0x1388, 96, 'ec-point', 'host non-secure ROTPK');
  add('host_rotpk_cca', 0x13e8, 96, 'ec-point', 'host CCA ROTPK');
  add('cca_system_properties', 0x1448, 4, 'u32', 'CCA system properties');
  add('bl1_2_image', 0x144c, 0x2000, 'image', 'BL1_2 image', 'bl1_2');
  return {
    fields: f,
    counterEncoding: 'magic-words',
    bl1_2End: 0x144c + 0x2000,
    bl1_2MaxSize: 0x2000,
    bl1_2Placement: 'field',
    bl1_2HashField: 'bl1_2_image_hash',
    integrity: 'zero-count-words',
  };
}

/** TF-M 2.1's RSE OTP map (TC, four MCUboot images). */
export const OTP_RSE_2_1: OtpLayout = rse21();
/** TF-M 1.7's RSS OTP map. */
export const OTP_RSS_1_7: OtpLayout = rss17();

/** A field of a layout by name, or `undefined`. */
export function otpField(layout: OtpLayout, name: string): OtpField | undefined {
  return layout.fields.find((f) => f.name === name);
}

/** Checks that a layout's fields are word aligned, inside the OTP and do not overlap. */
export function layoutProblems(layout: OtpLayout): string[] {
  const problems: string[] = [];
  const sorted = [...layout.fields].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let prev = '';
  for (const fl of sorted) {
    if (fl.offset % 4 !== 0 || fl.size % 4 !== 0) problems.push(`${fl.name} is not word aligned`);
    if (fl.offset + fl.size > OTP_SIZE) problems.push(`${fl.name} ends beyond the OTP`);
    if (fl.offset < end) problems.push(`${fl.name} overlaps ${prev}`);
    end = Math.max(end, fl.offset + fl.size);
    prev = fl.name;
  }
  return problems;
}
