/**
 * The verifier's state: endorsements (trust anchors and reference values) and challenge-response
 * sessions, in one SQL schema with numbered migrations that run the same on the embedded SQLite
 * (default, in memory or in a data directory, which several verifier processes on one host can
 * share) and on PostgreSQL (`postgres://…`, shared by verifier processes anywhere). Migrations run
 * under a lock, so processes starting together agree.
 * @module
 */
import type { EndorsementStore } from '../attestation/appraise.ts';
import type { Endorsements, PlatformConfigReference, RealmReference, SwReference, TrustAnchor } from '../attestation/corim.ts';
import { loadTokenKey, type TokenKey } from '../cose/keys.ts';
import { RseError } from '../lib/errors.ts';
import { migrate as migrateSql, openDatabase, type Sql, transaction } from '../store/sql.ts';

export { openDatabase, type Query, type Sql, transaction } from '../store/sql.ts';

/** Numbered migrations; never edit one that shipped, add the next. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE endorsement (
     id BIGSERIAL PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('anchor', 'software', 'platform-config', 'realm')),
     profile TEXT NOT NULL,
     class_id TEXT NOT NULL,
     instance_id TEXT,
     body JSONB NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  'CREATE INDEX endorsement_lookup ON endorsement (kind, class_id, instance_id)',
  `CREATE TABLE session (
     id UUID PRIMARY KEY,
     nonce TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('waiting', 'processing', 'complete', 'failed')),
     expiry TIMESTAMPTZ NOT NULL,
     media_type TEXT,
     evidence TEXT,
     result TEXT,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  // Each provisioned CoRIM once: a resubmission stores nothing more.
  `CREATE TABLE corim (
     sha256 TEXT PRIMARY KEY,
     profile TEXT NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
];

const MIGRATION_LOCK = 0x7253_456b; // 'rSEk'

/** Applies the verifier's migrations not yet applied; returns the schema version. */
export function migrate(sql: Sql): Promise<number> {
  return migrateSql(sql, MIGRATIONS, MIGRATION_LOCK);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
type DigestJson = { alg: number; value: string };
const digestsJson = (ds: readonly { alg: number; value: Uint8Array }[]): DigestJson[] =>
  ds.map((d) => ({ alg: d.alg, value: hex(d.value) }));
const digestsOf = (ds: readonly DigestJson[]): { alg: number; value: Uint8Array }[] =>
  ds.map((d) => ({ alg: d.alg, value: unhex(d.value) }));

type AnchorBody = { key: string };
type SoftwareBody = { name: string | null; version: string | null; signerId: string | null; digests: DigestJson[] };
type PlatformConfigBody = { value: string; mask: string | null };
type RealmBody = { rim: DigestJson[]; rems: (DigestJson[] | null)[]; rpv: string | null };

/** An endorsement body: PostgreSQL gives JSONB as an object, SQLite as its text. */
const bodyOf = (body: unknown): unknown => (typeof body === 'string' ? (JSON.parse(body) as unknown) : body);

/** Anchor keys parsed once (importing a PEM costs more than verifying an ES256 signature). */
const ANCHOR_KEYS = new Map<string, TokenKey>();
function anchorKey(pem: string): TokenKey {
  let k = ANCHOR_KEYS.get(pem);
  if (k === undefined) {
    k = loadTokenKey(new TextEncoder().encode(pem));
    if (ANCHOR_KEYS.size >= 1024) ANCHOR_KEYS.delete(ANCHOR_KEYS.keys().next().value as string);
    ANCHOR_KEYS.set(pem, k);
  }
  return k;
}

const anchorOf = (implementationId: Uint8Array, instanceId: Uint8Array, b: AnchorBody): TrustAnchor => ({
  implementationId,
  instanceId,
  keyPem: b.key,
  key: anchorKey(b.key),
});
const softwareOf = (implementationId: Uint8Array, b: SoftwareBody): SwReference => ({
  implementationId,
  name: b.name ?? undefined,
  version: b.version ?? undefined,
  signerId: b.signerId === null ? undefined : unhex(b.signerId),
  digests: digestsOf(b.digests),
});
const platformConfigOf = (implementationId: Uint8Array, b: PlatformConfigBody): PlatformConfigReference => ({
  implementationId,
  value: unhex(b.value),
  mask: b.mask === null ? undefined : unhex(b.mask),
});
const realmOf = (rim: Uint8Array, b: RealmBody): RealmReference => ({
  rim,
  rimDigests: digestsOf(b.rim),
  rems: b.rems.map((d) => (d === null ? undefined : digestsOf(d))),
  rpv: b.rpv === null ? undefined : unhex(b.rpv),
});

export type SessionStatus = 'waiting' | 'processing' | 'complete' | 'failed';

/** A challenge-response session: nonce, status, evidence and result. */
export interface Session {
  readonly id: string;
  readonly nonce: Uint8Array;
  readonly status: SessionStatus;
  readonly expiry: Date;
  readonly mediaType: string | undefined;
  readonly evidence: Uint8Array | undefined;
  readonly result: string | undefined;
}

interface SessionRow {
  id: string;
  nonce: string;
  status: SessionStatus;
  expiry: Date | string;
  media_type: string | null;
  evidence: string | null;
  result: string | null;
}

/** Endorsements and sessions over SQL. */
export class SqlStore implements EndorsementStore {
  readonly sql: Sql;
  constructor(sql: Sql) {
    this.sql = sql;
  }

  /**
   * Stores a provisioned CoRIM's endorsements in one transaction, once: `digest` (its SHA-256)
   * seen before stores nothing and says so. Returns the rows stored by kind.
   */
  async addEndorsements(
    e: Endorsements,
    digest?: Uint8Array,
  ): Promise<{ readonly stored: number; readonly duplicate: boolean; readonly kinds: Readonly<Record<string, number>> }> {
    const rows: [string, string, string | null, unknown][] = [
      ...e.anchors.map((a): [string, string, string | null, unknown] => [
        'anchor',
        hex(a.implementationId),
        hex(a.instanceId),
        { key: a.keyPem },
      ]),
      ...e.software.map((s): [string, string, string | null, unknown] => [
        'software',
        hex(s.implementationId),
        null,
        {
          name: s.name ?? null,
          version: s.version ?? null,
          signerId: s.signerId === undefined ? null : hex(s.signerId),
          digests: digestsJson(s.digests),
        },
      ]),
      ...e.platformConfigs.map((c): [string, string, string | null, unknown] => [
        'platform-config',
        hex(c.implementationId),
        null,
        { value: hex(c.value), mask: c.mask === undefined ? null : hex(c.mask) },
      ]),
      ...e.realms.map((r): [string, string, string | null, unknown] => [
        'realm',
        hex(r.rim),
        null,
        {
          rim: digestsJson(r.rimDigests),
          rems: r.rems.map((d) => (d === undefined ? null : digestsJson(d))),
          rpv: r.rpv === undefined ? null : hex(r.rpv),
        },
      ]),
    ];
    const kinds: Record<string, number> = {};
    for (const [kind] of rows) kinds[kind] = (kinds[kind] ?? 0) + 1;
    const fresh = await transaction(this.sql, async (q) => {
      if (digest !== undefined) {
        const { rows: got } = await q<{ sha256: string }>(
          'INSERT INTO corim (sha256, profile) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING RETURNING sha256',
          [hex(digest), e.profile],
        );
        if (got.length === 0) return false;
      }
      for (const [kind, cls, inst, body] of rows)
        await q('INSERT INTO endorsement (kind, profile, class_id, instance_id, body) VALUES ($1, $2, $3, $4, $5)', [
          kind,
          e.profile,
          cls,
          inst,
          JSON.stringify(body),
        ]);
      return true;
    });
    return fresh ? { stored: rows.length, duplicate: false, kinds } : { stored: 0, duplicate: true, kinds: {} };
  }

  private async bodies<T>(kind: string, cls: Uint8Array, inst?: Uint8Array): Promise<T[]> {
    const { rows } = await this.sql.query<{ body: T | string }>(
      inst === undefined
        ? 'SELECT body FROM endorsement WHERE kind = $1 AND class_id = $2 ORDER BY id'
        : 'SELECT body FROM endorsement WHERE kind = $1 AND class_id = $2 AND instance_id = $3 ORDER BY id',
      inst === undefined ? [kind, hex(cls)] : [kind, hex(cls), hex(inst)],
    );
    return rows.map((r) => bodyOf(r.body) as T);
  }

  async anchor(implementationId: Uint8Array, instanceId: Uint8Array): Promise<TrustAnchor | undefined> {
    const [b] = await this.bodies<AnchorBody>('anchor', implementationId, instanceId);
    return b === undefined ? undefined : anchorOf(implementationId, instanceId, b);
  }

  async software(implementationId: Uint8Array): Promise<readonly SwReference[]> {
    return (await this.bodies<SoftwareBody>('software', implementationId)).map((b) => softwareOf(implementationId, b));
  }

  async platformConfigs(implementationId: Uint8Array): Promise<readonly PlatformConfigReference[]> {
    return (await this.bodies<PlatformConfigBody>('platform-config', implementationId)).map((b) => platformConfigOf(implementationId, b));
  }

  async realms(rim: Uint8Array): Promise<readonly RealmReference[]> {
    return (await this.bodies<RealmBody>('realm', rim)).map((b) => realmOf(rim, b));
  }

  /**
   * Everything provisioned under `profile` for one class (its implementation id, or a realm's
   * RIM) or one instance (a device's instance id): what a CoSERV query selects.
   */
  async endorsementsFor(
    profile: string,
    by: { readonly classId: Uint8Array } | { readonly instanceId: Uint8Array },
  ): Promise<Endorsements> {
    const { rows } = await this.sql.query<{ kind: string; class_id: string; instance_id: string | null; body: unknown }>(
      'classId' in by
        ? 'SELECT kind, class_id, instance_id, body FROM endorsement WHERE profile = $1 AND class_id = $2 ORDER BY id'
        : 'SELECT kind, class_id, instance_id, body FROM endorsement WHERE profile = $1 AND instance_id = $2 ORDER BY id',
      [profile, hex('classId' in by ? by.classId : by.instanceId)],
    );
    const e = {
      anchors: [] as TrustAnchor[],
      software: [] as SwReference[],
      platformConfigs: [] as PlatformConfigReference[],
      realms: [] as RealmReference[],
    };
    for (const r of rows) {
      const cls = unhex(r.class_id);
      const b = bodyOf(r.body);
      if (r.kind === 'anchor' && r.instance_id !== null) e.anchors.push(anchorOf(cls, unhex(r.instance_id), b as AnchorBody));
      else if (r.kind === 'software') e.software.push(softwareOf(cls, b as SoftwareBody));
      else if (r.kind === 'platform-config') e.platformConfigs.push(platformConfigOf(cls, b as PlatformConfigBody));
      else if (r.kind === 'realm') e.realms.push(realmOf(cls, b as RealmBody));
    }
    return { profile: profile as Endorsements['profile'], ...e };
  }

  async createSession(id: string, nonce: Uint8Array, expiry: Date): Promise<Session> {
    await this.sql.query("INSERT INTO session (id, nonce, status, expiry) VALUES ($1, $2, 'waiting', $3)", [
      id,
      hex(nonce),
      expiry.toISOString(),
    ]);
    return { id, nonce, status: 'waiting', expiry, mediaType: undefined, evidence: undefined, result: undefined };
  }

  async getSession(id: string): Promise<Session | undefined> {
    const { rows } = await this.sql.query<SessionRow>(
      'SELECT id, nonce, status, expiry, media_type, evidence, result FROM session WHERE id = $1',
      [id],
    );
    const r = rows[0];
    if (r === undefined) return undefined;
    return {
      id: r.id,
      nonce: unhex(r.nonce),
      status: r.status,
      expiry: new Date(r.expiry),
      mediaType: r.media_type ?? undefined,
      evidence: r.evidence === null ? undefined : unhex(r.evidence),
      result: r.result ?? undefined,
    };
  }

  /** Moves a waiting session to `status`; false when it was not waiting (another process took it). */
  async completeSession(
    id: string,
    status: 'complete' | 'failed',
    mediaType: string,
    evidence: Uint8Array,
    result: string | undefined,
  ): Promise<boolean> {
    const { rows } = await this.sql.query<{ id: string }>(
      "UPDATE session SET status = $2, media_type = $3, evidence = $4, result = $5 WHERE id = $1 AND status = 'waiting' RETURNING id",
      [id, status, mediaType, hex(evidence), result ?? null],
    );
    return rows.length === 1;
  }

  async deleteSession(id: string): Promise<boolean> {
    const { rows } = await this.sql.query<{ id: string }>('DELETE FROM session WHERE id = $1 RETURNING id', [id]);
    return rows.length === 1;
  }

  /** Removes sessions past their expiry; returns how many. */
  async expireSessions(now: Date): Promise<number> {
    const { rows } = await this.sql.query<{ id: string }>('DELETE FROM session WHERE expiry < $1 RETURNING id', [now.toISOString()]);
    return rows.length;
  }
}

/** Opens a database, migrates it and wraps it in a store. */
export async function openStore(url?: string): Promise<SqlStore> {
  let sql: Sql;
  try {
    sql = await openDatabase(url);
    await migrate(sql);
  } catch (e) {
    throw new RseError('E_IO', `cannot open the verifier database ${url ?? '(in memory)'}: ${(e as Error).message}`, {
      field: '--db',
      cause: e,
    });
  }
  return new SqlStore(sql);
}
