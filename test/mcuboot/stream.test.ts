/**
 * Streamed signing (large binary payloads read once in pieces, `rse sign` from 1 MiB up) makes
 * the same bytes as signing the payload held whole, for any options it accepts, and refuses what
 * needs the whole payload.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openImageStream } from '../../src/cli/common.ts';
import type { AsymKey } from '../../src/crypto/index.ts';
import { loadKey } from '../../src/crypto/index.ts';
import { concatBytes } from '../../src/lib/bytes.ts';
import { parseImage } from '../../src/mcuboot/image.ts';
import { imageFileParts, signImageFile, signImageStream } from '../../src/mcuboot/sign.ts';
import type { PayloadStream, SignOptions } from '../../src/mcuboot/sign-options.ts';
import { verifyImage } from '../../src/mcuboot/verify.ts';
import { HOST_IMAGE_SIGN_FLAGS } from '../../src/profiles/host-signing.ts';
import { flipBits, rseErrorOf, runCli, tempDir, vectorsDir } from '../helpers.ts';

const dir = vectorsDir('mcuboot');
const ed = loadKey(readFileSync(join(dir, 'keys/ed25519.pem')));
const ec = loadKey(readFileSync(join(dir, 'keys/ecdsa-p256.pem')));

/** A stream over `data` in pieces of the given sizes (cycled), as a file reader would give them. */
function streamOf(data: Uint8Array, pieces: readonly number[]): PayloadStream {
  return {
    length: data.length,
    read(each) {
      let off = 0;
      let i = 0;
      while (off < data.length) {
        const n = Math.max(1, pieces[i++ % pieces.length] as number);
        // A reused buffer, as the file reader has: the signer must not keep pieces.
        const piece = new Uint8Array(data.subarray(off, off + n));
        each(piece);
        piece.fill(0xa5);
        off += n;
      }
    },
  };
}

function streamed(data: Uint8Array, o: SignOptions, pieces: readonly number[]): Uint8Array {
  const out: Uint8Array[] = [];
  const img = signImageStream({ stream: streamOf(data, pieces) }, o, (p) => out.push(p.slice()));
  return concatBytes([...out, ...imageFileParts(img)]);
}

const options = fc.record({
  key: fc.constantFrom('none', 'ed25519', 'ecdsa-p256'),
  headerSize: fc.constantFrom(0x20, 0x200, 0x400),
  pad: fc.boolean(),
  confirm: fc.boolean(),
  align: fc.constantFrom(1, 4, 8),
  securityCounter: fc.option(fc.nat({ max: 0xffff }), { nil: undefined }),
  bootRecord: fc.option(fc.constantFrom('BL2', 'HOST'), { nil: undefined }),
  loadAddr: fc.option(fc.constantFrom(0x70000000, 0x1000), { nil: undefined }),
  publicKeyFormat: fc.constantFrom('hash' as const, 'full' as const),
  endian: fc.constantFrom('little' as const, 'big' as const),
});

describe('streamed signing', () => {
  it('gives the bytes of in-memory signing for any accepted options and piece sizes (200 cases)', () => {
    fc.assert(
      fc.property(
        options,
        fc.uint8Array({ minLength: 0, maxLength: 5000 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 4 }),
        (opt, data, pieces) => {
          const key = opt.key === 'ed25519' ? ed : opt.key === 'ecdsa-p256' ? ec : undefined;
          const o: SignOptions = {
            version: { major: 1, minor: 2, revision: 3, build: 4 },
            headerSize: opt.headerSize,
            padHeader: true,
            slotSize: 0x10000,
            pad: opt.pad,
            confirm: opt.confirm,
            align: opt.align,
            publicKeyFormat: opt.publicKeyFormat,
            endian: opt.endian,
            ...(key === undefined ? {} : { key }),
            ...(opt.securityCounter === undefined ? {} : { securityCounter: opt.securityCounter }),
            ...(opt.bootRecord === undefined ? {} : { bootRecord: opt.bootRecord }),
            ...(opt.loadAddr === undefined ? {} : { loadAddr: opt.loadAddr }),
          };
          const whole = concatBytes(imageFileParts(signImageFile({ data }, o)));
          const parts = streamed(data, o, pieces);
          if (opt.key !== 'ecdsa-p256') {
            assert.deepEqual(parts, whole);
            return;
          }
          // ECDSA signatures are randomized (and their DER length varies): same header, same bytes
          // up to the signature, and the signature verifies.
          const img = parseImage(parts, opt.endian);
          const upTo = img.header.hdrSize + img.header.imgSize + img.header.protectTlvSize;
          assert.deepEqual(parts.subarray(0, upTo), whole.subarray(0, upTo));
          assert.deepEqual(img.header, parseImage(whole, opt.endian).header);
          // (imgtool's verify, and ours, read little-endian images only)
          if (opt.endian === 'little')
            assert.ok(verifyImage(parts, { key: ec }).checks.some((c) => c.startsWith('signature: ECDSASIG verifies')));
        },
      ),
      { numRuns: 200, seed: 0x57e4 },
    );
  });

  it('refuses a payload that ends early or grows while being read, and what needs it whole', () => {
    const o: SignOptions = { version: { major: 1, minor: 0, revision: 0, build: 0 }, headerSize: 0x200, padHeader: true, slotSize: 0 };
    const data = new Uint8Array(100);
    const short: PayloadStream = { length: 200, read: (each) => each(data) };
    assert.match(rseErrorOf(() => signImageStream({ stream: short }, o, () => {}))?.message ?? '', /ended at 100 of 200/);
    const long: PayloadStream = { length: 50, read: (each) => each(data) };
    assert.match(rseErrorOf(() => signImageStream({ stream: long }, o, () => {}))?.message ?? '', /grew past 50/);
    const s = streamOf(data, [10]);
    for (const [extra, why] of [
      [{ pure: true, key: ed }, /pure/],
      [{ vectorToSign: 'digest' }, /vector/],
      [{ padHeader: false }, /pad-header/],
      [{ encrypt: { key: loadKey(readFileSync(join(dir, 'keys/x25519.pub.pem'))) } }, /encryption/],
    ] as const) {
      const e = rseErrorOf(() => signImageStream({ stream: s }, { ...o, ...extra } as SignOptions, () => {}));
      assert.equal(e?.code, 'E_UNSUPPORTED');
      assert.match(e?.message ?? '', why);
    }
  });

  it('rse sign streams a payload from 1 MiB up: the same file as in-memory signing, also written over its own input', async () => {
    const t = tempDir();
    const input = join(t, 'big.bin');
    const data = new Uint8Array(randomBytes((1 << 20) + 12345));
    writeFileSync(input, data);
    const o: SignOptions = {
      version: { major: 0, minor: 0, revision: 1, build: 0 },
      headerSize: 0x2000,
      padHeader: true,
      slotSize: 0x180000,
      pad: true,
      securityCounter: 1,
      loadAddr: 0x70000000,
      publicKeyFormat: 'full',
      maxAlign: 8,
      key: ed,
    };
    const expected = concatBytes(imageFileParts(signImageFile({ data }, o)));
    // The RSE host-image flags (with --align 1 and --pad), as the profile and the demo use them.
    const args = (out: string): string[] => [
      'sign',
      '-k',
      join(dir, 'keys/ed25519.pem'),
      ...HOST_IMAGE_SIGN_FLAGS,
      '-S',
      '0x180000',
      '-L',
      '0x70000000',
      input,
      out,
    ];
    const out = join(t, 'big-signed.bin');
    const r = await runCli(args(out));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(out)), expected);
    // In place: the input is read through its open descriptor while the output goes to a temporary file.
    const again = await runCli(args(input));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(new Uint8Array(readFileSync(input)), expected);
    // rse verify reads it in one pass too; a flipped payload bit is the same E_BAD_HASH as ever.
    const ok = await runCli(['verify', '-k', join(dir, 'keys/ed25519.pub.pem'), out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Image was correctly validated\n/);
    const bad = new Uint8Array(expected);
    flipBits(bad, 0x2000 + 700000, 0x10);
    const badFile = join(t, 'bad.bin');
    writeFileSync(badFile, bad);
    const rejected = await runCli(['verify', '-k', join(dir, 'keys/ed25519.pub.pem'), badFile]);
    assert.equal(rejected.code, 1, rejected.stderr);
    assert.match(rejected.stderr, /E_BAD_HASH: Image has an invalid hash/);
    // Too large for the slot: refused, and the output file is left as it was.
    writeFileSync(input, data);
    const before = readFileSync(out);
    const small = args(out).map((a) => (a === '0x180000' ? '0x100000' : a));
    const refused = await runCli(small);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /E_SIZE/);
    assert.ok(readFileSync(out).equals(before));
  });

  it('one-pass verification of an image file gives the outcome of verifying it whole, on valid and damaged images (300 cases)', () => {
    const t = tempDir();
    const file = join(t, 'img.bin');
    const slot: SignOptions = {
      version: { major: 1, minor: 0, revision: 0, build: 0 },
      headerSize: 0x200,
      padHeader: true,
      slotSize: 0x4000,
      pad: true,
    };
    const pure = signImageFile({ data: new Uint8Array(3000).fill(7) }, { ...slot, key: ed, pure: true });
    const outcome = (f: () => unknown): string => {
      try {
        return JSON.stringify(f(), (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
      } catch (e) {
        const r = rseErrorOf(() => {
          throw e;
        });
        assert.ok(r !== undefined, `not an RseError: ${String(e)}`);
        return `${r.code}: ${r.message}`;
      }
    };
    fc.assert(
      fc.property(
        fc.constantFrom('none', 'ed25519', 'ecdsa-p256', 'pure'),
        fc.uint8Array({ minLength: 1, maxLength: 4000 }),
        fc.option(fc.record({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), { nil: undefined }),
        fc.constantFrom<AsymKey | undefined>(ed, ec, undefined),
        (kind, data, flip, verifyKey) => {
          const o: SignOptions = { ...slot, ...(kind === 'ed25519' ? { key: ed } : kind === 'ecdsa-p256' ? { key: ec } : {}) };
          const image = kind === 'pure' ? concatBytes(imageFileParts(pure)) : concatBytes(imageFileParts(signImageFile({ data }, o)));
          if (flip !== undefined) flipBits(image, flip.at % image.length, 1 << flip.bit);
          writeFileSync(file, image);
          const opts = verifyKey === undefined ? {} : { key: verifyKey };
          const whole = outcome(() => verifyImage(image, opts));
          const opened = openImageStream(file, 0);
          // A file whose header sizes do not fit is read whole by the CLI: nothing to compare.
          if (opened === undefined) return;
          try {
            assert.equal(
              outcome(() => verifyImage(opened.bytes, opts, opened.payload)),
              whole,
            );
          } finally {
            opened.close();
          }
        },
      ),
      { numRuns: 300, seed: 0x0e11 },
    );
  });
});
