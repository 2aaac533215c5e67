import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Issue 12 (3): no default secret in docker-compose.yml, k8s/ or the systemd unit. A secret is
 * generated on first start (compose: infra/compose/secrets-init.js; k8s: the Secret an operator
 * makes, or the in-cluster overlay's generator Job) or required with a clear message — never a
 * value written in these files, nor a `${VAR:-default}` fallback for one.
 */
const ROOT = path.resolve(__dirname, '../..');

/** Names whose value is a secret (the variable, key or field that holds it). */
const SECRET_NAME = /((^|_)(PASSWORD|PASSWD|SECRET|SECRET_ACCESS_KEY|ACCESS_KEY_ID|TOKEN|PRIVATE_KEY|API_KEY|REQUIREPASS|RPC_SECRET)|_URL)$/i;
/** Values that are never a secret: empty, a file path, a reference, a secretKeyRef/generator name. */
const HARMLESS = /^(|""|''|\/[^\s:]*|\$\{[A-Z0-9_]+\}|\$\{[A-Z0-9_]+:\?[^}]*\}|true|false)$/;
/** A URL with a literal password in it (`scheme://user:password@host`). */
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@'"]*:([^@\s'"]+)@/i;

function files(): string[] {
  const out = ['docker-compose.yml', 'infra/systemd/shutter.service'];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(ya?ml|env|properties|service)$/.test(e.name) && !/\.md$/.test(e.name)) out.push(rel);
    }
  };
  walk('k8s');
  return out.filter((f) => fs.existsSync(path.join(ROOT, f)));
}

/** The problems of one file's text: defaulted secret variables and literal secret values. */
export function scanText(file: string, text: string): string[] {
  const problems: string[] = [];
  text.split('\n').forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    const code = line.replace(/(^|\s)#.*$/, '');
    // ${NAME:-value} / ${NAME-value} where NAME is a secret and value is not empty.
    for (const m of code.matchAll(/\$\{([A-Z0-9_]+):?-([^}]+)\}/g)) {
      if (SECRET_NAME.test(m[1]!) && !/_URL$/.test(m[1]!) && m[2]!.trim() !== '') problems.push(`${where}: \${${m[1]}} defaults to a value`);
    }
    // Any URL carrying a password that is not a reference (${VAR}, $(cat …)).
    const url = URL_WITH_PASSWORD.exec(code);
    if (url && !/^\$/.test(url[1]!)) problems.push(`${where}: a URL with a literal password`);
    // `KEY: value` / `KEY=value` with a secret name and a literal value.
    const kv = /^\s*-?\s*"?([A-Za-z0-9_.-]+)"?\s*[:=]\s*(.*?)\s*$/.exec(code);
    // URLs are checked above (only a password in one is a secret).
    if (kv && SECRET_NAME.test(kv[1]!) && !/_URL$/i.test(kv[1]!)) {
      const value = kv[2]!.replace(/^["']|["']$/g, '');
      const literal = !HARMLESS.test(value) && !/^\$\{/.test(value) && !/^[{[|>]/.test(value);
      if (literal) problems.push(`${where}: ${kv[1]} has a literal value`);
    }
  });
  return problems;
}

/** Kubernetes Secrets in k8s/ carry no data: operators or the generator Job make them. */
function secretObjects(file: string, text: string): string[] {
  if (!/\.ya?ml$/.test(file)) return [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: object; stringData?: object } | null)
    .filter((d) => d?.kind === 'Secret')
    .flatMap((d) => {
      const values = Object.values({ ...(d!.data ?? {}), ...(d!.stringData ?? {}) }).filter((v) => String(v ?? '') !== '');
      return values.length ? [`${file}: Secret ${d!.metadata?.name} holds ${values.length} value(s)`] : [];
    });
}

describe('no default secrets (issue 12)', () => {
  it('scans docker-compose.yml, k8s/ and the systemd unit', () => {
    const scanned = files();
    expect(scanned).toEqual(expect.arrayContaining(['docker-compose.yml', 'infra/systemd/shutter.service']));
    expect(scanned.some((f) => f.startsWith('k8s/'))).toBe(true);
    const problems = scanned.flatMap((f) => {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      return [...scanText(f, text), ...secretObjects(f, text)];
    });
    expect(problems).toEqual([]);
  });

  it('finds the defaults this project used to ship', () => {
    const old = [
      '      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgres}',
      '      MINIO_ROOT_PASSWORD: ${MINIO_ROOT_PASSWORD:-shutter-minio-secret}',
      '      DATABASE_URL: postgres://identity:${SHUTTER_DB_PASSWORD:-shutter}@postgres:5432/shutter',
      '  S3_SECRET_ACCESS_KEY: change-me',
      '  IDENTITY_DATABASE_URL: postgres://identity:hunter2@db:5432/shutter',
      '      GF_SECURITY_ADMIN_PASSWORD: admin',
    ];
    for (const line of old) expect(scanText('x.yml', line)).not.toEqual([]);
  });

  it('lets generated and required values through', () => {
    const ok = [
      '      POSTGRES_PASSWORD_FILE: /run/shutter/postgres-password',
      '      GF_SECURITY_ADMIN_PASSWORD__FILE: /run/shutter/admin-password',
      '      ADMIN_PASSWORD: ${ADMIN_PASSWORD:-}',
      '      REDIS_URL: redis://redis:6379',
      '      S3_SECRET_ACCESS_KEY: ${S3_SECRET_ACCESS_KEY:?set it in .env}',
      '            secretKeyRef: { name: shutter-secrets, key: REDIS_URL }',
    ];
    for (const line of ok) expect(scanText('x.yml', line)).toEqual([]);
  });
});
