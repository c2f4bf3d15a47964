/**
 * `dumpinfo`: header, TLV areas and trailer of an image, as the same JSON document imgtool's
 * `dumpinfo -f json` writes (so outputs can be diffed), and as a readable text layout.
 * @module
 */

import { alignUp } from '../lib/bytes.ts';
import { toHex } from '../lib/hex.ts';
import { IMAGE_FLAGS, TLV_INFO_SIZE, tlvName } from './constants.ts';
import { flagState, parseImage, readTrailer, type TlvArea } from './image.ts';
import { formatVersion } from './version.ts';

export interface DumpTlv {
  readonly type: number;
  readonly type_name: string;
  readonly len: number;
  readonly data: string;
}

/** imgtool's dumpinfo document; field names are imgtool's. */
export interface DumpInfo {
  readonly filename: string;
  readonly header: {
    readonly magic: number;
    readonly load_addr: number;
    readonly hdr_size: number;
    readonly protected_tlv_size: number;
    readonly img_size: number;
    readonly flags: number;
    readonly version: string;
  };
  readonly tlv_area: {
    readonly tlv_hdr_prot: { readonly magic?: number; readonly tlv_tot?: number };
    readonly tlvs_prot: readonly DumpTlv[];
    readonly tlv_hdr: { readonly magic: number; readonly tlv_tot: number };
    readonly tlvs: readonly DumpTlv[];
  };
  readonly trailer: {
    readonly magic?: string;
    readonly image_ok?: number;
    readonly copy_done?: number;
    readonly swap_info?: number;
    readonly swap_size?: number;
    readonly key_field_len?: number;
  };
}

const tlvs = (a: TlvArea | undefined): DumpTlv[] =>
  (a?.entries ?? []).map((e) => ({ type: e.type, type_name: tlvName(e.type), len: e.value.length, data: toHex(e.value) }));

/** Reads an image into imgtool's dumpinfo structure. Throws `RseError` on a malformed image. */
export function dumpInfo(bytes: Uint8Array, filename: string): DumpInfo {
  const img = parseImage(bytes);
  const h = img.header;
  let trailer: DumpInfo['trailer'] = {};
  if (bytes.length > img.tlvEnd) {
    const t = readTrailer(bytes);
    if (t !== undefined) {
      trailer = { magic: toHex(t.magic) };
      if (t.maxAlign !== undefined && t.imageOk !== undefined) {
        trailer = {
          ...trailer,
          image_ok: t.imageOk,
          copy_done: t.copyDone as number,
          swap_info: t.swapInfo as number,
          swap_size: t.swapSize as number,
        };
        if (h.flags & (IMAGE_FLAGS.ENCRYPTED_AES128 | IMAGE_FLAGS.ENCRYPTED_AES256)) {
          trailer = { ...trailer, key_field_len: alignUp(16, t.maxAlign) * 2 };
        }
      }
    }
  }
  const p = img.protectedArea;
  return {
    filename,
    header: {
      magic: h.magic,
      load_addr: h.loadAddr,
      hdr_size: h.hdrSize,
      protected_tlv_size: h.protectTlvSize,
      img_size: h.imgSize,
      flags: h.flags,
      version: formatVersion(h.version),
    },
    tlv_area: {
      tlv_hdr_prot: p === undefined ? {} : { magic: p.magic, tlv_tot: p.tot },
      tlvs_prot: tlvs(p),
      tlv_hdr: { magic: img.unprotectedArea.magic, tlv_tot: img.unprotectedArea.tot },
      tlvs: tlvs(img.unprotectedArea),
    },
    trailer,
  };
}

/** imgtool's JSON text (two-space indent). */
export function dumpInfoJson(d: DumpInfo): string {
  return JSON.stringify(d, null, 2);
}

const x = (n: number): string => `0x${n.toString(16)}`;

function flagNames(flags: number): string {
  if (flags === 0) return '0x0';
  const names = Object.entries(IMAGE_FLAGS)
    .filter(([, v]) => flags & v)
    .map(([k, v]) => `${k} (${x(v)})`);
  const known = Object.values(IMAGE_FLAGS).reduce((a, b) => a | b, 0);
  if (flags & ~known) names.push(`unknown (${x(flags & ~known)})`);
  return names.join(', ');
}

function tlvLines(list: readonly DumpTlv[], start: number): string[] {
  const out: string[] = [];
  let off = start + TLV_INFO_SIZE;
  for (const t of list) {
    out.push(`  ${x(off).padEnd(8)} ${t.type_name} (${x(t.type)}), ${t.len} bytes`);
    for (let i = 0; i < t.data.length; i += 64) out.push(`           ${t.data.slice(i, i + 64)}`);
    off += TLV_INFO_SIZE + t.len;
  }
  return out;
}

/** A readable layout: each region with its offset and size, every TLV, the trailer flags. */
export function dumpInfoText(d: DumpInfo): string {
  const h = d.header;
  const lines = [
    `${d.filename}: MCUboot image, version ${h.version}`,
    '',
    'header (offset 0x0)',
    `  magic              ${x(h.magic)}`,
    `  load_addr          ${x(h.load_addr)}`,
    `  hdr_size           ${x(h.hdr_size)}`,
    `  protected_tlv_size ${x(h.protected_tlv_size)}`,
    `  img_size           ${x(h.img_size)}`,
    `  flags              ${flagNames(h.flags)}`,
    `  version            ${h.version}`,
    '',
    `payload (offset ${x(h.hdr_size)}, ${x(h.img_size)} bytes)`,
  ];
  let off = h.hdr_size + h.img_size;
  const prot = d.tlv_area.tlv_hdr_prot;
  if (prot.magic !== undefined) {
    lines.push('', `protected TLV area (offset ${x(off)}, magic ${x(prot.magic)}, ${x(prot.tlv_tot ?? 0)} bytes)`);
    lines.push(...tlvLines(d.tlv_area.tlvs_prot, off));
    off += prot.tlv_tot ?? 0;
  }
  lines.push('', `TLV area (offset ${x(off)}, magic ${x(d.tlv_area.tlv_hdr.magic)}, ${x(d.tlv_area.tlv_hdr.tlv_tot)} bytes)`);
  lines.push(...tlvLines(d.tlv_area.tlvs, off));
  const t = d.trailer;
  if (t.magic !== undefined) {
    lines.push('', 'trailer (end of file)');
    lines.push(`  magic              ${t.magic}${t.image_ok === undefined ? ' (not a valid boot magic)' : ''}`);
    if (t.image_ok !== undefined) {
      lines.push(`  image_ok           ${flagState(t.image_ok)} (${x(t.image_ok)})`);
      lines.push(`  copy_done          ${flagState(t.copy_done ?? 0xff)} (${x(t.copy_done ?? 0xff)})`);
      lines.push(`  swap_info          ${x(t.swap_info ?? 0xff)}`);
      lines.push(`  swap_size          ${t.swap_size === 0xffffffff ? 'unset' : x(t.swap_size ?? 0)}`);
    }
    if (t.key_field_len !== undefined) lines.push(`  enc. keys          ${x(t.key_field_len)} bytes`);
  }
  return `${lines.join('\n')}\n`;
}

/** PyYAML's `!!binary` block: base64 in 76-character lines, indented under its key. */
function yamlBinary(hex: string, indent: string): string {
  const b64 = Buffer.from(hex, 'hex').toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(`${indent}${b64.slice(i, i + 76)}`);
  return `!!binary |\n${lines.join('\n')}`;
}

function yamlMap(entries: readonly (readonly [string, string])[], indent: string): string {
  return entries.length === 0 ? ' {}' : `\n${entries.map(([k, v]) => `${indent}${k}: ${v}`).join('\n')}`;
}

function yamlTlvs(list: readonly DumpTlv[]): string {
  if (list.length === 0) return ' []';
  return `\n${list.map((t) => `  - type: ${t.type}\n    len: ${t.len}\n    data: ${yamlBinary(t.data, '      ')}`).join('\n')}`;
}

/**
 * The YAML imgtool's `dumpinfo` writes by default (through PyYAML): no file name, TLV values and
 * the trailer magic as `!!binary`, no TLV type names.
 */
export function dumpInfoYaml(d: DumpInfo): string {
  const h = d.header;
  const a = d.tlv_area;
  const num = (o: Readonly<Record<string, number | undefined>>): [string, string][] =>
    Object.entries(o).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)] as [string, string]]));
  const t = d.trailer;
  const trailer: [string, string][] = [
    ...(t.magic === undefined ? [] : [['magic', yamlBinary(t.magic, '    ')] as [string, string]]),
    ...num({
      image_ok: t.image_ok,
      copy_done: t.copy_done,
      swap_info: t.swap_info,
      swap_size: t.swap_size,
      key_field_len: t.key_field_len,
    }),
  ];
  return [
    `header:${yamlMap([...num({ magic: h.magic, load_addr: h.load_addr, hdr_size: h.hdr_size, protected_tlv_size: h.protected_tlv_size, img_size: h.img_size, flags: h.flags }), ['version', h.version]], '  ')}`,
    'tlv_area:',
    `  tlv_hdr_prot:${yamlMap(num(a.tlv_hdr_prot), '    ')}`,
    `  tlvs_prot:${yamlTlvs(a.tlvs_prot)}`,
    `  tlv_hdr:${yamlMap(num(a.tlv_hdr), '    ')}`,
    `  tlvs:${yamlTlvs(a.tlvs)}`,
    `trailer:${yamlMap(trailer, '  ')}`,
    '',
  ].join('\n');
}
