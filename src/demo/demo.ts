/**
 * The end-to-end demo run by `npm start`: generate keys, sign a host image with the RSE flags,
 * verify it, show its layout, and show a tampered copy being rejected. It grows with every
 * capability rsekit gains.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.ts';
import { FIRST_HOST_IMAGE_LOAD_ADDR, HOST_IMAGE_SIGN_FLAGS, HOST_IMAGE_SLOT_SIZE } from '../profiles/rse-2.1.ts';

const dir = mkdtempSync(join(tmpdir(), 'rsekit-demo-'));
const f = (name: string): string => join(dir, name);

async function step(title: string, args: string[], expect = 0): Promise<void> {
  process.stdout.write(`\n== ${title}\n$ rse ${args.map((a) => (a.startsWith(dir) ? a.replace(dir, '$DEMO') : a)).join(' ')}\n`);
  const code = await main(args);
  if (code !== expect) {
    process.stdout.write(`demo failed: exit status ${code}, expected ${expect}\n`);
    process.exit(1);
  }
}

process.stdout.write(`rsekit demo — working in ${dir} ($DEMO)\n`);
writeFileSync(
  f('bl32.bin'),
  new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff),
);

await step('Generate an EC P-256 root key, as RSE platforms use (root-EC-P256.pem)', [
  'keygen',
  '-t',
  'ecdsa-p256',
  '-k',
  f('root-EC-P256.pem'),
]);
await step('Its hash, to provision in OTP as the ROTPK (imgtool getpubhash)', ['getpubhash', '-k', f('root-EC-P256.pem')]);
await step("Sign a host image with the RSE documentation's flags (RAM-load at 0x70000000, padded 512 KiB slot)", [
  'sign',
  '-k',
  f('root-EC-P256.pem'),
  ...HOST_IMAGE_SIGN_FLAGS,
  '-S',
  `0x${HOST_IMAGE_SLOT_SIZE.toString(16)}`,
  '-L',
  `0x${FIRST_HOST_IMAGE_LOAD_ADDR.toString(16)}`,
  '--boot-record',
  'HOST',
  f('bl32.bin'),
  f('bl32_signed.bin'),
]);
await step('Verify it: bounds, hash, signature, key TLV and trailer', ['verify', '-k', f('root-EC-P256.pem'), f('bl32_signed.bin')]);
await step('Show its layout', ['dumpinfo', f('bl32_signed.bin')]);

const tampered = readFileSync(f('bl32_signed.bin'));
tampered[0x2000 + 100] = (tampered[0x2000 + 100] as number) ^ 0x04;
writeFileSync(f('bl32_tampered.bin'), tampered);
await step(
  'Flip one payload bit: the image is rejected (exit status 1)',
  ['verify', '-k', f('root-EC-P256.pem'), f('bl32_tampered.bin')],
  1,
);

process.stdout.write('\nDemo complete: every step behaved as expected.\n');
