/**
 * The shape of `src/`, as ARCHITECTURE.md draws it: imports flow one way between the domains
 * (every import, type-only ones included), no file imports itself through others, and no source
 * file is over 500 lines.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * Each domain's layer: a file may import its own domain and domains of lower layers only.
 * The formats (layer 3) and attestation/ import nothing above crypto.
 */
const LAYER: Readonly<Record<string, number>> = {
  lib: 0,
  profiles: 1,
  crypto: 2,
  cose: 3,
  mcuboot: 3,
  fip: 3,
  gpt: 3,
  layout: 3,
  bl1: 3,
  sic: 3,
  attestation: 4,
  otp: 4,
  store: 4,
  device: 5,
  provisioning: 6,
  boot: 7,
  flash: 7,
  services: 8,
  endorse: 9,
  verifier: 9,
  stm32: 9,
  report: 10,
  // The socket servers: the RSE's runtime services and the STM32MP15 secure monitor's SMCs.
  comms: 10,
  cli: 11,
  demo: 12,
  index: 12,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const domainOf = (file: string): string => relative(SRC, file).split('/')[0]?.replace(/\.ts$/, '') ?? '';

/** Every relative import and re-export of each file (type-only ones included). */
export function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const specs = [...text.matchAll(/^\s*(?:import|export)\b[^'";]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1] as string);
    graph.set(
      f,
      specs.map((s) => resolve(dirname(f), s)),
    );
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const files = sources(SRC);
const graph = importGraph(files);

test('every src domain has a layer', () => {
  const unknown = [...new Set(files.map(domainOf))].filter((d) => LAYER[d] === undefined);
  assert.deepEqual(unknown, []);
});

test('imports flow one way: a domain imports only lower layers (attestation, formats, crypto included)', () => {
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    const from = domainOf(f);
    for (const d of deps) {
      const to = domainOf(d);
      if (to !== from && (LAYER[to] as number) >= (LAYER[from] as number))
        wrong.push(`${relative(SRC, f)} -> ${relative(SRC, d)} (${from} ${LAYER[from]} -> ${to} ${LAYER[to]})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no import cycle between source files', () => {
  assert.deepEqual(
    cycles(graph).map((c) => c.map((f) => relative(SRC, f)).sort()),
    [],
  );
});

test('the cycle finder finds a cycle (the check can fail)', () => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(
    cycles(g).map((c) => c.sort()),
    [['a', 'b', 'c']],
  );
});

test('no source file is over 500 lines', () => {
  const long = files
    .map((f) => ({ file: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((x) => x.lines > 500);
  assert.deepEqual(long, []);
});

test('one error hierarchy: every error class in src is an RseError, every code used is listed in ERROR_CODES', async () => {
  const { ERROR_CODES } = await import('../../src/lib/errors.ts');
  const plainErrors: string[] = [];
  const unlisted = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/class (\w+) extends (\w+)/g))
      if (m[2] === 'Error' && m[1] !== 'RseError') plainErrors.push(`${relative(SRC, f)}: ${m[1]}`);
    for (const m of text.matchAll(/'(E_[A-Z0-9_]+)'/g)) if (!((m[1] as string) in ERROR_CODES)) unlisted.add(m[1] as string);
  }
  assert.deepEqual(plainErrors, []);
  assert.deepEqual([...unlisted], []);
});
