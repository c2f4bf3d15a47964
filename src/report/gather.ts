/**
 * What `rse report DIR` shows, gathered from a directory tree: every flash build (manifest.json),
 * every RSE device (booted in memory: the directory is not touched), every STM32MP15 and STM32L5
 * device. Plain data; {@link renderReport} draws it. @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bootDevice } from '../boot/chain.ts';
import { isDeviceDir, openDeviceCopy } from '../device/device.ts';
import { readStateFile } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { STM32L5, STM32MP1 } from '../profiles/stm32.ts';
import { MP15_PERIPHERALS } from '../stm32/etzpc.ts';
import { hdpPages, isSecurePage, PAGES_PER_BANK } from '../stm32/l5.ts';
import { L5Device } from '../stm32/l5-device.ts';
import { Mp1Device } from '../stm32/mp1.ts';

/** A region of a drawn memory map. */
export interface MapRegion {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly kind: string;
}

/** One memory or flash drawn as a bar of regions. */
export interface MemoryMap {
  readonly title: string;
  readonly size: number;
  readonly regions: readonly MapRegion[];
}

export interface BuildReport {
  readonly path: string;
  readonly platform: string;
  readonly maps: readonly MemoryMap[];
  readonly images: readonly { name: string; version: string; size: number; imageHash: string; signerId: string }[];
}

export interface DeviceReport {
  readonly path: string;
  readonly profile: string;
  readonly tpMode: string;
  readonly lcs: string;
  readonly lastBoot: string;
  readonly boot: {
    readonly ok: boolean;
    readonly halt?: string;
    readonly checks: readonly { stage: string; subject: string; check: string; ok: boolean; detail: string }[];
    readonly measurements: readonly {
      slot: number;
      swType: string;
      version: string;
      signerId: string;
      measurement: string;
      locked: boolean;
    }[];
  };
}

export interface FirewallReport {
  readonly path: string;
  readonly kind: typeof STM32MP1.name | typeof STM32L5.name;
  /** What the cells are, and whether each shows its name (peripherals) or stays a swatch (pages). */
  readonly caption: string;
  readonly labelled: boolean;
  /** MP15: each ETZPC peripheral's DECPROT; L5: each flash page's security. */
  readonly cells: readonly { name: string; mode: string; detail: string }[];
  readonly maps: readonly MemoryMap[];
}

export interface ReportData {
  readonly dir: string;
  readonly generated: string;
  readonly builds: readonly BuildReport[];
  readonly devices: readonly DeviceReport[];
  readonly firewalls: readonly FirewallReport[];
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '' : String(v));

/** Directories under `dir` (itself included), two levels deep, skipping hidden ones. */
function directories(dir: string, depth = 2): string[] {
  const out = [dir];
  if (depth === 0) return out;
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isDirectory()) out.push(...directories(p, depth - 1));
    } catch {
      // vanished or unreadable: not part of the report
    }
  }
  return out;
}

function buildOf(dir: string, root: string): BuildReport | undefined {
  let m: Json | undefined;
  try {
    m = jsonFile(join(dir, 'manifest.json'));
  } catch {
    return undefined;
  }
  if (m === undefined || !Array.isArray(m.images) || typeof m.platform !== 'string') return undefined;
  const maps: MemoryMap[] = [];
  const host = obj(m.hostFlash);
  if (num(host.size) > 0) {
    const parts = arr(host.partitions).map((p) => ({
      name: str(p.name),
      offset: num(p.offset),
      size: num(p.size),
      kind: str(p.content) || 'partition',
    }));
    const placed = arr(host.placements).map((p) => ({ name: str(p.what), offset: num(p.offset), size: num(p.size), kind: 'image' }));
    maps.push({ title: `host flash (${str(host.type) || 'raw'})`, size: num(host.size), regions: [...parts, ...placed] });
  }
  const fip = obj(m.fip);
  if (num(fip.size) > 0)
    maps.push({
      title: 'FIP',
      size: num(fip.size),
      regions: arr(fip.entries).map((e) => ({ name: str(e.entry), offset: num(e.offset), size: num(e.size), kind: 'fip-entry' })),
    });
  const rom = obj(m.rom);
  if (num(rom.size) > 0)
    maps.push({
      title: 'ROM',
      size: num(rom.size),
      regions: arr(rom.placements).map((p) => ({
        name: str(p.what).replace(/^file .*\//, ''),
        offset: num(p.offset),
        size: num(p.size),
        kind: 'rom',
      })),
    });
  return {
    path: relative(root, dir) || '.',
    platform: m.platform,
    maps,
    images: arr(m.images).map((i) => ({
      name: str(i.name),
      version: str(i.version),
      size: num(i.size),
      imageHash: str(i.imageHash),
      signerId: str(i.signerId),
    })),
  };
}

/** Bounds on what the report reads: a manifest or a device.json, and any one device file. */
const JSON_MAX = 16 << 20;
const FILE_MAX = 256 << 20;

/** A JSON file of the tree, bounded, or undefined when it is absent or not JSON. */
function jsonFile(path: string): Json | undefined {
  try {
    const b = readStateFile(path, JSON_MAX);
    return b === undefined ? undefined : obj(JSON.parse(Buffer.from(b).toString('utf8')));
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** An RSE device, booted from a copy of its files (the directory is not changed). */
function deviceOf(dir: string, root: string, json: Json): DeviceReport {
  const r = bootDevice(
    openDeviceCopy(dir, (p) => {
      const b = readStateFile(p, FILE_MAX);
      if (b === undefined) throw new RseError('E_DEVICE', `${p} vanished while the report read it`, { field: p });
      return b;
    }),
  );
  return {
    path: relative(root, dir) || '.',
    profile: str(json.profile),
    tpMode: str(json.romTpMode) || 'waits for a debugger',
    lcs: r.lcs,
    lastBoot: str(json.lastBoot),
    boot: {
      ok: r.ok,
      ...(r.halt === undefined ? {} : { halt: `${r.halt.stage}: ${r.halt.reason} [${r.halt.code}]` }),
      checks: r.checks.map((c) => {
        const at = c.check.lastIndexOf(': ');
        return {
          stage: c.stage,
          subject: at < 0 ? c.stage : c.check.slice(0, at),
          check: at < 0 ? c.check : c.check.slice(at + 2),
          ok: c.ok,
          detail: c.detail ?? '',
        };
      }),
      measurements: r.measurements.map((x) => ({
        slot: x.slot,
        swType: x.swType,
        version: x.version,
        signerId: Buffer.from(x.signerId).toString('hex'),
        measurement: Buffer.from(x.value).toString('hex'),
        locked: x.locked,
      })),
    },
  };
}

function mp1Of(dir: string, root: string): FirewallReport {
  const dev = Mp1Device.open(dir);
  const e = dev.bus.etzpc;
  const cells = MP15_PERIPHERALS.map((p) => ({
    name: p.name,
    mode: e.tzen ? (e.decprot[p.id] ?? 'S_RW') : 'NS_RW',
    detail: `ETZPC id ${p.id}, 0x${p.base.toString(16)}, ${e.locked[p.id] === true ? 'locked' : 'unlocked'}`,
  }));
  const tzc = obj(obj(dev.bus.save()).tzc);
  const regions = (Array.isArray(tzc.regions) ? tzc.regions : []).flatMap((r, i) => {
    const o = obj(r);
    if (r === null || num(o.top) <= num(o.base)) return [];
    const secAttr = num(o.secAttr);
    const kind = secAttr === 3 ? 'secure-rw' : secAttr === 0 ? 'non-secure' : 'mixed';
    return [{ name: `TZC region ${i} (sec_attr ${secAttr})`, offset: num(o.base), size: num(o.top) - num(o.base) + 1, kind }];
  });
  return {
    path: relative(root, dir) || '.',
    kind: STM32MP1.name,
    caption: 'ETZPC: each peripheral’s DECPROT',
    labelled: true,
    cells,
    maps: [{ title: 'DDR through the TZC-400 (4 GiB bus view)', size: 2 ** 32, regions }],
  };
}

function l5Of(dir: string, root: string): FirewallReport {
  const dev = L5Device.open(dir);
  const cells: FirewallReport['cells'][number][] = [];
  const regions: MapRegion[] = [];
  for (const bank of [0, 1] as const) {
    const hdp = hdpPages(dev.ob, bank);
    for (let page = 0; page < PAGES_PER_BANK; page++) {
      const secure = isSecurePage(dev.ob, bank, page);
      const inHdp = hdp !== undefined && page >= hdp[0] && page <= hdp[1];
      const mode = inHdp ? (dev.hdpClosed[bank] ? 'HDP_CLOSED' : 'HDP') : secure ? 'SECURE' : 'NON_SECURE';
      cells.push({ name: `${bank + 1}:${page}`, mode, detail: `bank ${bank + 1} page ${page}` });
    }
    const b = dev.ob.banks[bank];
    if (dev.ob.tzen && b.secwmStart <= b.secwmEnd)
      regions.push({
        name: `bank ${bank + 1} secure pages ${b.secwmStart}..${b.secwmEnd}`,
        offset: bank * PAGES_PER_BANK + b.secwmStart,
        size: b.secwmEnd - b.secwmStart + 1,
        kind: 'secure-rw',
      });
  }
  return {
    path: relative(root, dir) || '.',
    kind: STM32L5.name,
    caption: `flash pages, bank 1 then bank 2 (${PAGES_PER_BANK} each)`,
    labelled: false,
    cells,
    maps: [{ title: `flash pages (RDP level ${dev.rdp}, TZEN ${dev.ob.tzen ? 1 : 0})`, size: 2 * PAGES_PER_BANK, regions }],
  };
}

/** Everything under `dir` the report can show. */
export function gatherReport(dir: string): ReportData {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RseError('E_IO', `${dir} is not a directory`, { field: dir });
  const builds: BuildReport[] = [];
  const devices: DeviceReport[] = [];
  const firewalls: FirewallReport[] = [];
  for (const d of directories(dir)) {
    const b = buildOf(d, dir);
    if (b !== undefined) builds.push(b);
    if (!existsSync(join(d, 'device.json'))) continue;
    try {
      const json = jsonFile(join(d, 'device.json'));
      if (json === undefined) continue;
      if (json.profile === STM32MP1.name) firewalls.push(mp1Of(d, dir));
      else if (json.profile === STM32L5.name) firewalls.push(l5Of(d, dir));
      else if (isDeviceDir(d)) devices.push(deviceOf(d, dir, json));
    } catch (e) {
      // A device the report cannot read is left out, not the report failed.
      if (!(e instanceof RseError)) throw e;
    }
  }
  return { dir, generated: new Date().toISOString(), builds, devices, firewalls };
}
