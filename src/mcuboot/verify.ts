/**
 * Checking an MCUboot image: structure with the bootloader's bound rules, the hash over the
 * (decrypted, when a key is given) plaintext, the signature against a key, the key TLV against
 * that key, and the trailer magic of a padded slot. Stricter than `imgtool verify`, which ignores
 * key TLVs and trailers and crashes on truncated files.
 * @module
 */
import { type AsymKey, constantTimeEqual, HASH_SIZES, type HashAlg, hash, hasher } from '../crypto/index.ts';
import { bytesEqual } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { IMAGE_FLAGS, TLV, tlvName } from './constants.ts';
import { cryptPayload, unwrapImageKey } from './encrypt.ts';
import { HASH_TLV_ALG, imageEndian, type ParsedImage, parseImage, readTrailer, type TlvEntry, type TrailerInfo } from './image.ts';
import { allowedHashes, imageVerifier, mcubootPublicKeyBytes, signatureTlvType, verifyImageSignature } from './keys.ts';
import { type PayloadStream, readPayload } from './sign-options.ts';
import type { ImageVersion } from './version.ts';

const ENC_TLVS = new Set<number>([TLV.ENCRSA2048, TLV.ENCKW, TLV.ENCEC256, TLV.ENCX25519, TLV.ENCX25519_SHA512]);

/** The keys {@link verifyImage} checks an image with. */
export interface VerifyOptions {
  /** The signing key (private or public). Without it only the hash is checked. */
  readonly key?: AsymKey;
  /** The private encryption key, to verify an encrypted image over its plaintext. */
  readonly encKey?: AsymKey;
}

/** What {@link verifyImage} checked and found: version, hash, signature, key TLV, encryption, trailer. */
export interface VerifyReport {
  readonly version: ImageVersion;
  readonly hashAlg: HashAlg;
  readonly digest: Uint8Array;
  /** The verified signature TLV's type name, when a key was given. */
  readonly signatureType: string | undefined;
  /** `--pure` images: the signature over the whole image. */
  readonly pureSignature: Uint8Array | undefined;
  /** KEYHASH or PUBKEY, when the image carries one. */
  readonly keyTlv: 'KEYHASH' | 'PUBKEY' | undefined;
  readonly encrypted: boolean;
  readonly decrypted: boolean;
  readonly trailer: TrailerInfo | undefined;
  /** What was checked, one line each, in order. */
  readonly checks: readonly string[];
}

function fail(
  code: 'E_BAD_HASH' | 'E_NO_SIGNATURE' | 'E_KEY_MISMATCH' | 'E_NO_HASH' | 'E_BAD_FIELD' | 'E_BAD_MAGIC',
  msg: string,
  entry?: TlvEntry,
  field?: string,
): RseError {
  return new RseError(code, msg, {
    ...(field === undefined ? (entry === undefined ? {} : { field: tlvName(entry.type) }) : { field }),
    ...(entry === undefined ? {} : { offset: entry.offset }),
  });
}

/** Whether a PUBKEY TLV holds `key`, or a KEYHASH TLV its hash with the image's hash algorithm. */
function keyTlvMatches(entry: TlvEntry, key: AsymKey, hashAlg: HashAlg): boolean {
  const pub = mcubootPublicKeyBytes(key);
  return entry.type === TLV.PUBKEY ? bytesEqual(pub, entry.value) : bytesEqual(hash(hashAlg, pub), entry.value);
}

/** The KEYHASH/PUBKEY entry of `sig`'s signature unit: the last one before it. */
export function keyTlvBefore(entries: readonly TlvEntry[], sig: TlvEntry): TlvEntry | undefined {
  let found: TlvEntry | undefined;
  for (const e of entries) {
    if (e === sig) break;
    if (e.type === TLV.KEYHASH || e.type === TLV.PUBKEY) found = e;
  }
  return found;
}

/**
 * Verifies `bytes` (a whole image file, possibly a padded slot). Throws `RseError` on any failure.
 * With `payload`, the payload area of `bytes` (header size .. + image size) is a hole not yet read
 * and `payload` gives it, once, in pieces: hashed (and, for ECDSA, verified) as it comes, or, when
 * the image needs it whole (pure signature, decryption), copied into the hole first.
 */
export function verifyImage(bytes: Uint8Array, o: VerifyOptions = {}, payload?: PayloadStream): VerifyReport {
  const checks: string[] = [];
  const img: ParsedImage = parseImage(bytes, imageEndian(bytes));
  const h = img.header;
  checks.push(`header: magic ok, ${h.hdrSize}-byte header, ${h.imgSize}-byte payload, flags 0x${h.flags.toString(16)}`);
  checks.push(
    `TLV areas: ${img.protectedArea ? `protected ${img.protectedArea.tot} bytes, ` : ''}unprotected ${img.unprotectedArea.tot} bytes, all entries in bounds`,
  );
  const entries = img.unprotectedArea.entries;
  const hashEntry = entries.find((e) => HASH_TLV_ALG.has(e.type));
  if (hashEntry === undefined) throw fail('E_NO_HASH', 'the image has no SHA256/SHA384/SHA512 TLV');
  const hashAlg = HASH_TLV_ALG.get(hashEntry.type) as HashAlg;
  if (o.key !== undefined && !allowedHashes(o.key, false).includes(hashAlg)) {
    throw fail(
      'E_KEY_MISMATCH',
      `Key type does not match TLV record: a ${o.key.type} key cannot sign a ${tlvName(hashEntry.type)} image`,
      hashEntry,
    );
  }
  if (hashEntry.value.length !== HASH_SIZES[hashAlg]) {
    throw fail(
      'E_BAD_FIELD',
      `${tlvName(hashEntry.type)} TLV is ${hashEntry.value.length} bytes, expected ${HASH_SIZES[hashAlg]}`,
      hashEntry,
    );
  }

  const encFlags = h.flags & (IMAGE_FLAGS.ENCRYPTED_AES128 | IMAGE_FLAGS.ENCRYPTED_AES256);
  const encrypted = encFlags !== 0;
  if (encFlags === (IMAGE_FLAGS.ENCRYPTED_AES128 | IMAGE_FLAGS.ENCRYPTED_AES256)) {
    throw fail('E_BAD_FIELD', 'both AES-128 and AES-256 encryption flags are set', undefined, 'header.ih_flags');
  }
  const pure = entries.some((e) => e.type === TLV.SIG_PURE);
  const sigType = o.key === undefined ? undefined : signatureTlvType(o.key);
  const candidates = o.key === undefined ? [] : entries.filter((e) => e.type === sigType);
  const rawPayload = bytes.subarray(h.hdrSize, h.hdrSize + h.imgSize);
  const before = bytes.subarray(0, h.hdrSize);
  const after = bytes.subarray(h.hdrSize + h.imgSize, img.hashedEnd);
  let digest: Uint8Array;
  let streamedGood: TlvEntry | undefined;
  const onePass = payload !== undefined && !pure && !(encrypted && o.encKey !== undefined);
  if (onePass) {
    // One pass: hash and signature check fed together, nothing held.
    const hh = hasher(hashAlg);
    const verifiers = candidates.map((entry) => ({ entry, verifier: imageVerifier(o.key as AsymKey, entry.value) }));
    const take = (piece: Uint8Array): void => {
      hh.update(piece);
      for (const v of verifiers) v.verifier.update(piece);
    };
    take(before);
    readPayload(payload, h.imgSize, take);
    take(after);
    digest = hh.digest();
    streamedGood = verifiers.find((v) => v.verifier.verify(digest))?.entry;
  } else {
    if (payload !== undefined) readPayload(payload, h.imgSize, (piece, at) => rawPayload.set(piece, at));
    digest = hash(hashAlg, before, rawPayload, after);
  }
  let payloadBytes = rawPayload;
  let decrypted = false;
  if (encrypted && o.encKey !== undefined && !constantTimeEqual(digest, hashEntry.value)) {
    // Not a --clear image: hash the plaintext.
    const encEntry = entries.find((e) => ENC_TLVS.has(e.type));
    if (encEntry === undefined)
      throw fail('E_BAD_FIELD', 'the image is flagged encrypted but has no encryption key TLV', undefined, 'header.ih_flags');
    const aesKey = unwrapImageKey(
      { tlvType: encEntry.type, value: encEntry.value },
      o.encKey,
      encFlags === IMAGE_FLAGS.ENCRYPTED_AES256 ? 32 : 16,
    );
    payloadBytes = cryptPayload(aesKey, rawPayload);
    digest = hash(hashAlg, before, payloadBytes, after);
    decrypted = true;
    checks.push(`encryption: ${tlvName(encEntry.type)} key unwrapped, payload decrypted (AES-${aesKey.length * 8}-CTR)`);
  } else if (encrypted) {
    checks.push('encryption: flagged encrypted, payload hashed as stored (clear text)');
  }
  const region = [before, payloadBytes, after];
  if (!constantTimeEqual(digest, hashEntry.value)) {
    const hint = encrypted && !decrypted ? ' (the image is encrypted: give the private encryption key to hash its plaintext)' : '';
    throw fail('E_BAD_HASH', `Image has an invalid hash${hint}`, hashEntry);
  }
  checks.push(`hash: ${tlvName(hashEntry.type)} matches header..protected TLVs (${img.hashedEnd} bytes)`);

  let keyEntry = entries.find((e) => e.type === TLV.KEYHASH || e.type === TLV.PUBKEY);
  let signatureType: string | undefined;
  let pureSignature: Uint8Array | undefined;
  if (o.key !== undefined) {
    const good = onePass ? streamedGood : candidates.find((e) => verifyImageSignature(o.key as AsymKey, region, digest, e.value, pure));
    if (good === undefined) {
      throw fail(
        'E_NO_SIGNATURE',
        candidates.length === 0
          ? `No signature found for the given key: the image has no ${sigType === undefined ? 'usable' : tlvName(sigType)} signature TLV`
          : `No signature found for the given key: ${candidates.length} ${tlvName(sigType as number)} signature(s) do not verify`,
        candidates[0],
      );
    }
    // With several signatures, the key TLV that names this key is the last one before its signature.
    keyEntry = keyTlvBefore(entries, good) ?? keyEntry;
    signatureType = tlvName(good.type);
    if (pure) pureSignature = good.value;
    checks.push(`signature: ${signatureType}${pure ? ' (pure, over the whole image)' : ''} verifies with the ${o.key.type} key`);
    if (keyEntry !== undefined) {
      if (!keyTlvMatches(keyEntry, o.key, hashAlg))
        throw fail('E_KEY_MISMATCH', `the image's ${tlvName(keyEntry.type)} TLV does not match the given key`, keyEntry);
      checks.push(`key: ${tlvName(keyEntry.type)} TLV matches the key`);
    }
  }

  let trailer: TrailerInfo | undefined;
  if (bytes.length > img.tlvEnd) {
    trailer = readTrailer(bytes);
    if (trailer?.magicState === 'bad') {
      throw new RseError('E_BAD_MAGIC', 'the trailer magic at the end of the slot is corrupt (neither erased nor a boot magic)', {
        field: 'trailer.magic',
        offset: bytes.length - 16,
      });
    }
    checks.push(`trailer: magic ${trailer?.magicState ?? 'absent'}`);
  }
  return {
    version: h.version,
    hashAlg,
    digest,
    signatureType,
    pureSignature,
    keyTlv: keyEntry === undefined ? undefined : keyEntry.type === TLV.PUBKEY ? 'PUBKEY' : 'KEYHASH',
    encrypted,
    decrypted,
    trailer,
    checks,
  };
}

/** One try of a key against a signature, in the order {@link verifyImageKeys} makes them. */
export interface KeyAttempt {
  /** Index of the key in the list given. */
  readonly key: number;
  /** Offset of the signature TLV tried. */
  readonly signatureOffset: number;
  readonly ok: boolean;
}

/** {@link verifyImage}'s report, plus each key tried against each signature. */
export interface MultiVerifyReport extends VerifyReport {
  readonly attempts: readonly KeyAttempt[];
}

/**
 * Verifies an image signed with several keys (the `tfm-2.3.0` imgtool's `-k` repeated): the
 * structure, hash and trailer as {@link verifyImage}; then each signature TLV in turn is tried
 * with the given keys of its type, in order, until one verifies (the tries imgtool's branch tip
 * prints as `Key i: OK|INVALID_SIGNATURE`). Stricter than that imgtool: every key given must
 * verify some signature, and the KEYHASH/PUBKEY of that signature's unit must match it.
 */
export function verifyImageKeys(bytes: Uint8Array, keys: readonly AsymKey[], encKey?: AsymKey): MultiVerifyReport {
  const base = verifyImage(bytes, encKey === undefined ? {} : { encKey });
  if (base.decrypted) {
    throw new RseError('E_UNSUPPORTED', 'several keys with --enc-key: verify an encrypted image with one key at a time', {
      field: '--key',
    });
  }
  const img = parseImage(bytes, imageEndian(bytes));
  const entries = img.unprotectedArea.entries;
  const region = [bytes.subarray(0, img.hashedEnd)];
  const pure = entries.some((e) => e.type === TLV.SIG_PURE);
  const types = keys.map((k) => signatureTlvType(k));
  const attempts: KeyAttempt[] = [];
  const verifiedBy = new Map<number, TlvEntry>();
  const checks = base.checks.filter((c) => !c.startsWith('trailer:'));
  for (const e of entries) {
    if (!types.includes(e.type)) continue;
    for (let i = 0; i < keys.length; i++) {
      if (types[i] !== e.type) continue;
      const ok = verifyImageSignature(keys[i] as AsymKey, region, base.digest, e.value, pure);
      attempts.push({ key: i, signatureOffset: e.offset, ok });
      if (!ok) continue;
      if (!verifiedBy.has(i)) verifiedBy.set(i, e);
      checks.push(`signature: ${tlvName(e.type)} at 0x${e.offset.toString(16)} verifies with key ${i} (${(keys[i] as AsymKey).type})`);
      break;
    }
  }
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as AsymKey;
    // A key never reached (an earlier key took its signature, e.g. the same key given twice):
    // try it on every signature of its type.
    if (!verifiedBy.has(i)) {
      const found = entries.find((e) => e.type === types[i] && verifyImageSignature(key, region, base.digest, e.value, pure));
      if (found !== undefined) {
        verifiedBy.set(i, found);
        attempts.push({ key: i, signatureOffset: found.offset, ok: true });
      }
    }
    const sig = verifiedBy.get(i);
    if (sig === undefined) {
      throw fail(
        'E_NO_SIGNATURE',
        `No signature found for key ${i} (${key.type}): no signature of the image verifies with it`,
        undefined,
        `--key[${i}]`,
      );
    }
    const keyEntry = keyTlvBefore(entries, sig);
    if (keyEntry !== undefined) {
      if (!keyTlvMatches(keyEntry, key, base.hashAlg))
        throw fail('E_KEY_MISMATCH', `the ${tlvName(keyEntry.type)} TLV of key ${i}'s signature does not match key ${i}`, keyEntry);
      checks.push(`key ${i}: ${tlvName(keyEntry.type)} TLV matches`);
    }
  }
  const trailerCheck = base.checks.find((c) => c.startsWith('trailer:'));
  if (trailerCheck !== undefined) checks.push(trailerCheck);
  const first = verifiedBy.get(0);
  return {
    ...base,
    signatureType: first === undefined ? undefined : tlvName(first.type),
    pureSignature: pure ? first?.value : undefined,
    checks,
    attempts,
  };
}
