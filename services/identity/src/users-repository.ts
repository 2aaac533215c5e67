import { SEARCH_MAX_RESULTS } from '@shutter/contracts';
import { alreadyExists, isUniqueViolation, newId } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';

export interface UserRow {
  id: string;
  email: string;
  username: string;
  name: string;
  password_hash: string;
  role: 'user' | 'admin';
  status: 'enabled' | 'disabled';
  is_public: boolean;
  profile: Record<string, unknown>;
  profile_image_key: string | null;
  version: number | string;
  created_at: Date;
  updated_at: Date;
}

export type ProfileChanges = Partial<Pick<UserRow, 'name' | 'username' | 'is_public' | 'profile' | 'profile_image_key'>>;

/** Unique violations become ALREADY_EXISTS naming the taken field. */
function translate(err: unknown): never {
  if (isUniqueViolation(err, 'users_email_lower_key')) throw alreadyExists('Email is already registered.', 'email_taken');
  if (isUniqueViolation(err, 'users_username_key')) throw alreadyExists('Username is already taken.', 'username_taken');
  throw err;
}

/** Escapes LIKE wildcards so `%` and `_` match literally. */
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

const SEARCHABLE = "status = 'enabled' AND role = 'user'";

/**
 * The matches of a search as `m(…users columns, tier, total)`, each branch cut at
 * SEARCH_MAX_RESULTS. The literal predicates match the partial indexes' (migration 0002).
 */
export function searchSql(q: string): { text: string; bindings: string[] } {
  const cap = SEARCH_MAX_RESULTS;
  if (q === '') {
    return {
      text: `SELECT m.*, count(*) OVER () AS total FROM (SELECT *, 0 AS tier FROM users WHERE ${SEARCHABLE} ORDER BY username USING ~<~ LIMIT ${cap}) m`,
      bindings: [],
    };
  }
  const prefix = `${escapeLike(q)}%`;
  const branches = [
    [`SELECT *, 0 AS tier FROM users WHERE ${SEARCHABLE} AND username = ?`, [q]],
    [`SELECT *, 0 AS tier FROM users WHERE ${SEARCHABLE} AND lower(name) = ? LIMIT ${cap}`, [q]],
    [`SELECT *, 1 AS tier FROM users WHERE ${SEARCHABLE} AND username LIKE ? ORDER BY username USING ~<~ LIMIT ${cap}`, [prefix]],
    [`SELECT *, 1 AS tier FROM users WHERE ${SEARCHABLE} AND lower(name) LIKE ? ORDER BY lower(name) USING ~<~ LIMIT ${cap}`, [prefix]],
  ] as Array<[string, string[]]>;
  if (/[\p{L}\p{N}]{3}/u.test(q)) {
    const infix = `%${escapeLike(q)}%`;
    branches.push(
      [`SELECT *, 2 AS tier FROM users WHERE ${SEARCHABLE} AND username LIKE ? ORDER BY username USING ~<~ LIMIT ${cap}`, [infix]],
      [`SELECT *, 2 AS tier FROM users WHERE ${SEARCHABLE} AND lower(name) LIKE ? ORDER BY username USING ~<~ LIMIT ${cap}`, [infix]],
    );
  }
  const union = branches.map(([t]) => `(${t})`).join(' UNION ALL ');
  // One row per user at its best tier; the count of those, capped, rides along on every row.
  return {
    text: `SELECT m.*, least(count(*) OVER (), ${cap}) AS total FROM (SELECT DISTINCT ON (id) * FROM (${union}) b ORDER BY id, tier) m`,
    bindings: branches.flatMap(([, b]) => b),
  };
}

export function createUsersRepository(db: Knex) {
  /** The capped match count alone (a page past the last match has no row to carry it). */
  const capped = async (q: string): Promise<number> => {
    const sql = searchSql(q);
    const { rows } = await db.raw<{ rows: Array<{ n: string }> }>(`SELECT count(*) AS n FROM (${sql.text}) c`, sql.bindings);
    return Math.min(Number(rows[0]?.n ?? 0), SEARCH_MAX_RESULTS);
  };

  return {
    async insert(u: { email: string; username: string; passwordHash: string; role?: 'user' | 'admin' }, trx: Knex = db): Promise<UserRow> {
      try {
        const [row] = await trx<UserRow>('users')
          .insert({ id: newId(), email: u.email, username: u.username, password_hash: u.passwordHash, role: u.role ?? 'user' })
          .returning('*');
        return row as UserRow;
      } catch (err) {
        return translate(err);
      }
    },

    async findById(id: string, trx: Knex = db): Promise<UserRow | undefined> {
      return trx<UserRow>('users').where({ id }).first();
    },

    /** The user, locked until `trx` ends (a change decided on what it read). */
    async lockById(trx: Knex, id: string): Promise<UserRow | undefined> {
      return trx<UserRow>('users').where({ id }).forUpdate().first();
    },

    async findByEmail(email: string, trx: Knex = db): Promise<UserRow | undefined> {
      return trx<UserRow>('users').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    /**
     * The account an email signs in to, and the key the login throttle counts it under: both
     * from Postgres's lower() in one statement, so the throttle can never split what the lookup
     * joins (JavaScript lower-cases `İ` to two code points; Postgres, here, to `i`).
     */
    async findForLogin(email: string): Promise<{ loginKey: string; user: UserRow | undefined }> {
      const { rows } = await db.raw<{ rows: Array<UserRow & { login_key: string }> }>(
        'SELECT k.login_key, u.* FROM (SELECT lower(?::text) AS login_key) k LEFT JOIN users u ON lower(u.email) = k.login_key LIMIT 1',
        [email],
      );
      const row = rows[0];
      if (!row) throw new Error('findForLogin: no row');
      const { login_key: loginKey, ...user } = row;
      return { loginKey, user: user.id ? (user as UserRow) : undefined };
    },

    /** Every user after id `after`, by id (keyset paging for the snapshot stream). */
    async pageAfter(after: string | undefined, limit: number): Promise<UserRow[]> {
      const q = db<UserRow>('users').orderBy('id').limit(limit);
      if (after !== undefined) q.where('id', '>', after);
      return q;
    },

    async findMany(ids: string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db<UserRow>('users').whereIn('id', ids);
    },

    /**
     * Enabled non-admin users matching username or name: exact, then prefix, then substring
     * (then by username). Bounded cost whatever the table's size: every branch is one index
     * range (`users_search_*` prefix btrees, the trigram GINs) cut at SEARCH_MAX_RESULTS rows, so
     * a call reads at most a few thousand index entries and sorts at most that many rows; no
     * whole-table sort or count. `total` is the number of matches capped at SEARCH_MAX_RESULTS.
     * Substring matches need three letters or digits in a row (a trigram to look up); shorter
     * queries match exact names and prefixes only.
     */
    async search(query: string, offset: number, limit: number): Promise<{ rows: UserRow[]; total: number }> {
      const q = query.trim().toLowerCase();
      const cap = SEARCH_MAX_RESULTS;
      if (offset >= cap) return { rows: [], total: await capped(q) };
      const sql = searchSql(q);
      const { rows } = await db.raw<{ rows: Array<UserRow & { tier: number; total: string }> }>(
        `${sql.text} ORDER BY m.tier, m.username COLLATE "C" OFFSET ? LIMIT ?`,
        [...sql.bindings, offset, Math.min(limit, cap - offset)],
      );
      const total = rows[0] ? Number(rows[0].total) : offset === 0 ? 0 : await capped(q);
      return { rows: rows.map(({ tier: _tier, total: _total, ...user }) => user), total };
    },

    async update(id: string, changes: ProfileChanges, trx: Knex = db): Promise<UserRow> {
      try {
        const [row] = await trx<UserRow>('users')
          .where({ id })
          .update({ ...changes, ...(changes.profile ? { profile: JSON.stringify(changes.profile) as never } : {}), updated_at: db.fn.now() as never })
          .returning('*');
        return row as UserRow;
      } catch (err) {
        return translate(err);
      }
    },

    async setStatus(id: string, status: UserRow['status'], trx: Knex): Promise<UserRow> {
      const [row] = await trx<UserRow>('users')
        .where({ id })
        .update({ status, updated_at: db.fn.now() as never })
        .returning('*');
      return row as UserRow;
    },

    async setRole(id: string, role: UserRow['role']): Promise<void> {
      await db('users').where({ id }).update({ role, updated_at: db.fn.now() });
    },

    async setPasswordHash(id: string, passwordHash: string, trx: Knex): Promise<void> {
      await trx('users').where({ id }).update({ password_hash: passwordHash, updated_at: db.fn.now() });
    },

    async disabledIds(): Promise<string[]> {
      const rows = await db<UserRow>('users').where({ status: 'disabled' }).select('id');
      return rows.map((r) => r.id);
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
