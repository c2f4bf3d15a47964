/**
 * The demo as `npm start` runs it (issue 29): it passes, says what happened in at most 150 lines
 * (it printed 890 before: full check lists and a token hex dump), shows the `rse serve` command it
 * relies on, writes everything into the one directory it names (demo.log with every command and
 * its output, report.html), and leaves nothing in the system's temporary directory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.ts';

const DEMO = new URL('../../dist/src/demo/demo.js', import.meta.url).pathname;

test('the demo: at most 150 lines, the serve command shown, its outputs in the directory it names, nothing left in the temporary directory', () => {
  const out = join(tempDir(), 'demo');
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('rsekit-demo')));
  const r = spawnSync(process.execPath, [DEMO, '--out', out], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.ok(lines.length <= 150, `${lines.length} lines`);
  assert.match(r.stdout, /rse serve \$DEMO\/device --daemon --socket \$DEMO\/rse\.sock/);
  assert.match(r.stdout, new RegExp(`report: +${out}/report\\.html`));
  assert.ok(existsSync(join(out, 'report.html')));
  const log = readFileSync(join(out, 'demo.log'), 'utf8');
  assert.match(log, /\$ rse call attest --socket \$DEMO\/rse\.sock/);
  assert.ok(log.split('\n').length > lines.length * 3, 'the log holds the full output');
  const after = readdirSync(tmpdir()).filter((n) => n.startsWith('rsekit-demo') && !before.has(n));
  assert.deepEqual(after, []);
  // A second run replaces the first; a directory that is not a demo's is refused.
  const again = spawnSync(process.execPath, [DEMO, '--out', join(out, 'device')], { encoding: 'utf8' });
  assert.equal(again.status, 2);
  assert.match(again.stderr, /not empty and not an earlier demo's directory/);
});
