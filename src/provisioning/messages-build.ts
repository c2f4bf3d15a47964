/**
 * Provisioning messages as a provisioning rig makes them for a `rse-2.3` device: a CM, DM or
 * combined BLOB whose code is rsekit's provisioning stub (which records where the values sit in
 * DATA), whose DATA is the non-secret values and whose secret values are the keys; signed with
 * ECDSA and encrypted with AES-CTR under KPROV, or sealed with AES-CCM under KPROV, with the
 * header fields TF-M's `create_*_provisioning_bundle.py` writes (metadata, purpose: the flow,
 * TP mode, SP mode and valid LCS).
 * @module
 */
import type { AsymKey } from '../crypto/index.ts';
import { rawPublicKey } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { type BlobAuth, encodeBlob } from './message.ts';
import { type BlobFlow, provisioningKey23, rsekitProvisioningCode } from './messages-rom.ts';
import { type CmValues23, type DmValues23, encodeNonSecretCmValues, encodeNonSecretDmValues, encodeSecretValues } from './values-2.3.ts';

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
}

const VALID_LCS: Readonly<Record<BlobFlow, number>> = { cm: 1, dm: 2, combined: 3 };

/** The `metadata` and `purpose` words of a blob. */
export function blobWords(s: Pick<MessageSpec, 'flow' | 'tpMode' | 'auth' | 'socUid' | 'encryptCodeData'>): {
  metadata: number;
  purpose: number;
} {
  const sig = s.auth.kind === 'ccm' ? 1 : 2;
  const metadata = ((sig << 28) | (s.socUid === undefined ? 0 : 1 << 30) | (1 << 2) | (s.encryptCodeData === true ? 1 : 0)) >>> 0;
  const purpose = ((VALID_LCS[s.flow] << 28) | (1 << 11) | ((s.tpMode === 'TCI' ? 2 : 1) << 9) | (s.flow === 'combined' ? 2 : 1)) >>> 0;
  return { metadata, purpose };
}

/** Makes a CM, DM or combined provisioning message. */
export function buildProvisioningMessage(s: MessageSpec): Uint8Array {
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new RseError('E_USAGE', `a ${s.flow} message needs ${what}`, { field: what });
    return v;
  };
  const parts: Uint8Array[] = [];
  const secrets: (Uint8Array | undefined)[] = [];
  if (s.flow !== 'dm') {
    parts.push(encodeNonSecretCmValues(need(s.cm, 'CM values')));
    secrets.push(...need(s.cmSecrets, 'the CM secrets (GUK, KP_CM, KCE_CM)'));
  }
  if (s.flow !== 'cm') {
    parts.push(encodeNonSecretDmValues(need(s.dm, 'DM values')));
    secrets.push(...need(s.dmSecrets, 'the DM secrets (KP_DM, KCE_DM)'));
  }
  const { metadata, purpose } = blobWords(s);
  const owner = s.flow === 'dm' ? 'DM' : 'CM';
  const kprov = provisioningKey23(s.krtl, owner, owner === 'CM' ? (s.batchId ?? 0) : (s.dmNumber ?? 0));
  const auth: BlobAuth =
    s.auth.kind === 'ccm' ? { kind: 'ccm', key: kprov } : { kind: 'ecdsa', signingKey: s.auth.key, encryptionKey: kprov };
  if (s.auth.kind === 'ecdsa') rawPublicKey(s.auth.key); // a usable EC key, or a typed error now
  return encodeBlob(
    {
      metadata,
      purpose,
      version: s.version ?? 0,
      iv: s.iv,
      socUid: s.socUid ?? new Uint8Array(12),
      batchId: s.batchId ?? 0,
      dmNumber: s.dmNumber ?? 0,
      publicKey: new Uint8Array(0),
    },
    {
      code: rsekitProvisioningCode(s.flow, 0),
      data: new Uint8Array(Buffer.concat(parts)),
      secretValues: encodeSecretValues(secrets),
    },
    auth,
  );
}
