import { apiClient, jpeg, postsHelpers, replicasHold, startStack, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { openStream, registerUser, type SseClient, type TestUser } from './events-helpers';

/*
 * Events produced by the real actions through the HTTP API: social-graph's follow routes and
 * content's like and comment routes emit through their outboxes, notification consumes them, the
 * gateway serves and streams the result.
 */

let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
});
afterAll(() => stack?.stop());

const events = async (u: TestUser) => (await api.get('/api/events', { token: u.token })).body.data.events as any[];
// Several hops (outbox relay, stream, consumer): allow for a loaded machine.
const eventsOf = (u: TestUser, n: number) => waitFor(async () => ((await events(u)).length === n ? events(u) : null));
const unread = async (u: TestUser) => (await api.get('/api/events/unread-count', { token: u.token })).body.data.count as number;
const actorOf = (u: TestUser) => ({ user_id: u.id, username: u.username, metadata: { profile: {} } });

async function requestFollow(follower: TestUser, followee: TestUser): Promise<{ follows_id: string; status: string }> {
  const res = await api.post(`/api/follows/request/${followee.id}`, undefined, { token: follower.token, headers: { 'content-type': 'application/json' } });
  expect(res.status).toBe(201);
  return res.body.data;
}
async function respond(u: TestUser, followsId: string, status: 'agree' | 'reject' | 'delete') {
  const res = await api.post(`/api/follows/${followsId}`, { status }, { token: u.token });
  expect(res.status).toBe(200);
}
async function makePublic(u: TestUser, isPublic = true) {
  expect((await api.patch('/api/users', { is_public: isPublic }, { token: u.token })).status).toBe(200);
  await replicasHold(u.id);
}

describe('follow events through the real routes', () => {
  it('a request gives the followee a friend_request (live too); accepting it gives the follower a friend_agree', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    const live: SseClient = await openStream(stack.url, alice.token);
    try {
      await waitFor(() => live.frames.length > 0);
      const edge = await requestFollow(bob, alice);
      expect(edge.status).toBe('pending');
      const [request] = await eventsOf(alice, 1);
      expect(request).toMatchObject({
        type: 'friend_request',
        message: `${bob.username} sent you a follow request`,
        is_read: false,
        metadata: { actor: actorOf(bob), follower: actorOf(bob), follows_id: edge.follows_id },
      });
      await waitFor(() => live.events().length === 1);
      expect(live.events()[0]).toEqual({ id: request.event_id, type: 'friend_request', item: request });
      expect(await events(bob)).toEqual([]); // nothing for one's own action

      await respond(alice, edge.follows_id, 'agree');
      const [agree] = await eventsOf(bob, 1);
      expect(agree).toMatchObject({
        type: 'friend_agree',
        message: `${alice.username} accepted your follow request`,
        metadata: { actor: actorOf(alice), following: actorOf(alice), follows_id: edge.follows_id },
      });
      await eventsOf(alice, 0); // the request is settled: withdrawn
      expect(await unread(alice)).toBe(0);
      expect(await unread(bob)).toBe(1);
    } finally {
      live.close();
    }
  });

  it('a cancelled or a rejected request is withdrawn', async () => {
    const [alice, carol, dave] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const cancelled = await requestFollow(carol, alice);
    const rejected = await requestFollow(dave, alice);
    await eventsOf(alice, 2);
    expect(await unread(alice)).toBe(2);
    await respond(carol, cancelled.follows_id, 'delete');
    await respond(alice, rejected.follows_id, 'reject');
    await eventsOf(alice, 0);
    expect(await unread(alice)).toBe(0);
    expect(await events(carol)).toEqual([]);
    expect(await events(dave)).toEqual([]);
  });

  it('following a public account: follow for the followee, an already-read friend_agree for the follower', async () => {
    const [erin, frank] = [await registerUser(api, 'erin'), await registerUser(api, 'frank')];
    await makePublic(erin);
    const edge = await requestFollow(frank, erin);
    expect(edge.status).toBe('agree');
    const [item] = await eventsOf(erin, 1);
    expect(item).toMatchObject({
      type: 'follow',
      message: `${frank.username} started following you`,
      metadata: { actor: actorOf(frank), follower: actorOf(frank), follows_id: edge.follows_id },
    });
    const [own] = await eventsOf(frank, 1);
    expect(own).toMatchObject({
      type: 'friend_agree',
      is_read: true,
      message: `You started following ${erin.username}`,
      metadata: { following: actorOf(erin), follows_id: edge.follows_id },
    });
    expect(await unread(frank)).toBe(0);
    expect(await unread(erin)).toBe(1);
  });

  it('switching to public accepts the pending requests: each requester hears of it', async () => {
    const [gina, hal] = [await registerUser(api, 'gina'), await registerUser(api, 'hal')];
    const edge = await requestFollow(hal, gina);
    await eventsOf(gina, 1);
    await makePublic(gina);
    const [agree] = await eventsOf(hal, 1);
    expect(agree).toMatchObject({
      type: 'friend_agree',
      message: `${gina.username} accepted your follow request`,
      metadata: { following: { user_id: gina.id }, follows_id: edge.follows_id },
    });
    await eventsOf(gina, 0);
  });
});

describe('post events through the real routes', () => {
  const h = () => postsHelpers(api, () => stack);
  const post = (path: string, u: TestUser, body?: unknown) =>
    api.post(path, body, { token: u.token, headers: body ? {} : { 'content-type': 'application/json' } });

  async function publicAuthor(): Promise<TestUser> {
    const author = await registerUser(api, 'author');
    await makePublic(author);
    return author;
  }

  it("a like gives the author a like event (live too, with the liker and their avatar); unlike withdraws it; none for one's own", async () => {
    const [author, fan] = [await publicAuthor(), await registerUser(api, 'fan')];
    const form = new FormData();
    form.append('profile_image', new Blob([jpeg(9, 9)], { type: 'image/jpeg' }), 'me.jpg');
    expect((await api.patch('/api/users/', form, { token: fan.token })).status).toBe(200);
    const postId = await h().createPost(author);
    const live = await openStream(stack.url, author.token);
    try {
      await waitFor(() => live.frames.length > 0);
      expect((await post(`/api/posts/like/${postId}`, author)).status).toBe(200); // own: nothing
      expect((await post(`/api/posts/like/${postId}`, fan)).status).toBe(200);
      expect((await post(`/api/posts/like/${postId}`, fan)).status).toBe(200); // idempotent: no second event
      const [like] = await eventsOf(author, 1);
      expect(like).toMatchObject({
        type: 'like',
        message: `${fan.username} liked your post`,
        is_read: false,
        metadata: {
          post_id: postId,
          actor: { user_id: fan.id, username: fan.username, metadata: { profile: {}, profile_image: { url: expect.stringMatching(/^http/) } } },
        },
      });
      await waitFor(() => live.events().length === 1);
      expect(live.events()[0]?.id).toBe(like.event_id);
      expect(await unread(author)).toBe(1);
      expect(await events(fan)).toEqual([]);

      expect((await post(`/api/posts/unlike/${postId}`, fan)).status).toBe(200);
      await eventsOf(author, 0);
      expect(await unread(author)).toBe(0);
    } finally {
      live.close();
    }
  });

  it("a comment gives the author a comment event; deleting it (by either side) withdraws it; none on one's own post", async () => {
    const [author, fan] = [await publicAuthor(), await registerUser(api, 'fan')];
    const postId = await h().createPost(author);
    expect((await post(`/api/posts/comment/${postId}`, author, { content: 'my own' })).status).toBe(201);
    const first = await post(`/api/posts/comment/${postId}`, fan, { content: 'nice' });
    const second = await post(`/api/posts/comment/${postId}`, fan, { content: 'really nice' });
    expect([first.status, second.status]).toEqual([201, 201]);
    const commentIds = [first.body.data.comment_id, second.body.data.comment_id];
    const items = await eventsOf(author, 2);
    expect(items.map((e) => e.metadata.comment_id).sort()).toEqual([...commentIds].sort());
    expect(items[0]).toMatchObject({
      type: 'comment',
      message: `${fan.username} commented on your post`,
      metadata: { post_id: postId, actor: { user_id: fan.id } },
    });
    expect(await unread(author)).toBe(2);

    expect((await api.delete(`/api/posts/comment/${commentIds[0]}`, { token: fan.token })).status).toBe(200); // by its author
    expect((await api.delete(`/api/posts/comment/${commentIds[1]}`, { token: author.token })).status).toBe(200); // moderated
    await eventsOf(author, 0);
    expect(await unread(author)).toBe(0);
  });

  it("deleting a post withdraws its likes' and comments' events", async () => {
    const [author, fan] = [await publicAuthor(), await registerUser(api)];
    const [kept, gone] = [await h().createPost(author), await h().createPost(author)];
    expect((await post(`/api/posts/like/${kept}`, fan)).status).toBe(200);
    expect((await post(`/api/posts/like/${gone}`, fan)).status).toBe(200);
    expect((await post(`/api/posts/comment/${gone}`, fan, { content: 'hello' })).status).toBe(201);
    await eventsOf(author, 3);
    expect((await api.delete(`/api/posts/${gone}`, { token: author.token })).status).toBe(200);
    const [left] = await eventsOf(author, 1);
    expect(left).toMatchObject({ type: 'like', metadata: { post_id: kept } });
    expect(await unread(author)).toBe(1);
  });
});
