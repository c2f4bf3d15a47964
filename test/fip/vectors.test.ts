/**
 * Replays every fiptool command recorded in ../shared/vectors/fip/cmdlog.txt through `rse fip`
 * (in a scratch copy of the inputs) and compares the bytes written, stdout, stderr and the exit
 * status with what the real fiptool produced.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const VEC = vectorsDir('fip');

interface Rec {
  readonly name: string;
  readonly cmd: string | undefined;
  readonly rc: number;
}

function readLog(): Rec[] {
  const recs: Rec[] = [];
  let cur: { name: string; cmd?: string } | undefined;
  for (const line of readFileSync(join(VEC, 'cmdlog.txt'), 'utf8').split('\n')) {
    if (line.startsWith('### ')) cur = { name: line.slice(4) };
    else if (line.startsWith('$ ') && cur !== undefined) cur.cmd = line.slice(2);
    else if (line.startsWith('rc=') && cur !== undefined) {
      recs.push({ name: cur.name, cmd: cur.cmd, rc: Number(line.slice(3)) });
      cur = undefined;
    }
  }
  return recs;
}

const expected = (name: string, stream: 'stdout' | 'stderr'): string => {
  const p = join(VEC, 'out', `${name}.${stream}`);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
};

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** The file a create/update/remove command writes. */
function outputOf(args: readonly string[]): string | undefined {
  const cmd = args[0];
  if (cmd !== 'create' && cmd !== 'update' && cmd !== 'remove') return undefined;
  const o = args.indexOf('--out');
  return o >= 0 ? args[o + 1] : args[args.length - 1];
}

const LOG = readLog();
const work = tempDir();
cpSync(join(VEC, 'payloads'), join(work, 'payloads'), { recursive: true });
mkdirSync(join(work, 'broken'));
const OUTPUTS = new Set(['entry_flags_updated.fip', 'entry_flags_removed.fip', 'unknown_uuid_updated.fip']);
for (const f of readdirSync(join(VEC, 'broken'))) {
  if (f.endsWith('.fip') && !OUTPUTS.has(f)) cpSync(join(VEC, 'broken', f), join(work, 'broken', f));
}
process.chdir(work);

/** Steps the README describes but cmdlog.txt does not record as commands. */
const BEFORE: Record<string, () => void> = {
  update_bl2_inplace: () => cpSync('create_rss.fip', 'update_bl2_inplace.fip'),
  'host_patched.1': () => cpSync('host.fip', 'host_patched.fip'),
  unpack_all: () => mkdirSync('unpack_all'),
  unpack_some: () => mkdirSync('unpack_some'),
};

const isSimple = (cmd: string): boolean => /^fiptool(-rse)? /.test(cmd) && !/[;&|]/.test(cmd);

test('every recorded fiptool command is reproduced', async (t) => {
  let ran = 0;
  for (const rec of LOG) {
    BEFORE[rec.name]?.();
    if (rec.cmd === undefined || !isSimple(rec.cmd)) continue;
    const words = rec.cmd.split(/ +/);
    const profile = words[0] === 'fiptool' ? 'rss-1.7' : 'rse-2.1';
    const args = words.slice(1);
    await t.test(rec.name, async () => {
      const r = await runCli(['fip', '--profile', profile, ...args]);
      if (rec.name === 'broken_duplicate_uuid.info') {
        // fiptool aborts on an assert (134); we reject the FIP cleanly.
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^ERROR: FIP broken\/duplicate_uuid\.fip is corrupted: UUID .* \[E_DUPLICATE/);
        return;
      }
      assert.equal(r.code, rec.rc, `exit status of: ${rec.cmd}\n${r.stderr}`);
      assert.equal(r.stdout, expected(rec.name, 'stdout'), `stdout of: ${rec.cmd}`);
      const want = expected(rec.name, 'stderr').split('\n');
      const got = r.stderr.split('\n');
      assert.equal(got.length, want.length, `stderr of: ${rec.cmd}\n${r.stderr}`);
      want.forEach((line, i) => {
        // Our errors carry fiptool's text followed by our code.
        if (line.startsWith('ERROR: '))
          assert.match(got[i] as string, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[E_[A-Z_]+`));
        else assert.equal(got[i], line);
      });
      const out = outputOf(args);
      // host_patched.fip is updated three times; only the last state is recorded.
      if (out !== undefined && existsSync(join(VEC, out)) && !/^host_patched\.[12]$/.test(rec.name)) {
        assert.equal(sha(out), sha(join(VEC, out)), `bytes of ${out}`);
      }
      if (rec.rc !== 0 && out !== undefined && !existsSync(join(VEC, out))) {
        assert.equal(existsSync(out), rec.name === 'remove_exists_noforce', `${out} must not be written`);
      }
    });
    ran++;
  }
  assert.ok(ran >= 60, `only ${ran} commands replayed`);
});

const listing = (dir: string): string =>
  readdirSync(dir)
    .sort()
    .map((f) => `${sha(join(dir, f))}  ${f}\n`)
    .join('');

test('unpack writes the recorded files', () => {
  assert.equal(listing('unpack_all'), expected('unpack_all.ls', 'stdout'));
  assert.equal(listing('unpack_some'), expected('unpack_some.ls', 'stdout'));
});

test('unpack of overlapping entries and unknown UUIDs', async () => {
  mkdirSync('broken/unpack_overlap', { recursive: true });
  assert.equal((await runCli(['fip', 'unpack', '--out', 'broken/unpack_overlap', 'broken/overlapping_entries.fip'])).code, 0);
  const want = expected('broken_overlapping_entries.unpack', 'stdout');
  const byName = (text: string): string[] =>
    text
      .split('\n')
      .filter(Boolean)
      .sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1));
  assert.deepEqual(byName(listing('broken/unpack_overlap')), byName(want.replaceAll('rss-', 'rse-')));
  mkdirSync('broken/unpack_unknown', { recursive: true });
  assert.equal(
    (await runCli(['fip', '--profile', 'rss-1.7', 'unpack', '--out', 'broken/unpack_unknown', 'broken/unknown_uuid.fip'])).code,
    0,
  );
  assert.equal(`${readdirSync('broken/unpack_unknown').sort().join('\n')}\n`, expected('broken_unknown_uuid.unpack', 'stdout'));
});

test('the RSE spellings make the same bytes as the RSS ones', () => {
  assert.equal(sha('create_rse.fip'), sha('create_rss.fip'));
  rmSync('create_rse.fip');
});
