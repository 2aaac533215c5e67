import { randomUUID } from 'node:crypto';
import { events, socialgraph } from '@shutter/proto';
import { GrpcStatus, createClient, type Client } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { apiClient, startStack, testDb, testSigner, unique, type ApiClient, type Stack } from '@shutter/testing';

type GraphClient = Client<typeof socialgraph.SocialGraphServiceService>;

let stack: Stack;
let api: ApiClient;
let graph: GraphClient;
let db: Knex;

beforeAll(async () => {
  stack = await startStack({ only: ['identity', 'social-graph'] });
  api = apiClient(stack.url);
  graph = createClient(socialgraph.SocialGraphServiceService, stack.services['social-graph']!.addr, { service: 'social-graph', auth: testSigner() });
  db = testDb('graph');
});
afterAll(async () => {
  graph?.close();
  await db?.destroy();
  await stack?.stop();
});

async function register(isPublic = false): Promise<string> {
  const name = unique('g');
  const res = await api.post('/api/users/register', { email: `${name}@example.com`, username: name, password: 'correct horse' });
  expect(res.status).toBe(201);
  if (isPublic) expect((await api.patch('/api/users', { is_public: true }, { token: res.body.data.token })).status).toBe(200);
  return res.body.data.user.user_id;
}

/** The caller travels in the gateway-signed assertion: any id may act, only the target must exist in identity. */
const follow = (from: string, to: string) => graph.requestFollow({ userId: to }, { userId: from });

/** As content reads a stream (services/social-graph/README.md). */
async function readStream(method: 'streamFollowers' | 'streamFollowing', req: socialgraph.StreamFollowersRequest): Promise<string[][]> {
  const pages: string[][] = [];
  for await (const page of graph.serverStream(method, req)) pages.push(page.userIds);
  return pages;
}

/** As content's replica backfill reads the edge snapshot (services/social-graph/README.md). */
async function readSnapshot(pageSize: number): Promise<socialgraph.EdgeState[][]> {
  const asContent = createClient(socialgraph.SocialGraphServiceService, stack.services['social-graph']!.addr, {
    service: 'social-graph',
    auth: testSigner('content'),
  });
  const pages: socialgraph.EdgeState[][] = [];
  try {
    for await (const page of asContent.serverStream('streamEdgeSnapshot', { pageSize })) pages.push(page.edges);
  } finally {
    asContent.close();
  }
  return pages;
}

const grpcCode = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (err: { code: number }) => GrpcStatus[err.code],
  );

describe('BatchRelationships', () => {
  it("answers the viewer's relationship to many users in one call, in request order", async () => {
    const viewer = await register();
    const pub = await register(true);
    const priv = await register();
    const out = (await follow(viewer, pub)).follow!;
    const pending = (await follow(viewer, priv)).follow!;
    const fan = randomUUID();
    const incoming = (await follow(fan, viewer)).follow!;
    expect(incoming.status).toBe('pending');
    expect(await graph.respondFollow({ followsId: incoming.followsId, action: 'agree' }, { userId: viewer })).toEqual({
      followsId: incoming.followsId,
      status: 'agree',
    });
    const strangers = Array.from({ length: 200 }, () => randomUUID());

    const res = await graph.batchRelationships({ viewerId: viewer, userIds: [pub, ...strangers, priv, fan, pub] });
    expect(res.relationships).toHaveLength(203);
    expect(res.relationships.map((r) => r.userId)).toEqual([pub, ...strangers, priv, fan]);
    const none = { outgoingStatus: '', outgoingFollowsId: '', incomingStatus: '', incomingFollowsId: '' };
    expect(res.relationships[0]).toEqual({ userId: pub, ...none, outgoingStatus: 'agree', outgoingFollowsId: out.followsId });
    expect(res.relationships[201]).toEqual({ userId: priv, ...none, outgoingStatus: 'pending', outgoingFollowsId: pending.followsId });
    expect(res.relationships[202]).toEqual({ userId: fan, ...none, incomingStatus: 'agree', incomingFollowsId: incoming.followsId });
    expect(res.relationships.slice(1, 201).every((r) => r.outgoingStatus === '' && r.incomingStatus === '')).toBe(true);

    // Without viewer_id the caller is the viewer.
    const asCaller = await graph.batchRelationships({ viewerId: '', userIds: [pub] }, { userId: viewer });
    expect(asCaller.relationships[0]!.outgoingStatus).toBe('agree');
  });

  it('refuses non-UUIDs and more than 1000 ids', async () => {
    expect(await grpcCode(graph.batchRelationships({ viewerId: randomUUID(), userIds: ['nope'] }))).toBe('INVALID_ARGUMENT');
    const many = Array.from({ length: 1001 }, () => randomUUID());
    expect(await grpcCode(graph.batchRelationships({ viewerId: randomUUID(), userIds: many }))).toBe('INVALID_ARGUMENT');
    expect(await grpcCode(graph.batchCounts({ userIds: many }))).toBe('INVALID_ARGUMENT');
    expect(await grpcCode(graph.batchRelationships({ viewerId: '', userIds: [] }))).toBe('UNAUTHENTICATED');
    expect(await grpcCode(graph.requestFollow({ userId: randomUUID() }))).toBe('UNAUTHENTICATED');
  });
});

describe('counts and streams', () => {
  it('streams agree followers in pages, every live edge with its version, and counts them for many users in one call', async () => {
    const star = await register(true);
    const priv = await register();
    const fans = Array.from({ length: 120 }, () => randomUUID());
    for (let i = 0; i < fans.length; i += 30) await Promise.all(fans.slice(i, i + 30).map((f) => follow(f, star)));
    await follow(fans[0]!, priv); // pending: neither streamed nor counted

    const pages = await readStream('streamFollowers', { userId: star, pageSize: 50 });
    expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
    expect(pages.flat()).toEqual([...fans].sort());
    expect(await readStream('streamFollowers', { userId: priv, pageSize: 0 })).toEqual([]);
    expect(await readStream('streamFollowing', { userId: fans[0]!, pageSize: 0 })).toEqual([[star]]);
    await expect(readStream('streamFollowers', { userId: 'nope', pageSize: 0 })).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });

    // The snapshot: every live edge (of every test here), keyset pages by edge id, version = status rank.
    const snapshot = await readSnapshot(50);
    const all = snapshot.flat();
    const owner = await db('follows').orderBy('id').select('id', 'follower_id', 'followee_id', 'status');
    expect(snapshot.slice(0, -1).every((p) => p.length === 50)).toBe(true);
    expect(all).toEqual(
      owner.map((e) => ({ followsId: e.id, followerId: e.follower_id, followeeId: e.followee_id, status: e.status, version: e.status === 'agree' ? 2 : 1 })),
    );
    expect(all.filter((e) => e.followeeId === star)).toHaveLength(120);
    expect(all.find((e) => e.followeeId === priv)).toMatchObject({ followerId: fans[0], status: 'pending', version: 1 });
    await expect(readSnapshot(-1)).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });

    const nobody = randomUUID();
    const res = await graph.batchCounts({ userIds: [star, fans[0]!, priv, nobody] });
    expect(res.counts).toEqual([
      { userId: star, followerCount: 120, followingCount: 0 },
      { userId: fans[0]!, followerCount: 0, followingCount: 1 },
      { userId: priv, followerCount: 0, followingCount: 0 },
      { userId: nobody, followerCount: 0, followingCount: 0 },
    ]);
    const profile = await graph.getProfileGraph({ userId: star }, { userId: fans[1]! });
    expect(profile.relationship).toMatchObject({ userId: star, outgoingStatus: 'agree' });
    expect(profile.counts).toEqual({ userId: star, followerCount: 120, followingCount: 0 });
  });
});

describe('events', () => {
  it('writes each change and its FollowChanged event in one transaction, with the actor', async () => {
    const priv = await register();
    const pub = await register(true);
    const fan = randomUUID();
    const req = (await follow(fan, priv)).follow!;
    await graph.respondFollow({ followsId: req.followsId, action: 'agree' }, { userId: priv });
    await graph.removeFollow({ followsId: req.followsId }, { userId: priv });
    const created = (await follow(fan, pub)).follow!;

    const rows = await db('outbox').whereIn('key', [req.followsId, created.followsId]).orderBy('seq').select('type', 'payload');
    const decoded = rows.map((r: { type: string; payload: Buffer }) => ({ type: r.type, ...events.FollowChanged.decode(r.payload) }));
    const edge = { followsId: req.followsId, followerId: fan, followeeId: priv };
    expect(decoded).toEqual([
      { type: 'follow.requested', ...edge, status: 'pending', actorId: fan },
      { type: 'follow.accepted', ...edge, status: 'agree', actorId: priv },
      { type: 'follow.removed', ...edge, status: 'agree', actorId: priv },
      { type: 'follow.created', followsId: created.followsId, followerId: fan, followeeId: pub, status: 'agree', actorId: fan },
    ]);
    // A refused change writes no event.
    expect(await grpcCode(graph.respondFollow({ followsId: created.followsId, action: 'agree' }, { userId: fan }))).toBe('PERMISSION_DENIED');
    expect(await db('outbox').where('key', created.followsId).count<Array<{ count: number }>>('* as count')).toEqual([{ count: 1 }]);
  });
});
