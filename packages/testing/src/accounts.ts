import { testDb, unique } from './fixtures';
import { waitFor, type ApiClient, type ApiResponse } from './http';

/** The replicas of identity's users in this run's database (schema.table), filled by identity's events. */
const USER_REPLICAS = [
  { schema: 'content', table: 'authors' },
  { schema: 'graph', table: 'users' },
  { schema: 'notification', table: 'actors' },
];

/**
 * Waits until every users replica of the started services holds the user at identity's version:
 * a test acts right after a sign-up or a privacy change, before identity's event has reached the
 * services that read their own copies (as a client retrying would see). A replica counts once its
 * service has backfilled it (its replica_state row): a service not started has none.
 */
export async function replicasHold(userId: string): Promise<void> {
  const db = testDb('public');
  try {
    const tables: string[] = [];
    for (const r of USER_REPLICAS) {
      const state = await db.raw('SELECT to_regclass(?) AS t', [`${r.schema}.replica_state`]);
      if (state.rows[0].t && (await db(`${r.schema}.replica_state`).where({ name: r.table }).first('name'))) tables.push(`${r.schema}.${r.table}`);
    }
    if (tables.length === 0) return;
    const { version } = await db('identity.users').where({ id: userId }).first('version');
    for (const t of tables) await waitFor(async () => Boolean(await db(t).where({ id: userId }).andWhere('version', '>=', version).first('id')));
  } finally {
    await db.destroy();
  }
}

/** A signed-up account as API tests use it. */
export interface TestUser {
  token: string;
  refreshToken: string;
  id: string;
  username: string;
  email: string;
  password: string;
  /** The `user` object register answered. */
  user: any;
}

export const TEST_PASSWORD = 'correct horse';

/** Asserts docs/api.md's error envelope: status, a string detail and code, the request id echoed. */
export function expectError(res: ApiResponse, status: number, detail?: string | RegExp): void {
  expect(res.status).toBe(status);
  expect(typeof res.body.detail).toBe('string');
  expect(typeof res.body.code).toBe('string');
  expect(res.body.request_id).toBe(res.headers.get('x-request-id'));
  if (detail) expect(res.body.detail).toMatch(detail);
}

/** Account helpers over the real HTTP API: sign-up, privacy, admin, follows. */
export function accounts(api: ApiClient, env: () => NodeJS.ProcessEnv) {
  async function setPublic(u: TestUser, isPublic: boolean): Promise<void> {
    const res = await api.patch('/api/users', { is_public: isPublic }, { token: u.token });
    if (res.status !== 200) throw new Error(`set is_public: ${res.status} ${JSON.stringify(res.body)}`);
    await replicasHold(u.id);
  }

  return {
    setPublic,

    /** A new private account (or public with `{ public: true }`). */
    async register(opts: { public?: boolean; prefix?: string; username?: string } = {}): Promise<TestUser> {
      const username = opts.username ?? unique(opts.prefix ?? 'u');
      const email = `${username}@example.com`;
      const res = await api.post('/api/users/register', { email, username, password: TEST_PASSWORD });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
      const d = res.body.data;
      const u: TestUser = {
        token: d.token,
        refreshToken: d.refresh_token,
        id: d.user.user_id,
        username: d.user.username,
        email,
        password: TEST_PASSWORD,
        user: d.user,
      };
      if (opts.public) await setPublic(u, true);
      else await replicasHold(u.id);
      return u;
    },

    /** The bootstrapped admin's access token (ADMIN_EMAIL / ADMIN_PASSWORD of the stack). */
    async adminToken(): Promise<string> {
      const res = await api.post('/api/users/login', { email: env().ADMIN_EMAIL, password: env().ADMIN_PASSWORD });
      if (res.status !== 200) throw new Error(`admin login: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.data.token;
    },

    /** `follower` follows `followee` with an agree edge (accepted if the followee is private). */
    async follow(follower: TestUser, followee: TestUser): Promise<string> {
      const req = await api.post(`/api/follows/request/${followee.id}`, undefined, { token: follower.token });
      if (req.status !== 200 && req.status !== 201) throw new Error(`follow: ${req.status} ${JSON.stringify(req.body)}`);
      const followsId = req.body.data.follows_id as string;
      if (req.body.data.status === 'pending') {
        const agreed = await api.post(`/api/follows/${followsId}`, { status: 'agree' }, { token: followee.token });
        if (agreed.status !== 200) throw new Error(`agree: ${agreed.status} ${JSON.stringify(agreed.body)}`);
      }
      return followsId;
    },
  };
}
