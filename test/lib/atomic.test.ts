/** Atomic writes with parts copied from files: all of it lands, or nothing does. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
