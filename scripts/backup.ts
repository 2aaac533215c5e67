/**
 * make backup / make restore (scripts/lib/backup.ts; the runbook is docs/deploy.md *Backups*).
 *
 *   make backup  [BACKUP_DIR=backups/<time>]   database (every schema, one snapshot) + objects
 *   make restore BACKUP_DIR=backups/<time>     into an empty database and bucket
 *   make backup-check                          where the database and the bucket disagree
 *
 * Reads where to: BACKUP_DATABASE_URL (a superuser or the database owner; default DATABASE_URL)
 * and content's S3_* variables (S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID,
 * S3_SECRET_ACCESS_KEY, S3_FORCE_PATH_STYLE), from the environment or .env. RESTORE_NO_OWNER=1
 * restores into a server without Shutter's roles. Needs pg_dump/pg_restore at least as new as
 * the server.
 */
import * as path from 'node:path';
import { loadDotEnv } from '@shutter/kit';
import { backup, reconcile, restore, type BucketAccess } from './lib/backup';

async function main() {
  loadDotEnv();
  const [command, dirArg] = process.argv.slice(2);
  const e = process.env;
  const databaseUrl = e.BACKUP_DATABASE_URL ?? e.DATABASE_URL;
  if (!databaseUrl) throw new Error('set BACKUP_DATABASE_URL (or DATABASE_URL): the database to back up or restore into');
  if (!e.S3_BUCKET) throw new Error('set S3_BUCKET (and S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY for a store other than AWS)');
  const bucket: BucketAccess = {
    endpoint: e.S3_ENDPOINT || undefined,
    region: e.S3_REGION ?? 'us-east-1',
    bucket: e.S3_BUCKET,
    accessKeyId: e.S3_ACCESS_KEY_ID || undefined,
    secretAccessKey: e.S3_SECRET_ACCESS_KEY || undefined,
    forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
  };
  const log = (m: string) => console.log(`${command}: ${m}`);
  if (command === 'backup') {
    const out = path.resolve(dirArg || `backups/${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const m = await backup({ databaseUrl, bucket, out, log });
    console.log(
      `backup: ${out} (${m.objects.length} objects${m.missing.length ? `; ${m.missing.length} referenced object(s) deleted after the snapshot, see manifest.json` : ''})`,
    );
  } else if (command === 'restore') {
    if (!dirArg) throw new Error('make restore BACKUP_DIR=<a backup directory>');
    await restore({ databaseUrl, bucket, from: path.resolve(dirArg), noOwner: e.RESTORE_NO_OWNER === '1', log });
    const r = await reconcile({ databaseUrl, bucket });
    console.log(
      `restore: done; ${r.missingObjects.length} row(s) without their object, ${r.unreferencedObjects.length} object(s) no row names (docs/deploy.md)`,
    );
  } else if (command === 'check') {
    const r = await reconcile({ databaseUrl, bucket });
    for (const k of r.missingObjects) console.log(`missing object: ${k}`);
    for (const k of r.unreferencedObjects) console.log(`unreferenced object: ${k}`);
    console.log(`check: ${r.missingObjects.length} row(s) without their object, ${r.unreferencedObjects.length} object(s) no row names`);
  } else {
    throw new Error('usage: scripts/backup.ts backup [dir] | restore <dir> | check');
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
