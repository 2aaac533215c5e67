import type { Migration } from '@shutter/kit/db';
import { outboxMigration, outboxTraceMigration, replicaStateMigration } from '@shutter/kit/db';

export const schema = 'identity';

export const migrations: Migration[] = [
  {
    name: '0001_users',
    async up(db) {
      await db.raw('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public');
      await db.raw(`
        CREATE TABLE users (
          id uuid PRIMARY KEY,
          email text NOT NULL,
          username text NOT NULL,
          name text NOT NULL DEFAULT '',
          password_hash text NOT NULL,
          role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
          status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
          is_public boolean NOT NULL DEFAULT false,
          profile jsonb NOT NULL DEFAULT '{}'::jsonb,
          profile_image_key text,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      await db.raw('CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))');
      await db.raw('CREATE UNIQUE INDEX users_username_key ON users (username)');
      // Search: trigram indexes serve ILIKE '%q%' on username and name.
      await db.raw('CREATE INDEX users_username_trgm ON users USING gin (username public.gin_trgm_ops)');
      await db.raw('CREATE INDEX users_name_trgm ON users USING gin (lower(name) public.gin_trgm_ops)');
      await db.raw(`
        CREATE TABLE refresh_tokens (
          id uuid PRIMARY KEY,
          family_id uuid NOT NULL,
          user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
          token_hash text NOT NULL UNIQUE,
          expires_at timestamptz NOT NULL,
          used_at timestamptz,
          revoked_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await db.raw('CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)');
      await db.raw('CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL');
    },
  },
  outboxMigration,
  outboxTraceMigration,
  {
    // A session is one sign-in: the access tokens' `sid` and the refresh-token family. Existing
    // families become sessions (ended if every token in them was revoked).
    name: 'sessions_v1',
    async up(db) {
      await db.raw(`
        CREATE TABLE sessions (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
          created_at timestamptz NOT NULL DEFAULT now(),
          ended_at timestamptz,
          end_reason text
        )`);
      await db.raw('CREATE INDEX sessions_user_open ON sessions (user_id) WHERE ended_at IS NULL');
      await db.raw('CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL');
      await db.raw(`
        INSERT INTO sessions (id, user_id, created_at, ended_at, end_reason)
        SELECT family_id, (array_agg(user_id))[1], min(created_at),
               CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END,
               CASE WHEN bool_and(revoked_at IS NOT NULL) THEN 'logout' END
        FROM refresh_tokens GROUP BY family_id`);
    },
  },
  {
    // Bounded search (users-repository `search`): prefix and exact matches read these btrees in
    // order (text_pattern_ops serves LIKE 'q%' in any collation); partial, like the query.
    name: 'search_prefix_indexes_v1',
    async up(db) {
      await db.raw("CREATE INDEX users_search_username ON users (username text_pattern_ops) WHERE status = 'enabled' AND role = 'user'");
      await db.raw("CREATE INDEX users_search_name ON users (lower(name) text_pattern_ops) WHERE status = 'enabled' AND role = 'user'");
    },
  },
  {
    name: '0002_profile_replicas',
    async up(db) {
      // Replica of social-graph's follow edges, one row per edge id (UUIDv7): an edge's status
      // only moves forward (pending → agree → removed), and a pair's relationship is its newest
      // edge, so events applied in any order, twice or late converge (profile-replicas.ts).
      await db.raw(`
        CREATE TABLE follow_edges (
          follows_id uuid PRIMARY KEY,
          follower_id uuid NOT NULL,
          followee_id uuid NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'agree', 'removed'))
        )`);
      await db.raw('CREATE INDEX follow_edges_pair ON follow_edges (follower_id, followee_id, follows_id DESC)');
      // Agree counts, kept with the edges in the applying transaction.
      await db.raw(`
        CREATE TABLE follow_counts (
          user_id uuid PRIMARY KEY,
          follower_count integer NOT NULL DEFAULT 0,
          following_count integer NOT NULL DEFAULT 0
        )`);
      // Replica of content's posts (ids and authors only; a deleted one stays as a tombstone).
      await db.raw('CREATE TABLE author_posts (post_id uuid PRIMARY KEY, author_id uuid NOT NULL, deleted boolean NOT NULL)');
      await db.raw('CREATE TABLE post_counts (user_id uuid PRIMARY KEY, post_count integer NOT NULL DEFAULT 0)');
    },
  },
  {
    name: '0003_user_versions',
    async up(db) {
      // Replicas of users (content's authors) apply an event only when its version is newer.
      await db.raw('ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1');
      await db.raw(`
        CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$`);
      await db.raw('CREATE TRIGGER users_version BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION bump_version()');
    },
  },
  // The backfill record of the edge replica (kit createReplicaBackfill).
  replicaStateMigration,
  {
    name: '0004_edge_versions',
    async up(db) {
      // follow_edges becomes a kit replica: its version is the status's rank (an edge only moves forward).
      await db.raw('ALTER TABLE follow_edges ADD COLUMN version bigint');
      await db.raw("UPDATE follow_edges SET version = CASE status WHEN 'pending' THEN 1 WHEN 'agree' THEN 2 ELSE 3 END");
      await db.raw('ALTER TABLE follow_edges ALTER COLUMN version SET NOT NULL');
    },
  },
  {
    name: '0005_post_versions',
    async up(db) {
      // author_posts becomes a kit replica: a post is created live (1), then deleted (2, terminal).
      await db.raw('ALTER TABLE author_posts ADD COLUMN version bigint');
      await db.raw('UPDATE author_posts SET version = CASE WHEN deleted THEN 2 ELSE 1 END');
      await db.raw('ALTER TABLE author_posts ALTER COLUMN version SET NOT NULL');
    },
  },
];
