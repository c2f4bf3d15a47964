/**
 * TF-M 2.3.1 provisioning messages (BLOB) against the bundles TF-M's own scripts made
 * (`../shared/vectors/rse-2.3/provisioning`): each decodes, authenticates with the key the
 * script used (ECDSA P-256, or AES-CCM under KPROV) and decrypts; re-encoding its header and
 * plaintext body with the same keys and the message's own (random) iv gives the same bytes. Then
 * every byte of a message is covered: a flipped bit anywhere is refused or rejected.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportPublicDer, loadKey } from '../../src/crypto/index.ts';
import { RseError } from '../../src/lib/errors.ts';
import { fromHex } from '../../src/lib/hex.ts';
import {
  type BlobAuth,
  decodeBlob,
  decodePlainDataMessage,
  encodeBlob,
  encodePlainDataMessage,
  openBlob,
  PLAIN_DATA_TYPE,
} from '../../src/provisioning/message.ts';
import {
  encodeNonSecretCmValues,
  encodeNonSecretDmValues,
  encodeRotpkArrayValues,
  encodeSecretValues,
} from '../../src/provisioning/values-2.3.ts';
import { vectorsDir } from '../helpers.ts';

const V = vectorsDir('rse-2.3');
const file = (p: string): Uint8Array => new Uint8Array(readFileSync(join(V, p)));
const signingKey = loadKey(file('keys/prov-cm-ecdsa-p256.pem'));
const verifyingKey = loadKey(file('keys/prov-cm-ecdsa-p256.pub.pem'));
const kprov = { cm: file('keys/derived/kprov_cm.bin'), dm: file('keys/derived/kprov_dm.bin') };
const guk = file('keys/tfm_dummy_guk.bin');

const CASES = [
  { dir: 'asym', name: 'cm', key: 'cm', metadata: 0x20000004, purpose: 0x10000c01 },
  { dir: 'asym', name: 'dm', key: 'dm', metadata: 0x20000004, purpose: 0x20000c01 },
  { dir: 'asym', name: 'combined', key: 'cm', metadata: 0x20000004, purpose: 0x30000c02 },
  { dir: 'sym', name: 'cm', key: 'cm', metadata: 0x10000004, purpose: 0x10000c01 },
  { dir: 'sym', name: 'dm', key: 'dm', metadata: 0x10000004, purpose: 0x20000c01 },
  { dir: 'sym', name: 'combined', key: 'cm', metadata: 0x10000004, purpose: 0x30000c02 },
  { dir: 'asym-codeenc', name: 'cm', key: 'cm', metadata: 0x20000005, purpose: 0x10000c01 },
  { dir: 'asym-codeenc', name: 'dm', key: 'dm', metadata: 0x20000005, purpose: 0x20000c01 },
] as const;

for (const c of CASES) {
  const path = `provisioning/${c.dir}/${c.name}_provisioning_message.bin`;
  const sym = c.dir === 'sym';
  const key = kprov[c.key];
  const openAuth = sym ? ({ kind: 'ccm', key } as const) : ({ kind: 'ecdsa', verifyingKey, encryptionKey: key } as const);
  const sealAuth: BlobAuth = sym ? { kind: 'ccm', key } : { kind: 'ecdsa', signingKey, encryptionKey: key };

  test(`${c.dir}/${c.name}: decoded, authenticated and decrypted, then re-encoded byte for byte`, () => {
    const bytes = file(path);
    const m = decodeBlob(bytes, path);
    assert.equal(m.header.metadata, c.metadata);
    assert.equal(m.header.purpose, c.purpose);
    assert.equal(m.signature.length, sym ? 16 : 64);
    const body = openBlob(m, openAuth);
    assert.deepEqual(
      body.code.subarray(0, 200),
      file(`inputs/prov/${c.name === 'combined' ? 'combined' : c.name}_code.bin`).subarray(0, 200),
    );
    if (c.name !== 'dm') assert.deepEqual(body.secretValues.subarray(0, 32), guk, 'the CM secret values start with the GUK');
    assert.deepEqual(encodeBlob(m.header, body, sealAuth), bytes);
  });

  test(`${c.dir}/${c.name}: a flipped bit anywhere in the message is refused`, () => {
    const bytes = file(path);
    const step = Math.max(1, Math.floor(bytes.length / 300));
    for (let at = 0; at < bytes.length; at += step) {
      const bad = bytes.slice();
      bad[at] = (bad[at] as number) ^ 0x10;
      let refused = false;
      try {
        openBlob(decodeBlob(bad), openAuth);
      } catch (e) {
        assert.ok(e instanceof RseError, String(e));
        refused = true;
      }
      // Padding bytes of the signature slot past signature_size are not covered by anything.
      const unusedSignature = at >= 0x0c + (sym ? 16 : 64) && at < 0x6c;
      assert.equal(refused, !unusedSignature, `byte 0x${at.toString(16)}`);
    }
  });
}

/** The values of the README's bundle commands, built by rsekit from the recorded inputs. */
function recordedValues() {
  const pemSpki = (p: string): Uint8Array => exportPublicDer(loadKey(file(p)), 'spki');
  const cm = encodeNonSecretCmValues({
    trngRoscSc: fromHex('20000000200000002000000020000000'),
    trngInUse: 0,
    entropyHighThreshold: 821,
    entropyRepetitionCount: 81,
    cmPolicies: 0,
    rotpks: [
      { area: 0, index: 0, key: file('keys/lms_cm.pub').subarray(4), type: 'lms', hashAlg: 'sha256', policy: 'required' },
      { area: 0, index: 1, key: pemSpki('keys/mcuboot-s-ecdsa-p256.pem'), type: 'ecdsa', hashAlg: 'sha256', policy: 'required' },
    ],
    dmaIcs: file('inputs/prov/dma/otp_dma_ics.bin'),
    bl1_2: file('inputs/prov/bl1_2_padded.bin'),
    bl1_2Hash: file('inputs/prov/bl1_2_padded_hash.bin'),
  });
  const dm = encodeNonSecretDmValues({
    rotpks: [{ area: 0, index: 1, key: pemSpki('keys/mcuboot-ns-ecdsa-p256.pem'), type: 'ecdsa', hashAlg: 'sha256', policy: 'required' }],
  });
  const secretCm = encodeSecretValues([guk, undefined, guk]);
  const secretDm = encodeSecretValues([undefined, guk]);
  const cat = (...a: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(a));
  return {
    cm: { code: file('inputs/prov/cm_code.bin'), data: cat(file('inputs/prov/cm_data.bin'), cm), secretValues: secretCm },
    dm: { code: file('inputs/prov/dm_code.bin'), data: cat(file('inputs/prov/dm_data.bin'), dm), secretValues: secretDm },
    combined: {
      code: file('inputs/prov/combined_code.bin'),
      data: cat(file('inputs/prov/combined_data.bin'), cm, dm),
      secretValues: cat(secretCm, secretDm),
    },
  };
}

for (const c of CASES) {
  test(`${c.dir}/${c.name}: made from the recorded inputs (code, values, keys) with the message's iv, byte for byte`, () => {
    const bytes = file(`provisioning/${c.dir}/${c.name}_provisioning_message.bin`);
    const key = kprov[c.key];
    const auth: BlobAuth = c.dir === 'sym' ? { kind: 'ccm', key } : { kind: 'ecdsa', signingKey, encryptionKey: key };
    const header = {
      metadata: c.metadata,
      purpose: c.purpose,
      version: 0,
      iv: bytes.slice(0x78, 0x80),
      socUid: new Uint8Array(12),
      batchId: 0,
      dmNumber: 0,
      publicKey: new Uint8Array(0),
    };
    const made = encodeBlob(header, recordedValues()[c.name], auth);
    assert.equal(made.length, bytes.length);
    assert.deepEqual(made, bytes);
  });
}

test('the non-endorsed DM ROTPKs plain data message, made from its recorded inputs, byte for byte', () => {
  const bytes = file('provisioning/messages/non_endorsed_dm_rotpks_plain_message.bin');
  const payload = encodeRotpkArrayValues('dm', 1, [
    {
      index: 0,
      key: exportPublicDer(loadKey(file('keys/mcuboot-ns-ecdsa-p256.pem')), 'spki'),
      type: 'ecdsa',
      hashAlg: 'sha256',
      policy: 'required',
    },
  ]);
  assert.deepEqual(encodePlainDataMessage(PLAIN_DATA_TYPE.NON_ENDORSED_DM_ROTPKS, payload), bytes);
  const back = decodePlainDataMessage(bytes);
  assert.equal(back.plainType, PLAIN_DATA_TYPE.NON_ENDORSED_DM_ROTPKS);
  assert.deepEqual(back.payload, payload);
  assert.throws(
    () => decodePlainDataMessage(bytes.subarray(0, 100)),
    (e: unknown) => e instanceof RseError && e.code === 'E_BOUNDS',
  );
});
