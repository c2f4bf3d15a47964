/**
 * The images of a platform description (`rse flash build`): the description's reading rules, and
 * each image built as its format asks (MCUboot with imgtool's parameters, BL1_2's BL1 format, the
 * XIP runtime and its SIC tables), with its slot and ATU-window checks.
 * @module
 */
import { type Bl1Version, formatBl1Version, parseBl1Version, signBl1Image } from '../bl1/image.ts';
import { type Bl1V2Signer, bl1V2ProtectedValues, parseBl1ImageV2, signBl1ImageV2 } from '../bl1/image-v2.ts';
import { type AsymKey, hash, loadKey, randomBytes } from '../crypto/index.ts';
import { concatBytes } from '../lib/bytes.ts';
import { parseSizeText } from '../lib/cnum.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { TLV } from '../mcuboot/constants.ts';
import { parseImage } from '../mcuboot/image.ts';
import { imageFileParts, signImageFile } from '../mcuboot/sign.ts';
import { formatVersion, parseVersion } from '../mcuboot/version.ts';
import { type RseProfile, xipProfileNames } from '../profiles/index.ts';
import type { Bl1ImageV2Config } from '../profiles/types.ts';
import { bytesOf, DUMMY } from '../provisioning/values.ts';
import { createXipTables, SIC_DEFAULT_KEY, SIC_PAGE_SIZE } from '../sic/sic.ts';

/** How the build reaches the outside world (files relative to the description, keys). */
export interface BuildIo {
  readFile(path: string): Uint8Array;
  readKey(path: string): AsymKey;
  /**
   * Signs with the stateful LMS key at `path` (`format: bl1` images): the key's state must move
   * past the leaf durably before the signature is returned. `publicKey` is the key's encoded
   * LMS public key (what the OTP holds and BL1_2 hashes into BL2's signer id).
   */
  lmsSign?(path: string, message: Uint8Array): { signature: Uint8Array; publicKey: Uint8Array };
  /** Randomness for IVs (default node:crypto). */
  random?(n: number): Uint8Array;
}

/** One image a platform build made, with what the manifest says of it. */
export interface BuiltImage {
  readonly name: string;
  /**
   * `signed`: MCUboot image; `bl1`: the BL2 image BL1_2 loads (LMS, AES-CTR); `xip`: a runtime
   * encrypted for the SIC (its signed table is the image `NAME.sic-tables`); `raw`: as given.
   */
  readonly kind: 'signed' | 'bl1' | 'xip' | 'raw';
  readonly bytes: Uint8Array;
  readonly version?: string;
  readonly loadAddress?: number;
  readonly slotSize?: number;
  readonly securityCounter?: number;
  readonly bootRecord?: string;
  /** The MCUboot image hash (what BL2 measures), for signed images. */
  readonly imageHash?: string;
  readonly hashAlg?: string;
  /**
   * The signer id the boot stage measures with the image: SHA-256 of the MCUboot public key (or the
   * KEYHASH TLV), or of the encoded LMS public key for `bl1` images.
   */
  readonly signerId?: string;
  /** `xip` images: the SIC table's fields. */
  readonly sic?: { readonly fwVersion: number; readonly nonce: string; readonly pages: number };
}

/** Everything {@link buildFlash} made: images, FIP, host flash, ROM and the manifest. */
export interface BuildResult {
  readonly platform: string;
  readonly images: readonly BuiltImage[];
  readonly fip?: Uint8Array;
  readonly hostFlash?: Uint8Array;
  readonly rom?: Uint8Array;
  readonly manifest: Record<string, unknown>;
}

export type Obj = Record<string, unknown>;

export const cfgError = (path: string, msg: string): RseError => new RseError('E_CONFIG', `${path}: ${msg}`, { field: path });

export function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw cfgError(path, 'expected a mapping');
  return v as Obj;
}
export function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw cfgError(path, 'expected a list');
  return v;
}
export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw cfgError(path, 'expected a non-empty string');
  return v;
}
/** A number: YAML integer, or a string in decimal / 0x hex / with K, M, G (binary units). */
export function num(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const n = typeof v === 'string' ? parseSizeText(v) : undefined;
  if (n !== undefined) return n;
  throw cfgError(path, `expected a non-negative integer (decimal, 0x hex, or with K/M/G), got ${JSON.stringify(v)}`);
}
export const opt = <T>(o: Obj, key: string, f: (v: unknown, p: string) => T, path: string): T | undefined =>
  o[key] === undefined ? undefined : f(o[key], `${path}.${key}`);
export function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw cfgError(path, 'expected true or false');
  return v;
}
export function known(o: Obj, keys: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw cfgError(`${path}.${k}`, `unknown key (known: ${keys.join(', ')})`);
}
export const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;
/** SHA-256 hex, once per buffer (an image's bytes appear in the image list, the FIP and the flash). */
const hashes: WeakMap<Uint8Array, string> = new WeakMap();
export function sha256(b: Uint8Array): string {
  let h = hashes.get(b);
  if (h === undefined) {
    h = toHex(hash('sha256', b));
    hashes.set(b, h);
  }
  return h;
}

export const IMAGE_KEYS = [
  'name',
  'input',
  'signed',
  'key',
  'version',
  'header-size',
  'pad-header',
  'slot-size',
  'pad',
  'align',
  'max-align',
  'load-address',
  'security-counter',
  'boot-record',
  'public-key-format',
  'pad-sig',
  'confirm',
  'erased-val',
  'format',
  'lms-key',
  'encrypt-key',
  'dependencies',
  'image-binding',
  'psa-key-ids',
  'encrypt',
] as const;

/** The keys a `format: bl1` image takes. */
export const BL1_IMAGE_KEYS = ['name', 'input', 'format', 'lms-key', 'encrypt-key', 'version', 'security-counter', 'boot-record'] as const;

/** The `version` of a BL1 image entry. */
function bl1VersionOf(c: Obj, path: string): Bl1Version {
  try {
    return parseBl1Version(String(c.version ?? '0.0.0'));
  } catch (e) {
    throw cfgError(`${path}.version`, (e as Error).message);
  }
}

/** A BL2 image in the BL1 format (`create_bl2_img.py`): encrypted for the OTP BL2 key, LMS-signed. */
export function buildBl1Image(c: Obj, path: string, io: BuildIo, platform: RseProfile): BuiltImage {
  if (platform.bl1.imageV2 !== undefined) return buildBl1ImageV2(c, path, io, platform.bl1.imageV2);
  known(c, BL1_IMAGE_KEYS, path);
  const name = str(c.name, `${path}.name`);
  const code = io.readFile(str(c.input, `${path}.input`));
  const keyPath = str(c['lms-key'], `${path}.lms-key`);
  if (io.lmsSign === undefined) throw cfgError(`${path}.lms-key`, 'this build cannot sign with stateful LMS keys');
  const sign = io.lmsSign.bind(io);
  let lmsPublic: Uint8Array | undefined;
  const encryptionKey =
    c['encrypt-key'] === undefined ? DUMMY.bl2_encryption_key : bytesOf(c['encrypt-key'], `${path}.encrypt-key`, io.readFile, 32);
  const counter = num(c['security-counter'] ?? 0, `${path}.security-counter`);
  const version = bl1VersionOf(c, path);
  let out: { image: Uint8Array; hash: Uint8Array };
  try {
    out = signBl1Image({
      code,
      version,
      securityCounter: counter,
      encryptionKey,
      kdf: platform.bl1.kdf,
      partitionSize: platform.bl1.bl2PartitionSize,
      sign: (m) => {
        const r = sign(keyPath, m);
        lmsPublic = r.publicKey;
        return r.signature;
      },
      random: io.random ?? randomBytes,
    });
  } catch (e) {
    if (e instanceof RseError)
      throw new RseError(e.code, `image ${name}: ${e.message}`, { field: `${path}${e.field ? `.${e.field}` : ''}` });
    throw e;
  }
  const bootRecord = opt(c, 'boot-record', str, path);
  return {
    name,
    kind: 'bl1',
    bytes: out.image,
    version: formatBl1Version(version),
    slotSize: platform.bl1.bl2PartitionSize,
    securityCounter: counter,
    ...(bootRecord === undefined ? {} : { bootRecord }),
    imageHash: toHex(out.hash),
    hashAlg: 'sha256',
    ...(lmsPublic === undefined ? {} : { signerId: toHex(hash('sha256', lmsPublic)) }),
  };
}

/** The keys a `format: bl1` image of a v2 profile (rse-2.3) takes. */
export const BL1_V2_IMAGE_KEYS = [
  'name',
  'input',
  'format',
  'lms-key',
  'key',
  'encrypt-key',
  'version',
  'security-counter',
  'boot-record',
] as const;

/** TF-M 2.2+'s BL2 image (`create_bl2_img.py`): one CM signer (LMS `lms-key` or ECDSA `key`), encrypted under KCE_CM (`encrypt-key`). */
function buildBl1ImageV2(c: Obj, path: string, io: BuildIo, shape: Bl1ImageV2Config): BuiltImage {
  known(c, BL1_V2_IMAGE_KEYS, path);
  const name = str(c.name, `${path}.name`);
  const code = io.readFile(str(c.input, `${path}.input`));
  const counter = num(c['security-counter'] ?? 0, `${path}.security-counter`);
  const version = bl1VersionOf(c, path);
  let signer: Bl1V2Signer;
  if (c['lms-key'] !== undefined) {
    const keyPath = str(c['lms-key'], `${path}.lms-key`);
    if (io.lmsSign === undefined) throw cfgError(`${path}.lms-key`, 'this build cannot sign with stateful LMS keys');
    const sign = io.lmsSign.bind(io);
    signer = { alg: 'lms', sign: (m) => sign(keyPath, m) };
  } else if (c.key !== undefined) {
    signer = { alg: 'ecdsa', key: loadKey(io.readFile(str(c.key, `${path}.key`))) };
  } else throw cfgError(`${path}.lms-key`, 'a v2 BL2 image needs lms-key (LMS) or key (ECDSA)');
  if (shape.encryption && c['encrypt-key'] === undefined)
    throw cfgError(`${path}.encrypt-key`, 'the encrypted v2 image needs encrypt-key (the KCE_CM the device is provisioned with)');
  const encryptionKey = c['encrypt-key'] === undefined ? undefined : bytesOf(c['encrypt-key'], `${path}.encrypt-key`, io.readFile, 32);
  let image: Uint8Array;
  try {
    image = signBl1ImageV2(shape, {
      code,
      version,
      securityCounter: counter,
      signers: [signer],
      ...(encryptionKey === undefined ? {} : { encryptionKey, iv: (io.random ?? randomBytes)(16) }),
    });
  } catch (e) {
    if (e instanceof RseError)
      throw new RseError(e.code, `image ${name}: ${e.message}`, { field: `${path}${e.field ? `.${e.field}` : ''}` });
    throw e;
  }
  const h = parseBl1ImageV2(shape, image, name);
  const pv = bl1V2ProtectedValues(shape, { code, version, securityCounter: counter });
  const bootRecord = opt(c, 'boot-record', str, path);
  return {
    name,
    kind: 'bl1',
    bytes: image,
    version: formatBl1Version(version),
    slotSize: shape.partitionSize,
    securityCounter: counter,
    ...(bootRecord === undefined ? {} : { bootRecord }),
    imageHash: toHex(hash('sha256', pv)),
    hashAlg: 'sha256',
    signerId: toHex(hash('sha256', (h.sigs[0] as { rotpk: Uint8Array }).rotpk)),
  };
}

export type AtuWindow = { base: number; size: number } | undefined;

/** The keys a `format: xip` image takes: the MCUboot ones for its table, and the SIC's. */
export const XIP_IMAGE_KEYS = [
  ...IMAGE_KEYS.filter((k) => k !== 'signed' && k !== 'lms-key' && k !== 'encrypt-key'),
  'sic-key',
  'sic-nonce',
  'fw-version',
] as const;

/**
 * An RSE 2.1 XIP runtime (`create_xip_tables.py`, then imgtool over the table, as TF-M's build
 * does): `NAME` is the runtime encrypted for the SIC (FIP entry `rse-s`/`rse-ns`), `NAME.sic-tables`
 * the MCUboot-signed table BL2 loads as the image (`rse-sic-tables-s`/`-ns`). The table's
 * fw_version is the security counter unless `fw-version` says otherwise.
 */
export function buildXipImage(c: Obj, path: string, io: BuildIo, atu: AtuWindow, platform: RseProfile): BuiltImage[] {
  known(c, XIP_IMAGE_KEYS, path);
  if (platform.variants.xip === undefined)
    throw cfgError(
      `${path}.format`,
      `XIP images need an RSE_XIP build; ${platform.name} has none (profiles with one: ${xipProfileNames().join(', ')})`,
    );
  const name = str(c.name, `${path}.name`);
  const runtime = io.readFile(str(c.input, `${path}.input`));
  if (c.key === undefined) throw cfgError(`${path}.key`, 'an XIP image needs the key that signs its SIC table');
  const sc = c['security-counter'];
  const fwVersion = num(c['fw-version'] ?? (sc === 'auto' || sc === undefined ? 0 : sc), `${path}.fw-version`);
  if (fwVersion > 0xffffffff) throw cfgError(`${path}.fw-version`, 'must fit 32 bits');
  const key = c['sic-key'] === undefined ? SIC_DEFAULT_KEY : bytesOf(c['sic-key'], `${path}.sic-key`, io.readFile, 32);
  const nonce = c['sic-nonce'] === undefined ? (io.random ?? randomBytes)(8) : bytesOf(c['sic-nonce'], `${path}.sic-nonce`, io.readFile, 8);
  const { table, encrypted } = createXipTables(runtime, { fwVersion, key, nonce });
  const tables = signAsMcuboot(c, path, io, atu, `${name}.sic-tables`, table);
  return [
    { name, kind: 'xip', bytes: encrypted, sic: { fwVersion, nonce: toHex(nonce), pages: encrypted.length / SIC_PAGE_SIZE } },
    tables,
  ];
}

export function buildImage(c: Obj, path: string, io: BuildIo, atu: AtuWindow, platform: RseProfile): BuiltImage[] {
  if (c.format === 'bl1') return [buildBl1Image(c, path, io, platform)];
  if (c.format === 'xip') return buildXipImage(c, path, io, atu, platform);
  if (c.format !== undefined && c.format !== 'mcuboot') throw cfgError(`${path}.format`, 'must be mcuboot (default), bl1 or xip');
  known(c, IMAGE_KEYS, path);
  for (const k of ['lms-key', 'encrypt-key'] as const)
    if (c[k] !== undefined) throw cfgError(`${path}.${k}`, 'only format: bl1 images take it');
  const name = str(c.name, `${path}.name`);
  if (c.signed !== undefined) return [{ name, kind: 'raw', bytes: io.readFile(str(c.signed, `${path}.signed`)) }];
  const data = io.readFile(str(c.input, `${path}.input`));
  if (c.key === undefined) return [{ name, kind: 'raw', bytes: data }];
  return [signAsMcuboot(c, path, io, atu, name, data)];
}

/** The largest slot an image of a platform description may have (checked before padding to it). */
const MAX_SLOT = 64 * 1024 * 1024;

/** imgtool over `data` with the image entry's parameters. */
export function signAsMcuboot(c: Obj, path: string, io: BuildIo, atu: AtuWindow, name: string, data: Uint8Array): BuiltImage {
  // `key: FILE`, or a list for several signatures (imgtool's `-k` repeated, MCUboot tfm-2.3.0).
  const keyFiles = Array.isArray(c.key)
    ? list(c.key, `${path}.key`).map((k, i) => str(k, `${path}.key[${i}]`))
    : [str(c.key, `${path}.key`)];
  if (keyFiles.length === 0) throw cfgError(`${path}.key`, 'needs at least one key');
  const [key, ...additionalKeys] = keyFiles.map((k) => io.readKey(k)) as [AsymKey, ...AsymKey[]];
  const psaKeyIds = opt(c, 'psa-key-ids', (v, p) => list(v, p).map((x, i) => num(x, `${p}[${i}]`)), path);
  if (psaKeyIds?.some((id) => id > 0xffffffff)) throw cfgError(`${path}.psa-key-ids`, 'a PSA key id is 32 bits');
  const slotSize = num(c['slot-size'], `${path}.slot-size`);
  if (slotSize > MAX_SLOT)
    throw cfgError(`${path}.slot-size`, `a slot of ${slotSize} bytes is over the ${MAX_SLOT}-byte limit of a platform image`);
  const loadAddress = opt(c, 'load-address', num, path);
  // Only host images (loaded through the host access region 0x60000000-0x7FFFFFFF) meet the ATU.
  const viaAtu = loadAddress !== undefined && loadAddress >= 0x60000000 && loadAddress < 0x80000000;
  if (
    loadAddress !== undefined &&
    atu !== undefined &&
    viaAtu &&
    (loadAddress < atu.base || loadAddress + slotSize > atu.base + atu.size)
  ) {
    throw cfgError(
      `${path}.load-address`,
      `image ${name} loads at ${hex(loadAddress)}..${hex(loadAddress + slotSize)}, outside the ATU host window ${hex(atu.base)}..${hex(atu.base + atu.size)}`,
    );
  }
  const version = parseVersion(String(c.version ?? '0.0.0'), `${path}.version`);
  const sc = c['security-counter'];
  const securityCounter = sc === undefined ? undefined : sc === 'auto' ? ('auto' as const) : num(sc, `${path}.security-counter`);
  const bootRecord = opt(c, 'boot-record', str, path);
  const erased = opt(c, 'erased-val', num, path);
  if (erased !== undefined && erased !== 0 && erased !== 0xff) throw cfgError(`${path}.erased-val`, 'must be 0 or 0xff');
  const pkf = opt(c, 'public-key-format', str, path);
  if (pkf !== undefined && pkf !== 'hash' && pkf !== 'full') throw cfgError(`${path}.public-key-format`, 'must be hash or full');
  const dependencies = list(c.dependencies ?? [], `${path}.dependencies`).map((x, i) => {
    const dp = `${path}.dependencies[${i}]`;
    const o = obj(x, dp);
    known(o, ['image', 'version'], dp);
    const imageId = num(o.image, `${dp}.image`);
    if (imageId > 0xff) throw cfgError(`${dp}.image`, 'an image id fits 8 bits');
    return { imageId, version: parseVersion(String(o.version ?? '0.0.0'), `${dp}.version`) };
  });
  let signed: ReturnType<typeof signImageFile>;
  try {
    signed = signImageFile(
      { data },
      {
        key,
        ...(additionalKeys.length === 0 ? {} : { additionalKeys }),
        ...(psaKeyIds === undefined ? {} : { psaKeyIds }),
        version,
        headerSize: num(c['header-size'] ?? 0x400, `${path}.header-size`),
        padHeader: opt(c, 'pad-header', bool, path) ?? false,
        slotSize,
        pad: opt(c, 'pad', bool, path) ?? true,
        confirm: opt(c, 'confirm', bool, path) ?? false,
        align: opt(c, 'align', num, path) ?? 1,
        ...(c['max-align'] === undefined ? {} : { maxAlign: num(c['max-align'], `${path}.max-align`) }),
        ...(loadAddress === undefined ? {} : { loadAddr: loadAddress }),
        ...(securityCounter === undefined ? {} : { securityCounter }),
        ...(bootRecord === undefined ? {} : { bootRecord }),
        ...(erased === undefined ? {} : { erasedVal: erased as 0 | 0xff }),
        ...(pkf === undefined ? {} : { publicKeyFormat: pkf }),
        ...(opt(c, 'pad-sig', bool, path) === true ? { padSig: true } : {}),
        ...(dependencies.length === 0 ? {} : { dependencies }),
        // imgtool -E: AES-128-CTR, the key wrapped for this public key (an MCUBOOT_ENC_IMAGES build).
        ...(c.encrypt === undefined ? {} : { encrypt: { key: io.readKey(str(c.encrypt, `${path}.encrypt`)), keyLen: 128 as const } }),
        // TF-M's MCUBOOT_IMAGE_BINDING build: `--extra-tlv 0x00A4` and `0x00A5`, 16 bytes of 0xFF each.
        ...(opt(c, 'image-binding', bool, path) === true
          ? {
              extraTlvs: [
                [0xa4, new Uint8Array(16).fill(0xff)],
                [0xa5, new Uint8Array(16).fill(0xff)],
              ] as const,
            }
          : {}),
      },
    );
  } catch (e) {
    if (e instanceof RseError)
      throw new RseError(e.code, `image ${name}: ${e.message}`, { field: `${path}${e.field ? `.${e.field}` : ''}` });
    throw e;
  }
  const bytes = concatBytes(imageFileParts(signed));
  return {
    name,
    kind: 'signed',
    bytes,
    version: formatVersion(version),
    ...(loadAddress === undefined ? {} : { loadAddress }),
    slotSize,
    ...(typeof securityCounter === 'number' ? { securityCounter } : {}),
    ...(bootRecord === undefined ? {} : { bootRecord }),
    imageHash: toHex(signed.digest),
    hashAlg: signed.hashAlg,
    ...signerIdOf(bytes),
  };
}

/** What MCUboot BL2 measures as the signer: the KEYHASH TLV, or SHA-256 of the PUBKEY TLV (none when unsigned). */
export function signerIdOf(image: Uint8Array): { signerId?: string } {
  for (const t of parseImage(image).unprotectedArea.entries) {
    if (t.type === TLV.KEYHASH) return { signerId: toHex(t.value) };
    if (t.type === TLV.PUBKEY) return { signerId: toHex(hash('sha256', t.value)) };
  }
  return {};
}

/** Resolves `image: NAME`, `file: PATH` or `fip: true` of a placement or partition content. */
export function contentOf(
  c: Obj,
  path: string,
  images: Map<string, BuiltImage>,
  io: BuildIo,
  fip: Uint8Array | undefined,
): { what: string; bytes: Uint8Array } {
  if (c.image !== undefined) {
    const n = str(c.image, `${path}.image`);
    const img = images.get(n);
    if (img === undefined) throw cfgError(`${path}.image`, `no image named ${n} (images: ${[...images.keys()].join(', ')})`);
    return { what: `image ${n}`, bytes: img.bytes };
  }
  if (c.file !== undefined) {
    const f = str(c.file, `${path}.file`);
    return { what: `file ${f}`, bytes: io.readFile(f) };
  }
  if (c.fip === true) {
    if (fip === undefined) throw cfgError(path, 'places the FIP, but the description has no fip section');
    return { what: 'fip', bytes: fip };
  }
  throw cfgError(path, 'needs one of image: NAME, file: PATH or fip: true');
}
