/**
 * The combined secure + non-secure file TF-M's build makes with `assemble.py` (`tfm_s_ns.bin`,
 * and with several MCUboot images `tfm_s_ns_signed.bin`): the secure image at the layout's
 * secure offset and the non-secure one at its non-secure offset, the gap between them filled
 * with 0xFF, each no larger than its partition. On RSS 1.7 (four MCUboot images) that file is the
 * S and NS primary slots side by side, so the RSS readme's `srec_cat … tfm_s_ns_signed.bin
 * -offset 0x40000` puts S at 0x40000 and NS at 0xC0000.
 * @module
 */

import { LAYOUT_MAX_SIZE } from '../layout/layout.ts';
import { RseError } from '../lib/errors.ts';
import type { RseProfile } from '../profiles/types.ts';

/** Where each part goes in the combined file, and its largest size. */
export interface AssembleLayout {
  readonly secure: { readonly offset: number; readonly maxSize: number };
  readonly nonSecure: { readonly offset: number; readonly maxSize: number };
}

/**
 * The layout a profile's BL2 image table implies: MCUboot images 0 (S) and 1 (NS) and their
 * primary slots in the emulated flash, offsets relative to the S slot.
 */
export function layoutOfProfile(p: RseProfile): AssembleLayout {
  const s = p.bl2.images.find((i) => i.index === 0);
  const ns = p.bl2.images.find((i) => i.index === 1);
  if (s?.flash === undefined || ns?.flash === undefined)
    throw new RseError('E_USAGE', `${p.name}: its S and NS images have no fixed flash slots (FIP entries); give --layout FILE`, {
      field: 'layout',
    });
  return {
    secure: { offset: 0, maxSize: s.slotSize },
    nonSecure: { offset: ns.flash[0] - s.flash[0], maxSize: ns.slotSize },
  };
}

/** A number of the preprocessed layout: decimal or 0x hex, possibly in parentheses and summed. */
function layoutNumber(expr: string, field: string): number {
  const terms = expr
    .replace(/[(),]/g, ' ')
    .replace(/[uUlL]+\b/g, '')
    .split('+')
    .map((t) => t.trim());
  let n = 0;
  for (const t of terms) {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new RseError('E_BAD_FIELD', `${field}: cannot evaluate "${expr.trim()}"`, { field });
    n += Number(t);
  }
  return n;
}

/**
 * Reads TF-M's preprocessed signing layout (`signing_layout_s.o`: `RE_SECURE_IMAGE_OFFSET = …`,
 * `RE_NON_SECURE_IMAGE_MAX_SIZE = …`, as `assemble.py --layout` takes it).
 */
export function parseSigningLayout(text: string): AssembleLayout {
  const found: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*RE_([0-9A-Z_]+)_IMAGE_(OFFSET|MAX_SIZE)\s*=\s*([^,]*)/.exec(line);
    if (m !== null) found[`${m[1]}.${m[2]}`] = layoutNumber(m[3] as string, `RE_${m[1]}_IMAGE_${m[2]}`);
  }
  const need = (k: string, what: string): number => {
    const v = found[k];
    if (v === undefined) throw new RseError('E_BAD_FIELD', `Image config does not have ${what} partition`, { field: 'layout' });
    return v;
  };
  return {
    secure: { offset: need('SECURE.OFFSET', 'secure'), maxSize: need('SECURE.MAX_SIZE', 'secure') },
    nonSecure: { offset: need('NON_SECURE.OFFSET', 'non-secure'), maxSize: need('NON_SECURE.MAX_SIZE', 'non-secure') },
  };
}

/** The combined file: S at its offset, 0xFF up to the NS offset, then NS. */
export function assemble(layout: AssembleLayout, secure: Uint8Array, nonSecure: Uint8Array): Uint8Array {
  const parts = [
    ['secure', layout.secure, secure],
    ['non-secure', layout.nonSecure, nonSecure],
  ] as const;
  let end = 0;
  for (const [what, at, img] of parts) {
    if (end > at.offset) throw new RseError('E_OVERLAP', 'Partitions not in order, unsupported', { field: what });
    if (img.length > at.maxSize)
      throw new RseError('E_SIZE', `the ${what} image (${img.length} bytes) is too large for its partition (${at.maxSize})`, {
        field: what,
      });
    end = at.offset + img.length;
  }
  // The layout file is input: its offsets are bounded before anything is allocated.
  if (end > LAYOUT_MAX_SIZE)
    throw new RseError('E_SIZE', `the combined file would be ${end} bytes, more than ${LAYOUT_MAX_SIZE}`, { field: 'layout' });
  const out = new Uint8Array(end).fill(0xff);
  for (const [, at, img] of parts) out.set(img, at.offset);
  return out;
}
