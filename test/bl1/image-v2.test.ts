/**
 * BL1_2 v2 images (TF-M 2.3.1) against the images TF-M's own `create_bl2_img.py` made
 * (`../shared/vectors/rse-2.3/bl2`): ECDSA (RFC 6979) images byte for byte; LMS images byte for
 * byte with the vector's own signature in the slot (the LMS randomizer differs per run), that
 * signature verified over our protected values with the embedded key; the signed message equal to
 * the script's `script.bin`. Then the parser's bounds and the script's own refusals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BL1_IMAGE_V2_RSE_2_3,
  type Bl1ImageV2Config,
  type Bl1V2Signer,
  type Bl1V2SignerTrust,
  bl1V2Offsets,
  bl1V2ProtectedValues,
  checkBl1ImageV2,
  parseBl1ImageV2,
  signBl1ImageV2,
} from '../../src/bl1/image-v2.ts';
import { generateKey, hash, loadKey } from '../../src/crypto/index.ts';
import { decodeLmsPublicKey, lmsVerifyProblem } from '../../src/crypto/lms.ts';
import { RseError } from '../../src/lib/errors.ts';
import { flipBits, vectorsDir } from '../helpers.ts';

const V = vectorsDir('rse-2.3');
const file = (p: string): Uint8Array => new Uint8Array(readFileSync(join(V, p)));
const version = { major: 1, minor: 9, revision: 0, build: 0 };
const code = file('inputs/bl2-8k.bin');
const encryptionKey = file('keys/tfm_bl2_dummy_encryption_key.bin');
const fixedIv = file('inputs/iv-bl2.bin');

interface Case {
  readonly name: string;
  readonly signers: readonly ('lms' | 'ecdsa-p256-cm' | 'ecdsa-p256-dm' | 'ecdsa-p384-cm')[];
  readonly encryption: boolean;
  readonly binding?: boolean;
  /** The IV: the fixed input, or (random in the vector) the one the file carries. */
  readonly iv?: 'fixed' | 'from-file';
}

const CASES: readonly Case[] = [
  { name: 'lms-cm-plain', signers: ['lms'], encryption: false },
  { name: 'lms-cm-enc', signers: ['lms'], encryption: true, iv: 'from-file' },
  { name: 'lms-cm-enc-fixediv', signers: ['lms'], encryption: true, iv: 'fixed' },
  { name: 'lms-cmdm-plain', signers: ['lms', 'lms'], encryption: false },
  { name: 'lms-cm-enc-binding-fixediv', signers: ['lms'], encryption: true, binding: true, iv: 'fixed' },
  { name: 'p256-cm-plain', signers: ['ecdsa-p256-cm'], encryption: false },
  { name: 'p256-cm-enc', signers: ['ecdsa-p256-cm'], encryption: true, iv: 'from-file' },
  { name: 'p256-cm-enc-fixediv', signers: ['ecdsa-p256-cm'], encryption: true, iv: 'fixed' },
  { name: 'p256-cmdm-enc-fixediv', signers: ['ecdsa-p256-cm', 'ecdsa-p256-dm'], encryption: true, iv: 'fixed' },
  { name: 'p384-cm-plain', signers: ['ecdsa-p384-cm'], encryption: false },
];

const configOf = (c: Case): Bl1ImageV2Config => ({
  ...BL1_IMAGE_V2_RSE_2_3,
  signers: c.signers.length,
  encryption: c.encryption,
  binding: c.binding === true,
});

for (const c of CASES) {
  test(`${c.name}: create_bl2_img.py's image reproduced${c.signers.includes('lms') ? ' (with its LMS signature, verified)' : ' byte for byte'}`, () => {
    const expected = file(`bl2/${c.name}.bin`);
    const config = configOf(c);
    const clear = parseBl1ImageV2(config, expected, c.name);
    const pv = bl1V2ProtectedValues(config, { code, version, securityCounter: 1 });
    assert.deepEqual(pv, file(`bl2/${c.name}.script.bin`), "the signed message is the script's script.bin");
    const signers: Bl1V2Signer[] = c.signers.map((s, n) => {
      if (s !== 'lms') return { alg: 'ecdsa', key: loadKey(file(`keys/${s.replace('ecdsa-', 'ecdsa-')}.pem`)) };
      const slot = clear.sigs[n] as (typeof clear.sigs)[number];
      return {
        alg: 'lms',
        sign: (msg: Uint8Array) => {
          assert.equal(lmsVerifyProblem(decodeLmsPublicKey(slot.rotpk), msg, slot.signature), undefined, `LMS signature ${n} verifies`);
          return { signature: slot.signature, publicKey: slot.rotpk };
        },
      };
    });
    const iv = c.iv === 'fixed' ? fixedIv : c.iv === 'from-file' ? (clear.iv as Uint8Array) : undefined;
    const made = signBl1ImageV2(config, {
      code,
      version,
      securityCounter: 1,
      signers,
      ...(c.encryption ? { encryptionKey, iv: iv as Uint8Array } : {}),
    });
    assert.equal(made.length, 0xf800);
    assert.deepEqual(made, expected);
    if (c.binding === true) assert.deepEqual(clear.bindingTag, new Uint8Array(16), 'the script leaves the binding tag zero');
  });
}

test("the offsets of every shape are the spec table's", () => {
  const o = (signers: number, encryption: boolean, binding = false) =>
    bl1V2Offsets({ ...BL1_IMAGE_V2_RSE_2_3, signers, encryption, binding });
  assert.deepEqual([o(1, false).sigs[0]?.sig, o(1, false).version, o(1, false).code], [0x7c, 0x62c, 0x638]);
  assert.deepEqual([o(1, true).iv, o(1, true).sigs[0]?.rotpk, o(1, true).magic, o(1, true).code], [0, 0x10, 0x648, 0x64c]);
  assert.deepEqual([o(2, true).sigs[1]?.rotpk, o(2, true).sigs[1]?.sigLen, o(2, true).code], [0x63c, 0xc64, 0xc78]);
  assert.deepEqual([o(1, true, true).bindingTag, o(1, true, true).sigs[0]?.rotpk, o(1, true, true).code], [0x10, 0x20, 0x65c]);
});

test('refused as the script refuses: a BL2 larger than the code area, a wrong signer count', () => {
  const config = configOf({ name: '', signers: ['ecdsa-p256-cm'], encryption: false });
  const key = generateKey('ecdsa-p256');
  assert.throws(
    () => signBl1ImageV2(config, { code: file('inputs/bl2-64k.bin'), version, securityCounter: 1, signers: [{ alg: 'ecdsa', key }] }),
    (e: unknown) => e instanceof RseError && e.code === 'E_SIZE',
  );
  assert.throws(
    () => signBl1ImageV2(config, { code, version, securityCounter: 1, signers: [] }),
    (e: unknown) => e instanceof RseError && e.code === 'E_ARGUMENT',
  );
});

test('property: the parser gives only typed errors on any bytes', () => {
  const config = configOf({ name: '', signers: ['lms', 'lms'], encryption: true });
  const base = file('bl2/lms-cmdm-plain.bin');
  fc.assert(
    fc.property(fc.nat(base.length + 10), fc.array(fc.tuple(fc.nat(0xd00), fc.nat(255)), { maxLength: 8 }), (len, edits) => {
      const b = new Uint8Array(len);
      b.set(base.subarray(0, Math.min(len, base.length)));
      for (const [at, v] of edits) if (at < b.length) b[at] = v;
      try {
        parseBl1ImageV2(config, b);
      } catch (e) {
        assert.ok(e instanceof RseError, String(e));
      }
    }),
    { numRuns: 500, seed: 0x2303 },
  );
});

/** The OTP ROTPK trust of a vector's signers: the hash of each embedded key, signature required. */
const trustOf = (config: Bl1ImageV2Config, b: Uint8Array): Bl1V2SignerTrust[] =>
  parseBl1ImageV2(config, b).sigs.map((s) => ({ rotpkHash: hash('sha256', s.rotpk), policy: 'required' }));

test("BL1_2's checks accept every vector image with its signers' ROTPK hashes provisioned", () => {
  for (const c of CASES) {
    const config = configOf(c);
    const b = file(`bl2/${c.name}.bin`);
    const r = checkBl1ImageV2(config, b, trustOf(config, b), c.encryption ? encryptionKey : undefined);
    assert.equal(r.ok, true, `${c.name}: ${JSON.stringify(r.checks.filter((x) => !x.ok))}`);
    assert.deepEqual(r.protectedValues, file(`bl2/${c.name}.script.bin`), `${c.name}: the plaintext BL1_2 measures`);
  }
});

test("BL1_2's attack table for v2 images: each refused with its own check", () => {
  const c = CASES.find((x) => x.name === 'p256-cmdm-enc-fixediv') as Case;
  const config = configOf(c);
  const good = file(`bl2/${c.name}.bin`);
  const trust = trustOf(config, good);
  const o = bl1V2Offsets(config);
  const failed = (b: Uint8Array, t: readonly Bl1V2SignerTrust[] = trust, key = encryptionKey): string[] => {
    const r = checkBl1ImageV2(config, b, t, key);
    assert.equal(r.ok, false);
    assert.equal(r.protectedValues, undefined, 'nothing of a refused image is handed on');
    return r.checks.filter((x) => !x.ok).map((x) => x.check);
  };
  const flip = (at: number): Uint8Array => {
    const b = good.slice();
    flipBits(b, at, 0x01);
    return b;
  };
  assert.deepEqual(failed(flip((o.code as number) + 100)), ['signer 0: signature', 'signer 1: signature'], 'a payload bit');
  assert.deepEqual(failed(flip(o.securityCounter)), ['decryption magic'], 'the counter: another key, garbage plaintext');
  assert.deepEqual(failed(flip(o.version)), ['signer 0: signature', 'signer 1: signature'], 'the version');
  assert.deepEqual(failed(flip((o.iv as number) + 3)), ['decryption magic'], 'the IV');
  assert.deepEqual(failed(flip((o.sigs[1]?.sig as number) + 10)), ['signer 1: signature'], 'the DM signature');
  assert.deepEqual(failed(flip((o.sigs[0]?.rotpk as number) + 40)), ['signer 0: ROTPK'], 'the embedded CM key');
  const otherKey = generateKey('ecdsa-p256');
  const foreign = signBl1ImageV2(config, {
    code,
    version,
    securityCounter: 1,
    signers: [
      { alg: 'ecdsa', key: otherKey },
      { alg: 'ecdsa', key: loadKey(file('keys/ecdsa-p256-dm.pem')) },
    ],
    encryptionKey,
    iv: fixedIv,
  });
  assert.deepEqual(failed(foreign), ['signer 0: ROTPK'], 'signed by a key OTP does not hold');
  assert.deepEqual(failed(good, [trust[0] as Bl1V2SignerTrust]), ['signer 1: ROTPK'], 'no DM ROTPK provisioned');
  assert.deepEqual(failed(good, trust, new Uint8Array(32)), ['decryption magic'], 'another BL2 encryption key');
  // An optional signer may fail; the required one may not.
  const optional = checkBl1ImageV2(
    config,
    flip((o.sigs[1]?.sig as number) + 10),
    [trust[0] as Bl1V2SignerTrust, { ...(trust[1] as Bl1V2SignerTrust), policy: 'optional' }],
    encryptionKey,
  );
  assert.equal(optional.ok, true);
});
