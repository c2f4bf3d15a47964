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
import { Device, FaultPlan, MemoryStore, PowerCut } from '../../src/device/device.ts';
import { LCM_OTP } from '../../src/otp/lcm.ts';
import { integrityProblems23 } from '../../src/otp/zero-count-2.3.ts';
import { RSE_2_3, type RseProfile, registerRseProfile } from '../../src/profiles/index.ts';
import { buildProvisioningMessage } from '../../src/provisioning/messages-build.ts';
import { ROM_ROTPK_FILE } from '../../src/provisioning/messages-rom.ts';
import { key, signer, spec } from './helpers-2.3.ts';

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
}
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
];

function fresh(profile: RseProfile, faults?: FaultPlan): { store: MemoryStore; dev: Device } {
  const store = new MemoryStore();
  createDevice(store, { profile, files: { [ROM_ROTPK_FILE.TCI]: rawPublicKey(signer).subarray(1) } });
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
    assert.equal(provisionRun(fresh(c.profile, counting).dev, { messages }).ok, true);
    const total = counting.count;
    assert.ok(total > 20, `only ${total} OTP program operations`);
    const outcomes = new Map<string, number>();
    for (let n = 1; n <= total; n++) {
      const { store, dev } = fresh(c.profile, new FaultPlan(n));
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
