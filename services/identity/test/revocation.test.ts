import { identity } from '@shutter/proto';
import { DISABLED_USERS_KEY, REVOCATIONS_VERSION_KEY, REVOKED_SESSIONS_KEY, revocationsChannel, type RevocationMessage } from '@shutter/contracts';
import { createClient, createLogger, createMetrics, type Client, type Redis } from '@shutter/kit';
import { testEnv, testRedis, testSigner, unique, waitFor } from '@shutter/testing';
import { decodeJwt } from 'jose';
import { loadIdentityConfig } from '../src/config';
import { createIdentityService } from '../src/server';

/** identity's side of revocation (@shutter/contracts): what it writes to Redis and publishes, and the rebuild. */

const ACCESS_TTL = 120;
let service: Awaited<ReturnType<typeof createIdentityService>>;
let client: Client<typeof identity.IdentityServiceService>;
let redis: Redis;
let sub: Redis;
const messages: RevocationMessage[] = [];

beforeAll(async () => {
  const env = testEnv({ LOG_LEVEL: 'silent', ACCESS_TOKEN_TTL: String(ACCESS_TTL), REVOCATION_CHECK_MS: '100' });
  service = await createIdentityService(loadIdentityConfig(env), createLogger('identity-test', 'silent'), createMetrics('identity'), {
    stream: unique('events-'),
  });
  client = createClient(identity.IdentityServiceService, `127.0.0.1:${await service.start('127.0.0.1:0')}`, { service: 'identity', auth: testSigner() });
  redis = testRedis();
  sub = redis.duplicate();
  sub.on('message', (_c: string, text: string) => messages.push(JSON.parse(text) as RevocationMessage));
  await sub.subscribe(revocationsChannel(redis.options.keyPrefix ?? ''));
});
afterAll(async () => {
  client?.close();
  await service?.stop(1000);
  await sub?.quit();
  await redis?.quit();
});

const sidOf = (token: string) => decodeJwt(token).sid as string;

async function signUp() {
  const name = unique('r');
  const res = await client.register({ email: `${name}@example.com`, username: name, password: 'password-1' });
  return { id: res.user!.userId, email: `${name}@example.com`, sid: sidOf(res.tokens!.accessToken) };
}

describe('revocation state', () => {
  it('logout-all ends every open session: marked in Postgres, added to Redis until the last token expires, published', async () => {
    const u = await signUp();
    const second = await client.login({ email: u.email, password: 'password-1', clientIp: '' });
    const sids = [u.sid, sidOf(second.tokens!.accessToken)];
    const before = Number(await redis.get(REVOCATIONS_VERSION_KEY));
    const t0 = Date.now();
    await client.logoutAll({}, { userId: u.id });
    const rows = await service.db('sessions').whereIn('id', sids);
    expect(rows.map((r) => r.end_reason)).toEqual(['logout_all', 'logout_all']);
    for (const sid of sids) {
      const until = Number(await redis.zscore(REVOKED_SESSIONS_KEY, sid));
      expect(until).toBeGreaterThanOrEqual(t0 + ACCESS_TTL * 1000);
      expect(until).toBeLessThan(Date.now() + ACCESS_TTL * 1000 + 120_000);
    }
    expect(Number(await redis.get(REVOCATIONS_VERSION_KEY))).toBeGreaterThan(before);
    await waitFor(() => messages.some((m) => m.type === 'sessions' && sids.every((s) => m.ids.includes(s))));
    // Nothing left to end: a second call publishes nothing new and still answers.
    await expect(client.logoutAll({}, { userId: u.id })).resolves.toEqual({});
  });

  it('is rebuilt from Postgres soon after Redis loses it', async () => {
    const u = await signUp();
    await client.logoutAll({}, { userId: u.id });
    const admin = await service.db('users').where({ role: 'admin' }).first();
    const d = await signUp();
    await client.setStatus({ userId: d.id, status: 'disabled' }, { userId: admin.id, role: 'admin' });
    await redis.del(REVOCATIONS_VERSION_KEY, REVOKED_SESSIONS_KEY, DISABLED_USERS_KEY);
    messages.length = 0;
    await waitFor(async () => (await redis.exists(REVOCATIONS_VERSION_KEY)) === 1);
    expect(await redis.zscore(REVOKED_SESSIONS_KEY, u.sid)).not.toBeNull();
    expect(await redis.zscore(REVOKED_SESSIONS_KEY, d.sid)).not.toBeNull();
    expect(await redis.sismember(DISABLED_USERS_KEY, d.id)).toBe(1);
    await waitFor(() => messages.some((m) => m.type === 'resync'));
  });
});
