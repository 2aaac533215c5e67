import { createClient, createLogger, createMetrics, newId, type Redis } from '@shutter/kit';
import { createOutboxRelay, enqueueEvent, migrate, outboxMigration, outboxTraceMigration, type Knex } from '@shutter/kit/db';
import { events, notification } from '@shutter/proto';
import { startStack, testDb, testEnv, testRedis, testSigner, unique, waitFor, type Stack } from '@shutter/testing';
import { loadNotificationConfig } from '../src/config';
import { createNotificationService, type NotificationService } from '../src/server';

/*
 * The service on its own stream, fed by a real producer: a test schema with the kit outbox and
 * relay, exactly as social-graph and content publish their events.
 */

const logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
let stack: Stack;
let producer: { db: Knex; schema: string };
let redis: Redis;

beforeAll(async () => {
  stack = await startStack({ only: ['identity'] });
  const schema = unique('producer_');
  producer = { db: testDb(schema), schema };
  await migrate(producer.db, schema, [outboxMigration, outboxTraceMigration]);
  redis = testRedis();
});
afterAll(async () => {
  await producer?.db.destroy();
  await redis?.quit();
  await stack?.stop();
});

async function register(): Promise<{ id: string; username: string }> {
  const name = unique('n');
  const res = await fetch(`${stack.url}/api/users/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${name}@example.com`, username: name, password: 'correct horse' }),
  });
  const body = (await res.json()) as { data: { user: { user_id: string; username: string } } };
  return { id: body.data.user.user_id, username: body.data.user.username };
}

function startService(stream: string, env: Record<string, string> = {}) {
  const config = loadNotificationConfig(testEnv({ ...stack.env, EVENTS_STREAM: stream, ...env } as Record<string, string>));
  const service = createNotificationService(config, logger, createMetrics('notification'), {
    consumerTuning: { blockMs: 100, claimIdleMs: 300, claimEveryMs: 100, maxBackoffMs: 200 },
  });
  return service;
}

async function running(service: NotificationService) {
  const port = await service.start('127.0.0.1:0');
  await service.replicasBackfilled();
  const client = createClient(notification.NotificationServiceService, `127.0.0.1:${port}`, { service: 'notification', auth: testSigner() });
  return { client, stop: async () => (client.close(), await service.stop(500)) };
}

const likeEvent = (postAuthorId: string, userId: string) => {
  const postId = newId();
  return { type: 'post.liked', key: postId, payload: events.PostLikeChanged.encode({ postId, postAuthorId, userId }).finish() };
};

describe('notification service', () => {
  it('notifications produced while it is stopped all arrive after it starts again', async () => {
    const stream = unique('events_');
    const relay = createOutboxRelay({ db: producer.db, schema: producer.schema, redis, stream, log: logger, pollMs: 50 });
    relay.start();
    const [author, fan] = [await register(), await register()];
    try {
      const first = await running(startService(stream));
      await producer.db.transaction((trx) => enqueueEvent(trx, likeEvent(author.id, fan.id)));
      await waitFor(async () => (await first.client.getUnreadCount({}, { userId: author.id })).count === 1);
      await first.stop();

      // Stopped: the producer goes on.
      for (let i = 0; i < 5; i++) await producer.db.transaction((trx) => enqueueEvent(trx, likeEvent(author.id, fan.id)));
      await relay.flush();

      const second = await running(startService(stream));
      try {
        await waitFor(async () => (await second.client.getUnreadCount({}, { userId: author.id })).count === 6);
        const listed = await second.client.listEvents({ page: 1, limit: 10 }, { userId: author.id });
        expect(listed.totalItems).toBe(6);
        expect(listed.events.every((e) => e.type === 'like' && e.actor?.username === fan.username && e.message === `${fan.username} liked your post`)).toBe(
          true,
        );
      } finally {
        await second.stop();
      }
    } finally {
      await relay.stop();
    }
  });

  it('an actor the replica does not hold yet is stored by id, and reads fill them in once their state arrives', async () => {
    const stream = unique('events_');
    const author = await register();
    // Signed up after the replica's backfill, their user.created not yet delivered (it goes to this stream below).
    const fan = { id: newId(), username: unique('late') };
    const xadd = (type: string, key: string, payload: Uint8Array) =>
      redis.xadd(stream, '*', 'id', newId(), 'type', type, 'key', key, 'payload', Buffer.from(payload), 'source', 'test');
    const postId = newId();
    await xadd('post.liked', postId, events.PostLikeChanged.encode({ postId, postAuthorId: author.id, userId: fan.id }).finish());
    const svc = await running(startService(stream));
    try {
      const listed = await waitFor(async () => {
        const res = await svc.client.listEvents({ page: 1, limit: 10 }, { userId: author.id });
        return res.totalItems === 1 ? res : null;
      });
      expect(listed.events[0]).toMatchObject({ type: 'like', message: 'Someone liked your post', actor: { userId: fan.id, username: '' } });
      const state = {
        userId: fan.id,
        username: fan.username,
        name: 'Late Fan',
        isPublic: false,
        status: 'enabled',
        profileImageKey: '',
        profileJson: '{}',
        version: 1,
      };
      await xadd('user.created', fan.id, events.UserCreated.encode({ userId: fan.id, username: fan.username, isPublic: false, state }).finish());
      const filled = await waitFor(async () => {
        const res = await svc.client.listEvents({ page: 1, limit: 10 }, { userId: author.id });
        return res.events[0]?.actor?.username === fan.username ? res : null;
      });
      expect(filled.events[0]).toMatchObject({
        message: `${fan.username} liked your post`,
        actor: { userId: fan.id, username: fan.username, name: 'Late Fan' },
      });
    } finally {
      await svc.stop();
    }
  });

  it('applies the events about one thing in their order: an older one arriving late changes nothing', async () => {
    const stream = unique('events_');
    const [author, fan] = [await register(), await register()];
    const xadd = (id: string, type: string, payload: Uint8Array) =>
      redis.xadd(stream, '*', 'id', id, 'type', type, 'key', 'k', 'payload', Buffer.from(payload), 'source', 'test');
    // Made in this order by the producer, delivered the other way round (a retried entry).
    const postId = newId();
    const like = events.PostLikeChanged.encode({ postId, postAuthorId: author.id, userId: fan.id }).finish();
    const [likeId, unlikeId] = [newId(), newId()];
    const followsId = newId();
    const edge = (actorId: string) => events.FollowChanged.encode({ followsId, followerId: fan.id, followeeId: author.id, status: 'agree', actorId }).finish();
    const [requestedId, acceptedId] = [newId(), newId()];
    await xadd(unlikeId, 'post.unliked', like);
    await xadd(likeId, 'post.liked', like);
    await xadd(acceptedId, 'follow.accepted', edge(author.id));
    await xadd(requestedId, 'follow.requested', edge(fan.id));
    const marker = newId();
    await xadd(newId(), 'post.liked', events.PostLikeChanged.encode({ postId: marker, postAuthorId: author.id, userId: fan.id }).finish());

    const svc = await running(startService(stream));
    try {
      const listed = await waitFor(async () => {
        const res = await svc.client.listEvents({ page: 1, limit: 10 }, { userId: author.id });
        return res.events.some((e) => e.postId === marker) ? res : null;
      });
      expect(listed.events.map((e) => [e.type, e.postId])).toEqual([['like', marker]]); // no stale like, no stale request
      expect((await svc.client.listEvents({ page: 1, limit: 10 }, { userId: fan.id })).events.map((e) => e.type)).toEqual(['friend_agree']);
      expect((await svc.client.getUnreadCount({}, { userId: author.id })).count).toBe(1);
    } finally {
      await svc.stop();
    }
  });

  it('answers gRPC statuses for bad requests', async () => {
    const svc = await running(startService(unique('events_')));
    try {
      const user = newId();
      await expect(svc.client.markRead({ eventId: newId() }, { userId: user })).rejects.toMatchObject({ code: 5 }); // NOT_FOUND
      await expect(svc.client.markRead({ eventId: 'nope' }, { userId: user })).rejects.toMatchObject({ code: 3 }); // INVALID_ARGUMENT
      await expect(svc.client.listEventsAfter({ afterEventId: 'nope', limit: 10 }, { userId: user })).rejects.toMatchObject({ code: 3 });
      await expect(svc.client.getUnreadCount({})).rejects.toMatchObject({ code: 16 }); // UNAUTHENTICATED
      expect(await svc.client.markAllRead({}, { userId: user })).toEqual({ marked: 0, unreadCount: 0 });
    } finally {
      await svc.stop();
    }
  });
});
