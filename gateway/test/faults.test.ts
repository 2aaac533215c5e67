import * as grpc from '@grpc/grpc-js';
import { createLogger } from '@shutter/kit';
import { socialgraph } from '@shutter/proto';
import * as path from 'node:path';
import {
  REPO_ROOT,
  accounts,
  apiClient,
  expectError,
  freePort,
  startStack,
  unique,
  waitFor,
  type StartContext,
  type StartedGateway,
  type StartedService,
  type Stack,
} from '@shutter/testing';
import { expectNoInternals } from './fault-helpers';
import { start as startGateway } from './start';

/**
 * The API when a part fails (docs/api.md: 503/504 when a service is down or slow, never 500, always
 * the envelope). Every fault answers quickly and says nothing of the internals. "Quickly" is shown
 * by the status, not by a clock: a call that waited for its deadline would answer 504, so a 503 failed
 * fast; and a 504 from a service that answers only much later came from the deadline.
 */

let stack: Stack;

beforeAll(async () => {
  // Follows need social-graph; profiles are answered by identity alone, from its own replicas.
  stack = await startStack({ only: ['identity', 'social-graph', 'content'] });
});
afterAll(() => stack?.stop());

describe('a service is down', () => {
  it('answers 503 quickly on the routes that need it, serves the others, and recovers when it returns', async () => {
    const api = apiClient(stack.url);
    const { register } = accounts(api, () => stack.env);
    const [a, b] = [await register({ public: true }), await register()];
    expect((await api.get(`/api/follows?type=follower&status=agree`, { token: a.token })).status).toBe(200);

    await stack.services['social-graph']!.stop();
    try {
      for (const path of ['/api/follows?type=follower&status=agree', '/api/follows?type=following&status=agree']) {
        const res = await api.get(path, { token: a.token });
        expectError(res, 503); // refused connections fail fast, retries are bounded
        expect(res.body.code).toBe('service_unavailable');
        expectNoInternals(res);
      }
      const write = await api.post(`/api/follows/request/${b.id}`, undefined, { token: a.token });
      expectError(write, 503);
      expectNoInternals(write);
      // Identity alone answers these.
      expect((await api.get('/api/users/me', { token: a.token })).status).toBe(200);
      expect((await api.get(`/api/users/${b.id}`, { token: a.token })).status).toBe(200);
      expect((await api.get(`/api/users?search=${b.username}`, { token: a.token })).status).toBe(200);
    } finally {
      await stack.restartService('social-graph');
    }

    // The same gateway, without a restart, reaches it again.
    const back = await waitFor(async () => {
      const res = await api.get('/api/follows?type=follower&status=agree', { token: a.token });
      return res.status === 200 ? res : null;
    }, 10_000);
    expect(back.body.data.users).toEqual([]);
    expect((await api.post(`/api/follows/request/${b.id}`, undefined, { token: a.token })).status).toBe(201);
  });

  it('a service that was never there is a 503 too, not a hang', async () => {
    const gw = await startGateway({ ...stack.env, SOCIAL_GRAPH_ADDR: '127.0.0.1:1' }, createLogger('test', 'silent'));
    try {
      const api = apiClient(gw.url);
      const a = await accounts(api, () => stack.env).register();
      const res = await api.get('/api/follows?type=following&status=agree', { token: a.token });
      expectError(res, 503);
      expect(res.body.code).toBe('service_unavailable');
      expectNoInternals(res);
    } finally {
      await gw.stop();
    }
  });
});

describe('a slow service', () => {
  let slow: grpc.Server;
  let gw: StartedGateway;

  beforeAll(async () => {
    // social-graph's contract, every method answering (503) only after 20 s: a 504 is the deadline's.
    slow = new grpc.Server();
    const impl: grpc.UntypedServiceImplementation = {};
    for (const name of Object.keys(socialgraph.SocialGraphServiceService)) {
      impl[name] = ((_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
        const t = setTimeout(() => cb({ code: grpc.status.UNAVAILABLE, details: 'too late' }, null), 20_000);
        t.unref();
      }) as grpc.UntypedHandleCall;
    }
    slow.addService(socialgraph.SocialGraphServiceService as unknown as grpc.ServiceDefinition, impl);
    const port = await new Promise<number>((resolve, reject) =>
      slow.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    gw = await startGateway({ ...stack.env, SOCIAL_GRAPH_ADDR: `127.0.0.1:${port}`, GRPC_DEADLINE_MS: '300' }, createLogger('test', 'silent'));
  });
  afterAll(async () => {
    await gw?.stop();
    slow?.forceShutdown();
  });

  it('answers 504 at the deadline, in the envelope', async () => {
    // Sign up through the healthy gateway: hashing a password may take longer than 300 ms.
    const a = await accounts(apiClient(stack.url), () => stack.env).register();
    const api = apiClient(gw.url);
    for (const path of ['/api/follows?type=follower&status=agree', '/api/follows?type=following&status=agree']) {
      const res = await api.get(path, { token: a.token });
      expectError(res, 504);
      expect(res.body.code).toBe('gateway_timeout');
      expectNoInternals(res);
    }
    expect((await api.get('/api/users/me', { token: a.token })).status).toBe(200);
    expect((await api.get(`/api/users/${a.id}`, { token: a.token })).status).toBe(200); // identity alone
  });
});

describe('Postgres unreachable for a service', () => {
  it('answers 503, not 500, quickly and without internals', async () => {
    // social-graph's own test start, with a pool that cannot connect (nothing listens on the port).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.join(REPO_ROOT, 'services/social-graph/test/start.ts')) as { start(ctx: StartContext): Promise<StartedService> };
    const logger = createLogger('test', 'silent');
    const env = {
      ...stack.env,
      DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/shutter`,
      // Its own event stream: a consumer that cannot reach its database must not hold (as pending)
      // the events other test files are waiting for on the shared stream.
      REDIS_KEY_PREFIX: `${stack.env.REDIS_KEY_PREFIX}${unique('broken')}:`,
    };
    const broken = await mod.start({ env, addrs: {}, logger });
    const gw = await startGateway({ ...stack.env, SOCIAL_GRAPH_ADDR: broken.addr }, logger);
    try {
      const { register } = accounts(apiClient(stack.url), () => stack.env);
      const [a, b] = [await register(), await register()];
      const api = apiClient(gw.url);
      for (const [method, p] of [
        ['GET', '/api/follows?type=follower&status=agree'],
        ['POST', `/api/follows/request/${b.id}`],
      ] as const) {
        const res = await api.request(method, p, { token: a.token });
        expectError(res, 503);
        expect(res.body.code).toBe('service_unavailable');
        expectNoInternals(res);
      }
    } finally {
      await gw.stop();
      await broken.stop();
    }
  });
});
