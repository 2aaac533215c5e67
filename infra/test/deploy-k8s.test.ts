import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { HEAP_MB } from '../../scripts/lib/smoke';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkManifests, EXTERNAL_SECRETS } = require('../check-deploy') as {
  checkManifests: (e: Array<{ file: string; doc: unknown }>) => string[];
  EXTERNAL_SECRETS: Map<string, string[]>;
};

/**
 * Every overlay of k8s/ renders (kubectl kustomize, offline) and validates against the Kubernetes,
 * Gateway API and Traefik schemas (infra/validate-k8s.mjs); plus what issue 14 asks of them.
 */
const ROOT = path.resolve(__dirname, '../..');
const OVERLAYS = fs.readdirSync(path.join(ROOT, 'k8s/overlays')).sort();
const SERVICES = ['identity', 'social-graph', 'content', 'notification'];

type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: any };

function render(overlay: string): { text: string; docs: Doc[] } {
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', path.join(ROOT, 'k8s/overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    throw new Error(
      e.code === 'ENOENT' ? 'kubectl is needed to render k8s/ (kubectl kustomize, offline)' : `kubectl kustomize k8s/overlays/${overlay}: ${e.stderr}`,
      { cause: err },
    );
  }
  return { text, docs: YAML.parseAllDocuments(text).map((d) => d.toJS() as Doc) };
}

/*
 * Rendering needs kubectl (kustomize), which neither npm nor Debian's current packages provide in
 * a recent enough version: without it these suites are skipped, loudly (CI's machine has it).
 */
const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
if (!HAVE_KUBECTL) console.warn('kubectl not found: the k8s/ rendering and schema tests are skipped (install kubectl ≥ 1.27 to run them)');
const withKubectl = HAVE_KUBECTL ? describe : describe.skip;
const rendered = HAVE_KUBECTL ? Object.fromEntries(OVERLAYS.map((o) => [o, render(o)])) : {};
const byKind = (o: string, kind: string) => rendered[o]!.docs.filter((d) => d.kind === kind);
const named = (o: string, kind: string, name: string) => byKind(o, kind).find((d) => d.metadata.name === name);

/** Who may open a connection to whom among the processes, from ingress and egress rules both. */
function callingPairs(o: string): string[] {
  const policies = byKind(o, 'NetworkPolicy');
  const procs = ['gateway', ...SERVICES];
  const labels = (p: string) => ({ 'app.kubernetes.io/name': p, 'app.kubernetes.io/component': p === 'gateway' ? 'gateway' : 'service' });
  const selects = (sel: any, l: Record<string, string>) =>
    Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => l[k] === v) &&
    (sel?.matchExpressions ?? []).every((e: any) => e.operator === 'In' && e.values.includes(l[e.key]));
  const allowed = (from: string, to: string, dir: 'ingress' | 'egress') => {
    const subject = dir === 'ingress' ? to : from;
    const peer = dir === 'ingress' ? from : to;
    const applying = policies.filter(
      (p) => (p.spec.policyTypes ?? []).includes(dir === 'ingress' ? 'Ingress' : 'Egress') && selects(p.spec.podSelector, labels(subject)),
    );
    return applying.some((p) =>
      (p.spec[dir] ?? []).some((rule: any) => {
        const peers = rule[dir === 'ingress' ? 'from' : 'to'];
        // A rule without peers (egress by port, to anything) does not name a process.
        return peers?.some((x: any) => x.podSelector && !x.namespaceSelector && selects(x.podSelector, labels(peer)));
      }),
    );
  };
  return procs.flatMap((a) => procs.filter((b) => a !== b && allowed(a, b, 'ingress') && allowed(a, b, 'egress')).map((b) => `${a}→${b}`)).sort();
}

withKubectl.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  it('validates against the Kubernetes schemas', () => {
    const out = execFileSync(process.execPath, [path.join(ROOT, 'infra/validate-k8s.mjs')], { input: rendered[overlay]!.text, encoding: 'utf8' });
    expect(out).toMatch(/document\(s\) valid/);
  });

  it('passes the consistency checks (probes, ports, secrets, selectors, HPA owns its count, migrations)', () => {
    expect(checkManifests(rendered[overlay]!.docs.map((doc) => ({ file: `overlays/${overlay}`, doc })))).toEqual([]);
  });

  it('admits exactly the calling pairs between the processes', () => {
    expect(callingPairs(overlay)).toEqual(
      [
        'content→identity',
        'content→social-graph',
        'gateway→content',
        'gateway→identity',
        'gateway→notification',
        'gateway→social-graph',
        'identity→content',
        'identity→social-graph',
        'notification→identity',
        'social-graph→identity',
      ].sort(),
    );
  });

  it('admits the edge from its parameterised namespace only', () => {
    const edge = {
      prod: 'envoy-gateway-system',
      dev: 'envoy-gateway-system',
      'in-cluster': 'envoy-gateway-system',
      ingress: 'haproxy-controller',
      k3s: 'kube-system',
    }[overlay];
    const ns = named(overlay, 'NetworkPolicy', 'gateway')!.spec.ingress[0].from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'];
    expect(ns).toBe(edge);
    for (const r of byKind(overlay, 'HTTPRoute')) expect(r.spec.parentRefs[0].namespace).toBe(edge);
    expect(rendered[overlay]!.text).not.toMatch(/EDGE_NAMESPACE|GATEWAY_NAME|INGRESS_CLASS/);
  });

  it('migrates in a Job with a lock timeout; pods wait for it and never migrate', () => {
    const job = named(overlay, 'Job', 'shutter-migrate')!;
    const steps = [...job.spec.template.spec.initContainers, ...job.spec.template.spec.containers];
    expect(steps.map((c: any) => c.name)).toEqual(SERVICES);
    for (const c of steps) {
      const env = Object.fromEntries(c.env.map((v: any) => [v.name, v.value]));
      expect(env.MIGRATIONS).toBe('only');
      expect(env.PGOPTIONS).toMatch(/lock_timeout=\d+s/);
    }
    for (const s of SERVICES) {
      const pod = named(overlay, 'Deployment', s)!.spec.template.spec;
      expect(pod.initContainers[0].env).toContainEqual({ name: 'MIGRATIONS', value: 'wait' });
      expect(pod.containers[0].env).toContainEqual({ name: 'MIGRATIONS', value: 'skip' });
    }
  });

  it('leaves the count to the HPA, caps every heap below its memory limit', () => {
    for (const hpa of byKind(overlay, 'HorizontalPodAutoscaler'))
      expect(named(overlay, 'Deployment', hpa.spec.scaleTargetRef.name)!.spec.replicas).toBeUndefined();
    for (const [name, heap] of Object.entries(HEAP_MB)) {
      const c = named(overlay, 'Deployment', name)!.spec.template.spec.containers[0];
      expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: `--max-old-space-size=${heap}` });
      const mi = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1]);
      expect(mi(c.resources.limits.memory)).toBeGreaterThan(heap + 64);
      expect(mi(c.resources.requests.memory)).toBeGreaterThanOrEqual(MEASURED_RSS_MIB[name as keyof typeof MEASURED_RSS_MIB]);
    }
  });
});

/** Peak resident memory of the production bundles under the light bench (docs/deploy.md *Memory*). */
const MEASURED_RSS_MIB = { gateway: 157, identity: 171, 'social-graph': 95, content: 167, notification: 97 };

withKubectl('k8s routes and backends', () => {
  it('routes through the Gateway API (prod), an Ingress (ingress), Traefik (k3s)', () => {
    const route = named('prod', 'HTTPRoute', 'shutter')!;
    expect(route.spec.rules.find((r: any) => r.matches[0].path.value === '/api/events/stream').timeouts.request).toBe('0s');
    expect(byKind('prod', 'Ingress')).toEqual([]);
    expect(byKind('ingress', 'HTTPRoute')).toEqual([]);
    expect(named('ingress', 'Ingress', 'shutter')!.spec.ingressClassName).toBe('haproxy');
    expect(byKind('k3s', 'HTTPRoute')).toEqual([]);
    expect(byKind('k3s', 'Ingress').every((i) => i.spec.ingressClassName === 'traefik')).toBe(true);
    expect(
      byKind('k3s', 'Middleware')
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(['json-body-limit', 'rate-limit']);
  });

  it.each(['dev', 'in-cluster', 'k3s'])('%s brings its own backends: CloudNativePG, Redis, Garage, generated secrets', (o) => {
    expect(named(o, 'Cluster', 'shutter-db')).toBeDefined();
    expect(named(o, 'StatefulSet', 'redis')).toBeDefined();
    expect(named(o, 'StatefulSet', 'object-store')).toBeDefined();
    expect(named(o, 'Job', 'shutter-secrets-init')).toBeDefined();
    expect(named(o, 'Job', 'object-store-init')).toBeDefined();
    const config = byKind(o, 'ConfigMap').find((c) => c.metadata.name === 'shutter-config')!;
    expect(config.data.S3_ENDPOINT).toBe('http://object-store:3900');
    expect(config.data.S3_CLIENT_ENDPOINT).toMatch(/^https?:\/\/shutter\./);
    // Media on the API host: a route (Gateway API) or an Ingress path (Traefik) to the store.
    const media = [...byKind(o, 'HTTPRoute'), ...byKind(o, 'Ingress')].filter((r) => JSON.stringify(r).includes('object-store'));
    expect(media.length).toBe(1);
  });

  it('prod and ingress bring no backends and no Secret: the operator makes shutter-secrets', () => {
    for (const o of ['prod', 'ingress']) {
      expect(byKind(o, 'Secret')).toEqual([]);
      expect(byKind(o, 'StatefulSet')).toEqual([]);
    }
  });

  it('ships the same object-store scripts and config to k8s as to compose', () => {
    const same = (a: string, b: string) => expect(fs.readFileSync(path.join(ROOT, a), 'utf8')).toBe(fs.readFileSync(path.join(ROOT, b), 'utf8'));
    same('k8s/components/backends/object-store-init.js', 'infra/garage/object-store-init.js');
    same('k8s/components/backends/garage.toml', 'infra/garage/garage.toml');
    same('k8s/components/backends/acl.js', 'infra/redis/acl.js');
  });
});

describe('the in-cluster secrets Job (k8s/components/backends/secrets-init.js)', () => {
  it('creates every Secret once against the Kubernetes API, and changes nothing on a second run', async () => {
    const stored = new Map<string, { stringData: Record<string, string> }>();
    const calls: string[] = [];
    const api = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        calls.push(`${req.method} ${req.url}`);
        expect(req.headers.authorization).toBe('Bearer test-token');
        const name = /\/secrets\/([^/]+)$/.exec(req.url ?? '')?.[1];
        if (req.method === 'GET') {
          res.statusCode = name && stored.has(name) ? 200 : 404;
          return res.end('{}');
        }
        const secret = JSON.parse(body) as { metadata: { name: string }; stringData: Record<string, string> };
        if (req.method === 'POST' && stored.has(secret.metadata.name)) {
          res.statusCode = 409;
          return res.end('{}');
        }
        stored.set(secret.metadata.name, secret);
        res.statusCode = 201;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const sa = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-sa-'));
    fs.writeFileSync(path.join(sa, 'namespace'), 'shutter');
    fs.writeFileSync(path.join(sa, 'token'), 'test-token');
    const script = path.join(ROOT, 'k8s/components/backends/secrets-init.js');
    const env = { ...process.env, SA_DIR: sa, KUBE_API: `http://127.0.0.1:${(api.address() as { port: number }).port}` };
    const runJob = () =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [script], { env }, (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${errOut}`, { cause: err })) : resolve(out),
        ),
      );
    try {
      await runJob();
      expect([...stored.keys()].sort()).toEqual(['shutter-db-init', 'shutter-object-store', 'shutter-redis', 'shutter-secrets']);
      const secrets = stored.get('shutter-secrets')!.stringData;
      // Exactly the keys the Deployments read (infra/check-deploy.js), the optional admin aside.
      expect(Object.keys(secrets).sort()).toEqual(
        EXTERNAL_SECRETS.get('shutter-secrets')!
          .filter((k) => !k.startsWith('ADMIN_'))
          .sort(),
      );
      expect(secrets.CONTENT_REDIS_URL).toMatch(/^redis:\/\/content:[0-9a-f]{48}@redis:6379$/);
      expect(stored.get('shutter-redis')!.stringData['users.acl']).toMatch(/^user default off/);
      const pw = /postgres:\/\/content:([0-9a-f]{48})@/.exec(secrets.CONTENT_DATABASE_URL!)![1];
      expect(stored.get('shutter-db-init')!.stringData['init.sql']).toContain(`CREATE ROLE content LOGIN PASSWORD '${pw}';`);
      expect(stored.get('shutter-object-store')!.stringData['content-key-id']).toBe(secrets.S3_ACCESS_KEY_ID);
      const before = calls.length;
      expect(await runJob()).toMatch(/nothing to do/);
      expect(calls.slice(before)).toEqual(['GET /api/v1/namespaces/shutter/secrets/shutter-secrets']);
    } finally {
      await new Promise((r) => api.close(r));
      fs.rmSync(sa, { recursive: true, force: true });
    }
  });
});
