/**
 * What a provisioned device contributes to its own reference values: the attestation identity
 * (implementation id, instance id and IAK public key, which BL1_2 derives from the boot state) and
 * the measurements BL1_1 takes of what lives in OTP (BL1_2 on RSE 2.1). Found by powering the
 * device on and running BL1 with an empty host flash, on whatever store the device was opened from:
 * open it from a copy ({@link MemoryStore}) to leave the directory untouched.
 * @module
 */

import { runBl1 } from '../boot/bl1.ts';
import { powerOn } from '../boot/power-on.ts';
import type { Measurement } from '../boot/shared-data.ts';
import type { Device } from '../device/device.ts';
import { RseError } from '../lib/errors.ts';
import type { Bl2Layout } from '../profiles/types.ts';
import { type AttestationIdentity, attestationIdentity } from '../services/spm.ts';

/** What a provisioned device contributes to its reference values: identity, BL2 image table, ROM measurements. */
export interface DeviceFacts {
  /** The profile's name. */
  readonly profile: string;
  /** The images BL2 loads and the slots and types it measures them with. */
  readonly bl2: Bl2Layout;
  /** The slot and type BL1_2 measures BL2 with, when the profile's BL1_2 measures it. */
  readonly bl2Measurement: { readonly slot: number; readonly swType: string } | undefined;
  readonly identity: Omit<AttestationIdentity, 'iak'> & { readonly iakPublic: Uint8Array };
  /** BL1_1's measurements (of what the OTP holds). */
  readonly romMeasurements: readonly Measurement[];
}

/** Powers `dev` on and runs BL1 without a host flash; the device must reach BL1_2. */
export function deviceFacts(dev: Device): DeviceFacts {
  const on = powerOn(dev).result;
  if (on.kind !== 'ready')
    throw new RseError('E_DEVICE', `${dev.store.where} does not boot to BL1_2 (${on.kind}: ${on.reason}); is it provisioned?`, {
      field: 'device',
    });
  const bl1 = runBl1(dev, new Uint8Array(0));
  if (bl1.halt?.stage === 'BL1_1')
    throw new RseError('E_DEVICE', `${dev.store.where}: BL1_1 stops: ${bl1.halt.reason}`, { field: 'device' });
  const { iak, ...rest } = attestationIdentity(dev);
  return {
    profile: dev.profile.name,
    bl2: dev.profile.bl2,
    bl2Measurement: dev.profile.bl1.measureBl2,
    identity: { ...rest, iakPublic: iak.publicKey },
    // With no flash BL1_2 finds no BL2: these are BL1_1's measurements of what the OTP holds.
    romMeasurements: bl1.measurements,
  };
}
