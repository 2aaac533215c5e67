import { createClient, GrpcStatus, notFound } from '@shutter/kit';
import { identity, socialgraph } from '@shutter/proto';
import { fakeServices, testSigner, type FakeServices } from '../src';

/** The fakes the gateway's fast tier stands on: canned answers, the caller seen, streams, resets. */

let fakes: FakeServices;
beforeAll(async () => {
  fakes = await fakeServices({
    identity: { getUser: async (req, ctx) => identity.User.fromPartial({ userId: req.userId, username: ctx.userId ?? 'nobody' }) },
  });
});
afterAll(() => fakes?.stop());

const auth = testSigner('gateway');
const identityClient = () => createClient(identity.IdentityServiceService, fakes.env.IDENTITY_ADDR!, { service: 'identity', auth });

it('answers with the canned reply, sees the caller the gateway asserted, and logs the call', async () => {
  const client = identityClient();
  try {
    const user = await client.getUser({ userId: 'u1' }, { userId: 'caller-1', role: 'admin', sessionId: 's1', requestId: 'r1' });
    expect(user).toMatchObject({ userId: 'u1', username: 'caller-1' });
    expect(fakes.calls.at(-1)).toEqual({
      service: 'identity',
      method: 'getUser',
      request: { userId: 'u1' },
      userId: 'caller-1',
      role: 'admin',
      sessionId: 's1',
      requestId: 'r1',
    });
    expect(JSON.parse((await client.getPublicKeys({})).jwksJson)).toEqual(JSON.parse(fakes.tokens.jwksJson));
  } finally {
    client.close();
  }
});

it('a method no test gave is UNIMPLEMENTED; use() replaces a handler until reset()', async () => {
  const client = identityClient();
  try {
    await expect(client.getProfile({ userId: 'u1' })).rejects.toMatchObject({ code: GrpcStatus.UNIMPLEMENTED });
    fakes.use({ identity: { getUser: async () => Promise.reject(notFound('No such user.')) } });
    await expect(client.getUser({ userId: 'u1' }, { userId: 'x' })).rejects.toMatchObject({ code: GrpcStatus.NOT_FOUND });
    fakes.reset();
    expect(fakes.calls).toEqual([]);
    expect(await client.getUser({ userId: 'u1' }, { userId: 'x' })).toMatchObject({ userId: 'u1' });
  } finally {
    client.close();
  }
});

it('serves server streams from an async generator', async () => {
  fakes.use({
    socialGraph: {
      streamFollowers: async function* (req) {
        yield { userIds: [`${req.userId}-a`, `${req.userId}-b`] };
        yield { userIds: [`${req.userId}-c`] };
      },
    },
  });
  const client = createClient(socialgraph.SocialGraphServiceService, fakes.env.SOCIAL_GRAPH_ADDR!, { service: 'social-graph', auth: testSigner('content') });
  try {
    const pages: string[][] = [];
    for await (const page of client.serverStream('streamFollowers', { userId: 'u', pageSize: 2 })) pages.push(page.userIds);
    expect(pages).toEqual([['u-a', 'u-b'], ['u-c']]);
  } finally {
    client.close();
    fakes.reset();
  }
});
