/**
 * The STM32MP15 platform file: the firewall configuration the boot stages apply (ETZPC DECPROT,
 * locks and TZMA splits; TZC-400 regions and fail action) and the debug the FSBL opens. Written as
 * JSON, or as the device-tree properties TF-A and OP-TEE read: `st,decprot = <DECPROT(...)>`
 * (OP-TEE's cell encoding `id | lock << 8 | mode << 9`, or TF-A's legacy `id << 16 | mode << 8 |
 * lock` when asked) and `memory-ranges = <base size sec_attr nsaid_mask ...>` (`st,mem-firewall`),
 * with the binding headers' macro names and `#define`s of the file itself.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import { STM32MP1 } from '../profiles/stm32.ts';
import { DENABLE, NON_SECURE_DEBUG, SECURE_DEBUG } from './bsec.ts';
import { DECPROT_MODES, type DecprotMode, type Etzpc, peripheral, TZMA, type TzmaName } from './etzpc.ts';
import {
  ACTIONS,
  type Action,
  DDR_BASE,
  NSAID,
  NSEC_ALL_ACCESS_RDWR,
  SEC_ATTR_NAMES,
  type SecAttr,
  TZC_REGIONS,
  type Tzc400,
} from './tzc400.ts';

export type DecprotEncoding = 'optee' | 'tf-a';

export interface DecprotEntry {
  readonly id: number;
  readonly mode: DecprotMode;
  readonly lock: boolean;
}

export interface MemoryRange {
  readonly base: number;
  readonly size: number;
  readonly secAttr: SecAttr;
  readonly idAccess: number;
}

export interface Mp1Platform {
  readonly tzen: boolean;
  readonly mckprot: boolean;
  readonly decprot: readonly DecprotEntry[];
  readonly tzma: Partial<Record<TzmaName, { readonly securePages: number; readonly lock: boolean }>>;
  readonly memoryRanges: readonly MemoryRange[];
  /** ACTION once configured; TF-A ends with interrupt. */
  readonly action: Action;
  /** What the FSBL opens, and whether it then freezes DENABLE (DENREG). */
  readonly debug: { readonly secure: boolean; readonly nonSecure: boolean; readonly lock: boolean };
}

const bad = (msg: string, field: string): RseError => new RseError('E_CONFIG', msg, { field });

/** Decodes one DECPROT cell. */
export function decodeDecprotCell(cell: number, encoding: DecprotEncoding = 'optee'): DecprotEntry {
  const c = cell >>> 0;
  const [id, mode, lock] =
    encoding === 'optee' ? [c & 0xff, (c >>> 9) & 0x7f, (c >>> 8) & 1] : [(c >>> 16) & 0xffff, (c >>> 8) & 0xff, c & 0xff];
  if (mode > 3) throw bad(`DECPROT cell 0x${c.toString(16)}: mode ${mode} (0..3)`, 'st,decprot');
  if (lock > 1) throw bad(`DECPROT cell 0x${c.toString(16)}: lock ${lock} (0 or 1)`, 'st,decprot');
  return { id: peripheralId(id, 'st,decprot'), mode: DECPROT_MODES[mode] as DecprotMode, lock: lock === 1 };
}

function peripheralId(ref: number | string, field: string): number {
  try {
    return peripheral(ref).id;
  } catch (e) {
    throw bad((e as Error).message, field);
  }
}

// --- device-tree cells -------------------------------------------------------------------------

const DT_CONSTANTS: Readonly<Record<string, number>> = {
  DECPROT_S_RW: 0,
  DECPROT_NS_R_S_W: 1,
  DECPROT_MCU_ISOLATION: 2,
  DECPROT_NS_RW: 3,
  DECPROT_UNLOCK: 0,
  DECPROT_LOCK: 1,
  TZC_REGION_S_NONE: 0,
  TZC_REGION_S_RD: 1,
  TZC_REGION_S_WR: 2,
  TZC_REGION_S_RDWR: 3,
  TZC_REGION_NSEC_ALL_ACCESS_RDWR: NSEC_ALL_ACCESS_RDWR,
  STM32MP_DDR_BASE: DDR_BASE,
  ...Object.fromEntries(Object.entries(NSAID).map(([k, v]) => [`STM32MP1_TZC_${k}_ID`, v])),
};

const DT_MACROS: Readonly<Record<string, (a: number[]) => number>> = {
  DECPROT: ([id = 0, mode = 0, lock = 0]) => id | (lock << 8) | (mode << 9),
  TZC_REGION_ACCESS_RD: ([id = 0]) => 1 << id,
  TZC_REGION_ACCESS_WR: ([id = 0]) => 1 << (id + 16),
  TZC_REGION_ACCESS_RDWR: ([id = 0]) => (1 << id) | (1 << (id + 16)),
  U: ([x = 0]) => x,
  UL: ([x = 0]) => x,
  BIT: ([x = 0]) => 2 ** x,
};

const MAX_PARENS = 64;

/** A small C-expression evaluator over the cells of one property. */
class CellParser {
  private pos = 0;
  private parens = 0;
  private readonly src: string;
  private readonly defines: ReadonlyMap<string, string>;
  private readonly field: string;
  private readonly depth: number;
  constructor(src: string, defines: ReadonlyMap<string, string>, field: string, depth = 0) {
    this.src = src;
    this.defines = defines;
    this.field = field;
    this.depth = depth;
  }

  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos] as string)) this.pos++;
  }
  private peek(): string {
    this.ws();
    return this.src[this.pos] ?? '';
  }
  private fail(what: string): never {
    throw bad(`${this.field}: ${what} at "${this.src.slice(this.pos, this.pos + 24)}"`, this.field);
  }

  cells(): number[] {
    const out: number[] = [];
    while (this.peek() !== '') out.push(this.expr(false) >>> 0);
    return out;
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/']];

  /** Cells are separated by spaces, so a binary operator only continues a cell inside parentheses. */
  private expr(nested: boolean, level = 0): number {
    if (level === CellParser.LEVELS.length) return this.unary(nested);
    let v = this.expr(nested, level + 1);
    for (;;) {
      this.ws();
      const op = (CellParser.LEVELS[level] as readonly string[]).find((o) => this.src.startsWith(o, this.pos));
      if (op === undefined || !nested) return v;
      this.pos += op.length;
      const r = this.expr(nested, level + 1);
      v = this.apply(op, v, r);
    }
  }

  private apply(op: string, v: number, r: number): number {
    switch (op) {
      case '|':
        return v | r;
      case '^':
        return v ^ r;
      case '&':
        return v & r;
      case '<<':
        return v << r;
      case '>>':
        return v >>> r;
      case '+':
        return v + r;
      case '-':
        return v - r;
      case '*':
        return v * r;
      default:
        return r === 0 ? this.fail('division by zero') : Math.floor(v / r);
    }
  }

  private unary(nested: boolean): number {
    const c = this.peek();
    if (c === '(') {
      if (++this.parens > MAX_PARENS) this.fail(`parentheses nest deeper than ${MAX_PARENS}`);
      this.pos++;
      const v = this.expr(true);
      if (this.peek() !== ')') this.fail('missing )');
      this.pos++;
      this.parens--;
      return v;
    }
    if (c === '~') {
      this.pos++;
      return ~this.unary(nested);
    }
    if (c === '-' && nested) {
      this.pos++;
      return -this.unary(nested);
    }
    const num = /^(0x[0-9a-f]+|\d+)[ul]*/i.exec(this.src.slice(this.pos));
    if (num) {
      this.pos += num[0].length;
      return Number(num[1]);
    }
    const id = /^[A-Za-z_]\w*/.exec(this.src.slice(this.pos));
    if (!id) this.fail('expected a number, a name or (');
    this.pos += id[0].length;
    const name = id[0];
    if (this.peek() === '(' && Object.hasOwn(DT_MACROS, name)) {
      this.pos++;
      const args: number[] = [];
      while (this.peek() !== ')') {
        args.push(this.expr(true));
        if (this.peek() === ',') this.pos++;
        else if (this.peek() !== ')') this.fail('expected , or )');
      }
      this.pos++;
      return (DT_MACROS[name] as (a: number[]) => number)(args);
    }
    const def = this.defines.get(name);
    if (def !== undefined) {
      if (this.depth > 16) this.fail(`#define ${name} nests too deep`);
      const inner = new CellParser(`(${def})`, this.defines, this.field, this.depth + 1);
      return inner.cells()[0] ?? 0;
    }
    if (Object.hasOwn(DT_CONSTANTS, name)) return DT_CONSTANTS[name] as number;
    const etzpc = /^STM32MP1_ETZPC_(\w+)_ID$/.exec(name);
    if (etzpc) return peripheralId(etzpc[1] as string, this.field);
    return this.fail(`unknown name ${name}`);
  }
}

/** The cells of every `prop = <...>;` in a device-tree source (comments and `#include`s ignored). */
function dtProperty(src: string, prop: string, defines: ReadonlyMap<string, string>): number[] | undefined {
  const re = new RegExp(`(?:^|[\\s;{])${prop.replace(/[.,]/g, '\\$&')}\\s*=\\s*((?:<[^>]*>\\s*(?:,\\s*)?)+);`, 'g');
  let found: number[] | undefined;
  for (const m of src.matchAll(re)) {
    found ??= [];
    for (const group of (m[1] as string).matchAll(/<([^>]*)>/g)) found.push(...new CellParser(group[1] as string, defines, prop).cells());
  }
  return found;
}

/** Block and line comments out, in one pass (an unclosed block comment is left as text, as before). */
function stripComments(src: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const block = src.indexOf('/*', i);
    const line = src.indexOf('//', i);
    if (block < 0 && line < 0) return out + src.slice(i);
    if (line < 0 || (block >= 0 && block < line)) {
      const end = src.indexOf('*/', block + 2);
      if (end < 0) return out + src.slice(i).replace(/\/\/[^\n]*/g, '');
      out += `${src.slice(i, block)} `;
      i = end + 2;
    } else {
      out += src.slice(i, line);
      const end = src.indexOf('\n', line);
      if (end < 0) return out;
      i = end;
    }
  }
}

function parseDts(src: string, encoding: DecprotEncoding): Mp1Platform {
  const text = stripComments(src);
  const defines = new Map<string, string>();
  for (const m of text.matchAll(/^[ \t]*#define[ \t]+([A-Za-z_]\w*)[ \t]+([^\n]+)$/gm))
    defines.set(m[1] as string, (m[2] as string).trim());
  const body = text.replace(/^[ \t]*#[^\n]*$/gm, '');
  const decprot = (dtProperty(body, 'st,decprot', defines) ?? []).map((c) => decodeDecprotCell(c, encoding));
  const ranges = dtProperty(body, 'memory-ranges', defines) ?? [];
  if (ranges.length % 4 !== 0)
    throw bad(`memory-ranges holds ${ranges.length} cells, not groups of 4 (base size sec_attr nsaid)`, 'memory-ranges');
  const memoryRanges: MemoryRange[] = [];
  for (let i = 0; i < ranges.length; i += 4) memoryRanges.push(memoryRange(ranges.slice(i, i + 4) as [number, number, number, number]));
  if (decprot.length === 0 && memoryRanges.length === 0)
    throw bad('no st,decprot or memory-ranges property in the device tree', 'platform');
  // OP-TEE's clock driver sets RCC TZEN for "st,stm32mp1-rcc-secure" and clears it for "st,stm32mp1-rcc".
  const rcc = [...body.matchAll(/compatible\s*=\s*"st,stm32mp1-rcc(-secure)?"/g)].map((m) => m[1] !== undefined);
  if (new Set(rcc).size > 1) throw bad('the RCC is both "st,stm32mp1-rcc" and "st,stm32mp1-rcc-secure"', 'rcc');
  return finish({ decprot, memoryRanges, debug: dtsDebug(body), ...(rcc.length === 0 ? {} : { tzen: rcc[0] as boolean }) });
}

/**
 * The debug the FSBL opens, from boolean properties (rsekit's own, under its vendor prefix: ST's
 * binding has none; the JSON form's `debug` says the same): `rsekit,debug-secure;` opens secure
 * debug (SPIDEN, SPNIDEN), `rsekit,debug-non-secure;` non-secure debug (DBGEN, NIDEN, DEVICEEN),
 * `rsekit,debug-unlocked;` leaves DENABLE unfrozen (DENREG not set). None: debug closed and locked.
 */
export function dtsDebug(body: string): Mp1Platform['debug'] {
  const has = (name: string): boolean => new RegExp(`(^|[\\s;{])${name.replace(',', '\\,')}\\s*;`).test(body);
  for (const m of body.matchAll(/rsekit,debug-[\w-]+/g))
    if (!['rsekit,debug-secure', 'rsekit,debug-non-secure', 'rsekit,debug-unlocked'].includes(m[0]))
      throw bad(`unknown property ${m[0]} (rsekit,debug-secure, rsekit,debug-non-secure, rsekit,debug-unlocked)`, m[0]);
  return { secure: has('rsekit,debug-secure'), nonSecure: has('rsekit,debug-non-secure'), lock: !has('rsekit,debug-unlocked') };
}

function memoryRange([base, size, secAttr, idAccess]: [number, number, number, number]): MemoryRange {
  if (secAttr > 3) throw bad(`memory-ranges: sec_attr ${secAttr} (TZC_REGION_S_NONE..S_RDWR)`, 'memory-ranges');
  if (size === 0) throw bad(`memory-ranges: region at 0x${base.toString(16)} has size 0`, 'memory-ranges');
  return { base: base >>> 0, size: size >>> 0, secAttr: secAttr as SecAttr, idAccess: idAccess >>> 0 };
}

function finish(p: Partial<Mp1Platform>): Mp1Platform {
  if ((p.memoryRanges?.length ?? 0) > TZC_REGIONS - 1)
    throw bad(`${p.memoryRanges?.length} memory ranges; the TZC-400 has ${TZC_REGIONS - 1} regions`, 'memory-ranges');
  return {
    tzen: p.tzen ?? true,
    mckprot: p.mckprot ?? true,
    decprot: p.decprot ?? [],
    tzma: p.tzma ?? {},
    memoryRanges: p.memoryRanges ?? [],
    action: p.action ?? 2,
    debug: p.debug ?? { secure: false, nonSecure: false, lock: true },
  };
}

// --- JSON ----------------------------------------------------------------------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function jsonNumber(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw bad(`${field}: ${JSON.stringify(v)} is not a 32-bit number`, field);
  return n;
}

function jsonBool(v: unknown, field: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw bad(`${field} is true or false, not ${JSON.stringify(v)}`, field);
  return v;
}

function nsaidMask(v: unknown, field: string): number {
  if (v === 'all') return NSEC_ALL_ACCESS_RDWR;
  if (v === undefined || v === 'none') return 0;
  if (Array.isArray(v))
    return (
      v.reduce<number>((m, x) => {
        const spec = String(x).toUpperCase();
        const [name, dir = 'RW'] = spec.split(':') as [string, string?];
        const id = NSAID[name];
        if (id === undefined) throw bad(`${field}: no NSAID ${name} (${Object.keys(NSAID).join(', ')})`, field);
        if (!['R', 'W', 'RW'].includes(dir)) throw bad(`${field}: ${spec}: access is R, W or RW`, field);
        return m | (dir.includes('R') ? 1 << id : 0) | (dir.includes('W') ? 1 << (id + 16) : 0);
      }, 0) >>> 0
    );
  return jsonNumber(v, field);
}

function secAttrOf(v: unknown, field: string): SecAttr {
  if (typeof v === 'number' && [0, 1, 2, 3].includes(v)) return v as SecAttr;
  const i = SEC_ATTR_NAMES.indexOf((v ?? 'none') as (typeof SEC_ATTR_NAMES)[number]);
  if (i < 0) throw bad(`${field}: secure access is one of ${SEC_ATTR_NAMES.join(', ')}`, field);
  return i as SecAttr;
}

function parseJson(j: Record<string, unknown>): Mp1Platform {
  if (j.profile !== undefined && j.profile !== STM32MP1.name)
    throw bad(`platform file is for ${String(j.profile)}, not ${STM32MP1.name}`, 'profile');
  const rcc = isObj(j.rcc) ? j.rcc : {};
  const etzpc = isObj(j.etzpc) ? j.etzpc : {};
  const encoding = etzpc.encoding ?? 'optee';
  if (encoding !== 'optee' && encoding !== 'tf-a') throw bad(`etzpc.encoding is optee or tf-a, not ${String(encoding)}`, 'etzpc.encoding');
  const decprot: DecprotEntry[] = [];
  for (const [i, e] of (Array.isArray(etzpc.decprot) ? etzpc.decprot : []).entries()) {
    const field = `etzpc.decprot[${i}]`;
    if (typeof e === 'number') {
      decprot.push(decodeDecprotCell(e, encoding));
      continue;
    }
    if (!isObj(e)) throw bad(`${field} is a DECPROT cell or {"id", "mode", "lock"}`, field);
    const mode = e.mode;
    if (!DECPROT_MODES.includes(mode as DecprotMode)) throw bad(`${field}.mode is one of ${DECPROT_MODES.join(', ')}`, field);
    if (typeof e.id !== 'number' && typeof e.id !== 'string') throw bad(`${field}.id is a peripheral name or id`, field);
    decprot.push({ id: peripheralId(e.id, field), mode: mode as DecprotMode, lock: jsonBool(e.lock, `${field}.lock`, false) });
  }
  const tzma: Partial<Record<TzmaName, { securePages: number; lock: boolean }>> = {};
  if (isObj(etzpc.tzma))
    for (const [k, v] of Object.entries(etzpc.tzma)) {
      if (!Object.hasOwn(TZMA, k) || !isObj(v))
        throw bad(`etzpc.tzma.${k}: the TZMAs are rom and sysram, each {"securePages", "lock"}`, 'etzpc.tzma');
      tzma[k as TzmaName] = {
        securePages: jsonNumber(v.securePages, `etzpc.tzma.${k}.securePages`),
        lock: jsonBool(v.lock, `etzpc.tzma.${k}.lock`, false),
      };
    }
  const tzc = isObj(j.tzc400) ? j.tzc400 : {};
  const memoryRanges: MemoryRange[] = [];
  if (Array.isArray(tzc['memory-ranges'])) {
    const cells = tzc['memory-ranges'].map((c, i) => jsonNumber(c, `tzc400.memory-ranges[${i}]`));
    if (cells.length % 4 !== 0) throw bad('tzc400.memory-ranges holds groups of 4 cells (base size sec_attr nsaid)', 'memory-ranges');
    for (let i = 0; i < cells.length; i += 4) memoryRanges.push(memoryRange(cells.slice(i, i + 4) as [number, number, number, number]));
  }
  for (const [i, r] of (Array.isArray(tzc.regions) ? tzc.regions : []).entries()) {
    const field = `tzc400.regions[${i}]`;
    if (!isObj(r)) throw bad(`${field} is {"base", "size", "secure", "nsaid"}`, field);
    memoryRanges.push(
      memoryRange([
        jsonNumber(r.base, `${field}.base`),
        jsonNumber(r.size, `${field}.size`),
        secAttrOf(r.secure, `${field}.secure`),
        nsaidMask(r.nsaid, `${field}.nsaid`),
      ]),
    );
  }
  let action: Action | undefined;
  if (tzc.action !== undefined) {
    const a = ACTIONS.indexOf(tzc.action as (typeof ACTIONS)[number]);
    if (a < 0) throw bad(`tzc400.action is one of ${ACTIONS.join(', ')}`, 'tzc400.action');
    action = a as Action;
  }
  const dbg = isObj(j.debug) ? j.debug : {};
  return finish({
    tzen: jsonBool(rcc.tzen, 'rcc.tzen', true),
    mckprot: jsonBool(rcc.mckprot, 'rcc.mckprot', true),
    decprot,
    tzma,
    memoryRanges,
    ...(action === undefined ? {} : { action }),
    debug: {
      secure: jsonBool(dbg.secure, 'debug.secure', false),
      nonSecure: jsonBool(dbg.nonSecure, 'debug.nonSecure', false),
      lock: jsonBool(dbg.lock, 'debug.lock', true),
    },
  });
}

/** A platform file: JSON, or device-tree source when it does not start with `{`. */
export function parsePlatform(text: string, o: { encoding?: DecprotEncoding } = {}): Mp1Platform {
  const t = text.trimStart();
  if (!t.startsWith('{')) return parseDts(text, o.encoding ?? 'optee');
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw bad(`platform file is not JSON: ${(e as Error).message}`, 'platform');
  }
  if (!isObj(j)) throw bad('platform file is a JSON object', 'platform');
  return parseJson(j);
}

/** DENABLE for a debug request: DBGSWENABLE plus the secure and / or non-secure paths. */
export function denableFor(d: { secure: boolean; nonSecure: boolean }): number {
  if (!d.secure && !d.nonSecure) return 0;
  return DENABLE.DBGSWENABLE | (d.nonSecure ? NON_SECURE_DEBUG : 0) | (d.secure ? SECURE_DEBUG : 0);
}

/** What applying the platform did, in boot-report lines. */
export interface FirewallReport {
  readonly lines: readonly string[];
}

/**
 * TF-A's and OP-TEE's sequence: the TZC-400 background secure, the memory ranges as regions 1..n
 * on every filter, then the background closed and the final ACTION; the ETZPC's DECPROT fields,
 * their locks and the TZMA splits.
 */
export function applyPlatform(p: Mp1Platform, etzpc: Etzpc, tzc: Tzc400): FirewallReport {
  const lines: string[] = [];
  tzc.setAction(1);
  tzc.setBackground(3, 0);
  for (let n = 1; n < TZC_REGIONS; n++) tzc.disableRegion(n);
  p.memoryRanges.forEach((r, i) => {
    const top = r.base + r.size - 1;
    tzc.setRegion(i + 1, { base: r.base, top, secAttr: r.secAttr, filters: 0b11, idAccess: r.idAccess });
    lines.push(
      `TZC-400 region ${i + 1}: 0x${r.base.toString(16)}..0x${top.toString(16)} secure ${SEC_ATTR_NAMES[r.secAttr]}, NSAID access 0x${r.idAccess.toString(16).padStart(8, '0')}`,
    );
  });
  tzc.setBackground(0, 0);
  tzc.setAction(p.action);
  lines.push(`TZC-400 region 0 (background): no access; action ${ACTIONS[p.action]}`);
  etzpc.tzen = p.tzen;
  etzpc.mckprot = p.mckprot;
  for (const d of p.decprot) {
    etzpc.setDecprot(d.id, d.mode);
    if (d.lock) etzpc.lock(d.id);
  }
  if (p.decprot.length > 0)
    lines.push(`ETZPC: ${p.decprot.length} DECPROT fields set (${p.decprot.filter((d) => d.lock).length} locked), the rest secure`);
  for (const [k, t] of Object.entries(p.tzma) as [TzmaName, { securePages: number; lock: boolean }][]) {
    etzpc.setTzma(k, t.securePages, t.lock);
    lines.push(`ETZPC TZMA${TZMA[k].index} (${k}): ${t.securePages} secure 4 KB pages${t.lock ? ', locked' : ''}`);
  }
  return { lines };
}
