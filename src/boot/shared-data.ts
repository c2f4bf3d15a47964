/**
 * The boot-to-runtime shared data area (`tfm_boot_status.h`, `boot_hal_bl2.c`
 * `boot_add_data_to_shared_area` / `boot_store_measurement`): a 4-byte header {magic 0x2016,
 * total length} then packed TLVs {type u16, length u16, value}, type = major << 12 | minor. A
 * measurement is a metadata TLV (claim 0x0A) followed by its value TLV (0x08, or 0x0B when
 * locked) under major 3, minor = slot << 6 | claim. Adding a type twice or past the end fails.
 * The metadata struct differs: 2.1 keeps the version as {u8, u8, u16, u32} (92 bytes), 1.7 as
 * the string "maj.min.rev+build" in 14 chars (96 bytes).
 * @module
 */
import { hash } from '../crypto/index.ts';
import { readU16le, readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import type { SharedDataLayout } from '../profiles/types.ts';

export const SHARED_DATA_MAGIC = 0x2016;
export const TLV_MAJOR_MBS = 0x3;
export const SW_MEASURE_VALUE = 0x08;
export const SW_MEASURE_METADATA = 0x0a;
export const SW_MEASURE_VALUE_NON_EXTENDABLE = 0x0b;
export const PSA_ALG_SHA_256 = 0x02000009;
/** The size of `struct boot_measurement_metadata` in each layout. */
export const METADATA_SIZE: Readonly<Record<SharedDataLayout['metadata'], number>> = { 'version-fields': 92, 'version-string': 96 };
const SW_TYPE_SIZE = 10;
const SIGNER_ID_MAX = 64;

/** One boot measurement (measured-boot slot). */
export interface Measurement {
  readonly slot: number;
  readonly swType: string;
  readonly signerId: Uint8Array;
  /** "maj.min.rev+build". */
  readonly version: string;
  readonly value: Uint8Array;
  readonly locked: boolean;
  /** PSA hash algorithm of `value` (PSA_ALG_SHA_256 unless said otherwise). */
  readonly alg?: number;
}

/** What the measured-boot service holds in a slot after replaying one record: H(0ⁿ ‖ value). */
export function extendedSlotValue(value: Uint8Array): Uint8Array {
  return hash('sha256', new Uint8Array(32), value);
}

function versionParts(v: string): [number, number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:\+(\d+))?$/.exec(v);
  if (m === null) return [0, 0, 0, 0];
  return [Number(m[1]) & 0xff, Number(m[2]) & 0xff, Number(m[3]) & 0xffff, Number(m[4] ?? 0) >>> 0];
}

/** `struct boot_measurement_metadata` as the profile's BL1/BL2 lay it out. */
export function encodeMetadata(layout: SharedDataLayout, m: Measurement): Uint8Array {
  const out = new Uint8Array(METADATA_SIZE[layout.metadata]);
  out.set(u32le(m.alg ?? PSA_ALG_SHA_256), 0);
  out.set(m.signerId.subarray(0, SIGNER_ID_MAX), 4);
  out.set(u32le(Math.min(m.signerId.length, SIGNER_ID_MAX)), 68);
  out.set(new TextEncoder().encode(m.swType).subarray(0, SW_TYPE_SIZE - 1), 72);
  if (layout.metadata === 'version-fields') {
    const [major, minor, rev, build] = versionParts(m.version);
    out[84] = major;
    out[85] = minor;
    out[86] = rev & 0xff;
    out[87] = rev >>> 8;
    out.set(u32le(build), 88);
  } else out.set(new TextEncoder().encode(m.version).subarray(0, 13), 82);
  return out;
}

/** The shared data area being filled by the boot stages. */
export class SharedData {
  readonly bytes: Uint8Array;
  readonly layout: SharedDataLayout;
  constructor(layout: SharedDataLayout) {
    this.layout = layout;
    this.bytes = new Uint8Array(layout.size);
  }

  private get total(): number {
    return readU16le(this.bytes, 2);
  }

  /** `boot_add_data_to_shared_area`: initialises the area on first use; refuses duplicates and overflow. */
  add(major: number, minor: number, data: Uint8Array): void {
    const b = this.bytes;
    if (readU16le(b, 0) !== SHARED_DATA_MAGIC || this.total > b.length) {
      b.fill(0);
      b[0] = SHARED_DATA_MAGIC & 0xff;
      b[1] = SHARED_DATA_MAGIC >>> 8;
      b[2] = 4;
      b[3] = 0;
    }
    const type = ((major & 0xf) << 12) | (minor & 0xfff);
    for (const e of walk(b.subarray(0, this.total))) {
      if (e.type === type)
        throw new RseError('E_SHARED_DATA', `shared data already holds TLV 0x${type.toString(16)}`, { field: 'shared data' });
    }
    const end = this.total;
    if (end + 4 + data.length > b.length)
      throw new RseError('E_SHARED_DATA', `shared data area full: ${end} + ${4 + data.length} > ${b.length} bytes`, {
        field: 'shared data',
      });
    b[end] = type & 0xff;
    b[end + 1] = type >>> 8;
    b[end + 2] = data.length & 0xff;
    b[end + 3] = data.length >>> 8;
    b.set(data, end + 4);
    const t = end + 4 + data.length;
    b[2] = t & 0xff;
    b[3] = t >>> 8;
  }

  /** `boot_store_measurement`: metadata, then the value (locked = non-extendable claim). */
  storeMeasurement(m: Measurement): void {
    if (m.slot >= 32) throw new RseError('E_SHARED_DATA', `measurement slot ${m.slot} >= 32`, { field: 'slot' });
    this.add(TLV_MAJOR_MBS, (m.slot << 6) | SW_MEASURE_METADATA, encodeMetadata(this.layout, m));
    this.add(TLV_MAJOR_MBS, (m.slot << 6) | (m.locked ? SW_MEASURE_VALUE_NON_EXTENDABLE : SW_MEASURE_VALUE), m.value);
  }
}

/** A NUL-terminated string in a fixed-size field. */
function cstr(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder().decode(z === -1 ? b : b.subarray(0, z));
}

interface RawTlv {
  readonly type: number;
  readonly offset: number;
  readonly value: Uint8Array;
}

function* walk(area: Uint8Array): Generator<RawTlv> {
  let at = 4;
  while (at + 4 <= area.length) {
    const type = readU16le(area, at);
    const len = readU16le(area, at + 2);
    if (at + 4 + len > area.length)
      throw new RseError('E_SHARED_DATA', `TLV at ${at} runs past the area end`, { field: 'shared data', offset: at });
    yield { type, offset: at, value: area.subarray(at + 4, at + 4 + len) };
    at += 4 + len;
  }
}

/** Reads the measurement records of a shared data area (what the measured-boot partition replays). */
export function parseSharedData(layout: SharedDataLayout, area: Uint8Array): Measurement[] {
  if (area.length < 4 || readU16le(area, 0) !== SHARED_DATA_MAGIC)
    throw new RseError('E_SHARED_DATA', 'no shared data header (magic 0x2016)', { field: 'shared data', offset: 0 });
  const total = readU16le(area, 2);
  if (total > area.length || total < 4)
    throw new RseError('E_SHARED_DATA', `total length ${total} does not fit the ${area.length}-byte area`, {
      field: 'shared data',
      offset: 2,
    });
  const out: Measurement[] = [];
  let meta: { slot: number; bytes: Uint8Array } | undefined;
  for (const e of walk(area.subarray(0, total))) {
    if (e.type >>> 12 !== TLV_MAJOR_MBS) continue;
    const minor = e.type & 0xfff;
    const slot = minor >>> 6;
    const claim = minor & 0x3f;
    if (claim === SW_MEASURE_METADATA) {
      if (e.value.length !== METADATA_SIZE[layout.metadata])
        throw new RseError('E_SHARED_DATA', `metadata of slot ${slot} is ${e.value.length} bytes`, {
          field: 'shared data',
          offset: e.offset,
        });
      meta = { slot, bytes: e.value };
    } else if ((claim === SW_MEASURE_VALUE || claim === SW_MEASURE_VALUE_NON_EXTENDABLE) && meta?.slot === slot) {
      const md = meta.bytes;
      const idLen = Math.min(readU32le(md, 68), SIGNER_ID_MAX);
      const version =
        layout.metadata === 'version-fields' ? `${md[84]}.${md[85]}.${readU16le(md, 86)}+${readU32le(md, 88)}` : cstr(md.subarray(82, 96));
      out.push({
        slot,
        swType: cstr(md.subarray(72, 82)),
        signerId: md.slice(4, 4 + idLen),
        version,
        value: e.value.slice(),
        locked: claim === SW_MEASURE_VALUE_NON_EXTENDABLE,
        alg: readU32le(md, 0),
      });
      meta = undefined;
    }
  }
  return out;
}
