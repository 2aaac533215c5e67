import type { events } from '@shutter/proto';
import { createLogger, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { backfillReadsAgain, prng, raceBackfill, testDb, unique } from '@shutter/testing';
import { actorsReplica, createActors } from '../src/actors';
import { migrations } from '../src/migrations';

/**
 * Property test of notification's replica of identity's users (who acted, as notifications show
 * them): started EMPTY against an owner that already has users (their past events are gone), the
 * snapshot read page by page while the owner keeps changing, the events of those changes
 * delivered during and after the backfill, duplicated and reordered. It always converges to the
 * owner's users, and a restart does not backfill again.
 */

const schema = unique('notif_actors_replica_');
const log = createLogger('test', 'silent');
let db: Knex;
let actors: ReturnType<typeof createActors>;

beforeAll(async () => {
  db = testDb(schema);
  await migrate(db, schema, migrations);
  actors = createActors(db);
});
afterAll(async () => {
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
});

const state = (userId: string, version: number, rand: () => number): events.UserState => ({
  userId,
  username: `u${Math.floor(rand() * 1e6)}`,
  name: `n${version}`,
  isPublic: rand() < 0.5,
  status: rand() < 0.2 ? 'disabled' : 'enabled',
  profileImageKey: rand() < 0.5 ? `avatars/${version}` : '',
  profileJson: JSON.stringify({ bio: `v${version}` }),
  version,
});

it.each(Array.from({ length: 8 }, (_, i) => i + 1))(
  'seed %i: an empty replica backfills from identity and converges with the events made meanwhile',
  async (seed) => {
    const rand = prng(1100 + seed);
    const ids = Array.from({ length: 8 }, () => newId()).sort();
    const backfill = (snapshot: () => AsyncIterable<events.UserState[]>) =>
      actorsReplica.backfillFrom({ db, log, name: `actors_${seed}`, snapshot, applyMany: (trx, users) => actors.applyStates(trx, users) });
    const owner = await raceBackfill({
      rand,
      ids,
      next: (id, version) => state(id, version, rand),
      stale: (u, version) => state(u.userId, version, rand),
      deliver: (users) => db.transaction((trx) => actors.applyStates(trx, users)),
      backfill,
    });

    const held = await actors.get(ids);
    expect(ids.map((id) => held.get(id))).toEqual(
      ids.map((id) => {
        const u = owner.get(id)!;
        return { user_id: id, username: u.username, name: u.name, profile: JSON.parse(u.profileJson) as unknown, profile_image_key: u.profileImageKey };
      }),
    );
    // A restart finds replica_state complete: it reads no snapshot.
    expect(await backfillReadsAgain(backfill)).toBe(false);
  },
);
