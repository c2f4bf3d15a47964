/** The CLI contract: complete help, exit statuses, one-line errors, JSON output, round trips. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Command } from '@commander-js/extra-typings';
import { LOADERS, VERB_FILES } from '../../src/cli/main.ts';
import { runCli, tempDir } from '../helpers.ts';

const VERBS = ['sign', 'verify', 'dumpinfo', 'keygen', 'getpub', 'getpubhash', 'getpriv', 'keyinfo'];
const tmp = tempDir();

describe('rse CLI', () => {
  for (const verb of VERBS) {
    it(`rse ${verb} --help lists its options and exits 0`, async () => {
      const r = await runCli([verb, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: rse ${verb}`));
      assert.match(r.stdout, /-h, --help/);
    });
  }

  it('the verb table the bundler reads sends each verb to the file that defines it, and names every verb', async () => {
    const defined: string[] = [];
    for (const [file, load] of Object.entries(LOADERS)) {
      const names = (await load(() => [])).flatMap((c) => [(c as Command).name(), ...(c as Command).aliases()]);
      defined.push(...names);
      for (const verb of names) assert.equal(VERB_FILES[verb as keyof typeof VERB_FILES], file, verb);
    }
    // fip and layout parse their own command lines (fiptool's and srec_cat's) and sit outside commander.
    assert.deepEqual(Object.keys(VERB_FILES).sort(), [...defined, 'fip', 'layout'].sort());
  });

  it('rse --version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout.trim(),
      (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
    );
  });

  it('rse --help names every verb', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const v of VERBS) assert.match(r.stdout, new RegExp(`\\n  ${v}`));
  });

  it('usage errors exit 2 with one line', async () => {
    for (const args of [['sign', '--bogus'], ['frobnicate'], ['sign', 'a', 'b'], ['verify']]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^rse: E_USAGE: [^\n]+\n$/);
    }
  });

  it('a missing input file exits 2 with E_IO', async () => {
    const r = await runCli(['verify', join(tmp, 'nope.bin')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^rse: E_IO: /);
  });

  for (const type of ['rsa-2048', 'ecdsa-p256', 'ecdsa-p384', 'ed25519']) {
    it(`keygen ${type} → sign → verify (--json) round trip; another key is rejected`, async () => {
      const key = join(tmp, `${type}.pem`);
      const other = join(tmp, `${type}-other.pem`);
      assert.equal((await runCli(['keygen', '-t', type, '-k', key])).code, 0);
      assert.equal((await runCli(['keygen', '-t', type, '-k', other])).code, 0);
      const input = join(tmp, 'in.bin');
      writeFileSync(
        input,
        new Uint8Array(3000).map((_, i) => i & 0xff),
      );
      const out = join(tmp, `${type}.signed.bin`);
      const s = await runCli([
        'sign',
        '-k',
        key,
        '-v',
        '1.2.3',
        '-s',
        'auto',
        '-H',
        '0x400',
        '--pad-header',
        '-S',
        '0x10000',
        '--confirm',
        input,
        out,
      ]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(readFileSync(out).length, 0x10000);
      const v = await runCli(['verify', '--json', '-k', key, out]);
      assert.equal(v.code, 0, v.stderr);
      const j = JSON.parse(v.stdout) as { ok: boolean; version: string; keyTlv: string };
      assert.equal(j.ok, true);
      assert.equal(j.version, '1.2.3+0');
      assert.equal(j.keyTlv, 'KEYHASH');
      const bad = await runCli(['verify', '-k', other, out]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^rse: E_NO_SIGNATURE: /);
    });
  }

  it('X25519 encryption round trip, and the wrong encryption key is rejected', async () => {
    const sk = join(tmp, 'x-sign.pem');
    const ek = join(tmp, 'x-enc.pem');
    const ek2 = join(tmp, 'x-enc2.pem');
    for (const [t, k] of [
      ['ed25519', sk],
      ['x25519', ek],
      ['x25519', ek2],
    ] as const)
      assert.equal((await runCli(['keygen', '-t', t, '-k', k])).code, 0);
    const pub = join(tmp, 'x-enc.pub.pem');
    assert.equal((await runCli(['getpub', '-k', ek, '-e', 'pem', '-o', pub])).code, 0);
    const input = join(tmp, 'x-in.bin');
    writeFileSync(input, new Uint8Array(1000).fill(0x5a));
    const out = join(tmp, 'x.bin');
    assert.equal(
      (
        await runCli([
          'sign',
          '-k',
          sk,
          '-v',
          '1',
          '-H',
          '0x200',
          '--pad-header',
          '-S',
          '0x8000',
          '-E',
          pub,
          '--encrypt-keylen',
          '256',
          input,
          out,
        ])
      ).code,
      0,
    );
    assert.equal((await runCli(['verify', '-k', sk, '--enc-key', ek, out])).code, 0);
    const wrong = await runCli(['verify', '-k', sk, '--enc-key', ek2, out]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^rse: E_DECRYPT: /);
  });

  it('keyinfo and --require', async () => {
    const key = join(tmp, 'ki.pem');
    await runCli(['keygen', '-t', 'ed25519', '-k', key]);
    assert.equal((await runCli(['keyinfo', '-k', key])).stdout, 'private\n');
    const r = await runCli(['keyinfo', '-k', key, '--require', 'public']);
    assert.equal(r.code, 2);
  });

  it('a failed sign leaves no output file', async () => {
    const out = join(tmp, 'never.bin');
    const input = join(tmp, 'big.bin');
    writeFileSync(input, new Uint8Array(0x9000));
    const r = await runCli(['sign', '-v', '1', '-H', '0x200', '--pad-header', '-S', '0x8000', input, out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^rse: E_SIZE: Image size \(0x9228\) \+ trailer \(0x1b0\) exceeds requested size 0x8000/);
    assert.equal(existsSync(out), false);
  });
});
