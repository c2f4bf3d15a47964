/**
 * TF-M 2.3.1's plain data handler (`rse_provisioning_plain_data_handler.c`, `rse_rotpk_revocation.c`):
 * non-endorsed DM ROTPKs (`RSE_NON_ENDORSED_DM_PROVISIONING`, a PLAIN_DATA message the
 * plain-data-handler blob fetches in SE) and CM / DM ROTPK array revocation or replacement
 * (`RSE_ROTPK_REVOCATION`, an AUTHENTICATED_PLAIN_DATA message). Each writes the OTP as the
 * firmware does: the revocation counter first, then the new array's policies, ROTPKs and zero count.
 * @module
 */
import type { Device } from '../device/device.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { zeroBits } from '../otp/lcm.ts';
import { CM_ROTPK_AREA_SIZE, DM_ROTPK_AREA_SIZE, integrityProblems23, rotpkArrayIndex } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { PLAIN_DATA_TYPE } from './message.ts';
import { refuse } from './refusal-2.3.ts';
import type { RomEvent } from './rom.ts';

/** Who authenticated the plain data: a CM or DM ROTPK (authenticated plain data), or nobody (plain data). */
export type PlainDataAuth = 'cm' | 'dm' | 'none';

const C = RSE_2_3_OTP_CONFIG;
const perArea = (who: 'cm' | 'dm'): number => (who === 'cm' ? C.cmRotpksPerArea : C.dmRotpksPerArea);

/** The OTP offset of a ROTPK array of the current layout. */
function arrayAt(dev: Device, who: 'cm' | 'dm', index: number): { offset: number; size: number; perArea: number } {
  const f = dev.plat.field(`${who}.rotpk_areas_${index}.zero_count`);
  return { offset: f.offset, size: who === 'cm' ? CM_ROTPK_AREA_SIZE : DM_ROTPK_AREA_SIZE, perArea: perArea(who) };
}

/** `revoke_rotpks`: the revocation counter moves to `idx` (or the next array). */
function revoke(dev: Device, who: 'cm' | 'dm', specify: boolean, idx: number, events: RomEvent[]): void {
  const counter = `dynamic.${who}_rotpk_revocation`;
  const current = dev.plat.readCounter(counter);
  const target = specify ? idx : current + 1;
  // TF-M bounds the index by the ROTPKs per array (RSE_OTP_*_ROTPK_AMOUNT).
  const limit = perArea(who);
  if (target <= current || target >= limit)
    refuse(
      'ROTPK_REVOCATION_INVALID_INDEX',
      `${who.toUpperCase()} ROTPK array ${target} cannot follow array ${current} (arrays below ${limit})`,
    );
  dev.plat.setCounter(counter, target);
  events.push({ message: `${who.toUpperCase()} ROTPK revocation counter raised to ${target}` });
}

/** `rse_update_cm_rotpks` / `rse_update_dm_rotpks`: revoke if the array in use is provisioned, then write the new one. */
function update(
  allowRevocation: boolean,
  dev: Device,
  who: 'cm' | 'dm',
  specify: boolean,
  idx: number,
  policies: number,
  rotpks: Uint8Array,
  events: RomEvent[],
): void {
  const current = rotpkArrayIndex(dev.otp, who);
  const inUse = arrayAt(dev, who, Math.min(current, (who === 'cm' ? C.cmRotpkAreas : C.dmRotpkAreas) - 1));
  if (specify || readU32le(dev.otp, inUse.offset) !== 0) {
    if (!allowRevocation)
      refuse(
        'DM_ROTPK_UPDATE_REVOCATION_NOT_PERMITTED',
        `${who.toUpperCase()} ROTPK array ${current} is in use; this update may not revoke it`,
      );
    revoke(dev, who, specify, idx, events);
  }
  const now = rotpkArrayIndex(dev.otp, who);
  const a = arrayAt(dev, who, now);
  if (dev.otp.subarray(a.offset, a.offset + a.size).some((b) => b !== 0))
    refuse('CM_ROTPK_UPDATE_INVALID_AREA', `${who.toUpperCase()} ROTPK array ${now} is already written`);
  dev.lcm.otpWrite(a.offset + 4, u32le(policies >>> 0), `${who.toUpperCase()} ROTPK array ${now} policies`);
  dev.lcm.otpWrite(a.offset + 8, rotpks, `${who.toUpperCase()} ROTPK array ${now} ROTPKs`);
  const zc = zeroBits(dev.otp.subarray(a.offset + 4, a.offset + a.size));
  dev.lcm.otpWrite(a.offset, u32le(zc), `${who.toUpperCase()} ROTPK array ${now} zero count`);
  events.push({
    message: `${who.toUpperCase()} ROTPK array ${now} written: policies ${policies.toString(16)}, ${a.perArea} ROTPKs, zero count ${zc}`,
  });
}

/** `handle_cm_revocation` / `handle_dm_revocation`. */
function handleRevocation(dev: Device, who: 'cm' | 'dm', auth: PlainDataAuth, data: Uint8Array, events: RomEvent[]): void {
  const lcs = dev.lcm.getLcs();
  if (who === 'cm' ? lcs !== 'DM' && lcs !== 'SE' : lcs !== 'SE')
    refuse('PROVISIONING_PLAIN_DATA_INVALID_LCS', `a ${who.toUpperCase()} ROTPK revocation is not valid in LCS ${lcs}`);
  if (auth !== who)
    refuse('PROVISIONING_PLAIN_DATA_INVALID_AUTH', `a ${who.toUpperCase()} revocation must be signed by a ${who.toUpperCase()} ROTPK`);
  if (data.length < 12) refuse('PROVISIONING_PLAIN_DATA_INVALID_REVOCATION_SIZE', `the revocation values are ${data.length} bytes`);
  const index = readU32le(data, 0);
  const num = readU32le(data, 4);
  const slots = perArea(who);
  if (num === 0) {
    revoke(dev, who, index !== 0, index, events);
  } else {
    if (num !== slots) refuse('PROVISIONING_PLAIN_DATA_INVALID_NUM_ROTPKS', `num_rotpks ${num}: an array holds ${slots}`);
    if (data.length !== 12 + slots * C.rotpkSize)
      refuse('PROVISIONING_PLAIN_DATA_INVALID_ROTPK_SIZE', `the ROTPKs take ${data.length - 12} bytes, not ${slots * C.rotpkSize}`);
    update(true, dev, who, index !== 0, index, readU32le(data, 8), data.subarray(12), events);
  }
  const problems = integrityProblems23(dev.otp, lcs);
  if (problems.length > 0) events.push({ message: `the OTP initialised again: ${problems[0]?.check}` });
}

/** `handle_non_endorsed_dm`: unauthenticated DM ROTPKs, allowed by the CM policy, into the next free array. */
function handleNonEndorsedDm(dev: Device, auth: PlainDataAuth, data: Uint8Array, events: RomEvent[]): void {
  if (auth !== 'none') refuse('PROVISIONING_PLAIN_DATA_INVALID_AUTH', 'non-endorsed DM ROTPKs come as plain data, not authenticated');
  const slots = C.dmRotpksPerArea;
  if (data.length !== 12 + slots * C.rotpkSize)
    refuse(
      'PROVISIONING_PLAIN_DATA_INVALID_ROTPK_SIZE',
      `the values are ${data.length} bytes, not ${12 + slots * C.rotpkSize} (${slots} ROTPKs)`,
    );
  const policies = readU32le(dev.plat.read('cm.cm_policies'));
  if (((policies >>> CM_POLICY_NON_ENDORSED_DM) & 1) === 0)
    refuse(
      'PROVISIONING_PLAIN_DATA_INVALID_CM_POLICY',
      `the CM policies (0x${policies.toString(16)}) do not allow non-endorsed DM provisioning (bit ${CM_POLICY_NON_ENDORSED_DM})`,
    );
  const index = readU32le(data, 0);
  if (index !== 0)
    refuse('PROVISIONING_PLAIN_DATA_INVALID_ROTPK_IDX', `index ${index}: non-endorsed ROTPKs only go to the next array (index 0)`);
  const num = readU32le(data, 4);
  if (num !== slots) refuse('PROVISIONING_PLAIN_DATA_INVALID_NUM_ROTPKS', `num_rotpks ${num}: an array holds ${slots}`);
  update(false, dev, 'dm', false, 0, readU32le(data, 8), data.subarray(12), events);
}

/** `CM_POLICIES_DM_PROVISIONING_NON_ENDORSED_FLOW` (`rse_otp_layout.h`): the bit of `cm_policies` that allows it. */
export const CM_POLICY_NON_ENDORSED_DM = 4;

/**
 * `default_plain_data_handler`: the plain data (`plain_metadata` then the values) dispatched by
 * type, each type only where the build has its handler.
 */
export function plainDataHandler(dev: Device, cfg: MessageProvisioning, plain: Uint8Array, auth: PlainDataAuth, events: RomEvent[]): void {
  if (plain.length < 4) refuse('PROVISIONING_PLAIN_DATA_NO_TYPE', 'the plain data has no type');
  const type = readU32le(plain, 0);
  const values = plain.subarray(4);
  if (cfg.nonEndorsedDm && type === PLAIN_DATA_TYPE.NON_ENDORSED_DM_ROTPKS) handleNonEndorsedDm(dev, auth, values, events);
  else if (cfg.rotpkRevocation && type === PLAIN_DATA_TYPE.CM_ROTPK_ARRAY_REVOCATION) handleRevocation(dev, 'cm', auth, values, events);
  else if (cfg.rotpkRevocation && type === PLAIN_DATA_TYPE.DM_ROTPK_ARRAY_REVOCATION) handleRevocation(dev, 'dm', auth, values, events);
  else refuse('PROVISIONING_PLAIN_DATA_TYPE_INVALID', `plain data type ${type} is not handled by this build`);
}
