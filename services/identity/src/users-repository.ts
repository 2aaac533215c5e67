import { alreadyExists, isUniqueViolation, newId, type Knex } from '@shutter/kit';

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

export function createUsersRepository(db: Knex) {
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

    async findByEmail(email: string, trx: Knex = db): Promise<UserRow | undefined> {
      return trx<UserRow>('users').whereRaw('lower(email) = lower(?)', [email]).first();
    },

    async findMany(ids: string[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db<UserRow>('users').whereIn('id', ids);
    },

    /** Enabled non-admin users matching username or name; exact, then prefix, then substring. */
    async search(query: string, offset: number, limit: number): Promise<{ rows: UserRow[]; total: number }> {
      const q = query.trim().toLowerCase();
      const base = db<UserRow>('users').where({ status: 'enabled', role: 'user' });
      if (q !== '') {
        const like = `%${escapeLike(q)}%`;
        base.andWhere((w) => w.where('username', 'like', like).orWhereRaw("lower(name) LIKE ? ESCAPE '\\'", [like]));
      }
      const prefix = `${escapeLike(q)}%`;
      const [rows, count] = await Promise.all([
        base
          .clone()
          .select('*')
          .orderByRaw(
            `CASE WHEN username = ? OR lower(name) = ? THEN 0 WHEN username LIKE ? ESCAPE '\\' OR lower(name) LIKE ? ESCAPE '\\' THEN 1 ELSE 2 END, username`,
            [q, q, prefix, prefix],
          )
          .offset(offset)
          .limit(limit),
        base.clone().count<{ count: number }[]>('* as count'),
      ]);
      return { rows, total: Number(count[0]?.count ?? 0) };
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
      const [row] = await trx<UserRow>('users').where({ id }).update({ status, updated_at: db.fn.now() as never }).returning('*');
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
