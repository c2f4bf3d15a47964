/**
 * The SFI HSM: it holds the OEM firmware key and nonce, authenticates each device certificate
 * against the CA it trusts, and issues one counted license per device, refusing once the count is
 * spent. Its state is a ledger in SQL: an embedded SQLite database (a file in a directory) by default, or a
 * PostgreSQL server that several production lines share. The count is taken with one conditional
 * UPDATE in the same transaction as the ledger row, so concurrent lines never exceed it.
 *
 * The OEM key and nonce are stored wrapped (AES-256-GCM, bound to the HSM id) under a wrapping
 * key that is not in the database: for a data directory, the file `DIR.wrap-key` beside it (0600,
 * made by `init`); for PostgreSQL, a key file the caller names. A copy of the database, its
 * write-ahead log or a dump reveals neither. The data directory is kept 0700.
 * @module
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { type AsymKey, importRawPublicKey, randomBytes, rawPublicKey } from '../crypto/index.ts';
import { RseError } from '../lib/errors.ts';
import { fromHex, toHex } from '../lib/hex.ts';
import { isPostgresUrl, openDatabase, type Sql, transaction } from '../store/sql.ts';
import { memoryWrapKey, unwrapSecret, type WrapKey, wrapKeyFileBeside, wrapKeyOf, wrapSecret } from './hsm-wrap.ts';
import { publicKeyHash } from './image.ts';
import { decodeCertificate, makeLicense, verifyCertificate, virtualStCa } from './ssp.ts';

const LOCK = 0x7253_4653; // 'rSFS'

export interface SfiHsmInit {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly maxInstalls: number;
  readonly ca?: AsymKey;
  readonly license?: 'live' | 'normal';
}

export interface SfiHsmInfo {
  readonly id: string;
  readonly maxInstalls: number;
  readonly issued: number;
  readonly remaining: number;
  readonly license: 'live' | 'normal';
  readonly ledger: readonly { readonly seq: number; readonly productId: string; readonly chip: string }[];
}

/** Where the wrapping key of a ledger lives by default: beside a data directory; none for a URL or memory. */
function defaultWrapKeyFile(db: string): string | undefined {
  return isPostgresUrl(db) || db === 'memory:' ? undefined : wrapKeyFileBeside(db);
}

/** The wrapping key of ledger `db`: `file`'s, the default file's, or for an in-memory ledger this process's own. */
function ledgerWrapKey(db: string, file: string | undefined, create: boolean): WrapKey {
  const path = file ?? defaultWrapKeyFile(db);
  if (path !== undefined) return wrapKeyOf(path, create);
  if (db === 'memory:') return memoryWrapKey(randomBytes(32));
  throw new RseError('E_USAGE', 'a PostgreSQL ledger needs --wrap-key FILE: the key that wraps the OEM key lives outside the database', {
    field: 'wrap-key',
  });
}

/** Opens the ledger and its tables; an unreachable or unusable database is E_HSM. */
async function connect(db: string): Promise<Sql> {
  let sql: Sql | undefined;
  try {
    if (!isPostgresUrl(db) && db !== 'memory:') {
      // Only its owner may enter the ledger's directory, whatever modes SQLite gives its files.
      mkdirSync(db, { recursive: true, mode: 0o700 });
      chmodSync(db, 0o700);
    }
    sql = await openDatabase(db);
    await schema(sql);
    return sql;
  } catch (e) {
    await sql?.close().catch(() => undefined);
    if (e instanceof RseError) throw e;
    throw new RseError('E_HSM', `cannot open the HSM ledger ${db.replace(/\/\/[^@/]*@/, '//…@')}: ${(e as Error).message}`, {
      field: 'db',
    });
  }
}

async function schema(sql: Sql): Promise<void> {
  await sql.exclusive(LOCK, async (q) => {
    await q(
      sql.ddl(`CREATE TABLE IF NOT EXISTS sfi_hsm (
        id TEXT PRIMARY KEY, oem_key TEXT NOT NULL, nonce TEXT NOT NULL, ca TEXT NOT NULL,
        license TEXT NOT NULL, max_installs INT NOT NULL, issued INT NOT NULL DEFAULT 0)`),
    );
    await q(
      sql.ddl(`CREATE TABLE IF NOT EXISTS sfi_license (
        hsm TEXT NOT NULL, seq INT NOT NULL, product_id TEXT NOT NULL, chip TEXT NOT NULL,
        issued_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (hsm, seq))`),
    );
  });
}

interface Row {
  oem_key: string;
  nonce: string;
  ca: string;
  license: string;
  max_installs: number;
  issued: number;
}

/** The SFI HSM: the OEM key and nonce, and a counted licence ledger in SQL. */
export class SfiHsm {
  readonly id: string;
  private readonly sql: Sql;
  /** The wrapping key, or how to find it when a license is first issued (`show` never needs it). */
  private wrapping: WrapKey | (() => WrapKey);

  private constructor(sql: Sql, id: string, wrapKey: WrapKey | (() => WrapKey)) {
    this.sql = sql;
    this.id = id;
    this.wrapping = wrapKey;
  }

  private get wrapKey(): WrapKey {
    if (typeof this.wrapping === 'function') this.wrapping = this.wrapping();
    return this.wrapping;
  }

  /**
   * `db`: a `postgres://` URL, a data directory, or `memory:`; `wrapKey`: the wrapping key
   * itself (default: {@link wrapKeyOf} with `wrapKeyFile`, made for a new ledger in a directory).
   */
  static async init(
    db: string,
    id: string,
    o: SfiHsmInit,
    force = false,
    w: { wrapKey?: WrapKey; wrapKeyFile?: string } = {},
  ): Promise<SfiHsm> {
    if (o.key.length !== 16 || o.nonce.length !== 12)
      throw new RseError('E_ARGUMENT', 'the SFI key is 16 bytes and the nonce 12', { field: 'key' });
    if (!Number.isInteger(o.maxInstalls) || o.maxInstalls < 0)
      throw new RseError('E_ARGUMENT', `--max ${o.maxInstalls} is not a count`, { field: 'max' });
    const wrapKey = w.wrapKey ?? ledgerWrapKey(db, w.wrapKeyFile, true);
    const sql = await connect(db);
    const values = [
      id,
      wrapSecret(wrapKey, `sfi-hsm:${id}:oem_key`, o.key),
      wrapSecret(wrapKey, `sfi-hsm:${id}:nonce`, o.nonce),
      toHex(rawPublicKey(o.ca ?? virtualStCa())),
      o.license ?? 'live',
      o.maxInstalls,
    ];
    const { rows } = await sql.query(
      `INSERT INTO sfi_hsm (id, oem_key, nonce, ca, license, max_installs) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO ${force ? 'UPDATE SET oem_key = $2, nonce = $3, ca = $4, license = $5, max_installs = $6, issued = 0' : 'NOTHING'} RETURNING id`,
      values,
    );
    if (rows.length === 0) {
      await sql.close();
      throw new RseError('E_EXISTS', `HSM ${id} already exists in ${db} (--force to replace it)`, { field: 'id' });
    }
    if (force) await sql.query('DELETE FROM sfi_license WHERE hsm = $1', [id]);
    return new SfiHsm(sql, id, wrapKey);
  }

  static async open(db: string, id: string, w: { wrapKey?: WrapKey; wrapKeyFile?: string } = {}): Promise<SfiHsm> {
    const wrapKey = w.wrapKey ?? ((): WrapKey => ledgerWrapKey(db, w.wrapKeyFile, false));
    const sql = await connect(db);
    const { rows } = await sql.query('SELECT id FROM sfi_hsm WHERE id = $1', [id]);
    if (rows.length === 0) {
      await sql.close();
      throw new RseError('E_HSM', `no HSM ${id} in ${db} (rse sfi hsm init)`, { field: 'id' });
    }
    return new SfiHsm(sql, id, wrapKey);
  }

  close(): Promise<void> {
    return this.sql.close();
  }

  async info(): Promise<SfiHsmInfo> {
    const { rows } = await this.sql.query<Row>('SELECT * FROM sfi_hsm WHERE id = $1', [this.id]);
    const r = rows[0] as Row;
    const ledger = await this.sql.query<{ seq: number; product_id: string; chip: string }>(
      'SELECT seq, product_id, chip FROM sfi_license WHERE hsm = $1 ORDER BY seq',
      [this.id],
    );
    return {
      id: this.id,
      maxInstalls: r.max_installs,
      issued: r.issued,
      remaining: Math.max(0, r.max_installs - r.issued),
      license: r.license === 'normal' ? 'normal' : 'live',
      ledger: ledger.rows.map((l) => ({ seq: l.seq, productId: l.product_id, chip: l.chip })),
    };
  }

  /**
   * Authenticates the device certificate, takes one from the count (refused when spent) and
   * records the device, all in one transaction; then wraps the key and nonce for that chip.
   */
  async issue(certificate: Uint8Array, sessionId?: number): Promise<Uint8Array> {
    const cert = decodeCertificate(certificate);
    const { rows } = await this.sql.query<Row>('SELECT * FROM sfi_hsm WHERE id = $1', [this.id]);
    const hsm = rows[0];
    if (hsm === undefined) throw new RseError('E_HSM', `HSM ${this.id} is gone`, { field: 'id' });
    if (!verifyCertificate(cert, importRawPublicKey('ecdsa-p256', fromHex(hsm.ca, 'ca'))))
      throw new RseError(
        'E_LICENSE',
        `device certificate of ${cert.productId} is not signed by the CA this HSM trusts (forged or foreign chip)`,
        {
          field: 'certificate',
        },
      );
    const live = hsm.license !== 'normal';
    if (live && sessionId === undefined)
      throw new RseError('E_HSM', 'this HSM issues live licenses: the device sent no session id', { field: 'session' });
    // The secrets first: a wrong wrapping key spends no license.
    const oemKey = unwrapSecret(this.wrapKey, `sfi-hsm:${this.id}:oem_key`, hsm.oem_key);
    const nonce = unwrapSecret(this.wrapKey, `sfi-hsm:${this.id}:nonce`, hsm.nonce);
    await transaction(this.sql, async (q) => {
      const taken = await q<{ issued: number }>(
        'UPDATE sfi_hsm SET issued = issued + 1 WHERE id = $1 AND issued < max_installs RETURNING issued',
        [this.id],
      );
      const n = taken.rows[0]?.issued;
      if (n === undefined)
        throw new RseError('E_HSM', `install counter exhausted: ${hsm.max_installs} of ${hsm.max_installs} licenses issued`, {
          field: 'counter',
        });
      await q('INSERT INTO sfi_license (hsm, seq, product_id, chip) VALUES ($1, $2, $3, $4)', [
        this.id,
        n,
        cert.productId,
        toHex(publicKeyHash(cert.chipPublicKey)).slice(0, 16),
      ]);
    });
    const wrapped = new Uint8Array(16);
    wrapped.set(nonce);
    return makeLicense({
      family: 'sfi',
      chipPublicKey: cert.chipPublicKey,
      oemKey,
      oemIv: wrapped,
      fsblMinVersion: 0,
      ...(live ? { sessionId: sessionId as number } : {}),
    });
  }
}
