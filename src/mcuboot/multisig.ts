/**
 * Several signatures per image, as the imgtool of MCUboot's `tfm-2.3.0` branch writes them: each
 * signature is a unit `[KEYID] PUBKEY SIG` in the unprotected TLV area. Listing the units,
 * appending one to a padded image (the file keeps its size: the unit takes the place of padding)
 * and removing one by key id (the padding comes back), byte for byte as that imgtool does.
 * @module
 */
import { type AsymKey, HASH_SIZES, type HashAlg, hash } from '../crypto/index.ts';
import type { Endian } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { BOOT_MAGIC_SIZE, isTfm23KnownTlv, TLV, TLV_SIZE, TLV_TFM_2_3, tlvName } from './constants.ts';
import { HASH_TLV_ALG, imageEndian, magicMaxAlign, type ParsedImage, parseImage, type TlvEntry } from './image.ts';
import { mcubootPublicKeyBytes, signatureTlvType, signImage } from './keys.ts';

const SIGNATURE_TLVS: ReadonlySet<number> = new Set([TLV.RSA2048, TLV.RSA3072, TLV.ECDSASIG, TLV.ED25519]);

/** One signature unit of the unprotected TLV area. */
export interface SignatureUnit {
  /** The KEYID TLV's value, when the unit has one. */
  readonly keyId: number | undefined;
  readonly publicKey: TlvEntry;
  readonly signature: TlvEntry;
  /** The signature TLV's name as imgtool prints it (`ED25519`, `ECDSASIG`, `RSA2048`, `RSA3072`). */
  readonly typeName: string;
  /** Offset of the unit's first TLV header and the offset just past its last byte. */
  readonly start: number;
  readonly end: number;
}

/** An image's signature units, with what sign-append and sign-remove need to rewrite it. */
export interface SignatureUnits {
  readonly image: ParsedImage;
  readonly endian: Endian;
  readonly units: readonly SignatureUnit[];
  /** Where a new unit goes: after the last unit, or after the hash TLV when there is none. */
  readonly insertAt: number;
  readonly hashAlg: HashAlg;
  readonly digest: Uint8Array;
}

function unsupported(entry: TlvEntry): RseError {
  return new RseError('E_UNSUPPORTED', 'Invalid image: unsupported TLV', {
    field: `unprotected TLV 0x${entry.type.toString(16)}`,
    offset: entry.offset,
  });
}

/**
 * Parses the signature units. Like that imgtool, it refuses images whose signatures name their
 * key by KEYHASH ("Invalid image: unsupported TLV"): a unit must be `[KEYID] PUBKEY SIG`.
 */
export function signatureUnits(bytes: Uint8Array): SignatureUnits {
  const endian = imageEndian(bytes);
  const image = parseImage(bytes, endian);
  const entries = image.unprotectedArea.entries;
  const hashIndex = entries.findIndex((e) => HASH_TLV_ALG.has(e.type));
  if (hashIndex < 0) throw new RseError('E_NO_HASH', 'the image has no SHA256/SHA384/SHA512 TLV', { field: 'unprotected' });
  const hashEntry = entries[hashIndex] as TlvEntry;
  const hashAlg = HASH_TLV_ALG.get(hashEntry.type) as HashAlg;
  if (hashEntry.value.length !== HASH_SIZES[hashAlg]) {
    throw new RseError('E_BAD_FIELD', `hash TLV is ${hashEntry.value.length} bytes, expected ${HASH_SIZES[hashAlg]}`, {
      field: 'unprotected hash TLV',
      offset: hashEntry.offset,
    });
  }
  const units: SignatureUnit[] = [];
  let insertAt = hashEntry.offset + TLV_SIZE + hashEntry.value.length;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as TlvEntry;
    if (e.type === TLV.KEYHASH) throw unsupported(e);
    if (e.type !== TLV_TFM_2_3.KEYID && e.type !== TLV.PUBKEY) continue;
    let keyId: number | undefined;
    let j = i;
    if (e.type === TLV_TFM_2_3.KEYID) {
      if (e.value.length !== 4) {
        throw new RseError('E_BAD_FIELD', `KEYID TLV is ${e.value.length} bytes, expected 4`, { field: 'KEYID', offset: e.offset });
      }
      keyId = new DataView(e.value.buffer, e.value.byteOffset, 4).getUint32(0, endian === 'little');
      j++;
    }
    const pub = entries[j];
    const sig = entries[j + 1];
    if (pub?.type === TLV.KEYHASH) throw unsupported(pub);
    if (pub?.type !== TLV.PUBKEY || sig === undefined || !SIGNATURE_TLVS.has(sig.type)) {
      throw new RseError('E_BAD_FIELD', 'a signature unit must be [KEYID] PUBKEY followed by a signature TLV', {
        field: 'unprotected',
        offset: e.offset,
      });
    }
    const end = sig.offset + TLV_SIZE + sig.value.length;
    units.push({ keyId, publicKey: pub, signature: sig, typeName: tlvName(sig.type), start: e.offset, end });
    insertAt = end;
    i = j + 1;
  }
  return { image, endian, units, insertAt, hashAlg, digest: hashEntry.value };
}

/** `imgtool sign-list`: one line per unit, or `No signatures found.`. */
export function signListText(bytes: Uint8Array): string {
  const { units } = signatureUnits(bytes);
  if (units.length === 0) return 'No signatures found.\n';
  return units
    .map(
      (u, i) =>
        `[${i}] type=${u.typeName}, len=${u.signature.value.length}, key_id=${u.keyId ?? 'None'}, ` +
        `pub_key=${toHex(u.publicKey.value.subarray(0, 5))}..., signature=${toHex(u.signature.value.subarray(0, 10))}...\n`,
    )
    .join('');
}

/** A boot magic, its max_align in either byte order (big-endian images swap the first two bytes). */
function isBootMagic(m: Uint8Array): boolean {
  return magicMaxAlign(m) !== undefined || magicMaxAlign(Uint8Array.of(m[1] as number, m[0] as number, ...m.subarray(2))) !== undefined;
}

function tlvHeader(type: number, len: number, endian: Endian): Uint8Array {
  const h = new Uint8Array(TLV_SIZE);
  const dv = new DataView(h.buffer);
  // Known tags are `u8 type, u8 0` in either byte order (imgtool's layout).
  dv.setUint16(0, endian === 'big' && isTfm23KnownTlv(type) ? type << 8 : type, endian === 'little');
  dv.setUint16(2, len, endian === 'little');
  return h;
}

function setTot(out: Uint8Array, u: SignatureUnits, tot: number): void {
  if (tot > 0xffff)
    throw new RseError('E_SIZE', `the unprotected TLV area would be ${tot} bytes, more than 65535`, { field: 'tlv_info.it_tlv_tot' });
  new DataView(out.buffer, out.byteOffset).setUint16(u.image.hashedEnd + 2, tot, u.endian === 'little');
}

/**
 * `imgtool sign-append`: signs the image (header .. protected TLVs) with `key` and inserts
 * `KEYID PUBKEY SIG` after the last unit. The image must be padded (boot magic at the end) and
 * the unit takes the place of as many erased bytes before the trailer, so the file keeps its size.
 */
export function signAppend(bytes: Uint8Array, key: AsymKey, keyId: number): Uint8Array {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) {
    throw new RseError('E_ARGUMENT', `--key-id ${keyId} is not a 32-bit unsigned integer`, { field: '--key-id' });
  }
  if (bytes.length < BOOT_MAGIC_SIZE || !isBootMagic(bytes.subarray(bytes.length - BOOT_MAGIC_SIZE))) {
    throw new RseError('E_UNSUPPORTED', 'Incompatible image: No boot magic value found at the end', {
      field: 'trailer.magic',
      offset: Math.max(0, bytes.length - BOOT_MAGIC_SIZE),
    });
  }
  const u = signatureUnits(bytes);
  const sigType = signatureTlvType(key);
  if (sigType === undefined) throw new RseError('E_KEY', `a ${key.type} key cannot sign an image`, { field: '--key' });
  const region = [bytes.subarray(0, u.image.hashedEnd)];
  // RSA-PSS signs SHA-256(region); Ed25519 the image digest; ECDSA hashes the region itself.
  const digest = key.type === 'rsa-2048' || key.type === 'rsa-3072' ? hash('sha256', region[0] as Uint8Array) : u.digest;
  const sig = signImage(key, region, digest, false);
  const pub = mcubootPublicKeyBytes(key);
  const id = new Uint8Array(4);
  new DataView(id.buffer).setUint32(0, keyId, u.endian === 'little');
  const unit = [
    tlvHeader(TLV_TFM_2_3.KEYID, 4, u.endian),
    id,
    tlvHeader(TLV.PUBKEY, pub.length, u.endian),
    pub,
    tlvHeader(sigType, sig.length, u.endian),
    sig,
  ];
  const unitLen = unit.reduce((n, p) => n + p.length, 0);
  const tlvEnd = u.image.tlvEnd;
  const room = bytes.subarray(tlvEnd, bytes.length - BOOT_MAGIC_SIZE);
  let erased = 0;
  while (erased < room.length && room[erased] === 0xff) erased++;
  if (erased < unitLen) {
    throw new RseError('E_SIZE', `the slot has ${erased} erased byte(s) after the TLVs, the signature needs ${unitLen}`, {
      field: 'padding',
      offset: tlvEnd,
    });
  }
  const out = new Uint8Array(bytes.length);
  out.set(bytes.subarray(0, u.insertAt), 0);
  let at = u.insertAt;
  for (const p of unit) {
    out.set(p, at);
    at += p.length;
  }
  out.set(bytes.subarray(u.insertAt, tlvEnd), at);
  out.set(bytes.subarray(tlvEnd + unitLen), tlvEnd + unitLen);
  setTot(out, u, u.image.unprotectedArea.tot + unitLen);
  return out;
}

/**
 * `imgtool sign-remove`: removes the first unit whose KEYID is `keyId` and puts as many erased
 * bytes back after the TLVs. A unit without KEYID cannot be removed.
 */
export function signRemove(bytes: Uint8Array, keyId: number): Uint8Array {
  const u = signatureUnits(bytes);
  const unit = u.units.find((x) => x.keyId === keyId);
  if (unit === undefined) {
    throw new RseError('E_NOT_FOUND', `Invalid argument: signature with Key ID: ${keyId} not found`, { field: '--key-id' });
  }
  const len = unit.end - unit.start;
  const tlvEnd = u.image.tlvEnd;
  const out = new Uint8Array(bytes.length);
  out.set(bytes.subarray(0, unit.start), 0);
  out.set(bytes.subarray(unit.end, tlvEnd), unit.start);
  out.fill(0xff, tlvEnd - len, tlvEnd);
  out.set(bytes.subarray(tlvEnd), tlvEnd);
  setTot(out, u, u.image.unprotectedArea.tot - len);
  return out;
}
