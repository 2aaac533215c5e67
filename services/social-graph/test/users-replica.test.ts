import type { events } from '@shutter/proto';
import { createLogger, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { prng, testDb, unique } from '@shutter/testing';
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
    // The owner: each user's current state; every change bumps its version.
    const owner = new Map<string, events.UserState>();
    const change = (id: string) => {
      const cur = owner.get(id);
      const next = state(id, (cur ? Number(cur.version) : 0) + 1, rand() < 0.5, rand() < 0.25);
      owner.set(id, next);
      return next;
    };
    for (const id of ids) for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) change(id); // the past: never delivered

    const later: events.UserState[] = [];
    const inFlight: Array<Promise<unknown>> = [];
    const deliver = (u: events.UserState) => db.transaction((trx) => applyUsers(trx, [u]));
    /** The owner moves on by a few changes; each event is delivered now (racing the next page), later, or both. */
    const advance = (n: number) => {
      for (let i = 0; i < n; i++) {
        const u = change(ids[Math.floor(rand() * ids.length)]!);
        if (rand() < 0.5) inFlight.push(deliver(u));
        else later.push(u);
        if (rand() < 0.3) later.push(u);
      }
    };
    const PAGE = 3;
    async function* snapshot(): AsyncIterable<events.UserState[]> {
      for (let i = 0; i < ids.length; i += PAGE) {
        // Read now (the owner may have moved on since the last page); rows also sent twice or older.
        const page = ids.slice(i, i + PAGE).map((id) => owner.get(id)!);
        const sent = [...page];
        for (const u of page) {
          if (rand() < 0.3) sent.push(u);
          if (Number(u.version) > 1 && rand() < 0.3) sent.push(state(u.userId, Number(u.version) - 1, !u.isPublic, u.status !== 'disabled'));
        }
        yield sent.sort(() => rand() - 0.5);
        advance(1 + Math.floor(rand() * 3));
      }
    }
    const backfill = usersReplica.backfillFrom({ db, log, name: `users_${seed}`, snapshot, applyMany: applyUsers });
    backfill.start();
    await backfill.completed;
    await backfill.stop();
    advance(5);
    await Promise.all(inFlight);
    for (let i = later.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [later[i], later[j]] = [later[j]!, later[i]!];
    }
    for (const u of later) await deliver(u);

    const held = await db('users').whereIn('id', ids).orderBy('id').select('id', 'is_public', 'status', 'version');
    expect(held.map((r: { id: string; is_public: boolean; status: string; version: string }) => [r.id, r.is_public, r.status, Number(r.version)])).toEqual(
      ids.map((id) => {
        const u = owner.get(id)!;
        return [id, u.isPublic, u.status, Number(u.version)];
      }),
    );

    // A restart finds replica_state complete: it reads no snapshot.
    let read = false;
    const again = usersReplica.backfillFrom({
      db,
      log,
      name: `users_${seed}`,
      snapshot: async function* () {
        read = true;
        yield [];
      },
      applyMany: applyUsers,
    });
    again.start();
    await again.completed;
    await again.stop();
    expect(read).toBe(false);
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
