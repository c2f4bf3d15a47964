/**
 * Help as people read it (issue 29): every command's help fits 80 columns in a pipe, examples stay
 * valid (YAML examples parse to what the source holds, example commands wrap with `\`), listings
 * name only subcommands that exist, the binary's fast top-level help equals the full one, man pages
 * install with the packed tarball, and the completion scripts load and complete in bash.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { FLASH_EXAMPLE } from '../../src/cli/flash.ts';
import { findCommand, type HelpIndex, reflow, walkIndex } from '../../src/cli/help-text.ts';
import { helpIndex, main, VERB_FILES } from '../../src/cli/main.ts';
import { VALUES_EXAMPLE, VALUES_EXAMPLE_17 } from '../../src/cli/provision.ts';
import { VALUES_EXAMPLE_23 } from '../../src/provisioning/values-2.3-yaml.ts';
import { tempDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';

const root = new URL('../../', import.meta.url).pathname;
const rse = join(root, 'dist/rse.cjs');
let cached: HelpIndex | undefined;
const index = async (): Promise<HelpIndex> => (cached ??= await helpIndex());

async function helpOf(path: readonly string[]): Promise<string> {
  let out = '';
  const code = await main([...path, '--help'], { out: (s) => (out += s), err: (s) => (out += s) });
  assert.equal(code, 0, `rse ${path.join(' ')} --help`);
  return out;
}

/** Columns a line takes (code points: ‖, →, … are one column each). */
const columns = (line: string): number => [...line.replace(/\t/g, '        ')].length;

test('every command’s --help fits 80 columns in a pipe (fiptool’s own tab-laid text aside)', async () => {
  const long: string[] = [];
  for (const { path } of walkIndex(await index())) {
    if (path[0] === 'fip') continue;
    for (const line of (await helpOf(path)).split('\n')) if (columns(line) > 80) long.push(`rse ${path.join(' ')}: ${line}`);
  }
  let top = '';
  await main(['--help'], { out: (s) => (top += s), err: () => {} });
  for (const line of top.split('\n')) if (columns(line) > 80) long.push(`rse --help: ${line}`);
  assert.deepEqual(long, []);
});

test('reflow joins a paragraph’s lines, keeps indented lines and blank lines, and wraps at the width', () => {
  assert.equal(reflow('one two\nthree four five\n\n  kept   as is\nsix', 9), 'one two\nthree\nfour five\n\n  kept   as is\nsix');
  for (const width of [20, 40, 80])
    for (const line of reflow('word '.repeat(100), width).split('\n')) assert.ok(line.length <= width, `${width}: ${line}`);
});

test('the YAML examples in help parse to exactly the source examples (no line broken into invalid YAML), hex keys stay strings', async () => {
  const cases: [string[], string, string][] = [
    [['provision', 'bundle'], 'Example values file (rse-2.1):', VALUES_EXAMPLE],
    [['provision', 'bundle'], 'Example values file (rss-1.7):', VALUES_EXAMPLE_17],
    [['provision', 'message'], 'Example values file:', VALUES_EXAMPLE_23],
    [['flash', 'build'], 'Example:', FLASH_EXAMPLE],
  ];
  for (const [path, heading, source] of cases) {
    const help = await helpOf(path);
    const at = help.indexOf(`${heading}\n`);
    assert.ok(at >= 0, `${path.join(' ')}: ${heading}`);
    const block: string[] = [];
    for (const line of help
      .slice(at + heading.length + 1)
      .split('\n')
      .slice(1)) {
      if (line !== '' && !line.startsWith('  ')) break;
      block.push(line.slice(2));
    }
    assert.deepEqual(parse(block.join('\n')), parse(source), `${path.join(' ')} ${heading}`);
  }
  const v = parse(VALUES_EXAMPLE) as { cm: { guk: unknown }; dm: { implementation_id: unknown } };
  assert.equal(typeof v.cm.guk, 'string');
  assert.equal(v.dm.implementation_id, `${'a'.repeat(16)}${'b'.repeat(16)}${'c'.repeat(16)}${'d'.repeat(16)}`);
});

test('example commands in help are whole: a wrapped one continues with a backslash', async () => {
  for (const { path } of walkIndex(await index())) {
    if (path[0] === 'fip') continue;
    const lines = (await helpOf(path)).split('\n');
    lines.forEach((line, i) => {
      const next = lines[i + 1] ?? '';
      if (/^\s+rse /.test(line) && /^\s{6,}-/.test(next)) assert.match(line, /\\$/, `rse ${path.join(' ')}: ${line}`);
    });
  }
});

test('no help text leaks internal words; listings that name subcommands name real ones; every verb is listed once', async () => {
  const idx = await index();
  for (const { path, command } of walkIndex(idx)) {
    const text = await helpOf(path);
    assert.doesNotMatch(text, /seed recipe|dd loop|TODO|FIXME/i, `rse ${path.join(' ')}`);
    const named = /: ([a-z-]+(?:, [a-z-]+)+)$/.exec(command.summary);
    if (named !== null && command.commands.length > 0) {
      const subs = command.commands.map((c) => c.name);
      for (const n of (named[1] ?? '').split(', ')) assert.ok(subs.includes(n), `rse ${path.join(' ')} lists ${n}, not a subcommand`);
    }
  }
  const verbs = idx.commands.map((c) => c.name);
  assert.equal(new Set(verbs).size, verbs.length);
  for (const v of Object.keys(VERB_FILES)) assert.ok(findCommand(idx, [v]) !== undefined, v);
});

test('the binary answers --help from its prebuilt index exactly as the full CLI does, and --version from package.json', async () => {
  let full = '';
  await main(['--help'], { out: (s) => (full += s), err: () => {} });
  const fast = execFileSync(process.execPath, [rse, '--help'], { encoding: 'utf8' });
  assert.equal(fast, full, 'rebuild (npm run build) if a command changed');
  const version = execFileSync(process.execPath, [rse, '--version'], { encoding: 'utf8' });
  assert.equal(version.trim(), (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
  const bare = spawnSync(process.execPath, [rse], { encoding: 'utf8' });
  assert.equal(bare.status, 2, 'rse alone is a usage error');
  assert.equal(bare.stderr, full);
});

test('man rse-sign works after installing the packed tarball (npm install -g), and every verb has its page', {
  skip: oracleSkip('man'),
}, async () => {
  const dir = tempDir();
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop();
  assert.ok(packed !== undefined);
  const prefix = join(dir, 'prefix');
  execFileSync(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--ignore-scripts',
      '--omit=optional',
      join(dir, packed),
    ],
    {
      stdio: 'pipe',
      env: { ...process.env, npm_config_loglevel: 'error' },
    },
  );
  const manDir = join(prefix, 'share/man');
  for (const verb of ['', ...(await index()).commands.map((c) => c.name)]) {
    const page = verb === '' ? 'rse.1' : `rse-${verb}.1`;
    assert.ok(existsSync(join(manDir, 'man1', page)), page);
  }
  const env = { ...process.env, MANPATH: manDir, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' };
  const page = execFileSync(oracle('man') ?? 'man', ['rse-sign'], { env, encoding: 'utf8' });
  assert.match(page, /rse-sign - create a signed or unsigned MCUboot image/);
  assert.match(page, /--pad-header/);
  assert.match(page, /EXIT STATUS/);
  const gpt = execFileSync(oracle('man') ?? 'man', ['rse-gpt'], { env, encoding: 'utf8' });
  assert.match(gpt, /rse gpt create \[options\] <disk>/, 'a verb’s page holds each subcommand');
  // The installed binary runs too.
  const installed = execFileSync(join(prefix, 'bin/rse'), ['--version'], { encoding: 'utf8' });
  assert.match(installed, /^\d+\.\d+\.\d+/);
});

test('rse completion bash loads in bash and completes verbs, subcommands, options and option values', { skip: oracleSkip('bash') }, () => {
  const script = execFileSync(process.execPath, [rse, 'completion', 'bash'], { encoding: 'utf8' });
  const complete = (words: string[]): string[] => {
    const program = `source /dev/stdin <<'RSE_EOF'\n${script}\nRSE_EOF\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rse; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['--norc', '-c', program], { encoding: 'utf8', cwd: tempDir() });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((s) => s !== '');
  };
  assert.deepEqual(complete(['rse', 'gp']), ['gpt']);
  assert.deepEqual(complete(['rse', 'gpt', 'cr']), ['create']);
  assert.ok(complete(['rse', 'sign', '--pad-h']).includes('--pad-header'));
  assert.deepEqual(complete(['rse', 'device', 'create', '--profile', 'rse-2']).sort(), ['rse-2.1', 'rse-2.3']);
  assert.ok(complete(['rse', 'create', '--ver']).includes('--version'), 'an alias walks as its command');
  const check = spawnSync('bash', ['--norc', '-c', `source /dev/stdin <<'RSE_EOF'\n${script}\nRSE_EOF\ncomplete -p rse`], {
    encoding: 'utf8',
  });
  assert.match(check.stdout, /complete .*-F _rse rse/);
  for (const shell of ['zsh', 'fish']) {
    const r = spawnSync(process.execPath, [rse, 'completion', shell], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /rse/);
  }
  const bad = spawnSync(process.execPath, [rse, 'completion', 'tcsh', '--json'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal((JSON.parse(bad.stdout) as { ok: boolean; error: { code: string } }).error.code, 'E_USAGE');
});
