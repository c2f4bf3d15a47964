import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { createDevice, powerOn, provisionRun } from '../../src/boot/power-on.ts';
import { hash } from '../../src/crypto/index.ts';
import { Device, FaultPlan, MemoryStore, PowerCut } from '../../src/device/device.ts';
import { readU32le } from '../../src/lib/bytes.ts';
import { RseError } from '../../src/lib/errors.ts';
import { LCM_OTP, lcsFromOtp, zeroBits } from '../../src/otp/lcm.ts';
import { OTP_RSS_1_7, otpField } from '../../src/profiles/otp-layout.ts';
import {
  AT_MAGIC,
  DUMMY17,
  decodeRomBundle,
  encodeRomBundle,
  ROM_BUNDLE_OFFSET,
  ROM_BUNDLE_SIZE,
  romBundleInputs,
  TFM_DATA_FILE,
} from '../../src/provisioning/rss17.ts';
import { DUMMY, placeholderBl1_2 } from '../../src/provisioning/values.ts';
import { flipBits } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';
import { assertBitFlipsDetected } from './helpers.ts';

const R = OTP_RSS_1_7;
const noFiles = (p: string): Uint8Array => {
  throw new Error(`unexpected file ${p}`);
};
const romBundle = (): Uint8Array => encodeRomBundle(romBundleInputs({}, noFiles));

function fresh(faults?: FaultPlan, dummy = true): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rss-1.7', dummyProvisioning: dummy });
  return { store, dev: Device.open(store, faults === undefined ? {} : { faults }) };
}

const field = (dev: Device, name: string): Uint8Array => {
  const f = otpField(R, name);
  if (f === undefined) throw new Error(name);
  return dev.otp.subarray(f.offset, f.offset + f.size);
};
const startsWith = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a.subarray(0, b.length), b) === 0;

/** Every value the three stages write, read back from the raw OTP. */
function complete(dev: Device): boolean {
  const image = placeholderBl1_2();
  return (
    startsWith(dev.otp.subarray(LCM_OTP.guk), DUMMY17.guk) &&
    startsWith(dev.otp.subarray(LCM_OTP.huk), DUMMY17.huk) &&
    startsWith(dev.otp.subarray(LCM_OTP.rotpk), DUMMY.bl2_rotpk['rsa-3072'][0]) &&
    startsWith(field(dev, 'bl2_rotpk_1'), DUMMY.bl2_rotpk['rsa-3072'][1]) &&
    startsWith(field(dev, 'bl2_encryption_key'), DUMMY17.bl2_encryption_key) &&
    startsWith(field(dev, 'bl1_2_image'), image) &&
    startsWith(field(dev, 'bl1_2_image_hash'), hash('sha256', image)) &&
    startsWith(field(dev, 'bl1_rotpk_0'), DUMMY17.bl1_rotpk_0) &&
    startsWith(field(dev, 'host_rotpk_cca'), DUMMY17.host_rotpk) &&
    startsWith(field(dev, 'boot_seed'), DUMMY17.boot_seed) &&
    startsWith(field(dev, 'cert_ref'), new TextEncoder().encode('0604565272829-10010\0')) &&
    readU32le(field(dev, 'cca_system_properties')) === 0xdeadbeef &&
    dev.plat.integrityProblems('SE').length === 0
  );
}

test('the ROM bundle packs exactly as create_provisioning_bundle.py lays it out (struct "<4s32s32s32s32s8192s56s")', () => {
  const inputs = romBundleInputs({ rom: { bl2_image_hash: '11'.repeat(32), guk: '22'.repeat(32) } }, noFiles);
  const b = encodeRomBundle(inputs);
  assert.equal(b.length, ROM_BUNDLE_SIZE);
  assert.equal(ROM_BUNDLE_SIZE, 4 + 4 * 32 + 0x2000 + 56);
  assert.equal(readU32le(b, 0), AT_MAGIC);
  const back = decodeRomBundle(b);
  assert.deepEqual(back.bl1_2ImageHash, hash('sha256', back.bl1_2Image));
  assert.deepEqual(back.bl1Rotpk0, DUMMY17.bl1_rotpk_0);
  // Wrong magic, short input: refused with codes.
  const bad = b.slice();
  flipBits(bad, 0, 1);
  assert.throws(
    () => decodeRomBundle(bad),
    (e: unknown) => e instanceof RseError && e.code === 'E_BAD_MAGIC',
  );
  assert.throws(
    () => decodeRomBundle(b.subarray(0, 100)),
    (e: unknown) => e instanceof RseError && e.code === 'E_TRUNCATED',
  );
});

test("an independent packing of the ROM bundle with Python's struct module gives the same bytes", { skip: oracleSkip('python') }, () => {
  const inputs = romBundleInputs({ rom: { bl2_image_hash: '11'.repeat(32), guk: '22'.repeat(32) } }, noFiles);
  const b = encodeRomBundle(inputs);
  const py = spawnSync(
    oracle('python') as string,
    [
      '-c',
      'import struct,sys\nd=sys.stdin.buffer.read()\nparts=[d[0:32],d[32:64],d[64:96],d[96:128],d[128:128+8192],d[128+8192:]]\n' +
        'sys.stdout.buffer.write(struct.pack("<I32s32s32s32s8192s56s",0xC0DEFEED,*parts))',
    ],
    {
      input: Buffer.concat([
        inputs.bl2EncryptionKey,
        inputs.guk,
        inputs.bl1_2ImageHash,
        inputs.bl2ImageHash,
        inputs.bl1_2Image,
        inputs.bl1Rotpk0,
      ]),
    },
  );
  assert.equal(py.status, 0, py.stderr.toString());
  assert.deepEqual(new Uint8Array(py.stdout), b);
});

test('rss-1.7: Virgin → TCI → CM → DM → SE through the BL1_1, BL2 and TF-M stages, no debugger', () => {
  const { dev } = fresh();
  const r = provisionRun(dev, { romBundle: romBundle() });
  assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
  assert.deepEqual(
    r.stages.map((s) => [s.lcs, s.tpMode, s.summary]),
    [
      ['CM', 'VIRGIN', 'TP mode TCI set, cold reset'],
      ['CM', 'TCI', 'TF-M moved the LCS to DM, cold reset'],
      ['DM', 'TCI', 'TF-M moved the LCS to SE, cold reset'],
      ['SE', 'TCI', 'BL1_1 hands over to BL1_2'],
    ],
  );
  const cmBoot = r.stages[1]?.events.map((e) => e.message.split(':')[0]) ?? [];
  assert.deepEqual(cmBoot.slice(1, 5), [
    'BL1_1',
    'BL1_2 and BL2 image verification are not modelled in this step; BL2 provisioning runs',
    'BL2',
    'TF-M',
  ]);
  assert.ok(complete(dev));
  assert.equal(lcsFromOtp(dev.otp), 'SE');
  // The BL2 ROTPK 0 lives in the LCM ROTPK slot with its hardware zero count in cm_config_2.
  assert.equal(readU32le(dev.otp, LCM_OTP.cm_config_2) & 0xff, zeroBits(DUMMY.bl2_rotpk['rsa-3072'][0]));
  // Each field's zero-count word was written with it.
  const seed = otpField(R, 'boot_seed');
  assert.equal(readU32le(dev.otp, seed?.zeroCountAt ?? -1), zeroBits(DUMMY17.boot_seed));
  const again = powerOn(dev);
  assert.equal(again.result.kind, 'ready');
});

test('rss-1.7: a ROM without the bundle stops BL1_1 in CM; a non-dummy BL2 stops at BL2', () => {
  const { dev } = fresh();
  const r = provisionRun(dev, {});
  assert.equal(r.ok, false);
  assert.equal(r.final.result.kind === 'halt' && r.final.result.code, 'E_BAD_MAGIC');
  assert.equal(lcsFromOtp(dev.otp), 'CM');
  assert.ok(field(dev, 'bl2_encryption_key').every((b) => b === 0));

  const { dev: nd } = fresh(undefined, false);
  const r2 = provisionRun(nd, { romBundle: romBundle() });
  assert.equal(r2.ok, false);
  assert.match(r2.final.result.kind === 'halt' ? r2.final.result.reason : '', /^BL2: no valid ASSEMBLY_AND_TEST/);
  // BL1_1's part is in, BL2's is not.
  assert.ok(startsWith(field(nd, 'bl1_rotpk_0'), DUMMY17.bl1_rotpk_0));
  assert.ok(nd.otp.subarray(LCM_OTP.rotpk, LCM_OTP.rotpk + 32).every((b) => b === 0));
  // CM and DM bundles are not for this profile.
  assert.throws(
    () => provisionRun(nd, { cm: new Uint8Array(4) }),
    (e: unknown) => e instanceof RseError && e.code === 'E_USAGE',
  );
});

test('rss-1.7: a corrupted TF-M data struct is refused (no PSA_ROT magic) with the LCS left in DM', () => {
  const { store, dev } = fresh();
  const tfm = store.read(TFM_DATA_FILE) as Uint8Array;
  flipBits(tfm, 36, 0xff);
  const r = provisionRun(dev, { romBundle: romBundle(), tfmData: tfm });
  assert.equal(r.ok, false);
  assert.equal(r.final.lcs, 'DM');
  assert.match(r.final.result.kind === 'halt' ? r.final.result.reason : '', /PSA_ROT/);
});

test('rss-1.7 power-cut campaign: every cut point finishes after a reboot (every write is deterministic)', () => {
  const counting = new FaultPlan();
  assert.equal(provisionRun(fresh(counting).dev, { romBundle: romBundle() }).ok, true);
  const total = counting.count;
  assert.ok(total > 25, `only ${total} program operations`);
  for (let n = 1; n <= total; n++) {
    const { store, dev } = fresh(new FaultPlan(n));
    assert.throws(() => provisionRun(dev, { romBundle: romBundle() }), PowerCut, `cut ${n}`);
    const back = Device.open(store);
    const r = provisionRun(back, {});
    assert.equal(r.ok, true, `cut ${n}: ${r.final.result.kind} ${back.json.lastBoot}`);
    assert.ok(complete(back), `cut ${n}: SE without every value`);
  }
});

test('rss-1.7: a single bit flip in any checked field, its zero-count word or the ROTPK slot is detected in SE', () => {
  const { store, dev } = fresh();
  assert.equal(provisionRun(dev, { romBundle: romBundle() }).ok, true);
  const names = [
    'boot_seed',
    'implementation_id',
    'cert_ref',
    'bl2_rotpk_2',
    'bl2_encryption_key',
    'bl1_rotpk_0',
    'host_rotpk_ns',
    'cca_system_properties',
  ];
  const regions: [number, number][] = names.flatMap((n) => {
    const f = otpField(R, n);
    if (f?.zeroCountAt === undefined) throw new Error(n);
    return [
      [f.offset, f.offset + f.size],
      [f.zeroCountAt, f.zeroCountAt + 4],
    ] as [number, number][];
  });
  regions.push([LCM_OTP.rotpk, LCM_OTP.rotpk + 32]);
  assertBitFlipsDetected(store, regions, 96 * 8, 200);
  // The ROM bundle sits where BL1_1 reads it.
  assert.equal(readU32le(store.read('rom.bin') as Uint8Array, ROM_BUNDLE_OFFSET), AT_MAGIC);
});
