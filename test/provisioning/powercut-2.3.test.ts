/**
 * Power loss during `rse-2.3` message provisioning: the power is cut before each OTP program
 * operation in turn (TP mode, the SoC area info BL1_1 writes at init, every write of the CM and
 * DM blobs' code, the zero counts and the LCS transitions), the device is powered on again and
 * the rig re-runs with the same messages. Every outcome is named, and none is a healthy SE device
 * with a missing key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDevice, provisionRun } from '../../src/boot/power-on.ts';
import { rawPublicKey } from '../../src/crypto/index.ts';
import { type CreateOptions, Device, FaultPlan, MemoryStore, PowerCut } from '../../src/device/device.ts';
import { readU32le } from '../../src/lib/bytes.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { integrityProblems23 } from '../../src/otp/zero-count-2.3.ts';
import { RSE_2_3, type RseProfile, registerRseProfile } from '../../src/profiles/index.ts';
import { writeSocIdentity } from '../../src/provisioning/cod-2.3.ts';
import { buildNonEndorsedDmMessage, buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { cmNonEndorsed, dmRotpkArray, key, signer, spec } from './helpers-2.3.ts';

const SYM: RseProfile = {
  ...RSE_2_3,
  name: 'test-rse-2.3-symmetric-powercut',
  provisioning: {
    ...RSE_2_3.provisioning,
    messages: { ...(RSE_2_3.provisioning.messages as NonNullable<RseProfile['provisioning']['messages']>), symmetric: true },
  },
};
registerRseProfile(SYM);

interface Campaign {
  readonly name: string;
  readonly profile: RseProfile;
  readonly messages: readonly Uint8Array[];
  /** Firmware build options and RTL key of the device. */
  readonly build?: Pick<CreateOptions, 'chipOutputData' | 'krtl'>;
  /** What the rig does before provisioning (not counted, never cut). */
  readonly setup?: (dev: Device) => void;
}
const PCI_KRTL = key(0x6b);
const pci = { tpMode: 'PCI' as const, krtl: PCI_KRTL };
const ccm = { auth: { kind: 'ccm' } as const };
const CAMPAIGNS: readonly Campaign[] = [
  {
    name: 'asymmetric CM then DM',
    profile: RSE_2_3,
    messages: [buildProvisioningMessage(spec('cm')), buildProvisioningMessage(spec('dm'))],
  },
  {
    name: 'symmetric CM then DM',
    profile: SYM,
    messages: [buildProvisioningMessage(spec('cm', ccm)), buildProvisioningMessage(spec('dm', ccm))],
  },
  { name: 'asymmetric combined', profile: RSE_2_3, messages: [buildProvisioningMessage(spec('combined'))] },
  {
    name: 'PCI with Chip Output Data',
    profile: RSE_2_3,
    messages: [buildProvisioningMessage(spec('cm', pci)), buildProvisioningMessage(spec('dm', pci))],
    build: { chipOutputData: true, krtl: PCI_KRTL },
    setup: (dev) => writeSocIdentity(dev, { generateUid: true, familyId: 7, ieeeEcid: new Uint8Array(16).fill(0xec) }),
  },
];

function fresh(profile: RseProfile, faults?: FaultPlan, c?: Pick<Campaign, 'build' | 'setup'>): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  const rom = rawPublicKey(signer).subarray(1);
  createDevice(store, { profile, ...c?.build, files: { [ROM_ROTPK_FILE.TCI]: rom, [ROM_ROTPK_FILE.PCI]: rom } });
  if (c?.setup !== undefined) c.setup(Device.open(store));
  return { store, dev: Device.open(store, faults === undefined ? {} : { faults }) };
}

/** Every value of both blobs is in OTP and the integrity checks pass. */
function complete(dev: Device): boolean {
  const eq = (at: number, v: Uint8Array): boolean => Buffer.compare(dev.otp.subarray(at, at + v.length), v) === 0;
  return (
    eq(LCM_OTP.guk, key(0x11)) &&
    eq(LCM_OTP.kce_cm, key(0x33)) &&
    eq(LCM_OTP.kce_dm, key(0x55)) &&
    dev.otp.subarray(LCM_OTP.huk, LCM_OTP.huk + 32).some((b) => b !== 0) &&
    dev.plat.read('dm.rotpk_areas_0.rotpk_1').some((b) => b !== 0) &&
    integrityProblems23(dev.otp, 'SE').length === 0
  );
}

for (const c of CAMPAIGNS) {
  test(`rse-2.3 power-cut campaign (${c.name}): every cut point finishes after a re-run or stops with a named reason, never SE with a missing key`, () => {
    const messages = c.messages;
    const counting = new FaultPlan();
    assert.equal(provisionRun(fresh(c.profile, counting, c).dev, { messages }).ok, true);
    const total = counting.count;
    assert.ok(total > 20, `only ${total} OTP program operations`);
    const outcomes = new Map<string, number>();
    for (let n = 1; n <= total; n++) {
      const { store, dev } = fresh(c.profile, new FaultPlan(n), c);
      assert.throws(() => provisionRun(dev, { messages }), PowerCut, `cut ${n} did not happen`);
      const back = Device.open(store);
      const r = provisionRun(back, { messages });
      let verdict: string;
      if (r.ok) {
        assert.ok(complete(back), `cut ${n}: SE reported with missing values`);
        verdict = 'finished';
      } else {
        assert.equal(r.final.result.kind, 'halt', `cut ${n}: ${r.final.result.kind}`);
        const code = r.final.result.kind === 'halt' ? r.final.result.code : '';
        assert.notEqual(r.final.lcs, 'SE', `cut ${n}: an SE device that does not boot`);
        verdict = `${r.final.lcs} stopped ${code}`;
      }
      outcomes.set(verdict, (outcomes.get(verdict) ?? 0) + 1);
    }
    process.stdout.write(
      `# rse-2.3 power-cut campaign (${c.name}) over ${total} program operations: ${JSON.stringify(Object.fromEntries(outcomes))}\n`,
    );
    assert.ok((outcomes.get('finished') ?? 0) > 0);
    // After the CM area is written, CM provisioning refuses to run again (the area is not blank);
    // before it, the second HUK draw is what the OTP refuses.
    assert.ok((outcomes.get('CM stopped TFM_PLAT_ERR_PROVISIONING_CM_TAMPERING_DETECTED') ?? 0) > 0);
    assert.ok([...outcomes.keys()].some((k) => k.includes('WRITE_VERIFY_FAIL')));
  });
}

test('rse-2.3 power cut while non-endorsed DM ROTPKs are written: a cut before the first write re-runs; after it the array can never be written', () => {
  const cm = cmNonEndorsed();
  const setupMessages = [buildProvisioningMessage(spec('cm', { cm })), buildProvisioningMessage(spec('dm'))];
  const dmKeys = dmRotpkArray();
  const messages = [buildProvisioningMessage(spec('plain-data', { cmRotpk: 2 })), buildNonEndorsedDmMessage(dmKeys)];
  const toSe = (faults?: FaultPlan) => {
    const store = new MemoryStore();
    createDevice(store, { profile: RSE_2_3, nonEndorsedDm: true, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
    assert.equal(provisionRun(Device.open(store), { messages: setupMessages }).ok, true);
    return { store, dev: Device.open(store, faults === undefined ? {} : { faults }) };
  };
  const counting = new FaultPlan();
  assert.equal(provisionRun(toSe(counting).dev, { messages }).ok, true);
  const total = counting.count;
  const outcomes: string[] = [];
  for (let n = 1; n <= total; n++) {
    const { store, dev } = toSe(new FaultPlan(n));
    assert.throws(() => provisionRun(dev, { messages }), PowerCut);
    const back = Device.open(store);
    const r = provisionRun(back, { messages });
    const code = r.final.result.kind === 'halt' ? r.final.result.code : 'finished';
    if (r.ok) assert.notDeepEqual(back.plat.read('dm.rotpk_areas_0.rotpk_1'), new Uint8Array(32));
    // Never a DM ROTPK array that is half written and trusted: the OTP init maps only an array whose zero count matches.
    if (!r.ok)
      assert.ok(
        integrityProblems23(back.otp, 'SE').length === 0 &&
          readU32le(back.otp, back.plat.field('dm.rotpk_areas_0.zero_count').offset) === 0,
      );
    outcomes.push(code);
  }
  process.stdout.write(`# rse-2.3 non-endorsed DM ROTPKs, power cut before each of ${total} writes: ${outcomes.join(', ')}\n`);
  assert.deepEqual(outcomes, ['finished', 'TFM_PLAT_ERR_CM_ROTPK_UPDATE_INVALID_AREA', 'TFM_PLAT_ERR_CM_ROTPK_UPDATE_INVALID_AREA']);
});
