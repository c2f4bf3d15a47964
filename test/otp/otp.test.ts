import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createDevice, provisionRun } from '../../src/boot/power-on.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { LCM_OTP, Lcm, LcmError, lcsFromOtp, OTP_SIZE } from '../../src/otp/lcm.ts';
import { decodeCounter, encodeCounter, PlatOtp } from '../../src/otp/plat-otp.ts';
import { layoutProblems, OTP_RSE_2_1, OTP_RSS_1_7, otpField } from '../../src/profiles/otp-layout.ts';
import { assertBitFlipsDetected, dummyBundles, freshDevice } from '../provisioning/helpers.ts';

test('rse-2.1 OTP offsets of section 2.2', () => {
  const L = OTP_RSE_2_1;
  const expect: Record<string, number> = {
    cm_locked_size: 0xf8,
    cm_zero_count: 0x104,
    dm_locked_size: 0x108,
    bl1_2_image_len: 0x118,
    cca_system_properties: 0x11c,
    bl1_rotpk_0: 0x128,
    bl2_rotpk_0: 0x160,
    iak_len: 0x1e0,
    implementation_id: 0x208,
    verification_service_url: 0x228,
    profile_definition: 0x248,
    secure_debug_pk: 0x268,
    host_rotpk_s: 0x288,
    host_rotpk_ns: 0x2e8,
    host_rotpk_cca: 0x348,
    dm_config_flags: 0x3a8,
    rse_id: 0x3ac,
    bl2_encryption_key: 0x3b0,
    s_image_encryption_key: 0x3d0,
    ns_image_encryption_key: 0x3f0,
    runtime_otp_encryption_key: 0x410,
    nv_counter_bl1_0: 0x430,
    nv_counter_bl2_0: 0x470,
    nv_counter_ns_0: 0x570,
    reprovisioning_bits: 0x630,
    bl1_2_image: 0x1c00,
    dma_ics: 0x3c00,
  };
  for (const [name, off] of Object.entries(expect)) assert.equal(otpField(L, name)?.offset, off, name);
  assert.deepEqual(L.dmLocked, { offset: 0x128, size: 0x308 });
  assert.deepEqual(layoutProblems(L), []);
  const R = OTP_RSS_1_7;
  assert.equal(otpField(R, 'bl1_2_image_hash')?.offset, 0xa90);
  assert.equal(otpField(R, 'bl1_rotpk_0')?.offset, 0x12f0);
  assert.equal(otpField(R, 'cca_system_properties')?.offset, 0x1448);
  assert.equal(otpField(R, 'bl1_2_image')?.offset, 0x144c);
  assert.deepEqual(layoutProblems(R), []);
});

test('fuse semantics: OR writes, read-back verify failure, alignment and bounds are fatal', () => {
  const lcm = new Lcm(new Uint8Array(OTP_SIZE));
  lcm.otpWrite(0x400, Uint8Array.of(1, 0, 0, 0));
  lcm.otpWrite(0x400, Uint8Array.of(3, 0, 0, 0));
  assert.deepEqual(lcm.otpRead(0x400, 4), Uint8Array.of(3, 0, 0, 0));
  assert.throws(
    () => lcm.otpWrite(0x400, Uint8Array.of(2, 0, 0, 0)),
    (e: unknown) => e instanceof LcmError && e.kind === 'WRITE_VERIFY_FAIL' && e.otpOffset === 0x400,
  );
  assert.deepEqual(lcm.otpRead(0x400, 4), Uint8Array.of(3, 0, 0, 0));
  assert.throws(
    () => lcm.otpWrite(0x401, new Uint8Array(4)),
    (e: unknown) => e instanceof LcmError && e.kind === 'INVALID_OFFSET',
  );
  assert.equal(lcm.fatalMode, true);
  const lcm2 = new Lcm(new Uint8Array(OTP_SIZE));
  assert.throws(
    () => lcm2.otpWrite(OTP_SIZE - 4, new Uint8Array(8)),
    (e: unknown) => e instanceof LcmError && e.kind === 'INVALID_OFFSET',
  );
});

test('NV counters: thermometer and magic-word encodings round-trip; lowering fails; max enforced', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 512 }), (v) => {
      assert.equal(decodeCounter('bits', encodeCounter('bits', v, 64)), v);
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 16 }), (v) => {
      assert.equal(decodeCounter('magic-words', encodeCounter('magic-words', v, 64)), v);
    }),
  );
  const { dev } = freshDevice();
  dev.plat.setCounter('nv_counter_ns_0', 40);
  assert.equal(dev.plat.incrementCounter('nv_counter_ns_0'), 41);
  assert.throws(() => dev.plat.setCounter('nv_counter_ns_0', 3), { kind: 'SYSTEM_ERR' });
  assert.equal(dev.plat.readCounter('nv_counter_ns_0'), 41);
  assert.throws(() => dev.plat.setCounter('nv_counter_ns_0', 513), { kind: 'MAX_VALUE' });
});

const RANK = { CM: 0, DM: 1, SE: 2, RMA: 3, INVALID: 9 } as const;

test('no sequence of OTP writes lowers an NV counter or moves the LCS backwards', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('write' as const), word: fc.nat(OTP_SIZE / 4 - 1), v: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ t: fc.constant('counter' as const), c: fc.constantFrom('nv_counter_bl1_0', 'nv_counter_ns_1'), v: fc.nat(512) }),
    fc.record({ t: fc.constant('lcs' as const), to: fc.constantFrom('DM' as const, 'SE' as const, 'RMA' as const, 'CM' as const) }),
    fc.record({ t: fc.constant('reset' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const otp = new Uint8Array(OTP_SIZE);
      const lcm = new Lcm(otp);
      const plat = new PlatOtp(lcm, OTP_RSE_2_1, () => new Uint8Array(32));
      let rank = RANK[lcsFromOtp(otp)];
      const counters = { nv_counter_bl1_0: 0, nv_counter_ns_1: 0 } as Record<string, number>;
      for (const o of ops) {
        try {
          if (o.t === 'write') lcm.otpWrite(o.word * 4, Uint8Array.of(o.v & 0xff, (o.v >>> 8) & 0xff, (o.v >>> 16) & 0xff, o.v >>> 24));
          else if (o.t === 'counter') plat.setCounter(o.c, o.v);
          else if (o.t === 'lcs') {
            lcm.setSpEnabled();
            lcm.setLcs(o.to);
          } else lcm.coldReset();
        } catch {
          lcm.coldReset();
        }
        const now = RANK[lcsFromOtp(otp)];
        assert.ok(now >= rank, `LCS went from rank ${rank} to ${now}`);
        rank = now;
        for (const c of Object.keys(counters)) {
          let v: number;
          try {
            v = plat.readCounter(c);
          } catch {
            continue;
          }
          assert.ok(v >= (counters[c] as number), `${c} went from ${counters[c]} to ${v}`);
          counters[c] = v;
        }
      }
    }),
    { numRuns: 200 },
  );
});

test('a single bit flip anywhere in a locked area or its integrity words is detected at the next init', () => {
  const store = new MemoryStore();
  createDevice(store, { profile: 'rse-2.1' });
  const { cm, dm } = dummyBundles('TCI');
  assert.equal(provisionRun(Device.open(store), { cm, dm }).ok, true);
  // CM-locked, DM-locked, the size/zero-count words and the LCM ROTPK slot (hardware zero count).
  const regions: [number, number][] = [
    [0xf8, 0x118],
    [0x118, 0x128],
    [0x128, 0x430],
    [LCM_OTP.rotpk, LCM_OTP.rotpk + 32],
  ];
  assertBitFlipsDetected(store, regions, 0x400 * 8, 300);
});
