/**
 * The shape of TF-M 2.3.1's provisioning messages as BL1 reads them (`rse_provisioning_message.h`,
 * `rse_provisioning_values.h`): where the authentication header's fields sit, the staging area in
 * VM1, the ROM's provisioning keys, the KPROV derivation, and rsekit's provisioning code.
 * @module
 */
import { kdfCmacCounterBe } from '../crypto/kdf.ts';
import type { Device } from '../device/device.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import type { LcsName } from '../otp/lcm.ts';
import { RSE_2_3_AREAS, RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { BLOB_AUTH_HEADER_SIZE, MESSAGE_HEADER_SIZE } from './message.ts';

/** The code rsekit's message builder puts in a blob: a marker, then the DATA section's length and the flow. */
export const RSEKIT_PROVISIONING_CODE_MAGIC = 'RSEKIT-PROVCODE\0';
/**
 * What a blob's code does, as TF-M 2.3.1's provisioning code targets do (`bundle/CMakeLists.txt`):
 * `cm`, `dm` and `combined` provision (`*_provisioning_code.c`); `dm-chained` fetches the next
 * message and hands it to the blob handler as a chained one (`dm_chained_provisioning_code.c`);
 * `plain-data` fetches a plain data message and runs the plain data handler
 * (`plain_data_handler_provisioning_code.c`: non-endorsed DM ROTPKs, ROTPK revocation).
 */
export const BLOB_FLOWS = ['cm', 'dm', 'combined', 'dm-chained', 'plain-data'] as const;
export type BlobFlow = (typeof BLOB_FLOWS)[number];

/** rsekit's provisioning code for a blob: its marker, the length of DATA before the values, the flow. */
export function rsekitProvisioningCode(flow: BlobFlow, dataSectionLength: number): Uint8Array {
  const code = new Uint8Array(32);
  code.set(new TextEncoder().encode(RSEKIT_PROVISIONING_CODE_MAGIC));
  code.set(u32le(1, dataSectionLength, BLOB_FLOWS.indexOf(flow)), 16);
  return code;
}

/** The flow and values offset of rsekit's provisioning code, or undefined for foreign code. */
export function rsekitCodeOf(code: Uint8Array): { readonly flow: BlobFlow; readonly valuesAt: number } | undefined {
  if (code.length < 32 || new TextDecoder().decode(code.subarray(0, 16)) !== RSEKIT_PROVISIONING_CODE_MAGIC) return undefined;
  const flow = BLOB_FLOWS[readU32le(code, 24)];
  return flow === undefined ? undefined : { flow, valuesAt: readU32le(code, 20) };
}

/** Where the OTP CM area struct starts in `rse_non_secret_cm_provisioning_values_t`: after 4 area infos and the DMA ICS with its size. */
export const CM_STRUCT_AT = 4 * 4 + RSE_2_3_OTP_CONFIG.dmaIcsSize + 4;

/** Sizes of the provisioning values structs of TF-M 2.3.1 with the default OTP configuration. */
export const VALUES_SIZE = {
  cmNonSecret: CM_STRUCT_AT + RSE_2_3_AREAS.cm.size + RSE_2_3_AREAS.bl1_2.size,
  dmNonSecret: RSE_2_3_AREAS.dm.size,
  cmSecret: 96,
  dmSecret: 64,
} as const;

const AUTH = MESSAGE_HEADER_SIZE; // the authentication header starts after the message header
export const H = {
  sigSize: AUTH + 0x00,
  sig: AUTH + 0x04,
  metadata: AUTH + 0x64,
  purpose: AUTH + 0x68,
  iv: AUTH + 0x70,
  socUid: AUTH + 0x78,
  batchId: AUTH + 0x84,
  dmNumber: AUTH + 0x88,
  codeSize: AUTH + 0x8c,
  dataSize: AUTH + 0x90,
  valuesSize: AUTH + 0x94,
  publicKey: AUTH + 0x98,
  body: AUTH + BLOB_AUTH_HEADER_SIZE,
} as const;

/** Bits `at`..`at + width - 1` of a header word. */
export const bits = (w: number, at: number, width: number): number => (w >>> at) & ((1 << width) - 1);
/** The purpose word's valid-LCS bit of each LCS. */
export const LCS_BIT: Readonly<Record<LcsName, number>> = { CM: 1, DM: 2, SE: 4, RMA: 8, INVALID: 0 };

/** The staged message, as the ROM sees it: VM1 from `PROVISIONING_MESSAGE_START`. */
export function messageArea(dev: Device, cfg: MessageProvisioning): Uint8Array {
  return dev.vm1.subarray(cfg.messageOffset, cfg.messageOffset + cfg.messageMaxSize);
}

/** Stages a provisioning message where BL1_1 reads it (VM1 + `PROVISIONING_MESSAGE_START`), as a rig does. */
export function stageMessage(dev: Device, bytes: Uint8Array): void {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined) throw new RseError('E_USAGE', `${dev.profile.name} devices are not provisioned by messages`);
  if (bytes.length > cfg.messageMaxSize)
    throw new RseError('E_SIZE', `the message is ${bytes.length} bytes; the staging area holds ${cfg.messageMaxSize}`, {
      field: 'message',
    });
  const area = messageArea(dev, cfg);
  area.fill(0);
  area.set(bytes);
  dev.saveSram('vm1');
}

/** The ROM's provisioning public key for a TP mode (`tci_rotpk` / `pci_rotpk`), raw X ‖ Y. */
export const ROM_ROTPK_FILE = { TCI: 'rom-rotpk-tci.bin', PCI: 'rom-rotpk-pci.bin' } as const;

/** The KMASTER → KPROV derivation of `rse_provisioning_setup_aes_key`. */
export function provisioningKey23(krtl: Uint8Array, owner: 'CM' | 'DM', number: number): Uint8Array {
  const master = kdfCmacCounterBe(krtl, `KMASTER_${owner}`, u32le(number >>> 0), 32);
  return kdfCmacCounterBe(master, `KPROV_${owner}`, new Uint8Array(0), 32);
}

/**
 * The key a KRTL derivation starts from: the all-zero key in TCI mode, the RTL key in PCI mode,
 * where each load of it into the AES engine raises the OTP KRTL usage counter
 * (`cc3xx_aes_external_key_loader.c`): a 32-byte derivation loads it three times (K0, two blocks).
 */
export function krtlOrZero(dev: Device): Uint8Array {
  if (dev.lcm.tpMode !== 'PCI') return new Uint8Array(32);
  for (let load = 0; load < 3; load++) dev.plat.incrementCounter('header.krtl_usage_counter');
  return dev.krtl;
}
