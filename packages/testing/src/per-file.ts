import { createHash } from 'node:crypto';
import { createDatabase, withDatabase } from './backends';

/**
 * Runs before each test file (jest `setupFilesAfterEnv`): the file gets its own copy of the run's
 * migrated template database and its own Redis prefix. Files that run side by side in jest's
 * workers then never share an outbox, an event stream, a consumer group or a cache — a relay in
 * one file can no longer deliver another file's events to its own services.
 *
 * The variables are set now, synchronously, so code at a test module's top level reads them; the
 * database itself is created before the file's first hook.
 */
const runId = process.env.TEST_RUN_ID;
const adminUrl = process.env.TEST_PG_ADMIN_URL;
const template = process.env.TEST_TEMPLATE_DATABASE;
if (runId) {
  const file = createHash('sha1')
    .update(expect.getState().testPath ?? String(Math.random()))
    .digest('hex')
    .slice(0, 10);
  process.env.TEST_REDIS_PREFIX = `${process.env.TEST_RUN_REDIS_PREFIX ?? `test:${runId}:`}${file}:`;
  // The fast tier (TEST_TIER=fast) has no database.
  if (adminUrl && template) {
    const database = `${template}_${file}`;
    process.env.TEST_DATABASE_NAME = database;
    process.env.TEST_DATABASE_URL = withDatabase(adminUrl, database);
    beforeAll(() => createDatabase(adminUrl, database, template), 60_000);
  }
}
