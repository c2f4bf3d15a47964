/**
 * Issue 25: a key mistyped in a provisioning-values or platform YAML (wrong length, a stray
 * character) is refused without the value appearing anywhere in the output, text or --json.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.ts';

const SECRETS = [
  'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee', // 31 bytes
  'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee0000', // 33 bytes
  '112233445566', // short: not even hex-looking enough to be refused as hex
  'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffeeZZ', // a stray character
];

function leaks(out: string, secret: string): boolean {
  const lower = out.toLowerCase();
  return lower.includes(secret.toLowerCase()) || out.includes(Buffer.from(secret, 'latin1').toString('base64').slice(0, 16));
}

for (const secret of SECRETS)
  test(`a mistyped key (${secret.length} characters) is refused without being shown: provisioning values, platform YAML`, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'v.yaml'), `cm:\n  guk: "${secret}"\n`);
    for (const json of [[], ['--json']]) {
      const r = await runCli(['provision', 'bundle', 'cm', '--values', join(dir, 'v.yaml'), '-o', join(dir, 'cm.bin'), ...json]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /guk/);
      assert.ok(!leaks(r.stdout + r.stderr, secret), r.stdout + r.stderr);
    }
    const ex = join(dir, 'examples');
    cpSync(new URL('../../examples', import.meta.url), ex, { recursive: true });
    const yaml = join(ex, 'rse-2.1', 'platform.yaml');
    const text = readFileSync(yaml, 'utf8');
    assert.match(text, /format: bl1/);
    writeFileSync(yaml, text.replace(/(format: bl1[^}]*?)(\s*})/s, `$1, encrypt-key: "${secret}"$2`));
    for (const json of [[], ['--json']]) {
      const r = await runCli(['flash', 'build', yaml, '-o', join(dir, 'out'), ...json]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /encrypt-key/);
      assert.ok(!leaks(r.stdout + r.stderr, secret), r.stdout + r.stderr);
    }
  });

test('key material typed where a file or another length is expected is never echoed: bl1 sign, device create, sign, sfi and ssp HSMs', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.bin');
  writeFileSync(input, new Uint8Array(64).fill(1));
  const full = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee01'; // 32 bytes, hex
  const short = full.slice(0, 30); // 15 bytes
  // Never the repository's LMS key: a signature would move its state.
  const lms = join(dir, 'missing-lms.prv');
  const cases: [string, string[]][] = [
    [short, ['bl1', 'sign', input, join(dir, 'o.bin'), '-k', lms, '--encrypt-key', short, '--json']],
    [full, ['device', 'create', join(dir, 'dev'), '--krtl', full, '--json']],
    [full, ['sign', '-k', full, '-v', '1.0.0', '-H', '0x400', '-S', '0x10000', input, join(dir, 'o2.bin'), '--json']],
    [short, ['sfi', 'hsm', 'init', '--db', join(dir, 'hsm'), '--key', short, '--nonce', '00'.repeat(12), '--max', '1']],
    [short, ['sfi', 'package', '--key', short, '--nonce', '00'.repeat(12), '--area', `F:0x0c000000:${input}`, '-o', join(dir, 'x.sfi')]],
    [short, ['ssp', 'hsm', 'init', join(dir, 'ssp'), '--key', short, '--iv', '00'.repeat(16), '--max', '1']],
  ];
  for (const [secret, args] of cases) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.ok(!leaks(r.stdout + r.stderr, secret), `${args.slice(0, 3).join(' ')}: ${r.stdout}${r.stderr}`);
  }
});
