/** Values, keys and message specs the `rse-2.3` provisioning tests share (TF-M 2.3.1 vector inputs). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportPublicDer, generateKey, loadKey } from '../../src/crypto/index.ts';
import type { MessageSpec } from '../../src/provisioning/messages-build.ts';
import type { CmValues23, DmValues23 } from '../../src/provisioning/values-2.3.ts';
import { vectorsDir } from '../helpers.ts';

export const V = vectorsDir('rse-2.3');
export const file = (p: string): Uint8Array => new Uint8Array(readFileSync(join(V, p)));
export const signer = loadKey(file('keys/prov-cm-ecdsa-p256.pem'));
const mcubootS = loadKey(file('keys/mcuboot-s-ecdsa-p256.pem'));
const mcubootNs = loadKey(file('keys/mcuboot-ns-ecdsa-p256.pem'));
export const key = (b: number): Uint8Array => new Uint8Array(32).fill(b);

export const CM: CmValues23 = {
  trngRoscSc: Uint8Array.from([0x20, 0, 0, 0, 0x20, 0, 0, 0, 0x20, 0, 0, 0, 0x20, 0, 0, 0]),
  trngInUse: 0,
  entropyHighThreshold: 821,
  entropyRepetitionCount: 81,
  rotpks: [
    { area: 0, index: 0, key: file('keys/lms_cm.pub').subarray(4), type: 'lms', hashAlg: 'sha256', policy: 'required' },
    { area: 0, index: 1, key: exportPublicDer(mcubootS, 'spki'), type: 'ecdsa', hashAlg: 'sha256', policy: 'required' },
  ],
  dmaIcs: file('inputs/prov/dma/otp_dma_ics.bin'),
  bl1_2: file('inputs/prov/bl1_2_padded.bin'),
  bl1_2Hash: file('inputs/prov/bl1_2_padded_hash.bin'),
};
export const DM: DmValues23 = {
  rotpks: [{ area: 0, index: 1, key: exportPublicDer(mcubootNs, 'spki'), type: 'ecdsa', hashAlg: 'sha256', policy: 'required' }],
};

export function spec(flow: MessageSpec['flow'], over: Partial<MessageSpec> = {}): MessageSpec {
  return {
    flow,
    cm: CM,
    dm: DM,
    cmSecrets: [key(0x11), key(0x22), key(0x33)],
    dmSecrets: [key(0x44), key(0x55)],
    tpMode: 'TCI',
    auth: { kind: 'ecdsa', key: signer },
    krtl: new Uint8Array(32),
    iv: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
    ...over,
  };
}

/** CM values whose policies allow non-endorsed DM ROTPKs (bit 4) and whose CM ROTPK 2 is `signer` (the plain-data blob's). */
export function cmNonEndorsed(policies = 1 << 4): CmValues23 {
  const rotpk2 = { area: 0, index: 2, key: exportPublicDer(signer, 'spki'), type: 'ecdsa', hashAlg: 'sha256', policy: 'required' } as const;
  return { ...CM, cmPolicies: policies, rotpks: [...CM.rotpks, rotpk2] };
}

/** A whole DM ROTPK array of fresh P-256 keys (slot 1 given, if any), as non-endorsed DM ROTPKs. */
export function dmRotpkArray(
  slot1?: Uint8Array,
): { index: number; key: Uint8Array; type: 'ecdsa'; hashAlg: 'sha256'; policy: 'required' }[] {
  return [0, 1, 2].map((index) => ({
    index,
    key: index === 1 && slot1 !== undefined ? slot1 : exportPublicDer(generateKey('ecdsa-p256'), 'spki'),
    type: 'ecdsa',
    hashAlg: 'sha256',
    policy: 'required',
  }));
}
