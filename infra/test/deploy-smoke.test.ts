import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildBundles, PROCESSES, smokeFlow, startArtifactStack, type ArtifactStack } from '../../scripts/lib/smoke';
import { metricsExported, metricsUsed } from './metric-names';

/**
 * Tested artifacts (issue 14): the Dockerfile's bundles (scripts/build-bundle.sh), plain `node`,
 * behind real nginx with the production config, one journey through it. `make smoke` is the same.
 */
jest.setTimeout(180_000);

let bundles: string;
let stack: ArtifactStack | undefined;

beforeAll(async () => {
  bundles = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-bundles-'));
  await buildBundles(bundles);
  stack = await startArtifactStack(bundles, { pgAdminUrl: process.env.TEST_PG_ADMIN_URL!, redisUrl: process.env.TEST_REDIS_URL! });
});

afterAll(async () => {
  await stack?.stop();
  fs.rmSync(bundles, { recursive: true, force: true });
});

describe('the production bundles behind nginx', () => {
  it('are self-contained: a bundle, the native modules it requires and nothing else', () => {
    for (const p of PROCESSES) {
      const app = path.join(bundles, p, 'app');
      expect(fs.readdirSync(path.join(app, 'dist')).filter((f) => f.endsWith('.js'))).toEqual([`${p}.js`]);
      const modules = fs.readdirSync(path.join(app, 'node_modules'));
      for (const bundled of ['fastify', 'knex', 'pg', '@grpc', 'ioredis', 'typescript', 'tsx']) expect(modules).not.toContain(bundled);
    }
    expect(fs.readdirSync(path.join(bundles, 'identity/app/node_modules'))).toContain('argon2');
    expect(fs.readdirSync(path.join(bundles, 'content/app/node_modules'))).toContain('sharp');
  });

  it('serve register → direct upload → post → feed → like → comment → event stream', async () => {
    const steps = await smokeFlow(stack!.url);
    expect(steps).toEqual(
      expect.arrayContaining([
        'register author',
        'direct upload through nginx to the store',
        'post with the uploaded media',
        'image downloaded through nginx',
        "post in the follower's home feed",
        'like',
        'comment',
        'like and comment arrive on the event stream',
      ]),
    );
    const memory = stack!.memory();
    expect(Object.keys(memory).sort()).toEqual([...PROCESSES].sort());
    // Printed for docs/deploy.md's memory budget (a check, not a benchmark).
    console.log(`artifact RSS after the journey (MiB): ${JSON.stringify(memory)}`);
  });

  it('export every metric the alert rules and the Grafana dashboard read', async () => {
    const exported = new Set<string>();
    for (const url of Object.values(stack!.metricsUrls)) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      for (const name of metricsExported(await res.text())) exported.add(name);
    }
    expect(metricsUsed().filter((name) => !exported.has(name))).toEqual([]);
  });
});
