/**
 * The demo's STM32 legs: STM32MP15 (headers, SSP with a counting HSM, ROM + FSBL boot, firewalls,
 * tamper) and STM32L552 (SFI with a counting HSM, option bytes, RDP, OTFDEC).
 * @module
 */
import { writeFileSync } from 'node:fs';
import type { Demo } from './steps.ts';

export async function stm32Legs({ f, step, smcServed }: Demo): Promise<void> {
  // The stm32mp1 leg: STM32 headers, SSP with a counting HSM, ROM + FSBL boot, firewalls, tamper.
  writeFileSync(
    f('mp1-bl2.bin'),
    new Uint8Array(8192).map((_, i) => (i * 5 + 1) & 0xff),
  );
  writeFileSync(
    f('mp1-u-boot.bin'),
    new Uint8Array(16384).map((_, i) => (i * 11 + 7) & 0xff),
  );
  // RMA password (4 bytes), then the OEM secrets for OTP 59..
  writeFileSync(f('mp1-secrets.bin'), new TextEncoder().encode('\x52\x4d\x41\x01device-root-key:0123456789abcdef'));
  const oemAes = '8f1e2d3c4b5a69788796a5b4c3d2e1f0';
  const oemIv = '00112233445566778899aabbccddeeff';
  await step('stm32mp1: an OEM signing key (P-256)', ['keygen', '-t', 'ecdsa-p256', '-k', f('mp1-oem.pem')]);
  await step('Sign the FSBL (TF-A BL2) with an STM32 header v1: ECDSA P-256 over the header from 0x48 and the payload', [
    'stm32',
    'sign',
    f('mp1-bl2.bin'),
    f('mp1-bl2.stm32'),
    '-l',
    '0x2ffc2500',
    '-e',
    '0x2ffc2500',
    '-b',
    '0x10',
    '-v',
    '1',
    '-k',
    f('mp1-oem.pem'),
  ]);
  await step('Sign U-Boot, which the FSBL authenticates against the same key hash', [
    'stm32',
    'sign',
    f('mp1-u-boot.bin'),
    f('mp1-u-boot.stm32'),
    '-l',
    '0xc0100000',
    '-e',
    '0xc0100000',
    '-b',
    '0x00',
    '-v',
    '1',
    '-k',
    f('mp1-oem.pem'),
  ]);
  await step('The SSP FSBL (unsigned: the device is still open when it runs)', [
    'stm32',
    'sign',
    f('mp1-bl2.bin'),
    f('mp1-ssp-bl2.stm32'),
    '-l',
    '0x2ffc2500',
    '-e',
    '0x2ffc2500',
    '-b',
    '0x10',
    '-v',
    '1',
  ]);
  await step('Package the OEM secrets for Secure Secret Provisioning (AES-128-GCM, bound to the OEM key)', [
    'ssp',
    'package',
    '--secrets',
    f('mp1-secrets.bin'),
    '--pubkey',
    f('mp1-oem.pem'),
    '--key',
    oemAes,
    '--iv',
    oemIv,
    '-o',
    f('mp1-secrets.ssp'),
  ]);
  await step('An HSM personalised with the same key, allowed one license', [
    'ssp',
    'hsm',
    'init',
    f('mp1-hsm'),
    '--key',
    oemAes,
    '--iv',
    oemIv,
    '--max',
    '1',
    '--fsbl-min-version',
    '1',
    '--force',
  ]);
  await step('Two open STM32MP15 devices from the factory, each with its chip certificate', [
    'stm32',
    'device',
    'create',
    f('mp1-dev'),
    '--force',
  ]);
  await step('', ['stm32', 'device', 'create', f('mp1-dev2'), '--force']);
  await step('SSP: three boots; the HSM authenticates the chip and licenses it; PKH locked, device closed, secrets programmed and locked', [
    'ssp',
    'provision',
    f('mp1-dev'),
    '--hsm',
    f('mp1-hsm'),
    '--payload',
    f('mp1-secrets.ssp'),
    '--fsbl',
    f('mp1-ssp-bl2.stm32'),
  ]);
  await step(
    'The second device: the HSM has no license left (exit status 1), nothing is programmed',
    ['ssp', 'provision', f('mp1-dev2'), '--hsm', f('mp1-hsm'), '--payload', f('mp1-secrets.ssp'), '--fsbl', f('mp1-ssp-bl2.stm32')],
    1,
  );
  await step('Boot the closed device: ROM checks the FSBL, the FSBL checks U-Boot, sets up the ETZPC and TZC-400 from the device tree', [
    'stm32',
    'boot',
    f('mp1-dev'),
    f('mp1-bl2.stm32'),
    '--image',
    f('mp1-u-boot.stm32'),
    '--platform',
    f('examples/stm32mp1/firewall.dts'),
  ]);
  await step('Linux (Cortex-A7 non-secure) writes USART2: allowed', [
    'stm32',
    'access',
    f('mp1-dev'),
    '--master',
    'a7-ns',
    '--addr',
    '0x4000e000',
    '--write',
  ]);
  await step(
    "Linux reads OP-TEE's DDR: denied by the TZC-400 (exit status 1), recorded in its FAIL registers",
    ['stm32', 'access', f('mp1-dev'), '--master', 'a7-ns', '--addr', '0xfe000000', '--read'],
    1,
  );
  // The secure monitor (OP-TEE) answering Linux's SMCs: PSCI, SCMI, ST's SiP services.
  await smcServed(f('mp1-dev'), f('mp1-smc.sock'), async () => {
    const sock = ['--socket', f('mp1-smc.sock')];
    await step('PSCI CPU_ON: Linux starts the second Cortex-A7 at its entry point in DDR', [
      'stm32',
      'call',
      'psci',
      'cpu-on',
      '1',
      '0xc0100000',
      ...sock,
    ]);
    await step(
      'SCMI: Linux asks to enable the CRYP1 clock: DENIED, the ETZPC keeps CRYP1 secure (exit status 1)',
      ['stm32', 'call', 'scmi', 'clock', 'config-set', '10', '1', ...sock],
      1,
    );
    await step("SiP BSEC: the factory burns the board's MAC address into OTP 57 (a word marked non-secure)", [
      'stm32',
      'call',
      'sip',
      'bsec',
      'prog-otp',
      '57',
      '0x5e80e100',
      ...sock,
    ]);
    await step('SiP BSEC: Linux reads it back from the fuses', ['stm32', 'call', 'sip', 'bsec', 'read-otp', '57', ...sock]);
  });
  await step(
    'An unsigned FSBL on the closed device: the ROM refuses it (exit status 1)',
    ['stm32', 'boot', f('mp1-dev'), f('mp1-ssp-bl2.stm32')],
    1,
  );
  await step('Enable the tamper pin, keep a secret in the backup SRAM', [
    'stm32',
    'tamp',
    'config',
    f('mp1-dev'),
    '--zones',
    '8,16',
    '--enable',
    'etamp1',
  ]);
  await step('', ['stm32', 'tamp', 'write', f('mp1-dev'), '--sram', f('mp1-secrets.bin')]);
  await step('A tamper event erases the backup registers and the backup SRAM', ['stm32', 'tamp', 'event', f('mp1-dev'), 'etamp1']);
  await step('', ['stm32', 'tamp', 'show', f('mp1-dev')]);

  // The stm32l5 leg: an SFI image, an HSM allowing two installs, three devices.
  writeFileSync(
    f('l5-secure.bin'),
    new Uint8Array(6144).map((_, i) => (i * 3 + 9) & 0xff),
  );
  writeFileSync(
    f('l5-nonsecure.bin'),
    new Uint8Array(4096).map((_, i) => (i * 17 + 2) & 0xff),
  );
  writeFileSync(f('l5-external.bin'), new TextEncoder().encode('External flash firmware, executed in place through OTFDEC. '.repeat(40)));
  const sfiKey = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
  const sfiNonce = 'a1a2a3a4a5a6a7a8a9aaabac';
  await step('stm32l5: package the firmware for Secure Firmware Install (AES-128-GCM per area, option bytes last)', [
    'sfi',
    'package',
    '--key',
    sfiKey,
    '--nonce',
    sfiNonce,
    '--area',
    `F:0x0c000000:${f('l5-secure.bin')}`,
    '--area',
    `F:0x08020000:${f('l5-nonsecure.bin')}`,
    '--area',
    `X:0x90000000:${f('l5-external.bin')}`,
    '--otfdec-key-address',
    '0x0c01f800',
    '--ob',
    'tzen=1 secwm1=0-63 rdp=1',
    '-o',
    f('l5-firmware.sfi'),
  ]);
  await step('An HSM with the firmware key, allowing two installs (its ledger in an embedded SQLite database)', [
    'sfi',
    'hsm',
    'init',
    '--db',
    f('l5-hsm'),
    '--key',
    sfiKey,
    '--nonce',
    sfiNonce,
    '--max',
    '2',
    '--force',
  ]);
  await step('Three STM32L552 devices from the factory', ['l5', 'device', 'create', f('l5-a'), '--force']);
  await step('', ['l5', 'device', 'create', f('l5-b'), '--force']);
  await step('', ['l5', 'device', 'create', f('l5-c'), '--force']);
  await step('Install on the first: certificate, license, every area authenticated and decrypted, option bytes applied last', [
    'sfi',
    'install',
    f('l5-a'),
    f('l5-firmware.sfi'),
    '--db',
    f('l5-hsm'),
  ]);
  await step('Install on the second', ['sfi', 'install', f('l5-b'), f('l5-firmware.sfi'), '--db', f('l5-hsm')]);
  await step(
    'The third is refused: the HSM has issued its two licenses (exit status 1), the device is unchanged',
    ['sfi', 'install', f('l5-c'), f('l5-firmware.sfi'), '--db', f('l5-hsm')],
    1,
  );
  await step('The first device now runs TrustZone at RDP 1', ['l5', 'ob', 'show', f('l5-a')]);
  await step('The debugger can no longer read its flash (exit status 1)', ['l5', 'read', f('l5-a'), '0x0c000000', '16'], 1);
  await step('Boot it: SECBOOTADD0, the installed vector table', ['l5', 'boot', f('l5-a')]);
  await step('The external flash holds ciphertext (a device-unique OTFDEC key)', ['l5', 'read', f('l5-a'), '0x90000000', '32']);
  await step('Secure code reads it through OTFDEC: the firmware', [
    'l5',
    'read',
    f('l5-a'),
    '0x90000000',
    '32',
    '--otfdec',
    '--as',
    'secure',
  ]);
}
