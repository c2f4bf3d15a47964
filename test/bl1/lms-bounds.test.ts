/**
 * Issue 25: an LMS key's parameters cannot make rsekit compute an unbounded tree. A 68-byte `.prv`
 * whose type says H25 made `rse lms info` compute 2^25 one-time keys (still running at 60 s), and a
 * missing or mismatched tree cache made it rebuild and write the H10 tree (12–23 s). Now `lms info`
 * reads the files and never builds a tree, and signing opens only the heights rsekit signs with.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lmsKeygen } from '../../src/bl1/lms-key.ts';
import { runCli, tempDir } from '../helpers.ts';

const det = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff);

/** An H5 key whose `.prv` and `.pub` are re-labelled with LMS type `t`. */
function relabelled(t: number): string {
  const base = join(tempDir(), 'k');
  lmsKeygen(base, { lmsType: 5, otsType: 4, random: det });
  for (const [ext, at] of [
    ['prv', 8],
    ['pub', 4],
  ] as const) {
    const b = readFileSync(`${base}.${ext}`);
    b.writeUInt32BE(t, at);
    writeFileSync(`${base}.${ext}`, b);
  }
  rmSync(`${base}.tree`);
  return base;
}

// A tree of 2^25 leaves would take hours: the test's timeout (a liveness bound, not a speed figure;
// speed is measured in bench/) fails it if either command started building one.
test('lms info on an H25 key answers from its files; signing with it is refused before any tree is built', {
  timeout: 60_000,
}, async () => {
  const base = relabelled(9);
  const info = await runCli(['lms', 'info', base, '--json']);
  assert.equal(info.code, 0, info.stderr);
  const j = JSON.parse(info.stdout) as { lmsType: string; remaining: number; tree: string };
  assert.deepEqual([j.lmsType, j.remaining, j.tree], ['LMS_SHA256_M32_H25', 2 ** 25, 'missing']);
  assert.equal(existsSync(`${base}.tree`), false, 'no tree written');
  const dir = tempDir();
  writeFileSync(join(dir, 'bl2.bin'), Buffer.alloc(4096, 1));
  writeFileSync(join(dir, 'enc.bin'), Buffer.alloc(32, 7));
  const sign = await runCli([
    'bl1',
    'sign',
    join(dir, 'bl2.bin'),
    join(dir, 'out.bin'),
    '-k',
    base,
    '--encrypt-key',
    join(dir, 'enc.bin'),
    '--json',
  ]);
  assert.equal(sign.code, 2, sign.stdout + sign.stderr);
  assert.match(sign.stdout, /LMS_SHA256_M32_H25: rsekit signs with H5 or H10 keys/);
  // keygen offers only the heights rsekit builds.
  const kg = await runCli(['lms', 'keygen', join(dir, 'big'), '--height', '25']);
  assert.equal(kg.code, 2);
});

test('lms info with a missing or foreign tree cache reports it and does not rebuild it; without .pub it says what is missing', async () => {
  const base = join(tempDir(), 'k');
  lmsKeygen(base, { lmsType: 5, otsType: 4, random: det });
  const tree = readFileSync(`${base}.tree`);
  writeFileSync(`${base}.tree`, tree.subarray(0, 100));
  let r = await runCli(['lms', 'info', base]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tree cache {2}stale: the next signature rebuilds it \(32 one-time keys\)/);
  assert.equal(readFileSync(`${base}.tree`).length, 100, 'left as it was');
  rmSync(`${base}.tree`);
  r = await runCli(['lms', 'info', base]);
  assert.match(r.stdout, /tree cache {2}missing/);
  assert.equal(existsSync(`${base}.tree`), false);
  rmSync(`${base}.pub`);
  r = await runCli(['lms', 'info', base, '--json']);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /k\.pub is missing/);
});
