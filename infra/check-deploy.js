#!/usr/bin/env node
'use strict';
/**
 * Static checks of the deployment files, for machines without a cluster or a Docker engine:
 * k8s/ (every document well-formed, cross-references resolve, every Deployment has probes,
 * resources and a locked-down securityContext), docker-compose.yml and .env.example (each carries
 * every variable of the process contract below, under the exact names the code reads).
 *
 *   node infra/check-deploy.js      # prints each problem; exit code 1 if there is any
 *
 * scripts/validate-deploy.sh runs it beside `docker-compose config` and `nginx -t`;
 * infra/test/deploy-config.test.ts runs it under jest.
 */
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { DEFAULTS: NGINX_DEFAULTS } = require('../nginx/render');

const ROOT = path.resolve(__dirname, '..');

/** The processes and the variables each reads (docs/deploy.md; name = compose service = k8s name = image). */
const PROCESSES = Object.freeze({
  gateway: {
    http: 8080,
    metrics: 9100,
    env: [
      'PORT',
      'METRICS_PORT',
      'IDENTITY_ADDR',
      'SOCIAL_GRAPH_ADDR',
      'CONTENT_ADDR',
      'NOTIFICATION_ADDR',
      'REDIS_URL',
      'CORS_ORIGINS',
      'TRUST_PROXY',
      'LOG_LEVEL',
    ],
  },
  identity: {
    grpc: 50051,
    metrics: 9101,
    env: [
      'GRPC_PORT',
      'METRICS_PORT',
      'DATABASE_URL',
      'DATABASE_POOL_MAX',
      'REDIS_URL',
      'JWT_PRIVATE_KEY',
      'ACCESS_TOKEN_TTL',
      'REFRESH_TOKEN_TTL',
      'ADMIN_EMAIL',
      'ADMIN_PASSWORD',
      'LOG_LEVEL',
    ],
  },
  'social-graph': { grpc: 50052, metrics: 9102, env: ['GRPC_PORT', 'METRICS_PORT', 'DATABASE_URL', 'REDIS_URL', 'IDENTITY_ADDR'] },
  content: {
    grpc: 50053,
    metrics: 9103,
    env: [
      'GRPC_PORT',
      'METRICS_PORT',
      'DATABASE_URL',
      'REDIS_URL',
      'IDENTITY_ADDR',
      'SOCIAL_GRAPH_ADDR',
      'S3_ENDPOINT',
      'S3_REGION',
      'S3_BUCKET',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'S3_FORCE_PATH_STYLE',
      'S3_PUBLIC_URL',
      'S3_PRESIGN_TTL',
    ],
  },
  notification: { grpc: 50054, metrics: 9104, env: ['GRPC_PORT', 'METRICS_PORT', 'DATABASE_URL', 'REDIS_URL', 'IDENTITY_ADDR'] },
});

/**
 * Secrets k8s/ refers to but never holds (no default secrets, issue 12): the operator creates them
 * (k8s/README.md), or the in-cluster overlay's generator Job does. Their keys, as documented there.
 */
const EXTERNAL_SECRETS = new Map([
  [
    'shutter-secrets',
    [
      'IDENTITY_DATABASE_URL',
      'GRAPH_DATABASE_URL',
      'CONTENT_DATABASE_URL',
      'NOTIFICATION_DATABASE_URL',
      'GATEWAY_REDIS_URL',
      'IDENTITY_REDIS_URL',
      'GRAPH_REDIS_URL',
      'CONTENT_REDIS_URL',
      'NOTIFICATION_REDIS_URL',
      'INTERNAL_AUTH_SECRET',
      'JWT_PRIVATE_KEY',
      'S3_ACCESS_KEY_ID',
      'S3_SECRET_ACCESS_KEY',
      'ADMIN_EMAIL',
      'ADMIN_PASSWORD',
    ],
  ],
]);

/** Variables .env.example documents besides the processes' own. */
const EXTRA_ENV = ['HOST', 'LOGIN_MAX_ATTEMPTS', 'LOGIN_WINDOW_SECONDS', ...Object.keys(NGINX_DEFAULTS)];

/** Parses every YAML document of a file; syntax errors become problems. */
function readYaml(file, problems) {
  const rel = path.relative(ROOT, file);
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { merge: true }) // compose uses << anchors
    .map((doc, i) => {
      for (const err of doc.errors) problems.push(`${rel} (document ${i + 1}): ${err.message}`);
      return { file: rel, doc: doc.toJS() };
    })
    .filter(({ doc }) => doc !== null && doc !== undefined);
}

/** Does a label selector (matchLabels / matchExpressions) select these labels? */
function selects(selector, labels = {}) {
  if (!selector) return false;
  const okLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const okExpr = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    if (operator === 'In') return values.includes(labels[key]);
    if (operator === 'NotIn') return !values.includes(labels[key]);
    if (operator === 'Exists') return key in labels;
    if (operator === 'DoesNotExist') return !(key in labels);
    return false;
  });
  return okLabels && okExpr;
}

/** Checks Kubernetes objects (already parsed, `{file, doc}`) for consistency. Returns problems. */
function checkManifests(entries) {
  const problems = [];
  const where = (e) => `${e.file}: ${e.doc.kind ?? '?'}/${e.doc.metadata?.name ?? '?'}`;
  for (const e of entries) {
    if (!e.doc.apiVersion || !e.doc.kind || !e.doc.metadata?.name) problems.push(`${e.file}: a document lacks apiVersion, kind or metadata.name`);
  }
  const byKind = (kind) => entries.filter((e) => e.doc.kind === kind);
  const deployments = byKind('Deployment');
  const configMaps = new Map(byKind('ConfigMap').map((e) => [e.doc.metadata.name, Object.keys(e.doc.data ?? {})]));
  const secrets = new Map([...EXTERNAL_SECRETS, ...byKind('Secret').map((e) => [e.doc.metadata.name, Object.keys({ ...e.doc.data, ...e.doc.stringData })])]);
  const deploymentNamed = (name) => deployments.find((d) => d.doc.metadata.name === name);

  for (const name of Object.keys(PROCESSES)) {
    if (!deploymentNamed(name)) problems.push(`k8s: no Deployment named ${name}`);
  }

  for (const d of deployments) {
    const spec = d.doc.spec ?? {};
    const pod = spec.template?.spec ?? {};
    const name = d.doc.metadata.name;
    const proc = PROCESSES[name];
    const at = where(d);
    if (!selects(spec.selector, spec.template?.metadata?.labels)) problems.push(`${at}: selector does not select its own pod template`);
    if (typeof pod.terminationGracePeriodSeconds !== 'number') problems.push(`${at}: no terminationGracePeriodSeconds`);
    if (pod.securityContext?.runAsNonRoot !== true || typeof pod.securityContext?.runAsUser !== 'number')
      problems.push(`${at}: pod must set runAsNonRoot and a numeric runAsUser`);
    for (const c of pod.containers ?? []) {
      const cat = `${at} container ${c.name}`;
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      for (const probe of ['readinessProbe', 'livenessProbe']) if (!c[probe]) problems.push(`${cat}: no ${probe}`);
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const port = c[probe]?.httpGet?.port;
        if (typeof port === 'string' && !ports.has(port)) problems.push(`${cat}: ${probe} uses unknown port ${port}`);
      }
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
        problems.push(`${cat}: needs cpu+memory requests and a memory limit`);
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !(sc.capabilities?.drop ?? []).includes('ALL')) {
        problems.push(`${cat}: securityContext must be read-only root, no privilege escalation, drop ALL`);
      }
      if (!c.lifecycle?.preStop) problems.push(`${cat}: no preStop (endpoints must drain before SIGTERM)`);
      if (proc) {
        const image = String(c.image ?? '').split(':')[0];
        if (!image.endsWith(`/${name}`)) problems.push(`${cat}: image ${c.image} is not named ${name}`);
        if (proc.grpc) {
          if (c.readinessProbe?.grpc?.port !== proc.grpc) problems.push(`${cat}: readinessProbe must be grpc on ${proc.grpc}`);
          if (ports.get('grpc') !== proc.grpc) problems.push(`${cat}: container port grpc must be ${proc.grpc}`);
        } else if (c.readinessProbe?.httpGet?.path !== '/readyz' || c.livenessProbe?.httpGet?.path !== '/healthz') {
          problems.push(`${cat}: readiness /readyz and liveness /healthz expected`);
        }
        if (ports.get('metrics') !== proc.metrics) problems.push(`${cat}: container port metrics must be ${proc.metrics}`);
        const names = new Set((c.env ?? []).map((v) => v.name));
        for (const from of c.envFrom ?? []) {
          const ref = from.configMapRef?.name ?? from.secretRef?.name;
          const keys = from.configMapRef ? configMaps.get(ref) : secrets.get(ref);
          if (!keys) problems.push(`${cat}: envFrom names a missing ${from.configMapRef ? 'ConfigMap' : 'Secret'} ${ref}`);
          for (const k of keys ?? []) names.add(k);
        }
        for (const v of proc.env) if (!names.has(v)) problems.push(`${cat}: does not set ${v}`);
        const portVar = proc.grpc ? 'GRPC_PORT' : 'PORT';
        const own = (c.env ?? []).find((v) => v.name === portVar)?.value;
        if (own !== String(proc.grpc ?? proc.http)) problems.push(`${cat}: ${portVar} must be ${proc.grpc ?? proc.http}`);
      }
      for (const v of c.env ?? []) {
        const ref = v.valueFrom?.secretKeyRef ?? v.valueFrom?.configMapKeyRef;
        if (!ref || ref.optional) continue;
        const keys = v.valueFrom.secretKeyRef ? secrets.get(ref.name) : configMaps.get(ref.name);
        if (!keys?.includes(ref.key)) problems.push(`${cat}: ${v.name} refers to missing key ${ref.name}/${ref.key}`);
      }
    }
  }

  const workloads = [...deployments, ...byKind('StatefulSet')];
  for (const s of byKind('Service')) {
    const target = workloads.find((d) => selects({ matchLabels: s.doc.spec?.selector }, d.doc.spec?.template?.metadata?.labels));
    if (!target) {
      problems.push(`${where(s)}: selects no Deployment or StatefulSet`);
      continue;
    }
    const names = new Set((target.doc.spec.template.spec.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
    for (const p of s.doc.spec.ports ?? []) {
      if (typeof p.targetPort === 'string' && !names.has(p.targetPort))
        problems.push(`${where(s)}: targetPort ${p.targetPort} is not a port of ${target.doc.metadata.name}`);
    }
    if (PROCESSES[s.doc.metadata.name]?.grpc && s.doc.spec.clusterIP !== 'None')
      problems.push(`${where(s)}: gRPC Services are headless (client-side balancing)`);
  }

  for (const h of byKind('HorizontalPodAutoscaler')) {
    if (!deploymentNamed(h.doc.spec?.scaleTargetRef?.name)) problems.push(`${where(h)}: scales a missing Deployment`);
  }
  for (const name of ['gateway', 'content']) {
    if (!byKind('HorizontalPodAutoscaler').some((h) => h.doc.spec?.scaleTargetRef?.name === name)) problems.push(`k8s: no HorizontalPodAutoscaler for ${name}`);
  }
  // An HPA owns its Deployment's count: a fixed `replicas` would reset it on every apply.
  for (const h of byKind('HorizontalPodAutoscaler')) {
    const d = deploymentNamed(h.doc.spec?.scaleTargetRef?.name);
    if (d && d.doc.spec?.replicas !== undefined) problems.push(`${where(d)}: sets replicas, but HorizontalPodAutoscaler/${h.doc.metadata.name} owns the count`);
  }
  // Migrations run in a Job, not in serving pods.
  if (
    !byKind('Job').some((j) =>
      (j.doc.spec?.template?.spec?.containers ?? []).some((c) => (c.env ?? []).some((v) => v.name === 'MIGRATIONS' && v.value === 'only')),
    )
  ) {
    problems.push('k8s: no Job runs the migrations (MIGRATIONS=only)');
  }
  for (const d of deployments) {
    if (!PROCESSES[d.doc.metadata.name]?.grpc) continue;
    const c = (d.doc.spec?.template?.spec?.containers ?? [])[0] ?? {};
    if (!(c.env ?? []).some((v) => v.name === 'MIGRATIONS' && v.value === 'skip'))
      problems.push(`${where(d)}: a serving pod must not migrate (MIGRATIONS=skip)`);
  }
  for (const d of deployments) {
    const labels = d.doc.spec?.template?.metadata?.labels;
    if (!byKind('PodDisruptionBudget').some((p) => selects(p.doc.spec?.selector, labels))) problems.push(`${where(d)}: no PodDisruptionBudget`);
  }
  for (const p of byKind('PodDisruptionBudget')) {
    if (!deployments.some((d) => selects(p.doc.spec?.selector, d.doc.spec?.template?.metadata?.labels))) problems.push(`${where(p)}: selects no Deployment`);
  }

  // Policies may select any pod template of the set (Deployments, StatefulSets, Jobs); pods an
  // operator makes (CloudNativePG) are matched by their cnpg.io/cluster label.
  const templates = entries.filter((e) => e.doc.spec?.template?.metadata?.labels).map((e) => e.doc.spec.template.metadata.labels);
  const operatorMade = (sel) => Boolean(sel?.matchLabels?.['cnpg.io/cluster']);
  const external = new Set(['postgres', 'redis']);
  for (const n of byKind('NetworkPolicy')) {
    const sel = n.doc.spec?.podSelector ?? {};
    const empty = !Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length;
    if (!empty && !external.has(sel.matchLabels?.['app.kubernetes.io/name']) && !operatorMade(sel) && !templates.some((labels) => selects(sel, labels))) {
      problems.push(`${where(n)}: podSelector matches no Deployment`);
    }
    for (const rule of [...(n.doc.spec?.ingress ?? []), ...(n.doc.spec?.egress ?? [])]) {
      for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
        if (peer.podSelector && !peer.namespaceSelector && !operatorMade(peer.podSelector) && !templates.some((labels) => selects(peer.podSelector, labels))) {
          problems.push(`${where(n)}: a peer podSelector matches no Deployment`);
        }
      }
    }
  }

  const services = new Map(byKind('Service').map((e) => [e.doc.metadata.name, e.doc]));
  for (const i of byKind('Ingress')) {
    for (const rule of i.doc.spec?.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const svc = services.get(p.backend?.service?.name);
        const port = p.backend?.service?.port ?? {};
        if (!svc) problems.push(`${where(i)}: ${p.path} goes to a missing Service`);
        else if (!(svc.spec.ports ?? []).some((sp) => sp.name === port.name || sp.port === port.number))
          problems.push(`${where(i)}: ${p.path} uses a port the Service lacks`);
      }
    }
  }
  return problems;
}

/** k8s/base: the kustomization's resources, every manifest (also k8s/optional/), and checkManifests. */
function checkK8s(dir = path.join(ROOT, 'k8s/base')) {
  const problems = [];
  const yamlFiles = (d) =>
    fs
      .readdirSync(d)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => path.join(d, f));
  const kustomization = readYaml(path.join(dir, 'kustomization.yaml'), problems)[0]?.doc ?? {};
  const listed = (kustomization.resources ?? []).map((r) => path.join(dir, r));
  for (const file of listed) if (!fs.existsSync(file)) problems.push(`k8s/base/kustomization.yaml: resource ${path.relative(dir, file)} does not exist`);
  for (const file of yamlFiles(dir)) {
    if (path.basename(file) !== 'kustomization.yaml' && !listed.includes(file))
      problems.push(`k8s/base/${path.basename(file)} is not listed in kustomization.yaml`);
  }
  const entries = listed.filter((f) => fs.existsSync(f)).flatMap((f) => readYaml(f, problems));
  const optionalDir = path.join(dir, '../optional');
  const optional = fs.existsSync(optionalDir) ? yamlFiles(optionalDir).flatMap((f) => readYaml(f, problems)) : [];
  for (const e of optional)
    if (!e.doc.apiVersion || !e.doc.kind || !e.doc.metadata?.name) problems.push(`${e.file}: a document lacks apiVersion, kind or metadata.name`);
  const images = new Set(entries.flatMap((e) => (e.doc.spec?.template?.spec?.containers ?? []).map((c) => String(c.image).split(':')[0])));
  for (const img of kustomization.images ?? [])
    if (!images.has(img.name)) problems.push(`k8s/base/kustomization.yaml: image ${img.name} is used by no container`);
  return [...problems, ...checkManifests(entries)];
}

/**
 * Variables compose does not write in docker-compose.yml: infra/compose/secrets-init.js puts them
 * in each process's generated env file (/run/shutter/env), with the secrets inside them.
 */
const COMPOSE_GENERATED = Object.freeze({
  gateway: ['REDIS_URL'],
  identity: ['DATABASE_URL', 'REDIS_URL', 'JWT_PRIVATE_KEY' /* as JWT_KEY_FILE */],
  'social-graph': ['DATABASE_URL', 'REDIS_URL'],
  content: ['DATABASE_URL', 'REDIS_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_PUBLIC_URL' /* presigned GETs via S3_CLIENT_ENDPOINT instead */],
  notification: ['DATABASE_URL', 'REDIS_URL'],
});

/** docker-compose.yml: the five processes built from the one Dockerfile, healthchecks, env names. */
function checkCompose(file = path.join(ROOT, 'docker-compose.yml')) {
  const problems = [];
  const compose = readYaml(file, problems)[0]?.doc ?? {};
  const services = compose.services ?? {};
  for (const [name, proc] of Object.entries(PROCESSES)) {
    const s = services[name];
    if (!s) {
      problems.push(`docker-compose.yml: no service ${name}`);
      continue;
    }
    if (s.build?.args?.SERVICE !== name) problems.push(`docker-compose.yml: ${name} must build with SERVICE=${name}`);
    if (!String(s.image ?? '').includes(`/${name}:`)) problems.push(`docker-compose.yml: ${name}'s image must be named ${name}`);
    const env = Object.keys(s.environment ?? {});
    for (const v of proc.env) if (!env.includes(v) && !COMPOSE_GENERATED[name].includes(v)) problems.push(`docker-compose.yml: ${name} does not set ${v}`);
    if (!(s.volumes ?? []).includes(`secrets-${name}:/run/shutter:ro`))
      problems.push(`docker-compose.yml: ${name} must mount its generated env (secrets-${name}:/run/shutter:ro)`);
  }
  for (const [name, s] of Object.entries(services)) {
    const oneShot = s.restart === 'no';
    if (!oneShot && !s.healthcheck) problems.push(`docker-compose.yml: ${name} has no healthcheck`);
    if (!s.restart) problems.push(`docker-compose.yml: ${name} has no restart policy`);
    for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
      if (!services[dep]) problems.push(`docker-compose.yml: ${name} depends on missing ${dep}`);
      const want = services[dep]?.restart === 'no' ? 'service_completed_successfully' : 'service_healthy';
      if (cond?.condition !== want) problems.push(`docker-compose.yml: ${name} must wait for ${dep} with ${want}`);
    }
  }
  const nginxEnv = Object.keys(services.nginx?.environment ?? {});
  for (const v of Object.keys(NGINX_DEFAULTS)) if (!nginxEnv.includes(v)) problems.push(`docker-compose.yml: nginx does not set ${v} (its template needs it)`);
  return problems;
}

/** .env.example documents every variable (set, or commented out as `# NAME=`). */
function checkEnvExample(file = path.join(ROOT, '.env.example')) {
  if (!fs.existsSync(file)) return ['.env.example is missing'];
  const text = fs.readFileSync(file, 'utf8');
  const names = new Set([...Object.values(PROCESSES).flatMap((p) => p.env), ...EXTRA_ENV]);
  return [...names].filter((n) => !new RegExp(`^(# ?)?${n}=`, 'm').test(text)).map((n) => `.env.example does not document ${n}`);
}

function checkAll() {
  return [...checkK8s(), ...checkCompose(), ...checkEnvExample()];
}

module.exports = { PROCESSES, EXTERNAL_SECRETS, checkAll, checkK8s, checkCompose, checkEnvExample, checkManifests, selects };

if (require.main === module) {
  const problems = checkAll();
  for (const p of problems) console.error(`✗ ${p}`);
  console.log(problems.length ? `${problems.length} problem(s)` : 'k8s/, docker-compose.yml, .env.example: consistent');
  process.exit(problems.length ? 1 : 0);
}
