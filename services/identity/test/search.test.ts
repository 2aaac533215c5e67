import { createDb, migrate, type Knex } from '@shutter/kit/db';
import { testBackends, unique } from '@shutter/testing';
import { migrations } from '../src/migrations';
import { SEARCH_MAX_RESULTS } from '@shutter/contracts';
import { createUsersRepository, searchSql } from '../src/users-repository';

/**
 * User search has a bounded cost: on a table of realistic size the planner answers every kind of
 * accepted query from an index (EXPLAIN), and a call never sorts or counts the whole table.
 * A schema of its own: 30 000 users would crowd the shared one.
 */
const schema = `identity_search_${unique('')}`;
let db: Knex;
let users: ReturnType<typeof createUsersRepository>;
const USERS = 30_000;

beforeAll(async () => {
  db = createDb({ url: testBackends().databaseUrl, schema, poolMax: 2 });
  await migrate(db, schema, migrations);
  // Usernames and names from a small syllable set: common prefixes and trigrams, as in real data.
  await db.raw(`
    INSERT INTO users (id, email, username, name, password_hash, status, role)
    SELECT gen_random_uuid(), 'u' || i || '@example.com',
           s1 || s2 || '_' || i, initcap(s2 || s1) || ' ' || s1 || 'son',
           '$argon2id$v=19$m=19456,t=2,p=1$' || md5(i::text) || '$' || md5((i + 1)::text) || md5((i + 2)::text),
           CASE WHEN i % 50 = 0 THEN 'disabled' ELSE 'enabled' END, 'user'
    FROM generate_series(1, ${USERS}) i,
         LATERAL (SELECT (ARRAY['ma','ri','jo','an','el','ka','to','li','sa','ne'])[1 + i % 10] AS s1,
                         (ARRAY['rco','sa','hn','na','la','te','mas','nda','ra','lo','vi'])[1 + (i / 10) % 11] AS s2) s`);
  // As autovacuum would: GIN costs are estimated from a vacuumed index.
  await db.raw('VACUUM ANALYZE users');
  users = createUsersRepository(db);
}, 120_000);

afterAll(async () => {
  await db?.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db?.destroy();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(nodes)];
}

async function plan(q: string): Promise<PlanNode[]> {
  const sql = searchSql(q);
  const { rows } = await db.raw<{ rows: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }> }>(
    `EXPLAIN (FORMAT JSON) ${sql.text} ORDER BY m.tier, m.username COLLATE "C" OFFSET 0 LIMIT 10`,
    sql.bindings,
  );
  return nodes(rows[0]!['QUERY PLAN'][0]!.Plan);
}

describe('user search cost', () => {
  it.each(['', 'm', 'ma', 'mar', 'marco', 'marco_1', 'Rcosa', 'sa_', 'a%b', '___', '...', 'zzzz', 'ñañ', 'jo 12'])(
    'reads users through an index for %p',
    async (q) => {
      const scanned = (await plan(q.toLowerCase())).filter((n) => n['Relation Name'] === 'users');
      expect(scanned.length).toBeGreaterThan(0);
      if (process.env.SEARCH_PLAN_DEBUG) console.log(q, JSON.stringify(scanned.map((n) => n['Node Type'])));
      for (const n of scanned) expect(n['Node Type']).not.toBe('Seq Scan');
    },
  );

  it('caps the count and the depth at SEARCH_MAX_RESULTS', async () => {
    const all = await users.search('', 0, 10);
    expect(all.total).toBe(SEARCH_MAX_RESULTS);
    expect(all.rows).toHaveLength(10);
    const last = await users.search('', SEARCH_MAX_RESULTS - 5, 10);
    expect(last.rows).toHaveLength(5);
    expect((await users.search('', SEARCH_MAX_RESULTS, 10)).rows).toEqual([]);
  });

  it('ranks exact, then prefix, then substring matches; leaves disabled users out', async () => {
    const { username } = await db('users').where({ email: 'u11@example.com' }).first('username');
    const res = await users.search(username, 0, 100);
    const names = res.rows.map((u) => u.username);
    expect(names[0]).toBe(username);
    const tier = (n: string) => (n === username ? 0 : n.startsWith(username) ? 1 : 2);
    expect(names.map(tier)).toEqual([...names.map(tier)].sort());
    expect(names.length).toBeGreaterThan(1);
    expect(res.rows.every((u) => u.status === 'enabled')).toBe(true);
    const disabled = await db('users').where({ email: 'u50@example.com' }).first('username'); // every 50th
    expect((await users.search(disabled.username, 0, 10)).rows.map((u) => u.username)).not.toContain(disabled.username);
    const sub = await users.search('rco_', 0, 100);
    expect(sub.rows.length).toBeGreaterThan(0);
    expect(sub.rows.every((u) => u.username.includes('rco_'))).toBe(true);
  });
});
