/**
 * Building MCUboot images exactly as imgtool 2.4.0 does (spec §2): header, header padding,
 * protected TLVs in imgtool's order, the hash over header..protected TLVs, key and signature
 * TLVs, optional encryption and compression, the trailer, padding and the size check against the
 * slot; in memory or streamed piece by piece. The options are in `sign-options.ts`.
 * @module
 */

import { type AsymKey, HASH_SIZES, type HashAlg, hash, hasher, randomBytes } from '../crypto/index.ts';
import { NAMESPACE_DNS, parseUuid, uuid5 } from '../crypto/uuid.ts';
import { ByteWriter, concatBytes, type Endian } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import { encodeBootRecord } from './boot-record.ts';
import {
  IMAGE_FLAGS,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  isPredefinedTlv,
  isTfm23KnownTlv,
  MAX_SW_TYPE_LENGTH,
  TLV,
  TLV_INFO_MAGIC,
  TLV_INFO_SIZE,
  TLV_PROT_INFO_MAGIC,
  TLV_TFM_2_3,
  TLV_VENDOR_MAX,
  TLV_VENDOR_MIN,
} from './constants.ts';
import { cryptPayload, wrapImageKey } from './encrypt.ts';
import { allowedHashes, imageSigner, mcubootPublicKeyBytes, signatureTlvType, signatureTypeName, signImage } from './keys.ts';
import {
  type PayloadStream,
  readPayload,
  type ShaChoice,
  type SignedImage,
  type SignInput,
  type SignOptions,
  type StreamInput,
} from './sign-options.ts';
import { bootMagic, defaultMaxAlign, imageOkFromEnd, trailerSize } from './trailer.ts';
import { formatVersion } from './version.ts';

export const SHA_TLV: Readonly<Record<HashAlg, number>> = { sha256: TLV.SHA256, sha384: TLV.SHA384, sha512: TLV.SHA512 };
export const SHA_NAME: Readonly<Record<HashAlg, string>> = { sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' };
export const USER_SHA: Readonly<Record<Exclude<ShaChoice, 'auto'>, HashAlg>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

export function usage(msg: string, field: string): RseError {
  return new RseError('E_ARGUMENT', msg, { field });
}

export function checkU32(v: number, field: string): number {
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw usage(`${field} ${v} does not fit in 32 bits`, field);
  return v;
}

/** The image hash for a key and a `--sha` choice, with imgtool's rules. */
export function selectHash(key: AsymKey | undefined, sha: ShaChoice, pure: boolean): HashAlg {
  if (key === undefined) return sha === 'auto' ? 'sha256' : USER_SHA[sha];
  const allowed = allowedHashes(key, pure);
  if (sha === 'auto' || pure) return allowed[0] as HashAlg;
  const want = USER_SHA[sha];
  if (allowed.includes(want)) return want;
  throw usage(
    `Key ${signatureTypeName(key)} can not be used with --sha ${sha}; allowed: ${allowed.map((a) => a.slice(3)).join(', ')}`,
    '--sha',
  );
}

export class TlvBuilder {
  readonly #w: ByteWriter;
  readonly #magic: number;
  constructor(magic: number, endian: Endian) {
    this.#magic = magic;
    this.#w = new ByteWriter(256, endian);
  }
  /** Named types are written as bytes `type, 0`: in big-endian images too (imgtool's quirk). */
  add(type: number, value: Uint8Array, custom = false): void {
    if (value.length > 0xffff) throw usage(`TLV 0x${type.toString(16)} value of ${value.length} bytes exceeds 65535`, 'tlv');
    if (custom) this.#w.u16(type);
    else this.#w.u8(type).u8(0);
    this.#w.u16(value.length).bytes(value);
  }
  get size(): number {
    return this.#w.length === 0 ? 0 : this.#w.length + TLV_INFO_SIZE;
  }
  finish(): Uint8Array {
    if (this.#w.length === 0) return new Uint8Array(0);
    const head = new ByteWriter(4, this.#w.littleEndian ? 'little' : 'big');
    head.u16(this.#magic).u16(this.size);
    return concatBytes([head.finish(), this.#w.finish()]);
  }
}

/** The largest slot `--pad` fills (no flash an MCUboot image lives in comes near it). */
export const MAX_PADDED_SLOT = 0x4000_0000;

/** Builds a signed (or unsigned, or encrypted) image from `input`, or the vector to sign externally. */
export function signImageFile(input: SignInput, o: SignOptions): SignedImage {
  return build(input.data, input.baseAddr, o, undefined);
}

/**
 * {@link signImageFile} for a payload read once in pieces: `emit` receives the header block, then
 * each payload piece as it is hashed; the returned image's `parts` are what follows them (the TLV
 * areas). Same bytes as {@link signImageFile}. Needs `--pad-header` (the header is not taken from
 * the input) and refuses what must hold the whole payload: encryption, pure signatures, vectors.
 */
export function signImageStream(input: StreamInput, o: SignOptions, emit: (piece: Uint8Array) => void): SignedImage {
  const why =
    o.encrypt !== undefined
      ? 'encryption'
      : o.pure
        ? 'a pure signature'
        : o.vectorToSign !== undefined
          ? '--vector-to-sign'
          : !o.padHeader
            ? 'a header taken from the input (no --pad-header)'
            : undefined;
  if (why !== undefined) throw new RseError('E_UNSUPPORTED', `a streamed payload cannot be signed with ${why}`, { field: 'infile' });
  return build(input.stream, input.baseAddr, o, emit);
}

export function build(
  data: Uint8Array | PayloadStream,
  inputBase: number | undefined,
  o: SignOptions,
  emit: ((piece: Uint8Array) => void) | undefined,
): SignedImage {
  const endian = o.endian ?? 'little';
  const erasedVal = o.erasedVal ?? 0xff;
  const align = o.align ?? 1;
  const maxAlign = o.maxAlign ?? defaultMaxAlign(align);
  const pure = o.pure ?? false;
  const sha = o.sha ?? 'auto';
  const hdr = o.headerSize;
  if (!Number.isSafeInteger(hdr) || hdr < IMAGE_HEADER_SIZE) {
    throw usage(`Minimum value for -H/--header-size is ${IMAGE_HEADER_SIZE}`, '--header-size');
  }
  if (hdr > 0xffff) throw usage(`header size ${hex0x(hdr)} does not fit the 16-bit ih_hdr_size`, '--header-size');
  if (![1, 2, 4, 8, 16, 32].includes(align)) throw usage(`Invalid alignment: ${align}`, '--align');
  if (![8, 16, 32].includes(maxAlign)) throw usage(`Invalid max alignment: ${maxAlign}`, '--max-align');
  checkU32(o.slotSize, '--slot-size');
  // A padded image is the whole slot: bounded before anything is allocated or written.
  if (o.pad === true && o.slotSize > MAX_PADDED_SLOT)
    throw new RseError(
      'E_SIZE',
      `a padded slot of ${hex0x(o.slotSize)} bytes is past the ${hex0x(MAX_PADDED_SLOT)} (1 GiB) this tool writes`,
      {
        field: '--slot-size',
      },
    );
  const loadAddr = checkU32(o.loadAddr ?? 0, '--load-addr');
  const romFixed = checkU32(o.romFixed ?? 0, '--rom-fixed');
  if (loadAddr !== 0 && romFixed !== 0) throw usage('Can not set rom_fixed and load_addr at the same time', '--rom-fixed');
  if (o.key !== undefined && !o.key.isPrivate) {
    throw new RseError('E_KEY', 'Cannot sign with a public-only PEM; signing requires the private key.', { field: '--key' });
  }
  if (o.key !== undefined && o.fixedSignature !== undefined) {
    throw usage('Can not sign using key and provide fixed-signature at the same time', '--fix-sig');
  }
  if (pure && sha !== 'auto') {
    throw usage('Pure signatures enforce the preferred hash algorithm; --sha cannot be combined with --pure', '--sha');
  }
  const enc = o.encrypt;
  if (enc !== undefined && o.key !== undefined) {
    const s = o.key.type;
    const e = enc.key.type;
    const family = (t: string): string => (t.startsWith('rsa') ? 'rsa' : t);
    if ((s.startsWith('ecdsa') || s.startsWith('rsa')) && family(s) !== family(e)) {
      throw usage('Signing and encryption must use the same type of key', '--encrypt');
    }
  }

  // Which key decides the hash: the signing key, else the fixed signature's public key.
  const pubKey = o.key ?? o.fixedSignature?.publicKey ?? o.publicKey;
  const hashAlg = selectHash(pubKey, sha, pure);
  const pubBytes = pubKey === undefined ? undefined : mcubootPublicKeyBytes(pubKey);
  const keyHash = pubBytes === undefined ? new Uint8Array(32) : hash(hashAlg, pubBytes);

  // Payload: header space + input.
  let headerBlock: Uint8Array;
  let payload: Uint8Array | PayloadStream;
  let baseAddr = inputBase;
  if (o.padHeader) {
    headerBlock = new Uint8Array(hdr).fill(erasedVal);
    payload = data;
    if (baseAddr) baseAddr -= hdr;
  } else {
    const bytes = data as Uint8Array;
    if (bytes.length < hdr) {
      throw usage(`input (${bytes.length} bytes) is shorter than the ${hex0x(hdr)}-byte header; use --pad-header`, 'infile');
    }
    for (let i = 0; i < hdr; i++) {
      if (bytes[i] !== 0) {
        throw usage('Header padding was not requested and image does not start with zeros', '--pad-header');
      }
    }
    headerBlock = bytes.slice(0, hdr);
    payload = bytes.subarray(hdr);
  }
  if (enc !== undefined && payload instanceof Uint8Array) {
    const rem = (hdr + payload.length) % 16;
    if (rem !== 0) payload = concatBytes([payload, new Uint8Array(16 - rem)]);
  }
  const imgSize = checkU32(payload.length, 'image size');

  // Protected TLVs, in imgtool's order.
  const prot = new TlvBuilder(TLV_PROT_INFO_MAGIC, endian);
  if (o.securityCounter !== undefined) {
    const v = o.version;
    const sc = o.securityCounter === 'auto' ? ((v.major << 24) >>> 0) + (v.minor << 16) + v.revision : o.securityCounter;
    prot.add(TLV.SEC_CNT, new ByteWriter(4, endian).u32(checkU32(sc, '--security-counter')).finish());
  }
  if (o.bootRecord !== undefined) {
    if (o.bootRecord.length > MAX_SW_TYPE_LENGTH) {
      throw usage(
        `'${o.bootRecord}' is too long (${o.bootRecord.length} characters) for sw_type. Its maximum allowed length is ${MAX_SW_TYPE_LENGTH} characters.`,
        '--boot-record',
      );
    }
    prot.add(
      TLV.BOOT_RECORD,
      encodeBootRecord({
        swType: o.bootRecord,
        version: formatVersion(o.version, false),
        signerId: keyHash,
        measurementDescription: SHA_NAME[hashAlg],
        measurementValue: new Uint8Array(HASH_SIZES[hashAlg]),
      }),
    );
  }
  for (const d of o.dependencies ?? []) {
    if (!Number.isSafeInteger(d.imageId) || d.imageId < 0 || d.imageId > 0xff) {
      throw usage(`dependency image id ${d.imageId} does not fit in 8 bits`, '--dependencies');
    }
    const w = new ByteWriter(12, endian);
    w.u8(d.imageId).fill(0, 3).u8(d.version.major).u8(d.version.minor).u16(d.version.revision).u32(d.version.build);
    prot.add(TLV.DEPENDENCY, w.finish());
  }
  for (const [type, value] of o.extraProtectedTlvs ?? []) prot.add(type, value);
  let vidBytes: Uint8Array | undefined;
  if (o.vid !== undefined) {
    vidBytes = parseUuidArg(o.vid, NAMESPACE_DNS, '--vid');
    prot.add(TLV.UUID_VID, vidBytes);
  }
  if (o.cid !== undefined) prot.add(TLV.UUID_CID, parseUuidArg(o.cid, vidBytes, '--cid'));
  const seen = new Set<number>();
  for (const [tag, value] of o.customTlvs ?? []) {
    if (seen.has(tag)) throw usage(`Custom TLV ${hex0x(tag)} already exists.`, '--custom-tlv');
    if (isPredefinedTlv(tag)) throw usage(`Custom TLV ${hex0x(tag)} conflicts with predefined TLV.`, '--custom-tlv');
    if (tag < TLV_VENDOR_MIN || tag > TLV_VENDOR_MAX) {
      throw usage(
        `Invalid custom TLV type value '${hex0x(tag, 4)}', allowed value should be between ${hex0x(TLV_VENDOR_MIN, 4)} and ${hex0x(TLV_VENDOR_MAX, 4)}`,
        '--custom-tlv',
      );
    }
    seen.add(tag);
    prot.add(tag, value, true);
  }
  const protBytes = prot.finish();
  if (protBytes.length > 0xffff) throw usage(`protected TLV area of ${protBytes.length} bytes exceeds 65535`, 'tlv');

  // Header.
  let flags = o.extraFlags ?? 0;
  if (enc !== undefined) flags |= enc.keyLen === 256 ? IMAGE_FLAGS.ENCRYPTED_AES256 : IMAGE_FLAGS.ENCRYPTED_AES128;
  if (loadAddr !== 0) flags |= IMAGE_FLAGS.RAM_LOAD;
  if (romFixed !== 0) flags |= IMAGE_FLAGS.ROM_FIXED;
  if (o.nonBootable) flags |= IMAGE_FLAGS.NON_BOOTABLE;
  const v = o.version;
  const hw = new ByteWriter(IMAGE_HEADER_SIZE, endian);
  hw.u32(IMAGE_MAGIC)
    .u32(romFixed || loadAddr)
    .u16(hdr)
    .u16(protBytes.length)
    .u32(imgSize)
    .u32(flags);
  hw.u8(v.major).u8(v.minor).u16(v.revision).u32(v.build).u32(0);
  headerBlock.set(hw.finish(), 0);

  // Hash over the plaintext: header block, payload, protected TLVs. A streamed payload is hashed
  // (and, for ECDSA, signed) piece by piece as it is emitted.
  const signer =
    emit !== undefined && o.key !== undefined && o.fixedSignature === undefined ? imageSigner(o.key, o.padSig === true) : undefined;
  let region: Uint8Array[];
  let digest: Uint8Array;
  if (payload instanceof Uint8Array) {
    region = [headerBlock, payload, protBytes];
    digest = hash(hashAlg, ...region);
  } else {
    const h = hasher(hashAlg);
    const take = (piece: Uint8Array): void => {
      h.update(piece);
      signer?.update(piece);
      emit?.(piece);
    };
    take(headerBlock);
    readPayload(payload, imgSize, take);
    h.update(protBytes);
    signer?.update(protBytes);
    region = [];
    digest = h.digest();
  }
  const hashedSize = hdr + imgSize + protBytes.length;

  const common = {
    hashAlg,
    digest,
    hashedSize,
    slotSize: o.slotSize,
    pad: o.pad === true || o.confirm === true || o.test === true,
    erasedVal,
    maxAlign,
    confirm: o.confirm === true,
    test: o.test === true,
    overwriteOnly: o.overwriteOnly === true,
    magic: bootMagic(maxAlign, endian === 'big'),
  };
  const tsizeFor = (encTlvLen: number): number =>
    trailerSize({
      align,
      maxAlign,
      ...(o.maxSectors === undefined ? {} : { maxSectors: o.maxSectors }),
      overwriteOnly: o.overwriteOnly === true,
      encrypted: enc !== undefined,
      saveEnctlv: o.saveEnctlv === true,
      encTlvLen,
    });

  const unprot = new TlvBuilder(TLV_INFO_MAGIC, endian);
  unprot.add(SHA_TLV[hashAlg], digest);
  if (pure) unprot.add(TLV.SIG_PURE, new Uint8Array([1]));

  if (o.vectorToSign !== undefined) {
    const parts = o.vectorToSign === 'payload' ? region : [digest];
    const size = parts.reduce((n, p) => n + p.length, 0);
    return { kind: 'vector', parts, size, baseAddr, signature: undefined, signatures: [], trailerSize: tsizeFor(0), ...common };
  }

  let signature: Uint8Array | undefined;
  const signatures: Uint8Array[] = [];
  const fixed = o.fixedSignature;
  const keyIdTlv = (i: number): void => {
    const id = o.psaKeyIds?.[i];
    if (id === undefined) return;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw usage(`PSA key id ${id} is not a u32`, '--psa-key-ids');
    unprot.add(TLV_TFM_2_3.KEYID, new ByteWriter(4, endian).u32(id).finish());
  };
  if (pubKey !== undefined && (o.key !== undefined || fixed !== undefined)) {
    keyIdTlv(0);
    unprot.add(o.publicKeyFormat === 'full' ? TLV.PUBKEY : TLV.KEYHASH, o.publicKeyFormat === 'full' ? (pubBytes as Uint8Array) : keyHash);
    const sigType = signatureTlvType(pubKey);
    if (sigType === undefined) throw new RseError('E_KEY', `a ${pubKey.type} key cannot sign images`, { field: '--key' });
    signature =
      signer !== undefined
        ? signer.sign(digest)
        : o.key !== undefined
          ? signImage(o.key, region, digest, pure, o.padSig === true)
          : (fixed as { signature: Uint8Array }).signature;
    unprot.add(sigType, signature);
    signatures.push(signature);
  }
  (o.additionalKeys ?? []).forEach((k, n) => {
    const bytes = mcubootPublicKeyBytes(k);
    const type = signatureTlvType(k);
    if (type === undefined) throw new RseError('E_KEY', `a ${k.type} key cannot sign images`, { field: '--key' });
    keyIdTlv(n + 1);
    unprot.add(o.publicKeyFormat === 'full' ? TLV.PUBKEY : TLV.KEYHASH, o.publicKeyFormat === 'full' ? bytes : hash(hashAlg, bytes));
    const sig = signImage(k, region, digest, false, o.padSig === true);
    signatures.push(sig);
    unprot.add(type, sig);
  });

  let encTlvLen = 0;
  if (enc !== undefined) {
    const keyLen = enc.keyLen === 256 ? 32 : 16;
    const aesKey = enc.aesKey ?? (o.random ?? randomBytes)(keyLen);
    if (aesKey.length !== keyLen) throw usage(`AES key must be ${keyLen} bytes`, '--encrypt-keylen');
    const wrapped = wrapImageKey(enc.key, aesKey, enc.hmacSha ?? 256, enc.ephemeral);
    encTlvLen = wrapped.value.length;
    unprot.add(wrapped.tlvType, wrapped.value);
    if (!enc.clear) payload = cryptPayload(aesKey, payload as Uint8Array);
  }

  for (const [tag, value] of o.extraTlvs ?? []) unprot.add(tag, value, !isTfm23KnownTlv(tag));

  const unprotBytes = unprot.finish();
  const parts = payload instanceof Uint8Array ? [headerBlock, payload, protBytes, unprotBytes] : [protBytes, unprotBytes];
  const size = hashedSize + unprotBytes.length;
  const tsize = tsizeFor(encTlvLen);
  if (o.slotSize > 0 && size + tsize > o.slotSize) {
    throw new RseError('E_SIZE', `Image size (${hex0x(size)}) + trailer (${hex0x(tsize)}) exceeds requested size ${hex0x(o.slotSize)}`, {
      field: '--slot-size',
    });
  }
  return { kind: 'image', parts, size, baseAddr, signature, signatures, trailerSize: tsize, ...common };
}

export function parseUuidArg(value: string, namespace: Uint8Array | undefined, field: string): Uint8Array {
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value) || /^[0-9a-fA-F]{32}$/.test(value)) {
    return parseUuid(value);
  }
  if (namespace === undefined) throw usage(`'${value}' is not a UUID; a name-based ${field} needs --vid as its namespace`, field);
  return uuid5(namespace, value);
}

/**
 * The bytes of a binary output file: the body, then with `--pad` erased bytes up to the slot
 * size, the trailer magic and (with `--confirm`) image_ok.
 */
export function imageFileParts(img: SignedImage): Uint8Array[] {
  if (!img.pad) return [...img.parts];
  const padLen = Math.max(0, img.slotSize - img.size - img.trailerSize) + img.trailerSize;
  const tail = new Uint8Array(padLen).fill(img.erasedVal);
  tail.set(img.magic, padLen - img.magic.length);
  if (img.confirm && !img.overwriteOnly) tail[padLen + imageOkFromEnd(img.maxAlign)] = 0x01;
  return [...img.parts, tail];
}

/** The segments of an Intel HEX output: the body at `base`, and with `--pad` only the trailer fields. */
export function imageHexSegments(img: SignedImage, base: number): { address: number; data: Uint8Array }[] {
  const segs = [{ address: base, data: concatBytes(img.parts) }];
  if (img.pad) {
    const end = base + img.slotSize;
    if ((img.test || img.confirm) && !img.overwriteOnly) {
      const flag = new Uint8Array(img.maxAlign).fill(img.erasedVal);
      if (img.confirm) flag[0] = 0x01;
      segs.push({ address: end + imageOkFromEnd(img.maxAlign), data: flag });
    }
    segs.push({ address: end - img.magic.length, data: img.magic });
  }
  return segs;
}
