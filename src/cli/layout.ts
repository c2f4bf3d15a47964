/**
 * `rse layout`: one image from files placed at addresses. Takes srec_cat's own command line
 * (`FILE -Binary -offset N ... -o OUT -Binary`, `-Intel`, `-multiple`, `-fill V LO HI`) so the
 * seed recipes run unchanged, and a short form `FILE@OFFSET ... -o OUT`.
 * @module
 */

import { hash, hasher } from '../crypto/index.ts';
import { type Fill, type Placement, planLayout } from '../layout/layout.ts';
import { AtomicFile, writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { parseIntelHex, writeIntelHex } from '../lib/intel-hex.ts';
import { io, isHexPath, printJson, readInput } from './common.ts';

export const LAYOUT_HELP = `Usage: rse layout [options] INPUT... -o OUTPUT [-Binary|-Intel]

Place files at addresses in one image, as srec_cat does: the output runs from
address 0 to the highest byte placed, holes are zero, overlapping inputs must
agree byte for byte (nothing is written if they do not), and an empty input
places nothing. The image is written window by window, so memory stays small
whatever its size.

Inputs (srec_cat's syntax, or the short form):
  FILE [-Binary|-Intel] [-offset N]...
                       a raw binary (default) or Intel HEX file; offsets add up
  FILE@N               short form of FILE -Binary -offset N
Options:
  -o, --output OUTPUT [-Binary|-Intel]
                       the image to write (Intel HEX if it ends in .hex)
  -multiple, --multiple
                       a later input overwrites an earlier one where they
                       overlap
  -fill V LO HI, --fill V LO HI
                       fill holes in [LO, HI) with byte V instead of zero
  --size N             pad the image with zeros to exactly N bytes (error if
                       larger)
  --max-size N         refuse an image larger than N bytes (default 512 MiB: a
                       stray Intel HEX address record would otherwise ask for
                       gigabytes)
  --json               print the placements (offset, size, sha256) as JSON
  -h, --help           show this help
Numbers are decimal or 0x hex; offsets may be negative as long as no byte lands
below 0.

Examples:
  rse layout bl1_1.bin -Binary -offset 0x0 \\
      rom_dma_ics.bin -Binary -offset 0x1F000 -o rom.bin -Binary
  rse layout bl1_1.bin@0 rom_dma_ics.bin@0x1F000 --size 0x20000 -o rom.bin
Exit status: 0 written, 2 usage error, unreadable input or conflicting
placements.
`;

/** The largest image `rse layout` writes unless told otherwise (`--max-size`). */
const LAYOUT_DEFAULT_MAX = 512 * 1024 * 1024;

function num(s: string | undefined, what: string): number {
  if (s === undefined) throw new RseError('E_USAGE', `${what} needs a number`);
  const m = /^([+-]?)(0x[0-9a-f]+|[0-9]+)$/i.exec(s.trim());
  if (m === null) throw new RseError('E_USAGE', `${what}: '${s}' is not a number (decimal or 0x hex)`);
  const v = Number(m[2]) * (m[1] === '-' ? -1 : 1);
  if (!Number.isSafeInteger(v)) throw new RseError('E_USAGE', `${what}: ${s} is out of range`);
  return v;
}

interface Input {
  path: string;
  format: 'binary' | 'intel';
  offset: number;
}

/** Runs `rse layout ARGS`; returns the exit status. */
export function runLayout(args: readonly string[]): number {
  const inputs: Input[] = [];
  const fills: Fill[] = [];
  let output: { path: string; format: 'binary' | 'intel' } | undefined;
  let multiple = false;
  let json = false;
  let size: number | undefined;
  let maxSize = LAYOUT_DEFAULT_MAX;
  let last: Input | undefined;
  const formatOf = (a: string | undefined): 'binary' | 'intel' | undefined =>
    a === undefined ? undefined : /^-bin(ary)?$/i.test(a) ? 'binary' : /^-(intel|ihex)$/i.test(a) ? 'intel' : undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-h' || a === '--help') {
      io.out(LAYOUT_HELP);
      return 0;
    }
    if (a === '-o' || a === '--output') {
      const path = args[++i];
      if (path === undefined) throw new RseError('E_USAGE', `${a} needs a file name`);
      let format: 'binary' | 'intel' = isHexPath(path) ? 'intel' : 'binary';
      const f = formatOf(args[i + 1]);
      if (f !== undefined) {
        format = f;
        i++;
      }
      output = { path, format };
      last = undefined;
    } else if (/^--?multiple$/i.test(a)) multiple = true;
    else if (a === '--json') json = true;
    else if (a === '--size') size = num(args[++i], '--size');
    else if (a === '--max-size') maxSize = num(args[++i], '--max-size');
    else if (/^--?fill$/i.test(a)) {
      fills.push({ value: num(args[i + 1], `${a} value`), from: num(args[i + 2], `${a} low`), to: num(args[i + 3], `${a} high`) });
      i += 3;
    } else if (/^--?offset$/i.test(a)) {
      if (last === undefined) throw new RseError('E_USAGE', `${a} must follow an input file`);
      last.offset += num(args[++i], a);
    } else if (formatOf(a) !== undefined) {
      if (last === undefined) throw new RseError('E_USAGE', `${a} must follow an input file`);
      last.format = formatOf(a) as 'binary' | 'intel';
    } else if (a.startsWith('-') && a.length > 1) {
      throw new RseError('E_USAGE', `unknown option ${a} (see rse layout --help)`);
    } else {
      const at = a.lastIndexOf('@');
      last =
        at > 0 && /^[+-]?(0x[0-9a-f]+|[0-9]+)$/i.test(a.slice(at + 1))
          ? { path: a.slice(0, at), format: 'binary', offset: num(a.slice(at + 1), a) }
          : { path: a, format: 'binary', offset: 0 };
      inputs.push(last);
    }
  }
  if (output === undefined) throw new RseError('E_USAGE', 'no output: give -o OUTPUT (see rse layout --help)');
  if (inputs.length === 0) throw new RseError('E_USAGE', 'no inputs (see rse layout --help)');

  const placements: Placement[] = [];
  for (const inp of inputs) {
    const raw = readInput(inp.path);
    if (inp.format === 'binary') {
      placements.push({ name: inp.path, data: raw, offset: inp.offset });
      continue;
    }
    const hex = parseIntelHex(Buffer.from(raw).toString('latin1'));
    hex.segments.forEach((s, k) => {
      placements.push({ name: hex.segments.length > 1 ? `${inp.path}[${k}]` : inp.path, data: s.data, offset: s.address + inp.offset });
    });
  }
  const placed = placements.filter((p) => p.data.length > 0); // an empty input places nothing
  const plan = planLayout(placed, { multiple, fills, maxSize, maxSizeOption: '--max-size', ...(size === undefined ? {} : { size }) });
  for (const r of plan.redundant) {
    io.err(
      `rse layout: warning: ${r.name} repeats ${r.length} byte(s) of ${r.other} at 0x${r.offset.toString(16).toUpperCase()} (same values)\n`,
    );
  }
  const digest = hasher('sha256');
  if (output.format === 'intel') {
    // HEX keeps holes as holes: only placed (and filled) bytes become records.
    const segs = placed.map((p) => ({ address: p.offset, data: p.data }));
    for (const f of fills) segs.unshift({ address: f.from, data: plan.range(f.from, f.to) });
    for (const c of plan.chunks()) digest.update(c);
    writeFileAtomic(output.path, writeIntelHex(segs), { durable: false });
  } else {
    // Streamed window by window: memory stays at one window whatever the image size.
    const file = AtomicFile.open(output.path);
    for (const c of plan.chunks()) {
      digest.update(c);
      file.write(c);
    }
    file.commit({ durable: false });
  }
  if (json) {
    printJson({
      output: output.path,
      format: output.format,
      size: plan.size,
      placements: placements.map((p) => ({
        input: p.name,
        offset: p.offset,
        size: p.data.length,
        end: p.offset + p.data.length,
        sha256: toHex(hash('sha256', p.data)),
      })),
      sha256: toHex(digest.digest()),
    });
  }
  return 0;
}
