/**
 * Image binding of TF-M 2.3.1's BL2 (`MCUBOOT_IMAGE_BINDING`) on the rse-2.3 example, a binding
 * build: the first boot verifies each image's signature and binds it (a CMAC tag and BOUND
 * metadata programmed into the primary's 0xA5/0xA4 TLVs); later boots check the tag instead.
 * The tags are recomputed by Python's `cryptography` from the HUK and the image bytes alone.
 * Then what upstream does when the flash is attacked or updated, and a power cut at every write.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootDevice, type ChainReport } from '../../src/boot/chain.ts';
import { Device, FaultPlan, type MemoryStore, PowerCut } from '../../src/device/device.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { oracle, oracleSkip } from '../oracles.ts';
import { buildExample, type Description, exampleFixture, imageOf, PYTHON_BINDING_KEY, slotsOf, tlvAt } from './examples.ts';

const META = 0xa4;
const TAG = 0xa5;

const fx = (): ReturnType<typeof exampleFixture> => exampleFixture('rse-2.3');
const flashOf = (s: MemoryStore): Uint8Array => s.read('flash.bin') as Uint8Array;
const boot = (s: MemoryStore): ChainReport => bootDevice(Device.open(s));
const failed = (r: ChainReport): string => JSON.stringify(r.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`));

/** A provisioned device whose first boot has bound every image. */
function boundStore(): MemoryStore {
  const s = fx().store.clone();
  const r = boot(s);
  assert.equal(r.ok, true, failed(r));
  return s;
}

const PYTHON_TAGS =
  PYTHON_BINDING_KEY +
  `
def tlvs(img, off, magic):
    m, tot = struct.unpack_from("<HH", img, off); assert m == magic
    cur, out = off + 4, {}
    while cur + 4 <= off + tot:
        t, l = struct.unpack_from("<HH", img, cur); out[t] = img[cur + 4:cur + 4 + l]; cur += 4 + l
    return out
res = []
for h in inp["images"]:
    img = bytes.fromhex(h)
    _, load, hdr_size, prot_size, img_size, flags = struct.unpack_from("<IIHHII", img, 0)
    prot = tlvs(img, hdr_size + img_size, 0x6908)
    unprot = tlvs(img, hdr_size + img_size + prot_size, 0x6907)
    msg = struct.pack("<HIII", hdr_size, img_size, flags, load) + img[20:28] + prot[0x50] + img[hdr_size:hdr_size + img_size]
    res.append({"tag": cmac(key, msg).hex(), "stored": unprot[0xA5].hex(), "meta": unprot[0xA4].hex()})
print(json.dumps(res))
`;

test('the first boot verifies signatures and binds each image; the next checks the tags Python recomputes from the HUK', {
  skip: oracleSkip('python'),
}, () => {
  const s = fx().store.clone();
  const before = flashOf(s).slice();
  const r1 = boot(s);
  assert.equal(r1.ok, true, failed(r1));
  assert.deepEqual(
    r1.placed.map((p) => p.authenticatedBy),
    ['signature', 'signature', 'signature', 'signature'],
  );
  const flash = flashOf(s);
  const images: string[] = [];
  for (let i = 0; i < 4; i++) {
    const [a, b] = slotsOf(flash, i);
    // The secondary is left as it was; the primary's placeholders now hold the binding.
    const bMeta = tlvAt(flash, b, META, 'unprotected');
    assert.deepEqual(flash.subarray(bMeta, bMeta + 16), before.subarray(bMeta, bMeta + 16));
    assert.ok(flash.subarray(bMeta, bMeta + 16).every((x) => x === 0xff));
    images.push(Buffer.from(flash.subarray(a, a + 0x8000)).toString('hex'));
  }
  // Only the 4 × 32 binding bytes changed.
  let changed = 0;
  for (let i = 0; i < flash.length; i++) if (flash[i] !== before[i]) changed++;
  assert.ok(changed > 0 && changed <= 4 * 32, `${changed} bytes changed`);
  const huk = Buffer.from(Device.open(s).otp.slice(LCM_OTP.huk, LCM_OTP.huk + 32)).toString('hex');
  const py = JSON.parse(
    execFileSync(oracle('python') as string, ['-c', PYTHON_TAGS], { input: JSON.stringify({ huk, images }) }).toString(),
  ) as { tag: string; stored: string; meta: string }[];
  for (const [i, p] of py.entries()) {
    assert.equal(p.stored, p.tag, `image ${i}: the stored tag is the CMAC Python computes`);
    assert.equal(p.meta, `0101${'00'.repeat(14)}`, `image ${i}: metadata BOUND, CMAC`);
  }
  const r2 = boot(s);
  assert.equal(r2.ok, true, failed(r2));
  assert.deepEqual(
    r2.placed.map((p) => p.authenticatedBy),
    ['binding-tag', 'binding-tag', 'binding-tag', 'binding-tag'],
  );
  assert.ok(
    r2.checks.every((c) => !/: validate$/.test(c.check)),
    'no signature check on a bound boot',
  );
  assert.deepEqual(
    r2.measurements.map((m) => Buffer.from(m.value).toString('hex')),
    r1.measurements.map((m) => Buffer.from(m.value).toString('hex')),
  );
  // The flash is not written again.
  assert.deepEqual(flashOf(s), flash);
});

/** S's payload with other code of the same size (an update). */
function updatedPayload(): string {
  const f = fx();
  const code = new Uint8Array(readFileSync(join(f.root, 'payloads/tfm_s.bin')));
  for (let i = 0x100; i < 0x200; i++) code[i] = (code[i] as number) ^ 0x3c;
  writeFileSync(join(f.root, 'payloads/tfm_s_update.bin'), code);
  return '../payloads/tfm_s_update.bin';
}

/** S built as `version` from `input` (an update by default) written over FIP_B's S entry. */
function withSecondaryS(flash: Uint8Array, version: string, input = updatedPayload()): Uint8Array {
  const f = fx();
  const b = buildExample(f, (d: Description) => {
    const s = d.images.find((i) => i.name === 'tfm_s') as Record<string, unknown>;
    s.version = version;
    s.input = input;
  });
  const out = flash.slice();
  const img = imageOf(b, 'tfm_s');
  out.fill(0xff, slotsOf(out, 0)[1], slotsOf(out, 0)[1] + 0x6000);
  out.set(img, slotsOf(out, 0)[1]);
  return out;
}

interface Case {
  readonly name: string;
  /** Starts from a bound device unless `fresh`. */
  readonly fresh?: boolean;
  /** Alters the device or `flash` (a copy of its flash) in place, or returns a new flash. */
  readonly prepare: (s: MemoryStore, flash: Uint8Array) => Uint8Array | undefined;
  readonly expect: (r: ChainReport, s: MemoryStore) => void;
}

const halted = (code: string, pattern: RegExp) => (r: ChainReport) => {
  assert.equal(r.ok, false, 'must not boot');
  assert.equal(r.halt?.code, code, JSON.stringify(r.halt));
  assert.ok(
    r.checks.some((c) => !c.ok && pattern.test(`${c.check}: ${c.detail}`)) || pattern.test(r.halt?.reason ?? ''),
    `${pattern} not in ${failed(r)}`,
  );
};

const CASES: readonly Case[] = [
  {
    name: "a flipped bit in S's binding tag: neither slot matches the primary's tag, BL2 halts",
    prepare: (_s, f) => {
      const at = tlvAt(f, slotsOf(f, 0)[0], TAG, 'unprotected');
      f[at] = (f[at] as number) ^ 1;
    },
    expect: halted('E_NO_IMAGE', /image 0 \(S\) secondary: binding tag: BIND_TAG of the primary is not the CMAC/),
  },
  {
    name: 'bound S altered in the primary: the primary fails its tag, the identical secondary passes it and boots',
    prepare: (_s, f) => {
      const at = slotsOf(f, 0)[0] + 0x400 + 0x100;
      f[at] = (f[at] as number) ^ 0x80;
    },
    expect: (r) => {
      assert.equal(r.ok, true, failed(r));
      const s = r.placed.find((p) => p.index === 0);
      assert.equal(s?.slot, 'secondary');
      assert.equal(s?.authenticatedBy, 'binding-tag');
      assert.ok(r.checks.some((c) => !c.ok && c.check === 'image 0 (S) primary: binding tag'));
    },
  },
  {
    name: 'bound S altered in both slots: halt',
    prepare: (_s, f) => {
      for (const at of slotsOf(f, 0)) f[at + 0x500] = (f[at + 0x500] as number) ^ 0x80;
    },
    expect: halted('E_NO_IMAGE', /image 0 \(S\) primary: binding tag/),
  },
  {
    name: 'a bound flash copied to another device (another HUK): no image passes the tag, BL2 halts',
    prepare: (s) => {
      const otp = (s.read('otp.bin') as Uint8Array).slice();
      // Another device's HUK: the same bytes reversed (same zero count).
      otp.set(otp.slice(LCM_OTP.huk, LCM_OTP.huk + 32).reverse(), LCM_OTP.huk);
      s.write('otp.bin', otp);
    },
    expect: halted('E_NO_IMAGE', /binding tag: BIND_TAG of the primary is not the CMAC .*bound on another device/),
  },
  {
    name: 'binding metadata left IN_PROGRESS (0x7F): pre-load fails, BL2 halts',
    prepare: (_s, f) => {
      f[tlvAt(f, slotsOf(f, 1)[0], META, 'unprotected')] = 0x7f;
    },
    expect: halted('E_BINDING', /invalid binding state 127 or algorithm 1/),
  },
  {
    name: 'binding metadata claiming CCM (alg 2) on a CMAC build: pre-load fails',
    prepare: (_s, f) => {
      f[tlvAt(f, slotsOf(f, 2)[0], META, 'unprotected') + 1] = 0x02;
    },
    expect: halted('E_BINDING', /invalid binding state 1 or algorithm 2/),
  },
  {
    name: 'rollback across a bound image: the NV counter above its security counter stops both slots',
    prepare: (s) => {
      const d = Device.open(s);
      d.plat.setCounter('dynamic.security_version_counters_bank_0_1', 2);
    },
    expect: halted('E_NO_IMAGE', /binding rollback: rollback: security counter 1 is below NV counter/),
  },
  {
    name: "a bound image's signature broken: it still boots, the tag is all BL2 checks",
    prepare: (_s, f) => {
      const at = tlvAt(f, slotsOf(f, 3)[0], 0x22, 'unprotected');
      f[at + 10] = (f[at + 10] as number) ^ 0xff;
    },
    expect: (r) => {
      assert.equal(r.ok, true, failed(r));
      assert.equal(r.placed.find((p) => p.index === 3)?.authenticatedBy, 'binding-tag');
    },
  },
  {
    name: "a bound image's hash TLV rewritten: it boots and BL2 measures the forged hash (TLVs are outside the tag)",
    prepare: (_s, f) => {
      const at = tlvAt(f, slotsOf(f, 1)[0], 0x10, 'unprotected');
      f.fill(0x5a, at, at + 32);
    },
    expect: (r) => {
      assert.equal(r.ok, true, failed(r));
      const m = r.measurements.find((x) => x.slot === 3);
      assert.equal(Buffer.from(m?.value ?? []).toString('hex'), '5a'.repeat(32));
    },
  },
  {
    name: 'a higher version in the secondary of a bound image: its tag fails (the primary holds the tag), the old primary boots',
    prepare: (_s, f) => withSecondaryS(f, '2.2.0'),
    expect: (r) => {
      assert.equal(r.ok, true, failed(r));
      assert.equal(r.placed.find((p) => p.index === 0)?.slot, 'primary');
      assert.ok(r.checks.some((c) => !c.ok && c.check === 'image 0 (S) secondary: binding tag'));
    },
  },
  {
    name: 'an image without the placeholders on a binding build: pre-load fails',
    fresh: true,
    prepare: () => {
      const b = buildExample(fx(), (d: Description) => {
        for (const i of d.images) delete i['image-binding'];
      });
      return b.hostFlash;
    },
    expect: halted('E_BINDING', /no BIND_METADATA TLV 0xa4/),
  },
  {
    name: 'a smaller higher-version secondary on an unbound device: it boots by signature, then binding fails at post-load',
    fresh: true,
    prepare: (_s, f) => withSecondaryS(f, '2.2.0', '../payloads/tfm_ns.bin'),
    expect: halted('E_BINDING', /CMAC compute failed: the loaded body is 8192 bytes, the primary's ih_img_size 16384/),
  },
];

for (const c of CASES)
  test(`binding attack: ${c.name}`, () => {
    const s = c.fresh === true ? fx().store.clone() : boundStore();
    const f = flashOf(s).slice();
    s.write('flash.bin', c.prepare(s, f) ?? f);
    c.expect(boot(s), s);
  });

test('an unbound primary with a higher-version secondary: the first boot binds the primary over the secondary, the next halts (upstream)', () => {
  const s = fx().store.clone();
  s.write('flash.bin', withSecondaryS(flashOf(s), '2.2.0'));
  const r1 = boot(s);
  assert.equal(r1.ok, true, failed(r1));
  assert.equal(r1.placed.find((p) => p.index === 0)?.slot, 'secondary');
  const r2 = boot(s);
  halted('E_NO_IMAGE', /image 0 \(S\) primary: binding tag/)(r2);
  assert.ok(r2.checks.some((c) => !c.ok && c.check === 'image 0 (S) secondary: binding tag'));
});

test('a device without MCUBOOT_IMAGE_BINDING refuses images that carry the placeholders (MCUboot allow list)', () => {
  const s = fx().store.clone();
  s.write('device.json', new TextEncoder().encode(JSON.stringify({ ...Device.open(s).json, build: {} })));
  const r = boot(s);
  halted('E_NO_IMAGE', /TLV 0xa4 is outside the protected area/)(r);
});

test('a power cut at every write of the first (binding) boot: never a run without a valid signature or tag; one brick window per image, as upstream', () => {
  const base = fx().store;
  const probe = base.clone();
  const plan = new FaultPlan();
  assert.equal(bootDevice(Device.open(probe, { faults: plan })).ok, true);
  const bound = flashOf(probe);
  const writes = plan.count;
  assert.ok(writes >= 4 * 32, `${writes} persistent writes`);
  const bricked: string[] = [];
  for (let cut = 1; cut <= writes; cut++) {
    const s = base.clone();
    let what = '';
    assert.throws(
      () => bootDevice(Device.open(s, { faults: new FaultPlan(cut) })),
      (e: unknown) => {
        if (!(e instanceof PowerCut)) return false;
        what = e.what;
        return true;
      },
    );
    // Whatever the cut left: metadata that says BOUND and CMAC always comes with the right tag.
    const f = flashOf(s);
    for (let i = 0; i < 4; i++) {
      const a = slotsOf(f, i)[0];
      const m = tlvAt(f, a, META, 'unprotected');
      const t = tlvAt(f, a, TAG, 'unprotected');
      if (f[m] === 1 && f[m + 1] === 1)
        assert.deepEqual(f.subarray(t, t + 16), bound.subarray(t, t + 16), `cut ${cut}: image ${i} BOUND with a partial tag`);
    }
    const r = boot(s);
    // An image that ran on its tag ran on the one true tag (the uninterrupted boot's), never a partial one.
    for (const p of r.placed.filter((x) => x.authenticatedBy === 'binding-tag')) {
      const g = flashOf(s);
      const t = tlvAt(g, slotsOf(g, p.index)[0], TAG, 'unprotected');
      assert.deepEqual(g.subarray(t, t + 16), bound.subarray(t, t + 16), `cut ${cut}: image ${p.index} ran on a partial tag`);
    }
    if (!r.ok) {
      assert.equal(r.halt?.code, 'E_BINDING', `cut ${cut} (${what}): ${JSON.stringify(r.halt)}`);
      assert.match(r.halt?.reason ?? '', /invalid binding state 1 or algorithm 255/);
      bricked.push(what);
      // It stays so: the next boot stops the same way.
      assert.equal(boot(s).halt?.code, 'E_BINDING');
      continue;
    }
    // Recovered: every image bound (metadata bytes 2..15 may stay 0xFF: a bound image is not
    // bound again), with the right tag, and the boot after is by tag.
    const g = flashOf(s);
    for (let i = 0; i < 4; i++) {
      const a = slotsOf(g, i)[0];
      const m = tlvAt(g, a, META, 'unprotected');
      const t = tlvAt(g, a, TAG, 'unprotected');
      assert.deepEqual([g[m], g[m + 1]], [1, 1], `cut ${cut} (${what}): image ${i} bound`);
      assert.deepEqual(g.subarray(t, t + 16), bound.subarray(t, t + 16), `cut ${cut} (${what}): image ${i} tag`);
    }
    assert.ok(boot(s).placed.every((p) => p.authenticatedBy === 'binding-tag'));
  }
  // Exactly the cut between metadata bytes 0 and 1 of each image: byte 0 says BOUND, byte 1 is
  // still 0xFF, and pre-load refuses the state forever (TF-M 2.3.1 programs the metadata in place).
  assert.equal(bricked.length, 4, bricked.join('\n'));
  const f = bound;
  for (let i = 0; i < 4; i++) {
    const m = tlvAt(f, slotsOf(f, i)[0], META, 'unprotected');
    const addr = `0x${(0x08000000 + m + 1).toString(16).padStart(8, '0')}`;
    assert.ok(
      bricked.some((w) => w.includes(addr)),
      `image ${i}: the cut before metadata byte 1 (${addr}) bricks; got ${bricked.join(', ')}`,
    );
  }
});
