import type { events } from '@shutter/proto';
import { createLogger, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { backfillReadsAgain, prng, raceBackfill, testDb, unique } from '@shutter/testing';
import { createFollowsRepository } from '../src/follows-repository';
import { createFollowsService } from '../src/follows-service';
import { createUsersApplier } from '../src/identity-events';
import { migrations } from '../src/migrations';
import { createUsers, usersReplica } from '../src/users';

/**
 * Property test of social-graph's replica of identity's users (what the follow rules read): the
 * replica started EMPTY against an owner that already has users (their past events are gone),
 * the snapshot read page by page while the owner keeps changing, the events of those changes
 * delivered during and after the backfill, duplicated and reordered. It always converges to the
 * owner's users, and a restart does not backfill again.
 */

const schema = unique('graph_users_replica_');
const log = createLogger('test', 'silent');
let db: Knex;
let applyUsers: ReturnType<typeof createUsersApplier>;

beforeAll(async () => {
  db = testDb(schema);
  await migrate(db, schema, migrations);
  const users = createUsers(db);
  const follows = createFollowsRepository(db);
  applyUsers = createUsersApplier({ users, service: createFollowsService({ db, follows, users }), log });
});
afterAll(async () => {
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
});

const state = (userId: string, version: number, isPublic: boolean, disabled: boolean): events.UserState => ({
  userId,
  username: `u${version}`,
  name: '',
  isPublic,
  status: disabled ? 'disabled' : 'enabled',
  profileImageKey: '',
  profileJson: '{}',
  version,
});

it.each(Array.from({ length: 8 }, (_, i) => i + 1))(
  'seed %i: an empty replica backfills from identity and converges with the events made meanwhile',
  async (seed) => {
    const rand = prng(900 + seed);
    const ids = Array.from({ length: 8 }, () => newId()).sort();
    const backfill = (snapshot: () => AsyncIterable<events.UserState[]>) =>
      usersReplica.backfillFrom({ db, log, name: `users_${seed}`, snapshot, applyMany: applyUsers });
    const owner = await raceBackfill({
      rand,
      ids,
      next: (id, version) => state(id, version, rand() < 0.5, rand() < 0.25),
      stale: (u, version) => state(u.userId, version, !u.isPublic, u.status !== 'disabled'),
      deliver: (users) => db.transaction((trx) => applyUsers(trx, users)),
      backfill,
    });

    const held = await db('users').whereIn('id', ids).orderBy('id').select('id', 'is_public', 'status', 'version');
    expect(held.map((r: { id: string; is_public: boolean; status: string; version: string }) => [r.id, r.is_public, r.status, Number(r.version)])).toEqual(
      ids.map((id) => {
        const u = owner.get(id)!;
        return [id, u.isPublic, u.status, Number(u.version)];
      }),
    );
    // A restart finds replica_state complete: it reads no snapshot.
    expect(await backfillReadsAgain(backfill)).toBe(false);
  },
);

it('a switch to public accepts the pending requests to that user', async () => {
  const target = newId();
  const fan = newId();
  await db.transaction((trx) => applyUsers(trx, [state(target, 1, false, false)]));
  const users = createUsers(db);
  const service = createFollowsService({ db, follows: createFollowsRepository(db), users });
  expect((await service.request(fan, target)).edge.status).toBe('pending');
  await db.transaction((trx) => applyUsers(trx, [state(target, 3, true, false)]));
  expect((await db('follows').where({ follower_id: fan, followee_id: target }).first()).status).toBe('agree');
  // An older private state arriving late changes nothing.
  await db.transaction((trx) => applyUsers(trx, [state(target, 2, false, false)]));
  expect((await users.get(target))?.is_public).toBe(true);
});
