/**
 * Secure Secret Provisioning (AN5510) on the virtual STM32MP15: the messages (the 136-byte chip
 * certificate message, the 136-byte license, the 244-byte payload), their cryptography, the
 * virtual HSM that counts licenses, and the device side: three boots of the SSP FSBL with the ROM
 * answering PUBK and PROV through the boot context, then the OEM secrets programmed and locked in
 * the documented order.
 *
 * What ST does not publish, rsekit defines (docs/stm32-ssp.md):
 * - the chip certificate is ECDSA P-256 (raw r ‖ s) by the "ST" CA over SHA-256(product id ‖ X ‖ Y),
 *   stored in OTP 40..55 as big-endian words; the CA of virtual devices is a fixed, public key;
 * - the chip key pair is derived from the device's hardware-unique secret (HKDF-SHA-256, PSA rule);
 * - the license KDF is two rounds of SHA-256(Z ‖ counter32be) over the ECDH x-coordinate Z:
 *   bytes 0..15 the AES-128 key and 16..31 the 16-byte GCM IV that wrap IV ‖ key, 32..63 the
 *   authorization token appended to the license AAD;
 * - a live session id travels next to the certificate message (the programmer's phase extra info).
 * @module
 */
import {
  type AsymKey,
  aesGcmDecrypt,
  aesGcmEncrypt,
  ecdh,
  ecdsaSignRaw,
  ecdsaVerifyRaw,
  ecKeyFromPrivate,
  generateKey,
  hash,
  importRawPublicKey,
  randomBytes,
} from '../crypto/index.ts';
import { deriveHkdfEcKey } from '../crypto/kdf.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { type Bsec, OTP_WORD } from './bsec.ts';
import { p256PublicXY } from './image.ts';

export const CERTIFICATE_SIZE = 136;
export const LICENSE_SIZE = 136;
export const PAYLOAD_SIZE = 244;
export const MAX_SECRETS = 152;
export const LICENSE_NORMAL = 0x2e505353; // 'SSP.'
export const LICENSE_LIVE = 0x4c505353; // 'SSPL'
/** License type words per family: SSP (AN5510) and rsekit's SFI licenses, which share the format. */
export const LICENSE_TYPES = {
  ssp: { normal: LICENSE_NORMAL, live: LICENSE_LIVE, names: "'SSP.' nor 'SSPL'" },
  sfi: { normal: 0x2e494653, live: 0x4c494653, names: "'SFI.' nor 'SFIL'" },
} as const;
export type LicenseFamily = keyof typeof LICENSE_TYPES;
export const PAYLOAD_MAGIC = 0x50505353; // 'SSPP'
/** OTP 8 (CFG8): bit 8 SSP requested, bit 9 SSP done. */
export const SSP_WORD = 8;
export const SSP_REQ = 1 << 8;
export const SSP_SUCCESS = 1 << 9;
/** CFG2 (OTP 2): bits 27..20 the ST security counter, 31..28 the ST key id. */
export const CFG2_WORD = 2;
export const RMA_MASK = 0x3fffffff;
/** Boot-context commands (ASCII, little-endian). */
export const SSP_CMD = { PUBK: 0x4b425550, PUBA: 0x41425550, PROV: 0x564f5250, PROA: 0x414f5250 } as const;

const err = (msg: string, field: string, offset?: number): RseError =>
  new RseError('E_LICENSE', msg, { field, ...(offset === undefined ? {} : { offset }) });
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function exact(b: Uint8Array, size: number, what: string): void {
  if (b.length !== size)
    throw new RseError(b.length < size ? 'E_TRUNCATED' : 'E_BAD_FIELD', `${what} is ${size} bytes, got ${b.length}`, { field: what });
}

function p256FromXY(b: Uint8Array, field: string): AsymKey {
  try {
    return importRawPublicKey('ecdsa-p256', Uint8Array.of(4, ...b));
  } catch {
    throw err(`${field}: not a point on P-256`, field);
  }
}

// --- the virtual ST CA and chip identity -------------------------------------------------------

let stCa: AsymKey | undefined;
/** The CA that signs virtual chips' certificates: a fixed key, public by design (it only exists in simulation). */
export function virtualStCa(): AsymKey {
  stCa ??= deriveChipKey(ascii('rsekit virtual STMicroelectronics SSP CA; not secret'), '');
  return stCa;
}

/** A chip's P-256 key pair derived from its secret (HKDF-SHA-256 with `label`, then the PSA rule). */
export function deriveChipKey(secret: Uint8Array, label: string): AsymKey {
  return ecKeyFromPrivate('P-256', deriveHkdfEcKey('P-256', secret, ascii(label)).privateKey);
}

/** The MP15 chip's ECIES key pair, from its hardware-unique secret. */
export const chipKey = (hwSecret: Uint8Array): AsymKey => deriveChipKey(hwSecret, 'STM32MP15 SSP chip key');

/** The 8-character product id: dev id "500", the ST security counter, '0', the ST key id (e.g. 5000200A). */
export function productId(bsec: Bsec): string {
  const cfg2 = bsec.fuse(CFG2_WORD);
  const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
  return `500${hex2((cfg2 >>> 20) & 0xff)}0${hex2(cfg2 >>> 28)}`;
}

/** Manufacturing: CFG2, and the chip certificate by `ca` in OTP 40..55 (locked). */
export function manufactureChip(
  bsec: Bsec,
  hwSecret: Uint8Array,
  ca: AsymKey = virtualStCa(),
  o: { securityCounter?: number; keyId?: number } = {},
): void {
  bsec.program(CFG2_WORD, (((o.keyId ?? 0xa) & 0xf) << 28) | (((o.securityCounter ?? 2) & 0xff) << 20));
  const sig = ecdsaSignRaw(ca, [ascii(productId(bsec)), p256PublicXY(chipKey(hwSecret))]);
  const dv = new DataView(sig.buffer, sig.byteOffset, sig.byteLength);
  for (let i = 0; i < 16; i++) {
    bsec.program(OTP_WORD.CHIP_CERTIFICATE + i, dv.getUint32(4 * i, false));
    bsec.lockPermanently(OTP_WORD.CHIP_CERTIFICATE + i);
  }
  bsec.lockPermanently(CFG2_WORD);
}

// --- messages ----------------------------------------------------------------------------------

export interface CertificateMessage {
  readonly productId: string;
  /** The chip's public key X ‖ Y. */
  readonly chipPublicKey: Uint8Array;
  /** OTP 40..55, each word big-endian. */
  readonly certificate: Uint8Array;
}

export function encodeCertificate(c: CertificateMessage): Uint8Array {
  if (!/^[0-9A-F]{8}$/.test(c.productId)) throw err(`product id ${c.productId} is not 8 hex characters`, 'productId');
  exact(c.chipPublicKey, 64, 'chip public key');
  exact(c.certificate, 64, 'chip certificate');
  const out = new Uint8Array(CERTIFICATE_SIZE);
  out.set(ascii(c.productId), 0);
  out.set(c.chipPublicKey, 8);
  out.set(c.certificate, 72);
  return out;
}

export function decodeCertificate(b: Uint8Array): CertificateMessage {
  exact(b, CERTIFICATE_SIZE, 'certificate message');
  const id = b.subarray(0, 8);
  if (!id.every((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46)))
    throw err('product id is not 8 upper-case hex characters', 'productId', 0);
  return { productId: new TextDecoder().decode(id), chipPublicKey: b.slice(8, 72), certificate: b.slice(72, 136) };
}

/** The certificate message the SSP FSBL sends: product id, chip public key, OTP 40..55. */
export function certificateMessage(bsec: Bsec, hwSecret: Uint8Array): Uint8Array {
  const cert = new Uint8Array(64);
  const dv = new DataView(cert.buffer);
  for (let i = 0; i < 16; i++) dv.setUint32(4 * i, bsec.fuse(OTP_WORD.CHIP_CERTIFICATE + i), false);
  return encodeCertificate({ productId: productId(bsec), chipPublicKey: p256PublicXY(chipKey(hwSecret)), certificate: cert });
}

/** Whether `ca` signed this chip's certificate. */
export function verifyCertificate(c: CertificateMessage, ca: AsymKey): boolean {
  return ecdsaVerifyRaw(ca, [ascii(c.productId), c.chipPublicKey], c.certificate);
}

export interface License {
  readonly type: 'normal' | 'live';
  readonly sessionId: number;
  readonly version: number;
  readonly fsblMinVersion: number;
  readonly ephemeralPublicKey: Uint8Array;
  readonly encryptedKey: Uint8Array;
  readonly tag: Uint8Array;
}

export function decodeLicense(b: Uint8Array, family: LicenseFamily = 'ssp'): License {
  exact(b, LICENSE_SIZE, 'license');
  const t = readU32le(b, 0);
  const types = LICENSE_TYPES[family];
  if (t !== types.normal && t !== types.live) throw err(`license type 0x${t.toString(16)} is neither ${types.names}`, 'license_type', 0);
  const version = readU32le(b, 8);
  if (version !== 1) throw err(`license version ${version}, the ROM knows 1`, 'license_version', 8);
  if (!b.subarray(16, 24).every((x) => x === 0)) throw err('license rfu bytes are not zero', 'rfu', 16);
  return {
    type: t === types.live ? 'live' : 'normal',
    sessionId: readU32le(b, 4),
    version,
    fsblMinVersion: readU32le(b, 12),
    ephemeralPublicKey: b.slice(24, 88),
    encryptedKey: b.slice(88, 120),
    tag: b.slice(120, 136),
  };
}

export interface Payload {
  readonly version: number;
  readonly oemPublicKey: Uint8Array;
  readonly secretSize: number;
  readonly tag: Uint8Array;
  readonly encryptedSecrets: Uint8Array;
}

export function decodePayload(b: Uint8Array): Payload {
  exact(b, PAYLOAD_SIZE, 'payload');
  const magic = readU32le(b, 0);
  if (magic !== PAYLOAD_MAGIC)
    throw new RseError('E_BAD_MAGIC', `payload magic 0x${magic.toString(16)} is not 'SSPP'`, { field: 'payload_magic', offset: 0 });
  const version = readU32le(b, 4);
  if (version !== 1) throw err(`payload protocol version ${version}, the ROM knows 1`, 'protocol_version', 4);
  const secretSize = readU32le(b, 72);
  if (secretSize < 4 || secretSize > MAX_SECRETS)
    throw err(`secret size ${secretSize}: 4..${MAX_SECRETS} bytes (the RMA word first)`, 'oem_secret_size_bytes', 72);
  return { version, oemPublicKey: b.slice(8, 72), secretSize, tag: b.slice(76, 92), encryptedSecrets: b.slice(92, 244) };
}

/** KDF of the license: two SHA-256 rounds over the ECDH x-coordinate. */
export function licenseKdf(z: Uint8Array): { key: Uint8Array; iv: Uint8Array; token: Uint8Array } {
  const k = new Uint8Array(64);
  k.set(hash('sha256', z, Uint8Array.of(0, 0, 0, 1)), 0);
  k.set(hash('sha256', z, Uint8Array.of(0, 0, 0, 2)), 32);
  return { key: k.slice(0, 16), iv: k.slice(16, 32), token: k.slice(32, 64) };
}

/**
 * `rse ssp package`: the OEM secrets (RMA word first, then the words for OTP 59..) encrypted
 * with the OEM's AES-128 key and 16-byte IV, bound to the OEM public key whose hash the device
 * will lock as its PKH.
 */
export function packagePayload(o: { secrets: Uint8Array; oemPublicKey: Uint8Array; key: Uint8Array; iv: Uint8Array }): Uint8Array {
  if (o.secrets.length < 4 || o.secrets.length > MAX_SECRETS)
    throw new RseError('E_ARGUMENT', `the secrets are 4..${MAX_SECRETS} bytes (RMA word, then OTP 59..95), got ${o.secrets.length}`, {
      field: 'secrets',
    });
  exact(o.oemPublicKey, 64, 'OEM public key');
  exact(o.key, 16, 'AES key');
  exact(o.iv, 16, 'AES IV');
  const out = new Uint8Array(PAYLOAD_SIZE);
  out.set(u32le(PAYLOAD_MAGIC), 0);
  out.set(u32le(1), 4);
  out.set(o.oemPublicKey, 8);
  out.set(u32le(o.secrets.length), 72);
  const plain = new Uint8Array(MAX_SECRETS);
  plain.set(o.secrets);
  const { ciphertext, tag } = aesGcmEncrypt(o.key, o.iv, out.subarray(0, 76), plain);
  plain.fill(0);
  out.set(tag, 76);
  out.set(ciphertext, 92);
  return out;
}

/** The HSM's half: a license wrapping the OEM key and IV for the chip in `cert`. */
export function makeLicense(o: {
  chipPublicKey: Uint8Array;
  oemKey: Uint8Array;
  oemIv: Uint8Array;
  fsblMinVersion: number;
  sessionId?: number;
  family?: LicenseFamily;
}): Uint8Array {
  const eph = generateKey('ecdsa-p256');
  const kdf = licenseKdf(ecdh(eph, p256FromXY(o.chipPublicKey, 'chip public key')));
  const out = new Uint8Array(LICENSE_SIZE);
  const types = LICENSE_TYPES[o.family ?? 'ssp'];
  out.set(u32le(o.sessionId === undefined ? types.normal : types.live), 0);
  out.set(u32le(o.sessionId ?? 0), 4);
  out.set(u32le(1), 8);
  out.set(u32le(o.fsblMinVersion), 12);
  out.set(p256PublicXY(eph), 24);
  const secret = new Uint8Array(32);
  secret.set(o.oemIv, 0);
  secret.set(o.oemKey, 16);
  const aad = new Uint8Array(88 + 32);
  aad.set(out.subarray(0, 88), 0);
  aad.set(kdf.token, 88);
  const { ciphertext, tag } = aesGcmEncrypt(kdf.key, kdf.iv, aad, secret);
  secret.fill(0);
  out.set(ciphertext, 88);
  out.set(tag, 120);
  return out;
}

/** What the ROM keeps in the boot context across the SSP resets (lost if VDD drops). */
export interface BootContext {
  cmd: number;
  sessionId?: number;
}

/**
 * The device's half of a license: type, version, live session, minimum version, then ECDH with the
 * chip key, the KDF and the tag. Returns the 32 wrapped bytes (IV ‖ key for SSP); the caller wipes them.
 */
export function unwrapLicense(o: {
  chipKey: AsymKey;
  license: Uint8Array;
  family?: LicenseFamily;
  version: number;
  versionName?: string;
  sessionId?: number;
}): Uint8Array {
  const lic = decodeLicense(o.license, o.family);
  if (lic.type === 'live' && lic.sessionId !== o.sessionId)
    throw err(
      `live license for session 0x${lic.sessionId.toString(16)}, this boot opened ${o.sessionId === undefined ? 'none' : `0x${o.sessionId.toString(16)}`} (replayed)`,
      'live_session_id',
      4,
    );
  if (o.version < lic.fsblMinVersion)
    throw err(
      `${o.versionName ?? 'FSBL'} version ${o.version} is below the license's minimum ${lic.fsblMinVersion}`,
      'fsbl_min_version',
      12,
    );
  const eph = p256FromXY(lic.ephemeralPublicKey, 'eph_ecies_pubk');
  const kdf = licenseKdf(ecdh(o.chipKey, eph));
  const aad = new Uint8Array(120);
  aad.set(o.license.subarray(0, 88), 0);
  aad.set(kdf.token, 88);
  const secret = aesGcmDecrypt(kdf.key, kdf.iv, aad, lic.encryptedKey, lic.tag);
  if (secret === undefined) throw err('license tag does not authenticate (altered, or issued for another chip)', 'license_tag', 120);
  return secret;
}

/**
 * The ROM answering PROV: the license, then the payload (magic, version, size, tag); the
 * decrypted secrets, or a refusal naming the check.
 */
export function romUnwrap(o: { hwSecret: Uint8Array; license: Uint8Array; payload: Uint8Array; fsblVersion: number; sessionId?: number }): {
  secrets: Uint8Array;
  oemPublicKey: Uint8Array;
} {
  const secret = unwrapLicense({
    chipKey: chipKey(o.hwSecret),
    license: o.license,
    version: o.fsblVersion,
    ...(o.sessionId === undefined ? {} : { sessionId: o.sessionId }),
  });
  let pay: Payload;
  try {
    pay = decodePayload(o.payload);
  } catch (e) {
    secret.fill(0);
    throw e;
  }
  const plain = aesGcmDecrypt(secret.subarray(16, 32), secret.subarray(0, 16), o.payload.subarray(0, 76), pay.encryptedSecrets, pay.tag);
  secret.fill(0);
  if (plain === undefined) throw err('payload tag does not authenticate (altered, or encrypted with another OEM key)', 'payload_tag', 76);
  const secrets = plain.slice(0, pay.secretSize);
  plain.fill(0);
  return { secrets, oemPublicKey: pay.oemPublicKey };
}

/** The OTP words SSP_FLASH_OEM programs, in order, from the decrypted secrets. */
export function secretWords(secrets: Uint8Array): { rma: number; words: { word: number; value: number }[] } {
  const padded = new Uint8Array(Math.ceil(secrets.length / 4) * 4);
  padded.set(secrets);
  const rma = (readU32le(padded, 0) & RMA_MASK) >>> 0;
  const words: { word: number; value: number }[] = [];
  for (let off = 4, w = OTP_WORD.OEM_SECRETS; off < padded.length; off += 4, w++) {
    const v = readU32le(padded, off);
    if (v !== 0) words.push({ word: w, value: v });
  }
  padded.fill(0);
  return { rma, words };
}

export const newSessionId = (): number => readU32le(randomBytes(4), 0) || 1;
