/**
 * Backups of a Shutter deployment: the database (every schema, one consistent snapshot) and the
 * objects of the media bucket, and their restore into a fresh database and bucket.
 *
 *   <dir>/db.dump        pg_dump --format=custom of the whole database (identity, graph, content,
 *                        notification, the migration tables, pg_trgm)
 *   <dir>/objects/<sha256 of the key>  every object of the bucket (manifest.json maps keys to files)
 *   <dir>/manifest.json  when, which objects (key, size, type), and the keys the database referred
 *                        to in the very snapshot dumped (referenced), with any of them the bucket
 *                        no longer had when the objects were copied (missing)
 *
 * Order: the snapshot first (pg_dump --snapshot of a transaction that also reads the referenced
 * keys), then the objects. Objects are written before the rows that name them and never
 * changed after, so every object the snapshot refers to is in the bucket unless it was deleted
 * (its post deleted) after the snapshot: those are listed as missing, and docs/deploy.md says
 * what a restore does about them.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client } from 'pg';

const run = promisify(execFile);

export interface BucketAccess {
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export interface Manifest {
  format: 1;
  created_at: string;
  bucket: string;
  objects: Array<{ key: string; size: number; content_type?: string }>;
  referenced: number;
  missing: string[];
}

/**
 * Object keys the content schema serves: post images and their variants, processed media (post
 * images and avatars) and theirs. Uploaded originals are not among them: the photo pipeline
 * replaces them with processed objects and the sweeper deletes them (services/content).
 */
const REFERENCED_KEYS_SQL = `
  SELECT key FROM content.post_images
  UNION SELECT v->>'key' FROM content.post_images, jsonb_array_elements(variants) v
  UNION SELECT processed_key FROM content.media WHERE processed_key IS NOT NULL
  UNION SELECT v->>'key' FROM content.media, jsonb_array_elements(variants) v`;

function client(b: BucketAccess): S3Client {
  return new S3Client({
    endpoint: b.endpoint,
    region: b.region,
    forcePathStyle: b.forcePathStyle,
    credentials: b.accessKeyId && b.secretAccessKey ? { accessKeyId: b.accessKeyId, secretAccessKey: b.secretAccessKey } : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function listKeys(s3: S3Client, bucket: string): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Where an object's bytes are kept: a file named by the SHA-256 of its key (the manifest keeps the
 * key). S3 keys are not paths: `a` and `a/b` can both exist, and a key can hold `..`.
 */
function objectPath(root: string, key: string): string {
  return path.join(root, crypto.createHash('sha256').update(key).digest('hex'));
}

export async function backup(opts: { databaseUrl: string; bucket: BucketAccess; out: string; log?: (m: string) => void }): Promise<Manifest> {
  const log = opts.log ?? (() => undefined);
  fs.mkdirSync(path.join(opts.out, 'objects'), { recursive: true });
  // One snapshot for the dump and the referenced keys: the transaction stays open until both ran.
  const pg = new Client({ connectionString: opts.databaseUrl });
  await pg.connect();
  let referenced: string[];
  try {
    await pg.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await pg.query('SELECT pg_export_snapshot() AS id')).rows[0].id as string;
    referenced = (await pg.query(REFERENCED_KEYS_SQL)).rows.map((r: { key: string }) => r.key);
    await run('pg_dump', ['--format=custom', `--snapshot=${snapshot}`, `--file=${path.join(opts.out, 'db.dump')}`, `--dbname=${opts.databaseUrl}`]);
    await pg.query('COMMIT');
  } finally {
    await pg.end();
  }
  log(`database dumped (${fs.statSync(path.join(opts.out, 'db.dump')).size} bytes, ${referenced.length} object keys referenced)`);

  const s3 = client(opts.bucket);
  try {
    const objects: Manifest['objects'] = [];
    for (const { key } of await listKeys(s3, opts.bucket.bucket)) {
      const res = await s3.send(new GetObjectCommand({ Bucket: opts.bucket.bucket, Key: key }));
      const bytes = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
      const file = objectPath(path.join(opts.out, 'objects'), key);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, bytes);
      objects.push({ key, size: bytes.length, content_type: res.ContentType });
    }
    const have = new Set(objects.map((o) => o.key));
    const manifest: Manifest = {
      format: 1,
      created_at: new Date().toISOString(),
      bucket: opts.bucket.bucket,
      objects,
      referenced: referenced.length,
      missing: referenced.filter((k) => !have.has(k)).sort(),
    };
    fs.writeFileSync(path.join(opts.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`${objects.length} objects copied; ${manifest.missing.length} referenced key(s) were already gone from the bucket`);
    return manifest;
  } finally {
    s3.destroy();
  }
}

/**
 * Restores `from` into an empty database and bucket. `noOwner`: the target has no Shutter roles
 * (objects then belong to the restoring user); otherwise the roles must exist (infra/postgres/init.sql).
 */
export async function restore(opts: {
  databaseUrl: string;
  bucket: BucketAccess;
  from: string;
  noOwner?: boolean;
  log?: (m: string) => void;
}): Promise<{ objects: number }> {
  const log = opts.log ?? (() => undefined);
  const manifest = JSON.parse(fs.readFileSync(path.join(opts.from, 'manifest.json'), 'utf8')) as Manifest;
  // --clean --if-exists: a target whose schemas init.sql already made is fine; --exit-on-error:
  // a half restore is an error, not a warning count.
  await run('pg_restore', [
    '--clean',
    '--if-exists',
    '--exit-on-error',
    ...(opts.noOwner ? ['--no-owner', '--no-acl'] : []),
    `--dbname=${opts.databaseUrl}`,
    path.join(opts.from, 'db.dump'),
  ]);
  log('database restored');
  const s3 = client(opts.bucket);
  try {
    for (const o of manifest.objects) {
      const body = fs.readFileSync(objectPath(path.join(opts.from, 'objects'), o.key));
      await s3.send(new PutObjectCommand({ Bucket: opts.bucket.bucket, Key: o.key, Body: body, ContentLength: body.length, ContentType: o.content_type }));
    }
  } finally {
    s3.destroy();
  }
  log(`${manifest.objects.length} objects restored`);
  return { objects: manifest.objects.length };
}

/**
 * Where the database and the bucket disagree: rows whose object is missing, and objects no row
 * names (docs/deploy.md *When the database and the bucket disagree*).
 */
export async function reconcile(opts: { databaseUrl: string; bucket: BucketAccess }): Promise<{ missingObjects: string[]; unreferencedObjects: string[] }> {
  const pg = new Client({ connectionString: opts.databaseUrl });
  await pg.connect();
  let referenced: Set<string>;
  try {
    referenced = new Set((await pg.query(REFERENCED_KEYS_SQL)).rows.map((r: { key: string }) => r.key));
  } finally {
    await pg.end();
  }
  const s3 = client(opts.bucket);
  try {
    const keys = new Set((await listKeys(s3, opts.bucket.bucket)).map((o) => o.key));
    return { missingObjects: [...referenced].filter((k) => !keys.has(k)).sort(), unreferencedObjects: [...keys].filter((k) => !referenced.has(k)).sort() };
  } finally {
    s3.destroy();
  }
}
