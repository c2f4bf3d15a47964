/**
 * Encrypted images on TF-M 2.3.1's BL2 (`MCUBOOT_ENC_IMAGES`) and their binding
 * (`MCUBOOT_IMAGE_BINDING` with it: `rse_bl2_binding_ccm.c`). The rse-2.3 example is rebuilt with
 * S and NS encrypted for a P-256 key (imgtool -E, ENC_EC256), AP and SCP BL1 plain; the device's
 * BL2 holds the private key. The CCM ciphertext and tag binding programs are recomputed by
 * Python's `cryptography` from the HUK and the plaintext alone.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bootDevice, type ChainReport } from '../../src/boot/chain.ts';
import { BL2_ENC_KEY_FILE, Device, FaultPlan, MemoryStore, PowerCut } from '../../src/device/device.ts';
import type { BuildResult } from '../../src/flash/images.ts';
import { readU16le, readU32le } from '../../src/lib/bytes.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { oracle, oracleSkip } from '../oracles.ts';
import {
  buildExample,
  type Description,
  exampleFixture,
  exampleValues,
  PYTHON_BINDING_KEY,
  provision23,
  slotsOf,
  tlvAt,
} from './examples.ts';

const META = 0xa4;
const TAG = 0xa5;
const fx = (): ReturnType<typeof exampleFixture> => exampleFixture('rse-2.3');
const flashOf = (s: MemoryStore): Uint8Array => s.read('flash.bin') as Uint8Array;
const boot = (s: MemoryStore): ChainReport => bootDevice(Device.open(s));
const failed = (r: ChainReport): string => JSON.stringify(r.checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`));
const der = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'pkcs8', format: 'der' }));

const ENC = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const OTHER = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

interface Builds {
  readonly withBinding: BuildResult;
  readonly without: BuildResult;
}
let builds: Builds | undefined;
/** The example with S and NS encrypted for ENC (with and without the binding placeholders). */
function encryptedBuilds(): Builds {
  if (builds !== undefined) return builds;
  const f = fx();
  writeFileSync(join(f.root, 'keys/enc-EC-P256.pem'), ENC.export({ type: 'pkcs8', format: 'pem' }));
  const mutate = (binding: boolean) => (d: Description) => {
    for (const i of d.images) {
      if (i.name === 'tfm_s' || i.name === 'tfm_ns') i.encrypt = '../keys/enc-EC-P256.pem';
      if (!binding) delete i['image-binding'];
    }
  };
  builds = { withBinding: buildExample(f, mutate(true)), without: buildExample(f, mutate(false)) };
  return builds;
}

/** A provisioned device (binding build unless told otherwise) with BL2 built to decrypt with `key`, the encrypted flash loaded. */
function device(o: { binding?: boolean; key?: KeyObject | null } = {}): MemoryStore {
  const binding = o.binding ?? true;
  const store = new MemoryStore();
  const key = o.key === undefined ? ENC : o.key;
  const { r } = provision23(fx().dir, store, exampleValues(fx()), {
    imageBinding: binding,
    ...(key === null ? {} : { encKey: der(key) }),
  });
  assert.equal(r.ok, true);
  const b = encryptedBuilds();
  store.write('flash.bin', (binding ? b.withBinding : b.without).hostFlash as Uint8Array);
  return store;
}

const payload = (name: string): Uint8Array => new Uint8Array(readFileSync(join(fx().root, 'payloads', name)));

test('an MCUBOOT_ENC_IMAGES build decrypts S and NS in RAM, validates the plaintext and measures it; plain images boot as before', () => {
  const s = device({ binding: false });
  assert.equal(Device.open(s).profile.bl2.encImages?.enabled, true);
  const r = boot(s);
  assert.equal(r.ok, true, failed(r));
  const decrypted = r.checks.filter((c) => c.check.endsWith(': decrypt')).map((c) => c.check);
  assert.deepEqual(decrypted, ['image 1 (NS) primary: decrypt', 'image 0 (S) primary: decrypt']);
  // The flash holds ciphertext; the runtime's RAM holds the plaintext the image was built from.
  const f = flashOf(s);
  const [sAt] = slotsOf(f, 0);
  const hdrSize = readU16le(f, sAt + 8);
  const code = payload('tfm_s.bin');
  assert.notDeepEqual(f.subarray(sAt + hdrSize, sAt + hdrSize + 64), code.subarray(0, 64));
  const placedS = r.placed.find((p) => p.index === 0);
  assert.equal(placedS?.authenticatedBy, 'signature');
  const dev = Device.open(s);
  const vm0 = dev.vm0;
  const off = (placedS?.loadAddress as number) - dev.profile.bl2.vm0 + hdrSize;
  assert.deepEqual(vm0.subarray(off, off + code.length), code);
  // What BL2 measures is the plain image's hash, as imgtool computed it before encrypting.
  const built = encryptedBuilds().without.images.find((i) => i.name === 'tfm_s');
  assert.equal(Buffer.from(r.measurements.find((m) => m.slot === 2)?.value as Uint8Array).toString('hex'), built?.imageHash);
});

test('images encrypted for another key, or for a build without MCUBOOT_ENC_IMAGES, do not boot; each says why', () => {
  const wrong = boot(device({ binding: false, key: OTHER }));
  assert.equal(wrong.ok, false);
  assert.equal(wrong.halt?.code, 'E_NO_IMAGE');
  assert.match(failed(wrong), /image 1 \(NS\) primary: decrypt.*does not unwrap with this BL2's key/);
  const plainBuild = boot(device({ binding: false, key: null }));
  assert.equal(plainBuild.ok, false);
  assert.match(failed(plainBuild), /image 1 \(NS\) primary: validate.*image hash mismatch/);
  // The key file is the build's: without it BL2 says so.
  const s = device({ binding: false });
  s.files.delete(BL2_ENC_KEY_FILE);
  assert.match(failed(boot(s)), /no decryption key \(bl2-enc-key\.der is missing/);
});

const PYTHON_CCM =
  PYTHON_BINDING_KEY +
  String.raw`
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
out = []
for im in inp["images"]:
    hdr = bytes.fromhex(im["header"])
    _, load, hdr_size, prot_size, img_size, flags = struct.unpack_from("<IIHHII", hdr, 0)
    major, minor, rev, build = struct.unpack_from("<BBHI", hdr, 20)
    version = (major | (minor << 16) | (rev << 32) | (build << 48)) & 0xFFFFFFFFFFFFFFFF
    ad = bytes([im["id"]]) + b"RSEBINDv1\0" + struct.pack("<IQI", flags, version, im["sec_cnt"])
    ct = AESCCM(key, tag_length=16).encrypt(bytes(12), bytes.fromhex(im["plain"]), ad)
    out.append({"ct": ct[:-16].hex(), "tag": ct[-16:].hex()})
print(json.dumps(out))
`;

interface Expected {
  readonly ct: Uint8Array;
  readonly tag: Uint8Array;
}

/** Python's CCM ciphertext and tag for each image of `flash` (primary header, SEC_CNT) over `plain`. */
function pythonCcm(s: MemoryStore, flash: Uint8Array, plain: readonly Uint8Array[]): Expected[] {
  const huk = Buffer.from(Device.open(s).otp.slice(LCM_OTP.huk, LCM_OTP.huk + 32)).toString('hex');
  const images = plain.map((p, id) => {
    const a = slotsOf(flash, id)[0];
    return {
      id,
      header: Buffer.from(flash.subarray(a, a + 32)).toString('hex'),
      sec_cnt: readU32le(flash, tlvAt(flash, a, 0x50, 'protected')),
      plain: Buffer.from(p).toString('hex'),
    };
  });
  const py = JSON.parse(
    execFileSync(oracle('python') as string, ['-c', PYTHON_CCM], { input: JSON.stringify({ huk, images }) }).toString(),
  ) as { ct: string; tag: string }[];
  return py.map((x) => ({ ct: new Uint8Array(Buffer.from(x.ct, 'hex')), tag: new Uint8Array(Buffer.from(x.tag, 'hex')) }));
}

/** The plaintext body BL2 binds for each image: S and NS decrypted; AP and SCP BL1 have no RAM window on an ENC build. */
const bodies = (): Uint8Array[] => [payload('tfm_s.bin'), payload('tfm_ns.bin'), new Uint8Array(0), new Uint8Array(0)];

test('binding an encrypted image: IN_PROGRESS, the payload re-encrypted with AES-CCM over the old ciphertext, the tag, BOUND, as Python computes it; the NOR flash then holds neither ciphertext and the next boot fails (upstream)', {
  skip: oracleSkip('python'),
}, () => {
  const s = device();
  const before = flashOf(s).slice();
  const r1 = boot(s);
  assert.equal(r1.ok, true, failed(r1));
  assert.deepEqual(
    r1.placed.map((p) => p.authenticatedBy),
    ['signature', 'signature', 'signature', 'signature'],
  );
  assert.match(
    JSON.stringify(r1.checks),
    /image 0 \(S\): binding","ok":true,"detail":"bound to this device: 16384 payload bytes re-encrypted/,
  );
  assert.match(JSON.stringify(r1.checks), /image 3 \(SCP BL1\): binding","ok":true,"detail":"bound to this device over an empty body/);
  const f = flashOf(s);
  const want = pythonCcm(s, f, bodies());
  for (let i = 0; i < 4; i++) {
    const a = slotsOf(f, i)[0];
    const m = tlvAt(f, a, META, 'unprotected');
    const t = tlvAt(f, a, TAG, 'unprotected');
    assert.equal(Buffer.from(f.subarray(m, m + 16)).toString('hex'), `01020c10${'00'.repeat(12)}`, `image ${i}: BOUND, CCM, nonce 0`);
    assert.deepEqual(f.subarray(t, t + 16), (want[i] as Expected).tag, `image ${i}: the tag is Python's`);
    // NOR programming only clears bits: the payload is the old ciphertext AND the CCM ciphertext.
    const h = readU16le(f, a + 8);
    const ct = (want[i] as Expected).ct;
    for (let k = 0; k < ct.length; k++)
      if (f[a + h + k] !== ((before[a + h + k] as number) & (ct[k] as number))) assert.fail(`image ${i}: payload byte ${k}`);
  }
  // The next boot: AP and SCP BL1 (plain) by signature, then NS fails CCM authentication in both slots.
  const r2 = boot(s);
  assert.equal(r2.ok, false);
  assert.equal(r2.halt?.code, 'E_NO_IMAGE');
  assert.equal(r2.halt?.image, 1);
  assert.match(failed(r2), /image 1 \(NS\) primary: binding CCM.*re-encrypted over old ciphertext without an erase/);
  assert.match(failed(r2), /image 1 \(NS\) secondary: binding CCM/);
  assert.deepEqual(
    r2.placed.map((p) => [p.index, p.authenticatedBy]),
    [
      [3, 'signature'],
      [2, 'signature'],
    ],
  );
});

/** A device bound on its first boot, its payloads then set to the pure CCM ciphertext (as a flash driver that erased first would leave them). */
function boundErased(): { s: MemoryStore; want: Expected[] } {
  const s = device();
  assert.equal(boot(s).ok, true);
  const f = flashOf(s).slice();
  const want = pythonCcm(s, f, bodies());
  for (let i = 0; i < 2; i++) {
    const a = slotsOf(f, i)[0];
    f.set((want[i] as Expected).ct, a + readU16le(f, a + 8));
  }
  s.write('flash.bin', f);
  return { s, want };
}

test('on a flash whose payload holds the CCM ciphertext, later boots decrypt and authenticate S and NS by the tag, without signature or MCUboot decryption', {
  skip: oracleSkip('python'),
}, () => {
  const { s } = boundErased();
  const r = boot(s);
  assert.equal(r.ok, true, failed(r));
  assert.deepEqual(
    r.placed.map((p) => [p.index, p.authenticatedBy]),
    [
      [3, 'signature'],
      [2, 'signature'],
      [1, 'binding-tag'],
      [0, 'binding-tag'],
    ],
  );
  assert.ok(
    !r.checks.some((c) => /image [01] .*: (validate|decrypt)$/.test(c.check)),
    'no signature check or MCUboot decryption for S and NS',
  );
  assert.match(JSON.stringify(r.checks), /payload decrypted and authenticated \(AES-CCM\)/);
  const dev = Device.open(s);
  const p = r.placed.find((x) => x.index === 0);
  const off = (p?.loadAddress as number) - dev.profile.bl2.vm0 + 0x400;
  assert.deepEqual(dev.vm0.subarray(off, off + 16384), payload('tfm_s.bin'));
});

test('CCM binding attacks: a flipped tag bit, a flipped payload bit, a bound flash on another device, a raised NV counter: each refused with its reason', {
  skip: oracleSkip('python'),
}, () => {
  const { s } = boundErased();
  const cases: [string, (st: MemoryStore, f: Uint8Array) => void, RegExp][] = [
    ['tag', (_st, f) => flip(f, tlvAt(f, slotsOf(f, 0)[0], TAG, 'unprotected'), 1), /image 0 \(S\) primary: binding CCM/],
    ['payload', (_st, f) => flip(f, slotsOf(f, 1)[0] + 0x500, 0x80), /image 1 \(NS\) primary: binding CCM/],
    [
      'another device',
      (st) => {
        const otp = (st.read('otp.bin') as Uint8Array).slice();
        // Another device's HUK: the same bytes reversed (same zero count).
        otp.set(otp.slice(LCM_OTP.huk, LCM_OTP.huk + 32).reverse(), LCM_OTP.huk);
        st.write('otp.bin', otp);
      },
      /image 1 \(NS\) primary: binding CCM.*bound on another device/,
    ],
    [
      'rollback',
      (st) => {
        const d = Device.open(st);
        d.plat.setCounter('dynamic.security_version_counters_bank_0_1', 5);
      },
      /image 0 \(S\) primary: binding rollback.*security counter 1 is below NV counter/,
    ],
  ];
  for (const [name, prepare, why] of cases) {
    const st = new MemoryStore();
    for (const [k, v] of s.files) st.files.set(k, v.slice());
    const f = flashOf(st);
    prepare(st, f);
    st.write('flash.bin', f);
    const r = boot(st);
    assert.equal(r.ok, false, name);
    assert.equal(r.halt?.code, 'E_NO_IMAGE', name);
    assert.match(failed(r), why, name);
  }
});

function flip(f: Uint8Array, at: number, mask: number): void {
  f[at] = (f[at] as number) ^ mask;
}

/** A fault plan that records what each persistent write is. */
class Recorder extends FaultPlan {
  readonly seen: string[] = [];
  override point(what: string): void {
    this.seen.push(what);
    super.point(what);
  }
}

test('a power cut during CCM binding: never a run on an unauthenticated payload; 16 brick windows per image, and on NOR no way back to a bootable device (upstream)', () => {
  const base = device();
  const probe = new Recorder();
  const pm = new MemoryStore();
  for (const [k, v] of base.files) pm.files.set(k, v.slice());
  assert.equal(bootDevice(Device.open(pm, { faults: probe })).ok, true);
  const flashWrites = probe.seen.map((w, i) => [i + 1, w] as const).filter(([, w]) => w.includes('host-flash program'));
  // 4 × (16 + 16 + 16) metadata and tag bytes, and the 16384 + 8192 payload bytes.
  assert.equal(flashWrites.length, 4 * 48 + 16384 + 8192);
  // Every metadata and tag byte (runs of 16), and the first and last byte of each 1 KiB payload chunk.
  const addr = (x: string): number => Number.parseInt(x.slice(x.lastIndexOf('0x')), 16);
  const runs: (readonly [number, string])[][] = [];
  for (const w of flashWrites) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (run !== undefined && last !== undefined && addr(w[1]) === addr(last[1]) + 1) run.push(w);
    else runs.push([w]);
  }
  const cuts = runs.flatMap((run) =>
    run.length <= 16 ? run : run.filter((_w, k) => k === 0 || k === run.length - 1 || k % 1024 === 0 || k % 1024 === 1023),
  );
  assert.ok(cuts.length > 100 && cuts.length < 400, `${cuts.length} cuts`);
  const f0 = flashOf(base);
  const s0 = 0x08000000 + slotsOf(f0, 0)[0];
  const inS = (w: string): boolean => addr(w) >= s0 && addr(w) < s0 + 0x60000;
  const outcomes = new Map<string, number>();
  for (const [cut, what] of cuts) {
    const s = new MemoryStore();
    for (const [k, v] of base.files) s.files.set(k, v.slice());
    assert.throws(
      () => bootDevice(Device.open(s, { faults: new FaultPlan(cut) })),
      (e: unknown) => e instanceof PowerCut,
      what,
    );
    const r = boot(s);
    // Whatever ran on its tag ran on an authenticated payload: the RAM holds the true plaintext.
    const dev = Device.open(s);
    for (const p of r.placed.filter((x) => x.index === 0 && x.authenticatedBy === 'binding-tag')) {
      const code = payload('tfm_s.bin');
      const at = p.loadAddress - dev.profile.bl2.vm0 + 0x400;
      assert.deepEqual(dev.vm0.subarray(at, at + code.length), code, `cut ${cut} (${what}): S ran on a payload that is not its own`);
    }
    const outcome = r.ok ? 'boots' : `${r.halt?.code} at image ${r.halt?.image}`;
    if (inS(what)) {
      // NS was bound before S (images load 3 → 0), over its old ciphertext: it fails whatever S's state.
      assert.equal(outcome, 'E_NO_IMAGE at image 1', `cut ${cut} (${what}): ${failed(r)}`);
      continue;
    }
    // A device that booted has bound NS again, over its mixed payload: the boot after fails.
    if (r.ok) assert.equal(boot(s).halt?.code, 'E_NO_IMAGE', `cut ${cut} (${what}): the boot after the recovery`);
    if (r.halt?.code === 'E_BINDING') assert.match(r.halt.reason, /invalid binding state 127 or algorithm 2/, `cut ${cut} (${what})`);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // SCP BL1, AP BL1 and NS: a cut after the first tag byte and before metadata byte 0 turns BOUND
  // leaves IN_PROGRESS metadata beside a partial (or whole) tag, which pre-load refuses forever:
  // 16 cuts per image. A cut after that byte leaves NS bound, on NOR-mixed ciphertext: the 15 cuts
  // before metadata bytes 1..15 fail as the uninterrupted binding's next boot does. Every other cut
  // boots again on the next reset (NS from the secondary once its primary payload is half
  // re-encrypted), binds again, and the boot after that fails.
  assert.deepEqual(
    [...outcomes.entries()].filter(([o]) => o !== 'boots'),
    [
      ['E_BINDING at image 3', 16],
      ['E_BINDING at image 2', 16],
      ['E_BINDING at image 1', 16],
      ['E_NO_IMAGE at image 1', 15],
    ],
  );
  assert.ok((outcomes.get('boots') ?? 0) > 3 * 32, JSON.stringify([...outcomes]));
});
