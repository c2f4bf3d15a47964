/**
 * The SQL layer rsekit's stateful services share (the verifier's endorsements and sessions, the
 * STM32 HSMs' licence ledgers): one {@link Sql} interface over an embedded SQLite database
 * (default: in memory, or a file in a data directory, made 0700 when new) and PostgreSQL (`postgres://…`, shared by
 * production lines and verifier fleets), and numbered migrations written once, in PostgreSQL's
 * spelling, applied under a lock so processes starting together agree.
 *
 * Why SQLite (libsql's build, a prebuilt binary in the registry, no download step) and not an
 * embedded PostgreSQL (PGlite): measured here, PGlite took 4–7 s of CPU and 700+ MiB before a
 * verifier listened; SQLite opens in tens of milliseconds under 100 MiB, locks its file so two
 * processes can share a data directory, and commits without a server. The schema text is the
 * same on both engines: {@link sqliteDdl} maps the few PostgreSQL type spellings it uses.
 * @module
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RseError } from '../lib/errors.ts';

/** One SQL statement with its parameters (`$1`, `$2`, … on both engines). */
export type Query = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<{ rows: T[] }>;

/** The one thing both drivers provide. */
export interface Sql {
  /** `postgresql` (a server) or `sqlite` (embedded). */
  readonly engine: 'postgresql' | 'sqlite';
  /** A statement on any connection (PostgreSQL: a pool). */
  readonly query: Query;
  /**
   * Runs `f` with every statement on one connection, which nothing else uses meanwhile: what a
   * transaction needs.
   */
  session<T>(f: (q: Query) => Promise<T>): Promise<T>;
  /**
   * Runs `f` in one transaction that no other process sharing the database runs beside (schema
   * set-up): PostgreSQL's advisory lock `lock`, SQLite's write lock taken at BEGIN.
   */
  exclusive<T>(lock: number, f: (q: Query) => Promise<T>): Promise<T>;
  /** Schema text written for PostgreSQL, as this engine spells it. */
  ddl(text: string): string;
  close(): Promise<void>;
}

/** Runs `f` between BEGIN and COMMIT on the connection of `q`; ROLLBACK when it throws. */
export async function inTransaction<T>(q: Query, f: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await q(begin);
  try {
    const r = await f();
    await q('COMMIT');
    return r;
  } catch (e) {
    await q('ROLLBACK');
    throw e;
  }
}

/** A transaction on one connection of `sql`. */
export const transaction = <T>(sql: Sql, f: (q: Query) => Promise<T>): Promise<T> => sql.session((q) => inTransaction(q, () => f(q)));

/** Whether a database name is a PostgreSQL URL (else a data directory, or memory). */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

/** The SQLite file inside a data directory. */
export const SQLITE_FILE = 'rse.sqlite';

/**
 * PostgreSQL schema spellings as SQLite reads them. Only these are used in migrations; a new
 * migration that needs another adds it here, and the migration test runs every migration on both
 * engines and compares the tables and columns they make.
 */
const SQLITE_SPELLING: readonly [RegExp, string][] = [
  [/\bBIGSERIAL PRIMARY KEY\b/g, 'INTEGER PRIMARY KEY'],
  [/\bDEFAULT now\(\)/g, "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"],
  [/\b(TIMESTAMPTZ|JSONB|UUID)\b/g, 'TEXT'],
];

/** Schema text written for PostgreSQL, spelled for SQLite. */
export const sqliteDdl = (text: string): string => SQLITE_SPELLING.reduce((t, [re, to]) => t.replace(re, to), text);

/**
 * Opens PostgreSQL for a `postgres://` / `postgresql://` URL; else SQLite in memory (no name or
 * `memory:`) or in the data directory named (made 0700 when missing; the file {@link SQLITE_FILE}).
 */
export async function openDatabase(url?: string): Promise<Sql> {
  if (url !== undefined && isPostgresUrl(url)) return openPostgres(url);
  if (url === undefined || url === 'memory:') return openSqlite(':memory:');
  if (existsSync(join(url, 'PG_VERSION')))
    throw new RseError(
      'E_IO',
      `${url} holds a PGlite database, which rsekit no longer embeds: give a new directory (the embedded store is now SQLite), or serve that data from PostgreSQL`,
      { field: 'db' },
    );
  mkdirSync(url, { recursive: true, mode: 0o700 });
  return openSqlite(join(url, SQLITE_FILE));
}

async function openPostgres(url: string): Promise<Sql> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const sql: Sql = {
    engine: 'postgresql',
    query: async <T>(text: string, params?: readonly unknown[]) => ({ rows: (await pool.query(text, params as unknown[])).rows as T[] }),
    session: async (f) => {
      const client = await pool.connect();
      try {
        return await f(async <T>(text: string, params?: readonly unknown[]) => ({
          rows: (await client.query(text, params as unknown[])).rows as T[],
        }));
      } finally {
        client.release();
      }
    },
    // The lock first: two servers starting together would race even on CREATE TABLE IF NOT EXISTS.
    exclusive: (lock, f) =>
      sql.session(async (q) => {
        await q('SELECT pg_advisory_lock($1)', [lock]);
        try {
          return await inTransaction(q, () => f(q));
        } finally {
          await q('SELECT pg_advisory_unlock($1)', [lock]);
        }
      }),
    ddl: (text) => text,
    close: () => pool.end(),
  };
  return sql;
}

/** SQLite's numbered parameters are `?N`; undefined binds as NULL. */
const sqliteText = (text: string): string => text.replace(/\$(\d+)/g, '?$1');

/** One connection per SQLite file in this process (its lock waits block the thread, so never two). */
interface SqliteHandle {
  readonly direct: Query;
  serial<T>(f: () => Promise<T>): Promise<T>;
  users: number;
  close(): void;
}
const sqliteHandles = new Map<string, SqliteHandle>();

async function sqliteHandle(file: string): Promise<SqliteHandle> {
  const { default: Database } = await import('libsql');
  const open = sqliteHandles.get(file);
  if (open !== undefined) {
    open.users++;
    return open;
  }
  // Another process holding the write lock is waited for, up to 5 s, rather than refused.
  const db = new Database(file, { timeout: 5000 });
  if (file !== ':memory:') {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
  }
  const prepared = new Map<string, ReturnType<typeof db.prepare>>();
  // One connection: statements, and sessions as a whole, run one after the other.
  let chain: Promise<unknown> = Promise.resolve();
  const h: SqliteHandle = {
    direct: async <T>(text: string, params: readonly unknown[] = []) => {
      let st = prepared.get(text);
      if (st === undefined) {
        st = db.prepare(sqliteText(text));
        if (prepared.size < 256) prepared.set(text, st);
      }
      const values = params.map((p) => (p === undefined ? null : p));
      if (st.reader) return { rows: st.all(values) as T[] };
      st.run(values);
      return { rows: [] };
    },
    serial: <T>(f: () => Promise<T>): Promise<T> => {
      const run = chain.then(f);
      chain = run.catch(() => undefined);
      return run;
    },
    users: 1,
    close: () => {
      if (--h.users > 0) return;
      if (file !== ':memory:') sqliteHandles.delete(file);
      db.close();
    },
  };
  if (file !== ':memory:') sqliteHandles.set(file, h);
  return h;
}

async function openSqlite(file: string): Promise<Sql> {
  const h = await sqliteHandle(file === ':memory:' ? file : resolve(file));
  let closed = false;
  return {
    engine: 'sqlite',
    query: <T>(text: string, params?: readonly unknown[]) => h.serial(() => h.direct<T>(text, params)),
    session: (f) => h.serial(() => f(h.direct)),
    // BEGIN IMMEDIATE takes the database's write lock before the first read.
    exclusive: (_lock, f) => h.serial(() => inTransaction(h.direct, () => f(h.direct), 'BEGIN IMMEDIATE')),
    ddl: sqliteDdl,
    close: () =>
      h.serial(async () => {
        if (closed) return;
        closed = true;
        h.close();
      }),
  };
}

/**
 * Applies the migrations of `migrations` not yet applied, in one exclusive transaction under the
 * lock `lock`, and records them in `table`; returns the schema version. Migrations are written in
 * PostgreSQL's spelling and run on either engine. Never edit a migration that shipped: add the next.
 */
export function migrate(sql: Sql, migrations: readonly string[], lock: number, table = 'schema_migration'): Promise<number> {
  return sql.exclusive(lock, async (q) => {
    await q(sql.ddl(`CREATE TABLE IF NOT EXISTS ${table} (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`));
    const { rows } = await q<{ v: number | null }>(`SELECT max(version) AS v FROM ${table}`);
    const current = rows[0]?.v ?? 0;
    for (let v = current + 1; v <= migrations.length; v++) {
      await q(sql.ddl(migrations[v - 1] as string));
      await q(`INSERT INTO ${table} (version) VALUES ($1)`, [v]);
    }
    return migrations.length;
  });
}
