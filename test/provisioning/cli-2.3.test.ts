/**
 * `rse device create --profile rse-2.3 --rom-rotpk`, `rse provision run --message` and `rse otp
 * show` on a message-provisioned device, through the CLI.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OTP_RSE_2_3 } from '../../src/profiles/otp-rse-2.3.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { runCli, tempDir } from '../helpers.ts';
import { spec, V } from './helpers-2.3.ts';

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
