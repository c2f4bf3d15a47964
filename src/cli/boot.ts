/**
 * `rse boot`: a cold boot of a provisioned device through BL1_1, BL1_2 and BL2, with each stage's
 * checks, what was placed where and the measured-boot table.
 * @module
 */

import { Command } from '@commander-js/extra-typings';
import { bootDevice } from '../boot/chain.ts';
import { extendedSlotValue } from '../boot/shared-data.ts';
import { hex0x, toHex } from '../lib/hex.ts';
import { cliStatus, io, printJson } from './common.ts';
import { openDevice } from './device.ts';

export function bootCommand() {
  return new Command('boot')
    .summary('power a provisioned device on and run BL1_1 → BL1_2 → BL2 with every check, placement and measurement')
    .description(
      'Cold-boot the device: BL1_1 (OTP init, integrity, provisioning dispatch, the BL1_2 hash),\n' +
        'BL1_2 (BL2 from FIP_A, else FIP_B, or the 1.7 flash: counter bound, decryption, LMS signature,\n' +
        'NV counter) and BL2 (MCUboot RAM-load of SCP BL1, AP BL1, NS and S, in that order: slot\n' +
        'choice, load window, overlap, validation in RAM against the OTP key hashes and NV counters,\n' +
        'dependencies, ATU mappings, boot records). The report lists each stage with its time, each\n' +
        'check, what was placed where, and the measured-boot table (slot, type, version, signer id,\n' +
        'measurement and the slot value H(0 ‖ measurement) the runtime will hold). Afterwards the\n' +
        'device holds host-ap-sram.bin, host-scp-sram.bin, sram-vm0/1.bin and shared-data.bin\n' +
        "('rse device dump DIR --region ap-sram'). The Cortex-M code in the images is not executed.\n" +
        'Exit status 0 when the runtime is entered, 1 when a stage stops.',
    )
    .argument('<dir>')
    .option('--json', 'the report as JSON')
    .action((dir, o) => {
      const dev = openDevice(dir);
      const r = bootDevice(dev);
      if (!r.ok) cliStatus.code = 1;
      if (o.json === true) {
        printJson({
          ok: r.ok,
          profile: r.profile,
          lcs: r.lcs,
          ms: r.ms,
          stages: r.stages,
          checks: r.checks,
          placed: r.placed.map((p) => ({
            ...p,
            loadAddress: hex0x(p.loadAddress, 8),
            imageHash: toHex(p.imageHash),
            ...(p.xip === undefined
              ? {}
              : {
                  xip: {
                    ...p.xip,
                    flashOffset: hex0x(p.xip.flashOffset),
                    logical: hex0x(p.xip.logical, 8),
                    regionSize: hex0x(p.xip.regionSize),
                    imageOffset: hex0x(p.xip.imageOffset),
                    nonce: toHex(p.xip.nonce),
                  },
                }),
          })),
          measurements: r.measurements.map((m) => ({
            slot: m.slot,
            swType: m.swType,
            version: m.version,
            signerId: toHex(m.signerId),
            measurement: toHex(m.value),
            slotValue: toHex(extendedSlotValue(m.value)),
            locked: m.locked,
          })),
          started: r.started,
          atu: r.atu,
          ...(r.bl2 === undefined ? {} : { bl2: r.bl2 }),
          ...(r.halt === undefined ? {} : { halt: r.halt }),
        });
        return;
      }
      io.out(`${r.profile} cold boot of ${dir}: LCS ${r.lcs}\n`);
      for (const st of r.stages)
        io.out(`  ${st.stage.padEnd(6)} ${`${st.ms.toFixed(2)} ms`.padStart(10)}  ${st.ok ? 'handed over' : 'stopped'}\n`);
      io.out('checks:\n');
      for (const c of r.checks) io.out(`  ${c.stage.padEnd(6)} ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}\n`);
      if (r.placed.length > 0) {
        const w = Math.max(12, ...r.placed.map((p) => `${p.index} ${p.name}`.length));
        io.out(`placed:\n  ${'image'.padEnd(w)} slot       version   counter  load        size     checked by   where\n`);
        for (const p of r.placed)
          io.out(
            `  ${`${p.index} ${p.name}`.padEnd(w)} ${p.slot.padEnd(10)} ${p.version.padEnd(9)} ${String(p.securityCounter).padEnd(8)} ${hex0x(p.loadAddress, 8)}  ${String(p.size).padEnd(8)} ${(p.authenticatedBy === 'binding-tag' ? 'binding tag' : 'signature').padEnd(12)} ${p.target}\n`,
          );
        for (const p of r.placed)
          if (p.xip !== undefined)
            io.out(
              `  XIP: ${p.xip.entry} (${p.xip.bank}, flash ${hex0x(p.xip.flashOffset)}, ${p.xip.size} bytes) executes at ${hex0x(p.xip.logical + p.xip.imageOffset, 8)} through the SIC, ${p.xip.pages} pages of 1 KiB, fw_revision ${p.xip.fwVersion}\n`,
            );
      }
      for (const s of r.started) io.out(`  host: ${s}\n`);
      if (r.measurements.length > 0) {
        io.out('measured boot (slot value = H(0 ‖ measurement), what the runtime holds):\n');
        io.out('  slot type   version   signer id          measurement        slot value\n');
        for (const m of r.measurements)
          io.out(
            `  ${String(m.slot).padEnd(4)} ${(m.swType || '-').padEnd(6)} ${m.version.padEnd(9)} ${toHex(m.signerId).slice(0, 16)}…  ${toHex(m.value).slice(0, 16)}…  ${toHex(extendedSlotValue(m.value))}${m.locked ? ' (locked)' : ''}\n`,
          );
      }
      const xipS = r.placed.find((p) => p.index === 0)?.xip;
      io.out(
        r.ok
          ? `booted in ${r.ms.toFixed(1)} ms: BL2 (${r.bl2?.bank}, ${r.bl2?.version}) placed ${r.placed.length} images and jumps to the S runtime${xipS === undefined ? '' : ` at ${hex0x(xipS.logical + xipS.imageOffset, 8)} (XIP)`}\n`
          : `stopped in ${r.halt?.stage}: ${r.halt?.reason} [${r.halt?.code}]\n`,
      );
    });
}
