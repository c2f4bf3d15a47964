/**
 * Powering a virtual RSE on: BL1_1's platform init (LCM init, OTP size and integrity checks)
 * and its provisioning dispatch, through the warm resets of secure-provisioning mode, up to the
 * point where BL1_1 would hand over to BL1_2 or the device resets, waits or stops. And the
 * provisioning rig: the whole Virgin → TCI/PCI → CM → DM → SE journey.
 * @module
 */

import { bundleKey } from '../crypto/rse-keys.ts';
import { type CreateOptions, Device, type DeviceStore } from '../device/device.ts';
import { readU32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, hex0x } from '../lib/hex.ts';
import { LcmError, type LcsName, lcsFromOtp, TP_MODE } from '../otp/lcm.ts';
import type { IntegrityProblem } from '../otp/plat-otp.ts';
import { asRseProfile } from '../profiles/index.ts';
import type { ProvisioningFormat } from '../profiles/types.ts';
import { BUNDLE_SIZE, type BundleKind, checkBundleShape, encodeBundle } from '../provisioning/bundle.ts';
import { PROVISIONING_MESSAGE_TYPE } from '../provisioning/message.ts';
import { LCS_BIT, messageProvisioning, ROM_ROTPK_FILE, stageMessage } from '../provisioning/messages-rom.ts';
import { bl1_2MessageProvisioning, stageBl1_2Message, stageRuntimeMessage } from '../provisioning/revocation-2.3.ts';
import { BUNDLE_LOCATION, PSI_NAMES, type RigInput, type RomEvent, type RomOutcome, romProvisioning } from '../provisioning/rom.ts';
import {
  BL2_DATA_FILE,
  BL2_DATA_SIZE,
  bl2DataInputs,
  decodeRomBundle,
  dummyFirmwareData,
  encodeBl2Data,
  encodeRomBundle,
  encodeTfmData,
  ROM_BUNDLE_AREA,
  ROM_BUNDLE_OFFSET,
  romBundleInputs,
  rss17Pass,
  TFM_DATA_FILE,
  TFM_DATA_SIZE,
  tfmDataInputs,
} from '../provisioning/rss17.ts';
import { cmInputs, dmInputs, type ReadFile } from '../provisioning/values.ts';

/** How a power-on ended. */
export type PowerOnResult =
  | { readonly kind: 'ready' }
  | { readonly kind: 'cold-reset'; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: 'tp-mode' | 'cm-bundle' | 'dm-bundle' | 'message' }
  | { readonly kind: 'halt'; readonly reason: string; readonly code: string; readonly field?: string; readonly offset?: number };

/** One power-on of the ROM: the lifecycle state, the provisioning events and PSI codes, and how it ended. */
export interface PowerOnReport {
  readonly lcs: LcsName | 'FATAL';
  readonly tpMode: string;
  readonly events: readonly RomEvent[];
  readonly integrity: readonly IntegrityProblem[];
  readonly psi: number;
  readonly result: PowerOnResult;
}

/** `tfm_plat_otp_init`: LCM init (fatal on key error in SE, RMA wipe) and the integrity check. */
function otpInit(dev: Device, events: RomEvent[]): { problems: IntegrityProblem[]; halt?: PowerOnResult } {
  try {
    dev.lcm.init();
  } catch (e) {
    if (e instanceof LcmError) {
      events.push({ message: `LCM init failed: ${e.message}` });
      return { problems: [], halt: { kind: 'halt', reason: e.message, code: e.kind } };
    }
    throw e;
  }
  const lcs = dev.lcm.getLcs();
  const problems = dev.plat.integrityProblems(lcs);
  if (problems.length > 0) {
    const first = problems[0] as IntegrityProblem;
    const msg = `OTP integrity check failed: ${first.check} at ${hex0x(first.offset, 3)} has ${first.computed} zero bits, ${first.stored} recorded`;
    events.push({ message: msg });
    return { problems, halt: { kind: 'halt', reason: msg, code: 'E_INTEGRITY', field: first.check, offset: first.offset } };
  }
  return { problems };
}

/** The files a new device of each provisioning format holds besides its memories. */
const FIRMWARE_FILES: Readonly<Record<ProvisioningFormat, (dummy: boolean) => Record<string, Uint8Array>>> = {
  'cm-dm-bundles': () => ({}),
  messages: () => ({}),
  // What the BL2 and TF-M images carry: the dummy data, or a zeroed struct (no magic).
  'rom-bundle-stages': (dummy) => {
    const fw = dummyFirmwareData();
    return {
      [BL2_DATA_FILE]: dummy ? fw.bl2 : new Uint8Array(fw.bl2.length),
      [TFM_DATA_FILE]: dummy ? fw.tfm : new Uint8Array(fw.tfm.length),
    };
  },
};

/**
 * Creates a fresh (Virgin, CM) device in `store` with what its firmware was built with: a
 * {@link Device.create} that also writes the provisioning format's firmware data files.
 */
export function createDevice(store: DeviceStore, options: CreateOptions): Device {
  const profile = asRseProfile(options.profile);
  const files = FIRMWARE_FILES[profile.provisioning.format](options.dummyProvisioning ?? true);
  const rotpk = profile.provisioning.messages?.romRotpkTci;
  const rom = rotpk === undefined ? {} : { [ROM_ROTPK_FILE.TCI]: fromHex(rotpk), [ROM_ROTPK_FILE.PCI]: fromHex(rotpk) };
  return Device.create(store, { ...options, files: { ...files, ...rom, ...options.files } });
}

/** BL1_1's provisioning pass for each provisioning format. */
const ROM_PASS: Readonly<Record<ProvisioningFormat, (dev: Device, rig: RigInput, events: RomEvent[]) => RomOutcome>> = {
  'cm-dm-bundles': romProvisioning,
  'rom-bundle-stages': (dev, _rig, events) => rss17Pass(dev, events),
  messages: messageProvisioning,
};

/** Powers the device on once (a cold boot), running BL1_1 through any warm resets. */
export function powerOn(dev: Device, rig: RigInput = {}): PowerOnReport {
  const events: RomEvent[] = [];
  dev.coldReset();
  dev.psi = 0;
  dev.json.boots++;
  let integrity: IntegrityProblem[] = [];
  let result: PowerOnResult | undefined;
  for (let pass = 0; pass < 8 && result === undefined; pass++) {
    const init = otpInit(dev, events);
    integrity = init.problems;
    if (init.halt !== undefined) {
      result = init.halt;
      break;
    }
    const out = ROM_PASS[dev.profile.provisioning.format](dev, rig, events);
    if (out.kind === 'reset' && !out.cold) {
      dev.spReset();
      continue;
    }
    if (out.kind === 'reset') result = { kind: 'cold-reset', reason: out.reason };
    else if (out.kind === 'wait') result = out;
    else if (out.kind === 'not-required') result = { kind: 'ready' };
    else
      result = {
        kind: 'halt',
        reason: out.reason,
        code: out.code,
        ...(out.field === undefined ? {} : { field: out.field }),
        ...(out.offset === undefined ? {} : { offset: out.offset }),
      };
  }
  const final = result ?? { kind: 'halt', reason: 'BL1_1 reset in a loop', code: 'E_LIFECYCLE' };
  let lcs: LcsName | 'FATAL';
  try {
    lcs = dev.lcm.getLcs();
  } catch {
    lcs = 'FATAL';
  }
  dev.json.lastBoot = describeResult(final, dev.profile.provisioning.psi ? dev.psi : undefined);
  dev.saveJson();
  return { lcs, tpMode: dev.lcm.tpMode, events, integrity, psi: dev.psi, result: final };
}

const WAIT_TEXT = {
  'tp-mode': 'a debugger to choose the TP mode',
  'cm-bundle': 'the CM bundle',
  'dm-bundle': 'the DM bundle',
  message: 'a provisioning message',
} as const;

/** One line about a boot; `psi` is left out for profiles without PSI codes (RSS 1.7). */
export function describeResult(r: PowerOnResult, psi: number | undefined): string {
  const p = psi === undefined ? '' : `PSI 0x${psi.toString(16)}${PSI_NAMES[psi] === undefined ? '' : ` ${PSI_NAMES[psi]}`}: `;
  switch (r.kind) {
    case 'ready':
      return `${p}BL1_1 hands over to BL1_2`;
    case 'cold-reset':
      return `${p}${r.reason}, cold reset`;
    case 'wait':
      return `${p}waiting for ${WAIT_TEXT[r.reason]}`;
    case 'halt':
      return `${p}stopped: ${r.reason} [${r.code}]`;
  }
}

/** Loads a bundle where the ROM polls for it (VM0 + 0x400 for CM, VM1 for DM), as a rig does. */
export function loadBundle(dev: Device, kind: BundleKind, bytes: Uint8Array, source = 'bundle'): void {
  checkBundleShape(kind, bytes, source);
  const loc = BUNDLE_LOCATION[kind];
  const sram = loc.sram === 'vm0' ? dev.vm0 : dev.vm1;
  if (loc.offset + BUNDLE_SIZE > sram.length) throw new RseError('E_SIZE', `${source} does not fit SRAM`, { field: 'bundle' });
  sram.set(bytes, loc.offset);
  dev.saveSram();
}

/** What a provisioning rig brings: 2.1 bundles, or 1.7's ROM bundle and BL2/TF-M data. */
export interface ProvisionInput {
  readonly cm?: Uint8Array;
  readonly dm?: Uint8Array;
  readonly tpMode?: 'TCI' | 'PCI';
  /** Message provisioning (rse-2.3): the messages, in order, each staged in VM1 before the boots that need it. */
  readonly messages?: readonly Uint8Array[];
  /** rss-1.7: the ROM bundle (magic 0xC0DEFEED), placed in the ROM image at 0xE000. */
  readonly romBundle?: Uint8Array;
  /** rss-1.7: the provisioning data BL2 / TF-M were built with (their C structs). */
  readonly bl2Data?: Uint8Array;
  readonly tfmData?: Uint8Array;
}

/** Puts an RSS 1.7 ROM bundle where BL1_1 reads it (ROM offset 0xE000), as building the ROM does. */
export function installRomBundle(dev: Device, bundle: Uint8Array): void {
  decodeRomBundle(bundle, 'ROM bundle');
  if (bundle.length > ROM_BUNDLE_AREA)
    throw new RseError('E_SIZE', `the ROM bundle is ${bundle.length} bytes; the ROM area holds ${ROM_BUNDLE_AREA}`, {
      field: 'rom bundle',
    });
  const rom = dev.store.read('rom.bin');
  if (rom === undefined || rom.length < ROM_BUNDLE_OFFSET + bundle.length)
    throw new RseError('E_DEVICE', 'rom.bin is missing or too small for the ROM bundle', { field: 'rom.bin' });
  rom.set(bundle, ROM_BUNDLE_OFFSET);
  dev.store.write('rom.bin', rom);
}

/** One stage of a provisioning run, for progress lines. */
export interface StageReport {
  readonly boot: number;
  readonly lcs: string;
  readonly tpMode: string;
  readonly psi: number;
  readonly summary: string;
  readonly events: readonly RomEvent[];
}

/** A provisioning run: each boot of the rig and whether the device reached SE. */
export interface ProvisionRunResult {
  readonly stages: readonly StageReport[];
  readonly final: PowerOnReport;
  readonly ok: boolean;
}

/**
 * The provisioning rig: loads the bundles, then powers the device on again after every cold
 * reset until BL1_1 would hand over to BL1_2 (SE), or it stops or waits for something the rig
 * does not have. `onStage` sees each boot as it ends.
 */
export function provisionRun(dev: Device, input: ProvisionInput, onStage?: (s: StageReport) => void): ProvisionRunResult {
  if (dev.profile.provisioning.format === 'messages') return messageRun(dev, input, onStage);
  if (input.messages !== undefined) throw new RseError('E_USAGE', `${dev.profile.name} devices take bundles, not provisioning messages`);
  if (dev.profile.provisioning.format === 'cm-dm-bundles') {
    for (const k of ['romBundle', 'bl2Data', 'tfmData'] as const)
      if (input[k] !== undefined)
        throw new RseError('E_USAGE', `${k} is for ROM-bundle devices (rss-1.7); ${dev.profile.name} takes CM and DM bundles`);
  } else {
    if (input.cm !== undefined || input.dm !== undefined)
      throw new RseError('E_USAGE', `${dev.profile.name} devices take a ROM bundle and BL2/TF-M data, not CM/DM bundles`);
    if (input.romBundle !== undefined) installRomBundle(dev, input.romBundle);
    const sized = (what: string, b: Uint8Array, n: number): Uint8Array => {
      if (b.length !== n) throw new RseError('E_SIZE', `${what} is ${b.length} bytes; the struct is ${n}`, { field: what });
      return b;
    };
    if (input.bl2Data !== undefined) dev.store.write(BL2_DATA_FILE, sized('BL2 data', input.bl2Data, BL2_DATA_SIZE));
    if (input.tfmData !== undefined) dev.store.write(TFM_DATA_FILE, sized('TF-M data', input.tfmData, TFM_DATA_SIZE));
  }
  if (input.cm !== undefined) loadBundle(dev, 'cm', input.cm, 'CM bundle');
  if (input.dm !== undefined) loadBundle(dev, 'dm', input.dm, 'DM bundle');
  const stages: StageReport[] = [];
  const rig: RigInput = input.tpMode === undefined ? {} : { tpMode: input.tpMode };
  for (let boot = 1; boot <= 8; boot++) {
    const r = powerOn(dev, rig);
    const s: StageReport = {
      boot,
      lcs: r.lcs,
      tpMode: r.tpMode,
      psi: r.psi,
      summary: dev.json.lastBoot ?? '',
      events: r.events,
    };
    stages.push(s);
    onStage?.(s);
    if (r.result.kind !== 'cold-reset') return { stages, final: r, ok: r.result.kind === 'ready' && r.lcs === 'SE' };
  }
  throw new RseError('E_LIFECYCLE', 'the device kept resetting: 8 cold boots without reaching SE', { field: 'provisioning' });
}

export { stageMessage } from '../provisioning/messages-rom.ts';

/** The LCS bits a message is valid in (purpose bits [31:28]); 0 for a message without an authentication header. */
function validLcsMask(m: Uint8Array): number {
  const type = m.length >= 0x78 ? readU32le(m, 0) : 0;
  const authenticated = type === PROVISIONING_MESSAGE_TYPE.BLOB || type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA;
  return authenticated ? readU32le(m, 0x70) >>> 28 : 0;
}

/**
 * The message rig: stages each message before the boot that needs it and powers the device on
 * after every reset; a message is done once every LCS it is valid in is behind the device (a
 * combined blob serves CM and DM). When a blob's code waits for the next message (a chained
 * loader, a plain-data handler) the rig hands over the one after it. In SE, a blob (or an
 * authenticated plain data message) is staged for BL1_2, as a rig does with no flash attached.
 */
function messageRun(dev: Device, input: ProvisionInput, onStage?: (s: StageReport) => void): ProvisionRunResult {
  for (const k of ['cm', 'dm', 'romBundle', 'bl2Data', 'tfmData'] as const)
    if (input[k] !== undefined) throw new RseError('E_USAGE', `${dev.profile.name} devices take provisioning messages, not ${k}`);
  const messages = input.messages ?? [];
  let next = 0;
  /** The last message handed over in this boot (staged, or fetched by a blob's code), and the last one fetched. */
  let cursor = -1;
  let fetched = -1;
  const rig: RigInput = {
    nextMessage: () => {
      if (cursor < 0 || cursor + 1 >= messages.length) return undefined;
      cursor++;
      fetched = cursor;
      return messages[cursor];
    },
  };
  const stages: StageReport[] = [];
  for (let boot = 1; boot <= 4 + 3 * messages.length; boot++) {
    // Messages whose LCSs are all behind the device (a re-run after a power cut), or that a blob's
    // code already fetched, are done.
    const lcsBit = LCS_BIT[lcsFromOtp(dev.otp)];
    if (fetched >= next) next = fetched + 1;
    while (next < messages.length && validLcsMask(messages[next] as Uint8Array) < lcsBit) next++;
    const m = messages[next];
    if (m !== undefined) {
      const type = m.length >= 4 ? readU32le(m, 0) : 0;
      if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA) stageRuntimeMessage(dev, m);
      else if (lcsBit === LCS_BIT.SE) stageBl1_2Message(dev, m);
      else stageMessage(dev, m);
    }
    cursor = m === undefined ? -1 : next;
    const r = powerOn(dev, rig);
    if (r.result.kind === 'ready') {
      // BL1_2 handles a message the runtime or the rig staged for it before it loads BL2.
      const events = [...r.events];
      const b = bl1_2MessageProvisioning(dev, events, rig);
      if (b.kind === 'reset' || b.kind === 'error') {
        const summary = b.kind === 'reset' ? `BL1_2: ${b.reason}, cold reset` : `BL1_2 stopped: ${b.reason} [${b.code}]`;
        dev.json.lastBoot = summary;
        dev.saveJson();
        const s: StageReport = { boot, lcs: r.lcs, tpMode: r.tpMode, psi: r.psi, summary, events };
        stages.push(s);
        onStage?.(s);
        if (b.kind === 'error') {
          const final: PowerOnReport = { ...r, events, result: { kind: 'halt', reason: b.reason, code: b.code } };
          return { stages, final, ok: false };
        }
        next = Math.max(next, fetched) + 1;
        continue;
      }
    }
    const s: StageReport = { boot, lcs: r.lcs, tpMode: r.tpMode, psi: r.psi, summary: dev.json.lastBoot ?? '', events: r.events };
    stages.push(s);
    onStage?.(s);
    if (r.result.kind !== 'cold-reset') return { stages, final: r, ok: r.result.kind === 'ready' && r.lcs === 'SE' };
  }
  throw new RseError('E_LIFECYCLE', 'the device kept resetting without reaching SE', { field: 'provisioning' });
}

/**
 * Provisions a device from one values description (the `--values` YAML of `rse provision
 * bundle`): TCI-keyed CM and DM bundles on rse-2.1, the ROM bundle, BL2 and TF-M data on rss-1.7.
 */
export function provisionFromValues(dev: Device, description: unknown, read: ReadFile): ProvisionRunResult {
  if (dev.profile.provisioning.format === 'cm-dm-bundles') {
    const zero = new Uint8Array(32);
    const cm = encodeBundle('cm', bundleKey('CM', TP_MODE.TCI, zero), cmInputs(description, read));
    const dm = encodeBundle('dm', bundleKey('DM', TP_MODE.TCI, zero), dmInputs(description, read));
    return provisionRun(dev, { cm, dm, tpMode: 'TCI' });
  }
  return provisionRun(dev, {
    romBundle: encodeRomBundle(romBundleInputs(description, read)),
    bl2Data: encodeBl2Data(bl2DataInputs(description, read)),
    tfmData: encodeTfmData(tfmDataInputs(description, read)),
  });
}
