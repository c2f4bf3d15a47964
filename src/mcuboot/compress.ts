/**
 * LZMA2-compressed images (`--compression lzma2|lzma2armthumb`, spec §2.17), built as imgtool
 * does: sign the plain image first, compress the input (raw LZMA2, dictionary 128 KiB, lc 3, lp 1,
 * pb 2, preset 9, optionally behind the ARM-Thumb BCJ filter), and keep the compressed image only
 * if it is smaller; it carries the plain image's size, hash and signature in protected
 * DECOMP_* TLVs. The compressor is injected: its output must be liblzma's for byte equality.
 * @module
 */
import { ByteWriter } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { IMAGE_FLAGS, TLV } from './constants.ts';
import { signImageFile } from './sign.ts';
import type { SignedImage, SignInput, SignOptions } from './sign-options.ts';

export const LZMA2_DICT_SIZE = 131072;
export const LZMA2_LC = 3;
export const LZMA2_LP = 1;
export const LZMA2_PB = 2;

/** Raw LZMA2 compression with the parameters above (and the ARM-Thumb filter when asked). */
export type Lzma2Compressor = (data: Uint8Array, armThumb: boolean) => Promise<Uint8Array>;

/** The 2-byte header MCUboot expects before the raw LZMA2 stream: dictionary size code, then lc/lp/pb. */
export function lzma2Header(dictSize = LZMA2_DICT_SIZE, lc = LZMA2_LC, lp = LZMA2_LP, pb = LZMA2_PB): Uint8Array {
  let code = 40;
  for (let i = 0; i < 40; i++) {
    if (dictSize <= (2 | (i & 1)) * 2 ** (Math.floor(i / 2) + 11)) {
      code = i;
      break;
    }
  }
  return new Uint8Array([code, (pb * 5 + lp) * 9 + lc]);
}

export interface CompressedResult {
  readonly image: SignedImage;
  readonly compressed: boolean;
  readonly compressedSize: number;
  readonly originalSize: number;
}

export async function signCompressed(
  input: SignInput,
  o: SignOptions,
  type: 'lzma2' | 'lzma2armthumb',
  compress: Lzma2Compressor,
): Promise<CompressedResult> {
  if (o.vectorToSign !== undefined) {
    throw new RseError('E_UNSUPPORTED', '--compression cannot be combined with --vector-to-sign', { field: '--compression' });
  }
  const { encrypt, ...clear } = o;
  // With -E imgtool signs the plain image with the encryption flag set, neither padded nor
  // encrypted: its hash and signature are what DECOMP_SHA / DECOMP_SIGNATURE carry.
  const encFlag = encrypt === undefined ? 0 : encrypt.keyLen === 256 ? IMAGE_FLAGS.ENCRYPTED_AES256 : IMAGE_FLAGS.ENCRYPTED_AES128;
  const plain = signImageFile(input, encrypt === undefined ? o : { ...clear, extraFlags: (o.extraFlags ?? 0) | encFlag });
  const raw = o.padHeader ? input.data : input.data.subarray(o.headerSize);
  const data = await compress(raw, type === 'lzma2armthumb');
  const endian = o.endian ?? 'little';
  const tlvs: [number, Uint8Array][] = [
    [TLV.DECOMP_SIZE, new ByteWriter(4, endian).u32(raw.length).finish()],
    [TLV.DECOMP_SHA, plain.digest],
  ];
  if (plain.signature !== undefined) tlvs.push([TLV.DECOMP_SIGNATURE, plain.signature]);
  const tlvSize = tlvs.reduce((n, [, v]) => n + v.length, 0);
  if (data.length + tlvSize >= raw.length) {
    // imgtool then writes that plain image: flagged as encrypted, yet clear and without a key TLV,
    // which no MCUboot can load. We write the image asked for: uncompressed, and encrypted.
    const image = encrypt === undefined ? plain : signImageFile(input, o);
    return { image, compressed: false, compressedSize: data.length, originalSize: raw.length };
  }
  // The compressed payload follows the header space: erased bytes added by --pad-header, or zeros.
  const header = lzma2Header();
  const lead = o.padHeader ? 0 : o.headerSize;
  const payload = new Uint8Array(lead + header.length + data.length);
  payload.set(header, lead);
  payload.set(data, lead + header.length);
  const body: SignInput = { ...input, data: payload };
  // Encrypted, the image also records the compressed size before its padding to 16 bytes.
  if (encrypt !== undefined) tlvs.push([TLV.COMP_DEC_SIZE, new ByteWriter(4, endian).u32(header.length + data.length).finish()]);
  // As imgtool: the compressed image is made without --test and --non-bootable.
  const image = signImageFile(body, {
    ...o,
    test: false,
    nonBootable: false,
    extraProtectedTlvs: tlvs,
    extraFlags: IMAGE_FLAGS.COMPRESSED_LZMA2 | (type === 'lzma2armthumb' ? IMAGE_FLAGS.COMPRESSED_ARM_THUMB : 0),
  });
  return { image, compressed: true, compressedSize: data.length, originalSize: raw.length };
}
