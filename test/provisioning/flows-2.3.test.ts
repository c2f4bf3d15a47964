/**
 * The further provisioning flows of TF-M 2.3.1's RSE: the SoC identity a DCSU writes and blobs
 * personalised to it, Chip Output Data (`RSE_ENABLE_CHIP_OUTPUT_DATA`), non-endorsed DM ROTPKs
 * (`RSE_NON_ENDORSED_DM_PROVISIONING`: a plain-data-handler blob signed by a CM ROTPK in SE, then
 * the DM ROTPKs as plain data), chained DM provisioning (`RSE_DM_CHAINED_PROVISIONING`) and the
 * whole journey in PCI mode, where the RTL key is real and every use of it is counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDevice, provisionRun } from '../../src/boot/power-on.ts';
import { exportPublicDer, generateKey, hash, rawPublicKey } from '../../src/crypto/index.ts';
import { aesCmac } from '../../src/crypto/kdf.ts';
import { type CreateOptions, Device, MemoryStore } from '../../src/device/device.ts';
import { readU32le } from '../../src/lib/bytes.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { integrityProblems23, zcRegion } from '../../src/otp/zero-count-2.3.ts';
import { RSE_2_3, type RseProfile, registerRseProfile } from '../../src/profiles/index.ts';
import {
  COD_FIELDS_SIZE,
  COD_REPLY_SIZE,
  COD_REPLY_TYPE,
  codCmacVerifies,
  codKey,
  deriveRak,
  encodeCodFields,
  readChipOutputData,
  socIdentity,
  writeSocIdentity,
} from '../../src/provisioning/cod-2.3.ts';
import { buildNonEndorsedDmMessage, buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { Refused } from '../../src/provisioning/refusal-2.3.ts';
import type { CmValues23 } from '../../src/provisioning/values-2.3.ts';
import { testTrng } from './helpers.ts';
import { CM, cmNonEndorsed, dmRotpkArray, file, key, signer, spec } from './helpers-2.3.ts';

const SYM: RseProfile = {
  ...RSE_2_3,
  name: 'test-rse-2.3-symmetric-flows',
  provisioning: {
    ...RSE_2_3.provisioning,
    messages: { ...(RSE_2_3.provisioning.messages as NonNullable<RseProfile['provisioning']['messages']>), symmetric: true },
  },
};
registerRseProfile(SYM);

type Build = Pick<CreateOptions, 'nonEndorsedDm' | 'chipOutputData' | 'krtl'>;

function device(build: Build = {}, profile: RseProfile = RSE_2_3): Device {
  const store = new MemoryStore();
  createDevice(store, {
    profile,
    ...build,
    files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1), [ROM_ROTPK_FILE.PCI]: rawPublicKey(signer).subarray(1) },
  });
  return Device.open(store, { trng: testTrng() });
}

const summary = (r: { stages: readonly { summary: string }[] }): string => r.stages.map((s) => s.summary).join('\n');
const ECID = Uint8Array.from({ length: 16 }, (_, i) => 0xe0 + i);
const refusedAs = (name: string) => (e: unknown) => e instanceof Refused && e.errName === name;

test('SoC identity: the DCSU generates the unique id once, writes family id and ECID only after it, with their zero counts', () => {
  const dev = device();
  assert.throws(() => writeSocIdentity(dev, { familyId: 7 }), refusedAs('SOC_UID_NOT_GENERATED'));
  assert.equal(writeSocIdentity(dev, { generateUid: true }).generated, true);
  const uid = socIdentity(dev).socUid;
  assert.ok(uid.some((b) => b !== 0));
  assert.throws(() => writeSocIdentity(dev, { generateUid: true }), refusedAs('SOC_UID_ALREADY_GENERATED'));
  writeSocIdentity(dev, { familyId: 0x1234, ieeeEcid: ECID });
  assert.deepEqual(socIdentity(dev), { socUid: uid, familyId: 0x1234, ieeeEcid: ECID });
  for (const id of ['soc-uid', 'soc-ids'] as const) assert.notEqual(readU32le(dev.otp, zcRegion(dev.otp, id).zcAt), 0, id);
  assert.deepEqual(integrityProblems23(dev.otp, 'CM'), []);
  // OTP bits only set: another family id over the first cannot be programmed.
  assert.throws(() => writeSocIdentity(dev, { familyId: 0x4321 }));
});

test('a blob personalised to the generated SoC UID provisions the device; the same blob for another SoC is refused', () => {
  const dev = device();
  writeSocIdentity(dev, { generateUid: true });
  const socUid = socIdentity(dev).socUid;
  const r = provisionRun(dev, {
    messages: [buildProvisioningMessage(spec('cm', { socUid })), buildProvisioningMessage(spec('dm', { socUid }))],
  });
  assert.equal(r.ok, true, summary(r));
  const other = device();
  writeSocIdentity(other, { generateUid: true });
  assert.notDeepEqual(socIdentity(other).socUid, socUid);
  const bad = provisionRun(other, { messages: [buildProvisioningMessage(spec('cm', { socUid }))] });
  assert.equal(bad.ok, false);
  assert.equal(bad.final.result.kind === 'halt' ? bad.final.result.code : '', 'TFM_PLAT_ERR_PROVISIONING_INVALID_BLOB_PERSONALIZATION');
});

test('Chip Output Data: CM provisioning derives the RAK from the HUK and records the CMAC; the DCSU reply reads it back', () => {
  const dev = device({ chipOutputData: true });
  writeSocIdentity(dev, { generateUid: true, familyId: 0xa5a5, ieeeEcid: ECID });
  const r = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm'))] });
  assert.equal(r.ok, true, summary(r));
  const cod = readChipOutputData(dev);
  assert.equal(cod.reply.length, COD_REPLY_SIZE);
  assert.equal(readU32le(cod.reply, 0), COD_REPLY_TYPE);
  assert.equal(readU32le(cod.reply, 4), COD_REPLY_SIZE - 8);
  assert.equal(COD_FIELDS_SIZE, 232);
  const f = cod.fields;
  assert.deepEqual(f.socUid, socIdentity(dev).socUid);
  assert.deepEqual(f.ieeeEcid, ECID);
  assert.equal(f.familyId, 0, 'TF-M never reads the family id into the record');
  assert.equal(f.dieId, 0);
  const huk = dev.otp.slice(LCM_OTP.huk, LCM_OTP.huk + 32);
  assert.deepEqual(f.rakPublic, deriveRak(huk, 0));
  assert.deepEqual(f.bl1_2Hash.subarray(0, 32), CM.bl1_2Hash);
  assert.deepEqual(f.dmaIcsHash, hash('sha384', dev.plat.read('header.dma_ics')));
  assert.equal(cod.socFamilyId, 0xa5a5);
  // The CMAC under KEXPORT_CM (TCI: the zero RTL key), independently recomputed, and refused under another key.
  assert.deepEqual(cod.cmac, aesCmac(codKey(new Uint8Array(32), 0xa5a5), encodeCodFields(f)));
  assert.equal(codCmacVerifies(cod, new Uint8Array(32)), true);
  assert.equal(codCmacVerifies(cod, key(1)), false);
  assert.equal(codCmacVerifies({ ...cod, socFamilyId: 0xa5a4 }, new Uint8Array(32)), false);
  // The rest of CM provisioning is unchanged.
  assert.deepEqual(dev.otp.subarray(LCM_OTP.kce_cm, LCM_OTP.kce_cm + 32), key(0x33));
  assert.deepEqual(integrityProblems23(dev.otp, 'SE'), []);
});

test('Chip Output Data before the SoC identity: CM provisioning stops after the HUK, as TF-M 2.3.1 does, and the device is stuck', () => {
  const dev = device({ chipOutputData: true });
  const r = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm'))] });
  assert.equal(r.ok, false);
  assert.equal(r.final.result.kind === 'halt' ? r.final.result.code : '', 'TFM_PLAT_ERR_SOC_UID_NOT_GENERATED');
  assert.ok(
    dev.otp.subarray(LCM_OTP.huk, LCM_OTP.huk + 32).some((b) => b !== 0),
    'the HUK was written',
  );
  assert.equal(readU32le(dev.plat.read('cm.zero_count')), 0, 'the CM area was not');
  // Writing the identity now does not help: the next run draws another HUK, which the OTP cannot take.
  writeSocIdentity(dev, { generateUid: true, familyId: 1, ieeeEcid: ECID });
  const again = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm'))] });
  assert.equal(again.ok, false, summary(again));
  assert.match(summary(again), /HUK|WRITE_VERIFY|write/i);
  // A device without the build has no COD to read.
  assert.throws(() => readChipOutputData(device()), refusedAs('COD_DATA_NOT_PROVISIONED'));
});

const nsKey = exportPublicDer(generateKey('ecdsa-p256'), 'spki');
const dmRotpks = dmRotpkArray(nsKey);
const handlerBlob = (over = {}) => buildProvisioningMessage(spec('plain-data', { cmRotpk: 2, ...over }));

test('non-endorsed DM: DM provisioning leaves the DM ROTPKs out; in SE a CM-ROTPK-signed handler blob takes them as plain data', () => {
  const dev = device({ nonEndorsedDm: true });
  const r1 = provisionRun(dev, {
    messages: [buildProvisioningMessage(spec('cm', { cm: cmNonEndorsed() })), buildProvisioningMessage(spec('dm'))],
  });
  assert.equal(r1.ok, true, summary(r1));
  const area0 = dev.plat.field('dm.rotpk_areas_0.zero_count').offset;
  assert.ok(
    dev.otp.subarray(area0, area0 + 4 + 4 + 3 * 32).every((b) => b === 0),
    'no DM ROTPK array, not even its zero count',
  );
  assert.deepEqual(integrityProblems23(dev.otp, 'SE'), []);
  const before = dev.otp.slice();
  const r2 = provisionRun(dev, { messages: [handlerBlob(), buildNonEndorsedDmMessage(dmRotpks)] });
  assert.equal(r2.ok, true, summary(r2));
  assert.match(summary(r2), /plain data provisioning finished/);
  assert.deepEqual(dev.plat.read('dm.rotpk_areas_0.rotpk_1'), hash('sha256', nsKey));
  assert.notEqual(readU32le(dev.otp, area0), 0, 'the array has its zero count');
  assert.deepEqual(integrityProblems23(dev.otp, 'SE'), []);
  assert.notDeepEqual(before, dev.otp);
  // A second set cannot replace the first: the update may not revoke.
  const r3 = provisionRun(dev, { messages: [handlerBlob(), buildNonEndorsedDmMessage(dmRotpks)] });
  assert.equal(r3.ok, false);
  assert.match(summary(r3), /DM_ROTPK_UPDATE_REVOCATION_NOT_PERMITTED/);
});

test("non-endorsed DM refusals: CM policy, index, TF-M's own vector, no plain data, a ROM-signed handler, no build option", () => {
  const run = (cm: CmValues23, after: Uint8Array[], build: Build = { nonEndorsedDm: true }) => {
    const dev = device(build);
    const r1 = provisionRun(dev, { messages: [buildProvisioningMessage(spec('cm', { cm })), buildProvisioningMessage(spec('dm'))] });
    assert.equal(r1.ok, true, summary(r1));
    const before = dev.otp.slice();
    const r = provisionRun(dev, { messages: after });
    return {
      r,
      code: r.final.result.kind === 'halt' ? r.final.result.code : r.final.result.kind,
      unchanged: Buffer.compare(before, dev.otp) === 0,
    };
  };
  const policy = run(cmNonEndorsed(0), [handlerBlob(), buildNonEndorsedDmMessage(dmRotpks)]);
  assert.equal(policy.code, 'TFM_PLAT_ERR_PROVISIONING_PLAIN_DATA_INVALID_CM_POLICY');
  assert.ok(policy.unchanged);
  const index = run(cmNonEndorsed(), [handlerBlob(), buildNonEndorsedDmMessage(dmRotpks, 1)]);
  assert.equal(index.code, 'TFM_PLAT_ERR_PROVISIONING_PLAIN_DATA_INVALID_ROTPK_IDX');
  assert.ok(index.unchanged);
  // TF-M 2.3.1's create_non_endorsed_provisioning_plain_data_message.py, run as the vectors README says
  // (index 1, one ROTPK): its own handler refuses it.
  const vector = run(cmNonEndorsed(), [handlerBlob(), file('provisioning/messages/non_endorsed_dm_rotpks_plain_message.bin')]);
  assert.equal(vector.code, 'TFM_PLAT_ERR_PROVISIONING_PLAIN_DATA_INVALID_ROTPK_IDX');
  const none = run(cmNonEndorsed(), [handlerBlob()]);
  assert.equal(none.code, 'TFM_PLAT_ERR_PROVISIONING_MESSAGE_NOT_FOUND');
  assert.ok(none.unchanged);
  const forged = run(cmNonEndorsed(), [
    buildProvisioningMessage(spec('plain-data', { cmRotpk: 2, auth: { kind: 'ecdsa', key: generateKey('ecdsa-p256') } })),
    buildNonEndorsedDmMessage(dmRotpks),
  ]);
  assert.equal(forged.code, 'TFM_PLAT_ERR_PROVISIONING_AUTH_MSG_INVALID_HASH_VALUE');
  assert.ok(forged.unchanged);
  const noBuild = run(cmNonEndorsed(), [handlerBlob(), buildNonEndorsedDmMessage(dmRotpks)], {});
  assert.equal(noBuild.code, 'ready', 'without the build BL1_2 takes no message in SE');
  assert.ok(noBuild.unchanged);
});

test('chained DM: a loader blob fetches the DM blob and runs it as chained, under the key its own message set up', () => {
  const sym = { auth: { kind: 'ccm' } as const, dmNumber: 5 };
  const dev = device({}, SYM);
  const r = provisionRun(dev, {
    messages: [
      buildProvisioningMessage(spec('cm', { auth: { kind: 'ccm' } })),
      buildProvisioningMessage(spec('dm-chained', sym)),
      buildProvisioningMessage(spec('dm', { ...sym, chained: true })),
    ],
  });
  assert.equal(r.ok, true, summary(r));
  assert.match(
    r.stages
      .flatMap((s) => s.events ?? [])
      .map((e) => e.message)
      .join('\n'),
    /chained loader fetched the next message/,
  );
  assert.deepEqual(dev.otp.subarray(LCM_OTP.kce_dm, LCM_OTP.kce_dm + 32), key(0x55));
  assert.deepEqual(integrityProblems23(dev.otp, 'SE'), []);
});

test('chained DM refusals: an unmarked message, a missing one, another DM number, and ECDSA (no key set up by the loader)', () => {
  const sym = { auth: { kind: 'ccm' } as const, dmNumber: 5 };
  const tryChain = (profile: RseProfile, cm: Uint8Array, loader: Uint8Array, rest: Uint8Array[]) => {
    const dev = device({}, profile);
    const r1 = provisionRun(dev, { messages: [cm] });
    assert.equal(r1.final.lcs, 'DM', summary(r1));
    const before = dev.otp.slice();
    const r = provisionRun(dev, { messages: [loader, ...rest] });
    return {
      code: r.final.result.kind === 'halt' ? r.final.result.code : r.final.result.kind,
      unchanged: Buffer.compare(before, dev.otp) === 0,
      text: summary(r),
    };
  };
  const symCm = buildProvisioningMessage(spec('cm', { auth: { kind: 'ccm' } }));
  const loader = buildProvisioningMessage(spec('dm-chained', sym));
  const unmarked = tryChain(SYM, symCm, loader, [buildProvisioningMessage(spec('dm', sym))]);
  assert.equal(unmarked.code, 'TFM_PLAT_ERR_PROVISIONING_INVALID_MESSAGE_SEQUENCING');
  assert.ok(unmarked.unchanged);
  const missing = tryChain(SYM, symCm, loader, []);
  assert.equal(missing.code, 'TFM_PLAT_ERR_PROVISIONING_MESSAGE_NOT_FOUND');
  const otherKey = tryChain(SYM, symCm, loader, [buildProvisioningMessage(spec('dm', { ...sym, dmNumber: 6, chained: true }))]);
  assert.equal(otherKey.code, 'PSA_ERROR_INVALID_SIGNATURE');
  assert.ok(otherKey.unchanged);
  const ecdsa = tryChain(RSE_2_3, buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm-chained')), [
    buildProvisioningMessage(spec('dm', { chained: true })),
  ]);
  assert.equal(ecdsa.code, 'PSA_ERROR_INVALID_SIGNATURE');
  assert.match(ecdsa.text, /no provisioning key was set up/);
  assert.ok(ecdsa.unchanged);
});

test('PCI end to end: the device RTL key derives KPROV (each use counted in OTP), asymmetric and symmetric; a wrong RTL key is refused', () => {
  const krtl = key(0x6b);
  const pci = { tpMode: 'PCI' as const, krtl };
  const asym = device({ krtl });
  const r = provisionRun(asym, { messages: [buildProvisioningMessage(spec('cm', pci)), buildProvisioningMessage(spec('dm', pci))] });
  assert.equal(r.ok, true, summary(r));
  assert.equal(asym.lcm.tpMode, 'PCI');
  assert.equal(asym.plat.readCounter('header.krtl_usage_counter'), 6, 'two KMASTER derivations, three KRTL loads each');
  assert.deepEqual(integrityProblems23(asym.otp, 'SE'), []);
  const sym = device({ krtl }, SYM);
  const ccm = { ...pci, auth: { kind: 'ccm' } as const };
  const rs = provisionRun(sym, { messages: [buildProvisioningMessage(spec('cm', ccm)), buildProvisioningMessage(spec('dm', ccm))] });
  assert.equal(rs.ok, true, summary(rs));
  for (const [profile, auth] of [
    [RSE_2_3, undefined],
    [SYM, { kind: 'ccm' } as const],
  ] as const) {
    const dev = device({ krtl }, profile);
    const wrong = provisionRun(dev, {
      messages: [buildProvisioningMessage(spec('cm', { tpMode: 'PCI', krtl: key(0x6c), ...(auth === undefined ? {} : { auth }) }))],
    });
    assert.equal(wrong.ok, false);
    assert.equal(wrong.final.result.kind === 'halt' ? wrong.final.result.code : '', 'PSA_ERROR_INVALID_SIGNATURE');
    assert.equal(readU32le(dev.plat.read('cm.zero_count')), 0);
  }
  // With Chip Output Data the KEXPORT_CM derivation is a third use of the RTL key, and the CM checks the CMAC with it.
  const cod = device({ krtl, chipOutputData: true });
  writeSocIdentity(cod, { generateUid: true, familyId: 9, ieeeEcid: ECID });
  const rc = provisionRun(cod, { messages: [buildProvisioningMessage(spec('cm', pci)), buildProvisioningMessage(spec('dm', pci))] });
  assert.equal(rc.ok, true, summary(rc));
  assert.equal(cod.plat.readCounter('header.krtl_usage_counter'), 9);
  assert.equal(codCmacVerifies(readChipOutputData(cod), krtl), true);
  assert.equal(codCmacVerifies(readChipOutputData(cod), new Uint8Array(32)), false);
});
