import type { Migration } from '@shutter/kit/db';
import { outboxMigration, outboxTraceMigration, replicaStateMigration } from '@shutter/kit/db';

export const schema = 'content';

export const migrations: Migration[] = [
  outboxMigration,
  {
    name: '0001_content',
    async up(db) {
      await db.raw('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public');

      // Read model of identity's users (fed by user.* events, filled from identity on a miss).
      await db.raw(`
        CREATE TABLE authors (
          id uuid PRIMARY KEY,
          username text NOT NULL,
          name text NOT NULL DEFAULT '',
          is_public boolean NOT NULL,
          status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
          profile_image_key text,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);

      // Read model of social-graph's agree edges (fed by follow.* events). follow_sync lists the
      // viewers whose followees were loaded once from social-graph (StreamFollowing).
      await db.raw(`
        CREATE TABLE follows (
          follower_id uuid NOT NULL,
          followee_id uuid NOT NULL,
          PRIMARY KEY (follower_id, followee_id)
        )`);
      await db.raw('CREATE TABLE follow_sync (user_id uuid PRIMARY KEY, synced_at timestamptz NOT NULL DEFAULT now())');

      // Every object content put in S3 (or handed out a presigned POST for), until it is deleted.
      await db.raw(`
        CREATE TABLE media (
          id uuid PRIMARY KEY,
          owner_id uuid NOT NULL,
          key text NOT NULL UNIQUE,
          source text NOT NULL CHECK (source IN ('stream', 'presigned')),
          declared_type text NOT NULL,
          max_bytes bigint NOT NULL,
          content_type text,
          size_bytes bigint,
          width integer,
          height integer,
          sha256 text,
          verified_at timestamptz,
          used_for text CHECK (used_for IN ('post', 'profile')),
          used_at timestamptz,
          post_id uuid,
          expires_at timestamptz NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await db.raw('CREATE INDEX media_unused_expiry ON media (expires_at) WHERE used_at IS NULL');
      await db.raw('CREATE INDEX media_post ON media (post_id) WHERE post_id IS NOT NULL');

      await db.raw(`
        CREATE TABLE posts (
          id uuid PRIMARY KEY,
          author_id uuid NOT NULL,
          content text NOT NULL,
          like_count integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
          comment_count integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      // Timelines: one author's posts newest first (ids are UUIDv7, so id order is time order).
      await db.raw('CREATE INDEX posts_author_id ON posts (author_id, id DESC)');
      // Search: a trigram index serves lower(content) LIKE '%q%'.
      await db.raw('CREATE INDEX posts_content_trgm ON posts USING gin (lower(content) public.gin_trgm_ops)');

      await db.raw(`
        CREATE TABLE post_images (
          post_id uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
          position smallint NOT NULL,
          media_id uuid NOT NULL,
          key text NOT NULL,
          width integer NOT NULL,
          height integer NOT NULL,
          PRIMARY KEY (post_id, position)
        )`);

      await db.raw(`
        CREATE TABLE likes (
          post_id uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
          user_id uuid NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (post_id, user_id)
        )`);

      await db.raw(`
        CREATE TABLE comments (
          id uuid PRIMARY KEY,
          post_id uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
          author_id uuid NOT NULL,
          content text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      await db.raw('CREATE INDEX comments_post_id ON comments (post_id, id DESC)');
      await db.raw('CREATE INDEX comments_author ON comments (author_id)');

      // Idempotency-Key of POST /api/posts: per user, 24 hours.
      await db.raw(`
        CREATE TABLE idempotency_keys (
          user_id uuid NOT NULL,
          key text NOT NULL,
          fingerprint text NOT NULL,
          post_id uuid NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (user_id, key)
        )`);
      await db.raw('CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)');
    },
  },
  {
    name: '0002_feed',
    async up(db) {
      // Authors not fanned out (more followers than FEED_FANOUT_MAX_FOLLOWERS when they posted):
      // their posts are merged into home feeds at read time. Sticky: once big, always merged.
      await db.raw('CREATE TABLE big_authors (author_id uuid PRIMARY KEY, marked_at timestamptz NOT NULL DEFAULT now())');
    },
  },
  {
    name: '0003_photos',
    async up(db) {
      // The photo pipeline (media/image-processor.ts): what a media id was processed into. `key`
      // stays the uploaded object (the presigned POST's target, or a kept original); served
      // objects live under new keys below it. variants: [{key, width, height}], narrowest first.
      await db.raw(`
        ALTER TABLE media
          ADD COLUMN processed_key text UNIQUE,
          ADD COLUMN processed_type text,
          ADD COLUMN processed_long_side integer,
          ADD COLUMN blurhash text,
          ADD COLUMN variants jsonb NOT NULL DEFAULT '[]',
          ADD COLUMN processed_at timestamptz,
          ADD COLUMN original_deleted_at timestamptz,
          ADD COLUMN process_error text`);
      // Used presigned uploads whose original object may still need deleting (sweeper.ts).
      await db.raw(
        `CREATE INDEX media_original_pending ON media (created_at) WHERE source = 'presigned' AND used_at IS NOT NULL AND original_deleted_at IS NULL`,
      );
      // Images uploaded before the pipeline (backfill.ts walks these by id).
      await db.raw('CREATE INDEX media_unprocessed ON media (id) WHERE processed_key IS NULL AND used_at IS NOT NULL');
      await db.raw(`ALTER TABLE post_images ADD COLUMN blurhash text, ADD COLUMN variants jsonb NOT NULL DEFAULT '[]'`);
      await db.raw('CREATE INDEX post_images_media ON post_images (media_id)');
    },
  },
  outboxTraceMigration,
  {
    name: '0004_versions',
    async up(db) {
      // Versions of the rows whose copies live in Redis (cache/versioned.ts): posts' bumped by a
      // trigger on every update, in the changing transaction.
      await db.raw('ALTER TABLE posts ADD COLUMN version bigint NOT NULL DEFAULT 1');
      await db.raw("ALTER TABLE authors ADD COLUMN version bigint NOT NULL DEFAULT 1, ADD COLUMN profile jsonb NOT NULL DEFAULT '{}'");
      await db.raw(`
        CREATE FUNCTION bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $$`);
      await db.raw('CREATE TRIGGER posts_version BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION bump_version()');
      // authors.version is identity's own version of the user (a replica: kit defineReplica).
      // Versions of per-user sets: the posts a user liked, the authors a user follows.
      await db.raw('CREATE TABLE like_versions (user_id uuid PRIMARY KEY, version bigint NOT NULL)');
      await db.raw('CREATE TABLE follow_versions (follower_id uuid PRIMARY KEY, version bigint NOT NULL)');
      // Fan-out reads an author's followers from this replica in one statement.
      await db.raw('CREATE INDEX follows_followee ON follows (followee_id, follower_id)');
      await db.raw('CREATE INDEX likes_user ON likes (user_id, post_id)');
      // Replica of social-graph's edges by edge id (kit defineReplica, version = the status's rank:
      // an edge only moves pending → agree → removed; a re-follow is a newer UUIDv7 id). A pair's
      // state is its newest edge; `follows` holds the pairs whose newest edge is agree.
      await db.raw(`
        CREATE TABLE follow_edges (
          follows_id uuid PRIMARY KEY,
          follower_id uuid NOT NULL,
          followee_id uuid NOT NULL,
          status text NOT NULL CHECK (status IN ('pending', 'agree', 'removed')),
          version bigint NOT NULL
        )`);
      await db.raw('CREATE INDEX follow_edges_pair ON follow_edges (follower_id, followee_id, follows_id DESC)');
    },
  },
  // The replicas' backfill record (kit createReplicaBackfill): an existing deployment has none, so
  // its replicas backfill once from their owners on the first start of this version.
  replicaStateMigration,
  {
    name: '0005_complete_replicas',
    async up(db) {
      // Viewers whose followees were loaded from social-graph on first read: the backfilled edge replica replaces it.
      await db.raw('DROP TABLE follow_sync');
    },
  },
  {
    name: '0006_pending_cache_marks',
    async up(db) {
      // Markers of Redis copies owed by writes that committed while Redis was unreachable
      // (cache/pending-marks.ts): one row per copy, the highest version owed.
      await db.raw(`
        CREATE TABLE pending_cache_marks (
          cache text NOT NULL,
          id text NOT NULL,
          version bigint NOT NULL,
          recorded_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (cache, id)
        )`);
    },
  },
];
