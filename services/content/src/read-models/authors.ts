import type { events, identity } from '@shutter/proto';
import type { Logger } from '@shutter/kit';
import { defineReplica, type Knex } from '@shutter/kit/db';
import type { Peers } from '../peers';
import type { PostReads } from '../posts/read-path';

export interface AuthorRow {
  id: string;
  username: string;
  name: string;
  is_public: boolean;
  status: 'enabled' | 'disabled';
  profile_image_key: string | null;
}

const fromUser = (u: identity.User) => ({
  id: u.userId,
  username: u.username,
  name: u.name,
  is_public: u.isPublic,
  status: u.status === 'disabled' ? 'disabled' : 'enabled',
  profile_image_key: u.profileImageKey || null,
  profile: JSON.stringify(u.profile ?? {}),
  version: u.version ?? 1,
});

/** identity's users as a versioned replica (kit defineReplica): an event applies only if newer. */
const replica = defineReplica({ table: 'authors', key: ['id'], fields: ['username', 'name', 'is_public', 'status', 'profile_image_key', 'profile'] });

/**
 * Content's read model of identity's users: what posts and comments show (username, name,
 * avatar key) and what visibility needs (privacy, status). identity's events keep it current
 * (see events-consumer.ts); a user never seen is filled from identity in one batch call.
 */
export function createAuthors(deps: { db: Knex; peers: Peers; reads: PostReads; log: Logger }) {
  const { db, peers, reads } = deps;

  return {
    /** The rows of these users, filling misses from identity; unknown users are left out. */
    async get(ids: string[], requestId?: string): Promise<Map<string, AuthorRow>> {
      const wanted = [...new Set(ids)];
      const found = new Map<string, AuthorRow>();
      if (wanted.length === 0) return found;
      for (const row of await db<AuthorRow>('authors').whereIn('id', wanted)) found.set(row.id, row);
      const missing = wanted.filter((id) => !found.has(id));
      if (missing.length === 0) return found;
      const res = await peers.identity.batchGetUsers({ userIds: missing }, { requestId });
      if (res.users.length === 0) return found;
      // Never overwrite: a row written meanwhile came from an event, which is at least as new.
      await db('authors').insert(res.users.map(fromUser)).onConflict('id').ignore();
      for (const row of await db<AuthorRow>('authors').whereIn('id', res.users.map((u) => u.userId))) found.set(row.id, row);
      return found;
    },

    /**
     * user.created / updated / disabled / enabled carrying the whole state at identity's version:
     * applied only when newer than the row held, so no redelivery, reordering or replay moves the
     * author back (a private account can never read as public again). A status change moves the
     * author's comments out of (or back into) the counts in the same transaction. Answers the
     * avatar key the change replaced (null if none).
     */
    async applyState(trx: Knex, u: events.UserState): Promise<string | null> {
      const version = Number(u.version);
      const status = u.status === 'disabled' ? 'disabled' : 'enabled';
      const state = { id: u.userId, username: u.username, name: u.name, is_public: u.isPublic, status, profile_image_key: u.profileImageKey || null, profile: u.profileJson || '{}' };
      const res = await replica.apply(trx, state, version);
      if (!res.applied) return null;
      await reads.authorChanged(u.userId, version);
      const before = res.before as AuthorRow | undefined;
      if (before && before.status !== status) await recount(trx, u.userId, status);
      return before?.profile_image_key && before.profile_image_key !== state.profile_image_key ? before.profile_image_key : null;
    },

    /** user.created: a first row (an existing one, filled from identity, is newer). */
    async created(trx: Knex, u: { userId: string; username: string; isPublic: boolean }): Promise<void> {
      await trx('authors').insert({ id: u.userId, username: u.username, is_public: u.isPublic }).onConflict('id').ignore();
    },

    /** user.updated: the new public fields; answers the avatar key it replaced (null if none). */
    async updated(trx: Knex, u: { userId: string; username: string; name: string; isPublic: boolean; profileImageKey: string; profileJson?: string }): Promise<string | null> {
      const before = await trx<AuthorRow>('authors').where({ id: u.userId }).forUpdate().first();
      const fields = {
        username: u.username,
        name: u.name,
        is_public: u.isPublic,
        profile_image_key: u.profileImageKey || null,
        ...(u.profileJson ? { profile: u.profileJson } : {}),
        updated_at: trx.fn.now(),
      };
      const [row] = await trx('authors')
        .insert({ id: u.userId, ...fields })
        .onConflict('id')
        .merge(fields)
        .returning('version');
      await reads.authorChanged(u.userId, (row as { version: string }).version);
      return before?.profile_image_key && before.profile_image_key !== (u.profileImageKey || null) ? before.profile_image_key : null;
    },

    /**
     * user.disabled / user.enabled. A disabled author's comments are visible to no one, so they
     * leave (or rejoin) the comment counts, in the same transaction as the status change.
     * Comment writes lock the author row FOR SHARE, so counts stay exact under concurrency.
     */
    async statusChanged(trx: Knex, userId: string, status: 'enabled' | 'disabled', requestId?: string): Promise<void> {
      const changed = await trx('authors').where({ id: userId }).whereNot({ status }).update({ status, updated_at: trx.fn.now() }, ['id', 'version']);
      if (changed.length) await reads.authorChanged(userId, (changed[0] as { version: string }).version);
      if (changed.length === 0) {
        const exists = await trx('authors').where({ id: userId }).first('id');
        if (exists) return;
        // Never seen (its user.created fell off the stream): take the whole row from identity.
        const res = await peers.identity.batchGetUsers({ userIds: [userId] }, { requestId });
        const user = res.users[0];
        if (user) await trx('authors').insert({ ...fromUser(user), status }).onConflict('id').merge(['status']);
        return;
      }
      await recount(trx, userId, status);
    },
  };

  /** A disabled author's comments leave the counts (an enabled one's come back). */
  async function recount(trx: Knex, userId: string, status: 'enabled' | 'disabled'): Promise<void> {
      const sign = status === 'disabled' ? '-' : '+';
      const res = await trx.raw(
        `UPDATE posts p SET comment_count = p.comment_count ${sign} c.n
           FROM (SELECT post_id, count(*)::int AS n FROM comments WHERE author_id = ? GROUP BY post_id) c
          WHERE p.id = c.post_id RETURNING p.id, p.version`,
        [userId],
      );
      // Their counts and newest comments changed.
      await reads.postsChanged(res.rows as Array<{ id: string; version: string }>);
  }
}

export type Authors = ReturnType<typeof createAuthors>;
