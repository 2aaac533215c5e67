#!/usr/bin/env node
/**
 * Validates rendered Kubernetes manifests offline against the API's schemas (CI has no cluster
 * and kubeconform is not on npm): the OpenAPI schemas of Kubernetes, the Gateway API and
 * Traefik's CRDs as packaged on npm (kubernetes-models, @kubernetes-models/gateway-api,
 * @kubernetes-models/traefik), validated with Ajv. CloudNativePG publishes no such package: its
 * Cluster is checked against the fields k8s/ uses (CNPG_CLUSTER below).
 *
 *   kubectl kustomize k8s/overlays/prod | node infra/validate-k8s.mjs          (stdin)
 *   node infra/validate-k8s.mjs rendered.yaml ...
 * Prints one line per problem; exits 1 when there is any.
 */
/* global process, console */
import * as fs from 'node:fs';
import YAML from 'yaml';
import Ajv from 'ajv';

/** apiVersion → the npm module holding its models. */
function moduleFor(apiVersion) {
  if (apiVersion === 'v1') return 'kubernetes-models/v1';
  if (apiVersion.startsWith('gateway.networking.k8s.io/')) return `@kubernetes-models/gateway-api/${apiVersion}`;
  if (apiVersion.startsWith('traefik.io/')) return `@kubernetes-models/traefik/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** The CloudNativePG Cluster fields k8s/ uses, with their types (postgresql.cnpg.io/v1). */
const CNPG_CLUSTER = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    metadata: { type: 'object', required: ['name'] },
    spec: {
      type: 'object',
      required: ['instances', 'storage'],
      additionalProperties: false,
      properties: {
        instances: { type: 'integer', minimum: 1 },
        imageName: { type: 'string' },
        storage: {
          type: 'object',
          required: ['size'],
          additionalProperties: false,
          properties: { size: { type: 'string' }, storageClass: { type: 'string' } },
        },
        resources: { type: 'object', additionalProperties: false, properties: { requests: { type: 'object' }, limits: { type: 'object' } } },
        postgresql: { type: 'object', properties: { parameters: { type: 'object', additionalProperties: { type: 'string' } } } },
        bootstrap: {
          type: 'object',
          additionalProperties: false,
          properties: {
            initdb: {
              type: 'object',
              additionalProperties: false,
              properties: {
                database: { type: 'string' },
                owner: { type: 'string' },
                postInitApplicationSQL: { type: 'array', items: { type: 'string' } },
                postInitApplicationSQLRefs: {
                  type: 'object',
                  properties: { secretRefs: { type: 'array', items: { type: 'object', required: ['name', 'key'] } }, configMapRefs: { type: 'array' } },
                },
              },
            },
          },
        },
      },
    },
  },
};
const ajv = new Ajv({ allErrors: true, strict: false });
const validateCluster = ajv.compile(CNPG_CLUSTER);

/** Problems of one document (`where` names it). */
export async function validateDoc(doc, where) {
  const { apiVersion, kind } = doc ?? {};
  if (!apiVersion || !kind) return [`${where}: no apiVersion or kind`];
  const at = `${where}: ${kind}/${doc.metadata?.name ?? '?'}`;
  if (apiVersion === 'postgresql.cnpg.io/v1' && kind === 'Cluster') {
    return validateCluster(doc) ? [] : validateCluster.errors.map((e) => `${at}: ${e.instancePath || '/'} ${e.message}`);
  }
  let mod;
  try {
    mod = await import(moduleFor(apiVersion));
  } catch {
    return [`${at}: no schema for ${apiVersion}`];
  }
  const Model = mod[kind];
  if (typeof Model !== 'function') return [`${at}: no schema for ${apiVersion} ${kind}`];
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return String(err.message ?? err)
      .split(', ')
      .map((m) => `${at}: ${m}`);
  }
}

/** Problems of a multi-document YAML text. */
export async function validateText(text, name = 'stdin') {
  const problems = [];
  const docs = YAML.parseAllDocuments(text);
  for (const [i, d] of docs.entries()) {
    for (const e of d.errors) problems.push(`${name} (document ${i + 1}): ${e.message}`);
    const doc = d.toJS();
    if (doc) problems.push(...(await validateDoc(doc, `${name} (document ${i + 1})`)));
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2);
  const inputs = files.length ? files.map((f) => [f, fs.readFileSync(f, 'utf8')]) : [['stdin', fs.readFileSync(0, 'utf8')]];
  const problems = [];
  let count = 0;
  for (const [name, text] of inputs) {
    count += YAML.parseAllDocuments(text).length;
    problems.push(...(await validateText(text, name)));
  }
  for (const p of problems) console.error(`✗ ${p}`);
  console.log(problems.length ? `${problems.length} problem(s)` : `${count} document(s) valid`);
  process.exit(problems.length ? 1 : 0);
}
