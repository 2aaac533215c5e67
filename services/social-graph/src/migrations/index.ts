import type { Migration } from '@shutter/kit/db';
import { outboxMigration, outboxTraceMigration, replicaStateMigration } from '@shutter/kit/db';

export const schema = 'graph';

export const migrations: Migration[] = [
  {
    name: '0001_follows',
    async up(db) {
      await db.raw(`
        CREATE TABLE follows (
          id uuid PRIMARY KEY,
          follower_id uuid NOT NULL,
          followee_id uuid NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'agree')),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id),
          CONSTRAINT follows_no_self CHECK (follower_id <> followee_id)
        )`);
      // Lists, newest first, one per direction and status.
      await db.raw('CREATE INDEX follows_followee_list ON follows (followee_id, status, created_at DESC, id DESC)');
      await db.raw('CREATE INDEX follows_follower_list ON follows (follower_id, status, created_at DESC, id DESC)');
      // The reverse of the pair key: "does X follow the viewer" lookups and follower streams by id.
      await db.raw('CREATE INDEX follows_followee_follower ON follows (followee_id, follower_id) INCLUDE (status)');
      // Agree edges only, kept in the transaction of every edge change (see README: why a table).
      await db.raw(`
        CREATE TABLE follow_counts (
          user_id uuid PRIMARY KEY,
          follower_count integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
          following_count integer NOT NULL DEFAULT 0 CHECK (following_count >= 0)
        )`);
      // Read model of identity's disabled accounts (user.disabled / user.enabled): lists skip them.
      await db.raw(`
        CREATE TABLE disabled_users (
          user_id uuid PRIMARY KEY,
          disabled_at timestamptz NOT NULL DEFAULT now()
        )`);
    },
  },
  outboxMigration,
  outboxTraceMigration,
  replicaStateMigration,
  {
    // identity's users as a kit replica (users.ts), backfilled once from identity's snapshot; it
    // answers the follow rules' look-ups and holds the disabled accounts the lists filter on.
    name: '0002_users_replica',
    async up(db) {
      await db.raw(`
        CREATE TABLE users (
          id uuid PRIMARY KEY,
          is_public boolean NOT NULL,
          status text NOT NULL CHECK (status IN ('enabled', 'disabled')),
          version bigint NOT NULL
        )`);
      // The replica's backfill brings every disabled account again.
      await db.raw('DROP TABLE disabled_users');
    },
  },
];
