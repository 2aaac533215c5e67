import type { Migration } from '@shutter/kit/db';
import { outboxMigration, outboxTraceMigration, replicaStateMigration } from '@shutter/kit/db';

export const schema = 'notification';

export const migrations: Migration[] = [
  {
    name: '0001_notifications',
    async up(db) {
      await db.raw(`
        CREATE TABLE notifications (
          id uuid PRIMARY KEY,
          recipient_id uuid NOT NULL,
          type text NOT NULL CHECK (type IN ('friend_request', 'friend_agree', 'follow', 'like', 'comment')),
          actor_id uuid NOT NULL,
          post_id uuid,
          comment_id uuid,
          follows_id uuid,
          -- What the notification is about ("like:<post>:<user>", "follow:<follows_id>", …):
          -- withdrawals find their rows by it.
          subject text NOT NULL,
          message text NOT NULL,
          metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
          is_read boolean NOT NULL DEFAULT false,
          read_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          source_event_id uuid NOT NULL,
          -- One domain event makes at most one notification of each type (follow.created makes two).
          CONSTRAINT notifications_source_event_key UNIQUE (source_event_id, type)
        )`);
      // The recipient's list, newest first (ids are UUIDv7: id order is creation order), and the
      // stream's replay (id > Last-Event-ID).
      await db.raw('CREATE INDEX notifications_recipient_id ON notifications (recipient_id, id DESC)');
      // Unread counting and read-all touch only the unread rows.
      await db.raw('CREATE INDEX notifications_recipient_unread ON notifications (recipient_id) WHERE NOT is_read');
      // At most one live notification per subject, type and recipient (a repeated like is one).
      await db.raw('CREATE UNIQUE INDEX notifications_subject_key ON notifications (subject, type, recipient_id)');
      await db.raw('CREATE INDEX notifications_post ON notifications (post_id) WHERE post_id IS NOT NULL');
      // The exact unread count per user, changed in the same transaction as the rows it counts;
      // `version` orders the writes of that count into Redis.
      await db.raw(`
        CREATE TABLE unread_counts (
          user_id uuid PRIMARY KEY,
          count integer NOT NULL CHECK (count >= 0),
          version bigint NOT NULL
        )`);
      // The newest domain event applied per subject: an older one arriving late (a retried
      // entry overtaken by its successor) is stale and changes nothing.
      await db.raw(`
        CREATE TABLE subject_versions (
          subject text PRIMARY KEY,
          last_event_id uuid NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
    },
    async down(db) {
      await db.raw('DROP TABLE IF EXISTS subject_versions');
      await db.raw('DROP TABLE IF EXISTS unread_counts');
      await db.raw('DROP TABLE IF EXISTS notifications');
    },
  },
  outboxMigration,
  outboxTraceMigration,
  replicaStateMigration,
  {
    // identity's users as a kit replica (actors.ts): who acted, as notifications show them.
    name: '0002_actors_replica',
    async up(db) {
      await db.raw(`
        CREATE TABLE actors (
          id uuid PRIMARY KEY,
          username text NOT NULL,
          name text NOT NULL,
          profile jsonb NOT NULL,
          profile_image_key text NOT NULL,
          version bigint NOT NULL
        )`);
    },
  },
];
