/**
 * What the provisioning code of TF-M 2.3.1's CM, DM and combined blobs does once BL1 runs it
 * (`bundle/cm_provisioning_code.c`, `dm_provisioning_code.c`, `combined_provisioning_code.c`),
 * done natively, write for write, with the build's options: Chip Output Data
 * (`RSE_ENABLE_CHIP_OUTPUT_DATA`) and non-endorsed DM ROTPKs (`RSE_NON_ENDORSED_DM_PROVISIONING`).
 * @module
 */
import type { Device } from '../device/device.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { hex0x } from '../lib/hex.ts';
import { LCM_OTP, zeroBits } from '../otp/lcm.ts';
import { DM_ROTPK_AREA_SIZE, SOC_AREA_INFO } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_AREAS, RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { chipOutputDataForCm } from './cod-2.3.ts';
import { type BlobFlow, CM_STRUCT_AT, rsekitCodeOf } from './message-shape-2.3.ts';
import { refuse } from './refusal-2.3.ts';
import type { RomEvent } from './rom.ts';

/** A blob's parts after authentication and decryption. */
export interface Unpacked {
  readonly code: Uint8Array;
  readonly data: Uint8Array;
  readonly values: Uint8Array;
  /** The provisioning key the message was authenticated or decrypted with, if one was set up. */
  readonly key?: Uint8Array | undefined;
}

/** Where the non-secret values start in the unpacked DATA (after the code's own DATA section). */
export function valuesOffset(u: Unpacked, size: number, flow: BlobFlow, events: RomEvent[]): number {
  const own = rsekitCodeOf(u.code);
  if (own !== undefined) {
    if (own.valuesAt > u.data.length - size)
      refuse(
        'PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE',
        `the code puts the values at DATA offset ${own.valuesAt}; DATA holds ${u.data.length} bytes`,
      );
    return own.valuesAt;
  }
  // Foreign provisioning code (not executed): the values end within 12 zero bytes of padding, and a
  // CM struct starts with the CM area info.
  for (let pad = 12; pad >= 0; pad -= 4) {
    const at = u.data.length - size - pad;
    if (at < 0 || u.data.subarray(at + size).some((b) => b !== 0)) continue;
    if (flow !== 'dm' && readU32le(u.data, at) !== (RSE_2_3_AREAS.cm.offset | (RSE_2_3_AREAS.cm.size << 16))) continue;
    events.push({ message: `the blob's code is not rsekit's: its provisioning values were found at DATA offset ${at}` });
    return at;
  }
  return refuse('DM_PROVISIONING_INVALID_DM_AREA_SIZE', 'the provisioning values are not where the blob code would find them');
}

/** `do_cm_provision`, natively: GUK, KP_CM, DMA ICS, area infos, BL1_2, HUK, CM area, KCE_CM, then DM LCS. */
export function doCmProvision(dev: Device, cfg: MessageProvisioning, v: Uint8Array, s: Uint8Array, events: RomEvent[]): void {
  const otp = dev.otp;
  const lcm = dev.lcm;
  const status = readU32le(otp, fieldAt(dev, 'header.device_status'));
  if (status !== 0) refuse('PROVISIONING_DEVICE_STATUS_TAMPERING_DETECTED', `device_status is ${hex0x(status, 8)} before CM provisioning`);
  const cmInfo = readU32le(v, 0);
  const cmOff = cmInfo & 0xffff;
  const cmSize = cmInfo >>> 16;
  const region = otp.subarray(Math.min(cmOff, otp.length), Math.min(cmOff + cmSize, otp.length));
  if (cmOff + cmSize > otp.length || zeroBits(region) !== 8 * cmSize)
    refuse('PROVISIONING_CM_TAMPERING_DETECTED', `the CM area ${hex0x(cmOff, 4)}+${hex0x(cmSize)} is not blank before CM provisioning`);
  const krtlUses = dev.plat.readCounter('header.krtl_usage_counter');
  if (krtlUses > cfg.maxKrtlUsage) refuse('SET_OTP_COUNTER_MAX_VALUE', `the KRTL was used ${krtlUses} times (at most ${cfg.maxKrtlUsage})`);
  lcm.otpWrite(LCM_OTP.guk, s.subarray(0, 32), 'GUK');
  lcm.otpWrite(LCM_OTP.kp_cm, s.subarray(32, 64), 'KP_CM');
  const icsSize = readU32le(v, 16 + 0x108);
  if (icsSize > RSE_2_3_OTP_CONFIG.dmaIcsSize)
    refuse('PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE', `otp_dma_ics_size ${icsSize} exceeds ${RSE_2_3_OTP_CONFIG.dmaIcsSize}`);
  lcm.otpWrite(fieldAt(dev, 'header.dma_ics'), v.subarray(16, 16 + icsSize), 'DMA ICS');
  lcm.otpWrite(fieldAt(dev, 'header.cm_area_info.offset'), v.subarray(0, 4), 'CM area info');
  lcm.otpWrite(fieldAt(dev, 'header.bl1_2_area_info.offset'), v.subarray(4, 8), 'BL1_2 area info');
  lcm.otpWrite(fieldAt(dev, 'header.soc_area_info.offset'), u32le(SOC_AREA_INFO), 'SoC area info');
  lcm.otpWrite(fieldAt(dev, 'header.dm_area_info.offset'), v.subarray(8, 12), 'DM area info');
  lcm.otpWrite(fieldAt(dev, 'header.dynamic_area_info.offset'), v.subarray(12, 16), 'dynamic area info');
  const bl1_2Info = readU32le(v, 4);
  const bl1_2 = v.subarray(CM_STRUCT_AT + RSE_2_3_AREAS.cm.size, CM_STRUCT_AT + RSE_2_3_AREAS.cm.size + RSE_2_3_AREAS.bl1_2.size);
  lcm.otpWrite(bl1_2Info & 0xffff, bl1_2, 'BL1_2 area');
  const huk = dev.trng(32);
  lcm.otpWrite(LCM_OTP.huk, huk, 'HUK (TRNG)');
  let cmArea = v.subarray(CM_STRUCT_AT, CM_STRUCT_AT + RSE_2_3_AREAS.cm.size);
  try {
    if (cfg.chipOutputData) cmArea = chipOutputDataForCm(dev, cmArea, huk);
  } finally {
    huk.fill(0);
  }
  lcm.otpWrite(cmOff, cmArea, cfg.chipOutputData ? 'CM area with the Chip Output Data' : 'CM area');
  lcm.otpWrite(LCM_OTP.kce_cm, s.subarray(64, 96), 'KCE_CM');
  events.push({
    message: `CM values written: GUK, KP_CM, DMA ICS, area infos, BL1_2, HUK (TRNG), ${cfg.chipOutputData ? 'RAK and COD CMAC, ' : ''}CM area, KCE_CM`,
  });
  dev.plat.writeLcs('DM');
}

/** `do_dm_provision`, natively: KP_DM, KCE_DM, the DM area and its ROTPK arrays, then SE LCS. */
export function doDmProvision(dev: Device, cfg: MessageProvisioning, v: Uint8Array, s: Uint8Array, events: RomEvent[]): void {
  const lcm = dev.lcm;
  lcm.otpWrite(LCM_OTP.kp_dm, s.subarray(0, 32), 'KP_DM');
  lcm.otpWrite(LCM_OTP.kce_dm, s.subarray(32, 64), 'KCE_DM');
  const info = readU32le(dev.otp, fieldAt(dev, 'header.dm_area_info.offset'));
  if (v.length !== info >>> 16)
    refuse('DM_PROVISIONING_INVALID_DM_AREA_SIZE', `the DM values are ${v.length} bytes, the DM area ${info >>> 16}`);
  const arrays = RSE_2_3_OTP_CONFIG.dmRotpkAreas * DM_ROTPK_AREA_SIZE;
  lcm.otpWrite(info & 0xffff, v.subarray(0, v.length - arrays), 'DM area');
  // A non-endorsed build leaves the DM ROTPKs to a plain data message in SE (`dm_provisioning_code.c`).
  if (!cfg.nonEndorsedDm) lcm.otpWrite((info & 0xffff) + v.length - arrays, v.subarray(v.length - arrays), 'DM ROTPK arrays');
  events.push({
    message: `DM values written: KP_DM, KCE_DM, DM area${cfg.nonEndorsedDm ? ' (the DM ROTPKs come non-endorsed, in SE)' : ', DM ROTPK arrays'}`,
  });
  dev.plat.writeLcs('SE', { dmRotpkZeroCount: !cfg.nonEndorsedDm });
}

function fieldAt(dev: Device, name: string): number {
  return dev.plat.field(name).offset;
}
