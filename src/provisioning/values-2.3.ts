/**
 * TF-M 2.3.1's provisioning values (`provisioning/rse_provisioning_values.h`) as its bundle
 * scripts lay them out from `--non_secret_cm:…`/`--secret_cm:…` arguments: the non-secret CM
 * values are the CM, BL1_2, DM and dynamic area infos (offset u16, size u16), the OTP DMA ICS and
 * its size, then the OTP CM area and the OTP BL1_2 area exactly as they will sit in OTP; the
 * non-secret DM values are the OTP DM area; the secret values are GUK ‖ KP_CM ‖ KCE_CM and
 * KP_DM ‖ KCE_DM. ROTPK fields hold the hash of the key (`RSE_OTP_*_ROTPK_IS_HASH_NOT_KEY`), and
 * each array's policy word gets the key's type, hash algorithm and signing policy
 * (`rse_rotpk_policy.h`). Zero counts stay zero: the provisioning code computes them on the
 * device. Offsets come from the profile's OTP map.
 * @module
 */
import { hash } from '../crypto/index.ts';
import { u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { zeroBits } from '../otp/lcm.ts';
import type { OtpField } from '../profiles/otp-layout.ts';
import { OTP_RSE_2_3_FIELDS, RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';

/** One ROTPK to provision: the key's bytes (DER SPKI, or the 56-byte LMS key) and its policy. */
export interface RotpkValue {
  readonly area: number;
  readonly index: number;
  readonly key: Uint8Array;
  readonly type: 'ecdsa' | 'lms';
  readonly hashAlg: 'sha256' | 'sha384';
  readonly policy: 'required' | 'optional';
}

export interface CmValues23 {
  readonly blobVersion?: number;
  readonly cmPolicies?: number;
  readonly ccaSystemProperties?: number;
  /** 16 bytes: the TRNG ring-oscillator sample counts as the script takes them (hex bytes). */
  readonly trngRoscSc: Uint8Array;
  readonly trngInUse: number;
  readonly entropyHighThreshold: number;
  readonly entropyRepetitionCount: number;
  readonly rotpks: readonly RotpkValue[];
  /** The OTP part of the DMA initial command sequence (at most 0x108 bytes). */
  readonly dmaIcs: Uint8Array;
  /** BL1_2 as provisioned: the padded image and its hash (as `create_bl1_2_img.py` makes them). */
  readonly bl1_2: Uint8Array;
  readonly bl1_2Hash: Uint8Array;
  readonly bl1_2Version?: number;
  /**
   * Write the zero count of every ROTPK array after the first that holds keys (spare arrays), so
   * that a later revocation is the single write of the revocation counter. TF-M's scripts leave
   * them zero (and then only an array update, four writes, can bring a spare array into use).
   */
  readonly sealSpareArrays?: boolean;
}

export interface DmValues23 {
  readonly blobVersion?: number;
  readonly dmPolicies?: number;
  readonly rotpks: readonly RotpkValue[];
}

const bad = (msg: string, field: string): RseError => new RseError('E_CONFIG', msg, { field });

/** The fields of one OTP area (`cm`, `bl1_2`, `dm`), its start and size. */
function area(prefix: 'cm' | 'bl1_2' | 'dm'): { fields: readonly OtpField[]; start: number; size: number } {
  const fields = OTP_RSE_2_3_FIELDS.filter((f) => f.name.startsWith(`${prefix}.`));
  const start = (fields[0] as OtpField).offset;
  const sizes = { cm: 0x2c0, bl1_2: 0x203c, dm: 0x34c } as const;
  return { fields, start, size: sizes[prefix] };
}

class AreaWriter {
  readonly bytes: Uint8Array;
  private readonly a: ReturnType<typeof area>;
  get start(): number {
    return this.a.start;
  }
  constructor(prefix: 'cm' | 'bl1_2' | 'dm') {
    this.a = area(prefix);
    this.bytes = new Uint8Array(this.a.size);
  }
  field(name: string): OtpField {
    const f = this.a.fields.find((x) => x.name === name);
    if (f === undefined) throw bad(`no OTP field ${name}`, name);
    return f;
  }
  set(name: string, value: Uint8Array | number): void {
    const f = this.field(name);
    const v = typeof value === 'number' ? u32le(value >>> 0).subarray(0, f.size) : value;
    if (v.length > f.size) throw bad(`${name} holds ${f.size} bytes, got ${v.length}`, name);
    this.bytes.set(v, f.offset - this.a.start);
  }
  /** Bytes after field `name` (the BL1_2 image after its hash). */
  setAfter(name: string, value: Uint8Array, room: number): void {
    const f = this.field(name);
    if (value.length > room) throw bad(`${name}: ${value.length} bytes do not fit ${room}`, name);
    this.bytes.set(value, f.offset + f.size - this.a.start);
  }
}

/**
 * What a ROTPK slot holds (the key's hash, unless the key is already a digest of the hash's size)
 * and its bits in the array's policy word: `type << 2N | hash_alg << 12+N | policy << 18+N`.
 */
function rotpkSlot(r: Omit<RotpkValue, 'area'>): { digest: Uint8Array; policyBits: number } {
  const size = r.hashAlg === 'sha256' ? 32 : 48;
  const n = r.index;
  return {
    digest: (r.key.length === size ? r.key : hash(r.hashAlg, r.key)).subarray(0, RSE_2_3_OTP_CONFIG.rotpkSize),
    policyBits:
      ((r.type === 'lms' ? 1 : 0) << (2 * n)) |
      ((r.hashAlg === 'sha384' ? 1 : 0) << (12 + n)) |
      ((r.policy === 'required' ? 1 : 0) << (18 + n)),
  };
}

/** Writes the ROTPK hashes and each array's policy word. */
function setRotpks(w: AreaWriter, prefix: 'cm' | 'dm', rotpks: readonly RotpkValue[]): void {
  const c = RSE_2_3_OTP_CONFIG;
  const perArea = prefix === 'cm' ? c.cmRotpksPerArea : c.dmRotpksPerArea;
  const areas = prefix === 'cm' ? c.cmRotpkAreas : c.dmRotpkAreas;
  const policies = new Map<number, number>();
  for (const r of rotpks) {
    if (r.area >= areas || r.index >= perArea) throw bad(`${prefix} ROTPK ${r.area}.${r.index} does not exist`, `${prefix}.rotpk`);
    const slot = rotpkSlot(r);
    w.set(`${prefix}.rotpk_areas_${r.area}.rotpk_${r.index}`, slot.digest);
    policies.set(r.area, (policies.get(r.area) ?? 0) | slot.policyBits);
  }
  for (const [a, p] of policies) w.set(`${prefix}.rotpk_areas_${a}.${prefix}_rotpk_policies`, p);
}

/** Seals the spare ROTPK arrays (index 1 on) that hold keys: each gets its zero count. */
function sealSpares(w: AreaWriter, prefix: 'cm' | 'dm', rotpks: readonly RotpkValue[]): void {
  const perArea = prefix === 'cm' ? RSE_2_3_OTP_CONFIG.cmRotpksPerArea : RSE_2_3_OTP_CONFIG.dmRotpksPerArea;
  for (const a of new Set(rotpks.filter((r) => r.area > 0).map((r) => r.area))) {
    const zc = w.field(`${prefix}.rotpk_areas_${a}.zero_count`);
    const start = zc.offset + 4;
    const end = start + 4 + perArea * RSE_2_3_OTP_CONFIG.rotpkSize;
    w.set(zc.name, zeroBits(w.bytes.subarray(start - w.start, end - w.start)));
  }
}

/** `area_info`: offset u16 ‖ size u16 of each area, as `set_cm_offsets_automatically` places them. */
function areaInfos(): Uint8Array {
  const c = area('cm');
  const b = area('bl1_2');
  const d = area('dm');
  const dynamic = OTP_RSE_2_3_FIELDS.find((f) => f.name.startsWith('dynamic.')) as OtpField;
  const info = (offset: number, size: number): number => offset | (size << 16);
  return u32le(
    info(c.start, c.size),
    info(b.start, b.size),
    info(d.start, d.size),
    info(dynamic.offset, RSE_2_3_OTP_CONFIG.dynamicAreaSize),
  );
}

/** `rse_non_secret_cm_provisioning_values_t`. */
export function encodeNonSecretCmValues(v: CmValues23): Uint8Array {
  const icsSize = RSE_2_3_OTP_CONFIG.dmaIcsSize;
  if (v.dmaIcs.length > icsSize) throw bad(`the DMA ICS holds ${icsSize} bytes, got ${v.dmaIcs.length}`, 'otp_dma_ics');
  const cm = new AreaWriter('cm');
  cm.set('cm.provisioning_blob_version', v.blobVersion ?? 0);
  cm.set('cm.cm_policies', v.cmPolicies ?? 0);
  cm.set('cm.cca_system_properties', v.ccaSystemProperties ?? 0);
  cm.set('cm.cc_trng_config.trng_rosc_sc', v.trngRoscSc);
  cm.set('cm.cc_trng_config.trng_in_use', Uint8Array.of(v.trngInUse & 0xff));
  cm.set('cm.entropy_config.high_threshold', v.entropyHighThreshold);
  cm.set('cm.entropy_config.repetition_count', v.entropyRepetitionCount);
  setRotpks(cm, 'cm', v.rotpks);
  if (v.sealSpareArrays === true) sealSpares(cm, 'cm', v.rotpks);
  const bl = new AreaWriter('bl1_2');
  bl.set('bl1_2.bl1_2_size', v.bl1_2.length);
  bl.set('bl1_2.version', v.bl1_2Version ?? 0);
  bl.set('bl1_2.bl1_2_hash', v.bl1_2Hash);
  bl.setAfter('bl1_2.bl1_2_hash', v.bl1_2, RSE_2_3_OTP_CONFIG.bl1_2MaxSize);
  const ics = new Uint8Array(icsSize);
  ics.set(v.dmaIcs);
  return new Uint8Array(Buffer.concat([areaInfos(), ics, u32le(v.dmaIcs.length), cm.bytes, bl.bytes]));
}

/** `rse_non_secret_dm_provisioning_values_t`: the OTP DM area. */
export function encodeNonSecretDmValues(v: DmValues23): Uint8Array {
  const dm = new AreaWriter('dm');
  dm.set('dm.provisioning_blob_version', v.blobVersion ?? 0);
  dm.set('dm.dm_policies', v.dmPolicies ?? 0);
  setRotpks(dm, 'dm', v.rotpks);
  return dm.bytes;
}

/** `rse_secret_cm_provisioning_values_t` / `..._dm_...`: the keys, each 32 bytes (zero when not given). */
export function encodeSecretValues(keys: readonly (Uint8Array | undefined)[]): Uint8Array {
  const out = new Uint8Array(32 * keys.length);
  keys.forEach((k, i) => {
    if (k === undefined) return;
    if (k.length !== 32) throw bad(`secret value ${i} is ${k.length} bytes, not 32`, 'secret values');
    out.set(k, 32 * i);
  });
  return out;
}

/**
 * `rse_rotpk_revocation_dm_provisioning_values_t` (and the CM one): the array index, how many
 * ROTPKs follow, their policy word, then each ROTPK hash slot (`RSE_OTP_DM_ROTPK_AMOUNT` of them).
 */
export function encodeRotpkArrayValues(prefix: 'cm' | 'dm', index: number, rotpks: readonly Omit<RotpkValue, 'area'>[]): Uint8Array {
  const c = RSE_2_3_OTP_CONFIG;
  const slots = prefix === 'cm' ? c.cmRotpksPerArea : c.dmRotpksPerArea;
  if (rotpks.length > slots) throw bad(`a ${prefix.toUpperCase()} ROTPK array holds ${slots} keys, got ${rotpks.length}`, 'rotpks');
  const out = new Uint8Array(12 + slots * c.rotpkSize);
  let policies = 0;
  for (const r of rotpks) {
    if (r.index >= slots) throw bad(`${prefix} ROTPK index ${r.index} does not exist`, 'rotpks');
    const slot = rotpkSlot(r);
    out.set(slot.digest, 12 + r.index * c.rotpkSize);
    policies |= slot.policyBits;
  }
  out.set(u32le(index >>> 0, rotpks.length, policies >>> 0), 0);
  return out;
}
