/**
 * Acceptance 3 of the runtime-services issue: a platform token from a booted device verifies with
 * an independent implementation (Debian's python3-cbor2 and python3-cryptography), and its software
 * components are the measured-boot slots. Also GET_TOKEN_SIZE, the challenge sizes and the
 * delegated-attestation binding.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { decode, encode } from 'cbor2';
import { bootDevice } from '../../src/boot/chain.ts';
import { extendedSlotValue } from '../../src/boot/shared-data.ts';
import { tokenKeyOf } from '../../src/cose/keys.ts';
import { decodeCose, verifyCose } from '../../src/cose/message.ts';
import { ecPublicFromPrivate, hash } from '../../src/crypto/index.ts';
import { u32le } from '../../src/lib/bytes.ts';
import { toHex } from '../../src/lib/hex.ts';
import { HANDLE, PSA, PSA_ALG } from '../../src/services/psa.ts';
import { Runtime } from '../../src/services/spm.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const PY = oracle('python-cbor2');
const pySkip = oracleSkip('python-cbor2');

/** An independent COSE_Sign1 ES384 check and claims dump. */
const VERIFY_PY = `
import sys, json, cbor2
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes
tok = bytes.fromhex(sys.argv[1]); pub = bytes.fromhex(sys.argv[2])
t = cbor2.loads(tok)
assert isinstance(t, cbor2.CBORTag) and t.tag == 18, "not a tagged COSE_Sign1"
prot, unprot, payload, sig = t.value
assert cbor2.loads(prot) == {1: -35}, "alg is not ES384"
tbs = cbor2.dumps(["Signature1", prot, b"", payload])
key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), pub)
r = int.from_bytes(sig[:48], "big"); s = int.from_bytes(sig[48:], "big")
key.verify(utils.encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA384()))
c = cbor2.loads(payload)
def j(v):
    if isinstance(v, bytes): return v.hex()
    if isinstance(v, list): return [j(x) for x in v]
    if isinstance(v, dict): return {str(k): j(x) for k, x in v.items()}
    return v
print(json.dumps({"keys": [k for k in c.keys()], "claims": j(c)}))
`;

function booted() {
  const fx = exampleFixture('rse-2.1');
  const dev = deviceOf(fx);
  const boot = bootDevice(dev);
  assert.equal(boot.ok, true);
  return { dev, boot, rt: new Runtime(dev, boot.measurements) };
}

test('a platform token verifies with python3-cbor2 + cryptography and lists the measured-boot slots', { skip: pySkip }, () => {
  const { boot, rt } = booted();
  const challenge = hash('sha256', new TextEncoder().encode('nonce'));
  const r = rt.call({ handle: HANDLE.ATTESTATION, type: 1001, clientId: -0x04000000, inVecs: [challenge], outCaps: [0x800] });
  assert.equal(r.status, PSA.SUCCESS);
  const token = r.outVecs[0] as Uint8Array;
  const pub = rt.attest.p.iak;
  const raw = rt.attest.p.iakPublic;
  const out = JSON.parse(execFileSync(PY as string, ['-c', VERIFY_PY, toHex(token), toHex(raw)], { encoding: 'utf8' })) as {
    keys: number[];
    claims: Record<string, unknown>;
  };
  assert.deepEqual(out.keys, [10, 256, 2396, 2395, 2399, 265, 2402, 2401, 2400]);
  assert.equal(out.claims['10'], toHex(challenge));
  assert.equal(out.claims['2395'], 0x3000);
  assert.equal(out.claims['2401'], 'efbeadde');
  assert.equal(out.claims['256'], toHex(new Uint8Array([1, ...hash('sha256', raw)])));
  const comps = out.claims['2399'] as Record<string, string>[];
  const slots = [...boot.measurements].sort((a, b) => a.slot - b.slot);
  assert.equal(comps.length, slots.length);
  comps.forEach((c, i) => {
    const m = slots[i] as (typeof slots)[number];
    assert.equal(c['1'], m.swType);
    assert.equal(c['2'], toHex(extendedSlotValue(m.value)));
    assert.equal(c['5'], toHex(m.signerId));
    assert.equal(c['4'], m.version);
    assert.equal(c['6'], 'sha-256');
  });
  // Our own verifier agrees, and a flipped payload bit does not verify.
  const s = decodeCose(token);
  assert.equal(verifyCose(s, tokenKeyOf(pub)), -35);
  const bad = { ...s, payload: s.payload.slice() };
  bad.payload[5] = (bad.payload[5] as number) ^ 1;
  assert.throws(() => verifyCose(bad, tokenKeyOf(pub)), /signature verification failed/);
});

test('GET_TOKEN_SIZE matches the token; challenge sizes 32/48/64 only; a short buffer is BUFFER_TOO_SMALL', () => {
  const { rt } = booted();
  const call = (type: number, inVec: Uint8Array, cap: number) =>
    rt.call({ handle: HANDLE.ATTESTATION, type, clientId: -0x04000000, inVecs: [inVec], outCaps: [cap] });
  for (const n of [32, 48, 64]) {
    const size = call(1002, u32le(n), 4);
    assert.equal(size.status, PSA.SUCCESS);
    const tok = call(1001, new Uint8Array(n).fill(7), 0x800);
    assert.equal(new DataView((size.outVecs[0] as Uint8Array).buffer).getUint32(0, true), tok.outVecs[0]?.length);
    assert.equal(call(1001, new Uint8Array(n), (tok.outVecs[0]?.length as number) - 1).status, PSA.ERROR_BUFFER_TOO_SMALL);
  }
  for (const n of [0, 16, 33, 65]) assert.equal(call(1001, new Uint8Array(n), 0x800).status, PSA.ERROR_INVALID_ARGUMENT);
  assert.equal(call(1002, u32le(31), 4).status, PSA.ERROR_INVALID_ARGUMENT);
});

test('delegated attestation: the DAK is deterministic per boot state and the platform token binds its public hash', () => {
  const { rt } = booted();
  const getKey = () =>
    rt.call({
      handle: HANDLE.DELEGATED_ATTESTATION,
      type: 1001,
      clientId: -0x04000000,
      inVecs: [Uint8Array.of(0x12), u32le(384), u32le(PSA_ALG.SHA_256)],
      outCaps: [48],
    });
  const k1 = getKey();
  const k2 = getKey();
  assert.equal(k1.status, PSA.SUCCESS);
  assert.deepEqual(k1.outVecs[0], k2.outVecs[0]);
  const priv = k1.outVecs[0] as Uint8Array;
  const pubHash = hash('sha256', ecPublicFromPrivate('P-384', priv));
  const tok = rt.call({ handle: HANDLE.DELEGATED_ATTESTATION, type: 1002, clientId: -0x04000000, inVecs: [pubHash], outCaps: [0x800] });
  assert.equal(tok.status, PSA.SUCCESS);
  const claims = decode(decodeCose(tok.outVecs[0] as Uint8Array).payload) as Map<number, unknown>;
  assert.deepEqual(claims.get(10), pubHash);
  const wrong = pubHash.slice();
  wrong[0] = (wrong[0] as number) ^ 1;
  assert.equal(
    rt.call({ handle: HANDLE.DELEGATED_ATTESTATION, type: 1002, clientId: -0x04000000, inVecs: [wrong], outCaps: [0x800] }).status,
    PSA.ERROR_INVALID_ARGUMENT,
  );
  // Extending a slot changes the boot state, hence the DAK.
  const ext = new Uint8Array(44);
  ext[0] = 20;
  ext.set(u32le(PSA_ALG.SHA_256), 4);
  assert.equal(
    rt.call({
      handle: HANDLE.MEASURED_BOOT,
      type: 1002,
      clientId: -0x04000000,
      inVecs: [ext, new Uint8Array(32), new Uint8Array(0), new Uint8Array(32).fill(9)],
      outCaps: [],
    }).status,
    PSA.SUCCESS,
  );
  assert.notDeepEqual(getKey().outVecs[0], priv);
});

test('the hand-written CBOR (claims with the cached tail, Sig_structure, COSE_Sign1) is what cbor2 encodes, before and after an extend', () => {
  const { rt } = booted();
  for (const round of [0, 1]) {
    for (const n of [32, 48, 64]) {
      const ch = new Uint8Array(n).fill(n + round);
      const claims = rt.attest.claims(ch);
      assert.deepEqual(new Uint8Array(encode(decode(claims))), claims);
      const tok = rt.attest.token(ch) as Uint8Array;
      assert.deepEqual(new Uint8Array(encode(decode(tok))), tok);
      assert.deepEqual(decodeCose(tok).payload, claims);
    }
    const ext = new Uint8Array(44);
    ext[0] = 7;
    ext.set(u32le(PSA_ALG.SHA_256), 4);
    const before = rt.attest.claims(new Uint8Array(32));
    rt.call({
      handle: HANDLE.MEASURED_BOOT,
      type: 1002,
      clientId: -1,
      inVecs: [ext, new Uint8Array(32), new Uint8Array(0), new Uint8Array(32)],
      outCaps: [],
    });
    assert.notDeepEqual(rt.attest.claims(new Uint8Array(32)), before, 'the cache follows the measured-boot state');
  }
});
