/**
 * BL1_2's provisioning pass of TF-M 2.3.1 (`provisioning/bl1_2_provisioning.c`) with
 * `RSE_ROTPK_REVOCATION`: an authenticated plain data message (signed by a CM or DM ROTPK of the
 * array in use, `default_authenticated_plain_data_handler`) that revokes the CM or DM ROTPK array
 * or replaces it (`rse_provisioning_plain_data_handler.c`, `rse_rotpk_revocation.c`): the
 * revocation counter in the dynamic area is raised first, then the new array's policies, ROTPKs
 * and zero count are written, and the OTP is initialised again.
 * @module
 */
import type { Device } from '../device/device.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { zeroBits } from '../otp/lcm.ts';
import { CM_ROTPK_AREA_SIZE, DM_ROTPK_AREA_SIZE, integrityProblems23, rotpkArrayIndex } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { BLOB_AUTH_HEADER_SIZE, MESSAGE_HEADER_SIZE, PROVISIONING_MESSAGE_TYPE } from './message.ts';
import { bits, H, LCS_BIT, messageArea, Refused, refusalOutcome, refuse, stageMessage, validateAndUnpack } from './messages-rom.ts';
import { describeFailure, type RomEvent, type RomOutcome } from './rom.ts';

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
  if (specify || readU32le(dev.otp, inUse.offset) !== 0) revoke(dev, who, specify, idx, events);
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
function handleRevocation(dev: Device, who: 'cm' | 'dm', auth: 'cm' | 'dm', data: Uint8Array, events: RomEvent[]): void {
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
    update(dev, who, index !== 0, index, readU32le(data, 8), data.subarray(12), events);
  }
  const problems = integrityProblems23(dev.otp, lcs);
  if (problems.length > 0) events.push({ message: `the OTP initialised again: ${problems[0]?.check}` });
}

/** `default_authenticated_plain_data_handler`, then the plain data handler. */
function authenticatedPlain(dev: Device, cfg: MessageProvisioning, m: Uint8Array, size: number, events: RomEvent[]): void {
  const lcs = dev.lcm.getLcs();
  const metadata = readU32le(m, H.metadata);
  const purpose = readU32le(m, H.purpose);
  if ((bits(purpose, 28, 4) & LCS_BIT[lcs]) === 0)
    refuse('PROVISIONING_AUTH_MSG_INVALID_PURPOSE', `the message is not valid in LCS ${lcs}`, H.purpose);
  if (bits(purpose, 27, 1) === 1) refuse('PROVISIONING_INVALID_MESSAGE_SEQUENCING', 'a chained message cannot be the first one', H.purpose);
  if (readU32le(m, H.codeSize) !== 0 || readU32le(m, H.valuesSize) !== 0)
    refuse('PROVISIONING_AUTH_PLAIN_DATA_INVALID_SIZE', 'authenticated plain data carries neither code nor secret values', H.codeSize);
  if (bits(metadata, 28, 2) !== 3)
    refuse('PROVISIONING_AUTH_PLAIN_DATA_INVALID_ROTPK', 'authenticated plain data is signed by a ROTPK not in ROM', H.metadata);
  const pk = bits(metadata, 26, 2);
  if (pk !== 0 && pk !== 2)
    refuse('PROVISIONING_AUTH_PLAIN_DATA_INVALID_NON_ROM_ROTPK', `non-ROM key type ${pk} is not a CM or DM ROTPK`, H.metadata);
  const u = validateAndUnpack(dev, cfg, m, size, lcs);
  events.push({ message: `authenticated plain data verified with ${pk === 0 ? 'CM' : 'DM'} ROTPK ${bits(metadata, 8, 9)}` });
  if (u.data.length < 4) refuse('PROVISIONING_PLAIN_DATA_NO_TYPE', 'the plain data has no type');
  const type = readU32le(u.data, 0);
  const payload = u.data.subarray(4);
  if (cfg.rotpkRevocation && (type === 4 || type === 5)) {
    handleRevocation(dev, type === 4 ? 'cm' : 'dm', pk === 0 ? 'cm' : 'dm', payload, events);
    return;
  }
  refuse('PROVISIONING_PLAIN_DATA_TYPE_INVALID', `plain data type ${type} is not handled by this build`);
}

/** Stages a message as the runtime provisioning partition hands it to BL1_2 (staging status RUNTIME_MESSAGE). */
export function stageRuntimeMessage(dev: Device, bytes: Uint8Array): void {
  stageMessage(dev, bytes);
  dev.json.staging = 'runtime';
  dev.saveJson();
}

/**
 * BL1_2's `tfm_plat_provisioning_perform` for a message the runtime staged (DM or SE LCS,
 * `RSE_ROTPK_REVOCATION`): handled, then a reset; a refused message is wiped and BL1_2 stops.
 */
export function bl1_2MessageProvisioning(dev: Device, events: RomEvent[]): RomOutcome {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined || !cfg.rotpkRevocation) return { kind: 'not-required' };
  const lcs = dev.lcm.getLcs();
  if (lcs !== 'DM' && lcs !== 'SE') return { kind: 'not-required' };
  if (dev.json.staging !== 'runtime') return { kind: 'not-required' };
  delete dev.json.staging;
  dev.saveJson();
  const area = messageArea(dev, cfg);
  const type = readU32le(area, 0);
  try {
    const length = readU32le(area, 4);
    if (length > area.length - MESSAGE_HEADER_SIZE || length < BLOB_AUTH_HEADER_SIZE)
      refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} does not fit the staging area`, 4);
    if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA) authenticatedPlain(dev, cfg, area, length, events);
    else if (type === PROVISIONING_MESSAGE_TYPE.BLOB)
      refuse('PROVISIONING_MESSAGE_NO_BLOB_HANDLER', 'BL1_2 of this build has no blob handler', 0);
    else refuse('PROVISIONING_MESSAGE_INVALID_TYPE', `message type ${type.toString(16)} is not handled by BL1_2`, 0);
  } catch (e) {
    if (e instanceof Refused) return refusalOutcome(dev, area, e, events);
    return { kind: 'error', ...describeFailure(e) };
  }
  area.fill(0);
  dev.saveSram('vm1');
  return { kind: 'reset', cold: true, reason: 'ROTPK revocation finished' };
}
