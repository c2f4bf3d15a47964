/**
 * PSA Client API values the RSE runtime speaks: status codes, the stateless service handles of
 * TF-M 2.1's manifests, and the message types of each service (`psa/error.h`,
 * `tfm_attest_defs.h`, `measured_boot_defs.h`, `delegated_attest_defs.h`, `tfm_platform_api.h`).
 * @module
 */

/** PSA status codes (`psa_status_t`) the services return. */
export const PSA = {
  SUCCESS: 0,
  ERROR_PROGRAMMER_ERROR: -129,
  ERROR_CONNECTION_REFUSED: -130,
  ERROR_CONNECTION_BUSY: -131,
  ERROR_GENERIC_ERROR: -132,
  ERROR_NOT_PERMITTED: -133,
  ERROR_NOT_SUPPORTED: -134,
  ERROR_INVALID_ARGUMENT: -135,
  ERROR_INVALID_HANDLE: -136,
  ERROR_BAD_STATE: -137,
  ERROR_BUFFER_TOO_SMALL: -138,
  ERROR_ALREADY_EXISTS: -139,
  ERROR_DOES_NOT_EXIST: -140,
  ERROR_INSUFFICIENT_MEMORY: -141,
  ERROR_SERVICE_FAILURE: -144,
  ERROR_COMMUNICATION_FAILURE: -145,
} as const;

/** `TFM_PLATFORM_ERR_SYSTEM_ERROR`: the platform service's failure, a positive +1. */
export const TFM_PLATFORM_ERR_SYSTEM_ERROR = 1;
export const TFM_PLATFORM_ERR_NOT_SUPPORTED = 3;

/** Names of the status codes, for logs and `--json`. */
export function statusName(s: number): string {
  if (s === TFM_PLATFORM_ERR_SYSTEM_ERROR) return 'TFM_PLATFORM_ERR_SYSTEM_ERROR';
  if (s === TFM_PLATFORM_ERR_NOT_SUPPORTED) return 'TFM_PLATFORM_ERR_NOT_SUPPORTED';
  const e = Object.entries(PSA).find(([, v]) => v === s);
  return e === undefined ? String(s) : `PSA_${e[0]}`;
}

/** Stateless handles: 0x40000000 | version << 8 | (manifest index - 1). */
export const HANDLE = {
  CRYPTO: 0x40000100,
  ATTESTATION: 0x40000103,
  PLATFORM: 0x40000105,
  MEASURED_BOOT: 0x40000110,
  DELEGATED_ATTESTATION: 0x40000111,
  DPE: 0x40000112,
} as const;

export const MSG = {
  PSA_IPC_CALL: 0,
  ATTEST_GET_TOKEN: 1001,
  ATTEST_GET_TOKEN_SIZE: 1002,
  MBOOT_READ: 1001,
  MBOOT_EXTEND: 1002,
  DELEGATED_GET_KEY: 1001,
  DELEGATED_GET_PLATFORM_TOKEN: 1002,
  PLATFORM_NV_READ: 1010,
  PLATFORM_NV_INCREMENT: 1011,
  PLATFORM_SYSTEM_RESET: 1012,
  PLATFORM_IOCTL: 1013,
} as const;

/** PSA algorithm ids the services use. */
export const PSA_ALG = {
  SHA_256: 0x02000009,
  SHA_384: 0x0200000a,
  SHA_512: 0x0200000b,
} as const;

export const PSA_ECC_FAMILY_SECP_R1 = 0x12;

/** One call as the SPM hands it to a service: input vectors and output capacities. */
export interface PsaCall {
  readonly handle: number;
  readonly type: number;
  /** The PSA client id after translation (negative for the host). */
  readonly clientId: number;
  readonly inVecs: readonly Uint8Array[];
  readonly outCaps: readonly number[];
}

/** A service's answer: status and the output vectors (each at most its capacity). */
export interface PsaReply {
  readonly status: number;
  readonly outVecs: readonly Uint8Array[];
  /** The service asks for a system reset once the reply is sent. */
  readonly reset?: boolean;
}

export const reply = (status: number, ...outVecs: Uint8Array[]): PsaReply => ({ status, outVecs });
