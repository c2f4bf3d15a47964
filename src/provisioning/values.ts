/**
 * Provisioning values from a YAML/JSON description, with TF-M 2.1's dummy provisioning data as
 * the default for every field (`bundle_cm/cm_dummy_provisioning_data.c`,
 * `bundle_dm/dm_dummy_provisioning_data.c`), so an empty file gives the bundles a TF-M
 * `TFM_DUMMY_PROVISIONING` build would carry.
 * @module
 */
import { hash, loadKey, rawPublicKey } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex } from '../lib/hex.ts';
import { mcubootPublicKeyBytes } from '../mcuboot/keys.ts';
import { type DmValues, encodeCmValues, encodeDmValues, RESUMABLE_CODE_MARKER } from './bundle.ts';

/** Reads a file named in a values description (paths relative to the description). */
export type ReadFile = (path: string) => Uint8Array;

const h = (s: string): Uint8Array => fromHex(s.replace(/\s+/g, ''));

/** TF-M's dummy values, named as in the values file. */
export interface DummyValues {
  readonly guk: Uint8Array;
  readonly cca_system_properties: number;
  readonly bl1_rotpk_0: Uint8Array;
  readonly bl2_encryption_key: Uint8Array;
  /** Per signature algorithm: [hash of root-<alg>.pem, hash of root-<alg>_1.pem]. */
  readonly bl2_rotpk: Readonly<Record<'rsa-3072' | 'rsa-2048' | 'ec-p256', readonly [Uint8Array, Uint8Array]>>;
  readonly image_encryption_key: Uint8Array;
  readonly host_rotpk: Uint8Array;
  readonly implementation_id: Uint8Array;
  readonly verification_service_url: string;
  readonly profile_definition: string;
  readonly secure_debug_pk: Uint8Array;
}

/** TF-M's dummy values, named as in the values file. */
export const DUMMY: DummyValues = {
  guk: h('0123456789012345678901234567890123456789012345678901234567890123'),
  cca_system_properties: 0xdeadbeef,
  bl1_rotpk_0: h('00000006 00000004 b6b444cb92584ee081b678f39a0dd74e 0cfd7e450176dd0cb654c9bbbf632b14b2ee008963e043afebe8ac6c1d605ebc'),
  bl2_encryption_key: h('0123456789012345678901234567890123456789012345678901234567890123'),
  /** Per signature algorithm: [hash of root-<alg>.pem, hash of root-<alg>_1.pem]. */
  bl2_rotpk: {
    'rsa-3072': [
      h('bfe6d86f8826f4ff97fb96c4e6fbc4993e4619fc565da26adf34c329489adc38'),
      h('b360caf5c98c6b942a4882fa9d4823efb166a9ef6a6e4aa37c1919ed1fccc049'),
    ],
    'rsa-2048': [
      h('fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994'),
      h('e18015993d6d2760b499274baef264b83af229e9a785f3d5bf00b9d32c1f0396'),
    ],
    'ec-p256': [
      h('e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6'),
      h('82a5b443594853d4bf0fdd89a914a5dc16f867548207d7077e74d80c063efda9'),
    ],
  },
  image_encryption_key: h('fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994'),
  host_rotpk: h(
    '092059dec51be296fe4ba01620acd7cee21ed5bf744fe447ab1fe4cb915294b2f2ffaf3a47260e134f8f2c1b5edee89e' +
      'dd2e1cf10d3cc1ee32929d05ca570d0ebcd17232f41f1ce448d87987fc3b2ff479e2f1031ff34dbc768a81194a954dac',
  ),
  implementation_id: h('aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd'),
  verification_service_url: 'www.trustedfirmware.org',
  profile_definition: 'http://arm.com/CCA-SSD/1.0.0',
  secure_debug_pk: h('f40c8fbf12db782afdf475966a068236e032ab80d1b7f1bc9fe7d87a88cb26d0'),
};

/** rsekit's placeholder BL1_2 (TF-M's build would put its real BL1_2 here). */
export function placeholderBl1_2(): Uint8Array {
  const out = new Uint8Array(0x2000);
  out.set(new TextEncoder().encode('rsekit placeholder BL1_2 image: replace with bl1_2.bin (values: bl1_2_image)'));
  return out;
}

export type Bl2RotpkAlg = keyof typeof DUMMY.bl2_rotpk;

/** A bundle's plaintext parts from a description. */
export interface BundleInputs {
  readonly values: Uint8Array;
  readonly code: Uint8Array;
  readonly data: Uint8Array;
  /** The decoded values (for reports). */
  readonly summary: Readonly<Record<string, string | number>>;
}

export type Desc = Readonly<Record<string, unknown>>;

export function isRecord(v: unknown): v is Desc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const KNOWN = {
  cm: ['bl1_2_image', 'ics', 'guk', 'cca_system_properties', 'code', 'data'],
  dm: [
    'rse_id',
    'bl1_rotpk_0',
    'bl2_encryption_key',
    'bl2_rotpk',
    'bl2_rotpk_alg',
    's_image_encryption_key',
    'ns_image_encryption_key',
    'host_rotpk_s',
    'host_rotpk_ns',
    'host_rotpk_cca',
    'implementation_id',
    'verification_service_url',
    'profile_definition',
    'secure_debug_pk',
    'code',
    'data',
  ],
} as const;

/** The part of a description for one bundle: `cm:`/`dm:` when present, else the top level. */
export function sectionFor(kind: 'cm' | 'dm', description: unknown): Desc {
  if (description === undefined || description === null) return {};
  if (!isRecord(description)) throw new RseError('E_CONFIG', 'the values file must be a mapping', { field: 'values' });
  const nested = description[kind];
  const section = isRecord(nested) ? nested : 'cm' in description || 'dm' in description ? {} : description;
  const known: readonly string[] = KNOWN[kind];
  for (const k of Object.keys(section)) {
    if (!known.includes(k))
      throw new RseError('E_CONFIG', `unknown ${kind.toUpperCase()} value '${k}' (known: ${known.join(', ')})`, { field: k });
  }
  return section;
}

/**
 * Bytes from a value: hex (optionally 0x-prefixed, spaces allowed) or a file path. Text that looks
 * like hex (16 digits or more) is never taken for a path, and no error shows the value: it may be
 * a mistyped key.
 */
export function bytesOf(v: unknown, field: string, read: ReadFile, size?: number): Uint8Array {
  if (typeof v !== 'string') throw new RseError('E_CONFIG', `${field} must be hex or a file path`, { field });
  const t = v.replace(/^0x/i, '').replace(/[\s:]+/g, '');
  const isHex = /^[0-9a-fA-F]+$/.test(t) && t.length % 2 === 0;
  let b: Uint8Array;
  if (isHex && (size === undefined || t.length === 2 * size || t.length >= 16)) b = fromHex(t, field);
  else
    try {
      b = read(v);
    } catch {
      throw new RseError(
        'E_CONFIG',
        `${field} is neither ${size === undefined ? '' : `${size} bytes of `}hex nor a file that can be read`,
        {
          field,
        },
      );
    }
  if (size !== undefined && b.length !== size)
    throw new RseError('E_CONFIG', `${field} must be ${size} bytes, got ${b.length}${isHex ? ' bytes of hex' : ''}`, { field });
  return b;
}

export function u32Of(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RseError('E_CONFIG', `${field} must be an integer 0..0xFFFFFFFF`, { field });
  }
  return n;
}

export function stringField(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string') throw new RseError('E_CONFIG', `${field} must be a string`, { field });
  const b = new TextEncoder().encode(v);
  if (b.length > 31) throw new RseError('E_CONFIG', `${field} is ${b.length} bytes; 31 fit with the NUL`, { field });
  return b;
}

/** A 96-byte host ROTPK: hex X‖Y or a P-384 public key PEM. */
export function hostRotpk(v: unknown, field: string, read: ReadFile): Uint8Array {
  if (typeof v === 'string' && /\.pem$/i.test(v)) {
    const key = loadKey(read(v));
    if (key.type !== 'ecdsa-p384') throw new RseError('E_CONFIG', `${field}: the host ROTPK must be a P-384 key`, { field });
    return rawPublicKey(key).slice(1);
  }
  return bytesOf(v, field, read, 96);
}

/** A BL1 ROTPK: 56 bytes of LMS public key (hex or file), or a `.pub` file whose 4-byte HSS level count is dropped. */
export function bl1RotpkOf(v: unknown, read: ReadFile): Uint8Array {
  const b = bytesOf(v, 'bl1_rotpk_0', read);
  if (b.length === 60) return b.slice(4);
  if (b.length !== 56)
    throw new RseError('E_CONFIG', `bl1_rotpk_0 must be 56 bytes (or a 60-byte .pub), got ${b.length}`, { field: 'bl1_rotpk_0' });
  return b;
}

/** A BL2 ROTPK entry: a 32-byte hash, or a PEM whose MCUboot public-key bytes are hashed. */
export function bl2Rotpk(v: unknown, field: string, read: ReadFile): Uint8Array {
  if (typeof v === 'string' && /\.pem$/i.test(v)) return hash('sha256', mcubootPublicKeyBytes(loadKey(read(v))));
  return bytesOf(v, field, read, 32);
}

/**
 * The code area: empty (TF-M's own code is assumed), `resumable` for rsekit's resumable
 * provisioning code, or the bytes of a real bundle code image (hex or a file).
 */
function codeOf(v: unknown, read: ReadFile): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  if (v === 'resumable') return RESUMABLE_CODE_MARKER.slice();
  return bytesOf(v, 'code', read);
}

/** The CM bundle's parts from its section of a values description. */
export function cmInputs(description: unknown, read: ReadFile): BundleInputs {
  const d = sectionFor('cm', description);
  const image = d.bl1_2_image === undefined ? placeholderBl1_2() : bytesOf(d.bl1_2_image, 'bl1_2_image', read);
  const ics = d.ics === undefined ? new Uint8Array(0) : bytesOf(d.ics, 'ics', read);
  const guk = d.guk === undefined ? DUMMY.guk : bytesOf(d.guk, 'guk', read, 32);
  const props =
    d.cca_system_properties === undefined ? DUMMY.cca_system_properties : u32Of(d.cca_system_properties, 'cca_system_properties');
  const values = encodeCmValues({ bl1_2Image: image, ics, guk, ccaSystemProperties: props });
  return {
    values,
    code: codeOf(d.code, read),
    data: d.data === undefined ? new Uint8Array(0) : bytesOf(d.data, 'data', read),
    summary: {
      bl1_2_image: `${image.length} bytes`,
      bl1_2_image_hash: Buffer.from(values.subarray(0, 32)).toString('hex'),
      ics: `${ics.length} bytes`,
      cca_system_properties: `0x${props.toString(16).toUpperCase()}`,
    },
  };
}

/** The DM bundle's parts from its section of a values description. */
export function dmInputs(description: unknown, read: ReadFile): BundleInputs {
  const d = sectionFor('dm', description);
  const alg = (d.bl2_rotpk_alg ?? 'rsa-3072') as string;
  if (!Object.hasOwn(DUMMY.bl2_rotpk, alg)) {
    throw new RseError('E_CONFIG', `bl2_rotpk_alg must be one of ${Object.keys(DUMMY.bl2_rotpk).join(', ')}`, { field: 'bl2_rotpk_alg' });
  }
  const [k0, k1] = DUMMY.bl2_rotpk[alg as Bl2RotpkAlg];
  let rotpks: Uint8Array[] = [k0, k1, k0, k0];
  if (d.bl2_rotpk !== undefined) {
    if (!Array.isArray(d.bl2_rotpk) || d.bl2_rotpk.length !== 4) {
      throw new RseError('E_CONFIG', 'bl2_rotpk must list 4 entries (images S, NS, AP BL1, SCP BL1)', { field: 'bl2_rotpk' });
    }
    rotpks = d.bl2_rotpk.map((v: unknown, i: number) => bl2Rotpk(v, `bl2_rotpk[${i}]`, read));
  }
  const key = (name: string, def: Uint8Array): Uint8Array => (d[name] === undefined ? def : bytesOf(d[name], name, read, 32));
  const v: DmValues = {
    rseId: d.rse_id === undefined ? 0 : u32Of(d.rse_id, 'rse_id'),
    sendTable: 0,
    receiveTable: 0,
    bl1Rotpk0: d.bl1_rotpk_0 === undefined ? DUMMY.bl1_rotpk_0 : bl1RotpkOf(d.bl1_rotpk_0, read),
    bl2EncryptionKey: key('bl2_encryption_key', DUMMY.bl2_encryption_key),
    bl2Rotpk: rotpks,
    sImageEncryptionKey: key('s_image_encryption_key', DUMMY.image_encryption_key),
    nsImageEncryptionKey: key('ns_image_encryption_key', DUMMY.image_encryption_key),
    hostRotpkS: d.host_rotpk_s === undefined ? DUMMY.host_rotpk : hostRotpk(d.host_rotpk_s, 'host_rotpk_s', read),
    hostRotpkNs: d.host_rotpk_ns === undefined ? DUMMY.host_rotpk : hostRotpk(d.host_rotpk_ns, 'host_rotpk_ns', read),
    hostRotpkCca: d.host_rotpk_cca === undefined ? DUMMY.host_rotpk : hostRotpk(d.host_rotpk_cca, 'host_rotpk_cca', read),
    implementationId: key('implementation_id', DUMMY.implementation_id),
    verificationServiceUrl: stringField(d.verification_service_url ?? DUMMY.verification_service_url, 'verification_service_url'),
    profileDefinition: stringField(d.profile_definition ?? DUMMY.profile_definition, 'profile_definition'),
    secureDebugPk: key('secure_debug_pk', DUMMY.secure_debug_pk),
  };
  return {
    values: encodeDmValues(v),
    code: codeOf(d.code, read),
    data: d.data === undefined ? new Uint8Array(0) : bytesOf(d.data, 'data', read),
    summary: {
      rse_id: v.rseId,
      bl2_rotpk_0: Buffer.from(rotpks[0] as Uint8Array).toString('hex'),
      implementation_id: Buffer.from(v.implementationId).toString('hex'),
      verification_service_url: new TextDecoder().decode(v.verificationServiceUrl),
      profile_definition: new TextDecoder().decode(v.profileDefinition),
    },
  };
}
