/** Atomic writes with parts copied from files: all of it lands, or nothing does. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/lib/atomic.ts';
import { isRseError } from '../../src/lib/errors.ts';
import { tempDir } from '../helpers.ts';

test('file slices are copied in order between byte parts, larger than the copy buffer too', () => {
  const dir = tempDir();
  const big = new Uint8Array(9 << 20).map((_, i) => (i * 131 + (i >> 20)) & 0xff);
  writeFileSync(join(dir, 'big.bin'), big);
  writeFileSync(join(dir, 'small.bin'), 'abcdef');
  const out = join(dir, 'out.bin');
  writeFileAtomic(out, [
    Uint8Array.of(1),
    { path: join(dir, 'big.bin'), length: big.length },
    Uint8Array.of(2),
    { path: join(dir, 'small.bin'), length: 4 },
  ]);
  const got = new Uint8Array(readFileSync(out));
  assert.equal(got.length, 1 + big.length + 1 + 4);
  assert.equal(got[0], 1);
  assert.deepEqual(got.subarray(1, 1 + big.length), big);
  assert.deepEqual([...got.subarray(-5)], [2, 0x61, 0x62, 0x63, 0x64]);
});

test('a file shorter than its slice (changed since it was measured) fails and leaves the old output alone', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'img.bin'), 'short');
  const out = join(dir, 'out.bin');
  writeFileSync(out, 'previous');
  assert.throws(
    () => writeFileAtomic(out, [{ path: join(dir, 'img.bin'), length: 100 }]),
    (e) => isRseError(e) && e.code === 'E_IO' && /changed while being read/.test(e.message),
  );
  assert.equal(readFileSync(out, 'utf8'), 'previous');
  assert.deepEqual(readdirSync(dir).sort(), ['img.bin', 'out.bin'], 'no temporary file left');
  assert.throws(() => writeFileAtomic(join(dir, 'new.bin'), [{ path: join(dir, 'missing.bin'), length: 1 }]), isRseError);
  assert.equal(existsSync(join(dir, 'new.bin')), false);
});

test('secrets: rse keygen writes its key 0600 whatever the umask, keeps the mode of a key it replaces, and lms keygen/sign keep the .prv private', async () => {
  const { runCli } = await import('../helpers.ts');
  const dir = tempDir();
  const key = join(dir, 'k.pem');
  const old = process.umask(0o000);
  try {
    assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', key])).code, 0);
    assert.equal(statSync(key).mode & 0o777, 0o600, 'a new private key is 0600');
    // Replacing a key needs --force (issue 29: keygen no longer overwrites silently).
    const before = readFileSync(key);
    assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', key])).code, 2);
    assert.deepEqual(readFileSync(key), before, 'the existing key is left alone');
    chmodSync(key, 0o640);
    assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', key, '--force'])).code, 0);
    assert.equal(statSync(key).mode & 0o777, 0o640, 'the replaced key keeps its mode');
    chmodSync(key, 0o600);
    assert.equal((await runCli(['keygen', '-t', 'ecdsa-p256', '-k', key, '--force'])).code, 0);
    assert.equal(statSync(key).mode & 0o777, 0o600, 'a 0600 key stays 0600');
    // Non-secret outputs are unchanged: 0644 less the umask.
    writeFileAtomic(join(dir, 'plain.bin'), new Uint8Array(4));
    assert.equal(statSync(join(dir, 'plain.bin')).mode & 0o777, 0o644);
    // A stateful LMS key: created 0600, still 0600 after a signature rewrote it.
    const prv = join(dir, 'lms');
    const g = await runCli(['lms', 'keygen', prv, '--height', '5']);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(statSync(`${prv}.prv`).mode & 0o777, 0o600);
    // Signing rewrites the .prv (the next leaf): its mode is kept.
    const { exampleLmsKey } = await import('../bl1/helpers.ts');
    const lms = exampleLmsKey();
    chmodSync(`${lms}.prv`, 0o600);
    writeFileSync(join(dir, 'bl2.bin'), new Uint8Array(64));
    writeFileSync(join(dir, 'ek.bin'), new Uint8Array(32).fill(7));
    const s = await runCli(['bl1', 'sign', '-k', lms, '--encrypt-key', join(dir, 'ek.bin'), join(dir, 'bl2.bin'), join(dir, 'out.bin')]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(statSync(`${lms}.prv`).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});
