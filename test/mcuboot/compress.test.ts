/**
 * Compression with encryption (`--compression lzma2 -E KEY`), as imgtool 2.4.0 builds it: the
 * DECOMP_* TLVs describe the plain image signed with the encryption flag (not padded, not
 * encrypted), COMP_DEC_SIZE records the compressed size before the 16-byte padding, and the
 * compressed payload is what gets encrypted. (Cross-checked against imgtool outside this suite:
 * identical bytes outside the randomized key TLV for AES-128, AES-256 and --clear.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { liblzmaCompressor } from '../../src/cli/lzma.ts';
import { loadKey } from '../../src/crypto/index.ts';
import { concatBytes } from '../../src/lib/bytes.ts';
import { lzma2Header, signCompressed } from '../../src/mcuboot/compress.ts';
import { IMAGE_FLAGS, TLV } from '../../src/mcuboot/constants.ts';
import { cryptPayload } from '../../src/mcuboot/encrypt.ts';
import { parseImage } from '../../src/mcuboot/image.ts';
import { imageFileParts, signImageFile } from '../../src/mcuboot/sign.ts';
import type { SignOptions } from '../../src/mcuboot/sign-options.ts';
import { verifyImage } from '../../src/mcuboot/verify.ts';
import { vectorsDir } from '../helpers.ts';

const dir = vectorsDir('mcuboot');
const key = loadKey(readFileSync(join(dir, 'keys/ed25519.pem')));
const xpub = loadKey(readFileSync(join(dir, 'keys/x25519.pub.pem')));
const xpriv = loadKey(readFileSync(join(dir, 'keys/x25519.pem')));
const text = readFileSync(join(dir, 'inputs/text-64k.bin'));
const u32 = (v: Uint8Array): number => new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);

function base(keyLen: 128 | 256, clear: boolean, aesKey: Uint8Array): SignOptions {
  return {
    key,
    version: { major: 1, minor: 2, revision: 3, build: 0 },
    headerSize: 0x200,
    padHeader: true,
    slotSize: 0x40000,
    securityCounter: 5,
    encrypt: { key: xpub, keyLen, clear, aesKey },
  };
}

describe('compressed and encrypted images', () => {
  for (const [keyLen, clear] of [
    [128, false],
    [256, false],
    [128, true],
  ] as const) {
    it(`AES-${keyLen}${clear ? ' --clear' : ''}: DECOMP_* of the flagged plain image, COMP_DEC_SIZE, the compressed payload encrypted`, async () => {
      const aesKey = new Uint8Array(randomBytes(keyLen / 8));
      const data = new Uint8Array(text);
      const o = base(keyLen, clear, aesKey);
      const r = await signCompressed({ data }, o, 'lzma2', liblzmaCompressor);
      assert.equal(r.compressed, true);
      const bytes = concatBytes(imageFileParts(r.image));
      const img = parseImage(bytes);
      const encFlag = keyLen === 256 ? IMAGE_FLAGS.ENCRYPTED_AES256 : IMAGE_FLAGS.ENCRYPTED_AES128;
      assert.equal(img.header.flags, encFlag | IMAGE_FLAGS.COMPRESSED_LZMA2);
      assert.equal((img.header.hdrSize + img.header.imgSize) % 16, 0);

      const prot = new Map((img.protectedArea?.entries ?? []).map((e) => [e.type, e.value]));
      assert.deepEqual(
        (img.protectedArea?.entries ?? []).map((e) => e.type),
        [TLV.SEC_CNT, TLV.DECOMP_SIZE, TLV.DECOMP_SHA, TLV.DECOMP_SIGNATURE, TLV.COMP_DEC_SIZE],
      );
      // The plain image those TLVs describe: the input, with the encryption flag, unpadded and clear.
      const { encrypt: _, ...withoutEnc } = o;
      const plain = signImageFile({ data }, { ...withoutEnc, extraFlags: encFlag });
      assert.equal(u32(prot.get(TLV.DECOMP_SIZE) as Uint8Array), data.length);
      assert.deepEqual(prot.get(TLV.DECOMP_SHA), plain.digest);
      assert.deepEqual(prot.get(TLV.DECOMP_SIGNATURE), plain.signature);
      const compressed = concatBytes([lzma2Header(), await liblzmaCompressor(data, false)]);
      assert.equal(u32(prot.get(TLV.COMP_DEC_SIZE) as Uint8Array), compressed.length);

      // The payload is the compressed stream padded to 16 bytes, encrypted unless --clear.
      const payload = bytes.subarray(img.header.hdrSize, img.header.hdrSize + img.header.imgSize);
      const padded = concatBytes([compressed, new Uint8Array(img.header.imgSize - compressed.length)]);
      assert.deepEqual(payload, clear ? padded : cryptPayload(aesKey, padded));
      const report = verifyImage(bytes, { key, encKey: xpriv });
      assert.equal(report.signatureType, 'ED25519');
      assert.equal(report.decrypted, !clear);
    });
  }

  it('an input that does not shrink gives the encrypted uncompressed image (imgtool would write it clear yet flagged)', async () => {
    const data = new Uint8Array(randomBytes(4000));
    const aesKey = new Uint8Array(randomBytes(16));
    const o = base(128, false, aesKey);
    const r = await signCompressed({ data }, o, 'lzma2', liblzmaCompressor);
    assert.equal(r.compressed, false);
    const bytes = concatBytes(imageFileParts(r.image));
    const img = parseImage(bytes);
    assert.equal(img.header.flags, IMAGE_FLAGS.ENCRYPTED_AES128);
    assert.ok(img.unprotectedArea.entries.some((e) => e.type === TLV.ENCX25519));
    const payload = bytes.subarray(img.header.hdrSize, img.header.hdrSize + data.length);
    assert.deepEqual(cryptPayload(aesKey, payload), data);
    assert.equal(verifyImage(bytes, { key, encKey: xpriv }).decrypted, true);
  });
});
