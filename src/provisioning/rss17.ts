/**
 * RSS (TF-M 1.7) provisioning: three plain-text stages instead of encrypted bundles.
 *
 * - BL1_1 reads the "assembly and test" bundle from ROM offset 0xE000 (magic 0xC0DEFEED; the
 *   layout of `bl1/bl1_1/scripts/create_provisioning_bundle.py`) and, in LCS CM, writes the BL2
 *   encryption key, GUK, BL1_2 and BL2 hashes, BL1_2 image and BL1 ROTPK;
 * - BL2, in CM, writes the BL2 ROTPK hashes compiled into it;
 * - TF-M, in CM, writes the HUK compiled into it and moves to DM (a reset); in DM it writes the
 *   host ROTPKs and the attestation data and moves to SE (a reset).
 *
 * TP mode Virgin → TCI and secure-provisioning mode are set by `tfm_plat_otp_init` without a
 * debugger. The BL2 and TF-M data are what those images were built with; a device keeps them as
 * `fw-bl2-prov.bin` and `fw-tfm-prov.bin`, in the exact C struct layouts. Their code is not
 * executed and BL1_2/BL2 do not verify images here yet: only the provisioning each stage does.
 * @module
 */
import { hash } from '../crypto/index.ts';
import type { Device } from '../device/device.ts';
import { concatBytes, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex } from '../lib/hex.ts';
import { describeFailure, type RomEvent, type RomOutcome } from './rom.ts';
import {
  bl1RotpkOf,
  bl2Rotpk,
  bytesOf,
  type Desc,
  DUMMY,
  hostRotpk,
  isRecord,
  placeholderBl1_2,
  type ReadFile,
  stringField,
  u32Of,
} from './values.ts';

/** `ASSEMBLY_AND_TEST_PROV_DATA_MAGIC` (ROM bundle, BL2 data, TF-M HUK data). */
export const AT_MAGIC = 0xc0defeed;
/** `PSA_ROT_PROV_DATA_MAGIC` (TF-M's DM-stage data). */
export const PSA_ROT_MAGIC = 0xbeeffeed;

/** Where BL1_1 reads its bundle: ROM offset 0xE000 (0x1100E000), 9 KiB. */
export const ROM_BUNDLE_OFFSET = 0xe000;
export const ROM_BUNDLE_AREA = 0x2400;

const BL1_2_SIZE = 0x2000;

/** `bl1_assembly_and_test_provisioning_data_t`, packed. */
export const ROM_BUNDLE_LAYOUT = {
  magic: { offset: 0, size: 4 },
  bl2_encryption_key: { offset: 4, size: 32 },
  guk: { offset: 0x24, size: 32 },
  bl1_2_image_hash: { offset: 0x44, size: 32 },
  bl2_image_hash: { offset: 0x64, size: 32 },
  bl1_2_image: { offset: 0x84, size: BL1_2_SIZE },
  bl1_rotpk_0: { offset: 0x2084, size: 56 },
} as const;
export const ROM_BUNDLE_SIZE = 0x20bc;

/** `bl2_assembly_and_test_provisioning_data_t` without ADAC: magic and four ROTPK hashes. */
export const BL2_DATA_SIZE = 4 + 4 * 32;
/** TF-M's two structs back to back: assembly-and-test (magic, HUK), then PSA-RoT. */
export const TFM_AT_SIZE = 4 + 32;
export const TFM_PSA_ROT_SIZE = 4 + 3 * 96 + 5 * 32 + 4;
export const TFM_DATA_SIZE = TFM_AT_SIZE + TFM_PSA_ROT_SIZE;

/** TF-M 1.7's dummy provisioning values where they differ from 2.1's. */
export const DUMMY17: {
  readonly guk: Uint8Array;
  readonly bl2_encryption_key: Uint8Array;
  readonly bl1_rotpk_0: Uint8Array;
  readonly huk: Uint8Array;
  readonly boot_seed: Uint8Array;
  readonly implementation_id: Uint8Array;
  readonly cert_ref: string;
  readonly verification_service_url: string;
  readonly profile_definition: string;
  readonly cca_system_properties: number;
  readonly host_rotpk: Uint8Array;
} = {
  /** `bl1/bl1_1/dummy_guk.bin` and `bl1/bl1_2/bl2_dummy_encryption_key.bin`. */
  guk: DUMMY.guk,
  bl2_encryption_key: DUMMY.bl2_encryption_key,
  /** `bl1/bl1_2/bl1_dummy_rotpk.pub` without its 4-byte HSS level count. */
  bl1_rotpk_0: fromHex('0000000600000004fb89cf5b00222c834f3aea4fd51e109407e878a4621e12301fcfaf1a003ae2878388b73a861ce0863305b67eb4250916'),
  huk: fromHex('000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f'),
  boot_seed: Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i),
  implementation_id: DUMMY.implementation_id,
  cert_ref: '0604565272829-10010',
  verification_service_url: DUMMY.verification_service_url,
  profile_definition: DUMMY.profile_definition,
  cca_system_properties: 0xdeadbeef,
  host_rotpk: DUMMY.host_rotpk,
};

/** The ROM bundle's fields. */
export interface RomBundle {
  readonly bl2EncryptionKey: Uint8Array;
  readonly guk: Uint8Array;
  readonly bl1_2ImageHash: Uint8Array;
  readonly bl2ImageHash: Uint8Array;
  readonly bl1_2Image: Uint8Array;
  readonly bl1Rotpk0: Uint8Array;
}

/** The BL2 image's provisioning data: BL2 ROTPK hashes 0..3. */
export interface Bl2Data {
  readonly bl2Rotpk: readonly Uint8Array[];
}

/** The TF-M image's provisioning data. */
export interface TfmData {
  readonly huk: Uint8Array;
  readonly hostRotpkS: Uint8Array;
  readonly hostRotpkNs: Uint8Array;
  readonly hostRotpkCca: Uint8Array;
  readonly bootSeed: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly certRef: Uint8Array;
  readonly verificationServiceUrl: Uint8Array;
  readonly profileDefinition: Uint8Array;
  readonly ccaSystemProperties: number;
}

function padTo(b: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(b);
  return out;
}

/** The ROM bundle bytes, exactly as `create_provisioning_bundle.py` packs them (no padding). */
export function encodeRomBundle(b: RomBundle): Uint8Array {
  const parts: [keyof typeof ROM_BUNDLE_LAYOUT, Uint8Array][] = [
    ['bl2_encryption_key', b.bl2EncryptionKey],
    ['guk', b.guk],
    ['bl1_2_image_hash', b.bl1_2ImageHash],
    ['bl2_image_hash', b.bl2ImageHash],
    ['bl1_2_image', b.bl1_2Image],
    ['bl1_rotpk_0', b.bl1Rotpk0],
  ];
  for (const [name, v] of parts) {
    const want = ROM_BUNDLE_LAYOUT[name].size;
    if (v.length !== want) throw new RseError('E_SIZE', `${name} must be ${want} bytes, got ${v.length}`, { field: name });
  }
  return concatBytes([u32le(AT_MAGIC), ...parts.map(([, v]) => v)]);
}

/** Parses a ROM bundle (or the ROM area holding one); checks the magic and the size. */
export function decodeRomBundle(bytes: Uint8Array, source = 'ROM bundle'): RomBundle {
  if (bytes.length < ROM_BUNDLE_SIZE) {
    throw new RseError('E_TRUNCATED', `${source} is ${bytes.length} bytes; the bundle is ${ROM_BUNDLE_SIZE}`, {
      field: 'bundle',
      offset: bytes.length,
    });
  }
  const magic = readU32le(bytes, 0);
  if (magic !== AT_MAGIC) {
    throw new RseError('E_BAD_MAGIC', `${source}: magic 0x${magic.toString(16).toUpperCase()}, expected 0xC0DEFEED`, {
      field: 'magic',
      offset: 0,
    });
  }
  const f = (name: keyof typeof ROM_BUNDLE_LAYOUT): Uint8Array => {
    const l = ROM_BUNDLE_LAYOUT[name];
    return bytes.slice(l.offset, l.offset + l.size);
  };
  return {
    bl2EncryptionKey: f('bl2_encryption_key'),
    guk: f('guk'),
    bl1_2ImageHash: f('bl1_2_image_hash'),
    bl2ImageHash: f('bl2_image_hash'),
    bl1_2Image: f('bl1_2_image'),
    bl1Rotpk0: f('bl1_rotpk_0'),
  };
}

export function encodeBl2Data(d: Bl2Data): Uint8Array {
  if (d.bl2Rotpk.length !== 4 || d.bl2Rotpk.some((r) => r.length !== 32)) {
    throw new RseError('E_SIZE', 'the BL2 data holds four 32-byte ROTPK hashes', { field: 'bl2_rotpk' });
  }
  return concatBytes([u32le(AT_MAGIC), ...d.bl2Rotpk]);
}

/** Parses the BL2 data; `undefined` when the magic is not there (a non-dummy build). */
export function decodeBl2Data(b: Uint8Array): Bl2Data | undefined {
  if (b.length < BL2_DATA_SIZE || readU32le(b, 0) !== AT_MAGIC) return undefined;
  return { bl2Rotpk: [0, 1, 2, 3].map((i) => b.slice(4 + 32 * i, 36 + 32 * i)) };
}

export function encodeTfmData(d: TfmData): Uint8Array {
  const sized: [string, Uint8Array, number][] = [
    ['huk', d.huk, 32],
    ['host_rotpk_s', d.hostRotpkS, 96],
    ['host_rotpk_ns', d.hostRotpkNs, 96],
    ['host_rotpk_cca', d.hostRotpkCca, 96],
    ['boot_seed', d.bootSeed, 32],
    ['implementation_id', d.implementationId, 32],
  ];
  for (const [name, v, n] of sized) if (v.length !== n) throw new RseError('E_SIZE', `${name} must be ${n} bytes`, { field: name });
  return concatBytes([
    u32le(AT_MAGIC),
    d.huk,
    u32le(PSA_ROT_MAGIC),
    d.hostRotpkS,
    d.hostRotpkNs,
    d.hostRotpkCca,
    d.bootSeed,
    d.implementationId,
    padTo(d.certRef, 32),
    padTo(d.verificationServiceUrl, 32),
    padTo(d.profileDefinition, 32),
    u32le(d.ccaSystemProperties),
  ]);
}

/** The TF-M data's two structs; each `undefined` when its magic is missing. */
export function decodeTfmData(b: Uint8Array): { at?: { huk: Uint8Array }; psaRot?: Omit<TfmData, 'huk'> } {
  const out: { at?: { huk: Uint8Array }; psaRot?: Omit<TfmData, 'huk'> } = {};
  if (b.length >= TFM_AT_SIZE && readU32le(b, 0) === AT_MAGIC) out.at = { huk: b.slice(4, 36) };
  const p = TFM_AT_SIZE;
  if (b.length >= TFM_DATA_SIZE && readU32le(b, p) === PSA_ROT_MAGIC) {
    const s = (off: number, n: number): Uint8Array => b.slice(p + off, p + off + n);
    out.psaRot = {
      hostRotpkS: s(4, 96),
      hostRotpkNs: s(100, 96),
      hostRotpkCca: s(196, 96),
      bootSeed: s(292, 32),
      implementationId: s(324, 32),
      certRef: s(356, 32),
      verificationServiceUrl: s(388, 32),
      profileDefinition: s(420, 32),
      ccaSystemProperties: readU32le(b, p + 452),
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Values

const KNOWN17 = {
  rom: ['bl2_encryption_key', 'guk', 'bl1_2_image', 'bl2_image_hash', 'bl1_rotpk_0'],
  bl2: ['bl2_rotpk', 'bl2_rotpk_alg'],
  tfm: [
    'huk',
    'host_rotpk_s',
    'host_rotpk_ns',
    'host_rotpk_cca',
    'boot_seed',
    'implementation_id',
    'cert_ref',
    'verification_service_url',
    'profile_definition',
    'cca_system_properties',
  ],
} as const;

export type Rss17Part = keyof typeof KNOWN17;

/** The `rom:`/`bl2:`/`tfm:` section of a values description (absent: all dummy values). */
function section17(part: Rss17Part, description: unknown): Desc {
  if (description === undefined || description === null) return {};
  if (!isRecord(description)) throw new RseError('E_CONFIG', 'the values file must be a mapping', { field: 'values' });
  const nested = description[part];
  if (nested === undefined) return {};
  if (!isRecord(nested)) throw new RseError('E_CONFIG', `${part}: must be a mapping`, { field: part });
  const known: readonly string[] = KNOWN17[part];
  for (const k of Object.keys(nested)) {
    if (!known.includes(k)) throw new RseError('E_CONFIG', `unknown ${part} value '${k}' (known: ${known.join(', ')})`, { field: k });
  }
  return nested;
}

/** The ROM bundle from the `rom:` section; BL1_2 is zero-padded to 8 KiB and hashed as the build does. */
export function romBundleInputs(description: unknown, read: ReadFile): RomBundle {
  const d = section17('rom', description);
  const raw = d.bl1_2_image === undefined ? placeholderBl1_2() : bytesOf(d.bl1_2_image, 'bl1_2_image', read);
  if (raw.length > BL1_2_SIZE) throw new RseError('E_CONFIG', `bl1_2_image is ${raw.length} bytes; 8 KiB fit`, { field: 'bl1_2_image' });
  const image = padTo(raw, BL1_2_SIZE);
  return {
    bl2EncryptionKey:
      d.bl2_encryption_key === undefined ? DUMMY17.bl2_encryption_key : bytesOf(d.bl2_encryption_key, 'bl2_encryption_key', read, 32),
    guk: d.guk === undefined ? DUMMY17.guk : bytesOf(d.guk, 'guk', read, 32),
    bl1_2ImageHash: hash('sha256', image),
    bl2ImageHash: d.bl2_image_hash === undefined ? new Uint8Array(32) : bytesOf(d.bl2_image_hash, 'bl2_image_hash', read, 32),
    bl1_2Image: image,
    bl1Rotpk0: d.bl1_rotpk_0 === undefined ? DUMMY17.bl1_rotpk_0 : bl1RotpkOf(d.bl1_rotpk_0, read),
  };
}

/** The BL2 data from the `bl2:` section (default: the RSA-3072 dummy hashes, images 0/2/3 alike). */
export function bl2DataInputs(description: unknown, read: ReadFile): Bl2Data {
  const d = section17('bl2', description);
  const alg = (d.bl2_rotpk_alg ?? 'rsa-3072') as string;
  const dummy = DUMMY.bl2_rotpk[alg as keyof typeof DUMMY.bl2_rotpk];
  if (dummy === undefined) {
    throw new RseError('E_CONFIG', `bl2_rotpk_alg must be one of ${Object.keys(DUMMY.bl2_rotpk).join(', ')}`, { field: 'bl2_rotpk_alg' });
  }
  if (d.bl2_rotpk === undefined) return { bl2Rotpk: [dummy[0], dummy[1], dummy[0], dummy[0]] };
  if (!Array.isArray(d.bl2_rotpk) || d.bl2_rotpk.length !== 4) {
    throw new RseError('E_CONFIG', 'bl2_rotpk must list 4 entries (images S, NS, AP BL1, SCP BL1)', { field: 'bl2_rotpk' });
  }
  return { bl2Rotpk: d.bl2_rotpk.map((v: unknown, i: number) => bl2Rotpk(v, `bl2_rotpk[${i}]`, read)) };
}

/** The TF-M data from the `tfm:` section (default: TF-M 1.7's dummy values, CCA profile). */
export function tfmDataInputs(description: unknown, read: ReadFile): TfmData {
  const d = section17('tfm', description);
  const b32 = (name: string, def: Uint8Array): Uint8Array => (d[name] === undefined ? def : bytesOf(d[name], name, read, 32));
  const rotpk = (name: string): Uint8Array => (d[name] === undefined ? DUMMY17.host_rotpk : hostRotpk(d[name], name, read));
  return {
    huk: b32('huk', DUMMY17.huk),
    hostRotpkS: rotpk('host_rotpk_s'),
    hostRotpkNs: rotpk('host_rotpk_ns'),
    hostRotpkCca: rotpk('host_rotpk_cca'),
    bootSeed: b32('boot_seed', DUMMY17.boot_seed),
    implementationId: b32('implementation_id', DUMMY17.implementation_id),
    certRef: stringField(d.cert_ref ?? DUMMY17.cert_ref, 'cert_ref'),
    verificationServiceUrl: stringField(d.verification_service_url ?? DUMMY17.verification_service_url, 'verification_service_url'),
    profileDefinition: stringField(d.profile_definition ?? DUMMY17.profile_definition, 'profile_definition'),
    ccaSystemProperties:
      d.cca_system_properties === undefined ? DUMMY17.cca_system_properties : u32Of(d.cca_system_properties, 'cca_system_properties'),
  };
}

// ---------------------------------------------------------------------------------------------
// The device side

/** Device files holding what the BL2 and TF-M images were built with. */
export const BL2_DATA_FILE = 'fw-bl2-prov.bin';
export const TFM_DATA_FILE = 'fw-tfm-prov.bin';

/** The dummy-provisioning build's BL2 and TF-M data. */
export function dummyFirmwareData(): { bl2: Uint8Array; tfm: Uint8Array } {
  const none = (p: string): Uint8Array => {
    throw new RseError('E_CONFIG', `no file expected (${p})`);
  };
  return { bl2: encodeBl2Data(bl2DataInputs({}, none)), tfm: encodeTfmData(tfmDataInputs({}, none)) };
}

function stageError(events: RomEvent[], stage: string, e: unknown): RomOutcome {
  const d = describeFailure(e);
  events.push({ message: `${stage} provisioning failed: ${d.reason}` });
  return { kind: 'error', ...d, reason: `${stage} provisioning failed: ${d.reason}` };
}

/** A stage found no provisioning data with its magic: BL1_1 and BL2 panic, TF-M stops. */
function noData(events: RomEvent[], stage: string, which: string, field: string, how: string, offset?: number): RomOutcome {
  events.push({ message: `${stage}: no valid ${which} provisioning data; ${stage} ${how}` });
  return {
    kind: 'error',
    reason: `${stage}: no valid ${which} provisioning data found`,
    code: 'E_BAD_MAGIC',
    field,
    ...(offset === undefined ? {} : { offset }),
  };
}

/** BL1_1 in CM: `provision_assembly_and_test` from the ROM bundle. */
function bl1Stage(dev: Device, events: RomEvent[]): RomOutcome | undefined {
  const rom = dev.store.read('rom.bin') ?? new Uint8Array(0);
  const area = rom.subarray(ROM_BUNDLE_OFFSET, ROM_BUNDLE_OFFSET + ROM_BUNDLE_SIZE);
  if (area.length < ROM_BUNDLE_SIZE || readU32le(area, 0) !== AT_MAGIC) {
    return noData(events, 'BL1_1', 'ASSEMBLY_AND_TEST', 'rom bundle magic', 'panics (ROM at 0xE000)', ROM_BUNDLE_OFFSET);
  }
  const b = decodeRomBundle(area);
  try {
    const p = dev.plat;
    p.write('bl2_encryption_key', b.bl2EncryptionKey);
    p.write('guk', b.guk);
    p.write('bl1_2_image_hash', b.bl1_2ImageHash);
    p.write('bl2_image_hash', b.bl2ImageHash);
    p.write('bl1_2_image', b.bl1_2Image);
    p.write('bl1_rotpk_0', b.bl1Rotpk0);
  } catch (e) {
    return stageError(events, 'BL1_1', e);
  }
  events.push({ message: 'BL1_1: ROM bundle written: BL2 encryption key, GUK, BL1_2 and BL2 hashes, BL1_2 image, BL1 ROTPK' });
  return undefined;
}

/** BL2 in CM: the BL2 ROTPK hashes it was built with. */
function bl2Stage(dev: Device, events: RomEvent[]): RomOutcome | undefined {
  const data = decodeBl2Data(dev.store.read(BL2_DATA_FILE) ?? new Uint8Array(0));
  if (data === undefined) return noData(events, 'BL2', 'ASSEMBLY_AND_TEST', BL2_DATA_FILE, 'panics');
  try {
    dev.plat.write('rotpk', data.bl2Rotpk[0] as Uint8Array);
    for (let i = 1; i < 4; i++) dev.plat.write(`bl2_rotpk_${i}`, data.bl2Rotpk[i] as Uint8Array);
  } catch (e) {
    return stageError(events, 'BL2', e);
  }
  events.push({ message: 'BL2: BL2 ROTPK hashes 0..3 written (0 in the LCM ROTPK slot)' });
  return undefined;
}

/** TF-M: HUK then DM in CM; host ROTPKs and attestation data then SE in DM. Each ends in a reset. */
function tfmStage(dev: Device, lcs: 'CM' | 'DM', events: RomEvent[]): RomOutcome {
  const data = decodeTfmData(dev.store.read(TFM_DATA_FILE) ?? new Uint8Array(0));
  const p = dev.plat;
  try {
    if (lcs === 'CM') {
      if (data.at === undefined) return noData(events, 'TF-M', 'ASSEMBLY_AND_TEST', TFM_DATA_FILE, 'stops');
      p.write('huk', data.at.huk);
      p.writeLcs('DM');
      events.push({ message: 'TF-M: HUK written; LCS transition to DM; the RSS resets' });
      return { kind: 'reset', cold: true, reason: 'TF-M moved the LCS to DM' };
    }
    const d = data.psaRot;
    if (d === undefined) return noData(events, 'TF-M', 'PSA_ROT', TFM_DATA_FILE, 'stops');
    p.write('host_rotpk_s', d.hostRotpkS);
    p.write('host_rotpk_ns', d.hostRotpkNs);
    p.write('host_rotpk_cca', d.hostRotpkCca);
    p.write('boot_seed', d.bootSeed);
    p.write('implementation_id', d.implementationId);
    p.write('cert_ref', d.certRef);
    p.write('verification_service_url', d.verificationServiceUrl);
    p.write('profile_definition', d.profileDefinition);
    p.write('cca_system_properties', u32le(d.ccaSystemProperties));
    p.writeLcs('SE');
    events.push({
      message: 'TF-M: host ROTPKs, boot seed, attestation ids and CCA properties written; LCS transition to SE; the RSS resets',
    });
    return { kind: 'reset', cold: true, reason: 'TF-M moved the LCS to SE' };
  } catch (e) {
    return stageError(events, 'TF-M', e);
  }
}

/**
 * One pass of an RSS 1.7 boot after the LCM init: `tfm_plat_otp_init`'s TP-mode and SP-mode
 * steps, then each stage's provisioning in order (BL1_1, BL2, TF-M runtime) while the LCS is CM
 * or DM. Ends in a reset, an error, or "not required" in SE/RMA.
 */
export function rss17Pass(dev: Device, events: RomEvent[]): RomOutcome {
  try {
    const tp = dev.lcm.tpMode;
    if (tp === 'VIRGIN') {
      dev.lcm.setTpMode('TCI');
      events.push({ message: 'TP mode Virgin: tfm_plat_otp_init sets TCI; the RSS resets' });
      return { kind: 'reset', cold: true, reason: 'TP mode TCI set' };
    }
    if (tp !== 'TCI' && tp !== 'PCI') return { kind: 'error', reason: `TP mode register is invalid (${tp})`, code: 'INVALID_TP_MODE' };
    const lcs = dev.lcm.getLcs();
    if (lcs !== 'CM' && lcs !== 'DM') {
      events.push({ message: `LCS ${lcs}: provisioning not required` });
      return { kind: 'not-required' };
    }
    if (!dev.lcm.spEnabled) {
      dev.lcm.setSpEnabled();
      events.push({ message: 'secure provisioning mode enabled; the RSS resets (SRAM kept)' });
      return { kind: 'reset', cold: false, reason: 'secure provisioning mode enabled' };
    }
    if (lcs === 'CM') {
      const bl1 = bl1Stage(dev, events);
      if (bl1 !== undefined) return bl1;
      events.push({ message: 'BL1_2 and BL2 image verification are not modelled in this step; BL2 provisioning runs' });
      const bl2 = bl2Stage(dev, events);
      if (bl2 !== undefined) return bl2;
    } else events.push({ message: 'LCS DM: BL1_1 and BL2 have nothing to provision' });
    return tfmStage(dev, lcs, events);
  } catch (e) {
    return { kind: 'error', ...describeFailure(e) };
  }
}
