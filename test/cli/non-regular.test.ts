/**
 * Issue 25: inputs read whole are regular files only. `/dev/zero`, `/dev/urandom`, a FIFO or a
 * directory is refused at once with E_IO (exit 2) by every verb that reads a file whole, including a
 * platform YAML's `input:`; before, `dumpinfo /dev/zero` read 7.1 GB in 60 s.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';

const KEY = new URL('../../examples/keys/root-EC-P256.pem', import.meta.url).pathname;

// Reading /dev/zero or opening a FIFO with no writer never ends: the test's timeout is the liveness bound.
test('non-regular files are refused before being read: devices, a FIFO, a directory', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  writeFileSync(join(dir, 'p.yaml'), 'platform: rse-2.1\nimages:\n  - { name: a, input: /dev/zero }\n');
  const cases: string[][] = [];
  for (const f of ['/dev/zero', '/dev/urandom', fifo, dir])
    cases.push(
      ['dumpinfo', f],
      ['verify', '-k', KEY, f],
      ['gpt', 'list', f],
      ['token', 'print', f],
      ['stm32', 'info', f],
      ['sign', '-k', KEY, '-v', '1.0.0', '-H', '0x400', '-S', '0x10000', f, join(dir, 'o.bin')],
      ['layout', f, '-Binary', '-o', join(dir, 'l.bin'), '-Binary'],
    );
  cases.push(['flash', 'build', join(dir, 'p.yaml'), '-o', join(dir, 'out')]);
  for (const args of cases) {
    const r = await runCli([...args, '--json'].filter((a) => !(args[0] === 'layout' && a === '--json')));
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /not a regular file/, args.join(' '));
  }
});
