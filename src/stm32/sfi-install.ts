/**
 * Secure Firmware Install on the virtual STM32L552, as the RSS runs it: the device certificate to
 * the HSM, the license unwrapped with the chip key, the image's header authenticated with the
 * firmware key, every area authenticated and decrypted, the firmware programmed page by page,
 * the option bytes applied last. All or nothing: nothing reaches the device's files until every
 * check passed and every page is staged, and the files change in one commit (see
 * {@link L5Device.save}), so a power cut at any write leaves the device as it was or installed.
 * @module
 */
import { constantTimeEqual, randomBytes } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import type { FaultPlan } from '../lib/power-cut.ts';
import { checkObChange, EXT_BASE, EXT_SIZE, editOptionBytes, flashOffset, isSecurePage, type OptionBytes, PAGE_SIZE } from './l5.ts';
import { L5Device, l5ChipKey, type OtfdecRegion, otfdecCrypt } from './l5-device.ts';
import { AREA_TYPES, checkHeaderTag, decryptArea, FLAG_UNIQUE_KEY, parseSfi } from './sfi.ts';
import { newSessionId, unwrapLicense } from './ssp.ts';

export { FaultPlan, PowerCut } from '../lib/power-cut.ts';

export interface SfiStep {
  readonly ok: boolean;
  readonly what: string;
}

/** An SFI install: each step, the writes made, and why it stopped if it did. */
export interface SfiInstallReport {
  readonly ok: boolean;
  readonly steps: readonly SfiStep[];
  /** Flash pages programmed and commit writes: the points where power may be cut. */
  readonly writes: number;
  readonly halt?: string;
}

/** The HSM as the programmer reaches it. */
export interface LicenseSource {
  issue(certificate: Uint8Array, sessionId?: number): Promise<Uint8Array>;
}

/**
 * Installs `image` on the device in `dir`. `faults`: counts the writes and may cut the power
 * before one (tests, fault campaigns); `license`: send this license instead of asking the HSM
 * (a replay).
 */
export async function sfiInstall(
  dir: string,
  image: Uint8Array,
  hsm: LicenseSource | undefined,
  o: { faults?: FaultPlan; license?: Uint8Array; check?: { key?: Uint8Array } } = {},
): Promise<SfiInstallReport> {
  const dev = L5Device.open(dir);
  const steps: SfiStep[] = [];
  let writes = 0;
  const write = (what: string): void => {
    o.faults?.point(what);
    writes++;
  };
  const stop = (what: string): SfiInstallReport => {
    steps.push({ ok: false, what });
    return { ok: false, steps, writes, halt: what };
  };
  const step = (what: string): void => {
    steps.push({ ok: true, what });
  };
  if (dev.rdp !== '0') return stop(`SFI needs RDP level 0; the device is at level ${dev.rdp}`);
  let img: ReturnType<typeof parseSfi>;
  try {
    img = parseSfi(image);
  } catch (e) {
    if (e instanceof RseError) return stop(`SFI image: ${e.code}: ${e.message}`);
    throw e;
  }
  step(`SFI image parsed: ${img.areas.map((a) => `${a.type}@${hex0x(a.destination, 8)}+${a.length}`).join(', ')}`);
  const layout = areaLayoutProblem(img);
  if (layout !== undefined) return stop(layout);
  // A check (rse sfi check, install --dry-run) asks for no license: with the OEM key it runs every
  // other step and writes nothing; without it the area contents stay unchecked.
  let key: Uint8Array;
  if (o.check !== undefined) {
    if (o.check.key === undefined) {
      step('area contents (firmware, option bytes, OTFDEC key) not checked: they are encrypted (give the OEM key to check them)');
      return { ok: true, steps, writes };
    }
    key = o.check.key.slice();
  } else {
    // The license: the device certificate out, the license in, unwrapped with the chip key.
    const sessionId = newSessionId();
    let license: Uint8Array;
    try {
      if (hsm === undefined && o.license === undefined) return stop('no HSM to ask for a license');
      license = o.license ?? (await (hsm as LicenseSource).issue(dev.certificateMessage(), sessionId));
    } catch (e) {
      if (e instanceof RseError) return stop(`HSM: ${e.code}: ${e.message}`);
      throw e;
    }
    step(`device ${dev.productId}: certificate sent, license received (session 0x${sessionId.toString(16).padStart(8, '0')})`);
    let secret: Uint8Array;
    try {
      secret = unwrapLicense({ chipKey: l5ChipKey(dev.chipSecret), license, family: 'sfi', version: 0, versionName: 'RSS', sessionId });
    } catch (e) {
      if (e instanceof RseError) return stop(`license: ${e.code}: ${e.message}`);
      throw e;
    }
    key = secret.slice(16, 32);
    const nonce = secret.slice(0, 12);
    secret.fill(0);
    if (!constantTimeEqual(nonce, img.header.nonce)) {
      key.fill(0);
      return stop('license: it is for another SFI image (the nonce differs)');
    }
  }
  try {
    if (!checkHeaderTag(img, key)) return stop('SFI header tag does not authenticate: the image was made with another OEM key');
    step(`license unwrapped; SFI header authenticated (protocol ${img.header.protocolVersion}, ${img.header.areaCount} areas)`);
    // Every area authenticated and decrypted before anything is programmed.
    const flash = dev.flash.slice();
    let ob: OptionBytes = dev.ob;
    const plains: Uint8Array[] = [];
    try {
      for (let i = 0; i < img.areas.length; i++) plains.push(decryptArea(img, i, key));
    } catch (e) {
      if (e instanceof RseError) return stop(`${e.code}: ${e.message}`);
      throw e;
    }
    // SFIx: the OTFDEC key slot (K: 16 bytes = the global key, empty = one drawn on chip) and its X areas.
    const external = dev.external.slice();
    const kIndex = img.areas.findIndex((a) => a.type === 'K');
    const xAreas = img.areas.filter((a) => a.type === 'X');
    let otfdecKey: Uint8Array | undefined;
    let keyAddress = 0;
    if (xAreas.length > 0) {
      if (kIndex < 0) return stop('external-flash areas but no OTFDEC key area');
      const k = plains[kIndex] as Uint8Array;
      if (k.length !== 0 && k.length !== 16)
        return stop(`area ${kIndex} (OTFDEC key): ${k.length} bytes, 16 (global key) or 0 (device-unique)`);
      const unique = k.length === 0;
      if (xAreas.some((a) => ((a.flags & FLAG_UNIQUE_KEY) !== 0) !== unique))
        return stop(`the external-flash areas and the OTFDEC key area disagree on the key (${unique ? 'device-unique' : 'global'})`);
      otfdecKey = unique ? randomBytes(16) : k.slice();
      keyAddress = (img.areas[kIndex] as (typeof img.areas)[number]).destination;
    }
    const regions: OtfdecRegion[] = [];
    for (const [i, a] of img.areas.entries()) {
      const plain = plains[i] as Uint8Array;
      if (a.type === 'K') {
        if (otfdecKey === undefined) continue;
        const off = flashOffset(keyAddress, 16);
        if (off === undefined) return stop(`area ${i} (OTFDEC key): 0x${keyAddress.toString(16)} is not in the internal flash`);
        write(`OTFDEC key at 0x${keyAddress.toString(16)}`);
        flash.set(otfdecKey, off);
        step(
          `area ${i} (OTFDEC key): ${plain.length === 0 ? 'a device-unique key drawn on chip' : 'the global key'} stored at ${hex0x(keyAddress, 8)}`,
        );
        continue;
      }
      if (a.type === 'X') {
        const off = a.destination - EXT_BASE;
        if (off < 0 || off + plain.length > EXT_SIZE)
          return stop(`area ${i}: ${plain.length} bytes at 0x${a.destination.toString(16)} do not fit the external flash`);
        const nonce8 = img.header.nonce.subarray(0, 8);
        const version = img.header.imageVersion & 0xffff;
        const cipher = otfdecCrypt(otfdecKey as Uint8Array, nonce8, version, a.destination, plain);
        for (let p = 0; p < cipher.length; p += PAGE_SIZE) {
          write(`area ${i} external page at 0x${(a.destination + p).toString(16)}`);
          external.set(cipher.subarray(p, p + PAGE_SIZE), off + p);
        }
        regions.push({
          start: a.destination,
          end: a.destination + plain.length - 1,
          keyAddress,
          nonce: toHex(nonce8),
          version,
          keyMode: a.flags & FLAG_UNIQUE_KEY ? 'unique' : 'global',
        });
        step(
          `area ${i} (external firmware): ${plain.length} bytes authenticated, decrypted, re-encrypted for OTFDEC and programmed at ${hex0x(a.destination, 8)}`,
        );
        continue;
      }
      if (a.type === 'F' || a.type === 'M') {
        const off = flashOffset(a.destination, plain.length);
        if (off === undefined) return stop(`area ${i}: ${plain.length} bytes at 0x${a.destination.toString(16)} do not fit the flash`);
        for (let p = 0; p < plain.length; p += PAGE_SIZE) {
          write(`area ${i} page at 0x${(a.destination + p).toString(16)}`);
          flash.set(plain.subarray(p, p + PAGE_SIZE), off + p);
        }
        step(
          `area ${i} (${AREA_TYPES[a.type]}): ${plain.length} bytes authenticated, decrypted and programmed at ${hex0x(a.destination, 8)}`,
        );
      } else if (a.type === 'C') {
        const edits = new TextDecoder()
          .decode(plain)
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        try {
          ob = editOptionBytes(ob, edits);
          checkObChange(dev.ob, ob, 'secure');
        } catch (e) {
          if (e instanceof RseError) return stop(`area ${i} (configuration): ${e.message}`);
          throw e;
        }
        step(`area ${i} (configuration): option bytes ${edits.join(' ')} applied last`);
      }
    }
    otfdecKey?.fill(0);
    if (regions.length > 0) {
      const l = dev.locate(keyAddress);
      if (!isSecurePage(ob, l.bank, l.page))
        return stop(`the OTFDEC key at ${hex0x(keyAddress, 8)} would sit in non-secure flash once the option bytes apply`);
    }
    for (const p of plains) p.fill(0);
    if (o.check !== undefined) {
      step('check only: every step passed, nothing written, no license spent');
      return { ok: true, steps, writes };
    }
    // One commit for flash and option bytes; then the reset that launches the option bytes.
    dev.flash.set(flash);
    dev.external.set(external);
    dev.otfdec = [...dev.otfdec.filter((r) => !regions.some((n) => n.start <= r.end && r.start <= n.end)), ...regions];
    dev.ob = ob;
    dev.reset();
    dev.save((what) => write(what));
    step('flash and option bytes committed; system reset');
    return { ok: true, steps, writes };
  } finally {
    key.fill(0);
  }
}

/** What in the image's clear area descriptors the device cannot take (destinations, the OTFDEC key area), if anything. */
function areaLayoutProblem(img: ReturnType<typeof parseSfi>): string | undefined {
  const hasX = img.areas.some((a) => a.type === 'X');
  if (hasX && !img.areas.some((a) => a.type === 'K')) return 'external-flash areas but no OTFDEC key area';
  for (const [i, a] of img.areas.entries()) {
    if ((a.type === 'F' || a.type === 'M') && flashOffset(a.destination, a.length) === undefined)
      return `area ${i}: ${a.length} bytes at 0x${a.destination.toString(16)} do not fit the flash`;
    if (a.type === 'K' && flashOffset(a.destination, 16) === undefined)
      return `area ${i} (OTFDEC key): 0x${a.destination.toString(16)} is not in the internal flash`;
    if (a.type === 'X' && (a.destination < EXT_BASE || a.destination - EXT_BASE + a.length > EXT_SIZE))
      return `area ${i}: ${a.length} bytes at 0x${a.destination.toString(16)} do not fit the external flash`;
  }
  return undefined;
}
