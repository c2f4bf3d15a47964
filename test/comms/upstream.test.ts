/**
 * The upstream service test suites, re-expressed as host calls over the socket:
 * - measured boot `TFM_{NS,S}_MEASURED_BOOT_TEST_1001..1014` (tf-m-extras
 *   `partitions/measured_boot/test`, @TF-Mv2.1.0), with its input and expected values, on both
 *   slot sets (NS 10..19, 31; S 20..30);
 * - delegated attestation `TFM_*_DELEGATED_ATTEST_TEST_1001..1003`;
 * - initial attestation `TFM_NS_ATTEST_TEST_1004` (token decode and mandatory CCA claims) and
 *   `1005` (negative cases);
 * - platform `TFM_NS_PLATFORM_TEST_1001` (ioctl with an invalid request), plus the reset call.
 * Every call goes through the client library and the framing, in TF-A's protocol choice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { decode } from 'cbor2';
import { type CallResult, RseClient } from '../../src/comms/client.ts';
import { RseServer, type ServeOptions } from '../../src/comms/server.ts';
import { coseKeyEc2, tokenKeyOf } from '../../src/cose/keys.ts';
import { decodeCose, verifyCose } from '../../src/cose/message.ts';
import { type AsymKey, ecPublicFromPrivate, type HashAlg, hash } from '../../src/crypto/index.ts';
import { fromHex, toHex } from '../../src/lib/hex.ts';
import { CCA_CLAIM } from '../../src/services/attestation.ts';
import { HANDLE, PSA, PSA_ALG, TFM_PLATFORM_ERR_NOT_SUPPORTED } from '../../src/services/psa.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { tempDir } from '../helpers.ts';

async function served(o: ServeOptions = {}): Promise<{ server: RseServer; client: RseClient; done: () => Promise<void> }> {
  const server = new RseServer(deviceOf(exampleFixture('rse-2.1')), o);
  assert.equal(server.boot().ok, true);
  const path = join(tempDir(), 'rse.sock');
  await server.listen({ path });
  const client = await RseClient.connect({ path });
  return {
    server,
    client,
    done: async () => {
      client.close();
      await server.close();
    },
  };
}

/** The claims of a token whose signature verifies with `key`. */
function verified(token: Uint8Array, key: AsymKey): Map<number, unknown> {
  const s = decodeCose(token);
  assert.doesNotThrow(() => verifyCose(s, tokenKeyOf(key)), 'the token verifies with the IAK');
  return decode(s.payload) as Map<number, unknown>;
}

// ---- Measured boot: test_values.h ----

const SIGNER_ID = fromHex('010501ef680788cc330654ab09017477490893a80107ef01830922cd0961b6ff'.repeat(2));
const SW_VERSION = '255.255.65535';
const SW_TYPE = 'MEASURED_BOOT_TESTS';
const INPUT = [
  { algo: PSA_ALG.SHA_256, value: fromHex('bb'.repeat(32)) },
  { algo: PSA_ALG.SHA_256, value: fromHex('010501ef680788cc330654ab09017477490893a80107ef01830922cd0961b6ff') },
  {
    algo: PSA_ALG.SHA_512,
    value: fromHex(
      '8a6601f670748be233ff5d75d7ea89a8bbbbbbbbbbbbbbbb010501ef680788cc830922cd0961b6ffbbbbbbbbbbbbbbbb564658499931cf597dbc3a4e68798a1c',
    ),
  },
  {
    algo: PSA_ALG.SHA_512,
    value: fromHex(
      '564658499931cf597dbc3a4e68798a1c010501ef680788cc830922cd0961b6ff7dbc3a4e68798a1c010501ef680788cc8a6601f670748be2830922cd0961b6ff',
    ),
  },
];
/** MEASUREMENT_VALUE_SIZE 32 (SHA-256 slots): the expected slot after each input. */
const EXPECTED = [
  '86bfbce7f88e77dab6bbfb923bb70e2411d374dc658db751c9bdec438f5cce54',
  'd2abc126eb5c259d30339c02d7494f04e2d449be81a96039560e5690b3daaf25',
  '75b220fd5ffcdbfc2073e4a02f8c53383c74bdf3b6ab9fb6b3d2bb7aa208c598',
  '79c3b9caf77ba7f32065770409608a024fa5459c6d10a7ca593ff14d9b37e83c',
];

interface Measurement {
  signerId: Uint8Array;
  version: string;
  swType: string;
  algo: number;
  value: Uint8Array;
}

/** `load_default_valid_test_data`. */
const defaultMeasurement = (): Measurement => ({
  signerId: SIGNER_ID.slice(),
  version: SW_VERSION,
  swType: SW_TYPE,
  algo: PSA_ALG.SHA_256,
  value: fromHex('bb'.repeat(32)),
});

const extend = (c: RseClient, slot: number, m: Measurement, lock = false): Promise<CallResult> =>
  c.measuredBootExtend({ slot, signerId: m.signerId, version: m.version, swType: m.swType, measurement: m.value, lock, algo: m.algo });

const NS_SLOTS = { 1001: 10, 1002: 11, 1004: 12, 1005: 13, 1006: 14, 1007: 15, 1008: 16, 1009: 17, 1010: 18, 1011: 19, 1012: 31 };
const S_SLOTS = { 1001: 20, 1002: 21, 1004: 22, 1005: 23, 1006: 24, 1007: 25, 1008: 26, 1009: 27, 1010: 28, 1011: 29, 1012: 30 };

async function measuredBootSuite(c: RseClient, slots: typeof NS_SLOTS): Promise<void> {
  // 1001 / 1002: extend then read, twice; the second extend clears version and sw_type.
  for (const [id, first] of [
    [1001, 0],
    [1002, 2],
  ] as const) {
    const slot = slots[id];
    for (const k of [first, first + 1]) {
      const input = INPUT[k] as (typeof INPUT)[number];
      const st = await extend(c, slot, { ...defaultMeasurement(), algo: input.algo, value: input.value });
      assert.equal(st.status, PSA.SUCCESS, `${id}: extend ${k}`);
      const rd = await c.measuredBootRead(slot);
      assert.equal(rd.status, PSA.SUCCESS, `${id}: read ${k}`);
      assert.equal(toHex(rd.slot?.value ?? new Uint8Array(0)), EXPECTED[k], `${id}: the extended value ${k}`);
      assert.equal(rd.slot?.algo, input.algo);
      assert.deepEqual(rd.slot?.signerId, SIGNER_ID);
      assert.equal(rd.slot?.version, k === first ? SW_VERSION : '');
      assert.equal(rd.slot?.swType, k === first ? SW_TYPE : '');
    }
  }
  // 1003: the slot after the last one.
  assert.equal((await extend(c, 32, defaultMeasurement())).status, PSA.ERROR_INVALID_ARGUMENT, '1003 extend');
  assert.equal((await c.measuredBootRead(32)).status, PSA.ERROR_INVALID_ARGUMENT, '1003 read');
  // 1004: measurement value 65 and 1 bytes.
  for (const n of [65, 1])
    assert.equal(
      (await extend(c, slots[1004], { ...defaultMeasurement(), value: new Uint8Array(n) })).status,
      PSA.ERROR_INVALID_ARGUMENT,
      `1004 value ${n}`,
    );
  // 1005, 1007, 1009, 1011: extend, then read with one buffer a byte short.
  const shortReads = [
    [1005, { valueCapacity: 31 }],
    [1007, { signerIdCapacity: 63 }],
    [1009, { versionSize: SW_VERSION.length - 1 }],
    [1011, { swTypeSize: SW_TYPE.length - 1 }],
  ] as const;
  for (const [id, o] of shortReads) {
    assert.equal((await extend(c, slots[id], defaultMeasurement())).status, PSA.SUCCESS, `${id} extend`);
    assert.equal((await c.measuredBootRead(slots[id], o)).status, PSA.ERROR_INVALID_ARGUMENT, `${id} short read`);
  }
  // 1006: signer id 65 and 31 bytes.
  for (const n of [65, 31])
    assert.equal(
      (await extend(c, slots[1006], { ...defaultMeasurement(), signerId: new Uint8Array(n).fill(1) })).status,
      PSA.ERROR_INVALID_ARGUMENT,
      `1006 signer ${n}`,
    );
  // 1008: a 15-byte version.
  assert.equal(
    (await extend(c, slots[1008], { ...defaultMeasurement(), version: '255.255.65535.1' })).status,
    PSA.ERROR_INVALID_ARGUMENT,
    '1008',
  );
  // 1010: sw_type_size 33 in the struct (sent raw: the client library refuses it before sending).
  assert.equal((await extend(c, slots[1010], { ...defaultMeasurement(), swType: 'X'.repeat(33) })).protocol, 'local');
  const ext = new Uint8Array(44);
  ext[0] = slots[1010];
  new DataView(ext.buffer).setUint32(4, PSA_ALG.SHA_256, true);
  ext[40] = 33;
  const raw = await c.call(HANDLE.MEASURED_BOOT, 1002, [ext, SIGNER_ID, new TextEncoder().encode(SW_VERSION), new Uint8Array(32)], []);
  assert.equal(raw.status, PSA.ERROR_INVALID_ARGUMENT, '1010 on the wire');
  // 1012: a locked slot stays locked.
  assert.equal((await extend(c, slots[1012], defaultMeasurement(), true)).status, PSA.SUCCESS, '1012 lock');
  assert.equal((await extend(c, slots[1012], defaultMeasurement(), false)).status, PSA.ERROR_BAD_STATE, '1012 after lock');
  // 1013: another signer id on 1007's slot; 1014: another algorithm. Both recover.
  const m = defaultMeasurement();
  assert.equal((await extend(c, slots[1007], m)).status, PSA.SUCCESS, '1013');
  m.signerId[0] = 0xff;
  assert.equal((await extend(c, slots[1007], m)).status, PSA.ERROR_NOT_PERMITTED, '1013 other signer');
  m.signerId[0] = SIGNER_ID[0] as number;
  assert.equal((await extend(c, slots[1007], m)).status, PSA.SUCCESS, '1013 recovered');
  assert.equal((await extend(c, slots[1007], { ...m, algo: m.algo + 1 })).status, PSA.ERROR_NOT_PERMITTED, '1014 other algorithm');
  assert.equal((await extend(c, slots[1007], m)).status, PSA.SUCCESS, '1014 recovered');
}

test('TFM_NS_MEASURED_BOOT_TEST_1001..1014 and the S suite (slots 20..30) over the socket', async () => {
  const { client, done } = await served();
  try {
    await measuredBootSuite(client, NS_SLOTS);
    await measuredBootSuite(client, S_SLOTS);
  } finally {
    await done();
  }
});

// ---- Delegated attestation ----

const HASH_OF: Readonly<Record<number, HashAlg>> = {
  [PSA_ALG.SHA_256]: 'sha256',
  [PSA_ALG.SHA_384]: 'sha384',
  [PSA_ALG.SHA_512]: 'sha512',
};
const CURVE_OF: Readonly<Record<number, 'P-256' | 'P-384' | 'P-521'>> = { 32: 'P-256', 48: 'P-384', 66: 'P-521' };

/** `calc_public_dak_hash`, in the binding form the served profile uses. */
function dakPubHash(dak: Uint8Array, hashAlg: number, form: 'sec1' | 'cose-key'): Uint8Array {
  const pub = ecPublicFromPrivate(CURVE_OF[dak.length] as 'P-256', dak);
  return hash(HASH_OF[hashAlg] as HashAlg, form === 'cose-key' ? coseKeyEc2(pub) : pub);
}

for (const form of ['sec1', 'cose-key'] as const) {
  test(`TFM_NS_DELEGATED_ATTEST_TEST_1001..1003 over the socket (DAK binding: ${form})`, async () => {
    const { server, client: c, done } = await served({ dakKeyFormat: form });
    try {
      // 1001: a token before any key is refused; then key, hash, token; wrong hash, short hash, tiny buffer.
      assert.equal((await c.delegatedToken(new Uint8Array(32))).status, PSA.ERROR_INVALID_ARGUMENT, 'token before key');
      const k = await c.delegatedKey(384, PSA_ALG.SHA_256);
      assert.equal(k.status, PSA.SUCCESS);
      const dak = k.outVecs[0] as Uint8Array;
      assert.equal(dak.length, 48, 'DAK length = bits / 8');
      const h = dakPubHash(dak, PSA_ALG.SHA_256, form);
      const tok = await c.delegatedToken(h);
      assert.equal(tok.status, PSA.SUCCESS);
      const iak = server.runtime?.attest.p.iak;
      assert.ok(iak !== undefined);
      const claims = verified(tok.outVecs[0] as Uint8Array, iak);
      assert.deepEqual(new Uint8Array(claims.get(CCA_CLAIM.CHALLENGE) as Uint8Array), h, 'the token binds the DAK');
      const flipped = h.slice();
      flipped[0] = (flipped[0] as number) ^ 0x80;
      assert.equal((await c.delegatedToken(flipped)).status, PSA.ERROR_INVALID_ARGUMENT, 'wrong hash');
      assert.equal((await c.delegatedToken(h.subarray(0, 31))).status, PSA.ERROR_INVALID_ARGUMENT, 'short hash');
      assert.equal((await c.delegatedToken(h, 1)).status, PSA.ERROR_BUFFER_TOO_SMALL, '1-byte token buffer');
      assert.equal((await c.delegatedToken(h)).status, PSA.SUCCESS, 'and again');
      // The other binding form does not match.
      const other = dakPubHash(dak, PSA_ALG.SHA_256, form === 'sec1' ? 'cose-key' : 'sec1');
      assert.equal((await c.delegatedToken(other)).status, PSA.ERROR_INVALID_ARGUMENT, 'the other key form');

      // 1002: every key size, every hash; the key is a function of the boot state.
      for (const [bits, len] of [
        [256, 32],
        [384, 48],
        [521, 66],
      ] as const) {
        const r = await c.delegatedKey(bits, PSA_ALG.SHA_256);
        assert.equal(r.status, PSA.SUCCESS, `${bits} bits`);
        assert.equal(r.outVecs[0]?.length, len);
        const again = await c.delegatedKey(bits, PSA_ALG.SHA_256);
        assert.deepEqual(again.outVecs[0], r.outVecs[0], 'deterministic per boot state');
        if (bits === 521) assert.equal(((r.outVecs[0] as Uint8Array)[0] as number) >> 1, 0, 'P-521 scalars have 521 bits');
      }
      for (const alg of [PSA_ALG.SHA_256, PSA_ALG.SHA_384, PSA_ALG.SHA_512]) {
        const r = await c.delegatedKey(384, alg);
        assert.equal(r.status, PSA.SUCCESS);
        const hh = dakPubHash(r.outVecs[0] as Uint8Array, alg, form);
        assert.equal((await c.delegatedToken(hh)).status, PSA.SUCCESS, `token bound with hash ${alg.toString(16)}`);
      }

      // 1003: secp256k1, 224 bits, a buffer one byte short, SHA3-512 + 1.
      const secpK1 = await c.call(
        HANDLE.DELEGATED_ATTESTATION,
        1001,
        [Uint8Array.of(0x17), Uint8Array.of(0x80, 1, 0, 0), Uint8Array.of(9, 0, 0, 2)],
        [66],
      );
      assert.equal(secpK1.status, PSA.ERROR_INVALID_ARGUMENT, 'SECP_K1');
      assert.equal((await c.delegatedKey(224)).status, PSA.ERROR_INVALID_ARGUMENT, '224 bits');
      assert.equal((await c.delegatedKey(384, PSA_ALG.SHA_256, 47)).status, PSA.ERROR_BUFFER_TOO_SMALL, 'a 47-byte buffer');
      assert.notEqual((await c.delegatedKey(384, 0x02000013 + 1)).status, PSA.SUCCESS, 'SHA3-512 + 1');
      // (The NULL dak_len case is the client library's own check; there is no wire message for it.)

      // Extending a slot changes the boot state, hence the DAK.
      const before = (await c.delegatedKey(384)).outVecs[0];
      assert.equal((await extend(c, 12, defaultMeasurement())).status, PSA.SUCCESS);
      assert.notDeepEqual((await c.delegatedKey(384)).outVecs[0], before, 'a new measurement, a new DAK');
    } finally {
      await done();
    }
  });
}

// ---- Initial attestation ----

test('TFM_NS_ATTEST_TEST_1004 and 1005 over the socket', async () => {
  const { server, client: c, done } = await served();
  try {
    // 1004: a token for the 64-byte test nonce, verified, with the CCA profile's mandatory claims.
    const nonce = new Uint8Array(64);
    const r = await c.attestationToken(nonce);
    assert.equal(r.status, PSA.SUCCESS);
    const token = r.outVecs[0] as Uint8Array;
    const iak = server.runtime?.attest.p.iak;
    assert.ok(iak !== undefined);
    const claims = verified(token, iak);
    assert.deepEqual(new Uint8Array(claims.get(CCA_CLAIM.CHALLENGE) as Uint8Array), nonce, 'nonce');
    const instance = claims.get(CCA_CLAIM.INSTANCE_ID) as Uint8Array;
    assert.equal(instance.length, 33);
    assert.equal(instance[0], 0x01);
    for (const k of [CCA_CLAIM.IMPLEMENTATION_ID, CCA_CLAIM.LIFECYCLE, CCA_CLAIM.PROFILE, CCA_CLAIM.HASH_ALGO, CCA_CLAIM.PLATFORM_CONFIG])
      assert.ok(claims.has(k), `mandatory claim ${k}`);
    assert.equal(claims.get(CCA_CLAIM.PROFILE), 'http://arm.com/CCA-SSD/1.0.0');
    const lcs = server.dev.lcm.getLcs();
    if (lcs === 'SE') assert.equal(claims.get(CCA_CLAIM.LIFECYCLE), 0x3000);
    assert.ok((claims.get(CCA_CLAIM.SW_COMPONENTS) as unknown[]).length >= 1);
    assert.equal(decodeCose(token).alg, -35, 'ES384');
    // 1005: a 33-byte challenge; a 16-byte token buffer.
    assert.equal((await c.attestationToken(new Uint8Array(33))).status, PSA.ERROR_INVALID_ARGUMENT);
    assert.equal((await c.attestationToken(nonce, 16)).status, PSA.ERROR_BUFFER_TOO_SMALL);
  } finally {
    await done();
  }
});

// ---- Platform ----

test('TFM_NS_PLATFORM_TEST_1001 (ioctl 0xffffffff: not supported) and SYSTEM_RESET, where the permissions allow them', async () => {
  const tc = await served();
  try {
    // TC's host permission table has neither ioctl nor reset.
    assert.equal((await tc.client.platformIoctl(0xffffffff)).status, PSA.ERROR_NOT_PERMITTED);
    assert.equal((await tc.client.systemReset()).status, PSA.ERROR_NOT_PERMITTED);
  } finally {
    await tc.done();
  }
  const open = await served({ permissions: 'open' });
  try {
    const c = open.client;
    assert.equal((await c.platformIoctl(0xffffffff)).status, TFM_PLATFORM_ERR_NOT_SUPPORTED);
    const withOut = await c.platformIoctl(0xffffffff, Uint8Array.of(1, 2, 3), 8);
    assert.equal(withOut.status, TFM_PLATFORM_ERR_NOT_SUPPORTED);
    assert.deepEqual(withOut.outVecs[0], new Uint8Array(8), 'the zeroed output buffer comes back');
    assert.equal((await c.platformIoctl(0xffffffff, new Uint8Array(65))).status, PSA.ERROR_BUFFER_TOO_SMALL, 'input over 64 bytes');
    // Reset: answered, then the RSE boots again and the host's measurements are gone.
    assert.equal((await extend(c, 12, defaultMeasurement())).status, PSA.SUCCESS);
    const boots = open.server.boots;
    assert.equal((await c.systemReset()).status, PSA.SUCCESS);
    assert.equal(open.server.boots, boots + 1);
    assert.equal((await c.measuredBootRead(12)).status, PSA.ERROR_DOES_NOT_EXIST);
    assert.equal((await c.measuredBootRead(0)).status, PSA.SUCCESS, 'the boot records are back');
  } finally {
    await open.done();
  }
});
