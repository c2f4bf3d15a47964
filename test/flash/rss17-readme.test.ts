/**
 * Issue 27, acceptance 1: the TF-M 1.7 RSS readme's command sequence with our test keys. TF-M 1.7
 * builds RSS with four MCUboot images (`MCUBOOT_IMAGE_NUMBER 4` in rss/common/config.cmake, as the
 * TC build scripts pass it), so `tfm_s_ns_signed.bin` is what `assemble.py` makes of the separately
 * signed S and NS images: S in the first 512 KiB, NS from 0x80000 (`rse flash assemble`). Debian's
 * srec_cat then lays out the ROM (BL1_1, the provisioning bundle at 0xE000) and the flash exactly
 * as the readme says; the provisioned device boots that flash and measures S, NS, AP BL1 and SCP
 * BL1 from the slots the readme's offsets give. The same bytes come from the rss-1.7 example.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootDevice } from '../../src/boot/chain.ts';
import { assemble, layoutOfProfile, parseSigningLayout } from '../../src/flash/assemble.ts';
import { RSS_1_7 } from '../../src/profiles/index.ts';
import { deviceOf, exampleFixture } from '../boot/examples.ts';
import { rseErrorOf, runCli, tempDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const skip = oracleSkip('srec_cat');

test("the RSS 1.7 readme's srec_cat sequence, with rse flash assemble's tfm_s_ns_signed.bin, boots; measured boot shows each image from its slot", {
  skip,
}, async () => {
  const fx = exampleFixture('rss-1.7');
  const dir = tempDir();
  const image = (name: string): string => {
    const img = fx.build.images.find((i) => i.name === name);
    assert.ok(img !== undefined, name);
    const f = join(dir, `${name}_signed.bin`);
    writeFileSync(f, img.bytes);
    return f;
  };
  const [bl2, s, ns, ap, scp] = ['bl2', 'tfm_s', 'tfm_ns', 'ap_bl1', 'scp_bl1'].map(image) as [string, string, string, string, string];
  const sNs = join(dir, 'tfm_s_ns_signed.bin');
  const r = await runCli(['flash', 'assemble', '--profile', 'rss-1.7', '-s', s, '-n', ns, '-o', sNs]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /secure at 0x0, non-secure at 0x80000/);
  const combined = readFileSync(sNs);
  assert.equal(combined.length, 0x80000 + readFileSync(ns).length);
  // The readme's commands, as written (ROM: BL1_1 and the bundle; flash: two copies of each).
  const srec = oracle('srec_cat') as string;
  const rom = join(dir, 'rom.bin');
  const romInputs = (fx.description as unknown as { rom: { placements: { file: string }[] } }).rom.placements.map((p) =>
    join(fx.dir, p.file),
  );
  execFileSync(srec, [
    romInputs[0] as string,
    '-Binary',
    '-offset',
    '0x0',
    romInputs[1] as string,
    '-Binary',
    '-offset',
    '0xE000',
    '-o',
    rom,
    '-Binary',
  ]);
  const flash = join(dir, 'flash.bin');
  // biome-ignore format: the readme's line layout
  execFileSync(srec, [
    bl2, '-Binary', '-offset', '0x0', bl2, '-Binary', '-offset', '0x20000',
    sNs, '-Binary', '-offset', '0x40000', sNs, '-Binary', '-offset', '0x140000',
    ap, '-Binary', '-offset', '0x240000', scp, '-Binary', '-offset', '0x2C0000',
    ap, '-Binary', '-offset', '0x340000', scp, '-Binary', '-offset', '0x3C0000',
    '-o', flash, '-Binary',
  ]);
  // The ROM is the example's; each image sits where the example's host flash has it (the fill
  // between differs: assemble.py pads with 0xFF, the example's raw flash with 0x00).
  assert.deepEqual(new Uint8Array(readFileSync(rom)), fx.build.rom?.subarray(0, readFileSync(rom).length));
  const f = new Uint8Array(readFileSync(flash));
  const mine = fx.build.hostFlash as Uint8Array;
  assert.equal(f[0x40000 + readFileSync(s).length], 0xff);
  for (const [at, file] of [
    [0x40000, s],
    [0xc0000, ns],
    [0x140000, s],
    [0x1c0000, ns],
    [0x240000, ap],
    [0x2c0000, scp],
    [0x340000, ap],
    [0x3c0000, scp],
  ] as const) {
    const b = readFileSync(file);
    assert.deepEqual(f.subarray(at, at + b.length), mine.subarray(at, at + b.length), `0x${at.toString(16)}`);
  }
  // The provisioned example device boots the readme's flash.
  const dev = deviceOf(fx, f);
  const boot = bootDevice(dev);
  assert.equal(boot.ok, true, JSON.stringify(boot.halt));
  const types = boot.measurements.map((m) => m.swType);
  for (const t of ['RT_0', 'RT_1', 'RT_2']) assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
  // NS is measured from 0xC0000: flip a byte of NS there and of its copy at 0x1C0000: NS has no bootable slot.
  const broken = f.slice();
  for (const at of [0xc0000 + 0x1000 + 16, 0x1c0000 + 0x1000 + 16]) broken[at] = (broken[at] as number) ^ 1;
  const bad = bootDevice(deviceOf(fx, broken));
  assert.equal(bad.ok, false);
  assert.match(bad.halt?.reason ?? '', /image 1 \(NS\)/);
});

test("assemble: TF-M's layout file or a profile; too-large and out-of-order parts refused; the gap is 0xFF", async () => {
  const layout = parseSigningLayout(
    'enum image_attributes {\n    RE_SECURE_IMAGE_OFFSET = (0x0),\n    RE_SECURE_IMAGE_MAX_SIZE = (0x80000),\n' +
      '    RE_NON_SECURE_IMAGE_OFFSET = ((0x0) + (0x80000)),\n    RE_NON_SECURE_IMAGE_MAX_SIZE = (0x80000),\n};\n',
  );
  assert.deepEqual(layout, layoutOfProfile(RSS_1_7));
  const out = assemble(layout, Uint8Array.of(1, 2), Uint8Array.of(3));
  assert.equal(out.length, 0x80001);
  assert.deepEqual([out[0], out[1], out[2], out[0x7ffff], out[0x80000]], [1, 2, 0xff, 0xff, 3]);
  assert.equal(rseErrorOf(() => assemble(layout, new Uint8Array(0x80001), Uint8Array.of(3)))?.code, 'E_SIZE');
  const overlap = { ...layout, secure: { offset: 0, maxSize: 0x100000 } };
  assert.equal(rseErrorOf(() => assemble(overlap, new Uint8Array(0x80001), Uint8Array.of(3)))?.code, 'E_OVERLAP');
  assert.match(
    rseErrorOf(() => parseSigningLayout('RE_SECURE_IMAGE_OFFSET = 0\nRE_SECURE_IMAGE_MAX_SIZE = 4\n'))?.message ?? '',
    /non-secure/,
  );
  const cli = await runCli(['flash', 'assemble', '-s', 'x', '-n', 'y', '-o', 'z']);
  assert.equal(cli.code, 2);
});
