/**
 * Provisioning a `rse-2.3` device by messages, as TF-M 2.3.1's BL1_1 does it: the TP mode taken
 * from the first message, SP mode, CM → DM → SE with asymmetric (ECDSA P-256 + AES-CTR) and
 * symmetric (AES-CCM) blobs, combined blobs, the OTP area infos and zero counts the firmware
 * writes, and a crafted message for each refusal of the handler (nothing written to OTP then).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDevice, powerOn, provisionRun, stageMessage } from '../../src/boot/power-on.ts';
import { generateKey, rawPublicKey } from '../../src/crypto/index.ts';
import { Device, MemoryStore } from '../../src/device/device.ts';
import { readU32le, u32le } from '../../src/lib/bytes.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { integrityProblems23, zcRegion } from '../../src/otp/zero-count-2.3.ts';
import { RSE_2_3, type RseProfile, registerRseProfile } from '../../src/profiles/index.ts';
import { decodeBlob, encodeBlob } from '../../src/provisioning/message.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { provisioningKey23, ROM_ROTPK_FILE, rsekitProvisioningCode } from '../../src/provisioning/messages-rom.ts';
import { testTrng } from './helpers.ts';

import { CM, file, key, signer, spec } from './helpers-2.3.ts';

const SYM: RseProfile = {
  ...RSE_2_3,
  name: 'test-rse-2.3-symmetric',
  provisioning: {
    ...RSE_2_3.provisioning,
    messages: { ...(RSE_2_3.provisioning.messages as NonNullable<RseProfile['provisioning']['messages']>), symmetric: true },
  },
};
registerRseProfile(SYM);

function device(profile: RseProfile = RSE_2_3, rotpk = signer): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  createDevice(store, { profile, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(rotpk).subarray(1) } });
  return { store, dev: Device.open(store, { trng: testTrng() }) };
}

test('rse-2.3: asymmetric CM then DM messages take a Virgin device to SE, with every zero count the firmware writes', () => {
  const { dev } = device();
  const r = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm'))] });
  assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
  assert.equal(r.final.lcs, 'SE');
  assert.equal(dev.lcm.tpMode, 'TCI');
  assert.deepEqual(dev.otp.subarray(LCM_OTP.guk, LCM_OTP.guk + 32), key(0x11));
  assert.deepEqual(dev.otp.subarray(LCM_OTP.kce_dm, LCM_OTP.kce_dm + 32), key(0x55));
  assert.deepEqual(dev.plat.read('bl1_2.bl1_2_hash').subarray(0, 32), CM.bl1_2Hash);
  assert.equal(readU32le(dev.plat.read('cm.entropy_config.high_threshold')), 821);
  assert.notDeepEqual(dev.plat.read('dm.rotpk_areas_0.rotpk_1'), new Uint8Array(32));
  assert.deepEqual(integrityProblems23(dev.otp, 'SE'), []);
  for (const [id, area] of [
    ['area', 'cm'],
    ['area', 'bl1_2'],
    ['area', 'dm'],
    ['rotpk', 'cm'],
    ['rotpk', 'dm'],
  ] as const)
    assert.notEqual(readU32le(dev.otp, zcRegion(dev.otp, id, area).zcAt), 0, `${id} ${area} has a zero count`);
  // Stages: TP mode from the message, SP mode, CM, then SP mode, DM, then SE hands over to BL1_2.
  assert.ok(r.stages.length >= 4);
});

test('rse-2.3: symmetric (AES-CCM) messages and a combined blob reach SE too', () => {
  const sym = device(SYM);
  const ccm = { auth: { kind: 'ccm' } as const };
  const r1 = provisionRun(sym.dev, { messages: [buildProvisioningMessage(spec('cm', ccm)), buildProvisioningMessage(spec('dm', ccm))] });
  assert.equal(r1.ok, true, r1.stages.map((s) => s.summary).join('\n'));
  const comb = device();
  const r2 = provisionRun(comb.dev, { messages: [buildProvisioningMessage(spec('combined'))] });
  assert.equal(r2.ok, true, r2.stages.map((s) => s.summary).join('\n'));
  assert.deepEqual(comb.dev.otp.subarray(LCM_OTP.kp_dm, LCM_OTP.kp_dm + 32), key(0x44));
});

/** Takes a device to CM with TP mode and SP mode set, then feeds `msg`; returns the outcome and whether OTP changed. */
function refusal(
  msg: Uint8Array,
  profile: RseProfile = RSE_2_3,
  lcs: 'CM' | 'DM' = 'CM',
  setup?: (dev: Device) => void,
): { code: string; otpChanged: boolean; events: string } {
  const { dev } = device(profile);
  if (lcs === 'DM') {
    const r = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm'))] });
    assert.equal(r.final.lcs, 'DM');
  } else {
    stageMessage(dev, buildProvisioningMessage(spec('cm')));
    powerOn(dev); // TP mode TCI from the message; cold reset
  }
  setup?.(dev);
  stageMessage(dev, msg);
  const before = dev.otp.slice();
  let r = powerOn(dev);
  if (r.result.kind === 'cold-reset') r = powerOn(dev);
  const changed = Buffer.compare(before.subarray(0, 0x2cfc), dev.otp.subarray(0, 0x2cfc)) !== 0;
  return {
    code: r.result.kind === 'halt' ? r.result.code : r.result.kind,
    otpChanged: changed,
    events: r.events.map((e) => e.message).join(' | '),
  };
}

const good = (): Uint8Array => buildProvisioningMessage(spec('cm'));
const patched = (m: Uint8Array, at: number, v: number): Uint8Array => {
  const b = m.slice();
  b.set(u32le(v >>> 0), at);
  return b;
};

/** The CM message with its body parts replaced (`part` grown to `size` bytes), signed again. */
function grown(part: 'code' | 'data' | 'secretValues', size: number): Uint8Array {
  const m = decodeBlob(good());
  const body = { code: new Uint8Array(32), data: new Uint8Array(16), secretValues: new Uint8Array(96), [part]: new Uint8Array(size) };
  return encodeBlob(m.header, body, { kind: 'ecdsa', signingKey: signer, encryptionKey: provisioningKey23(new Uint8Array(32), 'CM', 0) });
}

const REFUSALS: readonly {
  name: string;
  msg: () => Uint8Array;
  code: string;
  lcs?: 'DM';
  profile?: RseProfile;
  setup?: (dev: Device) => void;
}[] = [
  { name: 'unknown message type', msg: () => patched(good(), 0, 0x5555aaaa), code: 'waiting' },
  {
    name: 'a plain data message in BL1_1',
    msg: () => patched(good(), 0, 0x3333da7a),
    code: 'TFM_PLAT_ERR_PROVISIONING_MESSAGE_NO_PLAIN_DATA_HANDLER',
  },
  { name: 'a certificate in BL1_1', msg: () => patched(good(), 0, 0x2222ce57), code: 'TFM_PLAT_ERR_PROVISIONING_MESSAGE_NO_CERT_HANDLER' },
  { name: 'oversized data_length', msg: () => patched(good(), 4, 0x7fffffff), code: 'TFM_PLAT_ERR_PROVISIONING_MESSAGE_INVALID_SIZE' },
  {
    name: 'truncated (sizes do not fill the message)',
    msg: () => {
      const m = good();
      return patched(m, 4, readU32le(m, 4) - 16);
    },
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_SIZE',
  },
  {
    name: 'wrong LCS (a DM blob in CM)',
    msg: () => buildProvisioningMessage(spec('dm')),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_PURPOSE',
  },
  { name: 'replay (the CM blob again in DM)', msg: good, code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_PURPOSE', lcs: 'DM' },
  {
    name: 'wrong TP mode (PCI blob on a TCI device)',
    msg: () => buildProvisioningMessage(spec('cm', { tpMode: 'PCI' })),
    code: 'TFM_PLAT_ERR_PROVISIONING_INVALID_TP_MODE',
  },
  {
    name: 'bad signature (another key)',
    msg: () => buildProvisioningMessage(spec('cm', { auth: { kind: 'ecdsa', key: generateKey('ecdsa-p256') } })),
    code: 'PSA_ERROR_INVALID_SIGNATURE',
  },
  {
    name: 'bad tag (AES-CCM under another KRTL)',
    msg: () => buildProvisioningMessage(spec('cm', { auth: { kind: 'ccm' }, krtl: key(9) })),
    code: 'PSA_ERROR_INVALID_SIGNATURE',
    profile: SYM,
  },
  {
    name: 'a symmetric blob on an asymmetric ROM',
    msg: () => buildProvisioningMessage(spec('cm', { auth: { kind: 'ccm' } })),
    code: 'TFM_PLAT_ERR_PROVISIONING_SIGNATURE_TYPE_NOT_SUPPORTED',
  },
  {
    name: 'personalised for another SoC UID',
    msg: () => buildProvisioningMessage(spec('cm', { socUid: new Uint8Array(12).fill(7) })),
    code: 'TFM_PLAT_ERR_PROVISIONING_INVALID_BLOB_PERSONALIZATION',
  },
  {
    name: 'chained as a first message',
    msg: () => patched(good(), 0x70, readU32le(good(), 0x70) | (1 << 27)),
    code: 'TFM_PLAT_ERR_PROVISIONING_INVALID_MESSAGE_SEQUENCING',
  },
  {
    name: 'no code',
    msg: () => {
      const m = good();
      const b = patched(m, 0x94, 0);
      return patched(b, 0x98, readU32le(m, 0x98) + readU32le(m, 0x94));
    },
    code: 'TFM_PLAT_ERR_PROVISIONING_BLOB_ZERO_CODE_SIZE',
  },
  {
    name: 'code and data encrypted, secrets not',
    msg: () => patched(good(), 0x6c, (readU32le(good(), 0x6c) & ~0xf) | 1),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_DECRYPTION_CONFIG',
  },
  {
    name: 'signed by a DM ROTPK',
    msg: () => patched(good(), 0x6c, (3 << 28) | (2 << 26) | 4),
    code: 'TFM_PLAT_ERR_PROVISIONING_BLOB_INVALID_DM_ROTPK_SIGNATURE',
  },
  {
    name: 'a CCM tag shorter than 16 bytes',
    msg: () => patched(buildProvisioningMessage(spec('cm', { auth: { kind: 'ccm' } })), 8, 8),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_TAG_LEN',
    profile: SYM,
  },
  {
    name: 'code larger than half the ITCM',
    msg: () => grown('code', 0x4010),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_CODE_SIZE',
  },
  { name: 'data larger than its VM1 area', msg: () => grown('data', 0x5010), code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE' },
  {
    name: 'secret values larger than the DTCM area',
    msg: () => grown('secretValues', 0x1010),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE',
  },
  {
    name: 'a required TP mode that does not exist',
    msg: () => patched(good(), 0x70, readU32le(good(), 0x70) | (3 << 9)),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_TP_MODE',
  },
  {
    name: 'a key from the previous message (not in ROM, not a CM ROTPK)',
    msg: () => patched(good(), 0x6c, (3 << 28) | (1 << 26) | 4),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_NOT_IN_ROM_ROTPK_CONFIG',
  },
  {
    name: 'a CM ROTPK signature in CM (no CM ROTPK yet)',
    msg: () => patched(good(), 0x6c, (3 << 28) | 4),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK_LCS',
  },
  {
    name: 'values placed past the end of DATA by the code',
    msg: () => {
      const m = decodeBlob(good());
      const body = { code: rsekitProvisioningCode('cm', 0xffff), data: new Uint8Array(16), secretValues: new Uint8Array(96) };
      return encodeBlob(m.header, body, {
        kind: 'ecdsa',
        signingKey: signer,
        encryptionKey: provisioningKey23(new Uint8Array(32), 'CM', 0),
      });
    },
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE',
  },
  {
    name: 'fewer secret values than the code reads',
    msg: () => grown('secretValues', 32),
    code: 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE',
  },
  {
    name: 'a device status written before CM provisioning',
    msg: good,
    code: 'TFM_PLAT_ERR_PROVISIONING_DEVICE_STATUS_TAMPERING_DETECTED',
    setup: (d) => d.lcm.otpWrite(d.plat.field('header.device_status').offset, u32le(1), 'device status'),
  },
  {
    name: 'a KRTL used more than RSE_ACCEPTABLE_MAX_KRTL_USAGE_VALUE times',
    msg: good,
    code: 'TFM_PLAT_ERR_SET_OTP_COUNTER_MAX_VALUE',
    setup: (d) => d.plat.setCounter('header.krtl_usage_counter', 7),
  },
];

for (const c of REFUSALS) {
  test(`rse-2.3 handler refuses ${c.name}: ${c.code}, nothing written to OTP`, () => {
    const r = refusal(c.msg(), c.profile, c.lcs === 'DM' ? 'DM' : 'CM', c.setup);
    if (c.code === 'waiting') assert.equal(r.code, 'wait', r.events);
    else assert.equal(r.code, c.code, r.events);
    assert.equal(r.otpChanged, false, `OTP changed: ${r.events}`);
  });
}

test('rse-2.3: a refused message is wiped from VM1 and the device boots no further', () => {
  const { dev } = device();
  stageMessage(dev, buildProvisioningMessage(spec('cm', { auth: { kind: 'ecdsa', key: generateKey('ecdsa-p256') } })));
  powerOn(dev);
  const r = powerOn(dev);
  assert.equal(r.result.kind, 'halt');
  const cfg = RSE_2_3.provisioning.messages as NonNullable<RseProfile['provisioning']['messages']>;
  assert.ok(dev.vm1.subarray(cfg.messageOffset, cfg.messageOffset + 0x4000).every((b) => b === 0));
  assert.equal(decodeBlob(buildProvisioningMessage(spec('cm'))).header.purpose, 0x10000c01, "the CM purpose word is the scripts'");
});

for (const dir of ['asym', 'asym-codeenc', 'sym'] as const) {
  test(`rse-2.3: the messages TF-M 2.3.1's own scripts made (${dir}) provision a device to SE`, () => {
    const profile = dir === 'sym' ? SYM : RSE_2_3;
    const { dev } = device(profile);
    const messages = ['cm', 'dm'].map((k) => file(`provisioning/${dir}/${k}_provisioning_message.bin`));
    const r = provisionRun(dev, { messages });
    assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
    assert.deepEqual(dev.otp.subarray(LCM_OTP.guk, LCM_OTP.guk + 32), file('keys/tfm_dummy_guk.bin'));
    assert.deepEqual(dev.plat.read('bl1_2.bl1_2_hash').subarray(0, 32), file('inputs/prov/bl1_2_padded_hash.bin'));
    assert.match(r.stages.map((s) => s.events.map((e) => e.message).join(' ')).join(' '), /found at DATA offset 40/);
  });
}

test("rse-2.3: TF-M's combined message serves CM and DM", () => {
  const { dev } = device();
  const r = provisionRun(dev, { messages: [file('provisioning/asym/combined_provisioning_message.bin')] });
  assert.equal(r.ok, true, r.stages.map((s) => s.summary).join('\n'));
});
