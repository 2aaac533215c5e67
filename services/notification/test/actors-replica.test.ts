import type { events } from '@shutter/proto';
import { createLogger, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { prng, testDb, unique } from '@shutter/testing';
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
    const owner = new Map<string, events.UserState>();
    const change = (id: string) => {
      const next = state(id, Number(owner.get(id)?.version ?? 0) + 1, rand);
      owner.set(id, next);
      return next;
    };
    for (const id of ids) for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) change(id); // the past: never delivered

    const later: events.UserState[] = [];
    const inFlight: Array<Promise<unknown>> = [];
    const deliver = (u: events.UserState) => db.transaction((trx) => actors.applyStates(trx, [u]));
    const advance = (n: number) => {
      for (let i = 0; i < n; i++) {
        const u = change(ids[Math.floor(rand() * ids.length)]!);
        if (rand() < 0.5) inFlight.push(deliver(u));
        else later.push(u);
        if (rand() < 0.3) later.push(u);
      }
    };
    async function* snapshot(): AsyncIterable<events.UserState[]> {
      for (let i = 0; i < ids.length; i += 3) {
        const page = ids.slice(i, i + 3).map((id) => owner.get(id)!);
        const sent = [...page];
        for (const u of page) {
          if (rand() < 0.3) sent.push(u);
          if (Number(u.version) > 1 && rand() < 0.3) sent.push(state(u.userId, Number(u.version) - 1, rand));
        }
        yield sent.sort(() => rand() - 0.5);
        advance(1 + Math.floor(rand() * 3));
      }
    }
    const name = `actors_${seed}`;
    const backfill = actorsReplica.backfillFrom({ db, log, name, snapshot, applyMany: (trx, users) => actors.applyStates(trx, users) });
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

    const held = await actors.get(ids);
    expect(ids.map((id) => held.get(id))).toEqual(
      ids.map((id) => {
        const u = owner.get(id)!;
        return { user_id: id, username: u.username, name: u.name, profile: JSON.parse(u.profileJson) as unknown, profile_image_key: u.profileImageKey };
      }),
    );

    // A restart finds replica_state complete: it reads no snapshot.
    let read = false;
    const again = actorsReplica.backfillFrom({
      db,
      log,
      name,
      snapshot: async function* () {
        read = true;
        yield [];
      },
      applyMany: (trx, users) => actors.applyStates(trx, users),
    });
    again.start();
    await again.completed;
    await again.stop();
    expect(read).toBe(false);
  },
);
