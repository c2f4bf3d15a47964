/** `rse flash build`: the two example platforms, and each mismatch the issue names. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadKey } from '../../src/crypto/index.ts';
import { parseFip } from '../../src/fip/fip.ts';
import { buildFlash } from '../../src/flash/build.ts';
import type { BuildIo } from '../../src/flash/images.ts';
import { findPartition, partitionBytes, readGpt } from '../../src/gpt/codec.ts';
import { parseFwuMetadata } from '../../src/gpt/fwu.ts';
import { RseError } from '../../src/lib/errors.ts';
import { toHex } from '../../src/lib/hex.ts';
import { verifyImage } from '../../src/mcuboot/verify.ts';
import { checkXipImage, createXipTables, parseSicTable } from '../../src/sic/sic.ts';
import { exampleIo, examplesCopy } from '../boot/examples.ts';
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

test('rse-2.1-xip example: encrypted runtimes, signed SIC tables, seven FIP entries', async () => {
  const out = tempDir();
  const r = await runCli(['flash', 'build', join(EXAMPLES, 'rse-2.1-xip/platform.yaml'), '-o', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const manifest = JSON.parse(r.stdout) as {
    images: { name: string; kind: string; sic?: { fwVersion: number; nonce: string; pages: number }; loadAddress?: string }[];
    fip: { entries: { entry: string }[] };
  };
  const s = manifest.images.find((i) => i.name === 'tfm_s');
  assert.equal(s?.kind, 'xip');
  assert.equal(s?.sic?.fwVersion, 1);
  assert.equal(s?.sic?.pages, 16);
  assert.equal(manifest.images.find((i) => i.name === 'tfm_s.sic-tables')?.loadAddress, '0x31010000');
  assert.deepEqual(manifest.fip.entries.map((e) => e.entry).sort(), [
    'rse-ap-bl1',
    'rse-bl2',
    'rse-ns',
    'rse-s',
    'rse-scp-bl1',
    'rse-sic-tables-ns',
    'rse-sic-tables-s',
  ]);
  const tables = new Uint8Array(readFileSync(join(out, 'images/tfm_s_sic_tables_signed.bin')));
  assert.equal(tables.length, 0x3800);
  const key = loadKey(new Uint8Array(readFileSync(join(EXAMPLES, 'keys/root-EC-P256.pem'))));
  verifyImage(tables, { key });
  const enc = new Uint8Array(readFileSync(join(out, 'images/tfm_s_encrypted.bin')));
  const hdr = (tables[8] as number) | ((tables[9] as number) << 8);
  const t = parseSicTable(tables.subarray(hdr));
  assert.equal(toHex(t.nonce), s?.sic?.nonce);
  const c = checkXipImage(t, enc);
  assert.deepEqual(c.badPages, []);
  assert.deepEqual(c.plaintext.subarray(0, 16384), new Uint8Array(readFileSync(join(EXAMPLES, 'payloads/tfm_s.bin'))));
});

test('format: xip takes sic-key, sic-nonce and fw-version, and is refused on rss-1.7', () => {
  const d = structuredClone(load('rse-2.1-xip'));
  const s = images(d).find((i) => i.name === 'tfm_s') as Record<string, unknown>;
  s['sic-nonce'] = '0011223344556677';
  s['fw-version'] = 7;
  s['sic-key'] = '42'.repeat(32);
  const r = buildFlash(d, ioFor(join(EXAMPLES, 'rse-2.1-xip')));
  const enc = r.images.find((i) => i.name === 'tfm_s');
  assert.deepEqual(enc?.sic, { fwVersion: 7, nonce: '0011223344556677', pages: 16 });
  const direct = createXipTables(new Uint8Array(readFileSync(join(EXAMPLES, 'payloads/tfm_s.bin'))), {
    fwVersion: 7,
    key: new Uint8Array(32).fill(0x42),
    nonce: Uint8Array.from([0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]),
  });
  assert.deepEqual(enc?.bytes, direct.encrypted);
  const e17 = structuredClone(load('rss-1.7'));
  images(e17)[1] = { ...s, format: 'xip' };
  assert.throws(
    () => buildFlash(e17, ioFor(join(EXAMPLES, 'rss-1.7'))),
    (e: unknown) => e instanceof RseError && e.code === 'E_CONFIG' && /XIP images need an RSE_XIP build; rss-1\.7 has none/.test(e.message),
  );
  const bad = structuredClone(load('rse-2.1-xip'));
  writeFileSync(join(EXAMPLES, 'rse-2.1-xip', 'short-nonce.bin'), new Uint8Array(4));
  (images(bad)[1] as Record<string, unknown>)['sic-nonce'] = 'short-nonce.bin';
  assert.throws(
    () => buildFlash(bad, ioFor(join(EXAMPLES, 'rse-2.1-xip'))),
    (e: unknown) => e instanceof RseError && /images\[1\]\.sic-nonce must be 8 bytes, got 4/.test(e.message),
  );
});
