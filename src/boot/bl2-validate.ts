/**
 * MCUboot's validation of an image in RAM as TF-M's BL2 runs it (`image_validate.c`,
 * `bootutil_img_validate`): the TLVs through the `rse verify` parser with the trailer bound, the
 * unprotected-TLV allow list, the hash, the PUBKEY against the image's OTP ROTPK hash, the
 * signature, the security counter against the NV counter, the dependencies; and the image size
 * `boot_read_image_size` reads before loading.
 * @module
 */
import { constantTimeEqual, HASH_SIZES, type HashAlg, hash, importPublicDer } from '../crypto/index.ts';
import type { Bus } from '../device/atu.ts';
import type { Device } from '../device/device.ts';
import { readU16le, readU32le } from '../lib/bytes.ts';
import { isRseError, RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { TLV, TLV_INFO_MAGIC, TLV_PROT_INFO_MAGIC, UNPROTECTED_TLV_ALLOW_LIST } from '../mcuboot/constants.ts';
import { type ImageHeader, parseImage } from '../mcuboot/image.ts';
import { verifyImageSignature } from '../mcuboot/keys.ts';
import type { ImageVersion } from '../mcuboot/version.ts';
import { rotpkArrayIndex } from '../otp/zero-count-2.3.ts';
import type { Bl2ImageSpec } from '../profiles/types.ts';

/** `BOOT_MAX_ALIGN` 8: the swap-info field starts 40 bytes before the end of the slot. */
export const TRAILER_RESERVE = 40;

/** Why an image or slot failed, for the check line (a slot BL2 cannot boot from). */
export class Reject extends RseError {
  constructor(message: string) {
    super('E_NO_IMAGE', message, { field: 'image' });
    this.name = 'Reject';
  }
}

export interface Tlv {
  readonly type: number;
  readonly value: Uint8Array;
  readonly protected: boolean;
}

/**
 * The TLVs of an image in RAM, walked by the MCUboot parser (`rse verify`'s, which keeps
 * MCUboot's iterator rules), then bounded by the trailer's swap-info field; throws Reject.
 */
export function imageTlvs(img: Uint8Array, maxEnd: number): Tlv[] {
  let p: ReturnType<typeof parseImage>;
  try {
    p = parseImage(img);
  } catch (e) {
    if (isRseError(e)) throw new Reject(e.message);
    throw e;
  }
  if (p.tlvEnd > maxEnd) throw new Reject(`the TLVs end at ${hex0x(p.tlvEnd)}, past ${hex0x(maxEnd)} (the trailer's swap-info field)`);
  const of = (entries: readonly { type: number; value: Uint8Array }[], prot: boolean): Tlv[] =>
    entries.map((e) => ({ type: e.type, value: e.value, protected: prot }));
  return [...of(p.protectedArea?.entries ?? [], true), ...of(p.unprotectedArea.entries, false)];
}

function sigLengthOk(type: number, keyType: string, len: number): boolean {
  if (type === TLV.RSA2048) return keyType === 'rsa-2048' && len === 256;
  if (type === TLV.RSA3072) return keyType === 'rsa-3072' && len === 384;
  if (type === TLV.ED25519) return keyType === 'ed25519' && len === 64;
  return keyType.startsWith('ecdsa') && len <= 128;
}

function expectedSigTlv(keyType: string): number {
  switch (keyType) {
    case 'rsa-2048':
      return TLV.RSA2048;
    case 'rsa-3072':
      return TLV.RSA3072;
    case 'ed25519':
      return TLV.ED25519;
    default:
      return TLV.ECDSASIG;
  }
}

export interface Validated {
  readonly digest: Uint8Array;
  readonly hashAlg: HashAlg;
  readonly securityCounter: number;
  readonly signerId: Uint8Array;
  readonly dependencies: readonly { readonly image: number; readonly min: ImageVersion }[];
  /** Multi-signature builds: which ROTPKs signed, against their policies (for the report). */
  readonly signers?: string;
}

interface SignerSlot {
  /** MCUboot's key index: 0 the CM ROTPK, 1 the DM ROTPK. */
  readonly index: 0 | 1;
  readonly who: 'cm' | 'dm';
  readonly field: string;
  /** The ROTPK hash the OTP holds there, read once. */
  readonly hash: Uint8Array;
  readonly required: boolean;
  state: 'no key' | 'bad signature' | 'verified';
}

/** The ROTPKs that may sign an image (`boot_retrieve_public_key_hash`), from the arrays in use, with their policies. */
function signerSlots(dev: Device, signers: NonNullable<Bl2ImageSpec['signers']>): SignerSlot[] {
  const out: SignerSlot[] = [];
  for (const [index, who] of [
    [0, 'cm'],
    [1, 'dm'],
  ] as const) {
    const slot = signers[who];
    if (slot === undefined) continue;
    const area = `${who}.rotpk_areas_${rotpkArrayIndex(dev.otp, who)}`;
    const policies = readU32le(dev.plat.read(`${area}.${who}_rotpk_policies`), 0);
    const field = `${area}.rotpk_${slot}`;
    out.push({ index, who, field, hash: dev.plat.read(field), required: ((policies >>> (18 + slot)) & 1) === 1, state: 'no key' });
  }
  return out;
}

/**
 * `bootutil_img_validate` with `MCUBOOT_IMAGE_MULTI_SIG_SUPPORT` and `MCUBOOT_HW_KEY`: each PUBKEY
 * is looked up among the image's CM then DM ROTPK hashes, the signature after it verified with it,
 * the verified key indexes collected; then `boot_plat_check_key_policy`: every ROTPK whose policy
 * is "required" must have signed. An image none of whose ROTPKs is required passes without any
 * valid signature (as upstream). Returns the signer id (the first verified key) and a report.
 */
function multiSigCheck(
  dev: Device,
  signers: NonNullable<Bl2ImageSpec['signers']>,
  all: readonly Tlv[],
  signed: Uint8Array,
  digest: Uint8Array,
): { signerId: Uint8Array; detail: string } {
  const slots = signerSlots(dev, signers);
  let cur: { slot: SignerSlot; key: ReturnType<typeof importPublicDer>; id: Uint8Array } | undefined;
  let signerId: Uint8Array | undefined;
  for (const t of all) {
    if (t.type === TLV.PUBKEY) {
      const h = hash('sha256', t.value);
      cur = undefined;
      const slot = slots.find((x) => constantTimeEqual(h, x.hash.subarray(0, h.length)));
      if (slot === undefined) continue;
      try {
        cur = { slot, key: importPublicDer(t.value), id: h };
      } catch {
        cur = undefined;
      }
    } else if (cur !== undefined && t.type === expectedSigTlv(cur.key.type)) {
      const { slot, key, id } = cur;
      cur = undefined;
      if (!sigLengthOk(t.type, key.type, t.value.length))
        throw new Reject(`signature TLV of ${t.value.length} bytes for a ${key.type} key`);
      if (verifyImageSignature(key, [signed], digest, t.value, false)) {
        signerId ??= id;
        slot.state = 'verified';
      } else if (slot.state === 'no key') slot.state = 'bad signature';
    }
  }
  const name = (x: SignerSlot): string => `${x.who.toUpperCase()} ${x.field} (${x.required ? 'required' : 'optional'})`;
  for (const x of slots)
    if (x.required && x.state !== 'verified')
      throw new Reject(
        `${name(x)} did not sign: ${x.state === 'no key' ? 'no PUBKEY TLV was matched to it (MCUboot takes the first of the image ROTPKs a key hashes to)' : 'its signature does not verify'} (boot_plat_check_key_policy)`,
      );
  const verified = slots.filter((x) => x.state === 'verified');
  return {
    signerId: signerId ?? hash('sha256', new Uint8Array(0)),
    detail:
      verified.length === 0
        ? `no signature verified, none required by the ROTPK policies of ${slots.map(name).join(', ')}: accepted as upstream accepts it`
        : `signed by ${verified.map(name).join(' and ')}${
            slots.length > verified.length
              ? `; ${slots
                  .filter((x) => x.state !== 'verified')
                  .map((x) => `${name(x)}: ${x.state}`)
                  .join(', ')}`
              : ''
          }`,
  };
}

/**
 * Validation in RAM (`bootutil_img_validate`); throws Reject with the reason. `allow` adds
 * unprotected TLV types to MCUboot's base allow list (the branch's and the build's).
 */
export function validateInRam(
  dev: Device,
  spec: Bl2ImageSpec,
  img: Uint8Array,
  hdr: ImageHeader,
  areaSize: number,
  allow: ReadonlySet<number> = new Set(),
): Validated {
  const all = imageTlvs(img, areaSize - TRAILER_RESERVE);
  for (const t of all)
    if (!t.protected && !UNPROTECTED_TLV_ALLOW_LIST.has(t.type) && !allow.has(t.type))
      throw new Reject(`TLV 0x${t.type.toString(16)} is outside the protected area, where MCUboot allows only keys, hashes and signatures`);
  const pub = all.find((t) => t.type === TLV.PUBKEY);
  let keyType: string | undefined;
  let key: ReturnType<typeof importPublicDer> | undefined;
  if (pub !== undefined) {
    try {
      key = importPublicDer(pub.value);
      keyType = key.type;
    } catch {
      key = undefined;
    }
  }
  // Signer id and key lookup both use the PUBKEY's SHA-256: computed once.
  const pubHash = pub === undefined ? undefined : hash('sha256', pub.value);
  const hashAlg: HashAlg = keyType === 'ecdsa-p384' ? 'sha384' : 'sha256';
  const hashTlv = hashAlg === 'sha384' ? TLV.SHA384 : TLV.SHA256;
  const hashed = hdr.hdrSize + hdr.imgSize + hdr.protectTlvSize;
  const digest = hash(hashAlg, img.subarray(0, hashed));
  let hashOk = false;
  let sigOk = false;
  let keyOk = false;
  let counter: number | undefined;
  let sawSig = false;
  const deps: { image: number; min: ImageVersion }[] = [];
  const rotpkField = bl2RotpkField(dev, spec);
  const rotpk = dev.plat.read(rotpkField);
  const multi = dev.profile.bl2.multiSig?.enabled === true ? spec.signers : undefined;
  for (const t of all) {
    if (t.type === hashTlv) {
      if (t.value.length !== HASH_SIZES[hashAlg]) throw new Reject(`hash TLV is ${t.value.length} bytes`);
      if (!constantTimeEqual(t.value, digest))
        throw new Reject(`image hash mismatch: computed ${toHex(digest).slice(0, 16)}…, TLV says ${toHex(t.value).slice(0, 16)}…`);
      hashOk = true;
    } else if (multi !== undefined && (t.type === TLV.PUBKEY || t.type === expectedSigTlv(keyType ?? ''))) {
      // Keys and signatures: multiSigCheck below.
    } else if (t.type === TLV.PUBKEY) {
      keyOk = key !== undefined && constantTimeEqual(t === pub ? (pubHash as Uint8Array) : hash('sha256', t.value), rotpk);
    } else if (t.type === expectedSigTlv(keyType ?? '')) {
      sawSig = true;
      if (!keyOk || key === undefined) continue;
      if (!sigLengthOk(t.type, key.type, t.value.length))
        throw new Reject(`signature TLV of ${t.value.length} bytes for a ${key.type} key`);
      sigOk = verifyImageSignature(key, [img.subarray(0, hashed)], digest, t.value, false);
      keyOk = false;
    } else if (t.type === TLV.SEC_CNT) {
      if (t.value.length !== 4) throw new Reject(`SEC_CNT TLV is ${t.value.length} bytes`);
      const c = readU32le(t.value, 0);
      const nv = dev.plat.readCounter(bl2NvCounter(spec));
      if (c < nv) throw new Reject(`rollback: security counter ${c} is below NV counter ${bl2NvCounter(spec)} = ${nv}`);
      counter = c;
    } else if (t.type === TLV.DEPENDENCY && t.protected) deps.push(dependencyOf(t.value));
  }
  if (!hashOk) throw new Reject(`no ${hashAlg === 'sha384' ? 'SHA384' : 'SHA256'} hash TLV`);
  if (multi !== undefined) {
    const m = multiSigCheck(dev, multi, all, img.subarray(0, hashed), digest);
    if (counter === undefined) throw new Reject('no SEC_CNT TLV: the security counter is mandatory');
    return { digest, hashAlg, securityCounter: counter, signerId: m.signerId, dependencies: deps, signers: m.detail };
  }
  if (!sigOk) {
    if (pub === undefined) throw new Reject('no PUBKEY TLV: no key to check against the OTP ROTPK hash');
    if (key === undefined) throw new Reject('the PUBKEY TLV is not a public key');
    if (pubHash === undefined || !constantTimeEqual(pubHash, rotpk))
      throw new Reject(
        `the key's hash ${toHex(pubHash ?? new Uint8Array(0)).slice(0, 16)}… is not the OTP ${rotpkField} (${toHex(rotpk).slice(0, 16)}…)`,
      );
    throw new Reject(sawSig ? 'the signature does not verify with the image key' : 'no signature TLV');
  }
  if (counter === undefined) throw new Reject('no SEC_CNT TLV: the security counter is mandatory');
  return { digest, hashAlg, securityCounter: counter, signerId: pubHash ?? hash('sha256', new Uint8Array(0)), dependencies: deps };
}

/** A DEPENDENCY TLV's value: image id u8, 3 bytes padding, the minimum version (u8, u8, u16, u32). */
function dependencyOf(v: Uint8Array): { image: number; min: ImageVersion } {
  if (v.length !== 12) throw new Reject(`DEPENDENCY TLV is ${v.length} bytes, not 12`);
  return {
    image: v[0] as number,
    min: { major: v[4] as number, minor: v[5] as number, revision: readU16le(v, 6), build: readU32le(v, 8) },
  };
}

/**
 * What MCUboot reads from an image it did not validate (an image authenticated by its binding
 * tag): the hash TLV it measures, the signer (KEYHASH or the PUBKEY's SHA-256), the security
 * counter it raises the NV counter to, and the dependencies, all as the TLVs say (none checked).
 */
export function validateUnsigned(img: Uint8Array, areaSize: number): Validated {
  const all = imageTlvs(img, areaSize - TRAILER_RESERVE);
  const h = all.find((t) => t.type === TLV.SHA256 || t.type === TLV.SHA384);
  if (h === undefined) throw new Reject('no hash TLV to measure');
  const keyHash = all.find((t) => t.type === TLV.KEYHASH)?.value;
  const pub = all.find((t) => t.type === TLV.PUBKEY)?.value;
  const sc = all.find((t) => t.type === TLV.SEC_CNT && t.protected);
  if (sc === undefined || sc.value.length !== 4) throw new Reject('no 4-byte SEC_CNT TLV');
  const deps = all.filter((t) => t.type === TLV.DEPENDENCY && t.protected).map((t) => dependencyOf(t.value));
  return {
    digest: h.value,
    hashAlg: h.type === TLV.SHA384 ? 'sha384' : 'sha256',
    securityCounter: readU32le(sc.value, 0),
    signerId: keyHash ?? hash('sha256', pub ?? new Uint8Array(0)),
    dependencies: deps,
  };
}

/** `boot_read_image_size`: end of the unprotected TLVs. */
export function imageSize(bus: Bus, base: number, hdr: ImageHeader, info: Uint8Array): number {
  const off = hdr.hdrSize + hdr.imgSize;
  let magic = readU16le(info, 0);
  let tot = readU16le(info, 2);
  if (magic === TLV_PROT_INFO_MAGIC) {
    if (tot !== hdr.protectTlvSize) throw new Reject(`protected TLV area is ${tot} bytes, the header says ${hdr.protectTlvSize}`);
    const next = bus.read(base + off + tot, 4);
    magic = readU16le(next, 0);
    tot = readU16le(next, 2);
  } else if (hdr.protectTlvSize !== 0)
    throw new Reject(
      `the header declares ${hdr.protectTlvSize} bytes of protected TLVs, there are none at ${hex0x(off)} (ih_hdr_size + ih_img_size)`,
    );
  if (magic !== TLV_INFO_MAGIC) throw new Reject(`no TLV info magic 0x6907 after the payload`);
  return off + hdr.protectTlvSize + tot;
}

/** `do_regions_overlap` (touching ranges count as overlapping, as upstream). */
export function overlaps(startA: number, endA: number, startB: number, endB: number): boolean {
  if (startB > endA) return false;
  if (startB >= startA) return true;
  return endB > startA;
}

/** The OTP field of the key hash an image is checked against: fixed (2.1), or in the ROTPK array in use (2.3). */
export function bl2RotpkField(dev: Device, spec: Bl2ImageSpec): string {
  if (spec.rotpk === undefined) return spec.rotpkField;
  const who = spec.rotpk.array;
  return `${who}.rotpk_areas_${rotpkArrayIndex(dev.otp, who)}.rotpk_${spec.rotpk.slot}`;
}

/** The NV counter of an image. */
export function bl2NvCounter(spec: Bl2ImageSpec): string {
  return spec.nvCounter ?? `nv_counter_bl2_${spec.index}`;
}
