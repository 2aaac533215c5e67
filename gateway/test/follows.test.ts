import { accounts, apiClient, expectError, startStack, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';

let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
});
afterAll(() => stack?.stop());

type Account = TestUser;

const users = () => accounts(api, () => stack.env);
const register = (opts: { public?: boolean } = {}) => users().register({ ...opts, prefix: 'f' });
const setPublic = (a: Account, isPublic: boolean) => users().setPublic(a, isPublic);
const adminToken = () => users().adminToken();

/** Seed 000's client: a bodyless POST that still says Content-Type: application/json. */
const requestFollow = (from: Account, to: string) =>
  api.post(`/api/follows/request/${to}`, undefined, { token: from.token, headers: { 'content-type': 'application/json' } });
const respond = (who: Account, followsId: string, status: string) => api.post(`/api/follows/${followsId}`, { status }, { token: who.token });
const profile = async (viewer: Account, userId: string) => {
  const res = await api.get(`/api/users/${userId}`, { token: viewer.token });
  expect(res.status).toBe(200);
  return res.body.data;
};
const counts = async (viewer: Account, userId: string) => {
  const p = await profile(viewer, userId);
  return [p.follower_count, p.following_count];
};
/**
 * A profile's relationship and counts are identity's replicas of social-graph's edges, current
 * within milliseconds of a change (the event's trip): these wait up to 5 s (a loaded test box) for the expected state.
 */
async function expectProfile(viewer: Account, userId: string, want: Record<string, unknown>) {
  const matches = (p: unknown) => {
    try {
      expect(p).toMatchObject(want);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(async () => matches(await profile(viewer, userId)), 20_000, 100).catch(() => undefined);
  expect(await profile(viewer, userId)).toMatchObject(want);
}
async function expectCounts(viewer: Account, userId: string, want: number[]) {
  await waitFor(async () => JSON.stringify(await counts(viewer, userId)) === JSON.stringify(want), 20_000, 100).catch(() => undefined);
  expect(await counts(viewer, userId)).toEqual(want);
}
const list = (viewer: Account, query: string) => api.get(`/api/follows?${query}`, { token: viewer.token });

describe('follow requests', () => {
  it('follows a public account at once (201 agree); a repeat answers the same edge with 200', async () => {
    const a = await register();
    const b = await register({ public: true });
    const first = await requestFollow(a, b.id);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ data: { follows_id: expect.any(String), status: 'agree' }, message: 'ok' });
    const again = await requestFollow(a, b.id);
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(first.body.data);
    await expectProfile(a, b.id, { is_following: true, follow_status: 'agree', follows_id: first.body.data.follows_id, follower_count: 1, following_count: 0 });
    await expectProfile(b, a.id, { is_following: false, follow_status: 'none', follows_id: null, follower_count: 0, following_count: 1 });
  });

  it('asks a private account (pending); only the followee agrees; counts move on agree only', async () => {
    const a = await register();
    const b = await register();
    const c = await register();
    const req = await requestFollow(a, b.id);
    expect(req.status).toBe(201);
    expect(req.body.data.status).toBe('pending');
    const id = req.body.data.follows_id;
    await expectProfile(a, b.id, { is_following: false, follow_status: 'pending', follows_id: id, follower_count: 0 });
    await expectCounts(a, a.id, [0, 0]);

    expectError(await respond(a, id, 'agree'), 403);
    expectError(await respond(a, id, 'reject'), 403);
    expectError(await respond(b, id, 'delete'), 403);
    expectError(await respond(c, id, 'agree'), 404);
    expectError(await respond(c, id, 'delete'), 404);
    expectError(await api.delete(`/api/follows/${id}`, { token: c.token }), 404);
    await expectProfile(a, b.id, { follow_status: 'pending' });

    const agreed = await respond(b, id, 'agree');
    expect(agreed.status).toBe(200);
    expect(agreed.body.data).toEqual({ follows_id: id, status: 'agree' });
    await expectProfile(a, b.id, { is_following: true, follow_status: 'agree', follows_id: id, follower_count: 1, following_count: 0 });
    await expectCounts(b, a.id, [0, 1]);

    // Agreeing again changes nothing; a repeated request answers the agreed edge.
    expect((await respond(b, id, 'agree')).body.data).toEqual({ follows_id: id, status: 'agree' });
    const repeat = await requestFollow(a, b.id);
    expect(repeat.status).toBe(200);
    expect(repeat.body.data).toEqual({ follows_id: id, status: 'agree' });
    await expectCounts(a, b.id, [1, 0]);
  });

  it('reject removes a request or a follower (status null); the edge is gone and can be asked again', async () => {
    const a = await register();
    const b = await register();
    const id = (await requestFollow(a, b.id)).body.data.follows_id;
    const rejected = await respond(b, id, 'reject');
    expect(rejected.status).toBe(200);
    expect(rejected.body.data).toEqual({ follows_id: id, status: null });
    expectError(await respond(b, id, 'agree'), 404);
    await expectProfile(a, b.id, { follow_status: 'none', follows_id: null, follower_count: 0 });

    const again = await requestFollow(a, b.id);
    expect(again.status).toBe(201);
    expect(again.body.data.follows_id).not.toBe(id);
    await respond(b, again.body.data.follows_id, 'agree');
    await expectCounts(a, b.id, [1, 0]);
    // Rejecting an agreed follower removes it and the counts follow.
    expect((await respond(b, again.body.data.follows_id, 'reject')).body.data.status).toBeNull();
    await expectCounts(a, b.id, [0, 0]);
    await expectCounts(b, a.id, [0, 0]);
  });

  it('delete is the follower’s: cancels a pending request and unfollows an agreed one', async () => {
    const a = await register();
    const priv = await register();
    const pub = await register({ public: true });
    const pending = (await requestFollow(a, priv.id)).body.data.follows_id;
    expect((await respond(a, pending, 'delete')).body.data).toEqual({ follows_id: pending, status: null });
    await expectProfile(a, priv.id, { follow_status: 'none' });

    const agreed = (await requestFollow(a, pub.id)).body.data.follows_id;
    await expectCounts(a, a.id, [0, 1]);
    expect((await respond(a, agreed, 'delete')).body.data).toEqual({ follows_id: agreed, status: null });
    await expectCounts(a, a.id, [0, 0]);
    await expectCounts(a, pub.id, [0, 0]);
    expectError(await respond(a, agreed, 'delete'), 404);
  });

  it('DELETE lets either party remove the edge; a third party gets 404', async () => {
    const a = await register();
    const b = await register({ public: true });
    const c = await register();
    const byFollower = (await requestFollow(a, b.id)).body.data.follows_id;
    expectError(await api.delete(`/api/follows/${byFollower}`, { token: c.token }), 404);
    const res = await api.delete(`/api/follows/${byFollower}`, { token: a.token, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ follows_id: byFollower, status: null });
    await expectCounts(a, b.id, [0, 0]);
    expectError(await api.delete(`/api/follows/${byFollower}`, { token: a.token }), 404);

    const byFollowee = (await requestFollow(a, b.id)).body.data.follows_id;
    expect((await api.delete(`/api/follows/${byFollowee}/`, { token: b.token })).body.data).toEqual({ follows_id: byFollowee, status: null });
    await expectCounts(a, a.id, [0, 0]);
  });

  it('400 for self, 404 for unknown users and edges, 422 for non-UUIDs and bad statuses', async () => {
    const a = await register();
    expectError(await requestFollow(a, a.id), 400, /yourself/);
    expectError(await requestFollow(a, '0190a6b4-0000-7000-8000-000000000000'), 404, 'User not found.');
    const bad = await requestFollow(a, 'not-a-uuid');
    expectError(bad, 422);
    expect(bad.body.errors[0].field).toBe('path.user_id');
    expectError(await respond(a, '0190a6b4-0000-7000-8000-000000000000', 'agree'), 404);
    expectError(await respond(a, 'nope', 'agree'), 422);
    expectError(await api.delete('/api/follows/nope', { token: a.token }), 422);
    const b = await register();
    const id = (await requestFollow(a, b.id)).body.data.follows_id;
    expectError(await respond(b, id, 'accept'), 422, /status must be one of: agree, reject, delete/);
    expectError(await api.post(`/api/follows/${id}`, undefined, { token: b.token, headers: { 'content-type': 'application/json' } }), 422);
    expectError(await api.post(`/api/follows/${id}`, { status: 1 }, { token: b.token }), 422);
    expectError(await api.post(`/api/follows/request/${b.id}`), 401, 'Not authenticated');
    await expectProfile(a, b.id, { follow_status: 'pending' });
  });

  it('a disabled account cannot be followed (even when social-graph has it cached) and leaves follow lists', async () => {
    const admin = await adminToken();
    const target = await register({ public: true });
    const fan = await register();
    const late = await register();
    expect((await requestFollow(fan, target.id)).status).toBe(201); // social-graph now caches the target
    expect((await list(fan, 'type=following')).body.data.users).toHaveLength(1);
    expect((await api.patch(`/api/users/${target.id}`, { status: 'disabled' }, { token: admin })).status).toBe(200);
    await waitFor(async () => (await requestFollow(late, target.id)).status === 404);
    expectError(await requestFollow(fan, target.id), 404, 'User not found.');
    // The edge is kept but hidden, items and totals alike.
    await waitFor(async () => (await list(fan, 'type=following')).body.data.pagination.total_items === 0);
    expect((await list(fan, 'type=following')).body.data.users).toEqual([]);
    expectError(await list(fan, `type=follower&user_id=${target.id}`), 404);

    expect((await api.patch(`/api/users/${target.id}`, { status: 'enabled' }, { token: admin })).status).toBe(200);
    await waitFor(async () => (await list(fan, 'type=following')).body.data.users.length === 1);
    await waitFor(async () => (await requestFollow(late, target.id)).status === 201);
  });
});

describe('follow lists', () => {
  it('validates type, status and paging; status defaults to agree', async () => {
    const a = await register();
    expectError(await list(a, 'status=agree'), 422, /type is required/);
    expectError(await list(a, 'type=friends'), 422, /type must be one of: follower, following/);
    expectError(await list(a, 'type=follower&status=rejected'), 422);
    expectError(await list(a, 'type=follower&page=0'), 422);
    expectError(await list(a, 'type=follower&user_id=nope'), 422);
    const ok = await list(a, 'type=follower&_t=123');
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual({ users: [], pagination: { page: 1, limit: 10, total: 0, total_items: 0 } });
    expect((await list(a, 'type=following&limit=500')).body.data.pagination.limit).toBe(100);
  });

  it('lists own followers and followings by status, newest first, with the listed user and paging', async () => {
    const me = await register();
    const fans = [await register(), await register(), await register()];
    const ids: string[] = [];
    for (const f of fans) ids.push((await requestFollow(f, me.id)).body.data.follows_id);
    const star = await register({ public: true });
    await requestFollow(me, star.id);
    await api.patch('/api/users', { name: 'Fan Zero', profile: { bio: 'hi' } }, { token: fans[0]!.token });

    const pending = await list(me, 'type=follower&status=pending');
    expect(pending.status).toBe(200);
    expect(pending.body.data.users.map((u: any) => u.user_id)).toEqual([fans[2]!.id, fans[1]!.id, fans[0]!.id]);
    expect(pending.body.data.users[2]).toEqual({
      follows_id: ids[0],
      user_id: fans[0]!.id,
      username: fans[0]!.username,
      name: 'Fan Zero',
      metadata: { profile: { bio: 'hi' } },
      status: 'pending',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(pending.body.data.users[0].email).toBeUndefined();
    expect((await list(me, 'type=follower')).body.data.users).toEqual([]);
    // The requester sees its own outgoing request.
    const outgoing = await list(fans[1]!, 'type=following&status=pending');
    expect(outgoing.body.data.users.map((u: any) => [u.user_id, u.follows_id])).toEqual([[me.id, ids[1]]]);

    await respond(me, ids[0]!, 'agree');
    await respond(me, ids[2]!, 'agree');
    const page1 = await list(me, 'type=follower&status=agree&limit=1');
    expect(page1.body.data.users.map((u: any) => u.user_id)).toEqual([fans[2]!.id]);
    expect(page1.body.data.pagination).toEqual({ page: 1, limit: 1, total: 2, total_items: 2 });
    const page2 = await list(me, 'type=follower&limit=1&page=2');
    expect(page2.body.data.users.map((u: any) => u.user_id)).toEqual([fans[0]!.id]);
    const following = await list(me, 'type=following');
    expect(following.body.data.users.map((u: any) => [u.user_id, u.status])).toEqual([[star.id, 'agree']]);
  });

  it('shows another account’s lists when it is public or followed, never its pending lists', async () => {
    const owner = await register();
    const follower = await register();
    const stranger = await register();
    const id = (await requestFollow(follower, owner.id)).body.data.follows_id;
    expectError(await list(follower, `type=follower&user_id=${owner.id}`), 403, 'This account is private.');
    await respond(owner, id, 'agree');

    expectError(await list(stranger, `type=follower&user_id=${owner.id}`), 403, 'This account is private.');
    expectError(await list(stranger, `type=following&user_id=${owner.id}&status=agree`), 403, 'This account is private.');
    const seen = await list(follower, `type=follower&user_id=${owner.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body.data.users.map((u: any) => u.user_id)).toEqual([follower.id]);
    expectError(await list(follower, `type=follower&user_id=${owner.id}&status=pending`), 403);

    await setPublic(owner, true);
    await waitFor(async () => (await list(stranger, `type=follower&user_id=${owner.id}`)).status === 200);
    expect((await list(stranger, `type=follower&user_id=${owner.id}`)).body.data.users).toHaveLength(1);
    expectError(await list(stranger, `type=follower&user_id=${owner.id}&status=pending`), 403);
    expectError(await list(stranger, 'type=follower&user_id=0190a6b4-0000-7000-8000-000000000000'), 404);
  });
});

describe('privacy switches and concurrency', () => {
  it('switching from private to public accepts every pending request', async () => {
    const owner = await register();
    const fans = [await register(), await register()];
    const other = await register();
    for (const f of fans) expect((await requestFollow(f, owner.id)).body.data.status).toBe('pending');
    await requestFollow(owner, other.id); // the owner's own outgoing request is not touched
    await setPublic(owner, true);
    await waitFor(async () => (await counts(owner, owner.id))[0] === 2);
    await expectProfile(fans[0]!, owner.id, { is_following: true, follow_status: 'agree' });
    await expectCounts(fans[1]!, fans[1]!.id, [0, 1]);
    expect((await list(owner, 'type=follower&status=pending')).body.data.users).toEqual([]);
    expect((await list(owner, 'type=following&status=pending')).body.data.users.map((u: any) => u.user_id)).toEqual([other.id]);
    // Back to private: existing followers stay, new requests wait again.
    await setPublic(owner, false);
    const late = await register();
    await waitFor(async () => {
      const res = await requestFollow(late, owner.id);
      if (res.body.data.status === 'agree') await api.delete(`/api/follows/${res.body.data.follows_id}`, { token: late.token });
      return res.body.data.status === 'pending';
    });
    await expectCounts(owner, owner.id, [2, 0]);
  });

  it('20 simultaneous requests for one pair make one edge: 201 once, 200 for the rest, counts 1', async () => {
    for (const isPublic of [true, false]) {
      const a = await register();
      const b = await register({ public: isPublic });
      const all = await Promise.all(Array.from({ length: 20 }, () => requestFollow(a, b.id)));
      expect(all.filter((r) => r.status === 201)).toHaveLength(1);
      expect(all.filter((r) => r.status === 200)).toHaveLength(19);
      expect(new Set(all.map((r) => r.body.data.follows_id)).size).toBe(1);
      expect(new Set(all.map((r) => r.body.data.status))).toEqual(new Set([isPublic ? 'agree' : 'pending']));
      await expectCounts(a, b.id, isPublic ? [1, 0] : [0, 0]);
      await expectCounts(a, a.id, isPublic ? [0, 1] : [0, 0]);
    }
  });

  it('documents the follows routes in OpenAPI', async () => {
    const res = await api.get('/openapi.json');
    for (const p of ['/api/follows/request/{user_id}', '/api/follows/{follows_id}', '/api/follows']) expect(Object.keys(res.body.paths)).toContain(p);
  });
});
