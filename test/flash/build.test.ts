/** `rse flash build`: the two example platforms, and each mismatch the issue names. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadKey } from '../../src/crypto/index.ts';
import { parseFip } from '../../src/fip/fip.ts';
import { type BuildIo, buildFlash } from '../../src/flash/build.ts';
import { parseFwuMetadata } from '../../src/gpt/fwu.ts';
import { findPartition, partitionBytes, readGpt } from '../../src/gpt/gpt.ts';
import { RseError } from '../../src/lib/errors.ts';
import { verifyImage } from '../../src/mcuboot/verify.ts';
import { exampleIo, examplesCopy } from '../device/examples.ts';
import { runCli, tempDir } from '../helpers.ts';

// A private copy: building signs BL2 with the stateful example LMS key.
const EXAMPLES = examplesCopy();
const ioFor = (dir: string): BuildIo => exampleIo(dir);
const load = (name: string): Record<string, unknown> =>
  parse(readFileSync(join(EXAMPLES, name, 'platform.yaml'), 'utf8')) as Record<string, unknown>;

test('rse-2.1 example: GPT with the FIP in both banks, FWU metadata, ROM, manifest', async () => {
  const out = tempDir();
  const r = await runCli(['flash', 'build', join(EXAMPLES, 'rse-2.1/platform.yaml'), '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const manifest = JSON.parse(r.stdout) as {
    images: { name: string; kind: string; imageHash?: string; loadAddress?: string }[];
    hostFlash: { partitions: { name: string; offset: number }[] };
  };
  const flash = new Uint8Array(readFileSync(join(out, 'host_flash.bin')));
  const fip = new Uint8Array(readFileSync(join(out, 'fip.bin')));
  const disk = readGpt(flash);
  assert.deepEqual(disk.problems, []);
  for (const bank of ['FIP_A', 'FIP_B']) {
    const { offset } = partitionBytes(disk, findPartition(disk, bank));
    assert.deepEqual(flash.subarray(offset, offset + fip.length), fip);
  }
  assert.equal(partitionBytes(disk, findPartition(disk, 'FIP_A')).offset, 0x6000);
  const meta = partitionBytes(disk, findPartition(disk, 'FWU-Metadata'));
  const m = parseFwuMetadata(flash.subarray(meta.offset, meta.offset + meta.size));
  assert.deepEqual(
    m.images[0]?.banks.map((b) => b.guid),
    ['A1A1A1A1-0000-4000-8000-00000000000A', 'B2B2B2B2-0000-4000-8000-00000000000B'],
  );
  const entries = parseFip(fip).entries;
  assert.equal(entries.length, 5);
  const ap = join(out, 'images/ap_bl1_signed.bin');
  const key = loadKey(new Uint8Array(readFileSync(join(EXAMPLES, 'keys/host-EC-P256.pem'))));
  const v = verifyImage(new Uint8Array(readFileSync(ap)), { key });
  const apManifest = manifest.images.find((i) => i.name === 'ap_bl1');
  assert.equal(Buffer.from(v.digest).toString('hex'), apManifest?.imageHash);
  assert.equal(apManifest?.loadAddress, '0x70000000');
  assert.equal(manifest.images.find((i) => i.name === 'bl2')?.kind, 'bl1');
  const rom = readFileSync(join(out, 'rom.bin'));
  assert.equal(rom.length, 0x20000);
  assert.deepEqual(rom.subarray(0x1f000, 0x1f000 + 600), readFileSync(join(EXAMPLES, 'payloads/rom_dma_ics.bin')));
});

test('rss-1.7 example: primary and secondary copies at the recipe offsets', () => {
  const r = buildFlash(load('rss-1.7'), ioFor(join(EXAMPLES, 'rss-1.7')));
  const flash = r.hostFlash as Uint8Array;
  const img = (n: string): Uint8Array => r.images.find((i) => i.name === n)?.bytes as Uint8Array;
  for (const [name, off] of [
    ['bl2', 0],
    ['bl2', 0x20000],
    ['tfm_s', 0x40000],
    ['tfm_ns', 0xc0000],
    ['tfm_s', 0x140000],
    ['tfm_ns', 0x1c0000],
    ['ap_bl1', 0x240000],
    ['scp_bl1', 0x2c0000],
    ['ap_bl1', 0x340000],
    ['scp_bl1', 0x3c0000],
  ] as const) {
    assert.deepEqual(flash.subarray(off, off + img(name).length), img(name), `${name} at ${off.toString(16)}`);
  }
  assert.equal(flash.length, 0x3c0000 + 0x80000);
  assert.equal(r.rom?.length, 0xe000 + 3000);
  assert.equal(r.fip, undefined);
});

function expectError(mutate: (d: Record<string, unknown>) => void, code: string, pattern: RegExp): void {
  const d = structuredClone(load('rse-2.1'));
  mutate(d);
  assert.throws(
    () => buildFlash(d, ioFor(join(EXAMPLES, 'rse-2.1'))),
    (e: unknown) => e instanceof RseError && e.code === code && pattern.test(e.message),
  );
}
const images = (d: Record<string, unknown>): Record<string, unknown>[] => d.images as Record<string, unknown>[];

test('an image larger than its slot is refused', () => {
  expectError(
    (d) => {
      (images(d)[1] as Record<string, unknown>)['slot-size'] = 0x2000;
    },
    'E_SIZE',
    /image tfm_s/,
  );
});

test('a load address outside the ATU host window is refused', () => {
  expectError(
    (d) => {
      (images(d)[3] as Record<string, unknown>)['load-address'] = 0x7fff0000;
    },
    'E_CONFIG',
    /ap_bl1 loads at 0x7FFF0000.*outside the ATU host window/,
  );
});

test('a FIP larger than its partition is refused', () => {
  expectError(
    (d) => {
      const parts = (d['host-flash'] as Record<string, unknown>).partitions as Record<string, unknown>[];
      (parts[0] as Record<string, unknown>).size = '512K';
    },
    'E_SIZE',
    /fip is \d+ bytes, larger than partition FIP_A/,
  );
});

test('overlapping placements are refused and nothing is written', async () => {
  const dir = tempDir();
  const text = readFileSync(join(EXAMPLES, 'rss-1.7/platform.yaml'), 'utf8')
    .replace('{ image: bl2, offset: 0x20000 }', '{ image: bl2, offset: 0x10000 }')
    .replaceAll('../', `${EXAMPLES}/`);
  writeFileSync(join(dir, 'p.yaml'), text);
  const r = await runCli(['flash', 'build', join(dir, 'p.yaml'), '-o', join(dir, 'out')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /E_OVERLAP/);
  assert.equal(existsSync(join(dir, 'out', 'host_flash.bin')), false);
  assert.equal(existsSync(join(dir, 'out', 'manifest.json')), false);
});

test('unknown keys and bad values name the field', () => {
  expectError(
    (d) => {
      d.fip = { align: 8192, entries: { 'rse-bl3': 'bl2' } };
    },
    'E_CONFIG',
    /fip\.entries\.rse-bl3/,
  );
  expectError(
    (d) => {
      (images(d)[0] as Record<string, unknown>).slotsize = 1;
    },
    'E_CONFIG',
    /images\[0\]\.slotsize: unknown key/,
  );
  expectError(
    (d) => {
      (d['host-flash'] as Record<string, unknown>).size = 'big';
    },
    'E_CONFIG',
    /host-flash\.size/,
  );
});
