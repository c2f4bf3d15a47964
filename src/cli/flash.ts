/** `rse flash build PLATFORM.yaml`. @module */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { parse as parseYaml } from 'yaml';
import { lmsDryRunPool, lmsSignerPool } from '../bl1/lms-key.ts';
import { hash, randomBytes } from '../crypto/index.ts';
import { assemble, layoutOfProfile, parseSigningLayout } from '../flash/assemble.ts';
import { buildFlash } from '../flash/build.ts';
import { reproducibleRandom } from '../flash/io.ts';
import { writeBuildOutput } from '../flash/output.ts';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { toHex } from '../lib/hex.ts';
import { rseProfile } from '../profiles/index.ts';
import { io, printJson, readInput, readKey, signingKey } from './common.ts';
import { example } from './help-text.ts';

export const FLASH_EXAMPLE = `platform: rse-2.1                # or rss-1.7 (FIP names rss-*)
atu: { host-window-base: 0x70000000, host-window-size: 0x10000000 }
images:                          # imgtool parameters, kebab-case
  - { name: bl2, input: bl2.bin, format: bl1, lms-key: bl1-lms.prv,
      version: 1.0.0, security-counter: 1 }
      # BL1_2's format: AES-CTR + LMS (stateful key; encrypt-key defaults
      # to the dummy OTP BL2 encryption key)
  - { name: tfm_s, input: tfm_s.bin, key: root-EC-P256.pem, version: 1.0.0,
      header-size: 0x400, pad-header: true, slot-size: 0x20000,
      load-address: 0x31000000, security-counter: 1, public-key-format: full }
      # XIP builds: format: xip encrypts the runtime for the SIC (image NAME,
      # FIP rse-s) and signs its SIC table as the MCUboot image (image
      # NAME.sic-tables, FIP rse-sic-tables-s); optional sic-key, sic-nonce
      # (8 bytes) and fw-version (default: security-counter)
  - { name: tb_fw, input: tb_fw.bin }          # no key: placed as is
fip: { align: 8192, entries: { rse-bl2: bl2, rse-s: tfm_s, tb-fw: tb_fw } }
host-flash:                      # type raw: size + placements, like rom
  type: gpt
  size: 4M
  alignment: 16
  disk-guid: 0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0
  partitions:
    - { name: FIP_A, type: fip, size: 1M, fip: true }
    - { name: FIP_B, type: fip, size: 1M, fip: true }
    - { name: FWU-Metadata, type: fwu-metadata, size: 4K,
        fwu-metadata: true }
    - { name: Bkup-FWU-Metadata, type: fwu-metadata, size: 4K,
        fwu-metadata: true }
  fwu: { active: 0, banks: [FIP_A, FIP_B] }
rom:
  size: 0x20000
  placements:
    - { file: bl1_1.bin, offset: 0 }
    - { file: rom_dma_ics.bin, offset: 0x1F000 }
`;

/** The files the manifest of the build in `out` lists (none when there is no readable one). */
function previousOutputs(out: string): string[] {
  try {
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { files?: unknown };
    return Array.isArray(m.files)
      ? m.files.flatMap((f) =>
          typeof f === 'object' && f !== null && typeof (f as { path?: unknown }).path === 'string' ? [(f as { path: string }).path] : [],
        )
      : [];
  } catch {
    return [];
  }
}

export function flashCommand() {
  const cmd = new Command('flash').summary('build a platform: signed images, FIP, host flash (raw or GPT) and ROM');
  const build = new Command('build')
    .summary('build rom.bin, host_flash.bin and manifest.json from a platform description')
    .description(
      'Build everything a platform YAML describes: sign the images (imgtool parameters), pack the\n' +
        'FIP (fiptool rules), lay out the host flash (raw placements, or a GPT with FIP_A/FIP_B and\n' +
        'FWU metadata) and the ROM (srec_cat rules), then write them with a JSON manifest giving each\n' +
        "image's offset, size, version and hashes. Paths in the YAML are relative to it. Any mismatch\n" +
        '(image larger than its slot, load address outside the ATU host window, FIP larger than its\n' +
        'partition, overlapping placements) stops the build with the field at fault; nothing is written.\n' +
        'The outputs are written all or nothing: staged in OUT/.rse-build.staging, then moved into place,\n' +
        'the manifest (listing every file with its size and SHA-256) last. A run killed part-way leaves\n' +
        'the previous build; one killed while moving is finished by the next run.\n\n' +
        `Example:\n\n${example(FLASH_EXAMPLE)}`,
    )
    .argument('<platform.yaml>')
    .option('-o, --output <dir>', 'output directory (default: build/ beside the YAML)')
    .option(
      '--deterministic',
      'a reproducible build: ECDSA signatures with RFC 6979 nonces, and IVs, SIC nonces and LMS randomisers drawn from the inputs (HMAC of the description and every input read), so the same inputs and keys give byte-identical outputs on every run and machine. An LMS key advances a leaf per build: start from the same .prv state. RSA-PSS signatures stay randomized',
    )
    .option('--json', 'print the manifest as JSON')
    .action((file, o) => {
      const yaml = readInput(file, 'platform description');
      const text = Buffer.from(yaml).toString('utf8');
      let description: unknown;
      try {
        description = parseYaml(text);
      } catch (e) {
        throw new RseError('E_CONFIG', `${file}: ${(e as Error).message.split('\n')[0]}`, { field: file });
      }
      const base = dirname(resolve(file));
      const at = (p: string): string => (isAbsolute(p) ? p : join(base, p));
      // A dry run first, with placeholder LMS signatures: a build that fails (an image larger than
      // its slot, a FIP larger than its partition…) fails there, before a one-time leaf is spent.
      // Without an LMS-signed image the dry run is the build.
      const dry = lmsDryRunPool();
      let placeholders = false;
      // One set of inputs per build pass: with --deterministic, each pass draws from its own transcript.
      const inputsFor = () => {
        const det = o.deterministic === true ? reproducibleRandom(yaml) : undefined;
        return {
          readFile: (p: string) => {
            const b = readInput(at(p));
            det?.observe(p, b);
            return b;
          },
          readKey: (p: string) => signingKey(readKey(at(p)), o.deterministic),
          random: det?.random ?? randomBytes,
        };
      };
      const tried = buildFlash(description, {
        ...inputsFor(),
        lmsSign: (p, msg) => {
          placeholders = true;
          return dry(at(p), msg);
        },
      });
      const real = inputsFor();
      const lms = lmsSignerPool(real.random);
      const result = placeholders ? buildFlash(description, { ...real, lmsSign: (p, msg) => lms(at(p), msg) }) : tried;
      const out = o.output ?? join(base, 'build');
      const files: [string, Uint8Array][] = [];
      // As TF-M's build names them: NAME_signed.bin, NAME_encrypted.bin and NAME_sic_tables_signed.bin.
      for (const img of result.images)
        if (img.kind !== 'raw')
          files.push([
            join('images', `${img.name.replace('.sic-tables', '_sic_tables')}_${img.kind === 'xip' ? 'encrypted' : 'signed'}.bin`),
            img.bytes,
          ]);
      if (result.fip) files.push(['fip.bin', result.fip]);
      if (result.hostFlash) files.push(['host_flash.bin', result.hostFlash]);
      if (result.rom) files.push(['rom.bin', result.rom]);
      // The manifest names what it describes: every file of this build with its size and SHA-256.
      const manifest = {
        ...result.manifest,
        files: files.map(([path, b]) => ({ path, size: b.length, sha256: toHex(hash('sha256', b)) })),
      };
      const written = [...files.map(([n]) => n), 'manifest.json'];
      writeBuildOutput(
        out,
        [...files, ['manifest.json', new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`)]],
        previousOutputs(out),
      );
      if (o.json === true) {
        printJson(manifest);
        return;
      }
      io.out(`Built platform ${result.platform} into ${out}\n`);
      for (const w of written) io.out(`  ${w}\n`);
      const m = result.manifest as {
        images: {
          name: string;
          kind: string;
          size: number;
          version?: string;
          imageHash?: string;
          sic?: { pages: number; fwVersion: number };
        }[];
      };
      for (const i of m.images)
        io.out(
          `  image ${i.name}: ${i.kind}, ${i.size} bytes${i.version ? `, v${i.version}` : ''}${i.imageHash ? `, hash ${i.imageHash.slice(0, 16)}...` : ''}${i.sic ? `, ${i.sic.pages} SIC pages, fw_revision ${i.sic.fwVersion}` : ''}\n`,
        );
    });
  cmd.addCommand(build as unknown as Command);
  cmd.addCommand(assembleCommand() as unknown as Command);
  return cmd;
}

/** `rse flash assemble`: TF-M's assemble.py (S and NS side by side in one file). */
function assembleCommand() {
  return new Command('assemble')
    .summary("put the S and NS images in one file at their layout's offsets (TF-M's assemble.py)")
    .description(
      "What TF-M's build runs to make tfm_s_ns.bin and, with several MCUboot images,\n" +
        'tfm_s_ns_signed.bin: the secure image at the secure offset, 0xFF up to the non-secure\n' +
        'offset, then the non-secure image; each no larger than its partition. The layout is a\n' +
        "profile's (its S and NS primary slots: rss-1.7 puts NS 0x80000 after S) or TF-M's\n" +
        'preprocessed signing layout (-l FILE, RE_SECURE_IMAGE_OFFSET = … lines). The RSS 1.7 readme\n' +
        'then places the file at 0x40000 and 0x140000 with srec_cat.\n\n' +
        example(
          'rse sign … tfm_s.bin tfm_s_signed.bin; rse sign … tfm_ns.bin tfm_ns_signed.bin\n' +
            'rse flash assemble --profile rss-1.7 -s tfm_s_signed.bin \\\n' +
            '    -n tfm_ns_signed.bin -o tfm_s_ns_signed.bin',
        ),
    )
    .option('-l, --layout <file>', "TF-M's preprocessed signing layout (signing_layout_s.o)")
    .option('--profile <name>', 'take the layout from this profile instead (rss-1.7)')
    .requiredOption('-s, --secure <file>', 'the secure image (signed or not)')
    .requiredOption('-n, --non_secure <file>', 'the non-secure image')
    .requiredOption('-o, --output <file>', 'the combined file')
    .option('--json', 'print {ok, output, size, secure, nonSecure}')
    .action((o) => {
      if ((o.layout === undefined) === (o.profile === undefined))
        throw new RseError('E_USAGE', 'give the layout: -l FILE or --profile NAME (one of them)', { field: 'layout' });
      const layout =
        o.layout !== undefined
          ? parseSigningLayout(new TextDecoder().decode(readInput(o.layout, 'signing layout')))
          : layoutOfProfile(rseProfile(o.profile as string));
      const out = assemble(layout, readInput(o.secure, 'secure image'), readInput(o.non_secure, 'non-secure image'));
      writeFileAtomic(o.output, out);
      if (o.json === true)
        return printJson({ ok: true, output: o.output, size: out.length, secure: layout.secure, nonSecure: layout.nonSecure });
      io.out(
        `${o.output}: ${out.length} bytes (secure at 0x${layout.secure.offset.toString(16)}, non-secure at 0x${layout.nonSecure.offset.toString(16)})\n`,
      );
    });
}
