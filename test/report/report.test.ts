/**
 * `rse report DIR -o report.html` (issue 29), rendered in Debian's headless Chromium: the page
 * loads with no console error, exception or failed load, and shows each section with its
 * pictures (maps, provisioning path, the image × check grid, the measured-boot table, the STM32
 * firewall maps). Chromium is driven over its DevTools pipe (--remote-debugging-pipe: JSON
 * messages ending in NUL on fds 3 and 4), so no client library is needed. The devices' directories
 * are unchanged by the report (it boots copies in memory).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DirStore } from '../../src/device/device.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { esc, renderReport } from '../../src/report/html.ts';
import { exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

/** A directory with a flash build, a provisioned rse-2.1 device, an MP15 and an L5 device. */
async function fixtureDir(): Promise<string> {
  const dir = tempDir();
  const fx = exampleFixture('rse-2.1');
  mkdirSync(join(dir, 'flash'));
  writeFileSync(join(dir, 'flash/manifest.json'), JSON.stringify(fx.build.manifest));
  const store = new DirStore(join(dir, 'device'));
  mkdirSync(join(dir, 'device'));
  for (const [name, bytes] of fx.store.files) store.write(name, bytes);
  for (const args of [
    ['stm32', 'device', 'create', join(dir, 'mp1')],
    ['l5', 'device', 'create', join(dir, 'l5')],
    ['l5', 'ob', 'set', join(dir, 'l5'), 'tzen=1', 'secwm1=0-31', 'hdp1=7'],
  ])
    assert.equal((await runCli(args)).code, 0, args.join(' '));
  return dir;
}

const snapshot = (dir: string): string =>
  readdirSync(dir)
    .map((n) => `${n}:${statSync(join(dir, n)).mtimeMs}:${readFileSync(join(dir, n)).toString('base64').length}`)
    .join(',');

test('the report gathers every build and device, escapes what it shows, and leaves the device directories as they were', async () => {
  const dir = await fixtureDir();
  const before = snapshot(join(dir, 'device'));
  const r = gatherReport(dir);
  assert.equal(r.builds.length, 1);
  assert.equal(r.devices.length, 1);
  assert.deepEqual(
    r.firewalls.map((f) => f.kind),
    ['stm32l5', 'stm32mp1'],
  );
  const d = r.devices[0];
  assert.ok(d !== undefined);
  assert.ok(d.boot.ok && d.lcs === 'SE');
  assert.ok(d.boot.measurements.length >= 5);
  assert.ok(d.boot.checks.some((c) => c.subject === 'image 0 (S) primary' && c.check === 'validate' && c.ok));
  assert.equal(snapshot(join(dir, 'device')), before, 'booted in memory only');
  assert.equal(esc('<a href="x">&\''), '&#60;a href=&#34;x&#34;&#62;&#38;&#39;');
  const html = renderReport({ ...r, dir: '<script>alert(1)</script>' });
  assert.doesNotMatch(html, /<script>/);
});

/** A DevTools client over Chromium's pipe. */
function devtools(chromium: string): {
  send(method: string, params?: Record<string, unknown>, sessionId?: string): Promise<Record<string, unknown>>;
  events: { method: string; params: Record<string, unknown> }[];
  waitFor(method: string, ms: number): Promise<void>;
  close(): void;
} {
  const child = spawn(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--remote-debugging-pipe',
      '--no-first-run',
      '--user-data-dir=' + tempDir(),
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  const toChrome = child.stdio[3] as NodeJS.WritableStream;
  const fromChrome = child.stdio[4] as NodeJS.ReadableStream;
  let id = 0;
  const pending = new Map<number, (r: Record<string, unknown>) => void>();
  const events: { method: string; params: Record<string, unknown> }[] = [];
  const waiters: { method: string; resolve: () => void }[] = [];
  let buf = Buffer.alloc(0);
  fromChrome.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (let at = buf.indexOf(0); at >= 0; at = buf.indexOf(0)) {
      const m = JSON.parse(buf.subarray(0, at).toString('utf8')) as {
        id?: number;
        method?: string;
        params?: Record<string, unknown>;
        result?: Record<string, unknown>;
        error?: unknown;
      };
      buf = buf.subarray(at + 1);
      if (m.id !== undefined) pending.get(m.id)?.(m.error !== undefined ? { error: m.error } : (m.result ?? {}));
      else if (m.method !== undefined) {
        events.push({ method: m.method, params: m.params ?? {} });
        for (const w of waiters.filter((x) => x.method === m.method)) w.resolve();
      }
    }
  });
  return {
    events,
    send: (method, params = {}, sessionId) =>
      new Promise((resolve) => {
        const n = ++id;
        pending.set(n, resolve);
        toChrome.write(`${JSON.stringify({ id: n, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
      }),
    waitFor: (method, ms) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${method} within ${ms} ms`)), ms);
        waiters.push({
          method,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      }),
    close: () => child.kill('SIGKILL'),
  };
}

test('rse report renders in headless Chromium: no console error, every section present with its pictures', {
  skip: oracleSkip('chromium'),
}, async () => {
  const dir = await fixtureDir();
  const out = join(dir, 'report.html');
  const r = await runCli(['report', dir, '-o', out, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const cdp = devtools(oracle('chromium') as string);
  try {
    const targets = (await cdp.send('Target.getTargets')) as { targetInfos: { targetId: string; type: string }[] };
    const page = targets.targetInfos.find((t) => t.type === 'page');
    assert.ok(page !== undefined, 'a page target');
    const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId: page.targetId, flatten: true })) as { sessionId: string };
    for (const m of ['Runtime.enable', 'Log.enable', 'Page.enable']) await cdp.send(m, {}, sessionId);
    const loaded = cdp.waitFor('Page.loadEventFired', 30_000);
    await cdp.send('Page.navigate', { url: pathToFileURL(out).href }, sessionId);
    await loaded;
    const evaluated = (await cdp.send(
      'Runtime.evaluate',
      {
        expression: `JSON.stringify([...document.querySelectorAll('section')].map((s) => ({ id: s.id, svg: s.querySelectorAll('svg').length, tables: s.querySelectorAll('table').length, cells: s.querySelectorAll('.cells span').length, text: s.innerText.length })))`,
        returnByValue: true,
      },
      sessionId,
    )) as { result: { value: string } };
    const sections = JSON.parse(evaluated.result.value) as { id: string; svg: number; tables: number; cells: number; text: number }[];
    const by = new Map(sections.map((s) => [s.id, s]));
    assert.deepEqual([...by.keys()], ['flash-map', 'provisioning', 'boot-checks', 'measured-boot', 'firewalls']);
    assert.ok((by.get('flash-map')?.svg ?? 0) >= 3, 'host flash, FIP and ROM drawn');
    assert.ok((by.get('provisioning')?.svg ?? 0) >= 1, 'the provisioning path drawn');
    assert.ok((by.get('boot-checks')?.tables ?? 0) >= 1, 'the image × check grid');
    assert.ok((by.get('measured-boot')?.tables ?? 0) >= 1, 'the measured-boot table');
    assert.ok((by.get('firewalls')?.cells ?? 0) >= 256 + 50, 'L5 pages and MP15 peripherals');
    const problems = cdp.events.filter(
      (e) =>
        e.method === 'Runtime.exceptionThrown' ||
        (e.method === 'Runtime.consoleAPICalled' && e.params.type === 'error') ||
        (e.method === 'Log.entryAdded' && (e.params.entry as { level: string }).level === 'error'),
    );
    assert.deepEqual(problems, [], 'no console error, exception or failed load');
  } finally {
    cdp.close();
  }
});
