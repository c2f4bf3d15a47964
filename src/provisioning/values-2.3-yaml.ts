/**
 * The `--values` description of `rse provision message` (rse-2.3): a `cm:` and a `dm:` section
 * holding what TF-M 2.3.1's bundle scripts take as `--non_secret_cm:…`, `--secret_cm:…` and their
 * DM twins. ROTPKs are read as the scripts read them: a `.pem` key becomes the DER
 * SubjectPublicKeyInfo of its public part, a `.pub` file loses its first 4 bytes (the HSS level
 * count of an LMS key), anything else is hex or raw bytes.
 * @module
 */
import { exportPublicDer, hash, loadKey } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { bytesOf, placeholderBl1_2, type ReadFile, u32Of } from './values.ts';
import type { CmValues23, DmValues23, RotpkValue } from './values-2.3.ts';

/** An example `--values` file, for `--help`. */
export const VALUES_EXAMPLE_23 = `cm:
  bl1_2: bl1_2_padded.bin   # the padded 8 KiB BL1_2 (default: a placeholder);
                            # SHA-256 unless bl1_2_hash is given
  dma_ics: otp_dma_ics.bin  # OTP part of the DMA ICS (up to 0x108 bytes)
  trng_rosc_sc: "20000000200000002000000020000000"
  trng_in_use: 0
  entropy_high_threshold: 821
  entropy_repetition_count: 81
  rotpks:        # CM ROTPK array entries (0: BL1_2's signer, 1: BL2 images)
    - { area: 0, index: 0, key: lms_cm.pub, type: lms }
    - { area: 0, index: 1, key: mcuboot-s.pem, type: ecdsa, hash: sha256,
        policy: required }
  guk: guk.bin          # the secrets: 32 bytes each, hex or a file
  kp_cm: kp_cm.bin
  kce_cm: kce_cm.bin    # also the key BL2 images are encrypted with
  seal_spare_arrays: false  # true: write the zero counts of arrays 1-3
                            # (a revocation is then one write)
dm:
  rotpks:
    - { area: 0, index: 1, key: mcuboot-ns.pem, type: ecdsa }
  kp_dm: kp_dm.bin
  kce_dm: kce_dm.bin
`;

const bad = (msg: string, field: string): RseError => new RseError('E_CONFIG', msg, { field });

function section(d: unknown, name: 'cm' | 'dm'): Record<string, unknown> {
  const s = typeof d === 'object' && d !== null ? (d as Record<string, unknown>)[name] : undefined;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw bad(`the values need a ${name}: section`, name);
  const known = name === 'cm' ? CM_KEYS : DM_KEYS;
  for (const k of Object.keys(s))
    if (!known.includes(k)) throw bad(`${name}.${k} is not a value (one of ${known.join(', ')})`, `${name}.${k}`);
  return s as Record<string, unknown>;
}

const CM_KEYS = [
  'bl1_2',
  'bl1_2_hash',
  'bl1_2_version',
  'dma_ics',
  'trng_rosc_sc',
  'trng_in_use',
  'entropy_high_threshold',
  'entropy_repetition_count',
  'cca_system_properties',
  'cm_policies',
  'blob_version',
  'rotpks',
  'guk',
  'kp_cm',
  'kce_cm',
  'seal_spare_arrays',
];
const DM_KEYS = ['dm_policies', 'blob_version', 'rotpks', 'kp_dm', 'kce_dm'];

/** A ROTPK's bytes as the scripts take them. */
function rotpkKey(v: unknown, field: string, read: ReadFile): Uint8Array {
  if (typeof v !== 'string') throw bad(`${field} must be a key file or hex`, field);
  if (/\.pem$/i.test(v)) return exportPublicDer(loadKey(read(v)), 'spki');
  if (/\.pub$/i.test(v)) return read(v).subarray(4);
  return bytesOf(v, field, read);
}

function rotpks(v: unknown, prefix: 'cm' | 'dm', read: ReadFile): RotpkValue[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${prefix}.rotpks must be a list`, `${prefix}.rotpks`);
  return v.map((r: unknown, i) => {
    const f = `${prefix}.rotpks[${i}]`;
    if (typeof r !== 'object' || r === null) throw bad(`${f} must be a mapping`, f);
    const o = r as Record<string, unknown>;
    const type = o.type ?? 'ecdsa';
    const hashAlg = o.hash ?? 'sha256';
    const policy = o.policy ?? 'required';
    if (type !== 'ecdsa' && type !== 'lms') throw bad(`${f}.type must be ecdsa or lms`, `${f}.type`);
    if (hashAlg !== 'sha256' && hashAlg !== 'sha384') throw bad(`${f}.hash must be sha256 or sha384`, `${f}.hash`);
    if (policy !== 'required' && policy !== 'optional') throw bad(`${f}.policy must be required or optional`, `${f}.policy`);
    return {
      area: u32Of(o.area ?? 0, `${f}.area`),
      index: u32Of(o.index, `${f}.index`),
      key: rotpkKey(o.key, `${f}.key`, read),
      type,
      hashAlg,
      policy,
    };
  });
}

/**
 * A 32-byte secret: hex or a file. A value that looks like hex is never taken for a path, and no
 * error shows the value (a mistyped key must not reach a log).
 */
function secretOf(v: unknown, field: string, read: ReadFile): Uint8Array {
  if (v === undefined) throw bad(`${field} (32 bytes) is required`, field);
  if (typeof v !== 'string') throw bad(`${field} must be 32 bytes of hex or a file`, field);
  const t = v.replace(/^0x/i, '').replace(/[\s:]+/g, '');
  if (/^[0-9a-fA-F]{16,}$/.test(t)) {
    if (t.length !== 64) throw bad(`${field} must be 32 bytes, got ${t.length / 2} bytes of hex`, field);
    return Uint8Array.from(Buffer.from(t, 'hex'));
  }
  let b: Uint8Array;
  try {
    b = read(v);
  } catch {
    throw bad(`${field}: the key file cannot be read`, field);
  }
  if (b.length !== 32) throw bad(`${field} must be 32 bytes, the file holds ${b.length}`, field);
  return b;
}

const opt = (v: unknown, field: string): number | undefined => (v === undefined ? undefined : u32Of(v, field));

/** The CM values and secrets (GUK, KP_CM, KCE_CM) of a description. */
export function cmValues23(d: unknown, read: ReadFile): { values: CmValues23; secrets: [Uint8Array, Uint8Array, Uint8Array] } {
  const s = section(d, 'cm');
  // No BL1_2 given: rsekit's 8 KiB placeholder (the Cortex-M code is never executed).
  const bl1_2 = s.bl1_2 === undefined ? placeholderBl1_2() : bytesOf(s.bl1_2, 'cm.bl1_2', read);
  const bl1_2Hash = s.bl1_2_hash === undefined ? hash('sha256', bl1_2) : bytesOf(s.bl1_2_hash, 'cm.bl1_2_hash', read);
  const secret = (k: 'guk' | 'kp_cm' | 'kce_cm'): Uint8Array => secretOf(s[k], `cm.${k}`, read);
  const bv = opt(s.blob_version, 'cm.blob_version');
  const policies = opt(s.cm_policies, 'cm.cm_policies');
  const cca = opt(s.cca_system_properties, 'cm.cca_system_properties');
  const ver = opt(s.bl1_2_version, 'cm.bl1_2_version');
  return {
    values: {
      ...(bv === undefined ? {} : { blobVersion: bv }),
      ...(policies === undefined ? {} : { cmPolicies: policies }),
      ...(cca === undefined ? {} : { ccaSystemProperties: cca }),
      trngRoscSc: s.trng_rosc_sc === undefined ? new Uint8Array(16) : bytesOf(s.trng_rosc_sc, 'cm.trng_rosc_sc', read, 16),
      trngInUse: u32Of(s.trng_in_use ?? 0, 'cm.trng_in_use'),
      entropyHighThreshold: u32Of(s.entropy_high_threshold ?? 0, 'cm.entropy_high_threshold'),
      entropyRepetitionCount: u32Of(s.entropy_repetition_count ?? 0, 'cm.entropy_repetition_count'),
      rotpks: rotpks(s.rotpks, 'cm', read),
      dmaIcs: s.dma_ics === undefined ? new Uint8Array(0) : bytesOf(s.dma_ics, 'cm.dma_ics', read),
      bl1_2,
      bl1_2Hash,
      ...(ver === undefined ? {} : { bl1_2Version: ver }),
      ...(s.seal_spare_arrays === true ? { sealSpareArrays: true } : {}),
    },
    secrets: [secret('guk'), secret('kp_cm'), secret('kce_cm')],
  };
}

/** The DM values and secrets (KP_DM, KCE_DM) of a description. */
export function dmValues23(d: unknown, read: ReadFile): { values: DmValues23; secrets: [Uint8Array, Uint8Array] } {
  const s = section(d, 'dm');
  const secret = (k: 'kp_dm' | 'kce_dm'): Uint8Array => secretOf(s[k], `dm.${k}`, read);
  const bv = opt(s.blob_version, 'dm.blob_version');
  const policies = opt(s.dm_policies, 'dm.dm_policies');
  return {
    values: {
      ...(bv === undefined ? {} : { blobVersion: bv }),
      ...(policies === undefined ? {} : { dmPolicies: policies }),
      rotpks: rotpks(s.rotpks, 'dm', read),
    },
    secrets: [secret('kp_dm'), secret('kce_dm')],
  };
}

/** The `dm: rotpks:` of a values description alone (non-endorsed DM ROTPKs need no secrets). */
export function dmRotpks23(d: unknown, read: ReadFile): RotpkValue[] {
  return rotpks(section(d, 'dm').rotpks, 'dm', read);
}
