/**
 * Keys in a PKCS#11 token: a real HSM (Debian's SoftHSM2), initialised here in a temporary
 * directory, holding PEM keys imported with `softhsm2-util`. `rse sign` (RSA-2048-PSS, ECDSA
 * P-256/P-384, Ed25519), `sign-append`, `stm32 sign`, `getpubhash` and a provisioning message sign
 * through it; each result is verified independently with the key's PEM file and equals a PEM-signed
 * one outside the signature. A wrong PIN, a missing object and a missing module each give a typed
 * error (exit 2) and write nothing. RFC 7512 URIs are parsed as the RFC says.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportPrivatePem, generateKey, loadKey } from '../../src/crypto/index.ts';
import { parsePkcs11Uri } from '../../src/crypto/pkcs11.ts';
import { TLV } from '../../src/mcuboot/constants.ts';
import { parseImage } from '../../src/mcuboot/image.ts';
import { decodeBlob, openBlob } from '../../src/provisioning/message.ts';
import { provisioningKey23 } from '../../src/provisioning/messages-rom.ts';
import { checkStm32Image, p256PublicXY, parseStm32Image, publicKeyHash } from '../../src/stm32/image.ts';
import { PSA_CLAIMS_JSON, runCli, tempDir } from '../helpers.ts';

const SIG_TLVS = new Set<number>([TLV.ECDSASIG, TLV.RSA2048, TLV.RSA3072, TLV.ED25519]);

import { oracleSkip } from '../oracles.ts';
import { softToken } from '../softhsm.ts';

test('RFC 7512 URIs: path and query attributes, percent-encoding, an id in bytes, the PIN kept apart', () => {
  const u = parsePkcs11Uri('pkcs11:token=My%20Token;object=fw-key;id=%01%A2?pin-source=file:/run/pin&module-path=/usr/lib/x.so&x-other=1');
  assert.equal(u.token, 'My Token');
  assert.equal(u.object, 'fw-key');
  assert.deepEqual(u.id, Uint8Array.of(1, 0xa2));
  assert.equal(u.pinSource, 'file:/run/pin');
  assert.equal(u.modulePath, '/usr/lib/x.so');
  for (const bad of [
    'pkcs12:object=a',
    'pkcs11:token=t',
    'pkcs11:object=a;object=b',
    'pkcs11:object=%zz',
    'pkcs11:object=a;type=public',
    'pkcs11:object',
  ])
    assert.throws(
      () => parsePkcs11Uri(bad),
      (e: unknown) => e instanceof Error && /PKCS#11 URI/.test(e.message),
      bad,
    );
});

const skip = oracleSkip('softhsm2');

const token = softToken;

const ok = (r: { code: number; stdout: string; stderr: string }, code = 0): void => assert.equal(r.code, code, r.stdout + r.stderr);

// First: within one process a logged-in token does not ask for the PIN again (PKCS#11 logs the
// application in), so the wrong PIN is tried before any other test logs in.
test('a wrong PIN, a missing object and a missing module: a typed error, exit 2, nothing written', { skip }, async () => {
  const dir = tempDir();
  const pem = join(dir, 'p256.pem');
  writeFileSync(pem, exportPrivatePem(generateKey('ecdsa-p256')));
  const { module } = token({ fw2: pem });
  const payload = join(dir, 'payload.bin');
  writeFileSync(payload, Buffer.alloc(512, 1));
  const cases: [string, string[], RegExp][] = [
    ['wrong PIN', ['-k', 'pkcs11:token=rsekit;object=fw2?pin-value=0000', '--pkcs11-module', module], /CKR_PIN_INCORRECT/],
    ['missing object', ['-k', 'pkcs11:token=rsekit;object=nope?pin-value=1234', '--pkcs11-module', module], /no private key/],
    [
      'missing module',
      ['-k', 'pkcs11:token=rsekit;object=fw2?pin-value=1234', '--pkcs11-module', join(dir, 'nope.so')],
      /cannot load the module/,
    ],
    ['missing token', ['-k', 'pkcs11:token=other;object=fw2?pin-value=1234', '--pkcs11-module', module], /no token matches/],
  ];
  for (const [name, args, why] of cases) {
    const out = join(dir, `${name}.bin`);
    const r = await runCli(['sign', ...args, '-v', '1.0.0', '-H', '0x400', '--pad-header', '-S', '0x20000', '--json', payload, out]);
    ok(r, 2);
    const e = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(e.error.code, 'E_KEY', name);
    assert.match(e.error.message, why, name);
    assert.doesNotMatch(r.stdout + r.stderr, /1234|0000/, `${name}: no PIN in the output`);
    assert.equal(existsSync(out), false, `${name}: nothing written`);
  }
});

test('rse sign through SoftHSM2: every algorithm the token offers, verified with the PEM key, equal to a PEM-signed image outside the signature', {
  skip,
}, async () => {
  const dir = tempDir();
  const pems: Record<string, string> = {};
  for (const t of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const) {
    pems[t] = join(dir, `${t}.pem`);
    writeFileSync(pems[t], exportPrivatePem(generateKey(t)));
  }
  const { module } = token(pems);
  const payload = join(dir, 'payload.bin');
  writeFileSync(payload, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff)));
  const common = ['-v', '1.2.3', '-H', '0x400', '--pad-header', '-S', '0x20000', '--pad', '--public-key-format', 'full'];
  for (const [t, pem] of Object.entries(pems)) {
    const viaToken = join(dir, `${t}.token.bin`);
    const viaPem = join(dir, `${t}.pem.bin`);
    ok(
      await runCli([
        'sign',
        '-k',
        `pkcs11:token=rsekit;object=${t}?pin-value=1234`,
        '--pkcs11-module',
        module,
        ...common,
        payload,
        viaToken,
      ]),
    );
    ok(await runCli(['sign', '-k', pem, ...common, payload, viaPem]));
    ok(await runCli(['verify', '-k', pem, viaToken]));
    const a = readFileSync(viaToken);
    const b = readFileSync(viaPem);
    assert.equal(a.length, b.length, t);
    // Header, payload, protected TLVs, hash and key TLVs: the same; only the signature TLV differs.
    const pa = parseImage(new Uint8Array(a));
    const pb = parseImage(new Uint8Array(b));
    assert.deepEqual(a.subarray(0, pa.hashedEnd), b.subarray(0, pb.hashedEnd), `${t}: the hashed region`);
    const rest = (p: typeof pa) =>
      p.unprotectedArea.entries.filter((e) => !SIG_TLVS.has(e.type)).map((e) => [e.type, Buffer.from(e.value).toString('hex')]);
    assert.deepEqual(rest(pa), rest(pb), `${t}: the unprotected TLVs but the signature`);
    assert.ok(rest(pa).length >= 2);
    if (t === 'ed25519') assert.deepEqual(a, b, 'Ed25519 is deterministic: the same bytes');
    // getpubhash reads the public key from the token.
    const h1 = await runCli(['getpubhash', '-k', `pkcs11:token=rsekit;object=${t}?pin-value=1234`, '--pkcs11-module', module, '--json']);
    const h2 = await runCli(['getpubhash', '-k', pem, '--json']);
    ok(h1);
    assert.deepEqual(JSON.parse(h1.stdout), JSON.parse(h2.stdout));
  }
  // --deterministic needs the key in a file; getpriv cannot take it out of the token.
  const det = await runCli([
    'sign',
    '-k',
    'pkcs11:token=rsekit;object=ecdsa-p256?pin-value=1234',
    '--pkcs11-module',
    module,
    '--deterministic',
    ...common,
    payload,
    join(dir, 'x.bin'),
  ]);
  ok(det, 2);
  ok(await runCli(['getpriv', '-k', 'pkcs11:token=rsekit;object=ecdsa-p256?pin-value=1234', '--pkcs11-module', module]), 2);
});

test('sign-append, stm32 sign and a provisioning message through SoftHSM2, each verified independently', { skip }, async () => {
  const dir = tempDir();
  const pem = join(dir, 'p256.pem');
  writeFileSync(pem, exportPrivatePem(generateKey('ecdsa-p256')));
  const { module } = token({ fw: pem });
  process.env.PKCS11_MODULE = module;
  const uri = 'pkcs11:token=rsekit;object=fw';
  const pinFile = join(dir, 'pin.txt');
  writeFileSync(pinFile, '1234\n');
  const withPin = `${uri}?pin-source=file:${pinFile}`;
  const payload = join(dir, 'payload.bin');
  writeFileSync(payload, Buffer.alloc(1024, 0x5a));
  const base = join(dir, 'base.bin');
  ok(
    await runCli([
      'sign',
      '-k',
      pem,
      '--psa-key-ids',
      '1',
      '--public-key-format',
      'full',
      '-v',
      '1.0.0',
      '-H',
      '0x400',
      '--pad-header',
      '-S',
      '0x20000',
      '--pad',
      payload,
      base,
    ]),
  );
  const appended = join(dir, 'appended.bin');
  ok(await runCli(['sign-append', '-k', withPin, '--key-id', '2', base, appended]));
  ok(await runCli(['verify', '-k', pem, appended]));
  // STM32: the ECDSA signature over the header and payload, checked with the PEM key.
  const stm = join(dir, 'fsbl.stm32');
  ok(await runCli(['stm32', 'sign', '-k', withPin, '-l', '0x2ffc2400', '-e', '0x2ffc2400', '-b', '0x10', payload, stm]));
  const checks = checkStm32Image(parseStm32Image(new Uint8Array(readFileSync(stm))), {
    closed: true,
    pkh: publicKeyHash(p256PublicXY(loadKey(readFileSync(pem)))),
  });
  assert.ok(checks.length >= 3 && checks.every((c) => c.ok), JSON.stringify(checks));
  // A provisioning message signed by the token key, as the ROM verifies it.
  const values = join(dir, 'values.yaml');
  writeFileSync(values, `dm:\n  rotpks: []\n  kp_dm: "${'44'.repeat(32)}"\n  kce_dm: "${'55'.repeat(32)}"\n`);
  const msg = join(dir, 'dm.bin');
  ok(await runCli(['provision', 'message', 'dm', '--values', values, '-k', withPin, '-o', msg]));
  const blob = decodeBlob(new Uint8Array(readFileSync(msg)));
  assert.equal(blob.signature.length, 64);
  const kprovDm = provisioningKey23(new Uint8Array(32), 'DM', 0);
  const body = openBlob(blob, { kind: 'ecdsa', verifyingKey: loadKey(readFileSync(pem)), encryptionKey: kprovDm });
  assert.equal(body.secretValues.length, 64);
  assert.throws(() => openBlob(blob, { kind: 'ecdsa', verifyingKey: generateKey('ecdsa-p256'), encryptionKey: kprovDm }));
  // A PSA token signed by the token key, verified with the PEM key.
  const claims = join(dir, 'claims.json');
  writeFileSync(claims, PSA_CLAIMS_JSON);
  const tok = join(dir, 'token.cbor');
  ok(await runCli(['token', 'create', claims, '-k', withPin, '-o', tok]));
  ok(await runCli(['token', 'verify', tok, '-k', pem]));
  const other = join(dir, 'other.pem');
  writeFileSync(other, exportPrivatePem(generateKey('ecdsa-p256')));
  ok(await runCli(['token', 'verify', tok, '-k', other]), 1);
  ok(await runCli(['token', 'create', claims, '-k', withPin, '-o', join(dir, 't2.cbor'), '--deterministic']), 2);
});
