/**
 * Placing inputs at addresses in one image, with srec_cat's `-Binary -offset` semantics: the
 * output covers addresses 0 to the highest byte placed, holes are zero, two inputs may overlap
 * only where they hold the same bytes (unless later inputs are allowed to win), and nothing is
 * produced when they conflict.
 * @module
 */
import { RseError } from '../lib/errors.ts';

/** Largest image we lay out in memory. */
export const LAYOUT_MAX_SIZE = 0x7fff_ffff;

/** One input of a layout: its bytes at an address. */
export interface Placement {
  /** Names the input in messages and the manifest. */
  readonly name: string;
  readonly data: Uint8Array;
  /** Address of the first byte. */
  readonly offset: number;
}

/** srec_cat `-fill`: the value holes in a range take. */
export interface Fill {
  readonly value: number;
  /** Half-open address range whose holes are filled. */
  readonly from: number;
  readonly to: number;
}

/** How {@link layout} places: `-multiple`, fills and the output size. */
export interface LayoutOptions {
  /** srec_cat `-multiple`: a later input overwrites an earlier one instead of conflicting. */
  readonly multiple?: boolean;
  /** srec_cat `-fill`: holes in these ranges take the value instead of zero. */
  readonly fills?: readonly Fill[];
  /** Pad with zeros to exactly this size (the ROM recipes' `truncate --size`); larger content is an error. */
  readonly size?: number;
  /** The largest image allowed (E_SIZE before anything is allocated); {@link LAYOUT_MAX_SIZE} by default. */
  readonly maxSize?: number;
}

/** A layout checked and ready to write: its size, the harmless overlaps, and its bytes window by window. */
export interface LayoutPlan {
  readonly size: number;
  readonly redundant: LayoutResult['redundant'];
  /**
   * The image in windows of at most `window` bytes (1 MiB by default), in order: memory stays
   * bounded. One buffer is reused: a window is valid until the next one is taken (copy it to keep it).
   */
  chunks(window?: number): Generator<Uint8Array>;
  /** The image's bytes in [from, to) (clipped to the image). */
  range(from: number, to: number): Uint8Array;
}

/** The laid-out bytes and where each input went. */
export interface LayoutResult {
  readonly bytes: Uint8Array;
  /** Overlaps with identical bytes (srec_cat warns about each byte). */
  readonly redundant: readonly { readonly name: string; readonly other: string; readonly offset: number; readonly length: number }[];
}

const hex8 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

/** Lays the placements out in memory; throws E_OVERLAP (naming both inputs and the first differing byte) on a conflict. */
export function layout(placements: readonly Placement[], options: LayoutOptions = {}): LayoutResult {
  const plan = planLayout(placements, { ...options, maxSize: Math.min(options.maxSize ?? LAYOUT_MAX_SIZE, LAYOUT_MAX_SIZE) });
  const bytes = new Uint8Array(plan.size);
  let at = 0;
  for (const c of plan.chunks()) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, redundant: plan.redundant };
}

/**
 * Checks a layout without building it: addresses, fills, the size (at most `maxSize`, checked
 * before anything is allocated), conflicts; {@link LayoutPlan.chunks} then yields the bytes.
 */
export function planLayout(
  placements: readonly Placement[],
  options: LayoutOptions & { readonly maxSizeOption?: string } = {},
): LayoutPlan {
  let end = 0;
  placements.forEach((p, i) => {
    if (!Number.isSafeInteger(p.offset) || p.offset < 0) {
      throw new RseError('E_ARGUMENT', `${p.name}: its first byte would land at address ${p.offset}, below 0`, {
        field: `placement[${i}].offset`,
      });
    }
    if (p.data.length > 0) end = Math.max(end, p.offset + p.data.length);
  });
  for (const f of options.fills ?? []) {
    if (f.from < 0 || f.to < f.from || f.value < 0 || f.value > 255)
      throw new RseError('E_ARGUMENT', `bad fill range ${f.from}..${f.to}`, { field: 'fill' });
    if (f.to > f.from) end = Math.max(end, f.to);
  }
  if (options.size !== undefined) {
    if (end > options.size) {
      const last = placements.reduce<Placement | undefined>(
        (a, p) => (a === undefined || p.offset + p.data.length > a.offset + a.data.length ? p : a),
        undefined,
      );
      throw new RseError(
        'E_SIZE',
        `the content ends at ${hex8(end)}${last ? ` (${last.name})` : ''}, beyond the ${hex8(options.size)}-byte image size`,
        {
          field: 'size',
        },
      );
    }
    end = options.size;
  }
  const maxSize = options.maxSize ?? LAYOUT_MAX_SIZE;
  if (end > maxSize) {
    const last = placements.reduce<Placement | undefined>(
      (a, p) => (a === undefined || p.offset + p.data.length > a.offset + a.data.length ? p : a),
      undefined,
    );
    throw new RseError(
      'E_SIZE',
      `the image would be ${end} bytes (${hex8(end)}, up to the end of ${last?.name ?? 'a fill'}), more than the ${maxSize} allowed${options.maxSizeOption === undefined ? '' : ` (${options.maxSizeOption})`}`,
      { field: 'size' },
    );
  }

  // Conflicts: compare every pair of placements whose ranges intersect (sweep in address order).
  const redundant: { name: string; other: string; offset: number; length: number }[] = [];
  if (options.multiple !== true) {
    const order = placements
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p.data.length > 0)
      .sort((a, b) => a.p.offset - b.p.offset || a.i - b.i);
    const active: { p: Placement; i: number }[] = [];
    for (const cur of order) {
      for (let k = active.length - 1; k >= 0; k--) {
        const prev = active[k] as { p: Placement; i: number };
        if (prev.p.offset + prev.p.data.length <= cur.p.offset) active.splice(k, 1);
      }
      for (const prev of active) {
        const [first, second] = prev.i < cur.i ? [prev.p, cur.p] : [cur.p, prev.p];
        const lo = Math.max(first.offset, second.offset);
        const hi = Math.min(first.offset + first.data.length, second.offset + second.data.length);
        for (let a = lo; a < hi; a++) {
          const x = first.data[a - first.offset] as number;
          const y = second.data[a - second.offset] as number;
          if (x !== y) {
            throw new RseError(
              'E_OVERLAP',
              `${second.name}: multiple ${hex8(a)} values (previous = 0x${x.toString(16).toUpperCase().padStart(2, '0')} from ${first.name}, this one = 0x${y.toString(16).toUpperCase().padStart(2, '0')})`,
              { field: second.name, offset: a },
            );
          }
        }
        if (hi > lo) redundant.push({ name: second.name, other: first.name, offset: lo, length: hi - lo });
      }
      active.push(cur);
    }
  }

  const fills = options.fills ?? [];
  const placed = placements.filter((p) => p.data.length > 0);
  const range = (w: number, top: number, into?: Uint8Array): Uint8Array => {
    const buf = into === undefined ? new Uint8Array(top - w) : into.subarray(0, top - w).fill(0);
    // Fills first, in order, then every input over them (a later input over an earlier one):
    // the same bytes as filling only the holes.
    for (const f of fills) if (f.to > w && f.from < top) buf.fill(f.value, Math.max(f.from, w) - w, Math.min(f.to, top) - w);
    for (const p of placed) {
      const lo = Math.max(p.offset, w);
      const hi = Math.min(p.offset + p.data.length, top);
      if (hi > lo) buf.set(p.data.subarray(lo - p.offset, hi - p.offset), lo - w);
    }
    return buf;
  };
  function* chunks(window = 1 << 20): Generator<Uint8Array> {
    // One window, reused: memory is one window whatever the image (and no garbage for the GC to be late on).
    const buf = new Uint8Array(Math.min(window, end));
    for (let w = 0; w < end; w += window) yield range(w, Math.min(end, w + window), buf);
  }
  return { size: end, redundant, chunks, range: (from, to) => range(Math.max(0, from), Math.min(end, Math.max(from, to))) };
}
