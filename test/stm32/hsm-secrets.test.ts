/**
 * Issue 25: the HSMs' secrets at rest. The SFI ledger kept the OEM key in plain text in the
 * embedded database, its write-ahead log included, in files any local user could read. Now the OEM
 * key and nonce (and the SSP HSM's key and IV) are wrapped under a key kept outside the store, the
 * stores are readable by their owner only, and another wrapping key cannot unwrap them.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { toHex } from '../../src/lib/hex.ts';
import { filesHolding, filesUnder, runCli, tempDir } from '../helpers.ts';

const KEY = Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0x51 + i);

test('the SFI ledger: after init and an install, no file of the ledger directory holds the OEM key or nonce; the directory is 0700, the wrapping key 0600 outside it', async () => {
  const dir = tempDir();
  const db = join(dir, 'ledger');
  const fw = join(dir, 'fw.bin');
  writeFileSync(fw, new Uint8Array(2048).fill(0x3c));
  const sfi = join(dir, 'fw.sfi');
  for (const args of [
    ['sfi', 'package', '--key', toHex(KEY), '--nonce', toHex(NONCE), '--area', `F:0x0c000000:${fw}`, '-o', sfi],
    ['sfi', 'hsm', 'init', '--db', db, '--key', toHex(KEY), '--nonce', toHex(NONCE), '--max', '2'],
    ['l5', 'device', 'create', join(dir, 'a')],
    ['sfi', 'install', join(dir, 'a'), sfi, '--db', db],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  assert.deepEqual(filesHolding(db, KEY), [], 'the OEM key is nowhere in the ledger');
  assert.deepEqual(filesHolding(db, NONCE), [], 'nor the nonce');
  assert.equal(statSync(db).mode & 0o777, 0o700);
  assert.equal(statSync(`${db}.wrap-key`).mode & 0o777, 0o600);
  // Another wrapping key unwraps nothing: the install is refused, the device unchanged.
  writeFileSync(join(dir, 'other.key'), new Uint8Array(32).fill(7));
  assert.equal((await runCli(['l5', 'device', 'create', join(dir, 'b')])).code, 0);
  const wrong = await runCli(['sfi', 'install', join(dir, 'b'), sfi, '--db', db, '--wrap-key', join(dir, 'other.key')]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /does not unwrap: wrong wrapping key/);
  // Reading the count needs no key.
  assert.equal((await runCli(['sfi', 'hsm', 'show', '--db', db])).code, 0);
});

test('the SSP HSM: its JSON holds neither the OEM key nor the IV, is 0600 in a 0700 directory, and the key file is outside it', async () => {
  const dir = tempDir();
  const hsm = join(dir, 'hsm');
  const iv = Uint8Array.from({ length: 16 }, (_, i) => 0x90 + i);
  writeFileSync(join(dir, 'iv.hex'), toHex(iv));
  const r = await runCli(['ssp', 'hsm', 'init', hsm, '--key', toHex(KEY), '--iv', join(dir, 'iv.hex'), '--max', '1']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(filesHolding(hsm, KEY), []);
  assert.deepEqual(filesHolding(hsm, iv), []);
  assert.equal(statSync(hsm).mode & 0o777, 0o700);
  for (const f of filesUnder(hsm)) assert.equal(statSync(join(hsm, f)).mode & 0o077, 0, f);
  assert.equal(statSync(`${hsm}.wrap-key`).mode & 0o777, 0o600);
});
