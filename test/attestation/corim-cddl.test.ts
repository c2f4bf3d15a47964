/**
 * Issue 26: the CoRIMs rsekit writes decode as the current CoRIM draft's CDDL says, checked by an
 * independent reader (Debian's python3-cbor2, every map key and tag of the draft spelled out in
 * Python): the profile a URI (tag 32), tag ids text or a 16-byte UUID, class ids and instance ids
 * tagged, measurements with typed keys and values, keys as tagged PEM. The reader is first shown
 * to accept Veraison's own valid CoRIMs and to refuse the bare-text profile rsekit used to write.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encode } from 'cbor2';
import { CORIM_PROFILE, readCorim } from '../../src/attestation/corim.ts';
import { encodeCorim } from '../../src/attestation/corim-write.ts';
import { exportPrivatePem, generateKey } from '../../src/crypto/index.ts';
import { exampleFixture } from '../boot/examples.ts';
import { runCli, tempDir, vectorsDir } from '../helpers.ts';
import { oracle, oracleSkip } from '../oracles.ts';
import { CDDL_PY } from './cddl-py.ts';

/** draft-ietf-rats-corim's CDDL for what the Arm profiles use, as a strict Python reader. */
const READER = `${CDDL_PY}
def comid(b, where):
    c = cbor2.loads(b); keys(c, [0, 1, 2, 3, 4], where)
    keys(c[1], [0, 1], where + '.tag-identity'); tag_id(c[1][0], where + '.tag-id')
    if 2 in c:
        for e in c[2]: entity(e, where + '.entities[]')
    t = c[4]; keys(t, list(range(0, 11)), where + '.triples')
    need(t, where + '.triples: not empty')
    for r in t.get(0, []):
        need(isinstance(r, list) and len(r) == 2, where + '.reference-triple')
        environment(r[0], where + '.ref-env')
        need(isinstance(r[1], list) and r[1], where + '.measurements')
        for m in r[1]: measurement(m, where + '.measurement')
    for a in t.get(3, []):
        need(isinstance(a, list) and len(a) == 2, where + '.attest-key-triple')
        environment(a[0], where + '.ak-env')
        for k in a[1]: crypto_key(k, where + '.ak-key')
def corim(v, where):
    if isinstance(v, T) and v.tag == 18:
        ph = cbor2.loads(v.value[0]); need(ph.get(3) == 'application/rim+cbor', where + '.content-type')
        meta = cbor2.loads(ph[8]); keys(meta, [0, 1], where + '.corim-meta'); keys(meta[0], [0, 1], where + '.signer')
        tstr(meta[0][0], where + '.signer-name')
        if 1 in meta[0]: uri(meta[0][1], where + '.signer-uri')
        if 1 in meta:
            keys(meta[1], [0, 1], where + '.validity')
            # cbor2 turns tag 1 (epoch time) into a datetime; an untagged number stays a number.
            for k in meta[1]: need(isinstance(meta[1][k], datetime.datetime), where + '.validity: a time (tag 1)')
        v = cbor2.loads(v.value[2])
    m = tagged(v, [501], where)
    keys(m, [0, 1, 2, 3, 4, 5], where)
    tag_id(m[0], where + '.id')
    need(isinstance(m[1], list) and m[1], where + '.tags')
    for i, t in enumerate(m[1]): comid(tagged(t, [506], where + '.tags[%d]' % i), where + '.comid[%d]' % i)
    if 3 in m:
        p = m[3]
        need(isinstance(p, T) and p.tag in (32, 111), where + '.profile: a URI (tag 32) or OID (tag 111), not %s' % type(p).__name__)
    for e in m.get(5, []): entity(e, where + '.entities[]')
bad = []
for f in sys.argv[1:]:
    try:
        corim(cbor2.loads(open(f, 'rb').read()), f.rsplit('/', 1)[-1])
    except (Bad, Exception) as e:
        bad.append('%s: %s' % (f.rsplit('/', 1)[-1], e))
print('\\n'.join(bad) if bad else 'ok')
sys.exit(1 if bad else 0)
`;

const skip = oracleSkip('python-cbor2');

function read(files: readonly string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(oracle('python-cbor2') as string, ['-c', READER, ...files], { encoding: 'utf8' }) };
  } catch (e) {
    return { ok: false, out: String((e as { stdout?: string }).stdout ?? e) };
  }
}

test("the reader accepts Veraison's valid CoRIMs and refuses a bare-text profile (it can fail)", { skip }, () => {
  const v = join(vectorsDir('attestation'), 'corim');
  const valid = ['cca/corim-cca-platform-valid.cbor', 'cca/corim-cca-realm-valid.cbor', 'psa/corim-psa-valid.cbor'].map((f) => join(v, f));
  const r = read(valid);
  assert.ok(r.ok, r.out);
  // The same CoRIM with its profile as text, as rsekit wrote it before: refused.
  const dir = tempDir();
  const b = readFileSync(valid[0] as string);
  const at = b.indexOf(Buffer.concat([Buffer.from([0xd8, 0x20]), Buffer.from(encode('tag:arm.com,2025:cca_platform#1.0.0'))]));
  assert.ok(at > 0);
  writeFileSync(join(dir, 'text-profile.cbor'), Buffer.concat([b.subarray(0, at), b.subarray(at + 2)]));
  const bad = read([join(dir, 'text-profile.cbor')]);
  assert.equal(bad.ok, false);
  assert.match(bad.out, /profile: a URI \(tag 32\)/);
});

test('rse endorse CoRIMs, unsigned and signed, and encodeCorim of each Arm profile decode with the reader', { skip }, async () => {
  const dir = tempDir();
  const fx = exampleFixture('rse-2.1');
  const devDir = join(dir, 'device');
  mkdirSync(devDir);
  for (const [name, bytes] of fx.store.files) writeFileSync(join(devDir, name), bytes);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(fx.build.manifest));
  const key = join(dir, 'signer.pem');
  writeFileSync(key, exportPrivatePem(generateKey('ecdsa-p256')));
  const unsigned = join(dir, 'endorse.cbor');
  const signed = join(dir, 'endorse-signed.cbor');
  for (const args of [
    ['endorse', join(dir, 'manifest.json'), devDir, '-o', unsigned],
    [
      'endorse',
      join(dir, 'manifest.json'),
      devDir,
      '-o',
      signed,
      '-k',
      key,
      '--signer-uri',
      'https://example.com',
      '--not-after',
      '2030-01-01',
    ],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  }
  // Re-encoded Veraison PSA endorsements (psa.software-component, psa.impl-id anchors).
  const psa = readCorim(readFileSync(join(vectorsDir('attestation'), 'corim/psa/corim-psa-valid.cbor')));
  assert.equal(psa.profile, CORIM_PROFILE.PSA);
  writeFileSync(join(dir, 'psa.cbor'), encodeCorim({ id: 'psa', ...psa, profile: CORIM_PROFILE.PSA }));
  const r = read([unsigned, signed, join(dir, 'psa.cbor')]);
  assert.ok(r.ok, r.out);
  assert.equal(r.out.trim(), 'ok');
  // And rsekit reads its own output back to the device's identity.
  assert.equal(readCorim(readFileSync(signed)).anchors.length, 1);
});
