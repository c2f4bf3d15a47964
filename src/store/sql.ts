/**
 * The SQL layer rsekit's stateful services share (the verifier's endorsements and sessions, the
 * STM32 HSMs' licence ledgers): one {@link Sql} interface over the embedded PGlite (default, in
 * memory or in a data directory) and PostgreSQL (`postgres://…`, shared by several processes), and
 * numbered migrations applied under an advisory lock so processes starting together agree.
 * @module
 */

/** One SQL statement with its parameters. */
export type Query = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<{ rows: T[] }>;

/** The one thing both drivers provide. */
export interface Sql {
  /** A statement on any connection (PostgreSQL: a pool). */
  readonly query: Query;
  /**
   * Runs `f` with every statement on one connection, which nothing else uses meanwhile: what a
   * transaction or a session-level advisory lock needs.
   */
  session<T>(f: (q: Query) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Runs `f` between BEGIN and COMMIT on the connection of `q`; ROLLBACK when it throws. */
export async function inTransaction<T>(q: Query, f: () => Promise<T>): Promise<T> {
  await q('BEGIN');
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

/** Opens PostgreSQL for a `postgres://` / `postgresql://` URL, else PGlite (in a directory, or in memory). */
/** Whether a database name is a PostgreSQL URL (else a PGlite directory, or memory). */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

export async function openDatabase(url?: string): Promise<Sql> {
  if (url !== undefined && isPostgresUrl(url)) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 8 });
    return {
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
      close: () => pool.end(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const db = url === undefined || url === 'memory:' ? new PGlite() : new PGlite(url);
  let chain: Promise<unknown> = Promise.resolve();
  const direct: Query = async <T>(text: string, params?: readonly unknown[]) => ({
    rows: (await db.query<T>(text, params as unknown[])).rows,
  });
  // PGlite is one connection: statements, and sessions as a whole, run one after the other.
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const run = chain.then(f);
    chain = run.catch(() => undefined);
    return run;
  };
  return {
    query: <T>(text: string, params?: readonly unknown[]) => serial(() => direct<T>(text, params)),
    session: (f) => serial(() => f(direct)),
    close: () => db.close(),
  };
}

/**
 * Applies the migrations of `migrations` not yet applied, under the advisory lock `lock`, and
 * records them in `table`; returns the schema version. Never edit a migration that shipped: add
 * the next.
 */
export async function migrate(sql: Sql, migrations: readonly string[], lock: number, table = 'schema_migration'): Promise<number> {
  // The lock first: two servers starting together would race even on CREATE TABLE IF NOT EXISTS.
  return sql.session(async (q) => {
    await q('SELECT pg_advisory_lock($1)', [lock]);
    try {
      await q(`CREATE TABLE IF NOT EXISTS ${table} (version INT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const { rows } = await q<{ v: number | null }>(`SELECT max(version) AS v FROM ${table}`);
      const current = rows[0]?.v ?? 0;
      for (let v = current + 1; v <= migrations.length; v++)
        await inTransaction(q, async () => {
          await q(migrations[v - 1] as string);
          await q(`INSERT INTO ${table} (version) VALUES ($1)`, [v]);
        });
      return migrations.length;
    } finally {
      await q('SELECT pg_advisory_unlock($1)', [lock]);
    }
  });
}
