/** `rse endorse MANIFEST DEVICE`: a build's reference values and a device's trust anchor as a CoRIM. @module */
import { Command } from '@commander-js/extra-typings';
import { openDeviceCopy } from '../device/device.ts';
import { endorse } from '../endorse/endorse.ts';
import { deviceFacts } from '../endorse/identity.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { io, printJson, readInput } from './common.ts';

const short = (b: Uint8Array): string => `${toHex(b.subarray(0, 8))}…`;

export function endorseCommand() {
  return new Command('endorse')
    .description(
      "A build's reference values and a provisioned device's trust anchor, as a CoRIM (CCA platform profile).\n\n" +
        'From the manifest: what the boot chain will measure (BL2 and every image BL2 loads: slot, type, ' +
        'version, signer id, and the slot value H(0 ‖ image digest) the token reports). From the device ' +
        '(powered on in memory; the directory is not touched): what BL1_1 measures in OTP (BL1_2), and the ' +
        'attestation identity: implementation id, instance id and IAK public key (the trust anchor). ' +
        "The CoRIM (tag 501, profile tag:arm.com,2025:cca_platform#1.0.0) goes to 'rse token verify --corim' " +
        "or to a verifier's provisioning API (rse verifier serve, Veraison).",
    )
    .summary('reference values of a build (rse flash build manifest) for a provisioned device, as a CoRIM')
    .argument('<manifest>', 'manifest.json written by rse flash build')
    .argument('<device>', 'a provisioned device directory')
    .option('-o, --output <file>', 'write the CoRIM here')
    .option('--id <text>', 'the CoRIM id (default rsekit-<instance id>)')
    .option('--json', 'machine-readable output')
    .action((manifestPath, dir, o) => {
      let manifest: unknown;
      try {
        manifest = JSON.parse(Buffer.from(readInput(manifestPath, 'manifest')).toString('utf8'));
      } catch (e) {
        if (e instanceof RseError) throw e;
        throw new RseError('E_MANIFEST', `${manifestPath} is not JSON: ${(e as Error).message}`, { field: manifestPath });
      }
      const facts = deviceFacts(openDeviceCopy(dir, (p) => readInput(p, 'device file')));
      const r = endorse(manifest, facts, o.id === undefined ? {} : { id: o.id });
      if (o.output !== undefined) writeFileAtomic(o.output, r.corim, { durable: false });
      const id = facts.identity;
      if (o.json) {
        printJson({
          profile: r.endorsements.profile,
          implementationId: toHex(id.implementationId),
          instanceId: toHex(id.instanceId),
          iak: r.endorsements.anchors[0]?.keyPem,
          components: r.components.map((c) => ({
            slot: c.slot,
            type: c.swType,
            version: c.version,
            signerId: toHex(c.signerId),
            measurement: toHex(c.measurement),
            value: toHex(c.value),
            source: c.source,
          })),
          platformConfig: toHex(r.endorsements.platformConfigs[0]?.value ?? new Uint8Array(0)),
          ...(o.output === undefined ? { corim: toHex(r.corim) } : { output: o.output, size: r.corim.length }),
        });
        return;
      }
      const lines = [
        `reference values for ${dir} booting ${manifestPath} (${facts.profile})`,
        `  implementation id ${toHex(id.implementationId)}`,
        `  instance id       ${toHex(id.instanceId)} (IAK P-384: the trust anchor)`,
        `  slot type    version   signer id          ${'slot value = H(0 ‖ measurement)'.padEnd(64)}  from`,
        ...r.components.map(
          (c) =>
            `  ${String(c.slot).padEnd(4)} ${(c.swType || '-').padEnd(7)} ${c.version.padEnd(9)} ${short(c.signerId)}  ${toHex(c.value)}  ${c.source}`,
        ),
        `  platform config ${toHex(r.endorsements.platformConfigs[0]?.value ?? new Uint8Array(0))}`,
        o.output === undefined
          ? `CoRIM (${r.corim.length} bytes, not written: give -o FILE)`
          : `wrote ${o.output}: CoRIM, ${r.corim.length} bytes, ${r.components.length} components, 1 trust anchor`,
      ];
      io.out(`${lines.join('\n')}\n`);
    });
}
