/**
 * TF-M 2.3.1's OTP map, laid out by rsekit from the C structs, against the field table TF-M's own
 * `create_otp_layout_specification.py` printed (`../shared/vectors/rse-2.3/otp/otp_layout_*.csv`):
 * every field at the same offset with the same size, nothing extra, nothing missing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { layoutProblems, OTP_SIZE } from '../../src/profiles/otp-layout.ts';
import { OTP_RSE_2_3_FIELDS } from '../../src/profiles/otp-rse-2.3.ts';
import { vectorsDir } from '../helpers.ts';

function tfmTable(file: string): { name: string; offset: number; size: number }[] {
  return readFileSync(join(vectorsDir('rse-2.3'), 'otp', file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [name, offset, size] = l.split(',').map((x) => x.trim());
      return { name: name as string, offset: Number(offset), size: Number(size) };
    });
}

for (const file of ['otp_layout_asym.csv', 'otp_layout_sym.csv']) {
  test(`rse-2.3 OTP fields match TF-M's ${file} field by field`, () => {
    const tfm = tfmTable(file);
    assert.equal(tfm.length, 135);
    assert.deepEqual(
      OTP_RSE_2_3_FIELDS.map((f) => ({ name: f.name, offset: f.offset, size: f.size })),
      tfm,
    );
  });
}

test('rse-2.3 OTP fields are word-aligned where TF-M packs words, inside the OTP, and never overlap', () => {
  const problems = layoutProblems({
    fields: OTP_RSE_2_3_FIELDS,
    counterEncoding: 'bits',
    bl1_2End: 0,
    bl1_2MaxSize: 0,
    bl1_2Placement: 'field',
    bl1_2HashField: 'bl1_2.bl1_2_hash',
    integrity: 'locked-areas',
  });
  // The packed byte fields TF-M itself leaves unaligned: the area-info halves and the TRNG byte.
  const unaligned = problems.filter((p) => p.endsWith('is not word aligned'));
  assert.deepEqual(
    problems.filter((p) => !p.endsWith('is not word aligned')),
    [],
  );
  for (const p of unaligned) assert.match(p, /_area_info\.(offset|size)|trng_in_use|cc_trng_config\.padding/);
  const last = OTP_RSE_2_3_FIELDS[OTP_RSE_2_3_FIELDS.length - 1];
  assert.ok(last !== undefined && last.offset + last.size === OTP_SIZE, 'the SoC area ends the 16 KiB OTP');
});
