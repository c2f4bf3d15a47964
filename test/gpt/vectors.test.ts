/** GPT disks and FWU metadata against the sgdisk-made vectors (and sgdisk itself when installed). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { readGpt, writeGpt } from '../../src/gpt/codec.ts';
import { alternateBank, encodeFwuMetadata, parseFwuMetadata, switchActiveBank } from '../../src/gpt/fwu.ts';
import { planGpt } from '../../src/gpt/gpt.ts';
import { bytesToIeee } from '../../src/gpt/sgdisk.ts';
import { RseError } from '../../src/lib/errors.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';
import { oracleSkip } from '../oracles.ts';

const VEC = vectorsDir('gpt');
const FIP = join(vectorsDir('fip'), 'create_rss.fip');
const FIP_PATCHED = join(vectorsDir('fip'), 'update_bl2_inplace.fip');
const out = tempDir();
process.chdir(VEC); // listings print the disk name as given
const rec = (name: string): string => readFileSync(join(VEC, 'out', name), 'utf8');
const bytes = (p: string): Buffer => readFileSync(p);

/** The sgdisk arguments of cmdlog.txt for a recorded step. */
function sgdiskArgs(step: string): string[] {
  const log = readFileSync(join(VEC, 'cmdlog.txt'), 'utf8').split('\n');
  const line = log[log.indexOf(`### ${step}`) + 1] as string;
  return line
    .replace(/^\$ sgdisk \S+ /, '')
    .trim()
    .split(/ +/);
}

test('the TC disk (alignment 16, FIP_A/FIP_B) is reproduced byte for byte from the recorded sgdisk arguments', async () => {
  const disk = join(out, 'fip_gpt.bin');
  const made = await runCli(['gpt', 'create', disk, '--sectors', '608', ...sgdiskArgs('tc_sgdisk')]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal((await runCli(['gpt', 'write', disk, FIP, '--name', 'FIP_A', '--name', 'FIP_B'])).code, 0);
  assert.deepEqual(bytes(disk), bytes('fip_gpt.bin'));
});

test('the FWU disk (four partitions, metadata in both copies) is reproduced byte for byte', async () => {
  const disk = join(out, 'fip_gpt_fwu.bin');
  assert.equal((await runCli(['gpt', 'create', disk, '--size', '297472', ...sgdiskArgs('fwu_sgdisk')])).code, 0);
  assert.equal((await runCli(['gpt', 'write', disk, FIP, '--name', 'FIP_A', '--name', 'FIP_B'])).code, 0);
  const banks = ['--bank', 'a1a1a1a1-0000-4000-8000-00000000000a', '--bank', 'b2b2b2b2-0000-4000-8000-00000000000b'];
  const meta = await runCli(['fwu', 'create', disk, '--disk', '--image-type', '0d5c011f-0776-5b38-8e81-36fbdf6743e2', ...banks]);
  assert.equal(meta.code, 0, meta.stderr);
  assert.deepEqual(bytes(disk), bytes('fip_gpt_fwu.bin'));
  const file = join(out, 'metadata.bin');
  assert.equal(
    (
      await runCli([
        'fwu',
        'create',
        file,
        '--location',
        '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
        '--image-type',
        '0d5c011f-0776-5b38-8e81-36fbdf6743e2',
        ...banks,
      ])
    ).code,
    0,
  );
  assert.deepEqual(bytes(file), bytes('metadata.bin'));
});

test('rse gpt list / info / verify print what sgdisk -p / -i / -v printed', async () => {
  assert.equal((await runCli(['gpt', 'list', 'fip_gpt.bin'])).stdout, rec('tc_print.stdout'));
  assert.equal((await runCli(['gpt', 'list', 'fip_gpt_fwu.bin'])).stdout, rec('fwu_print.stdout'));
  assert.equal((await runCli(['gpt', 'verify', 'fip_gpt.bin'])).stdout, rec('tc_verify.stdout'));
  assert.equal((await runCli(['gpt', 'verify', 'fip_gpt_fwu.bin'])).stdout, rec('fwu_verify.stdout'));
  let info = '';
  for (const n of ['1', '2', '3', '4']) info += (await runCli(['gpt', 'info', 'fip_gpt_fwu.bin', n])).stdout;
  assert.equal(info, rec('fwu_info.stdout'));
  const json = JSON.parse((await runCli(['gpt', 'list', 'fip_gpt.bin', '--json'])).stdout) as {
    partitions: { name: string; offset: number }[];
  };
  assert.deepEqual(
    json.partitions.map((p) => [p.name, p.offset]),
    [
      ['FIP_A', 0x6000],
      ['FIP_B', 304 * 512],
    ],
  );
});

test('write patches both banks (the fixed seed recipe); a file larger than a partition writes nothing', async () => {
  const disk = join(out, 'seed.bin');
  copyFileSync('fip_gpt.bin', disk);
  assert.equal((await runCli(['gpt', 'write', disk, FIP_PATCHED, '--name', 'FIP_A', '--name', 'FIP_B'])).code, 0);
  assert.deepEqual(bytes(disk), bytes('fip_gpt_seed_fixed.bin'));
  const big = join(out, 'big.bin');
  writeFileSync(big, new Uint8Array(257 * 512));
  const before = bytes(disk);
  const r = await runCli(['gpt', 'write', disk, big, '--name', 'FIP_A', '--name', 'FIP_B']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /E_SIZE/);
  assert.deepEqual(bytes(disk), before);
  const missing = await runCli(['gpt', 'write', disk, FIP, '--name', 'FIP_A', '--name', 'FIP_C']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /E_NOT_FOUND.*FIP_C/);
  assert.deepEqual(bytes(disk), before);
});

test('extract gives the partition, or just the FIP it holds', async () => {
  const part = join(out, 'a.bin');
  assert.equal((await runCli(['gpt', 'extract', 'fip_gpt.bin', '--name', 'FIP_B', '-o', part])).code, 0);
  assert.equal(bytes(part).length, 256 * 512);
  assert.equal((await runCli(['gpt', 'extract', 'fip_gpt.bin', '--name', 'FIP_B', '--fip', '-o', part])).code, 0);
  assert.deepEqual(bytes(part), bytes(FIP));
});

test('a CRC flip in the primary header is reported and the backup is used', async () => {
  const disk = join(out, 'crc.bin');
  const b = bytes('fip_gpt.bin');
  b[512 + 16] = (b[512 + 16] as number) ^ 0x01;
  writeFileSync(disk, b);
  const parsed = readGpt(new Uint8Array(b));
  assert.equal(parsed.source, 'backup');
  assert.equal(parsed.problems[0]?.code, 'E_CRC');
  assert.equal(parsed.problems[0]?.offset, 512 + 16);
  const list = await runCli(['gpt', 'list', disk]);
  assert.equal(list.code, 0);
  assert.match(list.stderr, /primary header: header CRC32.*\[E_CRC\][\s\S]*using the backup/);
  assert.equal(list.stdout, rec('tc_print.stdout').replace('Disk fip_gpt.bin', `Disk ${disk}`));
  const v = await runCli(['gpt', 'verify', disk]);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /Problem: primary header: header CRC32/);
  // Both headers broken: a typed error.
  b[607 * 512 + 16] = (b[607 * 512 + 16] as number) ^ 0x01;
  assert.throws(
    () => readGpt(new Uint8Array(b)),
    (e: unknown) => e instanceof RseError && e.code === 'E_CRC',
  );
  // An entry changed: the entries CRC catches it.
  const c = bytes('fip_gpt.bin');
  c[1024 + 32] = 0x31;
  const d = readGpt(new Uint8Array(c));
  assert.equal(d.source, 'backup');
  assert.match(d.problems[0]?.message ?? '', /primary partition entries CRC32/);
});

test('random mutations of the headers and entry arrays only give typed errors', () => {
  const base = new Uint8Array(bytes('fip_gpt.bin'));
  const regions = [
    [0, 512],
    [512, 92],
    [1024, 512],
    [(607 - 32) * 512, 512],
    [607 * 512, 92],
  ] as const;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(regions.length - 1), fc.nat(511), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      (patches, fixCrc) => {
        const b = base.slice();
        for (const [r, k, v] of patches) {
          const [at, len] = regions[r] as readonly [number, number];
          b[at + (k % len)] = v;
        }
        if (fixCrc) {
          // Recompute the header CRCs so the field checks behind them are exercised too.
          for (const at of [512, 607 * 512]) {
            const dv = new DataView(b.buffer, at, 92);
            dv.setUint32(16, 0, true);
            dv.setUint32(16, zcrc(b.subarray(at, at + 92)), true);
          }
        }
        try {
          const d = readGpt(b);
          for (const p of d.partitions) assert.ok(p.number >= 1 && p.number <= d.entryCount);
        } catch (e) {
          if (!(e instanceof RseError)) throw e;
        }
      },
    ),
    { numRuns: 1500 },
  );
});

import { crc32 as zcrc } from 'node:zlib';

test('FWU metadata: TF-A checks, switching and the alternate bank', () => {
  const m = parseFwuMetadata(new Uint8Array(bytes('metadata.bin')));
  assert.equal(m.activeIndex, 0);
  assert.deepEqual(m.bankStates, ['accepted', 'accepted']);
  assert.equal(alternateBank(m), 1);
  const s = switchActiveBank(m, 1);
  assert.equal(s.previousActiveIndex, 0);
  const enc = encodeFwuMetadata(s);
  assert.equal(parseFwuMetadata(enc).activeIndex, 1);
  assert.equal(alternateBank({ ...m, bankStates: ['accepted', 'invalid'] }), undefined);
  assert.equal(alternateBank({ ...m, activeIndex: 1, previousActiveIndex: 0, bankStates: ['valid', 'accepted'] }), 0);
  const bad = new Uint8Array(bytes('metadata.bin'));
  bad[100] = (bad[100] as number) ^ 0xff;
  assert.throws(
    () => parseFwuMetadata(bad),
    (e: unknown) => e instanceof RseError && e.code === 'E_CRC',
  );
  // The TF-A CI generator's old metadata_size of 116 fails the CRC, as in TF-A.
  const short = new Uint8Array(bytes('metadata.bin'));
  new DataView(short.buffer).setUint32(16, 116, true);
  assert.throws(
    () => parseFwuMetadata(short),
    (e: unknown) => e instanceof RseError && e.code === 'E_CRC',
  );
  fc.assert(
    fc.property(fc.nat(119), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const b = new Uint8Array(bytes('metadata.bin'));
      b[at] = v;
      try {
        parseFwuMetadata(b);
      } catch (e) {
        if (!(e instanceof RseError)) throw e;
      }
    }),
  );
});

test('sizes print as gdisk prints them', () => {
  assert.equal(bytesToIeee(581, 512), '290.5 KiB');
  assert.equal(bytesToIeee(1, 512), '512 bytes');
  assert.equal(bytesToIeee(2, 512), '1024 bytes');
  assert.equal(bytesToIeee(1695, 512), '847.5 KiB');
  assert.equal(bytesToIeee(2048 * 4096, 512), '4.0 GiB');
});

const sgdiskSkip = oracleSkip('sgdisk');

test('disks made by rse gpt create pass sgdisk -v and list identically in sgdisk', { skip: sgdiskSkip }, async () => {
  const cases: string[][] = [
    [
      '--size',
      '4M',
      '-n',
      '1:0:+1M',
      '-c',
      '1:FIP_A',
      '-t',
      '1:fip',
      '-n',
      '2:0:+1M',
      '-c',
      '2:FIP_B',
      '-t',
      '2:fip',
      '-n',
      '3:0:+4K',
      '-c',
      '3:FWU-Metadata',
      '-t',
      '3:fwu-metadata',
    ],
    [
      '--sectors',
      '2048',
      '-a',
      '16',
      '-n',
      '1:40:+10',
      '-c',
      '1:ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
      '-t',
      '1:8300',
      '-n',
      '2:0:+128K',
      '-t',
      '2:ef00',
      '-n',
      '3:0:0',
    ],
    ['--size', '1M', '-a', '1', '-n', '1:34:+1', '-n', '5:100:200', '-c', '5:data', '-A', '5:8000000000000001'],
  ];
  for (const [i, args] of cases.entries()) {
    const disk = join(out, `oracle${i}.bin`);
    const r = await runCli(['gpt', 'create', disk, ...args]);
    assert.equal(r.code, 0, r.stderr);
    const v = execFileSync('sgdisk', ['-v', disk], { encoding: 'utf8' });
    assert.match(v, /No problems found/, v);
    assert.equal((await runCli(['gpt', 'verify', disk])).stdout, v);
    assert.equal((await runCli(['gpt', 'list', disk])).stdout, execFileSync('sgdisk', ['-p', disk], { encoding: 'utf8' }));
  }
});

test('the same arguments give sgdisk the same bytes', { skip: sgdiskSkip }, () => {
  const ours = planGpt({
    totalSectors: 8192,
    sectorSize: 512,
    diskGuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    alignment: 16,
    partitions: [
      { number: 1, start: '0', end: '+1M', name: 'FIP_A', type: 'fip', guid: 'a1a1a1a1-0000-4000-8000-00000000000a' },
      { number: 2, start: '0', end: '+1M', name: 'FIP_B', type: 'fip', guid: 'b2b2b2b2-0000-4000-8000-00000000000b' },
    ],
  });
  const disk = join(out, 'sg.bin');
  writeFileSync(disk, new Uint8Array(8192 * 512));
  execFileSync(
    'sgdisk',
    [
      disk,
      '-a',
      '16',
      '-U',
      '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      '-n',
      '1:0:+1M',
      '-c',
      '1:FIP_A',
      '-t',
      '1:0d5c011f-0776-5b38-8e81-36fbdf6743e2',
      '-u',
      '1:a1a1a1a1-0000-4000-8000-00000000000a',
      '-n',
      '2:0:+1M',
      '-c',
      '2:FIP_B',
      '-t',
      '2:0d5c011f-0776-5b38-8e81-36fbdf6743e2',
      '-u',
      '2:b2b2b2b2-0000-4000-8000-00000000000b',
    ],
    { stdio: 'ignore' },
  );
  assert.deepEqual(writeGpt(ours), new Uint8Array(bytes(disk)));
});

test('4096-byte sectors: headers at LBA 1 and the last LBA, 4-sector entry arrays', () => {
  const layout = planGpt({
    totalSectors: 64,
    sectorSize: 4096,
    diskGuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    alignment: 1,
    partitions: [{ start: '6', end: '+32', name: 'FIP_A', type: 'fip', guid: 'a1a1a1a1-0000-4000-8000-00000000000a' }],
  });
  const img = writeGpt(layout);
  assert.equal(layout.firstUsable, 6);
  assert.equal(layout.lastUsable, 58);
  const back = readGpt(img);
  assert.equal(back.sectorSize, 4096);
  assert.deepEqual(back.problems, []);
  assert.equal(back.partitions[0]?.firstLba, 6);
  assert.equal(Buffer.from(img.subarray(63 * 4096, 63 * 4096 + 8)).toString(), 'EFI PART');
});

test('a partition running into the next one is refused, naming both', () => {
  assert.throws(
    () =>
      planGpt({
        totalSectors: 1024,
        sectorSize: 512,
        diskGuid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
        alignment: 1,
        partitions: [
          { number: 1, start: '100', end: '200' },
          { number: 2, start: '50', end: '+100' },
        ],
      }),
    (e: unknown) =>
      e instanceof RseError && e.code === 'E_OVERLAP' && /partition 2 \(50-149\) overlaps partition 1 \(100-200\)/.test(e.message),
  );
});
