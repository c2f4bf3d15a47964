/**
 * What signing an MCUboot image takes: imgtool 2.4.0's options (header, slot, alignment,
 * version, security counter, dependencies, encryption, compression, external signing), the
 * input (whole or streamed) and the signed image's parts.
 * @module
 */
import type { AsymKey, HashAlg, RandomSource } from '../crypto/index.ts';
import type { Endian } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import type { ImageVersion } from './version.ts';

export type ShaChoice = 'auto' | '256' | '384' | '512';

/** A DEPENDENCY TLV: the image this one needs, at least at this version. */
export interface Dependency {
  readonly imageId: number;
  readonly version: ImageVersion;
}

/** How to encrypt the payload: the recipient key, AES size, and what goes with it. */
export interface EncryptOptions {
  /** Recipient public key: RSA, P-256 or X25519. */
  readonly key: AsymKey;
  readonly keyLen?: 128 | 256;
  /** Keep the payload in clear text but still add the flag and key TLV (`--clear`). */
  readonly clear?: boolean;
  readonly hmacSha?: 256 | 512;
  /** Tests only: a fixed AES key instead of a random one. */
  readonly aesKey?: Uint8Array;
  /** Tests only: a fixed ECIES ephemeral key. */
  readonly ephemeral?: AsymKey;
}

/** Everything `rse sign` accepts; names follow imgtool's options. */
export interface SignOptions {
  readonly key?: AsymKey;
  /**
   * More signers after `key` (the imgtool of MCUboot's `tfm-2.3.0` branch: `-k` repeated). Each
   * adds a unit [KEYID] PUBKEY|KEYHASH SIG to the unprotected area; `key` chooses the hash.
   */
  readonly additionalKeys?: readonly AsymKey[];
  /**
   * PSA key ids (`--psa-key-ids`): a KEYID TLV (u32 in the image's endianness) before the key TLV
   * of signer i, for each i that has one; extra ids are ignored.
   */
  readonly psaKeyIds?: readonly number[];
  /** Unprotected TLVs after the signatures and any encryption TLV, in order (`--extra-tlv`). */
  readonly extraTlvs?: readonly (readonly [number, Uint8Array])[];
  /** An externally made signature and its public key (`--fix-sig`, `--fix-sig-pubkey`). */
  readonly fixedSignature?: { readonly signature: Uint8Array; readonly publicKey: AsymKey };
  /** Public key for `--vector-to-sign` without a private key. */
  readonly publicKey?: AsymKey;
  readonly publicKeyFormat?: 'hash' | 'full';
  readonly version: ImageVersion;
  readonly headerSize: number;
  readonly padHeader?: boolean;
  readonly slotSize: number;
  readonly pad?: boolean;
  readonly confirm?: boolean;
  readonly test?: boolean;
  readonly align?: number;
  readonly maxAlign?: number;
  readonly maxSectors?: number;
  readonly overwriteOnly?: boolean;
  readonly endian?: Endian;
  readonly loadAddr?: number;
  readonly romFixed?: number;
  readonly erasedVal?: 0 | 0xff;
  readonly saveEnctlv?: boolean;
  readonly securityCounter?: number | 'auto';
  readonly nonBootable?: boolean;
  readonly vid?: string;
  readonly cid?: string;
  readonly dependencies?: readonly Dependency[];
  readonly bootRecord?: string;
  /** Custom protected TLVs, in order. */
  readonly customTlvs?: readonly (readonly [number, Uint8Array])[];
  readonly encrypt?: EncryptOptions;
  readonly sha?: ShaChoice;
  readonly pure?: boolean;
  readonly padSig?: boolean;
  readonly vectorToSign?: 'payload' | 'digest';
  readonly random?: RandomSource;
  /** Protected TLVs placed after the dependencies (compression TLVs, built by `compress.ts`). */
  readonly extraProtectedTlvs?: readonly (readonly [number, Uint8Array])[];
  /** Header flags to add (compression flags). */
  readonly extraFlags?: number;
}

/** What is signed: the payload, and its base address for Intel HEX. */
export interface SignInput {
  readonly data: Uint8Array;
  /** Address of the input's first byte (Intel HEX input). */
  readonly baseAddr?: number;
}

/**
 * A payload read once, first byte to last, in pieces: a large input file that need not be held in
 * memory. Each piece is valid only during its call.
 */
export interface PayloadStream {
  readonly length: number;
  read(each: (piece: Uint8Array) => void): void;
}

/**
 * Reads `stream` once, piece by piece with each piece's offset, checking it gives exactly `length`
 * bytes: more or fewer means the file changed while it was read (E_IO).
 */
export function readPayload(stream: PayloadStream, length: number, each: (piece: Uint8Array, at: number) => void): void {
  let at = 0;
  stream.read((piece) => {
    if (at + piece.length > length)
      throw new RseError('E_IO', `the payload grew past ${length} bytes while being read`, { field: 'infile' });
    each(piece, at);
    at += piece.length;
  });
  if (at !== length) throw new RseError('E_IO', `the payload ended at ${at} of ${length} bytes`, { field: 'infile' });
}

export interface StreamInput {
  readonly stream: PayloadStream;
  readonly baseAddr?: number;
}

/** A built image (or signing vector) before it is padded and written. */
export interface SignedImage {
  readonly kind: 'image' | 'vector';
  /** Header .. end of TLVs (or the vector to sign), as consecutive pieces: not copied into one buffer. */
  readonly parts: readonly Uint8Array[];
  /** Total length of `parts`. */
  readonly size: number;
  /** Address of the first byte of `parts` for Intel HEX output (input base moved down by a padded header). */
  readonly baseAddr: number | undefined;
  readonly hashAlg: HashAlg;
  readonly digest: Uint8Array;
  readonly signature: Uint8Array | undefined;
  /** Every signature, in the order of the keys (`signature` is the first). */
  readonly signatures: readonly Uint8Array[];
  readonly hashedSize: number;
  readonly slotSize: number;
  readonly pad: boolean;
  readonly erasedVal: number;
  readonly trailerSize: number;
  readonly maxAlign: number;
  readonly confirm: boolean;
  readonly test: boolean;
  readonly overwriteOnly: boolean;
  readonly magic: Uint8Array;
}
