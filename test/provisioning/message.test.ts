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
import { loadKey } from '../../src/crypto/index.ts';
import { RseError } from '../../src/lib/errors.ts';
import { type BlobAuth, decodeBlob, encodeBlob, openBlob } from '../../src/provisioning/message.ts';
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
