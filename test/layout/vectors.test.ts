/** Replays the recorded srec_cat commands through `rse layout` and compares the bytes. */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { layout } from '../../src/layout/layout.ts';
import { RseError } from '../../src/lib/errors.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const VEC = vectorsDir('srec');
const work = tempDir();
cpSync(join(VEC, 'in'), join(work, 'in'), { recursive: true });
process.chdir(work);

const commands = readFileSync(join(VEC, 'cmdlog.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('$ srec_cat ') && l.includes(' -o ') && !/[;&|]/.test(l))
  .map((l) => l.slice('$ srec_cat '.length).split(/ +/));

test('every recorded srec_cat layout is reproduced byte for byte', async (t) => {
  assert.ok(commands.length >= 10);
  for (const args of commands) {
    const out = args[args.indexOf('-o') + 1] as string;
    await t.test(out, async () => {
      const r = await runCli(['layout', ...args]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readFileSync(out), readFileSync(join(VEC, out)));
    });
  }
});

test('the short form and --size reproduce the 128 KiB ROM', async () => {
  const r = await runCli(['layout', 'in/bl1_1.bin@0', 'in/rom_dma_ics.bin@0x1F000', '--size', '131072', '-o', 'rom128.bin']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync('rom128.bin'), readFileSync(join(VEC, 'rom_ics_128k.bin')));
  const big = await runCli(['layout', 'in/bl1_1.bin@0', 'in/rom_dma_ics.bin@0x1F000', '--size', '0x1F000', '-o', 'small.bin']);
  assert.equal(big.code, 2);
  assert.match(big.stderr, /E_SIZE/);
  assert.equal(existsSync('small.bin'), false);
});

test('conflicting overlap: typed error, nothing written; same bytes: a warning', async () => {
  const r = await runCli([
    'layout',
    'in/a4.bin',
    '-Binary',
    '-offset',
    '0x0',
    'in/b2.bin',
    '-Binary',
    '-offset',
    '0x2',
    '-o',
    'conflict.bin',
    '-Binary',
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /E_OVERLAP.*in\/b2\.bin: multiple 0x00000002 values \(previous = 0x41 from in\/a4\.bin, this one = 0x42\)/);
  assert.equal(existsSync('conflict.bin'), false);
  const same = await runCli(['layout', 'in/a4.bin@0', 'in/a4.bin@0', '-o', 'same.bin']);
  assert.equal(same.code, 0);
  assert.match(same.stderr, /warning/);
  assert.deepEqual(readFileSync('same.bin'), readFileSync(join(VEC, 'probe_overlap_same.bin')));
});

test('a fip copied to offset 0 is the fip itself', async () => {
  const fip = join(vectorsDir('fip'), 'create_rss.fip');
  const r = await runCli(['layout', fip, '-Binary', '-offset', '0x0', '-o', 'host_flash.bin', '-Binary']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync('host_flash.bin'), readFileSync(fip));
});

test('Intel HEX out and back in gives the same placement', async () => {
  assert.equal((await runCli(['layout', 'in/a4.bin@0x10', 'in/b2.bin@0x100', '-o', 'p.hex'])).code, 0);
  assert.equal((await runCli(['layout', 'p.hex', '-Intel', '-o', 'p.bin'])).code, 0);
  assert.equal((await runCli(['layout', 'in/a4.bin@0x10', 'in/b2.bin@0x100', '-o', 'q.bin'])).code, 0);
  assert.deepEqual(readFileSync('p.bin'), readFileSync('q.bin'));
});

test('layout: the output is the inputs over zeros, or a typed conflict', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ offset: fc.nat(64), data: fc.uint8Array({ maxLength: 16 }) }), { maxLength: 6 }), (parts) => {
      const placements = parts.map((p, i) => ({ name: `p${i}`, ...p }));
      try {
        const { bytes } = layout(placements);
        const end = Math.max(0, ...placements.filter((p) => p.data.length > 0).map((p) => p.offset + p.data.length));
        assert.equal(bytes.length, end);
        const covered = new Uint8Array(end);
        for (const p of placements) {
          assert.deepEqual(bytes.subarray(p.offset, p.offset + p.data.length), p.data);
          covered.fill(1, p.offset, p.offset + p.data.length);
        }
        covered.forEach((c, i) => {
          if (c === 0) assert.equal(bytes[i], 0);
        });
      } catch (e) {
        assert.ok(e instanceof RseError && e.code === 'E_OVERLAP', String(e));
      }
    }),
  );
});
