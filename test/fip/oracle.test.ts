/** Debian's fiptool (2.8, no RSE table) reads FIPs made by `rse fip` exactly as we do. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fipTable } from '../../src/profiles/fip-table.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';
import { oracleSkip } from '../oracles.ts';

const PAY = join(vectorsDir('fip'), 'payloads');
const skip = oracleSkip('fiptool');

const fiptool = (args: string[]): string => execFileSync('fiptool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Our `info` line, with the RSE rows named the way a fiptool without the TC table names them. */
function asGeneric(line: string): string {
  for (const row of fipTable('rse')) {
    if (row.alias !== undefined && line.startsWith(`${row.name}:`)) {
      return line.replace(`${row.name}:`, `${row.uuid}:`).replace(`cmdline="--${row.cmdline}"`, 'cmdline="--blob"');
    }
  }
  return line;
}

const CASES: Record<string, string[]> = {
  rse: [
    '--align',
    '8192',
    '--rse-bl2',
    'bl2_signed.bin',
    '--rse-ns',
    'tfm_ns_signed.bin',
    '--rse-s',
    'tfm_s_signed.bin',
    '--rse-scp-bl1',
    'scp_bl1_signed.bin',
    '--rse-ap-bl1',
    'ap_bl1_signed.bin',
  ],
  host: [
    '--tb-fw',
    'tb_fw.bin',
    '--soc-fw',
    'soc_fw.bin',
    '--nt-fw',
    'nt_fw.bin',
    '--rse-bl2',
    'bl2_signed.bin',
    '--plat-toc-flags',
    '0xbeef',
  ],
  blobs: [
    '--align',
    '16',
    '--blob',
    'uuid=01234567-89AB-CDEF-0123-456789ABCDEF,file=blob_a.bin',
    '--nt-fw',
    'nt_fw.bin',
    '--rse-sic-tables-s',
    'tfm_s_sic_tables_signed.bin',
  ],
  empty: ['--align', '4096', '--tb-fw', 'empty.bin', '--soc-fw', 'soc_fw.bin'],
};

test('Debian fiptool lists our FIPs as we do', { skip }, async () => {
  const dir = tempDir();
  for (const [name, spec] of Object.entries(CASES)) {
    const args = spec.map((a) => (a.includes('file=') ? a.replace('file=', `file=${PAY}/`) : a.endsWith('.bin') ? join(PAY, a) : a));
    const out = join(dir, `${name}.fip`);
    const made = await runCli(['fip', 'create', ...args, out]);
    assert.equal(made.code, 0, made.stderr);
    for (const verbose of [false, true]) {
      const ours = await runCli(['fip', ...(verbose ? ['--verbose'] : []), 'info', out]);
      assert.equal(ours.code, 0, ours.stderr);
      const theirs = execFileSync('fiptool', [...(verbose ? ['--verbose'] : []), 'info', out], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const mine = ours.stdout.split('\n').map(asGeneric);
      assert.deepEqual(theirs.split('\n').sort(), [...mine].sort(), `${name}: info differs`);
    }
  }
});

test('Debian fiptool packs RSE images given as blobs byte-identically to rse fip', { skip }, async () => {
  const dir = tempDir();
  const table = fipTable('rse').filter((r) => r.alias !== undefined);
  const files: Record<string, string> = {
    'rse-bl2': 'bl2_signed.bin',
    'rse-scp-bl1': 'scp_bl1_signed.bin',
    'rse-ap-bl1': 'ap_bl1_signed.bin',
    'rse-ns': 'tfm_ns_signed.bin',
    'rse-s': 'tfm_s_signed.bin',
  };
  const blobArgs = table
    .filter((r) => files[r.cmdline] !== undefined)
    .flatMap((r) => ['--blob', `uuid=${r.uuid},file=${join(PAY, files[r.cmdline] as string)}`]);
  fiptool(['create', '--align', '8192', '--tb-fw', join(PAY, 'tb_fw.bin'), ...blobArgs, join(dir, 'theirs.fip')]);
  const ours = await runCli([
    'fip',
    'create',
    '--align',
    '8192',
    '--tb-fw',
    join(PAY, 'tb_fw.bin'),
    ...Object.entries(files).flatMap(([k, v]) => [`--${k}`, join(PAY, v)]),
    join(dir, 'ours.fip'),
  ]);
  assert.equal(ours.code, 0, ours.stderr);
  assert.deepEqual(readFileSync(join(dir, 'ours.fip')), readFileSync(join(dir, 'theirs.fip')));
});

test('usage texts and exit statuses are those of Debian fiptool (plus the RSE rows)', { skip }, async () => {
  for (const args of [
    ['help', 'create'],
    ['help', 'update'],
    ['help', 'unpack'],
    ['help', 'remove'],
    ['help', 'info'],
    [],
    ['create'],
    ['create', '--align', '16'],
    ['create', '--x', 'a.fip'],
    ['help', 'nope'],
  ]) {
    let theirs = '';
    let status = 0;
    try {
      theirs = execFileSync('fiptool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      const err = e as { stdout: string; status: number };
      theirs = err.stdout;
      status = err.status;
    }
    const ours = await runCli(['fip', ...args]);
    assert.equal(
      ours.stdout
        .split('\n')
        .filter((l) => !/--rse-/.test(l))
        .join('\n'),
      theirs,
      `fiptool ${args.join(' ')}`,
    );
    assert.equal(ours.code, status, `exit status of fiptool ${args.join(' ')}`);
  }
});
