/**
 * The whole chain on the example platforms (acceptance 1 of the boot-chain issue) and the attack
 * table: each case is its own test, stops with its own reason, and leaves the rejected image
 * neither placed nor measured.
 */
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BL1_IV_SIZE } from '../../src/bl1/image.ts';
import { BOOT_FILES, bootDevice, type ChainReport } from '../../src/boot/chain.ts';
import { extendedSlotValue, parseSharedData } from '../../src/boot/shared-data.ts';
import { generateKey, hash, loadKey } from '../../src/crypto/index.ts';
import type { Device } from '../../src/device/device.ts';
import { findInHostFlash } from '../../src/device/host-flash.ts';
import { toHex } from '../../src/lib/hex.ts';
import { TLV } from '../../src/mcuboot/constants.ts';
import { parseImage } from '../../src/mcuboot/image.ts';
import { mcubootPublicKeyBytes } from '../../src/mcuboot/keys.ts';
import { fipEntryUuid } from '../../src/profiles/fip-table.ts';
import { rseProfile } from '../../src/profiles/index.ts';
import { buildExample, type Description, deviceOf, type ExampleFixture, exampleFixture, imageOf, type RseProfileName } from './examples.ts';

const IMAGE_NAMES = ['tfm_s', 'tfm_ns', 'ap_bl1', 'scp_bl1'] as const;
const PAYLOADS = ['tfm_s.bin', 'tfm_ns.bin', 'ap_bl1.bin', 'scp_bl1.bin'] as const;

function payload(fx: ExampleFixture, i: number): Uint8Array {
  return new Uint8Array(readFileSync(join(fx.root, 'payloads', PAYLOADS[i] as string)));
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Where image `i`'s code sits after a successful boot, and the memory it is in. */
function codeAt(fx: ExampleFixture, dev: Device, i: number): Uint8Array {
  const spec = rseProfile(fx.profile).bl2.images[i];
  if (spec === undefined) throw new Error(`image ${i}`);
  const img = imageOf(fx.build, IMAGE_NAMES[i] as string);
  const hdr = (img[8] as number) | ((img[9] as number) << 8);
  if (spec.host !== undefined) {
    const sram = dev.store.read(spec.host === 'ap' ? BOOT_FILES.apSram : BOOT_FILES.scpSram) as Uint8Array;
    // 2.1: the header region maps to the end of SRAM, code at 0; 1.7: AP keeps its header in place, SCP is moved down.
    const off = fx.profile === 'rss-1.7' && spec.host === 'ap' ? hdr : 0;
    return sram.subarray(off);
  }
  const vm = spec.exec.start >= rseProfile(fx.profile).bl2.vm1 ? dev.vm1 : dev.vm0;
  const base = vm === dev.vm1 ? rseProfile(fx.profile).bl2.vm1 : rseProfile(fx.profile).bl2.vm0;
  return vm.subarray(spec.exec.start - base + hdr);
}

for (const profile of ['rse-2.1', 'rss-1.7'] as RseProfileName[]) {
  test(`${profile} example boots: payloads at their targets, boot records in slots 2..5, NV counters raised`, () => {
    const fx = exampleFixture(profile);
    const dev = deviceOf(fx);
    const r = bootDevice(dev);
    assert.equal(r.ok, true, r.halt?.reason);
    assert.deepEqual(
      r.stages.map((s) => s.stage),
      ['BL1_1', 'BL1_2', 'BL2'],
    );
    assert.deepEqual(
      r.placed.map((p) => p.index),
      [3, 2, 1, 0],
    );
    for (let i = 0; i < 4; i++) {
      const p = payload(fx, i);
      assert.ok(sameBytes(codeAt(fx, dev, i).subarray(0, p.length), p), `image ${i} payload at its target`);
    }
    if (profile === 'rse-2.1') {
      // The 8 KiB header regions at the end of each host SRAM were zeroed after the load.
      for (const f of [BOOT_FILES.apSram, BOOT_FILES.scpSram]) {
        const sram = dev.store.read(f) as Uint8Array;
        assert.ok(
          sram.subarray(sram.length - 0x2000).every((b) => b === 0),
          `${f} header region zeroed`,
        );
      }
    }
    const manifest = fx.build.manifest as { images: { name: string; imageHash?: string; version?: string }[] };
    const hostKey = loadKey(new Uint8Array(readFileSync(join(fx.root, 'keys/host-EC-P256.pem'))));
    const rootKey = loadKey(new Uint8Array(readFileSync(join(fx.root, 'keys/root-EC-P256.pem'))));
    for (let i = 0; i < 4; i++) {
      const m = r.measurements.find((x) => x.slot === 2 + i);
      const want = manifest.images.find((x) => x.name === IMAGE_NAMES[i]);
      assert.ok(m !== undefined && want !== undefined);
      assert.equal(toHex(m.value), want.imageHash);
      assert.equal(toHex(extendedSlotValue(m.value)), toHex(hash('sha256', new Uint8Array(32), m.value)));
      assert.equal(m.version, want.version);
      assert.equal(m.swType, ['RT_0', 'RT_1', 'RT_2', ''][i]);
      assert.equal(toHex(m.signerId), toHex(hash('sha256', mcubootPublicKeyBytes(i < 2 ? rootKey : hostKey))));
      assert.equal(dev.plat.readCounter(`nv_counter_bl2_${i}`), 1);
    }
    // The shared data area holds the same records, in the order the stages stored them.
    const area = parseSharedData(rseProfile(profile).sharedData, dev.store.read(BOOT_FILES.sharedData) as Uint8Array);
    assert.deepEqual(
      area.map((m) => m.slot),
      profile === 'rse-2.1' ? [0, 1, 5, 4, 3, 2] : [5, 4, 3, 2],
    );
    assert.deepEqual(
      area.map((m) => toHex(m.value)),
      r.measurements.map((m) => toHex(m.value)),
    );
    // A second boot succeeds too and raises nothing.
    const again = bootDevice(dev);
    assert.equal(again.ok, true);
  });
}

// ---------------------------------------------------------------------------------------------
// The attack table.

interface Expect {
  readonly stage: 'BL1_1' | 'BL1_2' | 'BL2';
  readonly code?: string;
  readonly reason: RegExp;
  /** The image that must not be placed or measured. */
  readonly image?: number;
}

function assertStopped(fx: ExampleFixture, dev: Device, r: ChainReport, e: Expect): void {
  assert.equal(r.ok, false, 'the boot must stop');
  assert.equal(r.halt?.stage, e.stage, `stopped in ${r.halt?.stage}: ${r.halt?.reason}`);
  if (e.code !== undefined) assert.equal(r.halt?.code, e.code, r.halt?.reason);
  const text = [r.halt?.reason ?? '', ...r.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`)].join('\n');
  assert.match(text, e.reason);
  if (e.image !== undefined) {
    const i = e.image;
    assert.equal(
      r.placed.some((p) => p.index === i),
      false,
    );
    assert.equal(
      r.measurements.some((m) => m.slot === 2 + i),
      false,
    );
    const p = payload(fx, i);
    if (dev.store.read(BOOT_FILES.apSram) !== undefined)
      assert.equal(sameBytes(codeAt(fx, dev, i).subarray(0, p.length), p), false, `image ${i} must not be in place`);
  }
}

/** Copies of image `i` in the flash: the FIP_A/FIP_B entries (2.1) or the two offsets (1.7). */
function copiesOf(fx: ExampleFixture, flash: Uint8Array, i: number): number[] {
  const spec = rseProfile(fx.profile).bl2.images[i];
  if (spec?.flash !== undefined) return [...spec.flash];
  return findInHostFlash(flash, fipEntryUuid(spec?.fipEntry ?? '')).map((b) => {
    if (!b.ok) throw new Error(b.reason);
    return b.offset;
  });
}

/** Applies `edit(copy)` to the chosen copies of image `i` in a fresh flash. */
function editImage(fx: ExampleFixture, i: number, edit: (img: Uint8Array) => void, which: 'both' | 'first' = 'both'): Uint8Array {
  const flash = (fx.build.hostFlash as Uint8Array).slice();
  const offs = copiesOf(fx, flash, i);
  for (const off of which === 'both' ? offs : offs.slice(0, 1))
    edit(flash.subarray(off, off + imageOf(fx.build, IMAGE_NAMES[i] as string).length));
  return flash;
}

function tlvOffset(img: Uint8Array, type: number): number {
  const p = parseImage(img);
  const all = [...(p.protectedArea?.entries ?? []), ...p.unprotectedArea.entries];
  const e = all.find((x) => x.type === type);
  if (e === undefined) throw new Error(`no TLV ${type}`);
  return e.offset + 4;
}

const flipAt =
  (at: number, bit = 0) =>
  (img: Uint8Array) => {
    img[at] = (img[at] as number) ^ (1 << bit);
  };

function bootWith(fx: ExampleFixture, flash: Uint8Array, setup?: (dev: Device) => void): { dev: Device; r: ChainReport } {
  const dev = deviceOf(fx, flash);
  setup?.(dev);
  return { dev, r: bootDevice(dev) };
}

function resigned(fx: ExampleFixture, name: string, change: (img: Record<string, unknown>) => void): Uint8Array {
  const b = buildExample(fx, (d: Description) => {
    const img = d.images.find((x) => x.name === name);
    if (img === undefined) throw new Error(name);
    change(img);
  });
  return b.hostFlash as Uint8Array;
}

const fx21 = (): ExampleFixture => exampleFixture('rse-2.1');
const fx17 = (): ExampleFixture => exampleFixture('rss-1.7');

for (let i = 0; i < 4; i++) {
  const name = `image ${i} (${['S', 'NS', 'AP BL1', 'SCP BL1'][i]})`;
  test(`attack: a flipped payload bit in ${name}`, () => {
    const fx = fx21();
    const img = imageOf(fx.build, IMAGE_NAMES[i] as string);
    const hdr = (img[8] as number) | ((img[9] as number) << 8);
    const { dev, r } = bootWith(fx, editImage(fx, i, flipAt(hdr + 100, 3)));
    assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /image hash mismatch/, image: i });
  });
  test(`attack: a flipped header bit (version) in ${name}`, () => {
    const fx = fx21();
    const { dev, r } = bootWith(fx, editImage(fx, i, flipAt(21, 0)));
    assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /image hash mismatch/, image: i });
  });
  test(`attack: a flipped protected-TLV bit (the area's magic) in ${name}`, () => {
    const fx = fx21();
    const img = imageOf(fx.build, IMAGE_NAMES[i] as string);
    const p = parseImage(img);
    const { dev, r } = bootWith(fx, editImage(fx, i, flipAt(p.protectedArea?.offset as number, 4)));
    assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /protected TLVs, there are none/, image: i });
  });
  test(`attack: a flipped signature bit in ${name}`, () => {
    const fx = fx21();
    const img = imageOf(fx.build, IMAGE_NAMES[i] as string);
    const at = tlvOffset(img, TLV.ECDSASIG) + 20;
    const { dev, r } = bootWith(fx, editImage(fx, i, flipAt(at, 1)));
    assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /signature does not verify/, image: i });
  });
  test(`attack: rollback of ${name} (NV counter above the image's security counter)`, () => {
    const fx = fx21();
    const { dev, r } = bootWith(fx, fx.build.hostFlash as Uint8Array, (d) => d.plat.setCounter(`nv_counter_bl2_${i}`, 2));
    assertStopped(fx, dev, r, {
      stage: 'BL2',
      code: 'E_NO_IMAGE',
      reason: new RegExp(`rollback: security counter 1 is below NV counter nv_counter_bl2_${i} = 2`),
      image: i,
    });
  });
}

test('attack: rollback of BL2 (nv_counter_bl1_0 above its counter)', () => {
  const fx = fx21();
  const { dev, r } = bootWith(fx, fx.build.hostFlash as Uint8Array, (d) => d.plat.setCounter('nv_counter_bl1_0', 5));
  assertStopped(fx, dev, r, { stage: 'BL1_2', code: 'E_NO_IMAGE', reason: /anti-rollback: image counter 1, NV counter 5/ });
});

test('attack: an image signed by a key whose hash is not in OTP (AP BL1 signed with the S key)', () => {
  const fx = fx21();
  const flash = resigned(fx, 'ap_bl1', (img) => {
    img.key = '../keys/root-EC-P256.pem';
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /image 2 \(AP BL1\).*the key's hash [0-9a-f]+… is not the OTP bl2_rotpk_2/, image: 2 });
});

test('attack: the wrong key (a foreign signature under the genuine PUBKEY TLV)', () => {
  const fx = fx21();
  // Sign NS with an attacker key, then put the genuine key in its (unprotected) PUBKEY TLV.
  const attacker = generateKey('ecdsa-p256');
  const genuine = mcubootPublicKeyBytes(loadKey(new Uint8Array(readFileSync(join(fx.root, 'keys/root-EC-P256.pem')))));
  const flash = editImage(fx, 1, (img) => {
    const at = tlvOffset(img, TLV.PUBKEY);
    assert.equal(sameBytes(img.subarray(at, at + genuine.length), genuine), true);
    // Replace the signature by one from the attacker over the same hashed region.
    const p = parseImage(img);
    const region = img.subarray(0, p.hashedEnd);
    const sigAt = tlvOffset(img, TLV.ECDSASIG);
    const len = (img[sigAt - 2] as number) | ((img[sigAt - 1] as number) << 8);
    const forged = signFor(attacker, region, len);
    img.set(forged, sigAt);
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /image 1 \(NS\).*the signature does not verify with the image key/, image: 1 });
});

/**
 * An attacker's ECDSA signature of exactly `len` DER bytes (retried until the length fits). A
 * 69-byte genuine signature (r or s one byte short) comes once in ~256 signings, and so does a
 * match for it: 4096 tries miss it once in ~10^7 runs (64 missed it once in ~300).
 */
function signFor(key: ReturnType<typeof generateKey>, region: Uint8Array, len: number): Uint8Array {
  for (let k = 0; k < 4096; k++) {
    const s = createSign('sha256');
    s.update(region);
    if (key.privateKey === undefined) throw new Error('no private key');
    const sig = new Uint8Array(s.sign({ key: key.privateKey, dsaEncoding: 'der' }));
    if (sig.length === len) return sig;
  }
  throw new Error('no signature of the right length');
}

test('attack: a header whose image size lies reaches past the ATU mapping: bus fault', () => {
  const fx = fx21();
  // S's FIP entry is ~17 KiB (three 8 KiB pages mapped); claim 0x50000 bytes of payload.
  const flash = editImage(fx, 0, (img) => {
    img.set([0x00, 0x00, 0x05, 0x00], 12);
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, {
    stage: 'BL2',
    code: 'E_ATU_MISMATCH',
    reason: /ATU mismatch: no region translates logical address 0x73/,
    image: 0,
  });
});

test('attack: an image size beyond the slot makes the header invalid', () => {
  const fx = fx21();
  const flash = editImage(fx, 2, (img) => {
    img.set([0x00, 0x00, 0x08, 0x00], 12);
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /does not fit the 0x80000-byte slot/, image: 2 });
});

test('attack: a header size that lies (no TLV info where it points)', () => {
  const fx = fx21();
  const flash = editImage(fx, 3, (img) => {
    img[9] = 0x10; // ih_hdr_size 0x2000 -> 0x1000
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, {
    stage: 'BL2',
    code: 'E_NO_IMAGE',
    reason: /load: the header declares \d+ bytes of protected TLVs, there are none at 0x2000 \(ih_hdr_size/,
    image: 3,
  });
});

test('attack: a load address outside its window', () => {
  const fx = fx21();
  const flash = resigned(fx, 'ap_bl1', (img) => {
    img['load-address'] = 0x70100000;
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, {
    stage: 'BL2',
    reason: /load window: 0x70100000\.\.0x[0-9a-f]+ is outside 0x70000000\.\.0x70080000/,
    image: 2,
  });
});

test('attack: an image without the RAM_LOAD flag', () => {
  const fx = fx21();
  const flash = resigned(fx, 'scp_bl1', (img) => {
    delete img['load-address'];
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /no RAM_LOAD flag/, image: 3 });
});

test('attack: two images overlapping (rss-1.7: S ending where NS starts, MCUboot counts touching as overlap)', () => {
  const fx = fx17();
  // --pad-sig fixes the ECDSA signature at 72 bytes: the second build ends where the first said.
  let load = 0x31880000 - parseImage(imageOf(fx.build, 'tfm_s')).tlvEnd;
  let flash: Uint8Array | undefined;
  for (let k = 0; k < 3 && flash === undefined; k++) {
    const b = buildExample(fx, (d) => {
      const s = d.images.find((x) => x.name === 'tfm_s') as Record<string, unknown>;
      s['load-address'] = load;
      s['pad-sig'] = true;
    });
    const end = parseImage(imageOf(b, 'tfm_s')).tlvEnd;
    if (load + end === 0x31880000) flash = b.hostFlash as Uint8Array;
    else load = 0x31880000 - end;
  }
  assert.ok(flash !== undefined, 'an S image ending at 0x31880000');
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /overlap: .* overlaps image 1 at 0x31880000/, image: 0 });
});

test('attack: a missing dependency (S needs NS >= 9.0.0)', () => {
  const fx = fx21();
  const flash = resigned(fx, 'tfm_s', (img) => {
    img.dependencies = [{ image: 1, version: '9.0.0' }];
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /dependencies: needs image 1 ≥ 9\.0\.0\+0, loaded 2\.1\.0\+0/, image: 0 });
});

test('attack: a truncated FIP_A with a good FIP_B boots from FIP_B', () => {
  const fx = fx21();
  const flash = (fx.build.hostFlash as Uint8Array).slice();
  const a = findInHostFlash(flash, fipEntryUuid(rseProfile('rse-2.1').bl2.images[0]?.fipEntry ?? ''))[0];
  assert.ok(a?.ok);
  // Wipe FIP_A from its ToC on, as an interrupted update leaves it.
  const fipA = 0x6000;
  flash.fill(0xff, fipA, fipA + 0x180000);
  const { r } = bootWith(fx, flash);
  assert.equal(r.ok, true, r.halt?.reason);
  assert.equal(r.bl2?.bank, 'FIP_B');
  assert.ok(r.placed.every((p) => /FIP_B/.test(p.source)));
  assert.ok(r.checks.some((c) => !c.ok && /FIP_A/.test(c.check)));
});

test('attack: a corrupt image in FIP_A with a good FIP_B boots that image from FIP_B', () => {
  const fx = fx21();
  const img = imageOf(fx.build, 'ap_bl1');
  const hdr = (img[8] as number) | ((img[9] as number) << 8);
  const { dev, r } = bootWith(fx, editImage(fx, 2, flipAt(hdr + 7), 'first'));
  assert.equal(r.ok, true, r.halt?.reason);
  assert.equal(r.placed.find((p) => p.index === 2)?.slot, 'secondary');
  const p = payload(fx, 2);
  assert.ok(sameBytes(codeAt(fx, dev, 2).subarray(0, p.length), p));
  assert.match(r.checks.find((c) => !c.ok)?.detail ?? '', /image hash mismatch.*RAM copy wiped/);
});

test('attack: both FIPs corrupt halts in BL1_2', () => {
  const fx = fx21();
  const flash = (fx.build.hostFlash as Uint8Array).slice();
  for (const b of findInHostFlash(
    flash,
    new Uint8Array([0xa3, 0xb3, 0xb3, 0x0d, 0xeb, 0xc9, 0x40, 0x48, 0xb4, 0x80, 0x15, 0x53, 0x61, 0xc1, 0x70, 0x48]),
  ))
    if (b.ok) flash[b.offset + 0x1000] = (flash[b.offset + 0x1000] as number) ^ 0x80;
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL1_2', code: 'E_NO_IMAGE', reason: /FIP_B: LMS signature/ });
  assert.equal(r.placed.length, 0);
});

test('attack: BL1_2 altered in OTP (zero count kept) stops BL1_1', () => {
  const fx = fx21();
  const { dev, r } = bootWith(fx, fx.build.hostFlash as Uint8Array, (d) => {
    // Swap a 0 bit and a 1 bit inside one byte of BL1_2 (one with both): the zero count stays,
    // the hash changes.
    let at = 0x1c00;
    while (d.otp[at] === 0 || d.otp[at] === 0xff) at++;
    assert.ok(at < 0x3c00, 'BL1_2 has a byte with both 0 and 1 bits');
    const b = d.otp[at] as number;
    const one = b & -b;
    const zeroBit = ~b & 0xff & -(~b & 0xff);
    d.otp[at] = (b ^ one) | zeroBit;
    d.store.write('otp.bin', d.otp);
  });
  assertStopped(fx, dev, r, { stage: 'BL1_1', reason: /E_BAD_HASH|BL1_2 in OTP does not match|integrity/ });
});

test('attack: a zero-count mismatch (one bit of bl2_rotpk_0 flipped) stops BL1_1', () => {
  const fx = fx21();
  const { dev, r } = bootWith(fx, fx.build.hostFlash as Uint8Array, (d) => {
    const f = d.plat.field('bl2_rotpk_0');
    d.otp[f.offset + 3] = (d.otp[f.offset + 3] as number) ^ 0x10;
    d.store.write('otp.bin', d.otp);
  });
  assertStopped(fx, dev, r, { stage: 'BL1_1', code: 'E_INTEGRITY', reason: /integrity/ });
});

test('attack: an LMS signature with a wrong leaf index (q field altered) in both FIPs', () => {
  const fx = fx21();
  const flash = (fx.build.hostFlash as Uint8Array).slice();
  for (const b of findInHostFlash(
    flash,
    new Uint8Array([0xa3, 0xb3, 0xb3, 0x0d, 0xeb, 0xc9, 0x40, 0x48, 0xb4, 0x80, 0x15, 0x53, 0x61, 0xc1, 0x70, 0x48]),
  ))
    if (b.ok) flash[b.offset + BL1_IV_SIZE + 3] = (flash[b.offset + BL1_IV_SIZE + 3] as number) ^ 0x01;
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL1_2', reason: /LMS signature/ });
});

test('attack: a NS image signed with an unprotected rogue TLV is refused (allow list)', () => {
  const fx = fx17();
  const flash = editImage(fx, 1, (img) => {
    // Turn the unprotected SHA256 TLV's type into SEC_CNT's: unprotected, not on the allow list.
    const at = tlvOffset(img, TLV.SHA256) - 4;
    img[at] = TLV.BOOT_RECORD;
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /TLV 0x60 is outside the protected area/, image: 1 });
});

test('attack: rss-1.7 SCP BL1 flipped payload bit in both copies', () => {
  const fx = fx17();
  const img = imageOf(fx.build, 'scp_bl1');
  const hdr = (img[8] as number) | ((img[9] as number) << 8);
  const { dev, r } = bootWith(fx, editImage(fx, 3, flipAt(hdr + 9)));
  assertStopped(fx, dev, r, { stage: 'BL2', code: 'E_NO_IMAGE', reason: /image hash mismatch/, image: 3 });
});

test('attack: rss-1.7 S signed by the host key (hash not in the LCM ROTPK slot)', () => {
  const fx = fx17();
  const flash = resigned(fx, 'tfm_s', (img) => {
    img.key = '../keys/host-EC-P256.pem';
  });
  const { dev, r } = bootWith(fx, flash);
  assertStopped(fx, dev, r, { stage: 'BL2', reason: /is not the OTP rotpk/, image: 0 });
});
