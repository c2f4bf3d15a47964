/**
 * Issue 28, the rest of PKCS#11: keys generated in the token (`rse keygen -k pkcs11:…`) for every
 * type it offers, images signed with them and checked with imgtool's rules in Python; a CoRIM
 * signed through the token (`rse endorse -k`), checked by Python (cbor2 + cryptography) and by
 * `rse token verify --corim-signer`; the verifier's EAR key in the token, the EAR JWT checked by
 * Python; the SSP and SFI HSMs' wrapping keys in the token, the licences counted as before.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tokenKey } from '../../src/cli/common.ts';
import { toBase64Url } from '../../src/cose/cbor.ts';
import { exportPrivatePem, exportPublicPem, generateKey, loadKey } from '../../src/crypto/index.ts';
import { toHex } from '../../src/lib/hex.ts';
import { createVerifierApp } from '../../src/verifier/server.ts';
import { openStore } from '../../src/verifier/store.ts';
import { CHALLENGE, tokenOverSocket } from '../attestation/socket-token.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { filesHolding, runCli, tempDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';
import { softToken } from '../softhsm.ts';

const skip = oracleSkip('softhsm2') || oracleSkip('python-cbor2');
const ok = (r: { code: number; stdout: string; stderr: string }, code = 0): void => assert.equal(r.code, code, r.stdout + r.stderr);
const uri = (object: string): string => `pkcs11:token=rsekit;object=${object}?pin-value=1234`;

/** Runs a Python check (cbor2 and cryptography); its stdout, or a failed assertion with its stderr. */
function python(script: string, ...args: string[]): string {
  try {
    return execFileSync(oracle('python-cbor2') as string, ['-c', script, ...args], { encoding: 'utf8' });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string };
    assert.fail(`python check failed:\n${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

/**
 * imgtool's rules, in Python: the hashed region is the header, the payload and the protected TLVs;
 * the hash TLV (SHA-256 or SHA-384) is its digest; ECDSA and RSA-PSS (MGF1 SHA-256, 32-byte salt)
 * sign the region, Ed25519 signs the digest.
 */
const IMGTOOL_RULES = `
import sys, struct, hashlib
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, ed25519
img = open(sys.argv[1], 'rb').read()
pub = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
magic, load, hdr, prot, size, flags = struct.unpack_from('<IIHHII', img, 0)
assert magic == 0x96f3b83d, 'image magic'
end = hdr + size + prot
p = end
tag, total = struct.unpack_from('<HH', img, p)
assert tag == 0x6907, 'TLV info magic'
tlvs = {}
q = p + 4
while q < p + total:
    t, l = struct.unpack_from('<HH', img, q)
    tlvs[t] = img[q + 4:q + 4 + l]
    q += 4 + l
region = img[:end]
if 0x11 in tlvs:
    digest, h = hashlib.sha384(region).digest(), hashes.SHA384()
else:
    digest, h = hashlib.sha256(region).digest(), hashes.SHA256()
assert tlvs.get(0x10, tlvs.get(0x11)) == digest, 'hash TLV'
if 0x22 in tlvs:
    pub.verify(tlvs[0x22], region, ec.ECDSA(h)); kind = 'ecdsa'
elif 0x20 in tlvs or 0x23 in tlvs:
    pub.verify(tlvs.get(0x20, tlvs.get(0x23)), region, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()); kind = 'rsa-pss'
elif 0x24 in tlvs:
    pub.verify(tlvs[0x24], digest); kind = 'ed25519'
else:
    raise SystemExit('no signature TLV')
print(kind, pub.key_size if hasattr(pub, 'key_size') else 255)
`;

// First, as in pkcs11.test.ts: a wrong PIN is tried before anything logs in.
test("keygen into SoftHSM2: every type the token offers; images signed with them pass imgtool's rules; no key replaced, none exported", {
  skip,
}, async () => {
  const { module } = softToken();
  process.env.PKCS11_MODULE = module;
  const dir = tempDir();
  const wrongPin = await runCli(['keygen', '-t', 'ecdsa-p256', '-k', 'pkcs11:token=rsekit;object=never?pin-value=0000', '--json']);
  ok(wrongPin, 2);
  assert.match(wrongPin.stdout, /CKR_PIN_INCORRECT/);
  const payload = join(dir, 'payload.bin');
  writeFileSync(payload, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff)));
  const seen = new Set<string>();
  for (const [t, bits] of [
    ['ecdsa-p256', '256'],
    ['ecdsa-p384', '384'],
    ['rsa-2048', '2048'],
    ['rsa-3072', '3072'],
    ['ed25519', '255'],
  ] as const) {
    const g = await runCli(['keygen', '-t', t, '-k', uri(`gen-${t}`), '--json']);
    ok(g);
    const j = JSON.parse(g.stdout) as { type: string; id: string; sha256: string; key: string };
    assert.equal(j.type, t);
    assert.equal(j.key, `pkcs11:token=rsekit;object=gen-${t}`, 'no PIN in the output');
    assert.match(j.id, /^[0-9a-f]{16}$/);
    assert.ok(!seen.has(j.sha256), 'a fresh key each time');
    seen.add(j.sha256);
    // The public key comes out; the private key does not.
    const pub = join(dir, `${t}.pub.pem`);
    const p = await runCli(['getpub', '-e', 'pem', '-k', uri(`gen-${t}`)]);
    ok(p);
    writeFileSync(pub, p.stdout);
    ok(await runCli(['getpriv', '-k', uri(`gen-${t}`)]), 2);
    const img = join(dir, `${t}.bin`);
    ok(await runCli(['sign', '-k', uri(`gen-${t}`), '-v', '2.0.1', '-H', '0x400', '--pad-header', '-S', '0x40000', payload, img]));
    ok(await runCli(['verify', '-k', pub, img]));
    const kind = python(IMGTOOL_RULES, img, pub).trim();
    assert.equal(kind, `${t.startsWith('rsa') ? 'rsa-pss' : t.startsWith('ecdsa') ? 'ecdsa' : 'ed25519'} ${bits}`);
    // Another key of the same type does not verify it (the check can fail).
    const other = join(dir, `${t}.other.pem`);
    writeFileSync(other, exportPublicPem(generateKey(t)));
    assert.throws(() => execFileSync(oracle('python-cbor2') as string, ['-c', IMGTOOL_RULES, img, other], { stdio: 'pipe' }));
  }
  // The same label again, an encrypted export (-p) or --force: refused, the key kept.
  const again = await runCli(['keygen', '-t', 'ecdsa-p256', '-k', uri('gen-ecdsa-p256'), '--json']);
  ok(again, 2);
  assert.equal((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'E_EXISTS');
  ok(await runCli(['keygen', '-t', 'ecdsa-p256', '-k', uri('gen-x'), '--force']), 2);
  ok(await runCli(['keygen', '-t', 'x25519', '-k', uri('gen-x')]), 2);
  const still = await runCli(['getpubhash', '-k', uri('gen-ecdsa-p256'), '--json']);
  ok(still);
  assert.ok(seen.has((JSON.parse(still.stdout) as { sha256: string }).sha256), still.stdout);
});

/** Python: a signed CoRIM's structure and signature, with the signer's PEM public key. */
const SIGNED_CORIM = `
import sys, cbor2, json
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
v = cbor2.loads(open(sys.argv[1], 'rb').read())
assert isinstance(v, cbor2.CBORTag) and v.tag == 18, 'COSE_Sign1 tag'
ph, uh, payload, sig = v.value
hdr = cbor2.loads(ph)
pub = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
h = {-7: hashes.SHA256(), -35: hashes.SHA384()}[hdr[1]]
n = len(sig) // 2
tbs = cbor2.dumps(['Signature1', ph, b'', payload])
pub.verify(encode_dss_signature(int.from_bytes(sig[:n], 'big'), int.from_bytes(sig[n:], 'big')), tbs, ec.ECDSA(h))
meta = cbor2.loads(hdr[8])
inner = cbor2.loads(payload)
assert isinstance(inner, cbor2.CBORTag) and inner.tag == 501, 'unsigned CoRIM inside'
uri = meta[0].get(1)
print(json.dumps({'alg': hdr[1], 'ct': hdr[3], 'kid': hdr.get(4, b'').hex(), 'signer': meta[0][0],
  'uri': uri.value if isinstance(uri, cbor2.CBORTag) else uri, 'notAfter': meta[1][1].timestamp() if 1 in meta else None,
  'profile': inner.value[3].value if isinstance(inner.value[3], cbor2.CBORTag) else inner.value[3]}))
`;

/** Python: an EAR JWT (ES256/ES384) with the verifier's PEM public key; prints its claims. */
const EAR_JWT = `
import sys, json, base64
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
b = lambda s: base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
h, p, s = sys.argv[1].split('.')
alg = json.loads(b(h))['alg']
pub = serialization.load_pem_public_key(open(sys.argv[2], 'rb').read())
sig = b(s); n = len(sig) // 2
pub.verify(encode_dss_signature(int.from_bytes(sig[:n], 'big'), int.from_bytes(sig[n:], 'big')), (h + '.' + p).encode(),
  ec.ECDSA({'ES256': hashes.SHA256(), 'ES384': hashes.SHA384()}[alg]))
print(json.dumps({'alg': alg, 'claims': json.loads(b(p))}))
`;

test('a CoRIM signed through the token and an EAR signed by a token key: checked by Python, by rse token verify and by the verifier', {
  skip,
}, async () => {
  const dir = tempDir();
  const corimPem = join(dir, 'corim-signer.pem');
  const earPem = join(dir, 'ear.pem');
  writeFileSync(corimPem, exportPrivatePem(generateKey('ecdsa-p384')));
  writeFileSync(earPem, exportPrivatePem(generateKey('ecdsa-p256')));
  const { module } = softToken({ 'corim-signer': corimPem, ear: earPem });
  process.env.PKCS11_MODULE = module;
  const corimPub = join(dir, 'corim-signer.pub.pem');
  writeFileSync(corimPub, exportPublicPem(loadKey(readFileSync(corimPem))));
  const earPub = join(dir, 'ear.pub.pem');
  writeFileSync(earPub, exportPublicPem(loadKey(readFileSync(earPem))));

  const fx = exampleFixture('rse-2.1');
  const devDir = join(dir, 'device');
  mkdirSync(devDir);
  for (const [name, bytes] of fx.store.files) writeFileSync(join(devDir, name), bytes);
  const manifest = join(dir, 'manifest.json');
  writeFileSync(manifest, JSON.stringify(fx.build.manifest));
  const evidence = join(dir, 'token.cbor');
  writeFileSync(evidence, await tokenOverSocket(deviceOf(fx)));

  const signed = join(dir, 'signed.corim');
  const e = await runCli([
    'endorse',
    manifest,
    devDir,
    '-o',
    signed,
    '-k',
    uri('corim-signer'),
    '--signer',
    'ACME Firmware',
    '--signer-uri',
    'https://acme.example/fw',
    '--not-after',
    '2099-12-31T00:00:00Z',
    '--kid',
    'a1b2',
    '--json',
  ]);
  ok(e);
  assert.equal((JSON.parse(e.stdout) as { signed: boolean }).signed, true);
  const py = JSON.parse(python(SIGNED_CORIM, signed, corimPub)) as Record<string, unknown>;
  assert.deepEqual(py, {
    alg: -35,
    ct: 'application/rim+cbor',
    kid: 'a1b2',
    signer: 'ACME Firmware',
    uri: 'https://acme.example/fw',
    notAfter: Date.parse('2099-12-31T00:00:00Z') / 1000,
    profile: 'tag:arm.com,2025:cca_platform#1.0.0',
  });
  // Python refuses it under another key: its check can fail.
  const otherPub = join(dir, 'other.pub.pem');
  writeFileSync(otherPub, exportPublicPem(generateKey('ecdsa-p384')));
  assert.throws(() => execFileSync(oracle('python-cbor2') as string, ['-c', SIGNED_CORIM, signed, otherPub], { stdio: 'pipe' }));

  // rse token verify appraises against it once its signer is trusted; not under another signer.
  const nonce = toHex(CHALLENGE);
  const v = await runCli(['token', 'verify', evidence, '--corim', signed, '--corim-signer', corimPub, '--nonce', nonce]);
  ok(v);
  assert.match(v.stdout, /CCA_SSD_PLATFORM: affirming/);
  const wrong = await runCli(['token', 'verify', evidence, '--corim', signed, '--corim-signer', otherPub, '--nonce', nonce, '--json']);
  ok(wrong, 1);
  assert.match(wrong.stdout, /not signed by a trusted CoRIM signer/);
  // An unsigned CoRIM where signed ones are required; an expired one.
  const unsigned = join(dir, 'unsigned.corim');
  ok(await runCli(['endorse', manifest, devDir, '-o', unsigned]));
  ok(await runCli(['token', 'verify', evidence, '--corim', unsigned, '--corim-signer', corimPub, '--nonce', nonce]), 1);
  const expired = join(dir, 'expired.corim');
  ok(
    await runCli([
      'endorse',
      manifest,
      devDir,
      '-o',
      expired,
      '-k',
      corimPem,
      '--not-before',
      '2020-01-01',
      '--not-after',
      '2021-01-01',
      '--deterministic',
    ]),
  );
  const old = await runCli(['token', 'verify', evidence, '--corim', expired, '--corim-signer', corimPub, '--nonce', nonce]);
  ok(old, 1);
  assert.match(old.stderr, /expired at 2021-01-01T00:00:00.000Z/);
  // A missing token object: a typed error, exit 2, nothing written.
  const none = join(dir, 'none.corim');
  const missing = await runCli(['endorse', manifest, devDir, '-o', none, '-k', uri('nope'), '--json']);
  ok(missing, 2);
  assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'E_KEY');
  assert.equal(existsSync(none), false);

  // The verifier: CoRIMs only from the trusted signer; the EAR signed by the token key.
  const store = await openStore();
  try {
    const app = createVerifierApp({
      store,
      earKey: tokenKey(uri('ear'), 'EAR key'),
      corimSigners: [tokenKey(corimPub, 'CoRIM signer')],
      provisioning: 'open',
    });
    const submit = (body: Uint8Array, type: string) =>
      app.request('/endorsement-provisioning/v1/submit', { method: 'POST', headers: { 'content-type': type }, body });
    const refused = (await (
      await submit(readFileSync(unsigned), 'application/rim+cbor; profile="tag:arm.com,2025:cca_platform#1.0.0"')
    ).json()) as Record<string, string>;
    assert.equal(refused.status, 'failed');
    assert.match(refused['failure-reason'] as string, /signed CoRIMs only/);
    const accepted = (await (
      await submit(readFileSync(signed), 'application/rim+cose; profile="tag:arm.com,2025:cca_platform#1.0.0"')
    ).json()) as Record<string, string>;
    assert.equal(accepted.status, 'success', JSON.stringify(accepted));
    const s = await app.request(`/challenge-response/v1/newSession?nonce=${toBase64Url(CHALLENGE)}`, { method: 'POST' });
    assert.equal(s.status, 201);
    const done = await app.request(`/challenge-response/v1/${s.headers.get('location')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/eat+cwt; eat_profile="tag:arm.com,2023:cca_platform#1.0.0"' },
      body: readFileSync(evidence),
    });
    assert.equal(done.status, 200, await done.clone().text());
    const jwt = ((await done.json()) as { result: string }).result;
    const ear = JSON.parse(python(EAR_JWT, jwt, earPub)) as { alg: string; claims: { submods: Record<string, Record<string, string>> } };
    assert.equal(ear.alg, 'ES256');
    assert.equal(ear.claims.submods.CCA_SSD_PLATFORM?.['ear.status'], 'affirming');
    assert.throws(() => execFileSync(oracle('python-cbor2') as string, ['-c', EAR_JWT, jwt, corimPub], { stdio: 'pipe' }));
  } finally {
    await store.sql.close();
  }
});

test('the SSP and SFI HSMs with their wrapping key in the token: licences issued and counted as before; another key unwraps nothing and spends nothing', {
  skip,
}, async () => {
  const { module } = softToken();
  const dir = tempDir();
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const oem = join(dir, 'oem.pem');
  writeFileSync(join(dir, 'iv.hex'), 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n');
  writeFileSync(
    join(dir, 'secrets.bin'),
    new Uint8Array(40).map((_, i) => i + 1),
  );
  writeFileSync(join(dir, 'fw.bin'), new Uint8Array(512).fill(1));
  const hsm = join(dir, 'hsm');
  const sspWrap = 'pkcs11:token=rsekit;object=ssp-wrap';
  process.env.RSE_PKCS11_PIN = '1234';
  try {
    for (const args of [
      ['keygen', '-t', 'ecdsa-p256', '-k', oem],
      ['stm32', 'sign', join(dir, 'fw.bin'), join(dir, 'ssp.stm32'), '-l', '0x2ffc2500', '-e', '0x2ffc2500', '-b', '0x10', '-v', '2'],
      [
        'ssp',
        'package',
        '--secrets',
        join(dir, 'secrets.bin'),
        '--pubkey',
        oem,
        '--key',
        toHex(key),
        '--iv',
        join(dir, 'iv.hex'),
        '-o',
        join(dir, 'p.ssp'),
      ],
      [
        'ssp',
        'hsm',
        'init',
        hsm,
        '--key',
        toHex(key),
        '--iv',
        join(dir, 'iv.hex'),
        '--max',
        '2',
        '--wrap-key',
        sspWrap,
        '--pkcs11-module',
        module,
      ],
      ['stm32', 'device', 'create', join(dir, 'a')],
      ['stm32', 'device', 'create', join(dir, 'b')],
    ])
      ok(await runCli(args));
    assert.equal(existsSync(`${hsm}.wrap-key`), false, 'no wrapping-key file: the key is in the token');
    assert.deepEqual(filesHolding(hsm, key), [], 'the OEM key is nowhere in the HSM directory');
    const provision = (dev: string, ...more: string[]) =>
      runCli([
        'ssp',
        'provision',
        join(dir, dev),
        '--hsm',
        hsm,
        '--payload',
        join(dir, 'p.ssp'),
        '--fsbl',
        join(dir, 'ssp.stm32'),
        ...more,
      ]);
    // Without the token key (the default key file does not exist): refused, nothing spent.
    const nokey = await provision('b', '--json');
    ok(nokey, 1);
    assert.match(nokey.stdout, /wrapping key .* is missing/);
    assert.match((await runCli(['ssp', 'hsm', 'show', hsm])).stdout, /0 of 2 live licenses issued/);
    const a = await provision('a', '--wrap-key', sspWrap, '--pkcs11-module', module);
    ok(a);
    assert.match(a.stdout, /provisioned and closed; .*HSM: 1 licenses left/);

    // SFI: a ledger in a data directory whose wrapping key is in the token; another token key spends nothing.
    const db = join(dir, 'ledger');
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0x31 + i);
    const sfi = join(dir, 'fw.sfi');
    const sfiWrap = 'pkcs11:token=rsekit;object=sfi-wrap?pin-value=1234';
    for (const args of [
      ['sfi', 'package', '--key', toHex(key), '--nonce', toHex(nonce), '--area', `F:0x0c000000:${join(dir, 'fw.bin')}`, '-o', sfi],
      [
        'sfi',
        'hsm',
        'init',
        '--db',
        db,
        '--key',
        toHex(key),
        '--nonce',
        toHex(nonce),
        '--max',
        '1',
        '--wrap-key',
        sfiWrap,
        '--pkcs11-module',
        module,
      ],
      ['l5', 'device', 'create', join(dir, 'l5a')],
      ['l5', 'device', 'create', join(dir, 'l5b')],
    ])
      ok(await runCli(args));
    assert.equal(existsSync(`${db}.wrap-key`), false);
    assert.deepEqual(filesHolding(db, key), []);
    assert.deepEqual(filesHolding(db, nonce), []);
    const wrongKey = await runCli(['sfi', 'install', join(dir, 'l5b'), sfi, '--db', db, '--wrap-key', sspWrap, '--pkcs11-module', module]);
    assert.notEqual(wrongKey.code, 0);
    assert.match(wrongKey.stdout + wrongKey.stderr, /does not unwrap: wrong wrapping key/);
    ok(await runCli(['sfi', 'install', join(dir, 'l5a'), sfi, '--db', db, '--wrap-key', sfiWrap, '--pkcs11-module', module]));
    assert.match((await runCli(['sfi', 'hsm', 'show', '--db', db])).stdout, /1 of 1 live licenses issued, 0 left/);
  } finally {
    delete process.env.RSE_PKCS11_PIN;
  }
});
