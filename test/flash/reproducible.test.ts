/**
 * Reproducible signing (`--deterministic`): `rse flash build` in two directories, and again after
 * restoring the LMS key's state, gives byte-identical outputs (and without the flag they differ);
 * `rse sign`, `sign-append`, `stm32 sign` and `token create` sign the same input the same way,
 * and what they sign verifies.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hash } from '../../src/crypto/index.ts';
import { toHex } from '../../src/lib/hex.ts';
import { PSA_CLAIMS_JSON, runCli, tempDir } from '../helpers.ts';

const EXAMPLES = join(dirname(fileURLToPath(import.meta.url)), '../../examples');

/** Every file under `dir` with its SHA-256. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = toHex(hash('sha256', readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

const ok = (r: { code: number; stdout: string; stderr: string }): void => assert.equal(r.code, 0, r.stdout + r.stderr);

async function build(copy: string, platform: string, out: string, ...more: string[]): Promise<Record<string, string>> {
  ok(await runCli(['flash', 'build', join(copy, platform, 'platform.yaml'), '-o', out, ...more]));
  return digests(out);
}

test('rse flash build --deterministic: the same inputs and keys give identical outputs in two directories and on a re-run', async () => {
  const a = tempDir();
  const b = tempDir();
  cpSync(EXAMPLES, a, { recursive: true });
  cpSync(EXAMPLES, b, { recursive: true });
  const lmsState = readFileSync(join(a, 'keys/bl1-lms.prv'));
  for (const platform of ['rse-2.1', 'rse-2.3']) {
    const da = await build(a, platform, join(a, `out-${platform}`), '--deterministic');
    const db = await build(b, platform, join(b, `out-${platform}`), '--deterministic');
    assert.ok(Object.keys(da).length >= 8, platform);
    assert.deepEqual(da, db, `${platform}: two directories`);
  }
  // A re-run spends the next LMS leaf: from the same key state it is the same build again.
  writeFileSync(join(a, 'keys/bl1-lms.prv'), lmsState);
  const again = await build(a, 'rse-2.1', join(a, 'again'), '--deterministic');
  assert.deepEqual(again, digests(join(a, 'out-rse-2.1')));
  // Without the flag the ECDSA signatures, IVs and LMS randomisers differ.
  writeFileSync(join(a, 'keys/bl1-lms.prv'), lmsState);
  writeFileSync(join(b, 'keys/bl1-lms.prv'), lmsState);
  const ra = await build(a, 'rse-2.1', join(a, 'random'));
  const rb = await build(b, 'rse-2.1', join(b, 'random'));
  assert.notDeepEqual(ra, rb);
});

test('rse sign, sign-append, stm32 sign and token create --deterministic: the same bytes twice, and they verify', async () => {
  const dir = tempDir();
  const key = join(EXAMPLES, 'keys/root-EC-P256.pem');
  const payload = join(EXAMPLES, 'payloads/tfm_s.bin');
  const twice = async (args: (out: string) => string[]): Promise<[Buffer, Buffer]> => {
    const outs = [join(dir, `${Math.random()}.a`), join(dir, `${Math.random()}.b`)];
    for (const o of outs) ok(await runCli(args(o)));
    return [readFileSync(outs[0] as string), readFileSync(outs[1] as string)];
  };
  const signArgs = (extra: string[]) => (out: string) => [
    'sign',
    '-k',
    key,
    '-v',
    '1.2.3',
    '-H',
    '0x400',
    '--pad-header',
    '-S',
    '0x80000',
    '--pad',
    ...extra,
    payload,
    out,
  ];
  const [s1, s2] = await twice(signArgs(['--deterministic']));
  assert.deepEqual(s1, s2);
  const signed = join(dir, 'signed.bin');
  writeFileSync(signed, s1);
  ok(await runCli(['verify', '-k', key, signed]));
  const [r1, r2] = await twice(signArgs([]));
  assert.notDeepEqual(r1, r2, 'random nonces without the flag');
  const [k1] = await twice(signArgs(['--deterministic', '--public-key-format', 'full', '--psa-key-ids', '1']));
  const keyed = join(dir, 'keyed.bin');
  writeFileSync(keyed, k1);
  const [a1, a2] = await twice((out) => ['sign-append', '-k', key, '--key-id', '7', '--deterministic', keyed, out]);
  assert.deepEqual(a1, a2);
  const [m1, m2] = await twice((out) => [
    'stm32',
    'sign',
    '-k',
    key,
    '-l',
    '0x2ffc2400',
    '-e',
    '0x2ffc2400',
    '-b',
    '0x10',
    '--deterministic',
    payload,
    out,
  ]);
  assert.deepEqual(m1, m2);
  const claims = join(dir, 'claims.json');
  writeFileSync(claims, PSA_CLAIMS_JSON);
  const [t1, t2] = await twice((out) => ['token', 'create', claims, '-k', key, '-o', out, '--deterministic']);
  assert.deepEqual(t1, t2);
  const token = join(dir, 'token.cbor');
  writeFileSync(token, t1);
  ok(await runCli(['token', 'verify', token, '-k', key]));
});
