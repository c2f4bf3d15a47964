/**
 * RSE 2.1 XIP images (`rse/common/bl2/create_xip_tables.py`, `sic_boot.c`): the runtime image is
 * padded to 1 KiB pages and encrypted line by line (16 bytes) with AES-256, the keystream block
 * of line i being AES(key, i u32 LE ‖ fw_version u32 LE ‖ nonce[4..8] ‖ nonce[0..4]); the SIC
 * table BL2 validates is fw_version u32 LE ‖ nonce (8) ‖ htr_len u32 LE ‖ the SHA-256 of every
 * encrypted page (the hash table the SIC checks each page against on access).
 * @module
 */
import { aesEcbEncrypt, constantTimeEqual, hash, randomBytes } from '../crypto/index.ts';
import { readU32le, u32le } from '../lib/bytes.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex } from '../lib/hex.ts';

export const SIC_PAGE_SIZE = 1024;
export const SIC_LINE_SIZE = 16;
/** The script's default key (also TF-M's dummy S/NS image encryption key). */
export const SIC_DEFAULT_KEY: Uint8Array = fromHex('fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994');

export interface SicTable {
  readonly fwVersion: number;
  readonly nonce: Uint8Array;
  /** One SHA-256 per encrypted 1 KiB page. */
  readonly pageHashes: readonly Uint8Array[];
}

/** The keystream for `lines` lines from line 0. */
function keystream(key: Uint8Array, fwVersion: number, nonce: Uint8Array, lines: number): Uint8Array {
  const blocks = new Uint8Array(lines * 16);
  const ver = u32le(fwVersion);
  const tail = new Uint8Array([...nonce.subarray(4, 8), ...nonce.subarray(0, 4)]);
  for (let i = 0; i < lines; i++) {
    blocks.set(u32le(i), i * 16);
    blocks.set(ver, i * 16 + 4);
    blocks.set(tail, i * 16 + 8);
  }
  return aesEcbEncrypt(key, blocks);
}

function checkKey(key: Uint8Array): void {
  if (key.length !== 32) throw new RseError('E_KEY', `the SIC key is AES-256: 32 bytes, got ${key.length}`, { field: 'key' });
}

/** Encrypts (or decrypts: the same operation) a page-padded image. */
export function sicCrypt(key: Uint8Array, fwVersion: number, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(key);
  if (nonce.length !== 8) throw new RseError('E_ARGUMENT', 'the SIC nonce is 8 bytes', { field: 'nonce' });
  const ks = keystream(key, fwVersion >>> 0, nonce, Math.ceil(data.length / SIC_LINE_SIZE));
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) ^ (ks[i] as number);
  return out;
}

export interface XipTablesOptions {
  readonly fwVersion: number;
  readonly key?: Uint8Array;
  /** 8 bytes; random by default, as the script draws it. */
  readonly nonce?: Uint8Array;
}

/** `create_xip_tables.py`: the encrypted image and its table. */
export function createXipTables(image: Uint8Array, o: XipTablesOptions): { table: Uint8Array; encrypted: Uint8Array } {
  if (!Number.isInteger(o.fwVersion) || o.fwVersion < 0 || o.fwVersion > 0xffffffff)
    throw new RseError('E_ARGUMENT', `image version ${o.fwVersion} does not fit 32 bits`, { field: 'version' });
  const key = o.key ?? SIC_DEFAULT_KEY;
  const nonce = o.nonce ?? randomBytes(8);
  const padded = new Uint8Array(Math.ceil(image.length / SIC_PAGE_SIZE) * SIC_PAGE_SIZE);
  padded.set(image);
  const encrypted = sicCrypt(key, o.fwVersion, nonce, padded);
  const pages = encrypted.length / SIC_PAGE_SIZE;
  const table = new Uint8Array(16 + 32 * pages);
  table.set(u32le(o.fwVersion), 0);
  table.set(nonce, 4);
  table.set(u32le(32 * pages), 12);
  for (let p = 0; p < pages; p++) table.set(hash('sha256', encrypted.subarray(p * SIC_PAGE_SIZE, (p + 1) * SIC_PAGE_SIZE)), 16 + 32 * p);
  return { table, encrypted };
}

/** Parses a SIC table; every length is checked. */
export function parseSicTable(b: Uint8Array, source = 'SIC table'): SicTable {
  if (b.length < 16) throw new RseError('E_TRUNCATED', `${source} is ${b.length} bytes; the header is 16`, { field: 'table', offset: 0 });
  const htrLen = readU32le(b, 12);
  if (htrLen % 32 !== 0)
    throw new RseError('E_BAD_FIELD', `${source}: htr_len ${htrLen} is not a multiple of 32`, { field: 'htr_len', offset: 12 });
  if (16 + htrLen > b.length)
    throw new RseError('E_TRUNCATED', `${source}: htr_len ${htrLen} runs past its ${b.length} bytes`, { field: 'htr_len', offset: 12 });
  const pageHashes: Uint8Array[] = [];
  for (let at = 16; at < 16 + htrLen; at += 32) pageHashes.push(b.slice(at, at + 32));
  return { fwVersion: readU32le(b, 0), nonce: b.slice(4, 12), pageHashes };
}

export interface XipCheck {
  readonly pages: number;
  /** Pages whose hash does not match (what the SIC would fault on). */
  readonly badPages: readonly number[];
  readonly plaintext: Uint8Array;
}

/** What the SIC does on access, for every page: hash check against the table, then decryption. */
export function checkXipImage(table: SicTable, encrypted: Uint8Array, key: Uint8Array = SIC_DEFAULT_KEY): XipCheck {
  const pages = table.pageHashes.length;
  if (encrypted.length < pages * SIC_PAGE_SIZE)
    throw new RseError('E_TRUNCATED', `the encrypted image is ${encrypted.length} bytes; the table covers ${pages} pages of 1 KiB`, {
      field: 'image',
    });
  const badPages: number[] = [];
  table.pageHashes.forEach((h, p) => {
    if (!constantTimeEqual(hash('sha256', encrypted.subarray(p * SIC_PAGE_SIZE, (p + 1) * SIC_PAGE_SIZE)), h)) badPages.push(p);
  });
  const plaintext = sicCrypt(key, table.fwVersion, table.nonce, encrypted.subarray(0, pages * SIC_PAGE_SIZE));
  return { pages, badPages, plaintext };
}
