/**
 * The RSE 2.1 CM and DM provisioning bundles (`bundle_common/rse_provisioning_bundle.h`,
 * `provisioning_common_utils.py`): magic ‖ AES-256-CCM(code ‖ values ‖ data) ‖ nonce ‖ tag ‖
 * magic, 0xED2C bytes, the first magic as associated data. The values structs of the CM and DM
 * provisioning code, and the ICS blob with the upstream tool's zero-count quirk.
 * @module
 */
import { aesCcmDecrypt, aesCcmEncrypt, hash, type RandomSource, randomBytes } from '../crypto/index.ts';
import { readU32le as getU32, readU64le as readU64, u32le, u64le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { zeroBits } from '../otp/lcm.ts';

export const BUNDLE_CODE_SIZE = 0xb000;
export const BUNDLE_VALUES_SIZE = 0x3800;
/** Values and data together (the DTCM half the ROM decrypts them into). */
export const BUNDLE_VALUES_DATA_SIZE = 0x3d00;
export const BUNDLE_DATA_SIZE = BUNDLE_VALUES_DATA_SIZE - BUNDLE_VALUES_SIZE;
export const BUNDLE_PLAINTEXT_SIZE = BUNDLE_CODE_SIZE + BUNDLE_VALUES_DATA_SIZE;
/** The size of a CM/DM provisioning bundle (0xED2C bytes). */
export const BUNDLE_SIZE = 8 + BUNDLE_PLAINTEXT_SIZE + 12 + 16 + 8;

export const BUNDLE_OFFSETS = {
  magic: 0,
  code: 8,
  values: 8 + BUNDLE_CODE_SIZE,
  data: 8 + BUNDLE_CODE_SIZE + BUNDLE_VALUES_SIZE,
  nonce: 8 + BUNDLE_PLAINTEXT_SIZE,
  tag: 8 + BUNDLE_PLAINTEXT_SIZE + 12,
  magic2: 8 + BUNDLE_PLAINTEXT_SIZE + 28,
} as const;

export const CM_BUNDLE_MAGIC = 0xaaaac0defeedaaaan;
export const DM_BUNDLE_MAGIC = 0xaaaabeeffeedaaaan;

export type BundleKind = 'cm' | 'dm';

/**
 * The first bytes of the code area of a bundle built with rsekit's resumable provisioning code
 * (`code: resumable`). The device does not execute bundle code; it recognises this marker and
 * runs the resumable semantics instead of TF-M 2.1's: fields already programmed with the same
 * value are rewritten harmlessly, and a TRNG key an interrupted run already programmed is kept
 * instead of being overwritten with a new random value (which the OTP cannot take).
 */
export const RESUMABLE_CODE_MARKER = new TextEncoder().encode('RSEKIT-RESUMABLE-PROVISIONING-V1');

/** Whether a (decrypted) code area carries {@link RESUMABLE_CODE_MARKER}. */
export function isResumableCode(code: Uint8Array): boolean {
  if (code.length < RESUMABLE_CODE_MARKER.length) return false;
  return RESUMABLE_CODE_MARKER.every((b, i) => code[i] === b);
}

export function bundleMagic(kind: BundleKind): bigint {
  return kind === 'cm' ? CM_BUNDLE_MAGIC : DM_BUNDLE_MAGIC;
}

/** The plaintext sections of a bundle. */
export interface BundlePlain {
  /** The provisioning code (opaque here: authenticated, decrypted, never executed). */
  readonly code: Uint8Array;
  /** The values struct (`cm_provisioning_data` / `dm_provisioning_data`). */
  readonly values: Uint8Array;
  readonly data: Uint8Array;
}

/** Encrypts and lays out a bundle; the nonce comes from `random` (12 bytes). */
export function encodeBundle(kind: BundleKind, key: Uint8Array, plain: BundlePlain, random: RandomSource = randomBytes): Uint8Array {
  if (key.length !== 32) throw new RseError('E_KEY', `the provisioning key must be 32 bytes, got ${key.length}`, { field: 'key' });
  const sizes: [keyof BundlePlain, number][] = [
    ['code', BUNDLE_CODE_SIZE],
    ['values', BUNDLE_VALUES_SIZE],
    ['data', BUNDLE_DATA_SIZE],
  ];
  for (const [name, max] of sizes) {
    if (plain[name].length > max)
      throw new RseError('E_SIZE', `bundle ${name} is ${plain[name].length} bytes, at most ${hex0x(max)} fit`, { field: name });
  }
  const pt = new Uint8Array(BUNDLE_PLAINTEXT_SIZE);
  pt.set(plain.code, 0);
  pt.set(plain.values, BUNDLE_CODE_SIZE);
  pt.set(plain.data, BUNDLE_CODE_SIZE + BUNDLE_VALUES_SIZE);
  const magic = u64le(bundleMagic(kind));
  const nonce = random(12);
  const { ciphertext, tag } = aesCcmEncrypt(key, nonce, magic, pt);
  const out = new Uint8Array(BUNDLE_SIZE);
  out.set(magic, BUNDLE_OFFSETS.magic);
  out.set(ciphertext, BUNDLE_OFFSETS.code);
  out.set(nonce, BUNDLE_OFFSETS.nonce);
  out.set(tag, BUNDLE_OFFSETS.tag);
  out.set(magic, BUNDLE_OFFSETS.magic2);
  return out;
}

/** What the ROM sees when it polls a bundle location. */
export function bundlePresent(kind: BundleKind, area: Uint8Array): boolean {
  if (area.length < BUNDLE_SIZE) return false;
  const m = bundleMagic(kind);
  return readU64(area, BUNDLE_OFFSETS.magic) === m && readU64(area, BUNDLE_OFFSETS.magic2) === m;
}

/** Checks a bundle file's size and magics before anything touches a device. */
export function checkBundleShape(kind: BundleKind, bytes: Uint8Array, source = 'bundle'): void {
  if (bytes.length !== BUNDLE_SIZE) {
    throw new RseError(
      'E_SIZE',
      `${source}: a ${kind.toUpperCase()} bundle is ${hex0x(BUNDLE_SIZE)} bytes, this one is ${hex0x(bytes.length)}`,
      {
        field: 'bundle',
        offset: Math.min(bytes.length, BUNDLE_SIZE),
      },
    );
  }
  const m = bundleMagic(kind);
  for (const [field, off] of [
    ['magic', BUNDLE_OFFSETS.magic],
    ['magic2', BUNDLE_OFFSETS.magic2],
  ] as const) {
    const v = readU64(bytes, off);
    if (v !== m) {
      const other = kind === 'cm' ? DM_BUNDLE_MAGIC : CM_BUNDLE_MAGIC;
      const hint = v === other ? ` (that is the ${kind === 'cm' ? 'DM' : 'CM'} bundle magic)` : '';
      throw new RseError('E_BAD_MAGIC', `${source}: ${field} is 0x${v.toString(16)}, expected 0x${m.toString(16)}${hint}`, {
        field,
        offset: off,
      });
    }
  }
}

/** Decrypts and authenticates a bundle; `E_AUTH` when the tag does not verify. */
export function decodeBundle(kind: BundleKind, key: Uint8Array, bytes: Uint8Array, source = 'bundle'): BundlePlain {
  checkBundleShape(kind, bytes, source);
  const pt = aesCcmDecrypt(
    key,
    bytes.subarray(BUNDLE_OFFSETS.nonce, BUNDLE_OFFSETS.nonce + 12),
    bytes.subarray(0, 8),
    bytes.subarray(BUNDLE_OFFSETS.code, BUNDLE_OFFSETS.nonce),
    bytes.subarray(BUNDLE_OFFSETS.tag, BUNDLE_OFFSETS.tag + 16),
  );
  if (pt === undefined) {
    throw new RseError('E_AUTH', `${source}: the ${kind.toUpperCase()} bundle does not authenticate with this device's provisioning key`, {
      field: 'tag',
      offset: BUNDLE_OFFSETS.tag,
    });
  }
  return {
    code: pt.subarray(0, BUNDLE_CODE_SIZE),
    values: pt.subarray(BUNDLE_CODE_SIZE, BUNDLE_CODE_SIZE + BUNDLE_VALUES_SIZE),
    data: pt.subarray(BUNDLE_CODE_SIZE + BUNDLE_VALUES_SIZE),
  };
}

// ---------------------------------------------------------------------------------------------
// Values structs

export const BL1_2_CODE_SIZE = 0x2000;
export const OTP_DMA_ICS_SIZE = 0x400;

/** `struct cm_provisioning_data` of TF-M 2.1. */
export interface CmValues {
  readonly bl1_2ImageHash: Uint8Array;
  /** The BL1_2 image, zero-padded to 8 KiB. */
  readonly bl1_2Image: Uint8Array;
  /** The OTP ICS blob: zero count ‖ 0 ‖ commands padded to 0x3F8. */
  readonly dmaOtpIcs: Uint8Array;
  readonly guk: Uint8Array;
  readonly ccaSystemProperties: number;
}

export const CM_VALUES_LAYOUT = {
  bl1_2ImageHash: 0,
  bl1_2Image: 0x20,
  dmaOtpIcs: 0x2020,
  guk: 0x2420,
  ccaSystemProperties: 0x2440,
  end: 0x2444,
} as const;

/** `struct dm_provisioning_data` of TF-M 2.1 for one RSE, four images and 32-byte ROTPK hashes. */
export interface DmValues {
  readonly rseId: number;
  readonly sendTable: number;
  readonly receiveTable: number;
  readonly bl1Rotpk0: Uint8Array;
  readonly bl2EncryptionKey: Uint8Array;
  readonly bl2Rotpk: readonly Uint8Array[];
  readonly sImageEncryptionKey: Uint8Array;
  readonly nsImageEncryptionKey: Uint8Array;
  readonly hostRotpkS: Uint8Array;
  readonly hostRotpkNs: Uint8Array;
  readonly hostRotpkCca: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly verificationServiceUrl: Uint8Array;
  readonly profileDefinition: Uint8Array;
  readonly secureDebugPk: Uint8Array;
}

export const DM_VALUES_LAYOUT = {
  rseId: 0,
  sendTable: 4,
  receiveTable: 8,
  bl1Rotpk0: 12,
  bl2EncryptionKey: 68,
  bl2Rotpk: 100,
  sImageEncryptionKey: 228,
  nsImageEncryptionKey: 260,
  hostRotpkS: 292,
  hostRotpkNs: 388,
  hostRotpkCca: 484,
  implementationId: 580,
  verificationServiceUrl: 612,
  profileDefinition: 644,
  secureDebugPk: 676,
  end: 708,
} as const;

const DM_SIZES = {
  bl1Rotpk0: 56,
  bl2EncryptionKey: 32,
  sImageEncryptionKey: 32,
  nsImageEncryptionKey: 32,
  hostRotpkS: 96,
  hostRotpkNs: 96,
  hostRotpkCca: 96,
  implementationId: 32,
  verificationServiceUrl: 32,
  profileDefinition: 32,
  secureDebugPk: 32,
} as const;

function put(out: Uint8Array, off: number, v: Uint8Array, size: number, field: string): void {
  if (v.length > size) throw new RseError('E_CONFIG', `${field} is ${v.length} bytes, the field holds ${size}`, { field });
  out.set(v, off);
}

/**
 * The OTP ICS blob the CM bundle tool builds: [zero count u32][0 u32][ICS padded to 0x3F8].
 * The zero count reproduces the tool exactly: the number of '0' characters in Python's
 * `bin(int.from_bytes(ics, 'big'))`, i.e. the zero bits after the first set bit, plus one for
 * the "0b" prefix (2 for an all-zero ICS).
 */
export function otpIcsBlob(ics: Uint8Array): Uint8Array {
  if (ics.length > OTP_DMA_ICS_SIZE - 8)
    throw new RseError('E_SIZE', `the OTP ICS is ${ics.length} bytes, at most ${OTP_DMA_ICS_SIZE - 8} fit`, { field: 'ics' });
  const padded = new Uint8Array(OTP_DMA_ICS_SIZE - 8);
  padded.set(ics);
  const first = padded.findIndex((b) => b !== 0);
  let zeros = 2;
  if (first >= 0) {
    const leading = 8 * first + Math.clz32(padded[first] as number) - 24;
    const digits = padded.length * 8 - leading;
    zeros = 1 + digits - (padded.length * 8 - zeroBits(padded));
  }
  const out = new Uint8Array(OTP_DMA_ICS_SIZE);
  out.set(u32le(zeros), 0);
  out.set(padded, 8);
  return out;
}

/** Builds the CM values struct; the BL1_2 image is zero-padded to 8 KiB and hashed as such. */
export function encodeCmValues(v: { bl1_2Image: Uint8Array; ics: Uint8Array; guk: Uint8Array; ccaSystemProperties: number }): Uint8Array {
  if (v.bl1_2Image.length > BL1_2_CODE_SIZE) {
    throw new RseError('E_SIZE', `the BL1_2 image is ${v.bl1_2Image.length} bytes, at most ${hex0x(BL1_2_CODE_SIZE)} fit in OTP`, {
      field: 'bl1_2_image',
    });
  }
  const image = new Uint8Array(BL1_2_CODE_SIZE);
  image.set(v.bl1_2Image);
  const out = new Uint8Array(CM_VALUES_LAYOUT.end);
  out.set(hash('sha256', image), CM_VALUES_LAYOUT.bl1_2ImageHash);
  out.set(image, CM_VALUES_LAYOUT.bl1_2Image);
  out.set(otpIcsBlob(v.ics), CM_VALUES_LAYOUT.dmaOtpIcs);
  put(out, CM_VALUES_LAYOUT.guk, v.guk, 32, 'guk');
  out.set(u32le(v.ccaSystemProperties), CM_VALUES_LAYOUT.ccaSystemProperties);
  return out;
}

export function decodeCmValues(b: Uint8Array): CmValues {
  const L = CM_VALUES_LAYOUT;
  return {
    bl1_2ImageHash: b.slice(L.bl1_2ImageHash, L.bl1_2Image),
    bl1_2Image: b.slice(L.bl1_2Image, L.dmaOtpIcs),
    dmaOtpIcs: b.slice(L.dmaOtpIcs, L.guk),
    guk: b.slice(L.guk, L.ccaSystemProperties),
    ccaSystemProperties: getU32(b, L.ccaSystemProperties),
  };
}

export function encodeDmValues(v: DmValues): Uint8Array {
  const L = DM_VALUES_LAYOUT;
  const out = new Uint8Array(L.end);
  out.set(u32le(v.rseId), L.rseId);
  out.set(u32le(v.sendTable), L.sendTable);
  out.set(u32le(v.receiveTable), L.receiveTable);
  for (const [k, size] of Object.entries(DM_SIZES) as [keyof typeof DM_SIZES, number][]) put(out, L[k], v[k], size, k);
  if (v.bl2Rotpk.length !== 4)
    throw new RseError('E_CONFIG', `bl2_rotpk needs 4 entries (one per image), got ${v.bl2Rotpk.length}`, { field: 'bl2_rotpk' });
  v.bl2Rotpk.forEach((r, i) => {
    put(out, L.bl2Rotpk + 32 * i, r, 32, `bl2_rotpk[${i}]`);
  });
  return out;
}

export function decodeDmValues(b: Uint8Array): DmValues {
  const L = DM_VALUES_LAYOUT;
  const s = (k: keyof typeof DM_SIZES): Uint8Array => b.slice(L[k], L[k] + DM_SIZES[k]);
  return {
    rseId: getU32(b, L.rseId),
    sendTable: getU32(b, L.sendTable),
    receiveTable: getU32(b, L.receiveTable),
    bl1Rotpk0: s('bl1Rotpk0'),
    bl2EncryptionKey: s('bl2EncryptionKey'),
    bl2Rotpk: [0, 1, 2, 3].map((i) => b.slice(L.bl2Rotpk + 32 * i, L.bl2Rotpk + 32 * (i + 1))),
    sImageEncryptionKey: s('sImageEncryptionKey'),
    nsImageEncryptionKey: s('nsImageEncryptionKey'),
    hostRotpkS: s('hostRotpkS'),
    hostRotpkNs: s('hostRotpkNs'),
    hostRotpkCca: s('hostRotpkCca'),
    implementationId: s('implementationId'),
    verificationServiceUrl: s('verificationServiceUrl'),
    profileDefinition: s('profileDefinition'),
    secureDebugPk: s('secureDebugPk'),
  };
}
