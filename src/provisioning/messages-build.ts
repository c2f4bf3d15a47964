/**
 * Provisioning messages as a provisioning rig makes them for a `rse-2.3` device: a CM, DM or
 * combined BLOB whose code is rsekit's provisioning stub (which records where the values sit in
 * DATA), whose DATA is the non-secret values and whose secret values are the keys; signed with
 * ECDSA and encrypted with AES-CTR under KPROV, or sealed with AES-CCM under KPROV, with the
 * header fields TF-M's `create_*_provisioning_bundle.py` writes (metadata, purpose: the flow,
 * TP mode, SP mode and valid LCS).
 * @module
 */

import { ecdsaSignDeterministic } from '../crypto/ecdsa-digest.ts';
import type { AsymKey } from '../crypto/index.ts';
import { rawPublicKey } from '../crypto/index.ts';
import { u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import {
  BLOB_AUTH_HEADER_SIZE,
  type BlobAuth,
  encodeBlob,
  encodePlainDataMessage,
  PLAIN_DATA_TYPE,
  PROVISIONING_MESSAGE_TYPE,
} from './message.ts';
import { type BlobFlow, provisioningKey23, rsekitProvisioningCode } from './messages-rom.ts';
import {
  type CmValues23,
  type DmValues23,
  encodeNonSecretCmValues,
  encodeNonSecretDmValues,
  encodeRotpkArrayValues,
  encodeSecretValues,
  type RotpkValue,
} from './values-2.3.ts';

/** What a provisioning message carries and how it is authenticated. */
export interface MessageSpec {
  readonly flow: BlobFlow;
  readonly cm?: CmValues23;
  readonly dm?: DmValues23;
  /** GUK, KP_CM, KCE_CM (CM and combined). */
  readonly cmSecrets?: readonly [Uint8Array, Uint8Array, Uint8Array];
  /** KP_DM, KCE_DM (DM and combined). */
  readonly dmSecrets?: readonly [Uint8Array, Uint8Array];
  readonly tpMode: 'TCI' | 'PCI';
  /** ECDSA with this key (ROTPK in ROM), or AES-CCM (KRTL derivative). */
  readonly auth: { readonly kind: 'ecdsa'; readonly key: AsymKey } | { readonly kind: 'ccm' };
  /** The RTL key the KPROV derivation starts from (zero in TCI mode). */
  readonly krtl: Uint8Array;
  /** 8 bytes; random by default. */
  readonly iv: Uint8Array;
  readonly version?: number;
  readonly batchId?: number;
  readonly dmNumber?: number;
  /** Bind the blob to a SoC UID (personalised). */
  readonly socUid?: Uint8Array;
  /** Also encrypt the code and data (`RSE_PROVISIONING_*_ENCRYPT_CODE_DATA`). */
  readonly encryptCodeData?: boolean;
  /** The message a chained loader fetches (purpose bit 27); signed, if by ECDSA, as PREVIOUS_MESSAGE. */
  readonly chained?: boolean;
  /** ECDSA by this CM ROTPK of the array in use instead of the ROM key (ROTPK_NOT_IN_ROM, CM_ROTPK): its number. */
  readonly cmRotpk?: number;
}

/** The LCSs a flow's blob is valid in (purpose bits [31:28]): the plain-data handler runs in SE. */
const VALID_LCS: Readonly<Record<BlobFlow, number>> = { cm: 1, dm: 2, combined: 3, 'dm-chained': 2, 'plain-data': 4 };

/** The `metadata` and `purpose` words of a blob. */
export function blobWords(s: Pick<MessageSpec, 'flow' | 'tpMode' | 'auth' | 'socUid' | 'encryptCodeData' | 'chained' | 'cmRotpk'>): {
  metadata: number;
  purpose: number;
} {
  // Signature config: 1 KRTL derivative (CCM), 2 ROTPK in ROM, 3 not in ROM (type [27:26]: 0 CM ROTPK, 1 previous message).
  const notInRom = s.auth.kind === 'ecdsa' && (s.cmRotpk !== undefined || s.chained === true);
  const sig = s.auth.kind === 'ccm' ? 1 : notInRom ? 3 : 2;
  const pkType = notInRom && s.cmRotpk === undefined ? 1 : 0;
  const secrets = SECRETLESS.has(s.flow) ? 0 : 1 << 2;
  const metadata =
    ((sig << 28) |
      (pkType << 26) |
      (s.socUid === undefined ? 0 : 1 << 30) |
      (((s.cmRotpk ?? 0) & 0x1ff) << 8) |
      secrets |
      (s.encryptCodeData === true ? 1 : 0)) >>>
    0;
  // SP mode: required for provisioning in CM and DM; the plain-data handler runs in SE without it.
  const sp = s.flow === 'plain-data' ? 0 : 1 << 11;
  const purpose =
    ((VALID_LCS[s.flow] << 28) |
      ((s.chained === true ? 1 : 0) << 27) |
      sp |
      ((s.tpMode === 'TCI' ? 2 : 1) << 9) |
      (s.flow === 'combined' ? 2 : 1)) >>>
    0;
  return { metadata, purpose };
}

/** Flows whose code reads no secret values (so none are encrypted). */
const SECRETLESS: ReadonlySet<BlobFlow> = new Set(['dm-chained', 'plain-data']);

/**
 * Makes a provisioning BLOB: CM, DM or combined (values and secrets), a chained loader
 * (`dm-chained`, no values: its code fetches the DM blob marked `chained`) or a plain-data handler
 * (`plain-data`, valid in SE, signed by a CM ROTPK: its code fetches a plain data message).
 */
export function buildProvisioningMessage(s: MessageSpec): Uint8Array {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new RseError('E_USAGE', `a ${s.flow} message needs ${what}`, { field: what });
    return v;
  };
  const parts: Uint8Array[] = [];
  const secrets: (Uint8Array | undefined)[] = [];
  if (s.flow === 'cm' || s.flow === 'combined') {
    parts.push(encodeNonSecretCmValues(need(s.cm, 'CM values')));
    secrets.push(...need(s.cmSecrets, 'the CM secrets (GUK, KP_CM, KCE_CM)'));
  }
  if (s.flow === 'dm' || s.flow === 'combined') {
    parts.push(encodeNonSecretDmValues(need(s.dm, 'DM values')));
    secrets.push(...need(s.dmSecrets, 'the DM secrets (KP_DM, KCE_DM)'));
  }
  if (s.chained === true && s.flow !== 'dm')
    throw new RseError('E_USAGE', 'only a DM blob is fetched by a chained loader', { field: 'chained' });
  const { metadata, purpose } = blobWords(s);
  const owner = s.flow === 'cm' || s.flow === 'combined' ? 'CM' : 'DM';
  const kprov = provisioningKey23(s.krtl, owner, owner === 'CM' ? (s.batchId ?? 0) : (s.dmNumber ?? 0));
  const auth: BlobAuth =
    s.auth.kind === 'ccm' ? { kind: 'ccm', key: kprov } : { kind: 'ecdsa', signingKey: s.auth.key, encryptionKey: kprov };
  const publicKey = s.auth.kind === 'ecdsa' && s.cmRotpk !== undefined ? rawPublicKey(s.auth.key).subarray(1) : new Uint8Array(0);
  return encodeBlob(
    {
      metadata,
      purpose,
      version: s.version ?? 0,
      iv: s.iv,
      socUid: s.socUid ?? new Uint8Array(12),
      batchId: s.batchId ?? 0,
      dmNumber: s.dmNumber ?? 0,
      publicKey,
    },
    {
      code: rsekitProvisioningCode(s.flow, 0),
      data: new Uint8Array(Buffer.concat(parts)),
      secretValues: encodeSecretValues(secrets),
    },
    auth,
  );
}

/** A ROTPK revocation (or array update) as `create_rotpk_revocation_auth_plain_data_message.py` means it. */
export interface RevocationSpec {
  readonly who: 'cm' | 'dm';
  /** The array to move to; 0: the next one. */
  readonly index: number;
  /** The new array's ROTPKs (all of its slots), or none to only revoke. */
  readonly rotpks: readonly Omit<RotpkValue, 'area'>[];
  /** The signing key: a ROTPK of the current array (CM ROTPK for CM, DM ROTPK for DM revocation). */
  readonly key: AsymKey;
  /** Its number in the current array (metadata bits [16:8]). */
  readonly rotpkNumber: number;
  readonly version?: number;
}

/**
 * An AUTHENTICATED_PLAIN_DATA message (0x4444DA7A) carrying a CM or DM ROTPK array revocation:
 * the authentication header (ROTPK not in ROM, the signer's public key in it, valid in DM and SE),
 * then `plain_metadata` (4 CM, 5 DM) and `rse_rotpk_revocation_*_provisioning_values_t`, signed
 * with ECDSA over the authenticated header and the plain data, not encrypted.
 */
export function buildRevocationMessage(s: RevocationSpec): Uint8Array {
  const plain = new Uint8Array(
    Buffer.concat([
      u32le(s.who === 'cm' ? PLAIN_DATA_TYPE.CM_ROTPK_ARRAY_REVOCATION : PLAIN_DATA_TYPE.DM_ROTPK_ARRAY_REVOCATION),
      encodeRotpkArrayValues(s.who, s.index, s.rotpks),
    ]),
  );
  if (s.rotpks.length > 0 && s.rotpks.length !== (s.who === 'cm' ? 4 : 3))
    throw new RseError('E_ARGUMENT', `an array update gives every ${s.who.toUpperCase()} ROTPK of the array (${s.who === 'cm' ? 4 : 3})`, {
      field: 'rotpks',
    });
  const metadata = ((3 << 28) | ((s.who === 'cm' ? 0 : 2) << 26) | ((s.rotpkNumber & 0x1ff) << 8)) >>> 0;
  const purpose = ((s.who === 'cm' ? 0b0110 : 0b0100) << 28) >>> 0;
  const point = rawPublicKey(s.key).subarray(1);
  const a = new Uint8Array(BLOB_AUTH_HEADER_SIZE);
  a.set(u32le(metadata, purpose, s.version ?? 0), 0x64);
  a.set(u32le(0, plain.length, 0), 0x8c);
  a.set(point, 0x98);
  const sig = ecdsaSignDeterministic(s.key, a.subarray(0x64), plain);
  a.set(u32le(sig.length), 0);
  a.set(sig, 4);
  return new Uint8Array(
    Buffer.concat([u32le(PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA, BLOB_AUTH_HEADER_SIZE + plain.length), a, plain]),
  );
}

/**
 * A PLAIN_DATA message of non-endorsed DM ROTPKs (`create_non_endorsed_provisioning_plain_data_message.py`):
 * `plain_metadata` NON_ENDORSED_DM_ROTPKS, then `rse_rotpk_revocation_dm_provisioning_values_t`
 * (index 0: the next free array, the number of ROTPKs, which TF-M's handler requires to be the
 * array's every slot, their policies, the ROTPKs).
 */
export function buildNonEndorsedDmMessage(rotpks: readonly Omit<RotpkValue, 'area'>[], index = 0): Uint8Array {
  const values = encodeRotpkArrayValues('dm', index, rotpks);
  // `handle_non_endorsed_dm` takes a whole array: num_rotpks is its every slot, the unused ones zero.
  values.set(u32le(RSE_2_3_OTP_CONFIG.dmRotpksPerArea), 4);
  return encodePlainDataMessage(PLAIN_DATA_TYPE.NON_ENDORSED_DM_ROTPKS, values);
}
