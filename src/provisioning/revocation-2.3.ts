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
import { readU32le } from '../lib/bytes.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { BLOB_AUTH_HEADER_SIZE, MESSAGE_HEADER_SIZE, PROVISIONING_MESSAGE_TYPE } from './message.ts';
import {
  bits,
  H,
  handleBlobMessage,
  LCS_BIT,
  messageArea,
  Refused,
  refusalOutcome,
  refuse,
  stageMessage,
  validateAndUnpack,
} from './messages-rom.ts';
import { plainDataHandler } from './plain-data-2.3.ts';
import { describeFailure, type RigInput, type RomEvent, type RomOutcome } from './rom.ts';

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
  plainDataHandler(dev, cfg, u.data, pk === 0 ? 'cm' : 'dm', events);
}

/** Stages a message as the runtime provisioning partition hands it to BL1_2 (staging status RUNTIME_MESSAGE). */
export function stageRuntimeMessage(dev: Device, bytes: Uint8Array): void {
  stageMessage(dev, bytes);
  dev.json.staging = 'runtime';
  dev.saveJson();
}

/**
 * Stages a message as a rig does for BL1_2 when no flash is attached (staging status
 * BL1_2_MESSAGE): in SE a build with non-endorsed DM provisioning (or revocation) takes it.
 */
export function stageBl1_2Message(dev: Device, bytes: Uint8Array): void {
  stageMessage(dev, bytes);
  dev.json.staging = 'bl1_2';
  dev.saveJson();
}

/**
 * BL1_2's `tfm_plat_provisioning_perform`: a message the runtime staged (DM or SE LCS,
 * `RSE_ROTPK_REVOCATION`), or one the rig staged for BL1_2 in SE (no flash attached, with
 * `RSE_NON_ENDORSED_DM_PROVISIONING` or `RSE_ROTPK_REVOCATION`). The handlers are the build's:
 * authenticated plain data with revocation, blobs with non-endorsed DM provisioning. Handled,
 * then a reset; a refused message is wiped and BL1_2 stops.
 */
export function bl1_2MessageProvisioning(dev: Device, events: RomEvent[], rig: RigInput = {}): RomOutcome {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined || !(cfg.rotpkRevocation || cfg.nonEndorsedDm)) return { kind: 'not-required' };
  const lcs = dev.lcm.getLcs();
  const fromRuntime = dev.json.staging === 'runtime' && cfg.rotpkRevocation && (lcs === 'DM' || lcs === 'SE');
  const withoutFlash = dev.json.staging === 'bl1_2' && lcs === 'SE';
  if (!fromRuntime && !withoutFlash) return { kind: 'not-required' };
  delete dev.json.staging;
  dev.saveJson();
  const area = messageArea(dev, cfg);
  const type = readU32le(area, 0);
  let out: RomOutcome = { kind: 'reset', cold: true, reason: 'ROTPK revocation finished' };
  try {
    const length = readU32le(area, 4);
    if (length > area.length - MESSAGE_HEADER_SIZE || length < 4)
      refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} does not fit the staging area`, 4);
    if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA && cfg.rotpkRevocation) {
      if (length < BLOB_AUTH_HEADER_SIZE)
        refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} is shorter than its header`, 4);
      authenticatedPlain(dev, cfg, area, length, events);
    } else if (type === PROVISIONING_MESSAGE_TYPE.BLOB && cfg.nonEndorsedDm) {
      out = handleBlobMessage(dev, cfg, area, events, rig, 'BL1_2');
      if (out.kind === 'error') return out;
    } else if (type === PROVISIONING_MESSAGE_TYPE.BLOB)
      refuse('PROVISIONING_MESSAGE_NO_BLOB_HANDLER', 'BL1_2 of this build has no blob handler', 0);
    else if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA)
      refuse('PROVISIONING_MESSAGE_NO_AUTH_PLAIN_DATA_HANDLER', 'BL1_2 of this build has no authenticated plain data handler', 0);
    else if (type === PROVISIONING_MESSAGE_TYPE.PLAIN_DATA)
      refuse('PROVISIONING_MESSAGE_NO_PLAIN_DATA_HANDLER', 'BL1_2 has no plain data handler (a plain-data-handler blob brings one)', 0);
    else refuse('PROVISIONING_MESSAGE_INVALID_TYPE', `message type ${type.toString(16)} is not handled by BL1_2`, 0);
  } catch (e) {
    if (e instanceof Refused) return refusalOutcome(dev, area, e, events);
    return { kind: 'error', ...describeFailure(e) };
  }
  area.fill(0);
  dev.saveSram('vm1');
  return out;
}
