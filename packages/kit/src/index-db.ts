/**
 * `@shutter/kit/db`: the parts that need Postgres (knex, pg): the pool and migrations, the outbox
 * and its relay and consumer, read replicas, and `runService` (which opens the pool). Apart from
 * the root entry so a process without a database (the gateway) never loads knex or pg.
 */
export * from './db';
export * from './outbox';
export * from './replica';
export * from './run-service';
