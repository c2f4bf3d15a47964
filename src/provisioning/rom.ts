/**
 * BL1_1's provisioning (TF-M 2.1 `rse/common/provisioning/bl1_provisioning.c`) and the native
 * semantics of the CM and DM bundles' `do_provision` (`bundle_cm/cm_provisioning_code.c`,
 * `bundle_dm/dm_provisioning_code.c`). The bundle code is authenticated and decrypted exactly as
 * the ROM does, but not executed: what it would do is done here, write for write, in its order.
 * @module
 */
import { KMU_SLOT } from '../crypto/kmu.ts';
import { bootState, provisioningKey } from '../crypto/rse-keys.ts';
import type { Device } from '../device/device.ts';
import { readU32le, u32le as u32 } from '../lib/bytes.ts';
import { isRseError } from '../lib/errors.ts';
import { DUMMY_KEY_VALUE, LCM_OTP, LcmError, PLAT_OTP_LCS } from '../otp/lcm.ts';
import { PlatOtpError } from '../otp/plat-otp.ts';
import {
  BUNDLE_CODE_SIZE,
  BUNDLE_SIZE,
  type BundleKind,
  bundlePresent,
  decodeBundle,
  decodeCmValues,
  decodeDmValues,
  isResumableCode,
} from './bundle.ts';

/** PSI/GPIO states of `bl1_provisioning.c`. */
export const PSI = {
  VIRGIN_IDLE: 0x1,
  CM_IDLE: 0x2,
  RMA_IDLE: 0x3,
  CM_PROVISIONING_STARTS: 0x4,
  CM_FAILED_NO_AUTHENTICATED_BLOB: 0x5,
  CM_FAILED_OTHER_ERROR: 0x6,
  CM_FINISHED: 0x7,
  DM_IDLE: 0x8,
  DM_PROVISIONING_STARTS: 0x9,
  DM_FAILED_NO_AUTHENTICATED_BLOB: 0xa,
  DM_FAILED_OTHER_ERROR: 0xb,
  DM_FINISHED: 0xc,
  SE_ROM_BOOT: 0xd,
} as const;

export const PSI_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(PSI).map(([k, v]) => [v, k]));

/** Where the ROM polls for each bundle, as offsets into VM0 / VM1. */
export const BUNDLE_LOCATION = {
  cm: { sram: 'vm0', offset: 0x400 },
  dm: { sram: 'vm1', offset: 0 },
} as const;

/** One step the ROM took, for the boot report. */
export interface RomEvent {
  readonly psi?: number;
  readonly message: string;
}

/** How one pass of the BL1_1 provisioning code ended. */
export type RomOutcome =
  | { readonly kind: 'reset'; readonly cold: boolean; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: 'tp-mode' | 'cm-bundle' | 'dm-bundle' | 'message' }
  | { readonly kind: 'error'; readonly reason: string; readonly code: string; readonly field?: string; readonly offset?: number }
  | { readonly kind: 'not-required' };

/** What the provisioning rig supplies: a debugger's TP-mode choice for a non-dummy ROM. */
export interface RigInput {
  readonly tpMode?: 'TCI' | 'PCI';
  /**
   * Message provisioning: the rig's answer when a blob's code waits for the next message (a
   * chained loader's DM blob, a plain-data handler's plain data), or none.
   */
  readonly nextMessage?: (why: 'dm-chained' | 'plain-data') => Uint8Array | undefined;
}

function gpio(dev: Device, events: RomEvent[], psi: number, message: string): void {
  dev.psi = psi;
  events.push({ psi, message });
}

/** A failure as the boot report shows it: message, stable code, field and offset when known. */
export function describeFailure(e: unknown): { reason: string; code: string; field?: string; offset?: number } {
  if (e instanceof PlatOtpError) {
    return {
      reason: e.message,
      code: e.lcm?.kind ?? e.kind,
      field: e.field,
      ...(e.lcm?.otpOffset === undefined ? {} : { offset: e.lcm.otpOffset }),
    };
  }
  if (e instanceof LcmError) return { reason: e.message, code: e.kind, ...(e.otpOffset === undefined ? {} : { offset: e.otpOffset }) };
  if (isRseError(e)) return { reason: e.message, code: e.code, ...(e.field === undefined ? {} : { field: e.field }) };
  throw e;
}

/** The ROM's area for a bundle. */
export function bundleArea(dev: Device, kind: BundleKind): Uint8Array {
  const loc = BUNDLE_LOCATION[kind];
  const sram = loc.sram === 'vm0' ? dev.vm0 : dev.vm1;
  return sram.subarray(loc.offset, loc.offset + BUNDLE_SIZE);
}

/**
 * `tfm_plat_otp_secure_provisioning_start`: enable SP (a reset), or on the second pass arm the
 * transition, which only the R0 LCM (`LCM_VERSION == 0`) needs: from then on the next cold reset
 * moves the LCS even if provisioning does not finish.
 */
function secureProvisioningStart(dev: Device, events: RomEvent[]): RomOutcome | undefined {
  if (!dev.lcm.spEnabled) {
    dev.lcm.setSpEnabled();
    events.push({ message: 'secure provisioning mode enabled; the RSE resets (SRAM kept)' });
    return { kind: 'reset', cold: false, reason: 'secure provisioning mode enabled' };
  }
  if (dev.lcmVersion !== 0) return undefined;
  const lcs = dev.lcm.getLcs();
  if (lcs === 'CM') {
    dev.lcm.otpWrite(LCM_OTP.cm_config_2, u32(0x800), 'cm_config_2 GPPC bit (R0 CM→DM trigger)');
  } else if (lcs === 'DM') {
    dev.lcm.otpWrite(LCM_OTP.kp_dm, DUMMY_KEY_VALUE, 'KP_DM (R0 dummy)');
    dev.lcm.otpWrite(LCM_OTP.kce_dm, DUMMY_KEY_VALUE, 'KCE_DM (R0 dummy)');
    try {
      dev.lcm.otpWrite(LCM_OTP.dm_config, u32(0xffffffff), 'dm_config (R0 DM→SE trigger)');
    } catch (e) {
      if (!(e instanceof LcmError && e.kind === 'WRITE_VERIFY_FAIL')) throw e;
    }
  }
  return undefined;
}

function decryptBundle(dev: Device, kind: BundleKind): ReturnType<typeof decodeBundle> {
  const which = kind === 'cm' ? 'CM' : 'DM';
  const state = bootState({
    lcs: PLAT_OTP_LCS[which],
    tpMode: dev.lcm.tpModeRegister,
    reprovisioningBits: readU32le(dev.plat.read('reprovisioning_bits')),
    bl1_2Hash: new Uint8Array(32),
  });
  const key = provisioningKey(which, dev.kmu.use(KMU_SLOT.KRTL), state);
  dev.kmu.set(kind === 'cm' ? KMU_SLOT.CM_PROVISIONING_KEY : KMU_SLOT.DM_PROVISIONING_KEY, key);
  return decodeBundle(kind, key, bundleArea(dev, kind).slice(), `${which} bundle`);
}

/**
 * Writes a key drawn from the TRNG. The resumable code keeps a key an interrupted run already
 * programmed (rsekit's fault model cuts between whole field programs, so a non-blank key field
 * is complete); TF-M's code draws a new one, which the OTP refuses.
 */
function writeRandomKey(dev: Device, field: string, resumable: boolean, events: RomEvent[]): void {
  if (resumable && dev.plat.read(field).some((b) => b !== 0)) {
    events.push({ message: `${field} was programmed by an interrupted run: kept` });
    return;
  }
  dev.plat.write(field, dev.trng(32));
}

/** The CM bundle's `do_provision`, natively. */
function doProvisionCm(dev: Device, values: Uint8Array, resumable: boolean, events: RomEvent[]): void {
  const v = decodeCmValues(values);
  const p = dev.plat;
  p.write('guk', v.guk);
  p.write('bl1_2_image', v.bl1_2Image);
  p.write('bl1_2_image_len', u32(v.bl1_2Image.length));
  p.write('rotpk', v.bl1_2ImageHash);
  p.write('cca_system_properties', u32(v.ccaSystemProperties));
  p.write('dma_ics', v.dmaOtpIcs);
  writeRandomKey(dev, 'huk', resumable, events);
  writeRandomKey(dev, 'kce_cm', resumable, events);
  events.push({
    message: 'CM values written: GUK, BL1_2 image, length and hash, CCA system properties, ICS, HUK and KCE_CM from the TRNG',
  });
  p.writeLcs('DM');
}

/** The DM bundle's `do_provision`, natively. */
function doProvisionDm(dev: Device, values: Uint8Array, resumable: boolean, events: RomEvent[]): void {
  const v = decodeDmValues(values);
  const p = dev.plat;
  const pad32 = (b: Uint8Array): Uint8Array => {
    const out = new Uint8Array(32);
    out.set(b);
    return out;
  };
  writeRandomKey(dev, 'runtime_otp_encryption_key', resumable, events);
  p.write('rse_id', u32(v.rseId));
  p.write('bl2_encryption_key', v.bl2EncryptionKey);
  p.write('bl1_rotpk_0', v.bl1Rotpk0);
  v.bl2Rotpk.forEach((r, i) => {
    p.write(`bl2_rotpk_${i}`, r);
  });
  p.write('s_image_encryption_key', v.sImageEncryptionKey);
  p.write('ns_image_encryption_key', v.nsImageEncryptionKey);
  p.write('host_rotpk_s', v.hostRotpkS);
  p.write('host_rotpk_ns', v.hostRotpkNs);
  p.write('host_rotpk_cca', v.hostRotpkCca);
  p.write('implementation_id', v.implementationId);
  p.write('verification_service_url', pad32(v.verificationServiceUrl));
  p.write('profile_definition', pad32(v.profileDefinition));
  p.write('secure_debug_pk', v.secureDebugPk);
  events.push({
    message:
      'DM values written: runtime OTP key (TRNG), RSE id, BL2 key, BL1/BL2 ROTPKs, S/NS image keys, host ROTPKs, attestation ids, debug key',
  });
  p.writeLcs('SE');
}

function provisionBundle(dev: Device, kind: BundleKind, events: RomEvent[]): RomOutcome {
  const which = kind === 'cm' ? 'CM' : 'DM';
  const starts = kind === 'cm' ? PSI.CM_PROVISIONING_STARTS : PSI.DM_PROVISIONING_STARTS;
  const noBlob = kind === 'cm' ? PSI.CM_FAILED_NO_AUTHENTICATED_BLOB : PSI.DM_FAILED_NO_AUTHENTICATED_BLOB;
  const other = kind === 'cm' ? PSI.CM_FAILED_OTHER_ERROR : PSI.DM_FAILED_OTHER_ERROR;
  const done = kind === 'cm' ? PSI.CM_FINISHED : PSI.DM_FINISHED;
  gpio(dev, events, starts, `${which} secure provisioning starts`);
  let plain: ReturnType<typeof decodeBundle>;
  try {
    plain = decryptBundle(dev, kind);
  } catch (e) {
    const d = describeFailure(e);
    gpio(dev, events, noBlob, `${which} bundle decryption failed: ${d.reason}`);
    return { kind: 'error', ...d };
  }
  // The decrypted code lands at VM0 base and is wiped after the call, with the values.
  dev.vm0.set(plain.code.subarray(0, Math.min(BUNDLE_CODE_SIZE, dev.vm0.length)), 0);
  const resumable = isResumableCode(plain.code);
  if (resumable) events.push({ message: `${which} bundle carries rsekit's resumable provisioning code` });
  try {
    if (kind === 'cm') doProvisionCm(dev, plain.values, resumable, events);
    else doProvisionDm(dev, plain.values, resumable, events);
  } catch (e) {
    const d = describeFailure(e);
    gpio(dev, events, other, `${which} provisioning failed: ${d.reason}`);
    return { kind: 'error', ...d };
  } finally {
    plain.values.fill(0);
    plain.code.fill(0);
    dev.vm0.fill(0, 0, BUNDLE_CODE_SIZE);
  }
  gpio(dev, events, done, `${which} provisioning succeeded; the RSE resets`);
  return { kind: 'reset', cold: true, reason: `${which} provisioning finished` };
}

/**
 * One pass of `tfm_plat_provisioning_perform` from the current LCS and TP mode. Returns how it
 * ended: a reset (warm for SP mode, cold otherwise), a wait (TP mode from a debugger, a bundle
 * not loaded yet), an error with its PSI code set, or "not required" (SE / RMA).
 */
export function romProvisioning(dev: Device, rig: RigInput, events: RomEvent[]): RomOutcome {
  try {
    const lcs = dev.lcm.getLcs();
    if (lcs !== 'CM' && lcs !== 'DM') {
      if (lcs === 'RMA') gpio(dev, events, PSI.RMA_IDLE, 'LCS RMA: no provisioning');
      else gpio(dev, events, PSI.SE_ROM_BOOT, 'LCS SE: provisioning not required');
      return { kind: 'not-required' };
    }
    const tp = dev.lcm.tpMode;
    if (tp === 'VIRGIN') {
      gpio(dev, events, PSI.VIRGIN_IDLE, 'TP mode Virgin');
      const mode = dev.json.dummyProvisioning ? dev.json.romTpMode : rig.tpMode;
      if (mode === undefined) return { kind: 'wait', reason: 'tp-mode' };
      dev.lcm.setTpMode(mode);
      events.push({
        message: `TP mode set to ${mode}${dev.json.dummyProvisioning ? ' (dummy provisioning ROM)' : ' (by the debugger)'}; the RSE resets`,
      });
      return { kind: 'reset', cold: true, reason: `TP mode ${mode} set` };
    }
    if (tp !== 'TCI' && tp !== 'PCI') return { kind: 'error', reason: `TP mode register is invalid (${tp})`, code: 'INVALID_TP_MODE' };
    const kind = lcs === 'CM' ? 'cm' : 'dm';
    gpio(dev, events, kind === 'cm' ? PSI.CM_IDLE : PSI.DM_IDLE, `LCS ${lcs}: waiting for the ${lcs} bundle`);
    if (!bundlePresent(kind, bundleArea(dev, kind))) return { kind: 'wait', reason: kind === 'cm' ? 'cm-bundle' : 'dm-bundle' };
    return secureProvisioningStart(dev, events) ?? provisionBundle(dev, kind, events);
  } catch (e) {
    return { kind: 'error', ...describeFailure(e) };
  }
}
