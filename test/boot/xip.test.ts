/**
 * RSE 2.1 XIP boots (`RSE_XIP`): BL2 loads the signed SIC tables as images 0/1, maps the
 * encrypted runtimes of the same FIP at the SIC window and the SIC authenticates and decrypts
 * them; the example platform `rse-2.1-xip` and what each tampering stops with.
 */

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BOOT_FILES, bootDevice, type ChainReport } from '../../src/boot/chain.ts';
import { extendedSlotValue } from '../../src/boot/shared-data.ts';
import { hash } from '../../src/crypto/index.ts';
import type { Device } from '../../src/device/device.ts';
import { findInHostFlash } from '../../src/device/host-flash.ts';
import { u32le } from '../../src/lib/bytes.ts';
import { fromHex, toHex } from '../../src/lib/hex.ts';
import { checkXipImage, parseSicTable, SIC_DEFAULT_KEY, SIC_PAGE_SIZE } from '../../src/sic/sic.ts';
import { flipBits } from '../helpers.ts';
import { buildExample, type Description, deviceOf, type ExampleFixture, exampleFixture, imageOf } from './examples.ts';

const fx = (): ExampleFixture => exampleFixture('rse-2.1-xip');
const RSE_S = fromHex('22ea3385f86e4793968a2fe3dd5033cc');
const RSE_NS = fromHex('8d959f72b8b142119ae64b8097475ad9');
const TABLES_S = fromHex('c738d0de8c2648519336f3dbe2966518');

function payload(f: ExampleFixture, name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(f.root, 'payloads', name)));
}

/** Flash offsets of an entry in FIP_A and FIP_B. */
function entries(flash: Uint8Array, uuid: Uint8Array): { offset: number; size: number }[] {
  return findInHostFlash(flash, uuid).map((b) => {
    if (!b.ok) throw new Error(b.reason);
    return { offset: b.offset, size: b.size };
  });
}

function boot(f: ExampleFixture, flash?: Uint8Array): { dev: Device; r: ChainReport } {
  const dev = deviceOf(f, flash);
  return { dev, r: bootDevice(dev) };
}

const failed = (r: ChainReport): string => [r.halt?.reason ?? '', ...r.checks.filter((c) => !c.ok).map((c) => c.detail)].join('\n');

test('rse-2.1-xip example boots: tables in VM1, runtimes authenticated and decrypted at the SIC window', () => {
  const f = fx();
  const { dev, r } = boot(f);
  assert.equal(r.ok, true, r.halt?.reason);
  assert.equal(dev.vm0.length, 0x10000);
  assert.equal(dev.vm1.length, 0x10000);
  const prof = dev.profile.bl2;
  assert.equal(prof.images[0]?.exec.start, 0x31010000);
  assert.equal(prof.images[1]?.exec.start, 0x31013800);
  // Images 0/1 are the tables, placed at the start of VM1 and VM1 + 0x3800.
  const sTables = imageOf(f.build, 'tfm_s.sic-tables');
  const placedS = r.placed.find((p) => p.index === 0);
  const placedNs = r.placed.find((p) => p.index === 1);
  assert.ok(placedS?.xip !== undefined && placedNs?.xip !== undefined);
  assert.equal(placedS.loadAddress, 0x31010000);
  assert.deepEqual(dev.vm1.subarray(0, placedS.size), sTables.subarray(0, placedS.size));
  assert.equal(placedS.xip.logical, 0x12000000);
  assert.equal(placedNs.xip.logical, 0x12060000);
  assert.equal(placedS.xip.imageOffset, 0);
  // What the S and NS runtimes see through the SIC is their plaintext, page-padded.
  for (const [file, name, pl] of [
    [BOOT_FILES.xipS, 'tfm_s.bin', placedS],
    [BOOT_FILES.xipNs, 'tfm_ns.bin', placedNs],
  ] as const) {
    const view = dev.store.read(file) as Uint8Array;
    const p = payload(f, name);
    assert.equal(view.length, Math.ceil(p.length / SIC_PAGE_SIZE) * SIC_PAGE_SIZE);
    assert.deepEqual(view.subarray(0, p.length), p);
    assert.equal(pl.xip?.pages, view.length / SIC_PAGE_SIZE);
  }
  // Measured boot records the table images (what BL2 validated), as upstream.
  const manifest = f.build.manifest as { images: { name: string; imageHash?: string }[] };
  for (const [slot, name] of [
    [2, 'tfm_s.sic-tables'],
    [3, 'tfm_ns.sic-tables'],
  ] as const) {
    const m = r.measurements.find((x) => x.slot === slot);
    assert.equal(toHex(m?.value ?? new Uint8Array(0)), manifest.images.find((x) => x.name === name)?.imageHash);
    assert.equal(toHex(extendedSlotValue(m?.value as Uint8Array)), toHex(hash('sha256', new Uint8Array(32), m?.value as Uint8Array)));
  }
  // The XIP regions stay mapped (ATU regions 0/1), the input regions are released.
  assert.ok(r.atu.some((l) => /^region 0: 0x12000000\.\./.test(l)));
  assert.ok(!r.atu.includes('region 0: released'));
  assert.ok(r.atu.includes('region 3: released'));
  assert.equal(dev.plat.readCounter('nv_counter_bl2_0'), 1);
});

test('the SIC table BL2 loads is the one create_xip_tables.py makes for the encrypted FIP entry', () => {
  const f = fx();
  const flash = f.build.hostFlash as Uint8Array;
  const enc = entries(flash, RSE_S)[0] as { offset: number; size: number };
  const tables = imageOf(f.build, 'tfm_s.sic-tables');
  const hdrSize = (tables[8] as number) | ((tables[9] as number) << 8);
  const imgSize = (tables[12] as number) | ((tables[13] as number) << 8) | ((tables[14] as number) << 16);
  const t = parseSicTable(tables.subarray(hdrSize, hdrSize + imgSize));
  assert.equal(t.fwVersion, 1);
  const c = checkXipImage(t, flash.subarray(enc.offset, enc.offset + enc.size), SIC_DEFAULT_KEY);
  assert.deepEqual(c.badPages, []);
  const p = payload(f, 'tfm_s.bin');
  assert.deepEqual(c.plaintext.subarray(0, p.length), p);
});

test('XIP attack: a flipped bit in the encrypted S runtime (both FIPs) stops at the SIC with its page', () => {
  const f = fx();
  const flash = (f.build.hostFlash as Uint8Array).slice();
  for (const e of entries(flash, RSE_S)) flipBits(flash, e.offset + 5 * SIC_PAGE_SIZE + 17, 0x10);
  const { r } = boot(f, flash);
  assert.equal(r.ok, false);
  assert.equal(r.halt?.code, 'E_SIC_AUTH');
  assert.match(failed(r), /page 5 at 0x12001400/);
  assert.equal(r.halt?.stage, 'BL2');
});

test("XIP attack: a flipped bit in FIP_A's NS runtime is not rescued by FIP_B (the table already validated)", () => {
  const f = fx();
  const flash = (f.build.hostFlash as Uint8Array).slice();
  const a = entries(flash, RSE_NS)[0] as { offset: number };
  flipBits(flash, a.offset + 3, 1);
  const { r } = boot(f, flash);
  assert.equal(r.halt?.code, 'E_SIC_AUTH');
  assert.match(failed(r), /image 1 \(NS XIP\).*page 0 at 0x12060000/);
});

test('XIP attack: a flipped bit in a signed SIC table fails validation in both slots', () => {
  const f = fx();
  const flash = (f.build.hostFlash as Uint8Array).slice();
  for (const e of entries(flash, TABLES_S)) flipBits(flash, e.offset + 0x400 + 16 + 40, 0x80); // a page hash
  const { r } = boot(f, flash);
  assert.equal(r.halt?.code, 'E_NO_IMAGE');
  assert.match(failed(r), /image hash mismatch/);
  assert.equal(
    r.placed.some((p) => p.index === 0),
    false,
  );
});

test('XIP attack: the encrypted runtime missing from the FIP stops post-load', () => {
  const f = fx();
  const b = buildExample(f, (d: Description) => {
    const fip = d.fip as { entries: Record<string, string> };
    delete fip.entries['rse-s'];
  });
  const { r } = boot(f, b.hostFlash as Uint8Array);
  assert.equal(r.halt?.code, 'E_SIC');
  assert.match(failed(r), /rse-s is not in FIP_A/);
});

test('XIP attack: an encrypted runtime not 4 KiB-aligned in the flash is refused', () => {
  const f = fx();
  const b = buildExample(f, (d: Description) => {
    (d.fip as { align: number }).align = 16;
  });
  const flash = b.hostFlash as Uint8Array;
  const s = entries(flash, RSE_S)[0] as { offset: number };
  const ns = entries(flash, RSE_NS)[0] as { offset: number };
  assert.ok(s.offset % 0x1000 !== 0 || ns.offset % 0x1000 !== 0, 'the layout must misalign one of them');
  const { r } = boot(f, flash);
  assert.equal(r.halt?.code, 'E_SIC');
  assert.match(failed(r), /4 KiB-aligned/);
});

test('XIP attack: a validly signed table whose htr_size runs past it is refused before the HTR is programmed', () => {
  const f = fx();
  const forged = new Uint8Array(16 + 64);
  forged.set(u32le(1), 0);
  forged.set(u32le(0x4000), 12);
  writeFileSync(join(f.dir, 'forged-table.bin'), forged);
  const b = buildExample(f, (d: Description) => {
    const i = d.images.findIndex((x) => x.name === 'tfm_s');
    const x = d.images[i] as Record<string, unknown>;
    // Sign the forged table with the genuine key and parameters, as image tfm_s.sic-tables.
    const { format: _f, ...mcuboot } = x;
    d.images.push({ ...mcuboot, name: 'forged', input: 'forged-table.bin' });
    (d.fip as { entries: Record<string, string> }).entries['rse-sic-tables-s'] = 'forged';
  });
  const { r } = boot(f, b.hostFlash as Uint8Array);
  assert.equal(r.halt?.code, 'E_SIC');
  assert.match(failed(r), /htr_size 16384 is not a whole number of SHA-256 page hashes within the 80-byte table/);
});

test('XIP: a runtime encrypted under another key passes the SIC hashes but decrypts to garbage (the SIC cannot tell)', () => {
  const f = fx();
  const b = buildExample(f, (d: Description) => {
    const x = d.images.find((i) => i.name === 'tfm_s') as Record<string, unknown>;
    x['sic-key'] = '00'.repeat(32);
  });
  const { dev, r } = boot(f, b.hostFlash as Uint8Array);
  assert.equal(r.ok, true, r.halt?.reason);
  const view = dev.store.read(BOOT_FILES.xipS) as Uint8Array;
  const p = payload(f, 'tfm_s.bin');
  assert.notDeepEqual(view.subarray(0, p.length), p);
});

test('XIP: only FIP_B intact, tables and runtimes both come from FIP_B', () => {
  const f = fx();
  const flash = (f.build.hostFlash as Uint8Array).slice();
  // Break FIP_A's ToC name: the whole bank is gone.
  flipBits(flash, findFipStart(flash, 'FIP_A'), 0xff);
  const { r } = boot(f, flash);
  assert.equal(r.ok, true, r.halt?.reason);
  assert.equal(r.bl2?.bank, 'FIP_B');
  for (const i of [0, 1]) assert.equal(r.placed.find((p) => p.index === i)?.xip?.bank, 'FIP_B');
});

test('XIP and non-XIP do not mix: a non-XIP device finds no MCUboot image in rse-s, an XIP device no tables in a non-XIP flash', () => {
  const f = fx();
  const plain = exampleFixture('rse-2.1');
  const onPlain = bootDevice(deviceOf(plain, f.build.hostFlash as Uint8Array));
  assert.equal(onPlain.halt?.code, 'E_NO_IMAGE');
  assert.match(failed(onPlain), /image 1 \(NS\): no slot holds a bootable image\nno image: magic/);
  const onXip = bootDevice(deviceOf(f, plain.build.hostFlash as Uint8Array));
  assert.equal(onXip.halt?.code, 'E_NO_IMAGE');
  assert.match(failed(onXip), /image 1 \(NS SIC tables\) is in neither FIP|has no entry D9100072/);
});

/** The flash offset of a FIP bank (where its ToC starts). */
function findFipStart(flash: Uint8Array, bank: 'FIP_A' | 'FIP_B'): number {
  const all = findInHostFlash(flash, RSE_S);
  const e = all.find((x) => x.bank === bank);
  if (e === undefined || !e.ok) throw new Error(bank);
  // The ToC is at the start of the partition; entries follow it, so scan back for the name.
  for (let at = e.offset - (e.offset % 512); at >= 0; at -= 512) if (flash[at] === 0x01 && flash[at + 3] === 0xaa) return at;
  throw new Error('no ToC');
}
