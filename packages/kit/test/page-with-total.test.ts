import { testDb, unique } from '@shutter/testing';
import { pageWithTotal, type Knex } from '../src/index-db';

/**
 * kit pageWithTotal: a page and the total it pages through agree, even while rows are being
 * added (two statements on two pooled connections could count a row they did not list).
 */

let db: Knex;
const schema = unique('page_total_');

beforeAll(async () => {
  db = testDb(schema);
  await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  await db.raw('CREATE TABLE items (id serial PRIMARY KEY, owner int NOT NULL)');
});
afterAll(async () => {
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
});

const page = (owner: number, offset: number, limit: number) =>
  pageWithTotal<{ id: number; owner: number }>(db, db('items').where({ owner }).orderBy('id', 'desc'), ['id', 'owner'], offset, limit);

it('answers the page, newest first, and the total; an empty owner and a page past the end', async () => {
  await db('items').insert(Array.from({ length: 7 }, () => ({ owner: 1 })));
  await db('items').insert({ owner: 2 });
  const first = await page(1, 0, 3);
  expect(first.total).toBe(7);
  expect(first.rows.map((r) => r.owner)).toEqual([1, 1, 1]);
  expect(first.rows.map((r) => r.id)).toEqual([...first.rows.map((r) => r.id)].sort((a, b) => b - a));
  expect(Object.keys(first.rows[0]!).sort()).toEqual(['id', 'owner']);
  expect((await page(1, 6, 3)).rows).toHaveLength(1);
  expect(await page(1, 9, 3)).toEqual({ rows: [], total: 7 });
  expect(await page(3, 0, 3)).toEqual({ rows: [], total: 0 });
});

it('never answers a total its page contradicts while rows are being added', async () => {
  const owner = 10;
  let adding = true;
  const writer = (async () => {
    while (adding) await db('items').insert({ owner });
  })();
  try {
    // Offsets near the end too: a page there is empty or not depending on the rows just added.
    for (let i = 0; i < 300; i++) {
      const { total: seen } = await page(owner, 0, 1);
      const offset = i % 2 === 0 ? i % 3 : seen + (i % 3) - 1;
      const { rows, total } = await page(owner, offset, 2);
      expect(rows.length).toBe(Math.min(2, Math.max(0, total - offset)));
    }
  } finally {
    adding = false;
    await writer;
  }
});
