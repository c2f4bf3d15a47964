/**
 * `rse flash build`: one platform description (images with their signing parameters, the FIP,
 * a raw or GPT host-flash layout and the ROM) becomes `rom.bin`, `host_flash.bin`, the signed
 * images, the FIP and a JSON manifest. Every mismatch is a typed error naming the field:
 * an image larger than its slot, a load address outside the ATU host window, a FIP larger than
 * its partition, overlapping placements.
 * @module
 */

import { type FipImage, fipBytes, fipUuidFromString, fipUuidToString, packFip } from '../fip/fip.ts';
import { partitionBytes, writeGpt } from '../gpt/codec.ts';
import { encodeFwuMetadata } from '../gpt/fwu.ts';
import { type GptLayout, planGpt } from '../gpt/gpt.ts';
import { layout, type Placement } from '../layout/layout.ts';
import { RseError } from '../lib/errors.ts';
import { type FipNaming, fipTable } from '../profiles/fip-table.ts';
import { findRseProfile, rseProfileNames } from '../profiles/index.ts';
import {
  type BuildIo,
  type BuildResult,
  type BuiltImage,
  buildImage,
  cfgError,
  contentOf,
  hex,
  known,
  list,
  num,
  type Obj,
  obj,
  opt,
  sha256,
  str,
} from './images.ts';

function place(
  section: Obj,
  path: string,
  images: Map<string, BuiltImage>,
  io: BuildIo,
  fip: Uint8Array | undefined,
): { bytes: Uint8Array; rows: Obj[] } {
  const placements: Placement[] = [];
  const rows: { what: string; offset: number; size: number; sha256: string }[] = [];
  list(section.placements, `${path}.placements`).forEach((p, i) => {
    const pp = `${path}.placements[${i}]`;
    const po = obj(p, pp);
    known(po, ['image', 'file', 'fip', 'offset'], pp);
    const { what, bytes } = contentOf(po, pp, images, io, fip);
    const offset = num(po.offset, `${pp}.offset`);
    placements.push({ name: `${pp} (${what})`, data: bytes, offset });
    rows.push({ what, offset, size: bytes.length, sha256: sha256(bytes) });
  });
  const size = opt(section, 'size', num, path);
  if (size !== undefined && size > MAX_IMAGE)
    throw new RseError('E_SIZE', `${path}.size ${size} is over the ${MAX_IMAGE}-byte limit of a flash image`, { field: `${path}.size` });
  const out = layout(placements, { maxSize: MAX_IMAGE, ...(size === undefined ? {} : { size }) });
  return { bytes: out.bytes, rows };
}

/** The largest host flash or ROM a description may ask for (a TC host flash is 64 MiB), checked before allocating. */
export const MAX_IMAGE = 128 * 1024 * 1024;

/** Builds everything a platform description asks for; pure apart from `io`. */
export function buildFlash(description: unknown, io: BuildIo): BuildResult {
  const d = obj(description, 'platform');
  known(d, ['platform', 'atu', 'images', 'fip', 'host-flash', 'rom'], 'platform');
  const platformName = str(d.platform ?? 'rse-2.1', 'platform.platform');
  const platform = findRseProfile(platformName);
  if (platform === undefined) throw cfgError('platform.platform', `must be one of ${rseProfileNames().join(', ')}`);
  const naming: FipNaming = platform.fipNaming;
  const atuCfg = d.atu === undefined ? undefined : obj(d.atu, 'atu');
  const atu =
    atuCfg === undefined
      ? undefined
      : { base: num(atuCfg['host-window-base'], 'atu.host-window-base'), size: num(atuCfg['host-window-size'], 'atu.host-window-size') };

  const images = new Map<string, BuiltImage>();
  list(d.images ?? [], 'images').forEach((c, i) => {
    for (const img of buildImage(obj(c, `images[${i}]`), `images[${i}]`, io, atu, platform)) {
      if (images.has(img.name)) throw cfgError(`images[${i}].name`, `image ${img.name} is defined twice`);
      images.set(img.name, img);
    }
  });

  // FIP: option names (either spelling) -> image name or file.
  let fip: Uint8Array | undefined;
  let fipRows: { entry: string; uuid: string; offset: number; size: number; sha256: string; image?: string }[] = [];
  if (d.fip !== undefined) {
    const f = obj(d.fip, 'fip');
    known(f, ['align', 'plat-toc-flags', 'entries'], 'fip');
    const table = fipTable(naming);
    const entries = obj(f.entries, 'fip.entries');
    const chosen = new Map<string, { entry: string; data: Uint8Array; image: string | undefined }>();
    for (const [entry, ref] of Object.entries(entries)) {
      const row = table.find((t) => t.cmdline === entry || t.alias === entry);
      const uuid = row?.uuid ?? (fipUuidFromString(entry) ? entry.toUpperCase() : undefined);
      if (uuid === undefined) throw cfgError(`fip.entries.${entry}`, 'not a fiptool option name (e.g. rse-bl2, tb-fw) or a UUID');
      const r = str(ref, `fip.entries.${entry}`);
      const img = images.get(r);
      chosen.set(uuid, { entry, data: img?.bytes ?? io.readFile(r), image: img?.name });
    }
    // fiptool's order: the table, then blobs in description order.
    const ordered: (FipImage & { entry: string; image: string | undefined })[] = [];
    for (const t of table) {
      const c = chosen.get(t.uuid);
      if (c) ordered.push({ ...c, uuid: fipUuidFromString(t.uuid) as Uint8Array });
    }
    for (const [uuid, c] of chosen)
      if (!table.some((t) => t.uuid === uuid)) ordered.push({ ...c, uuid: fipUuidFromString(uuid) as Uint8Array });
    const flags = BigInt(opt(f, 'plat-toc-flags', num, 'fip') ?? 0);
    if (flags > 0xffffn) throw cfgError('fip.plat-toc-flags', 'must fit 16 bits');
    const packed = packFip(ordered, { align: opt(f, 'align', num, 'fip') ?? 1, flags: flags << 32n });
    fip = fipBytes(packed);
    // packFip gives entries to the non-empty images, in order.
    const kept = ordered.filter((x) => x.data.length > 0);
    fipRows = packed.entries.map((e, i) => {
      const o = kept[i] as (typeof ordered)[number];
      return {
        entry: o.entry,
        uuid: fipUuidToString(o.uuid),
        offset: e.offset,
        size: e.size,
        sha256: sha256(o.data),
        ...(o.image === undefined ? {} : { image: o.image }),
      };
    });
  }

  // Host flash.
  let hostFlash: Uint8Array | undefined;
  let hostRows: unknown;
  if (d['host-flash'] !== undefined) {
    const h = obj(d['host-flash'], 'host-flash');
    const type = h.type ?? 'raw';
    if (type === 'raw') {
      known(h, ['type', 'size', 'placements'], 'host-flash');
      const r = place(h, 'host-flash', images, io, fip);
      hostFlash = r.bytes;
      hostRows = { type: 'raw', placements: r.rows };
    } else if (type === 'gpt') {
      const g = buildGpt(h, images, io, fip);
      hostFlash = g.bytes;
      hostRows = g.manifest;
    } else throw cfgError('host-flash.type', 'must be raw or gpt');
  }

  let rom: Uint8Array | undefined;
  let romRows: unknown;
  if (d.rom !== undefined) {
    const r = obj(d.rom, 'rom');
    known(r, ['size', 'placements'], 'rom');
    const out = place(r, 'rom', images, io, fip);
    rom = out.bytes;
    romRows = out.rows;
  }

  const manifest: Record<string, unknown> = {
    platform: platform.name,
    images: [...images.values()].map((i) => ({
      name: i.name,
      kind: i.kind,
      size: i.bytes.length,
      sha256: sha256(i.bytes),
      ...(i.version === undefined ? {} : { version: i.version }),
      ...(i.loadAddress === undefined ? {} : { loadAddress: hex(i.loadAddress) }),
      ...(i.slotSize === undefined ? {} : { slotSize: hex(i.slotSize) }),
      ...(i.securityCounter === undefined ? {} : { securityCounter: i.securityCounter }),
      ...(i.bootRecord === undefined ? {} : { bootRecord: i.bootRecord }),
      ...(i.imageHash === undefined ? {} : { imageHash: i.imageHash, hashAlg: i.hashAlg }),
      ...(i.signerId === undefined ? {} : { signerId: i.signerId }),
      ...(i.sic === undefined ? {} : { sic: i.sic }),
    })),
    ...(fip === undefined ? {} : { fip: { size: fip.length, sha256: sha256(fip), entries: fipRows } }),
    ...(hostFlash === undefined ? {} : { hostFlash: { size: hostFlash.length, sha256: sha256(hostFlash), ...(hostRows as Obj) } }),
    ...(rom === undefined ? {} : { rom: { size: rom.length, sha256: sha256(rom), placements: romRows } }),
  };
  return {
    platform: platform.name,
    images: [...images.values()],
    ...(fip ? { fip } : {}),
    ...(hostFlash ? { hostFlash } : {}),
    ...(rom ? { rom } : {}),
    manifest,
  };
}

export function buildGpt(
  h: Obj,
  images: Map<string, BuiltImage>,
  io: BuildIo,
  fip: Uint8Array | undefined,
): { bytes: Uint8Array; manifest: Obj } {
  known(h, ['type', 'size', 'sector-size', 'alignment', 'disk-guid', 'partitions', 'fwu'], 'host-flash');
  const ss = num(h['sector-size'] ?? 512, 'host-flash.sector-size');
  if (ss !== 512 && ss !== 4096) throw cfgError('host-flash.sector-size', 'must be 512 or 4096');
  const size = num(h.size, 'host-flash.size');
  if (size > MAX_IMAGE)
    throw new RseError('E_SIZE', `host-flash.size ${size} is over the ${MAX_IMAGE}-byte limit of a flash image`, {
      field: 'host-flash.size',
    });
  if (size % ss !== 0) throw cfgError('host-flash.size', `must be a multiple of the ${ss}-byte sector`);
  const diskGuid = str(h['disk-guid'], 'host-flash.disk-guid');
  const parts = list(h.partitions, 'host-flash.partitions').map((p, i) => {
    const pp = `host-flash.partitions[${i}]`;
    const po = obj(p, pp);
    known(po, ['name', 'type', 'guid', 'start', 'size', 'content', 'image', 'file', 'fip', 'fwu-metadata'], pp);
    return { pp, po, name: str(po.name, `${pp}.name`) };
  });
  let gpt: GptLayout;
  try {
    gpt = planGpt({
      totalSectors: size / ss,
      sectorSize: ss,
      diskGuid,
      ...(h.alignment === undefined ? {} : { alignment: num(h.alignment, 'host-flash.alignment') }),
      partitions: parts.map(({ pp, po, name }, i) => ({
        number: i + 1,
        start: po.start === undefined ? '0' : String(num(po.start, `${pp}.start`)),
        end: `+${Math.ceil(num(po.size, `${pp}.size`) / ss)}`,
        name,
        ...(po.type === undefined ? {} : { type: str(po.type, `${pp}.type`) }),
        ...(po.guid === undefined ? {} : { guid: str(po.guid, `${pp}.guid`) }),
      })),
    });
  } catch (e) {
    if (e instanceof RseError) throw new RseError(e.code, `host-flash: ${e.message}`, { field: `host-flash.${e.field ?? 'partitions'}` });
    throw e;
  }
  const disk = writeGpt(gpt);
  const rows: Obj[] = [];
  let meta: Uint8Array | undefined;
  if (h.fwu !== undefined) {
    const f = obj(h.fwu, 'host-flash.fwu');
    known(f, ['active', 'previous', 'image-type', 'banks'], 'host-flash.fwu');
    const banks = list(f.banks, 'host-flash.fwu.banks').map((b, i) => {
      const n = str(b, `host-flash.fwu.banks[${i}]`);
      const p = gpt.partitions.find((x) => x.name === n);
      if (p === undefined) throw cfgError(`host-flash.fwu.banks[${i}]`, `no partition named ${n}`);
      return p.guid;
    });
    meta = encodeFwuMetadata({
      activeIndex: num(f.active ?? 0, 'host-flash.fwu.active'),
      previousActiveIndex: num(f.previous ?? 0, 'host-flash.fwu.previous'),
      bankStates: banks.map(() => 'accepted' as const),
      images: [
        {
          typeGuid: str(f['image-type'] ?? '78C312E5-9FCC-491A-A78F-D2689C359E22', 'host-flash.fwu.image-type'),
          locationGuid: gpt.diskGuid,
          banks: banks.map((guid) => ({ guid, accepted: true })),
        },
      ],
    });
  }
  parts.forEach(({ pp, po, name }, i) => {
    const p = gpt.partitions[i] as GptLayout['partitions'][number];
    const r = partitionBytes(gpt, p);
    let content: { what: string; bytes: Uint8Array } | undefined;
    if (po['fwu-metadata'] === true) {
      if (meta === undefined) throw cfgError(pp, 'holds fwu-metadata, but host-flash has no fwu section');
      content = { what: 'fwu-metadata', bytes: meta };
    } else if (po.image !== undefined || po.file !== undefined || po.fip !== undefined) content = contentOf(po, pp, images, io, fip);
    if (content !== undefined && content.bytes.length > r.size) {
      throw new RseError('E_SIZE', `${content.what} is ${content.bytes.length} bytes, larger than partition ${name} (${r.size} bytes)`, {
        field: pp,
      });
    }
    if (content !== undefined) disk.set(content.bytes, r.offset);
    rows.push({
      number: p.number,
      name,
      firstLba: p.firstLba,
      lastLba: p.lastLba,
      offset: r.offset,
      size: r.size,
      type: p.type,
      guid: p.guid,
      ...(content === undefined ? {} : { content: content.what, contentSize: content.bytes.length, contentSha256: sha256(content.bytes) }),
    });
  });
  return { bytes: disk, manifest: { type: 'gpt', sectorSize: ss, diskGuid: gpt.diskGuid, partitions: rows } };
}
