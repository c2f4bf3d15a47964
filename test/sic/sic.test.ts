/** XIP tables: the per-line AES-CTR as create_xip_tables.py does it, the page hashes, tamper detection. */
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { RseError } from '../../src/lib/errors.ts';
import { checkXipImage, createXipTables, parseSicTable, SIC_DEFAULT_KEY } from '../../src/sic/sic.ts';

/** The script's loop, line by line: a fresh AES-256-CTR per 16-byte line. */
function scriptEncrypt(image: Uint8Array, key: Uint8Array, version: number, nonce: Uint8Array): Uint8Array {
  const padded = Buffer.alloc(Math.ceil(image.length / 1024) * 1024);
  padded.set(image);
  const out = Buffer.alloc(padded.length);
  for (let line = 0; line * 16 < padded.length; line++) {
    const ctr = Buffer.alloc(16);
    ctr.writeUInt32LE(line, 0);
    ctr.writeUInt32LE(version, 4);
    Buffer.from(nonce.subarray(4, 8)).copy(ctr, 8);
    Buffer.from(nonce.subarray(0, 4)).copy(ctr, 12);
    const c = createCipheriv('aes-256-ctr', key, ctr);
    c.update(padded.subarray(line * 16, line * 16 + 16)).copy(out, line * 16);
  }
  return new Uint8Array(out);
}

test('createXipTables matches the script: per-line CTR, 1 KiB pages, table layout', () => {
  const image = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31 + 1) & 0xff);
  const nonce = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const { table, encrypted } = createXipTables(image, { fwVersion: 0x20001, nonce });
  assert.deepEqual(encrypted, scriptEncrypt(image, SIC_DEFAULT_KEY, 0x20001, nonce));
  assert.equal(encrypted.length, 3072);
  assert.equal(table.length, 16 + 3 * 32);
  const t = parseSicTable(table);
  assert.equal(t.fwVersion, 0x20001);
  assert.deepEqual(t.nonce, nonce);
  for (let p = 0; p < 3; p++)
    assert.deepEqual(
      t.pageHashes[p],
      new Uint8Array(
        createHash('sha256')
          .update(encrypted.subarray(p * 1024, (p + 1) * 1024))
          .digest(),
      ),
    );
  const c = checkXipImage(t, encrypted);
  assert.deepEqual(c.badPages, []);
  assert.deepEqual(c.plaintext.subarray(0, image.length), image);
});

test('any flipped bit of the encrypted image is caught on its page', () => {
  const image = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
  const { table, encrypted } = createXipTables(image, { fwVersion: 7, nonce: new Uint8Array(8) });
  const t = parseSicTable(table);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: encrypted.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
      const e = encrypted.slice();
      e[at] = (e[at] as number) ^ (1 << bit);
      assert.deepEqual(checkXipImage(t, e).badPages, [Math.floor(at / 1024)]);
    }),
    { numRuns: 200 },
  );
});

test('a table whose htr_len lies or is cut short is an RseError', () => {
  const { table } = createXipTables(new Uint8Array(2048), { fwVersion: 1, nonce: new Uint8Array(8) });
  assert.throws(
    () => parseSicTable(table.subarray(0, 40)),
    (e: unknown) => e instanceof RseError && e.code === 'E_TRUNCATED',
  );
  const bad = table.slice();
  bad[12] = 33;
  assert.throws(
    () => parseSicTable(bad),
    (e: unknown) => e instanceof RseError && e.code === 'E_BAD_FIELD',
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try {
        parseSicTable(b);
      } catch (e) {
        if (!(e instanceof RseError)) throw e;
      }
    }),
  );
});

test('rse sic create / check through the CLI; a flipped byte fails with exit 1', async () => {
  const { runCli, tempDir } = await import('../helpers.ts');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir();
  writeFileSync(
    join(dir, 's.bin'),
    Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff),
  );
  const t = join(dir, 't.bin');
  const e = join(dir, 'e.bin');
  const c = await runCli([
    'sic',
    'create',
    join(dir, 's.bin'),
    '--image-version',
    '0x20100',
    '-t',
    t,
    '-e',
    e,
    '--nonce',
    '0102030405060708',
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.match((await runCli(['sic', 'check', t, e])).stdout, /ok: 5 pages match/);
  const enc = readFileSync(e);
  enc[2100] = (enc[2100] as number) ^ 1;
  writeFileSync(e, enc);
  const bad = await runCli(['sic', 'check', t, e, '--json']);
  assert.equal(bad.code, 1);
  assert.deepEqual(JSON.parse(bad.stdout).badPages, [2]);
});
