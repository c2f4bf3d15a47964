/**
 * The FIP image table: every entry fiptool knows, in ToC order. The generic rows are TF-A's
 * `tbbr_config.c`; the eight RSE rows are the Total Compute platform table (`PLAT=tc`), named
 * `rss-*` up to TF-A v2.10 and `rse-*` from v2.11 with the same UUIDs.
 * @module
 */

import { RseError } from '../lib/errors.ts';

/** Which spelling of the RSE rows a command prints: TF-A v2.10 (`rss`) or v2.11+ (`rse`). */
export type FipNaming = 'rse' | 'rss';

/** One row of fiptool's image table. */
export interface FipTableEntry {
  /** The option name without dashes, e.g. `tb-fw` or `rse-bl2`. */
  readonly cmdline: string;
  /** The name `fiptool info` prints. */
  readonly name: string;
  /** The UUID in fiptool's text form (storage byte order, uppercase). */
  readonly uuid: string;
  /** For an RSE row, the other spelling of its option (`rss-bl2` for `rse-bl2`). */
  readonly alias?: string;
}

const GENERIC: readonly (readonly [string, string, string])[] = [
  ['scp-fwu-cfg', 'SCP Firmware Updater Configuration FWU SCP_BL2U', '65922703-2F74-E644-8DFF-579AC1FF0610'],
  ['ap-fwu-cfg', 'AP Firmware Updater Configuration BL2U', '60B3EB37-C1E5-EA41-9DF3-19EDA11F6801'],
  ['fwu', 'Firmware Updater NS_BL2U', '4F511D11-2BE5-4E49-B4C5-83C2F715840A'],
  ['fwu-cert', 'Non-Trusted Firmware Updater certificate', '71408AB2-18D6-874C-8B2E-C6DCCD50F096'],
  ['tb-fw', 'Trusted Boot Firmware BL2', '5FF9EC0B-4D22-3E4D-A544-C39D81C73F0A'],
  ['scp-fw', 'SCP Firmware SCP_BL2', '9766FD3D-89BE-E849-AE5D-78A140608213'],
  ['soc-fw', 'EL3 Runtime Firmware BL31', '47D4086D-4CFE-9846-9B95-2950CBBD5A00'],
  ['tos-fw', 'Secure Payload BL32 (Trusted OS)', '05D0E189-53DC-1347-8D2B-500A4B7A3E38'],
  ['tos-fw-extra1', 'Secure Payload BL32 Extra1 (Trusted OS Extra1)', '0B70C29B-2A5A-7840-9F65-0A5682738288'],
  ['tos-fw-extra2', 'Secure Payload BL32 Extra2 (Trusted OS Extra2)', '8EA87BB1-CFA2-3F4D-85FD-E7BBA50220D9'],
  ['nt-fw', 'Non-Trusted Firmware BL33', 'D6D0EEA7-FCEA-D54B-9782-9934F234B6E4'],
  ['rmm-fw', 'Realm Monitor Management Firmware', '6C0762A6-12F2-4B56-92CB-BA8F633606D9'],
  ['fw-config', 'FW_CONFIG', '5807E16A-8459-47BE-8ED5-648E8DDDAB0E'],
  ['hw-config', 'HW_CONFIG', '08B8F1D9-C9CF-9349-A962-6FBC6B7265CC'],
  ['tb-fw-config', 'TB_FW_CONFIG', '6C0458FF-AF6B-7D4F-82ED-AA27BC69BFD2'],
  ['soc-fw-config', 'SOC_FW_CONFIG', '9979814B-0376-FB46-8C8E-8D267F7859E0'],
  ['tos-fw-config', 'TOS_FW_CONFIG', '26257C1A-DBC6-7F47-8D96-C4C4B0248021'],
  ['nt-fw-config', 'NT_FW_CONFIG', '28DA9815-93E8-7E44-AC66-1AAF801550F9'],
  ['rot-cert', 'Root Of Trust key certificate', '862D1D72-F860-E411-920B-8BE762160F24'],
  ['trusted-key-cert', 'Trusted key certificate', '827EE890-F860-E411-A1B4-777A21B4F94C'],
  ['scp-fw-key-cert', 'SCP Firmware key certificate', '024221A1-F860-E411-8D9B-F33C0E15A014'],
  ['soc-fw-key-cert', 'SoC Firmware key certificate', '8AB8BECC-F960-E411-9AD0-EB4822D8DCF8'],
  ['tos-fw-key-cert', 'Trusted OS Firmware key certificate', '9477D603-FB60-E411-85DD-B7105B8CEE04'],
  ['nt-fw-key-cert', 'Non-Trusted Firmware key certificate', '8AD5832A-FB60-E411-8AAF-DF30BBC49859'],
  ['tb-fw-cert', 'Trusted Boot Firmware BL2 certificate', 'D6E269EA-5D63-E411-8D8C-9FBABE9956A5'],
  ['scp-fw-cert', 'SCP Firmware content certificate', '44BE6F04-5E63-E411-B28B-73D8EAAE9656'],
  ['soc-fw-cert', 'SoC Firmware content certificate', 'E2B20C20-5E63-E411-9CE8-ABCCF92BB666'],
  ['tos-fw-cert', 'Trusted OS Firmware content certificate', 'A49F4411-5E63-E411-8728-3F05722AF33D'],
  ['nt-fw-cert', 'Non-Trusted Firmware content certificate', '8EC4C1F3-5D63-E411-A7A9-87EE40B23FA7'],
  ['sip-sp-cert', 'SiP owned Secure Partition content certificate', '776DFD44-8697-4C3B-91EB-C13E025A2A6F'],
  ['plat-sp-cert', 'Platform owned Secure Partition content certificate', 'DDCBBF4A-CAD6-11EA-87D0-0242AC130003'],
  ['cca-cert', 'CCA Content Certificate', '36D83D85-761D-4DAF-96F1-CD99D6569B00'],
  ['core-swd-cert', 'Core Secure World Key Certificate', '52222D31-820F-494D-8BBC-EA6825D3C35A'],
  ['plat-key-cert', 'Platform Key Certificate', 'D43CD902-5B9F-412E-8AC6-92B6D18BE60D'],
];

/** The Total Compute rows: option suffix, name suffix, UUID. */
const RSE: readonly (readonly [string, string, string])[] = [
  ['bl1_2', 'BL1_2 image', '0AA5B1BE-E784-41C5-81B8-4A41CB4AD2DF'],
  ['bl2', 'BL2 image', 'A3B3B30D-EBC9-4048-B480-155361C17048'],
  ['scp-bl1', 'SCP BL1 image', 'BFD5098D-A707-4F15-891C-372210CB51E2'],
  ['ap-bl1', 'AP BL1 image', '124C50E0-F2DA-45E9-85C8-DAD9609B7A11'],
  ['ns', 'non-secure image', '8D959F72-B8B1-4211-9AE6-4B8097475AD9'],
  ['s', 'secure image', '22EA3385-F86E-4793-968A-2FE3DD5033CC'],
  ['sic-tables-ns', 'non-secure SIC tables', 'D9100072-6A28-4BEC-B0D6-8CEDC4157CE0'],
  ['sic-tables-s', 'secure SIC tables', 'C738D0DE-8C26-4851-9336-F3DBE2966518'],
];

const tables = new Map<FipNaming, readonly FipTableEntry[]>();

/** The full table (generic rows, then the RSE rows) with the RSE rows spelled as `naming`. */
export function fipTable(naming: FipNaming): readonly FipTableEntry[] {
  let t = tables.get(naming);
  if (t === undefined) {
    const other: FipNaming = naming === 'rse' ? 'rss' : 'rse';
    t = [
      ...GENERIC.map(([cmdline, name, uuid]) => ({ cmdline, name, uuid })),
      ...RSE.map(([suffix, name, uuid]) => ({
        cmdline: `${naming}-${suffix}`,
        name: `${naming.toUpperCase()} Firmware ${name}`,
        uuid,
        alias: `${other}-${suffix}`,
      })),
    ];
    tables.set(naming, t);
  }
  return t;
}

/**
 * The 16 UUID bytes (FIP storage order) of the entry fiptool names `cmdline` (either spelling of
 * an RSE row, e.g. `rse-bl2` or `rss-bl2`).
 */
export function fipEntryUuid(cmdline: string): Uint8Array {
  const e = fipTable('rse').find((t) => t.cmdline === cmdline || t.alias === cmdline);
  if (e === undefined) throw new RseError('E_CONFIG', `no FIP entry ${cmdline}`, { field: 'fip entry' });
  return Uint8Array.from(e.uuid.replaceAll('-', '').match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}
