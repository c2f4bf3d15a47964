/** `rse sic create|check`: RSE 2.1 XIP images and their SIC tables. @module */
import { Command } from '@commander-js/extra-typings';
import { writeFileAtomic } from '../lib/atomic.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { checkXipImage, createXipTables, parseSicTable, SIC_DEFAULT_KEY } from '../sic/sic.ts';
import { cliStatus, io, parseInteger, printJson, readInput } from './common.ts';

function keyOf(file: string | undefined): Uint8Array {
  if (file === undefined) return SIC_DEFAULT_KEY;
  const k = readInput(file, 'SIC key');
  if (k.length !== 32) throw new RseError('E_KEY', `${file}: the SIC key is 32 bytes, got ${k.length}`, { field: '--key' });
  return k;
}

export function sicCommand() {
  const cmd = new Command('sic').summary('RSE 2.1 XIP: per-line AES-CTR images and the SIC tables BL2 validates');
  cmd.addCommand(
    new Command('create')
      .summary('encrypt a runtime image for XIP and write its SIC table (create_xip_tables.py)')
      .description(
        'Pad IMAGE to 1 KiB pages, encrypt each 16-byte line with AES-256 (keystream block: line\n' +
          'index, version, nonce[4..8], nonce[0..4]) and write the table: version u32 LE, nonce (8),\n' +
          "htr_len u32 LE, one SHA-256 per encrypted page. Sign the table with 'rse sign' as MCUboot\n" +
          'image 0 or 1; the encrypted image goes in the FIP as rse-s / rse-ns. The key defaults to\n' +
          "the script's (TF-M's dummy S/NS image encryption key).",
      )
      .argument('<image>')
      .requiredOption('--image-version <n>', 'firmware version (32-bit, 0x hex or decimal)')
      .requiredOption('-t, --table <file>', 'SIC table output')
      .requiredOption('-e, --encrypted <file>', 'encrypted image output')
      .option('--key <file>', '32-byte AES key')
      .option('--nonce <hex>', '8-byte nonce (default random, as the script)')
      .option('--json', 'print what was written')
      .action((image, o) => {
        const fwVersion = parseInteger(o.imageVersion);
        const nonce = o.nonce === undefined ? undefined : fromHex(o.nonce, '--nonce');
        if (nonce !== undefined && nonce.length !== 8) throw new RseError('E_USAGE', '--nonce must be 8 bytes (16 hex digits)');
        const r = createXipTables(readInput(image, 'image'), { fwVersion, key: keyOf(o.key), ...(nonce === undefined ? {} : { nonce }) });
        writeFileAtomic(o.table, r.table, { durable: false });
        writeFileAtomic(o.encrypted, r.encrypted, { durable: false });
        const pages = r.encrypted.length / 1024;
        if (o.json === true) printJson({ table: o.table, encrypted: o.encrypted, pages, tableSize: r.table.length });
        else io.out(`SIC table ${o.table} (${r.table.length} bytes, ${pages} pages); encrypted image ${o.encrypted}\n`);
      }),
  );
  cmd.addCommand(
    new Command('check')
      .summary('check an encrypted XIP image against its SIC table, page by page, as the SIC does')
      .argument('<table>')
      .argument('<encrypted>')
      .option('--key <file>', '32-byte AES key')
      .option('--plaintext <file>', 'also write the decrypted image')
      .option('--json', 'the result as JSON')
      .action((tableFile, encFile, o) => {
        const t = parseSicTable(readInput(tableFile, 'SIC table'), tableFile);
        const c = checkXipImage(t, readInput(encFile, 'encrypted image'), keyOf(o.key));
        if (o.plaintext !== undefined) writeFileAtomic(o.plaintext, c.plaintext, { durable: false });
        if (c.badPages.length > 0) cliStatus.code = 1;
        if (o.json === true) {
          printJson({ version: t.fwVersion, nonce: toHex(t.nonce), pages: c.pages, badPages: c.badPages, ok: c.badPages.length === 0 });
          return;
        }
        io.out(
          c.badPages.length === 0
            ? `ok: ${c.pages} pages match the table (version 0x${t.fwVersion.toString(16)}, nonce ${toHex(t.nonce)})\n`
            : `FAIL: pages ${c.badPages.join(', ')} of ${c.pages} do not match their hashes\n`,
        );
      }),
  );
  return cmd;
}
