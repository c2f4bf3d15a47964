/**
 * The end-to-end demo run by `npm start`: generate keys, sign a host image with the RSE flags,
 * verify it, show its layout, and show a tampered copy being rejected. It grows with every
 * capability rsekit gains.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIRST_HOST_IMAGE_LOAD_ADDR, HOST_IMAGE_SIGN_FLAGS, HOST_IMAGE_SLOT_SIZE } from '../profiles/host-signing.ts';
import { DEMO_LOG, demoSteps } from './steps.ts';
import { stm32Legs } from './stm32.ts';

const USAGE = `usage: node dist/src/demo/demo.js [--verbose] [--out DIR]
  --verbose   print every command and its full output (default: one line per step; all of it in DIR/${DEMO_LOG})
  --out DIR   the working directory (default: ./demo-output), emptied first when it holds an earlier demo
`;
const argv = process.argv.slice(2);
if (argv.includes('-h') || argv.includes('--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const verbose = argv.includes('--verbose');
const outAt = argv.indexOf('--out');
const dir = resolve(outAt >= 0 ? (argv[outAt + 1] ?? '') : 'demo-output');
// The demo writes only into its own directory, and replaces only an earlier demo's.
const MARK = '.rsekit-demo';
if (existsSync(dir) && readdirSync(dir).length > 0) {
  if (!existsSync(join(dir, MARK))) {
    process.stderr.write(`demo: ${dir} is not empty and not an earlier demo's directory: give --out DIR\n`);
    process.exit(2);
  }
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, MARK), 'rsekit demo output: safe to delete\n');
const demo = demoSteps(dir, { verbose });
const { f, step, served } = demo;

process.stdout.write(
  `rsekit demo: working in ${dir} ($DEMO)${verbose ? '' : '; one line per step, every command and its output in $DEMO/demo.log (or --verbose)'}\n`,
);
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

// The rse-2.1 example platform: signed images, FIP, GPT host flash with A/B banks, ROM.
const found = ['../../examples', '../../../examples']
  .map((r) => fileURLToPath(new URL(r, import.meta.url)))
  .find((p) => existsSync(join(p, 'rse-2.1')));
if (found === undefined) {
  process.stdout.write('demo failed: examples/ not found\n');
  process.exit(1);
}
// A private copy: signing BL2 moves the example LMS key's state (one leaf per build).
const examples = f('examples');
cpSync(found, examples, { recursive: true });
await step('Build the rse-2.1 example platform: images, FIP, GPT host flash with FIP_A/FIP_B and FWU metadata, ROM', [
  'flash',
  'build',
  join(examples, 'rse-2.1/platform.yaml'),
  '-o',
  f('flash'),
]);
await step('The FIP, as fiptool lists it', ['fip', 'info', f('flash/fip.bin')]);
await step('The host flash, as sgdisk -p lists it', ['gpt', 'list', f('flash/host_flash.bin')]);
await step('The A/B metadata TF-A BL2 reads', ['fwu', 'info', f('flash/host_flash.bin')]);
await step('Switch the active bank to FIP_B (what an FWU agent does after an update)', [
  'fwu',
  'switch',
  f('flash/host_flash.bin'),
  '--to',
  '1',
]);
await step('Patch a new FIP into both banks at once (size-checked, all or nothing)', [
  'gpt',
  'write',
  f('flash/host_flash.bin'),
  f('flash/fip.bin'),
  '--name',
  'FIP_A',
  '--name',
  'FIP_B',
]);
await step('Create a virtual RSE (rse-2.1): blank OTP, TP mode Virgin, LCS CM', ['device', 'create', f('device'), '--force']);
await step("CM provisioning bundle with TF-M's dummy values (AES-256-CCM under the TCI CM key)", [
  'provision',
  'bundle',
  'cm',
  '-o',
  f('cm_bundle.bin'),
]);
await step("DM provisioning bundle with the example's keys: the LMS key for BL2, the MCUboot key hashes per image", [
  'provision',
  'bundle',
  'dm',
  '--values',
  join(examples, 'rse-2.1/provisioning.yaml'),
  '-o',
  f('dm_bundle.bin'),
]);
await step('Provision it: Virgin → TCI → CM → DM → SE, one line per boot', [
  'provision',
  'run',
  f('device'),
  '--cm',
  f('cm_bundle.bin'),
  '--dm',
  f('dm_bundle.bin'),
]);
await step('Its OTP, field by field (secrets shown only as programmed)', ['otp', 'show', f('device')]);
await step('Anti-rollback: an NV counter goes up, never down', ['otp', 'write', f('device'), 'nv_counter_ns_0', '3']);
await step('... so lowering it is refused (exit 1, E_OTP_WRITE)', ['otp', 'write', f('device'), 'nv_counter_ns_0', '2'], 1);
await step('Attach the host flash built above (GPT, FIP_A and FIP_B)', ['device', 'load-flash', f('device'), f('flash/host_flash.bin')]);
await step('Boot it: BL1_1 → BL1_2 (LMS, AES-CTR) → BL2 (MCUboot RAM-load of SCP BL1, AP BL1, NS, S through the ATU), measured', [
  'boot',
  f('device'),
]);
await step('What BL2 placed in the AP boot SRAM: AP BL1 code at physical 0x0', [
  'device',
  'dump',
  f('device'),
  '--region',
  'ap-sram',
  '--length',
  '0x40',
]);
// The runtime services over a socket, as TF-A talks to them: `rse serve` in the background.
await served(f('device'), f('rse.sock'), [], async () => {
  await step('Fetch a CCA platform token over the socket, as TF-A does (ES384, IAK from the boot state)', [
    'call',
    'attest',
    '--socket',
    f('rse.sock'),
    '--challenge',
    '5eed'.repeat(16),
    '--claims',
  ]);
  await step('Measured boot over the socket: TF-A BL1 extends slot 8 with BL2, then reads it back', [
    'call',
    'mboot',
    'extend',
    '--socket',
    f('rse.sock'),
    '--slot',
    '8',
    '--sw-type',
    'BL_2',
    '--measurement',
    '0f'.repeat(32),
    '--lock',
  ]);
  await step('... read back: the slot holds H(0 ‖ measurement), locked', ['call', 'mboot', 'read', '8', '--socket', f('rse.sock')]);
  await step("A host NV counter (TF-A's rse-nv-counters test reads, increments, reads)", [
    'call',
    'nv',
    'inc',
    '0',
    '--socket',
    f('rse.sock'),
  ]);
  await step('... now one higher', ['call', 'nv', 'read', '0', '--socket', f('rse.sock')]);
});

const flash = readFileSync(f('flash/host_flash.bin'));
flash[0x6000 + 0x2000 + 0x40] = (flash[0x6000 + 0x2000 + 0x40] as number) ^ 0x01;
writeFileSync(f('flash/host_flash_tampered.bin'), flash);
await step('Corrupt BL2 in FIP_A: BL1_2 rejects it and boots from FIP_B', [
  'device',
  'load-flash',
  f('device'),
  f('flash/host_flash_tampered.bin'),
]);
await step('... the boot still succeeds, from the other bank', ['boot', f('device')]);

await step('The rse-2.1-xip example (RSE_XIP): the S/NS runtimes encrypted for the SIC, their signed SIC tables in the FIP', [
  'flash',
  'build',
  join(examples, 'rse-2.1-xip/platform.yaml'),
  '-o',
  f('flash-xip'),
]);
await step('An XIP device (64 KiB VM0/VM1), provisioned with the same bundles', ['device', 'create', f('device-xip'), '--xip', '--force']);
await step('Provision it', ['provision', 'run', f('device-xip'), '--cm', f('cm_bundle.bin'), '--dm', f('dm_bundle.bin')]);
await step('Attach its flash', ['device', 'load-flash', f('device-xip'), f('flash-xip/host_flash.bin')]);
await step('Boot it: BL2 validates the tables, maps rse-s/rse-ns at the SIC window, the SIC checks every page hash', [
  'boot',
  f('device-xip'),
]);
await step('The S runtime as it executes at 0x12000000: authenticated and decrypted by the SIC', [
  'device',
  'dump',
  f('device-xip'),
  '--region',
  'xip-s',
  '--length',
  '0x40',
]);

await step('The rss-1.7 example platform: BL2 and every image twice in the emulated flash, the ROM with its bundle', [
  'flash',
  'build',
  join(examples, 'rss-1.7/platform.yaml'),
  '-o',
  f('flash-rss'),
]);
await step('An RSS (TF-M 1.7) device: its plain ROM bundle (magic 0xC0DEFEED) with the example LMS key', [
  'provision',
  'bundle',
  'rom',
  '--values',
  join(examples, 'rss-1.7/provisioning.yaml'),
  '-o',
  f('rss_rom_bundle.bin'),
]);
await step('The provisioning data BL2 is built with: the MCUboot key hashes', [
  'provision',
  'bundle',
  'bl2',
  '--values',
  join(examples, 'rss-1.7/provisioning.yaml'),
  '-o',
  f('rss_bl2_data.bin'),
]);
await step('Create it (rss-1.7)', ['device', 'create', f('device-rss'), '--profile', 'rss-1.7', '--force']);
await step('Provision it in three stages: BL1_1 from ROM, BL2 and TF-M from what they were built with', [
  'provision',
  'run',
  f('device-rss'),
  '--rom-bundle',
  f('rss_rom_bundle.bin'),
  '--bl2-data',
  f('rss_bl2_data.bin'),
]);
await step('Attach its flash', ['device', 'load-flash', f('device-rss'), f('flash-rss/host_flash.bin')]);
await step('Boot it: the same chain with RSS 1.7 rules (hash-then-ECB KDF, header-in-place AP, SCP memmove)', ['boot', f('device-rss')]);

// The rse-2.3 leg: TF-M 2.3.1's device root: its OTP map, provisioning messages, BL1_2 v2 images.
await step('The rse-2.3 example platform (TF-M 2.3.1): BL2 as a v2 image, its LMS key embedded, encrypted under KCE_CM', [
  'flash',
  'build',
  join(examples, 'rse-2.3/platform.yaml'),
  '-o',
  f('flash-23'),
]);
await step(
  "Create an rse-2.3 device whose ROM holds the example's provisioning key, its firmware built with image binding and Chip Output Data",
  [
    'device',
    'create',
    f('device-23'),
    '--profile',
    'rse-2.3',
    '--image-binding',
    '--chip-output-data',
    // What a product's attestation HAL reports (TF-M 2.3.1's own: a 4-byte dummy no CCA verifier takes).
    '--implementation-id',
    'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf',
    '--rom-rotpk',
    join(examples, 'keys/root-EC-P256.pem'),
    '--force',
  ],
);
for (const kind of ['cm', 'dm'])
  await step(
    `The ${kind.toUpperCase()} provisioning message: a BLOB signed with ECDSA P-256, its secrets AES-CTR under KPROV_${kind.toUpperCase()}`,
    [
      'provision',
      'message',
      kind,
      '--values',
      join(examples, 'rse-2.3/provisioning.yaml'),
      '-k',
      join(examples, 'keys/root-EC-P256.pem'),
      '-o',
      f(`${kind}_message.bin`),
    ],
  );
await step("The SoC's identity, as its DCSU writes it before CM provisioning: unique id from the TRNG, family id, IEEE ECID", [
  'provision',
  'soc-id',
  f('device-23'),
  '--family-id',
  '0x5a',
  '--ecid',
  '00112233445566778899aabbccddeeff',
]);
await step('Provision it with the messages: TP mode from the message, SP mode, CM → DM → SE', [
  'provision',
  'run',
  f('device-23'),
  '--message',
  f('cm_message.bin'),
  f('dm_message.bin'),
]);
await step('Read its Chip Output Data back as the DCSU does, and check the CMAC under KEXPORT_CM', [
  'provision',
  'cod',
  f('device-23'),
  '-o',
  f('cod-23.bin'),
]);
await step('Attach its flash', ['device', 'load-flash', f('device-23'), f('flash-23/host_flash.bin')]);
await step(
  'Boot it: BL1_1 checks BL1_2 from the OTP BL1_2 area, BL1_2 the v2 image against CM ROTPK 0, BL2 each image against CM/DM ROTPK 1 and binds it to the device',
  ['boot', f('device-23')],
);
await step("Boot it again: BL2 checks each image's binding tag (a CMAC under the device's key) instead of its signature", [
  'boot',
  f('device-23'),
]);

// The rse-2.3 device at run time: SFCP on the socket, its token appraised against its own build.
const challenge23 = 'c0ffee'.repeat(16);
await served(f('device-23'), f('rse-23.sock'), [], async () => {
  await step('Fetch its CCA platform token over SFCP, as TF-A v2.15 asks for it', [
    'call',
    'attest',
    '--socket',
    f('rse-23.sock'),
    '--sfcp',
    '--challenge',
    challenge23,
    '-o',
    f('token-23.cbor'),
  ]);
});
await step("Reference values of the rse-2.3 build for this device (TF-M 2.3.1's platform config claim, the product's implementation id)", [
  'endorse',
  f('flash-23/manifest.json'),
  f('device-23'),
  '-o',
  f('corim-23.cbor'),
]);
await step('Appraise the rse-2.3 token against them', [
  'token',
  'verify',
  f('token-23.cbor'),
  '--corim',
  f('corim-23.cbor'),
  '--nonce',
  challenge23,
]);

// The verifier leg: the rse-2.1 device's token, over the socket, against its own build's reference values.
const challenge = 'c0ffee'.repeat(16); // 48 bytes
await served(f('device'), f('rse.sock'), [], async () => {
  await step('Fetch a CCA platform token for a verifier challenge', [
    'call',
    'attest',
    '--socket',
    f('rse.sock'),
    '--challenge',
    challenge,
    '-o',
    f('token.cbor'),
  ]);
});
await step("Reference values of the rse-2.1 build for this device: what each boot stage will measure, and the device's IAK", [
  'endorse',
  f('flash/manifest.json'),
  f('device'),
  '-o',
  f('corim.cbor'),
]);
await step("Appraise the token against them with Veraison's rules: the verdict (EAR, AR4SI trust vector)", [
  'token',
  'verify',
  f('token.cbor'),
  '--corim',
  f('corim.cbor'),
  '--nonce',
  challenge,
]);

await stm32Legs(demo);

await step('A report of everything above, to look at: flash maps, provisioning paths, boot checks, measurements, firewalls', [
  'report',
  dir,
  '-o',
  f('report.html'),
]);
process.stdout.write(
  `\nDemo complete: every step behaved as expected.\n  report:  ${f('report.html')} (open it in a browser)\n  log:     ${f(DEMO_LOG)}\n  outputs: ${dir} (replaced by the next run; rm -rf it when done)\n`,
);
