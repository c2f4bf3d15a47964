/**
 * Typed errors with stable codes. Every failure rsekit reports on untrusted input is an
 * {@link RseError}: a stable `code`, the `field` being read and, for binary formats, the byte
 * `offset`. The CLI turns the code's category into an exit status.
 * @module
 */

/**
 * Error categories: `usage` and `input` exit 2, `check` (the artifact failed a check) exits 1;
 * `fault` is an injected fault (a power cut), which no handler turns into a verdict.
 */
export type RseErrorCategory = 'usage' | 'input' | 'check' | 'fault';

/** Every stable error code and its category. */
export const ERROR_CODES = {
  /** The command line is malformed (unknown flag, missing argument, conflicting options). */
  E_USAGE: 'usage',
  /** An argument has an invalid value (version syntax, header size, TLV tag...). */
  E_ARGUMENT: 'usage',
  /** A file could not be read or written. */
  E_IO: 'input',
  /** A key file is unreadable, of an unsupported type, or the wrong kind for the operation. */
  E_KEY: 'input',
  /** The image (with trailer) does not fit the requested slot size. */
  E_SIZE: 'input',
  /** An Intel HEX file is malformed. */
  E_HEX: 'input',
  /** The operation is not supported for this input. */
  E_UNSUPPORTED: 'input',
  /** The input ends before a field it declares. */
  E_TRUNCATED: 'check',
  /** A magic number is wrong (image header, TLV info header, trailer). */
  E_BAD_MAGIC: 'check',
  /** A declared length or offset points outside the area that must contain it. */
  E_BOUNDS: 'check',
  /** A field holds a value the format does not allow. */
  E_BAD_FIELD: 'check',
  /** The hash TLV does not match the hashed region. */
  E_BAD_HASH: 'check',
  /** No signature in the image verifies with the given key. */
  E_NO_SIGNATURE: 'check',
  /** The hash algorithm or signature type in the image does not fit the key. */
  E_KEY_MISMATCH: 'check',
  /** The image has no hash TLV. */
  E_NO_HASH: 'check',
  /** An encrypted image could not be decrypted with the given key. */
  E_DECRYPT: 'check',
  /** The same identifier appears twice where it must be unique (FIP UUIDs, partition names). */
  E_DUPLICATE: 'check',
  /** A table has no terminator entry before the end of the input (FIP ToC). */
  E_NO_TERMINATOR: 'check',
  /** A CRC32 does not match the bytes it covers (GPT headers and entries, FWU metadata). */
  E_CRC: 'check',
  /** The named item (FIP entry, partition) is not there. */
  E_NOT_FOUND: 'input',
  /** Two placements claim the same bytes with different contents, or partitions overlap. */
  E_OVERLAP: 'input',
  /** The output exists and overwriting was not asked for. */
  E_EXISTS: 'usage',
  /** A description file (platform YAML) is malformed or inconsistent. */
  E_CONFIG: 'input',
  /** An OTP program operation failed: a bit that is already blown was asked to be 0, or LCM rules refused it. */
  E_OTP_WRITE: 'check',
  /** The OTP integrity check (zero counts of the locked areas or fields) failed. */
  E_INTEGRITY: 'check',
  /** An authenticated blob (provisioning bundle) does not authenticate with the key. */
  E_AUTH: 'check',
  /** The device is in a lifecycle state or mode that does not allow the operation. */
  E_LIFECYCLE: 'check',
  /** A device directory is missing, malformed or from another version. */
  E_DEVICE: 'input',
  /** An ATU region that is not page-aligned, out of range, or outside the host window. */
  E_ATU: 'input',
  /** The boot shared data area is full, holds a duplicate record, or is malformed. */
  E_SHARED_DATA: 'check',
  /** Bytes that should be CBOR are not, or hold a type the format does not allow. */
  E_CBOR: 'check',
  /** A COSE structure (Sign1, Key) is malformed or its signature does not verify. */
  E_COSE: 'check',
  /** A runtime-comms message or frame is malformed (length, protocol, vector sizes). */
  E_COMMS: 'input',
  /** An attestation claim is missing, of the wrong type, out of range, or not in the token's profile. */
  E_CLAIMS: 'check',
  /** A token's signature or MAC does not verify with the trust anchor (or the realm key). */
  E_SIGNATURE: 'check',
  /** The CCA platform token's challenge is not the hash of the realm's public key claim. */
  E_BINDING: 'check',
  /** The token's nonce (or realm challenge) is not the one the verifier asked for. */
  E_FRESHNESS: 'check',
  /** No trust anchor is known for the token's implementation and instance ids. */
  E_NO_TRUST_ANCHOR: 'check',
  /** A CoRIM / CoMID is malformed or breaks its profile's rules. */
  E_CORIM: 'check',
  /** A build manifest (`rse flash build`) is malformed, or lacks an image the device boots. */
  E_MANIFEST: 'input',
  /** A CoSERV query is malformed, or asks for what this verifier does not keep (RIM selectors, source artifacts). */
  E_COSERV: 'input',
  /** A verifier (`--verifier`, `--submit`) cannot be reached or refused the request (its status and problem detail). */
  E_VERIFIER: 'input',
  /** The requester may not reach this word, register or address (secure-only OTP, a lock, a firewall rule). */
  E_ACCESS: 'check',
  /** A provisioning license, payload or chip certificate does not authenticate or breaks its format's rules. */
  E_LICENSE: 'check',
  /** The HSM refuses: its license counter is spent, or it is not set up for this request. */
  E_HSM: 'check',
  /** No slot or copy holds an image that passes the boot stage's checks (BL1_2, BL2). */
  E_NO_IMAGE: 'check',
  /** A bus access no ATU region translates (the image reaches past what BL2 mapped). */
  E_ATU_MISMATCH: 'check',
  /** A bus access to no memory, or a write to read-only memory. */
  E_BUS_FAULT: 'check',
  /** The SIC could not be set up for an XIP runtime (table, mapping, alignment). */
  E_SIC: 'check',
  /** A page an XIP runtime fetches fails its SIC hash. */
  E_SIC_AUTH: 'check',
  /** The platform OTP layer refused an access (locked, out of the layout, LCM in fatal mode). */
  E_OTP: 'check',
  /** A boot stage could not read an OTP field it needs. */
  E_OTP_READ: 'check',
  /** A fault plan cut the power at this point (tests and fault campaigns). */
  E_POWER_CUT: 'fault',
  /** A directory is held by another live process (a second server on one device). */
  E_LOCKED: 'usage',
  /** A bug in rsekit: the CLI's JSON result for an unexpected exception (exit 70, the stack on stderr). */
  E_INTERNAL: 'fault',
  /** A command's checks failed; its report (the JSON result) says which. */
  E_CHECK_FAILED: 'check',
} as const satisfies Record<string, RseErrorCategory>;

export type RseErrorCode = keyof typeof ERROR_CODES;

export interface RseErrorDetails {
  /** The field being read or checked, e.g. `header.ih_magic` or `tlv[3].len`. */
  readonly field?: string;
  /** Byte offset in the input where the problem is. */
  readonly offset?: number;
  readonly cause?: unknown;
}

/** The one error type rsekit throws for bad input or a failed check. */
export class RseError extends Error {
  readonly code: RseErrorCode;
  readonly field: string | undefined;
  readonly offset: number | undefined;

  constructor(code: RseErrorCode, message: string, details: RseErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RseError';
    this.code = code;
    this.field = details.field;
    this.offset = details.offset;
  }

  get category(): RseErrorCategory {
    return ERROR_CODES[this.code];
  }

  /** Exit status for the CLI: 1 when an artifact failed a check, 2 for usage or input errors. */
  get exitCode(): 1 | 2 {
    return this.category === 'check' ? 1 : 2;
  }

  /** One line: code, message, and where. */
  describe(): string {
    const where: string[] = [];
    if (this.field !== undefined) where.push(`field ${this.field}`);
    if (this.offset !== undefined) where.push(`offset 0x${this.offset.toString(16)}`);
    return `${this.code}: ${this.message}${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
  }

  toJSON(): { code: RseErrorCode; message: string; field?: string; offset?: number } {
    return {
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.offset === undefined ? {} : { offset: this.offset }),
    };
  }
}

/**
 * Whether `e` is an RseError that reports on the input or a check, which a handler may turn into
 * a verdict; an injected fault (category `fault`, a power cut) is not: it must reach whoever
 * injected it.
 */
export function isRseError(e: unknown): e is RseError {
  return e instanceof RseError && e.category !== 'fault';
}
