/**
 * Issue 25: sizes that come from inputs are bounded before anything is allocated or written. A
 * 2.8 KB Intel HEX whose one extended-linear-address record puts its data near 0x80000000 made
 * `rse layout … -offset -0x10000000` take 1.88 GB and write 1.8 GB; `rse sign --pad -S
 * 0xffffffff` reached 4.2 GB and failed with Node's own message. Now both are refused with
 * E_SIZE at once, and a large layout is written window by window in bounded memory.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';

const KEY = new URL('../../examples/keys/root-EC-P256.pem', import.meta.url).pathname;

/** Intel HEX: one extended linear address record, then `lines` data records of 16 bytes. */
function hexFile(ela: number, lines: number): string {
  const rec = (len: number, addr: number, type: number, data: number[]): string => {
    const bytes = [len, addr >> 8, addr & 0xff, type, ...data];
    const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
    return `:${[...bytes, sum].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join('')}\n`;
  };
  let out = rec(2, 0, 4, [ela >> 8, ela & 0xff]);
  for (let i = 0; i < lines; i++)
    out += rec(
      16,
      0x1234 + 16 * i,
      0,
      Array.from({ length: 16 }, (_, k) => (i + k) & 0xff),
    );
  return `${out}:00000001FF\n`;
}

// The timeout is a liveness bound (an image of 1.8 GB would be built otherwise), not a speed figure.
test('rse layout: a HEX record near 0x80000000 moved to 0x70000000 is refused before anything is allocated (E_SIZE, --max-size), nothing written', {
  timeout: 60_000,
}, async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.hex'), hexFile(0x8000, 64));
  const out = join(dir, 'o.bin');
  const before = process.memoryUsage().rss;
  const r = await runCli(['layout', join(dir, 'a.hex'), '-Intel', '-offset', '-0x10000000', '-o', out, '-Binary']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /E_SIZE.*would be 18790\d{5} bytes \(0x7000.*a\.hex.*more than the 536870912 allowed \(--max-size\)/);
  assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024);
  assert.equal(existsSync(out), false);
});

test('rse layout streams: a 96 MiB image is written in about the memory of one window', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'tail.bin'), Buffer.alloc(256, 0x5a));
  const run = (offset: string): number => {
    const script = `import { main } from ${JSON.stringify(new URL('../../src/cli/main.ts', import.meta.url).pathname)};
      const code = await main(['layout', ${JSON.stringify(join(dir, 'tail.bin'))}, '-Binary', '-offset', '${offset}', '-o', ${JSON.stringify(join(dir, `o${offset}.bin`))}, '-Binary'], { out: () => {}, err: (d) => process.stderr.write(d) });
      if (code !== 0) process.exit(code);
      process.stdout.write(String(process.resourceUsage().maxRSS));`;
    return Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' }));
  };
  const small = run('0x100');
  const big = run('0x6000000');
  assert.equal(statSync(join(dir, 'o0x6000000.bin')).size, 0x6000000 + 256);
  // maxRSS is in KiB: the 96 MiB image costs well under its own size (one 1 MiB window and the page cache aside).
  assert.ok(big - small < 40 * 1024, `layout of 96 MiB: maxRSS ${big} KiB against ${small} KiB for a 512-byte one`);
});

test('rse sign --pad -S 0xffffffff: E_SIZE before anything is allocated, in its own words', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.bin'), Buffer.alloc(100, 1));
  const out = join(dir, 'out.bin');
  const before = process.memoryUsage().rss;
  const r = await runCli([
    'sign',
    '-k',
    KEY,
    '-v',
    '1.0.0',
    '-H',
    '0x400',
    '--pad-header',
    '-S',
    '0xffffffff',
    '--pad',
    join(dir, 'in.bin'),
    out,
    '--json',
  ]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const e = JSON.parse(r.stdout) as { error: { code: string; message: string } };
  assert.equal(e.error.code, 'E_SIZE');
  assert.match(e.error.message, /padded slot of 0xffffffff bytes is past the 0x40000000 \(1 GiB\)/);
  assert.doesNotMatch(e.error.message, /out of range|ERR_/);
  assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024);
  assert.equal(existsSync(out), false);
  // Without --pad the slot size only bounds the image: any 32-bit value is fine.
  assert.equal(
    (await runCli(['sign', '-k', KEY, '-v', '1.0.0', '-H', '0x400', '--pad-header', '-S', '0xffffffff', join(dir, 'in.bin'), out])).code,
    0,
  );
});
