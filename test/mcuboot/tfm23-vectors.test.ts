/**
 * `rse sign` against the imgtool of MCUboot's `tfm-2.3.0` branch (what TF-M 2.3.1's RSE pins):
 * `../shared/vectors/imgtool-tfm-2.3`. Every deterministic `sign` vector (KEYID, several `-k`,
 * `--extra-tlv` including the image-binding placeholders, and the 2.4.0-compatible ones) is
 * rebuilt from its own command line, byte for byte; the refusals are refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseImage } from '../../src/mcuboot/image.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';

const V = vectorsDir('imgtool-tfm-2.3');

interface Vector {
  readonly name: string;
  readonly argv?: readonly string[];
  readonly rc: number;
  readonly file?: string;
  readonly sha256?: string;
  readonly deterministic?: boolean;
}

const vectors = (JSON.parse(readFileSync(join(V, 'manifest.json'), 'utf8')) as { vectors: Vector[] }).vectors;

/** The vector's argv for `rse`: paths made absolute, the output in `out`. */
function rseArgs(v: Vector, out: string): string[] {
  const args = (v.argv ?? []).slice(1).map((a) => (/^(keys|inputs)\//.test(a) ? join(V, a) : a));
  args[args.length - 1] = out;
  return args;
}

const SIGN = vectors.filter(
  (v) =>
    v.argv?.[1] === 'sign' &&
    v.deterministic === true &&
    v.file !== undefined &&
    existsSync(join(V, v.file)) &&
    !v.argv.includes('--sig-out') &&
    !v.argv.includes('--vector-to-sign'),
);

test('the deterministic sign vectors are there to test against', () => {
  assert.ok(SIGN.length >= 15, SIGN.map((v) => v.name).join(' '));
});

for (const v of SIGN) {
  test(`${v.name}: rebuilt byte for byte from its command line`, async () => {
    const out = join(tempDir(), 'out.bin');
    const r = await runCli(rseArgs(v, out));
    assert.equal(r.code, 0, r.stderr);
    const made = readFileSync(out);
    assert.equal(createHash('sha256').update(made).digest('hex'), v.sha256, `${v.name} differs from imgtool's`);
  });
}

test('refused: a hex key id (usage), one that does not fit a u32, an unknown low tag, a tag given twice', async () => {
  const base = rseArgs(vectors.find((v) => v.name === 'keyid-zero') as Vector, join(tempDir(), 'x.bin'));
  const withIds = (id: string): string[] => base.map((a, i) => (base[i - 1] === '--psa-key-ids' ? id : a));
  const hex = await runCli(withIds('0x10'));
  assert.equal(hex.code, 2);
  assert.match(hex.stderr, /Invalid value for '--psa-key-ids': '0x10' is not a valid integer/);
  for (const id of ['-1', '4294967296']) assert.equal((await runCli(withIds(id))).code, 2, id);
  const tlv = (...extra: string[]): string[] => [...base.slice(0, -2), ...extra, ...base.slice(-2)];
  const low = await runCli(tlv('--extra-tlv', '0x0f', '0x01'));
  assert.equal(low.code, 2);
  assert.match(low.stderr, /neither a known TLV nor a vendor tag/);
  const twice = await runCli(tlv('--extra-tlv', '0xa4', '0x01', '--extra-tlv', '0xa4', '0x02'));
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /given twice/);
});

// Randomized (ECDSA, RSA-PSS) sign vectors: rebuilt from their command line, compared TLV by TLV
// outside the signatures, and verified both ways with every key of the command line.
const RANDOMIZED = vectors.filter(
  (v) => v.argv?.[1] === 'sign' && v.deterministic === false && v.file !== undefined && existsSync(join(V, v.file)),
);

test('the randomized sign vectors are there to test against', () => {
  assert.ok(RANDOMIZED.length >= 4, RANDOMIZED.map((v) => v.name).join(' '));
});

const SIG_TLVS = new Set([0x20, 0x22, 0x23, 0x24]);

for (const v of RANDOMIZED) {
  test(`${v.name}: same image outside the signatures, and both verify with every key`, async () => {
    const out = join(tempDir(), 'out.bin');
    const r = await runCli(rseArgs(v, out));
    assert.equal(r.code, 0, r.stderr);
    const ref = join(V, v.file as string);
    const ours = parseImage(new Uint8Array(readFileSync(out)));
    const theirs = parseImage(new Uint8Array(readFileSync(ref)));
    assert.deepEqual(ours.header, theirs.header);
    const shape = (p: typeof ours) =>
      p.unprotectedArea.entries.map((e) => (SIG_TLVS.has(e.type) ? [e.type] : [e.type, Buffer.from(e.value).toString('hex')]));
    assert.deepEqual(shape(ours), shape(theirs));
    assert.deepEqual(readFileSync(out).subarray(0, ours.hashedEnd), readFileSync(ref).subarray(0, theirs.hashedEnd));
    const args = rseArgs(v, out);
    const keys = args.flatMap((a, i) => (args[i - 1] === '-k' || args[i - 1] === '--key' ? ['-k', a] : []));
    assert.ok(keys.length >= 2);
    for (const file of [out, ref]) {
      const check = await runCli(['verify', ...keys, file]);
      assert.equal(check.code, 0, `${file}: ${check.stderr}`);
    }
  });
}

// --sig-out in that imgtool's form (base64 + newline per signature) and --vector-to-sign digest
// with several keys: every output file byte for byte.
const fileSha = (path: string): string | undefined => vectors.find((v) => v.name === `file:${path}`)?.sha256;

for (const name of ['sigout-single', 'sigout-multi', 'vector-digest-multi']) {
  test(`${name}: every output byte for byte`, async () => {
    const v = vectors.find((x) => x.name === name);
    assert.ok(v?.argv !== undefined);
    const dir = tempDir();
    const args = rseArgs(v, join(dir, 'out.bin'));
    const sigAt = args.indexOf('--sig-out') + 1;
    const refSig = sigAt > 0 ? (args[sigAt] as string) : undefined;
    if (sigAt > 0) args[sigAt] = join(dir, 'sig.b64');
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
    assert.equal(sha(join(dir, 'out.bin')), v.sha256 ?? fileSha(v.argv.at(-1) as string));
    if (refSig !== undefined) assert.equal(sha(join(dir, 'sig.b64')), fileSha(refSig));
  });
}

// `imgtool dumpinfo -s -o FILE.yaml`: the YAML imgtool writes by default, byte for byte.
for (const v of vectors.filter((x) => x.argv?.[1] === 'dumpinfo')) {
  test(`${v.name}: the same YAML as imgtool`, async () => {
    const args = (v.argv ?? []).slice(1);
    const ref = args[args.indexOf('-o') + 1] as string;
    const out = join(tempDir(), 'info.yaml');
    const r = await runCli(['dumpinfo', '-s', '-o', out, join(V, args.at(-1) as string)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), readFileSync(join(V, ref), 'utf8'));
  });
}

// That imgtool crashes on --fix-sig (TypeError). rse does what 2.4.0 does, and reads the new
// one-line-per-signature --sig-out form: the image equals the one signed with the key itself.
test('fixsig: --fix-sig with a tfm-2.3 --sig-out file gives the image the key itself makes', async () => {
  const v = vectors.find((x) => x.name === 'fixsig');
  assert.ok(v?.argv !== undefined);
  const dir = tempDir();
  const args = rseArgs(v, join(dir, 'fixed.bin')).map((a) => (a.startsWith('signed/') ? join(V, a) : a));
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const i = args.indexOf('--fix-sig');
  const keyed = [...args.slice(0, i), '-k', join(V, 'keys/ed25519.pem'), ...args.slice(i + 4)];
  keyed[keyed.length - 1] = join(dir, 'keyed.bin');
  const k = await runCli(keyed);
  assert.equal(k.code, 0, k.stderr);
  assert.deepEqual(readFileSync(join(dir, 'fixed.bin')), readFileSync(join(dir, 'keyed.bin')));
});
