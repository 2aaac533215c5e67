import { status } from '@grpc/grpc-js';
import { identity } from '@shutter/proto';
import { createClient, createLogger, createMetrics, type Client } from '@shutter/kit';
import { testBackends, testDb, testEnv, testSigner, unique } from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
import { createIdentityService } from '../src/server';

/**
 * The login throttle (docs/api.md: failed logins slow down the pair (account, address) first): counted
 * before the password check, one key per account as the lookup sees it, per address overall.
 */
type IdentityClient = Client<typeof identity.IdentityServiceService>;

const MAX = 5;
const ADDRESS_MAX = 12;
let service: Awaited<ReturnType<typeof createIdentityService>>;
let client: IdentityClient;

beforeAll(async () => {
  const env = testEnv({
    LOG_LEVEL: 'silent',
    LOGIN_MAX_ATTEMPTS: String(MAX),
    LOGIN_ADDRESS_MAX_ATTEMPTS: String(ADDRESS_MAX),
    // Its own key space: the counters of other test files never meet these.
    REDIS_KEY_PREFIX: `${testBackends().redisPrefix}${unique('lt')}:`,
  });
  service = await createIdentityService(loadIdentityConfig(env), createLogger('identity-test', 'silent'), createMetrics('identity'), {
    stream: `events-lt-${unique()}`,
  });
  const port = await service.start('127.0.0.1:0');
  client = createClient(identity.IdentityServiceService, `127.0.0.1:${port}`, { service: 'identity', auth: testSigner() });
});

afterAll(async () => {
  client?.close();
  await service?.stop(1000);
});

const PASSWORD = 'password-1';
let addressSeq = 0;
/** A fresh client address per test: counters never leak between tests. */
const newAddress = () => `203.0.113.${++addressSeq}`;

async function register(local = unique('lt')) {
  const email = `${local}@example.com`;
  await client.register({ email, username: unique('lt'), password: PASSWORD });
  return email;
}

/** The gRPC status of a login attempt (0 = signed in). */
async function login(email: string, password: string, clientIp: string): Promise<number> {
  try {
    await client.login({ email, password, clientIp });
    return status.OK;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe('login throttle', () => {
  it('counts before it checks: concurrent wrong guesses cannot pass the limit, and then the right password waits too', async () => {
    const email = await register();
    const ip = newAddress();
    const results = await Promise.all(Array.from({ length: 20 }, () => login(email, 'wrong-guess', ip)));
    expect(results.filter((c) => c === status.INVALID_ARGUMENT)).toHaveLength(MAX);
    expect(results.filter((c) => c === status.RESOURCE_EXHAUSTED)).toHaveLength(20 - MAX);
    expect(await login(email, PASSWORD, ip)).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('says when to come back (Retry-After from the window)', async () => {
    const email = await register();
    const ip = newAddress();
    for (let i = 0; i < MAX; i++) await login(email, 'wrong-guess', ip);
    try {
      await client.login({ email, password: PASSWORD, clientIp: ip });
      throw new Error('expected 429');
    } catch (err) {
      const e = err as { code: number; metadata: { get(k: string): unknown[] } };
      expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(Number(e.metadata.get('retry-after')[0])).toBeGreaterThan(0);
    }
  });

  it('another address still signs in: nobody locks an account from elsewhere', async () => {
    const email = await register();
    const attacker = newAddress();
    for (let i = 0; i < MAX + 3; i++) await login(email, 'wrong-guess', attacker);
    expect(await login(email, PASSWORD, attacker)).toBe(status.RESOURCE_EXHAUSTED);
    expect(await login(email, PASSWORD, newAddress())).toBe(status.OK);
  });

  it('a correct password resets the pair', async () => {
    const email = await register();
    const ip = newAddress();
    for (let i = 0; i < MAX - 1; i++) expect(await login(email, 'wrong-guess', ip)).toBe(status.INVALID_ARGUMENT);
    expect(await login(email, PASSWORD, ip)).toBe(status.OK);
    for (let i = 0; i < MAX - 1; i++) expect(await login(email, 'wrong-guess', ip)).toBe(status.INVALID_ARGUMENT);
    expect(await login(email, PASSWORD, ip)).toBe(status.OK);
  });

  it('spellings the lookup joins share one counter (case, and `İ` where Postgres lower-cases it to i)', async () => {
    const local = `ix${unique('')}`;
    const email = await register(local);
    const db = testDb('identity');
    const { rows } = await db.raw<{ rows: Array<{ l: string }> }>("SELECT lower('İ') AS l");
    await db.destroy();
    const dotted = rows[0]?.l === 'i';
    const ip = newAddress();
    const variants = [
      `IX${local.slice(2)}@EXAMPLE.COM`,
      email,
      `iX${local.slice(2)}@Example.com`,
      ...(dotted ? [`İX${local.slice(2)}@example.com`, `İx${local.slice(2)}@EXAMPLE.com`] : []),
    ];
    // Each spelling signs in to the same account (the lookup joins them)…
    for (const v of variants) expect(await login(v, PASSWORD, newAddress())).toBe(status.OK);
    // …so wrong guesses spread over the spellings exhaust one budget, not one each.
    for (let i = 0; i < MAX; i++) expect(await login(variants[i % variants.length]!, 'wrong-guess', ip)).toBe(status.INVALID_ARGUMENT);
    for (const v of variants) expect(await login(v, PASSWORD, ip)).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('limits failures per address across accounts, and unknown emails count the same', async () => {
    const ip = newAddress();
    let failures = 0;
    while (failures < ADDRESS_MAX) {
      const email = failures % 2 ? await register() : `${unique('nobody')}@example.com`;
      for (let i = 0; i < 3 && failures < ADDRESS_MAX; i++, failures++) expect(await login(email, 'wrong-guess', ip)).toBe(status.INVALID_ARGUMENT);
    }
    const fresh = await register();
    expect(await login(fresh, PASSWORD, ip)).toBe(status.RESOURCE_EXHAUSTED);
    expect(await login(fresh, PASSWORD, newAddress())).toBe(status.OK);
  });
});
