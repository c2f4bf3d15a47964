/**
 * A virtual RSE as a directory of plain images (`otp.bin`, `rom.bin`, `flash.bin`,
 * `sram-vm0.bin`, `sram-vm1.bin`, `krtl.bin`) and one `device.json`. Every OTP program
 * operation is persisted at once with an atomic, durable write, as a real fuse is blown at once;
 * a fault plan can cut the power before program operation N.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type RandomSource, randomBytes } from '../crypto/index.ts';
import { KMU_SLOT, Kmu } from '../crypto/kmu.ts';
import { makeDirectory, readStateFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import type { FaultPlan } from '../lib/power-cut.ts';
import { bool, type Check, int, object, oneOf, optional, SchemaError, str, u32 } from '../lib/schema.ts';
import { HW_KEY_SLOTS, LCM_OTP, Lcm, OTP_SIZE, type OtpProgram } from '../otp/lcm.ts';
import { PlatOtp } from '../otp/plat-otp.ts';
import { asRseProfile, findRseProfile, profileVariant, type RseProfile, rseProfile, rseProfileNames } from '../profiles/index.ts';

/** Where a device keeps its files. */
export interface DeviceStore {
  read(name: string): Uint8Array | undefined;
  /** Writes a file whole; `secret` files (a key built into the firmware) are created 0600. */
  write(name: string, data: Uint8Array, options?: { readonly secret?: boolean }): void;
  /** Human-readable location, for messages. */
  readonly where: string;
}

/** A device directory; every write is atomic and durable. */
export class DirStore implements DeviceStore {
  readonly where: string;
  constructor(dir: string) {
    this.where = dir;
  }
  read(name: string): Uint8Array | undefined {
    // The largest device file is the host flash (64 MiB at most).
    return readStateFile(join(this.where, name), 256 * 1024 * 1024);
  }
  write(name: string, data: Uint8Array, options: { readonly secret?: boolean } = {}): void {
    writeFileAtomic(join(this.where, name), data, { durable: true, secret: options.secret === true });
  }
}

/** An in-memory store (tests, benchmarks, fault campaigns). */
export class MemoryStore implements DeviceStore {
  readonly where = '(memory)';
  readonly files: Map<string, Uint8Array> = new Map();
  read(name: string): Uint8Array | undefined {
    return this.files.get(name)?.slice();
  }
  write(name: string, data: Uint8Array): void {
    this.files.set(name, data.slice());
  }
  clone(): MemoryStore {
    const m = new MemoryStore();
    for (const [k, v] of this.files) m.files.set(k, v.slice());
    return m;
  }
}

export { FaultPlan, PowerCut } from '../lib/power-cut.ts';

/** `device.json`. */
export interface DeviceJson {
  readonly format: 1;
  /** The profile's name ({@link RseProfile.name}). */
  readonly profile: string;
  /** The ROM was built with `TFM_DUMMY_PROVISIONING` (sets TP mode itself). */
  readonly dummyProvisioning: boolean;
  /** TP mode the dummy ROM selects. */
  readonly romTpMode: 'TCI' | 'PCI';
  /**
   * LCM hardware revision. 0 (TF-M 2.1's `LCM_VERSION=0`, the default) needs the ROM to arm the
   * CM→DM and DM→SE transitions when secure provisioning starts; 1 transitions only when the
   * provisioning code asks for it. Absent means 0.
   */
  readonly lcmVersion?: 0 | 1;
  /**
   * The firmware was built with `RSE_XIP` (profiles with an `xip` variant): VM0 and VM1 are 64 KiB each, BL2 loads
   * the signed SIC tables as images 0/1 and the S/NS runtimes execute in place through the SIC.
   * Absent means false.
   */
  readonly xip?: boolean;
  /**
   * Build options of a message-provisioned firmware (rse-2.3) that differ from the profile's
   * defaults: `RSE_ROTPK_REVOCATION`, `MCUBOOT_IMAGE_BINDING`. Absent means the defaults.
   */
  readonly build?: { readonly [K in BuildOption]?: boolean };
  /**
   * Profiles whose firmware's attestation HAL fixes the identity claims (rse-2.3): what a product's
   * HAL returns instead of TF-M's dummies; `implementationId` is 32 bytes, hex.
   */
  readonly attestHal?: { readonly implementationId?: string };
  /**
   * `provisioning_staging_status` of the persistent data: `runtime` when the staged message was
   * handed over by the runtime for BL1_2 (revocation), `bl1_2` when a rig staged it for BL1_2 with
   * no flash attached (non-endorsed DM ROTPKs in SE); absent otherwise.
   */
  staging?: 'runtime' | 'bl1_2';
  /** PSI/GPIO state (low 4 bits of gretreg) at the end of the last boot. */
  psi: number;
  /** How many cold boots this device has done. */
  boots: number;
  /** One line about the last boot. */
  lastBoot?: string;
}

/** The device file holding the private key BL2 decrypts images with (`MCUBOOT_ENC_IMAGES` builds). */
export const BL2_ENC_KEY_FILE = 'bl2-enc-key.der';

/** The upstream dummy PCI RTL key (`rse/common/provisioning/pci_krtl_dummy.bin`). */
export const DUMMY_PCI_KRTL: Uint8Array = fromHex('35bce8a4a9a8cc591f3184ebabbd15cc84c72bfcda58849341c2dc30b7e0fe7b');

/** How {@link Device.create} makes a device: profile, RTL key, ROM, TP mode, LCM revision, XIP. */
export interface CreateOptions {
  /** The profile, or its name. */
  readonly profile: RseProfile | string;
  /** The device's RTL key (used in PCI mode); the upstream dummy by default. */
  readonly krtl?: Uint8Array;
  readonly dummyProvisioning?: boolean;
  readonly romTpMode?: 'TCI' | 'PCI';
  readonly lcmVersion?: 0 | 1;
  readonly rom?: Uint8Array;
  /** An `RSE_XIP` build (profiles with an `xip` variant). */
  readonly xip?: boolean;
  /** Message-provisioned profiles: built with `RSE_ROTPK_REVOCATION`. */
  readonly rotpkRevocation?: boolean;
  /** Message-provisioned profiles: built with `RSE_NON_ENDORSED_DM_PROVISIONING`. */
  readonly nonEndorsedDm?: boolean;
  /** Message-provisioned profiles: built with `RSE_ENABLE_CHIP_OUTPUT_DATA`. */
  readonly chipOutputData?: boolean;
  /** Profiles with image binding (rse-2.3): built with `MCUBOOT_IMAGE_BINDING`. */
  readonly imageBinding?: boolean;
  /** Profiles with multi-signature BL2 (rse-2.3): built with `MCUBOOT_IMAGE_MULTI_SIG_SUPPORT`. */
  readonly multiSig?: boolean;
  /**
   * Profiles with `MCUBOOT_ENC_IMAGES` (rse-2.3): the private key built into BL2 that unwraps each
   * encrypted image's AES key (RSA-2048 for ENC_RSA2048, P-256 for ENC_EC256, X25519 for
   * ENC_X25519), PKCS#8 DER; kept in the device as {@link BL2_ENC_KEY_FILE}, mode 0600.
   */
  readonly encKey?: Uint8Array;
  /** `MCUBOOT_ENC_IMAGES`: implied by {@link encKey}, which it needs. */
  readonly encImages?: boolean;
  /** Profiles whose attestation HAL gives the implementation id (rse-2.3): a product's own, 32 bytes. */
  readonly implementationId?: Uint8Array;
  /**
   * More files the new device holds from the start (what its firmware images were built with,
   * e.g. 1.7's provisioning data); see `createDevice` in `rsekit/boot`.
   */
  readonly files?: Readonly<Record<string, Uint8Array>>;
}

/** Options of {@link Device.open}: a fault plan and the TRNG. */
export interface OpenOptions {
  readonly faults?: FaultPlan;
  readonly trng?: RandomSource;
}

/** One virtual RSE. */
export class Device {
  readonly store: DeviceStore;
  readonly json: DeviceJson;
  /** The device's profile, its build variant applied. */
  readonly profile: RseProfile;
  readonly otp: Uint8Array;
  readonly lcm: Lcm;
  readonly kmu = new Kmu();
  readonly plat: PlatOtp;
  readonly krtl: Uint8Array;
  readonly trng: RandomSource;
  readonly faults: FaultPlan | undefined;
  /** SRAM images (VM0, VM1): survive warm resets; written back by {@link Device.saveSram}. */
  readonly vm0: Uint8Array;
  readonly vm1: Uint8Array;
  /** PSI/GPIO state. */
  psi: number;

  private constructor(store: DeviceStore, json: DeviceJson, profile: RseProfile, otp: Uint8Array, krtl: Uint8Array, options: OpenOptions) {
    this.store = store;
    this.json = json;
    this.profile = profile;
    this.otp = otp;
    this.krtl = krtl;
    this.trng = options.trng ?? randomBytes;
    this.faults = options.faults;
    this.psi = json.psi;
    this.vm0 = sramImage(store.read('sram-vm0.bin'), profile.memory.vm0Size);
    this.vm1 = sramImage(store.read('sram-vm1.bin'), profile.memory.vm1Kept);
    const faults = options.faults;
    this.lcm = new Lcm(otp, {
      ...(faults === undefined
        ? {}
        : { onProgram: (op: OtpProgram) => faults.point(`OTP program operation: ${op.what} at 0x${op.offset.toString(16)}`) }),
      afterProgram: () => store.write('otp.bin', otp),
    });
    this.plat = new PlatOtp(this.lcm, profile.otp, () => this.kmu.use(KMU_SLOT.KCE_CM));
    this.resetKmu();
  }

  /** Creates a fresh (Virgin, CM) device in `store`. */
  static create(store: DeviceStore, options: CreateOptions): Device {
    const krtl = options.krtl ?? DUMMY_PCI_KRTL;
    if (krtl.length !== 32) throw new RseError('E_KEY', `the RTL key must be 32 bytes, got ${krtl.length}`, { field: 'krtl' });
    const base = asRseProfile(options.profile);
    const xip = options.xip ?? false;
    const built = profileVariant(base, xip);
    if (built === undefined) throw new RseError('E_ARGUMENT', `XIP is a build option ${base.name} does not have`, { field: 'xip' });
    const build: { [K in BuildOption]?: boolean } = {};
    if (options.encImages === true && options.encKey === undefined)
      throw new RseError('E_ARGUMENT', 'an MCUBOOT_ENC_IMAGES build needs the key BL2 decrypts images with', { field: 'encKey' });
    const wanted = { ...options, ...(options.encKey === undefined ? {} : { encImages: true }) };
    for (const k of Object.keys(BUILD_OPTIONS) as BuildOption[]) {
      if (wanted[k] !== true) continue;
      if (!BUILD_OPTIONS[k].has(built))
        throw new RseError('E_ARGUMENT', `${BUILD_OPTIONS[k].macro} is not a build option of ${base.name}`, { field: k });
      build[k] = true;
    }
    const implId = options.implementationId;
    if (implId !== undefined) {
      if (built.runtime.attestationIds === undefined)
        throw new RseError('E_ARGUMENT', `${base.name} reads the implementation id from OTP: provision it instead`, {
          field: 'implementationId',
        });
      if (implId.length !== 32)
        throw new RseError('E_ARGUMENT', `the implementation id must be 32 bytes (the CCA platform profile), got ${implId.length}`, {
          field: 'implementationId',
        });
    }
    const romSize = built.memory.romSize;
    const rom = new Uint8Array(romSize);
    if (options.rom !== undefined) {
      if (options.rom.length > romSize)
        throw new RseError('E_SIZE', `the ROM image is ${options.rom.length} bytes, the ROM holds ${romSize}`, { field: 'rom' });
      rom.set(options.rom);
    }
    const json: DeviceJson = {
      format: 1,
      profile: base.name,
      dummyProvisioning: options.dummyProvisioning ?? true,
      romTpMode: options.romTpMode ?? 'TCI',
      lcmVersion: options.lcmVersion ?? 0,
      ...(xip ? { xip } : {}),
      ...(Object.keys(build).length > 0 ? { build } : {}),
      ...(implId === undefined ? {} : { attestHal: { implementationId: toHex(implId) } }),
      psi: 0,
      boots: 0,
    };
    store.write('otp.bin', new Uint8Array(OTP_SIZE));
    store.write('rom.bin', rom);
    store.write('flash.bin', new Uint8Array(0));
    store.write('krtl.bin', krtl);
    store.write('sram-vm0.bin', new Uint8Array(built.memory.vm0Size));
    store.write('sram-vm1.bin', new Uint8Array(built.memory.vm1Kept));
    for (const [name, bytes] of Object.entries(options.files ?? {})) store.write(name, bytes);
    if (options.encKey !== undefined) store.write(BL2_ENC_KEY_FILE, options.encKey, { secret: true });
    store.write('device.json', new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
    return Device.open(store);
  }

  /** Opens a device; checks every file it needs. */
  static open(store: DeviceStore, options: OpenOptions = {}): Device {
    const raw = store.read('device.json');
    if (raw === undefined)
      throw new RseError('E_DEVICE', `${store.where} is not a device: device.json is missing`, { field: 'device.json' });
    let json: DeviceJson;
    try {
      json = JSON.parse(new TextDecoder().decode(raw)) as DeviceJson;
    } catch (e) {
      throw new RseError('E_DEVICE', `${store.where}/device.json is not JSON: ${(e as Error).message}`, { field: 'device.json' });
    }
    try {
      json = deviceJsonOf(json);
    } catch (e) {
      if (e instanceof SchemaError)
        throw new RseError('E_DEVICE', `${store.where}/device.json: ${e.message}`, { field: `device.json ${e.path}` });
      throw e;
    }
    const profile = withBuild(profileVariant(rseProfile(json.profile), json.xip === true) as RseProfile, json.build);
    const otp = store.read('otp.bin');
    if (otp === undefined || otp.length !== OTP_SIZE) {
      throw new RseError('E_DEVICE', `${store.where}/otp.bin must be ${OTP_SIZE} bytes`, { field: 'otp.bin', offset: otp?.length ?? 0 });
    }
    const krtl = store.read('krtl.bin') ?? DUMMY_PCI_KRTL;
    if (krtl.length !== 32) throw new RseError('E_DEVICE', `${store.where}/krtl.bin must be 32 bytes`, { field: 'krtl.bin' });
    return new Device(store, json, profile, otp, krtl, options);
  }

  /** An `RSE_XIP` build. */
  get xip(): boolean {
    return this.json.xip === true;
  }

  get lcmVersion(): 0 | 1 {
    return this.json.lcmVersion ?? 0;
  }

  /** Reloads the KMU hardware slots from the OTP and the RTL key (reset). */
  resetKmu(): void {
    const tci = this.lcm.tpMode === 'TCI';
    const hw = [tci ? new Uint8Array(32) : this.krtl, ...HW_KEY_SLOTS.map((s) => this.otp.slice(LCM_OTP[s], LCM_OTP[s] + 32))];
    this.kmu.reset(hw);
  }

  /** Cold reset: LCM re-latches, KMU reloads, SP mode off. SRAM is kept (the rig preloads it). */
  coldReset(): void {
    this.lcm.coldReset();
    this.resetKmu();
  }

  /** The reset that SP-mode enabling causes: nothing re-latched, SRAM kept. */
  spReset(): void {
    this.lcm.spReset();
    this.resetKmu();
  }

  /** Writes the SRAM images back (only `which` when the other did not change). */
  saveSram(which: 'vm0' | 'vm1' | 'both' = 'both'): void {
    if (which !== 'vm1') this.store.write('sram-vm0.bin', this.vm0);
    if (which !== 'vm0') this.store.write('sram-vm1.bin', this.vm1);
  }

  saveJson(): void {
    this.json.psi = this.psi;
    this.store.write('device.json', new TextEncoder().encode(`${JSON.stringify(this.json, null, 2)}\n`));
  }
}

/** `build`: own keys only, each a known build option, true or false. */
const BUILD: Check<{ [K in BuildOption]?: boolean }> = (v, p) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SchemaError(p, 'must be an object');
  const out: { [K in BuildOption]?: boolean } = {};
  for (const [k, x] of Object.entries(v)) {
    if (!Object.hasOwn(BUILD_OPTIONS, k))
      throw new SchemaError(`${p}.${k}`, `is not a build option (${Object.keys(BUILD_OPTIONS).join(', ')})`);
    out[k as BuildOption] = bool(x, `${p}.${k}`);
  }
  return out;
};

/** `device.json` of an RSE device: every field, typed (the profile's own rules are checked after). */
const DEVICE_JSON = object({
  format: oneOf([1] as const),
  profile: str(),
  dummyProvisioning: bool,
  romTpMode: oneOf(['TCI', 'PCI'] as const),
  lcmVersion: optional(oneOf([0, 1] as const)),
  xip: optional(bool),
  build: optional(BUILD),
  attestHal: optional(object({ implementationId: optional(str(/^[0-9a-f]{64}$/, '64 lower-case hex digits (32 bytes)')) })),
  staging: optional(oneOf(['runtime', 'bl1_2'] as const)),
  psi: u32,
  boots: int(0, Number.MAX_SAFE_INTEGER),
  lastBoot: optional(str()),
});

/** A parsed device.json (read from disk, so untrusted) checked into a {@link DeviceJson}; a SchemaError names what is wrong. */
function deviceJsonOf(j: unknown): DeviceJson {
  const o = DEVICE_JSON(j, '');
  const known = findRseProfile(o.profile);
  if (known === undefined) throw new SchemaError('profile', `must be one of ${rseProfileNames().join(', ')}`);
  if (o.xip === true && known.variants.xip === undefined) throw new SchemaError('xip', `is not a build option of ${known.name}`);
  for (const [k, v] of Object.entries(o.build ?? {})) {
    const opt = BUILD_OPTIONS[k as BuildOption];
    if (v && !opt.has(known)) throw new SchemaError(`build.${k}`, `(${opt.macro}) is not a build option of ${known.name}`);
  }
  if (o.attestHal !== undefined && known.runtime.attestationIds === undefined)
    throw new SchemaError('attestHal', `must be absent: ${known.name} reads the attestation identity from OTP`);
  return o as DeviceJson;
}

/** A provisioning build option of a message-provisioned profile: a flag of its message table. */
function messagesOption(macro: string, key: 'rotpkRevocation' | 'nonEndorsedDm' | 'chipOutputData') {
  return {
    macro,
    has: (p: RseProfile): boolean => p.provisioning.messages !== undefined,
    apply: (p: RseProfile): RseProfile => {
      const m = p.provisioning.messages;
      return m === undefined ? p : { ...p, provisioning: { ...p.provisioning, messages: { ...m, [key]: true } } };
    },
  };
}

/** A BL2 build option: the profile has it when its table is there; the build turns it on. */
function bl2Option(macro: string, key: 'imageBinding' | 'encImages' | 'multiSig') {
  return {
    macro,
    has: (p: RseProfile): boolean => p.bl2[key] !== undefined,
    apply: (p: RseProfile): RseProfile => {
      const t = p.bl2[key];
      return t === undefined ? p : { ...p, bl2: { ...p.bl2, [key]: { ...t, enabled: true } } };
    },
  };
}

/** The firmware build options a device may have beyond its profile's defaults: the macro, whether the profile has it, and what it changes. */
const BUILD_OPTIONS = {
  rotpkRevocation: messagesOption('RSE_ROTPK_REVOCATION', 'rotpkRevocation'),
  nonEndorsedDm: messagesOption('RSE_NON_ENDORSED_DM_PROVISIONING', 'nonEndorsedDm'),
  chipOutputData: messagesOption('RSE_ENABLE_CHIP_OUTPUT_DATA', 'chipOutputData'),
  imageBinding: bl2Option('MCUBOOT_IMAGE_BINDING', 'imageBinding'),
  encImages: bl2Option('MCUBOOT_ENC_IMAGES', 'encImages'),
  multiSig: bl2Option('MCUBOOT_IMAGE_MULTI_SIG_SUPPORT', 'multiSig'),
} as const;

/** A firmware build option of {@link DeviceJson.build}. */
export type BuildOption = keyof typeof BUILD_OPTIONS;

/** The profile with a device's build options applied. */
function withBuild(p: RseProfile, build: DeviceJson['build']): RseProfile {
  let out = p;
  for (const k of Object.keys(BUILD_OPTIONS) as BuildOption[]) if (build?.[k] === true) out = BUILD_OPTIONS[k].apply(out);
  return out;
}

function sramImage(b: Uint8Array | undefined, size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (b !== undefined) out.set(b.subarray(0, size));
  return out;
}

/**
 * A device opened from a copy of its directory's files in memory (read with `read`): what runs on
 * it (a boot for a report, BL1 for an identity) never touches the directory.
 */
export function openDeviceCopy(dir: string, read: (path: string) => Uint8Array): Device {
  if (!isDeviceDir(dir)) throw new RseError('E_DEVICE', `${dir} is not a device directory`, { field: dir });
  const mem = new MemoryStore();
  for (const name of readdirSync(dir)) if (statSync(join(dir, name)).isFile()) mem.files.set(name, read(join(dir, name)));
  return Device.open(mem);
}

/** Whether `dir` looks like a device directory. */
export function isDeviceDir(dir: string): boolean {
  return existsSync(join(dir, 'device.json')) && existsSync(join(dir, 'otp.bin'));
}

/** Creates the directory for a new device; refuses a non-empty one. */
export function prepareDeviceDir(dir: string, force: boolean): void {
  if (existsSync(dir)) {
    if (readdirSync(dir).length > 0 && !force) {
      throw new RseError('E_EXISTS', `${dir} exists and is not empty (use --force to replace the device)`, { field: dir });
    }
  } else makeDirectory(dir);
}
