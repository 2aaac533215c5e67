import { newId } from '@shutter/kit';
import { pageWithTotal, type Knex } from '@shutter/kit/db';
import type { NotificationType } from '@shutter/contracts';
import type { Template } from './event-mapper';

/** The actor as identity described them when the notification was made. */
export interface ActorSnapshot {
  user_id: string;
  username: string;
  name: string;
  profile: Record<string, unknown>;
  profile_image_key: string;
}

/** The `metadata` column: how to word the message, and who acted. */
export interface StoredMetadata {
  template: Template;
  actor: ActorSnapshot;
}

export interface NotificationRow {
  id: string;
  recipient_id: string;
  type: NotificationType;
  actor_id: string;
  post_id: string | null;
  comment_id: string | null;
  follows_id: string | null;
  subject: string;
  message: string;
  metadata: StoredMetadata;
  is_read: boolean;
  read_at: Date | null;
  created_at: Date;
  source_event_id: string;
}

export type NewRow = Omit<NotificationRow, 'id' | 'read_at' | 'created_at'>;

/** A user's unread count as Postgres holds it; `version` grows with every change. */
export interface UnreadState {
  count: number;
  version: number;
}

export function createNotificationsRepository(db: Knex) {
  const table = (q: Knex = db) => q<NotificationRow>('notifications');

  return {
    /**
     * Records `eventId` as the newest event about `subject`. False when a newer one was already
     * applied: this event is stale (a retry overtaken by its successor) and must change nothing.
     */
    async claimSubject(trx: Knex.Transaction, subject: string, eventId: string): Promise<boolean> {
      const rows = await trx.raw<{ rows: unknown[] }>(
        `INSERT INTO subject_versions (subject, last_event_id) VALUES (?, ?)
         ON CONFLICT (subject) DO UPDATE SET last_event_id = EXCLUDED.last_event_id, updated_at = now()
         WHERE subject_versions.last_event_id < EXCLUDED.last_event_id
         RETURNING subject`,
        [subject, eventId],
      );
      return rows.rows.length > 0;
    },

    /** Inserts the rows that do not exist yet (same source event and type, or same live subject). */
    async insert(trx: Knex.Transaction, rows: NewRow[]): Promise<NotificationRow[]> {
      if (rows.length === 0) return [];
      const values = rows.map((r) => ({ ...r, id: newId(), metadata: JSON.stringify(r.metadata) as never }));
      return table(trx).insert(values).onConflict().ignore().returning('*') as Promise<NotificationRow[]>;
    },

    /** Deletes the live notifications of a subject and type; answers what went (for the counts). */
    async withdraw(trx: Knex.Transaction, subject: string, type: NotificationType): Promise<Array<Pick<NotificationRow, 'recipient_id' | 'is_read'>>> {
      return table(trx).where({ subject, type }).del().returning(['recipient_id', 'is_read']);
    },

    /** Deletes every notification about a post (it was deleted). */
    async withdrawPost(trx: Knex.Transaction, postId: string): Promise<Array<Pick<NotificationRow, 'recipient_id' | 'is_read'>>> {
      return table(trx).where({ post_id: postId }).del().returning(['recipient_id', 'is_read']);
    },

    /**
     * Changes a user's unread count by `delta` in the caller's transaction and bumps its version.
     * Callers change the notifications first and the count last, users in id order (no deadlocks).
     */
    async addUnread(trx: Knex.Transaction, userId: string, delta: number): Promise<UnreadState> {
      // Only additions can meet a missing row (and CHECK applies to the row an upsert proposes).
      const sql =
        delta > 0
          ? `INSERT INTO unread_counts (user_id, count, version) VALUES (?, ?, 1)
             ON CONFLICT (user_id) DO UPDATE SET count = unread_counts.count + EXCLUDED.count, version = unread_counts.version + 1
             RETURNING count, version`
          : `UPDATE unread_counts SET count = count + ?, version = version + 1 WHERE user_id = ? RETURNING count, version`;
      const res = await trx.raw<{ rows: UnreadState[] }>(sql, delta > 0 ? [userId, delta] : [delta, userId]);
      const row = res.rows[0];
      if (!row) throw new Error(`no unread count to lower for user ${userId}`);
      return { count: Number(row.count), version: Number(row.version) };
    },

    async unreadState(userId: string): Promise<UnreadState> {
      const row = await db<{ user_id: string; count: number; version: string | number }>('unread_counts').where({ user_id: userId }).first('count', 'version');
      return row ? { count: Number(row.count), version: Number(row.version) } : { count: 0, version: 0 };
    },

    /** Newest first, offset paging. */
    async list(recipientId: string, offset: number, limit: number): Promise<{ rows: NotificationRow[]; total: number }> {
      return pageWithTotal<NotificationRow>(db, table().where({ recipient_id: recipientId }).orderBy('id', 'desc'), ['*'], offset, limit);
    },

    /** Created after `afterId`, oldest first (ids are UUIDv7, so id order is creation order). */
    async listAfter(recipientId: string, afterId: string, limit: number): Promise<NotificationRow[]> {
      return table().where({ recipient_id: recipientId }).andWhere('id', '>', afterId).orderBy('id', 'asc').limit(limit) as Promise<NotificationRow[]>;
    },

    /** 'marked' when it was unread, 'already' when read, 'missing' when not the recipient's. */
    async markRead(trx: Knex.Transaction, recipientId: string, id: string): Promise<'marked' | 'already' | 'missing'> {
      const marked = await table(trx)
        .where({ id, recipient_id: recipientId, is_read: false })
        .update({ is_read: true, read_at: trx.fn.now() as never })
        .returning('id');
      if (marked.length > 0) return 'marked';
      const exists = await table(trx).where({ id, recipient_id: recipientId }).first('id');
      return exists ? 'already' : 'missing';
    },

    /** Marks every unread notification the recipient has now; answers how many. */
    async markAllRead(trx: Knex.Transaction, recipientId: string): Promise<number> {
      const rows = await table(trx)
        .where({ recipient_id: recipientId, is_read: false })
        .update({ is_read: true, read_at: trx.fn.now() as never })
        .returning('id');
      return rows.length;
    },
  };
}

export type NotificationsRepository = ReturnType<typeof createNotificationsRepository>;
