/**
 * `rse device create --profile rse-2.3 --rom-rotpk`, `rse provision run --message` and `rse otp
 * show` on a message-provisioned device, through the CLI.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OTP_RSE_2_3 } from '../../src/profiles/otp-rse-2.3.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { runCli, tempDir } from '../helpers.ts';
import { key, spec, V } from './helpers-2.3.ts';

test('rse-2.3 through the CLI: create with the ROM key, provision CM → DM → SE with messages, otp show names every field', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  const made = await runCli(['device', 'create', dev, '--profile', 'rse-2.3', '--rom-rotpk', join(V, 'keys/prov-cm-ecdsa-p256.pub.pem')]);
  assert.equal(made.code, 0, made.stderr);
  const wrongCurve = await runCli([
    'device',
    'create',
    join(dir, 'd2'),
    '--profile',
    'rse-2.3',
    '--rom-rotpk',
    join(V, 'keys/prov-cm-ecdsa-p384.pub.pem'),
  ]);
  assert.equal(wrongCurve.code, 2);
  assert.match(wrongCurve.stderr, /P-256/);
  writeFileSync(join(dir, 'cm.bin'), buildProvisioningMessage(spec('cm')));
  writeFileSync(join(dir, 'dm.bin'), buildProvisioningMessage(spec('dm')));
  const run = await runCli(['provision', 'run', dev, '--message', join(dir, 'cm.bin'), join(dir, 'dm.bin')]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /LCS SE/);
  const show = await runCli(['otp', 'show', dev, '--json', '--all']);
  assert.equal(show.code, 0, show.stderr);
  const rep = JSON.parse(show.stdout) as { lcs: string; integrity: unknown[]; fields: { name: string; value?: unknown; doc: string }[] };
  assert.equal(rep.lcs, 'SE');
  assert.deepEqual(rep.integrity, []);
  assert.deepEqual(
    rep.fields.map((f) => f.name),
    OTP_RSE_2_3.fields.map((f) => f.name),
  );
  assert.ok(rep.fields.every((f) => f.doc.length > 0));
  assert.equal(rep.fields.find((f) => f.name === 'header.lcm_hardware_area.guk')?.value, undefined, 'secrets are never printed');
  // A refused message: exit 1 and TF-M's error name.
  const bad = join(dir, 'dev2');
  assert.equal((await runCli(['device', 'create', bad, '--profile', 'rse-2.3'])).code, 0);
  const refused = await runCli(['provision', 'run', bad, '--message', join(dir, 'cm.bin'), '--json']);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /PSA_ERROR_INVALID_SIGNATURE/, 'signed by a key other than the ROM default');
});

/** `rse provision message KIND --values DIR/values.yaml -o OUT ...more`. */
const messageCli = (dir: string, kind: string, out: string, ...more: string[]) =>
  runCli(['provision', 'message', kind, '--values', join(dir, 'values.yaml'), '-o', out, ...more]);

test('rse provision message builds from a values file the same bytes as the library, and TF-M-style keys are read as the scripts read them', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'k11.bin'), key(0x11));
  writeFileSync(
    join(dir, 'values.yaml'),
    [
      'cm:',
      `  bl1_2: ${join(V, 'inputs/prov/bl1_2_padded.bin')}`,
      `  dma_ics: ${join(V, 'inputs/prov/dma/otp_dma_ics.bin')}`,
      '  trng_rosc_sc: "20000000200000002000000020000000"',
      '  entropy_high_threshold: 821',
      '  entropy_repetition_count: 81',
      '  rotpks:',
      `    - { area: 0, index: 0, key: ${join(V, 'keys/lms_cm.pub')}, type: lms }`,
      `    - { area: 0, index: 1, key: ${join(V, 'keys/mcuboot-s-ecdsa-p256.pem')}, type: ecdsa }`,
      '  guk: k11.bin',
      `  kp_cm: "${'22'.repeat(32)}"`,
      `  kce_cm: "${'33'.repeat(32)}"`,
      'dm:',
      '  rotpks:',
      `    - { area: 0, index: 1, key: ${join(V, 'keys/mcuboot-ns-ecdsa-p256.pem')} }`,
      `  kp_dm: "${'44'.repeat(32)}"`,
      `  kce_dm: "${'55'.repeat(32)}"`,
      '',
    ].join('\n'),
  );
  for (const kind of ['cm', 'dm', 'combined'] as const) {
    const out = join(dir, `${kind}.bin`);
    const r = await messageCli(dir, kind, out, '-k', join(V, 'keys/prov-cm-ecdsa-p256.pem'), '--iv', '0102030405060708', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(out)), buildProvisioningMessage(spec(kind)), kind);
  }
  const sym = await messageCli(dir, 'cm', join(dir, 's.bin'), '--symmetric', '--json');
  assert.equal(sym.code, 0, sym.stderr);
  assert.equal(JSON.parse(sym.stdout).metadata, '0x10000004');
  const both = await messageCli(dir, 'cm', join(dir, 'x.bin'), '--symmetric', '-k', join(V, 'keys/prov-cm-ecdsa-p256.pem'));
  assert.equal(both.code, 2);
  writeFileSync(
    join(dir, 'short.yaml'),
    `cm:\n  bl1_2: ${join(V, 'inputs/prov/bl1_2_padded.bin')}\n  guk: "${'ab'.repeat(31)}"\n  kp_cm: k11.bin\n  kce_cm: k11.bin\n`,
  );
  const short = await runCli(['provision', 'message', 'cm', '--values', join(dir, 'short.yaml'), '-o', join(dir, 'y.bin'), '--symmetric']);
  assert.equal(short.code, 2);
  assert.doesNotMatch(short.stderr, /abab/, 'a secret of the wrong length is not printed');
});

test('rse provision revoke through the CLI: a --rotpk-revocation device moves to its sealed spare CM array', async () => {
  const dir = tempDir();
  const dev = join(dir, 'dev');
  const pem = (k: string): string => join(V, `keys/${k}.pem`);
  assert.equal(
    (await runCli(['device', 'create', dev, '--profile', 'rse-2.3', '--rotpk-revocation', '--rom-rotpk', pem('prov-cm-ecdsa-p256')])).code,
    0,
  );
  writeFileSync(
    join(dir, 'values.yaml'),
    [
      'cm:',
      `  bl1_2: ${join(V, 'inputs/prov/bl1_2_padded.bin')}`,
      '  seal_spare_arrays: true',
      '  rotpks:',
      `    - { area: 0, index: 0, key: ${pem('ecdsa-p256-cm')} }`,
      `    - { area: 0, index: 2, key: ${pem('prov-cm-ecdsa-p256')} }`,
      `    - { area: 1, index: 0, key: ${pem('ecdsa-p256-dm')} }`,
      `    - { area: 1, index: 2, key: ${pem('prov-cm-ecdsa-p256')} }`,
      `  guk: "${'11'.repeat(32)}"`,
      `  kp_cm: "${'22'.repeat(32)}"`,
      `  kce_cm: "${'33'.repeat(32)}"`,
      'dm:',
      `  kp_dm: "${'44'.repeat(32)}"`,
      `  kce_dm: "${'55'.repeat(32)}"`,
      '',
    ].join('\n'),
  );
  for (const kind of ['cm', 'dm'])
    assert.equal((await messageCli(dir, kind, join(dir, `${kind}.bin`), '-k', pem('prov-cm-ecdsa-p256'))).code, 0);
  assert.equal((await runCli(['provision', 'run', dev, '--message', join(dir, 'cm.bin'), join(dir, 'dm.bin')])).code, 0);
  const revoke = (...more: string[]) =>
    runCli(['provision', 'revoke', 'cm', '-k', pem('prov-cm-ecdsa-p256'), '--rotpk-number', '2', ...more]);
  const bad = await revoke('--rotpk', pem('ecdsa-p256-dm'), '-o', join(dir, 'r.bin'));
  assert.equal(bad.code, 2, 'an update gives every slot');
  const made = await revoke('-o', join(dir, 'revoke.bin'), '--json');
  assert.equal(made.code, 0, made.stderr);
  const run = await runCli(['provision', 'run', dev, '--message', join(dir, 'revoke.bin')]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /ROTPK revocation finished/);
  assert.equal((await runCli(['otp', 'read', dev, 'dynamic.cm_rotpk_revocation'])).stdout.trim(), '1');
  const again = await runCli(['provision', 'run', dev, '--message', join(dir, 'revoke.bin')]);
  assert.equal(again.code, 1, 'array 2 holds no keys: the second revocation stops BL1_1 at the next boot');
});

test('rse device create --enc-key: an MCUBOOT_ENC_IMAGES build whose BL2 key is kept 0600; a public or an Ed25519 key refused with exit 2, before the directory is made', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const { existsSync, statSync } = await import('node:fs');
  const dir = tempDir();
  const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(join(dir, 'enc.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'enc.pub.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
  const ed = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'ed.pem'), ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const dev = join(dir, 'dev');
  const made = await runCli([
    'device',
    'create',
    dev,
    '--profile',
    'rse-2.3',
    '--image-binding',
    '--enc-key',
    join(dir, 'enc.pem'),
    '--json',
  ]);
  assert.equal(made.code, 0, made.stderr);
  const j = JSON.parse(made.stdout) as { encImages: boolean; imageBinding: boolean };
  assert.deepEqual([j.encImages, j.imageBinding], [true, true]);
  assert.equal(statSync(join(dev, 'bl2-enc-key.der')).mode & 0o777, 0o600);
  const json = JSON.parse(readFileSync(join(dev, 'device.json'), 'utf8')) as { build: Record<string, boolean> };
  assert.deepEqual(json.build, { imageBinding: true, encImages: true });
  // The key never shows in what the command prints.
  const d = pair.privateKey.export({ format: 'jwk' }).d as string;
  assert.ok(!made.stdout.includes(d) && !made.stderr.includes(d));
  for (const [file, why] of [
    ['enc.pub.pem', /needs the private key/],
    ['ed.pem', /RSA-2048, P-256 or X25519/],
  ] as const) {
    const r = await runCli(['device', 'create', join(dir, `bad-${file}`), '--profile', 'rse-2.3', '--enc-key', join(dir, file)]);
    assert.equal(r.code, 2, file);
    assert.match(r.stderr, why, file);
    assert.equal(existsSync(join(dir, `bad-${file}`)), false, file);
  }
  const old = await runCli(['device', 'create', join(dir, 'old'), '--profile', 'rse-2.1', '--enc-key', join(dir, 'enc.pem')]);
  assert.equal(old.code, 2);
  assert.match(old.stderr, /MCUBOOT_ENC_IMAGES is not a build option of rse-2.1/);
});
