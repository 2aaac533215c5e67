import * as argon2 from 'argon2';
import { identity } from '@shutter/proto';
import { createClient, createLogger, createMetrics, type Client, type Logger } from '@shutter/kit';
import { testEnv, testSigner, unique } from '@shutter/testing';
import { ensureAdmin } from '../src/admin-bootstrap';
import { loadIdentityConfig } from '../src/config';
import { createIdentityService } from '../src/server';

/**
 * Admin bootstrap (docs/api.md *Running it*): ADMIN_EMAIL's account is created as an admin, or promoted
 * only when ADMIN_PASSWORD is already its password; every conflict is one clear log line and
 * start-up goes on.
 */

let service: Awaited<ReturnType<typeof createIdentityService>>;
let client: Client<typeof identity.IdentityServiceService>;

beforeAll(async () => {
  service = await createIdentityService(
    loadIdentityConfig(testEnv({ LOG_LEVEL: 'silent' })),
    createLogger('identity-test', 'silent'),
    createMetrics('identity'),
    {
      stream: unique('events-'),
    },
  );
  client = createClient(identity.IdentityServiceService, `127.0.0.1:${await service.start('127.0.0.1:0')}`, { service: 'identity', auth: testSigner() });
});
afterAll(async () => {
  client?.close();
  await service?.stop(1000);
});

/** A logger that keeps its lines (level and message). */
function recordingLogger() {
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (a: unknown, b?: unknown) => lines.push({ level, msg: String(typeof a === 'string' ? a : b) });
  return { log: { info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger, lines };
}

const roleOf = async (email: string) => (await service.users.findByEmail(email))?.role;

describe('admin bootstrap', () => {
  it('does nothing without ADMIN_EMAIL and ADMIN_PASSWORD', async () => {
    const { log } = recordingLogger();
    expect(await ensureAdmin(service.users, { email: `${unique('a')}@example.com`, username: unique('adm') }, log)).toBe('not_configured');
    expect(await ensureAdmin(service.users, { password: 'a password', username: unique('adm') }, log)).toBe('not_configured');
  });

  it('creates the admin with that password, and a second run changes nothing', async () => {
    const { log } = recordingLogger();
    const opts = { email: `${unique('a')}@example.com`, password: 'admin password 1', username: unique('adm') };
    expect(await ensureAdmin(service.users, opts, log)).toBe('created');
    const row = (await service.users.findByEmail(opts.email))!;
    expect(row).toMatchObject({ role: 'admin', username: opts.username, status: 'enabled' });
    expect(await argon2.verify(row.password_hash, opts.password)).toBe(true);
    expect(await ensureAdmin(service.users, opts, log)).toBe('already_admin');
    expect(await service.users.findByEmail(opts.email)).toEqual(row);
  });

  it('never promotes an existing account whose password is not ADMIN_PASSWORD (anyone can register an email)', async () => {
    const name = unique('squat');
    const email = `${name}@example.com`;
    await client.register({ email, username: name, password: 'the squatter password' });
    const { log, lines } = recordingLogger();
    expect(await ensureAdmin(service.users, { email: email.toUpperCase(), password: 'the operator password', username: unique('adm') }, log)).toBe(
      'password_mismatch',
    );
    expect(await roleOf(email)).toBe('user');
    expect(lines).toEqual([{ level: 'error', msg: expect.stringMatching(/ADMIN_EMAIL .* NOT promoted/) }]);
    // Its tokens keep saying "user": a sign-in answers the same role.
    expect((await client.login({ email, password: 'the squatter password', clientIp: '' })).user?.role).toBe('user');
  });

  it('promotes an existing account when ADMIN_PASSWORD is its own password', async () => {
    const name = unique('own');
    const email = `${name}@example.com`;
    await client.register({ email, username: name, password: 'my own password' });
    const { log } = recordingLogger();
    expect(await ensureAdmin(service.users, { email, password: 'my own password', username: unique('adm') }, log)).toBe('promoted');
    expect(await roleOf(email)).toBe('admin');
  });

  it('a taken ADMIN_USERNAME is a clear message, not an error', async () => {
    const taken = unique('admin');
    await client.register({ email: `${taken}@example.com`, username: taken, password: 'somebody else' });
    const { log, lines } = recordingLogger();
    const email = `${unique('a')}@example.com`;
    expect(await ensureAdmin(service.users, { email, password: 'admin password 1', username: taken }, log)).toBe('username_taken');
    expect(await service.users.findByEmail(email)).toBeUndefined();
    expect(lines).toEqual([{ level: 'error', msg: expect.stringMatching(new RegExp(`"${taken}" is taken .*ADMIN_USERNAME`)) }]);
  });

  it('a service whose bootstrap conflicts still starts and serves (no crash loop)', async () => {
    const taken = unique('admin');
    await client.register({ email: `${taken}@example.com`, username: taken, password: 'somebody else' });
    const env = testEnv({ LOG_LEVEL: 'silent', ADMIN_EMAIL: `${unique('a')}@example.com`, ADMIN_PASSWORD: 'admin password 1', ADMIN_USERNAME: taken });
    const other = await createIdentityService(loadIdentityConfig(env), createLogger('identity-test', 'silent'), createMetrics('identity'), {
      stream: unique('events-'),
    });
    try {
      const port = await other.start('127.0.0.1:0');
      const c = createClient(identity.IdentityServiceService, `127.0.0.1:${port}`, { service: 'identity', auth: testSigner() });
      try {
        expect((await c.getPublicKeys({})).jwksJson).toContain('EdDSA');
      } finally {
        c.close();
      }
    } finally {
      await other.stop(1000);
    }
  });
});
