import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The alert rules (infra/prometheus/alerts.yml) checked by Prometheus's own tool: their syntax and
 * PromQL (`promtool check rules`), and their behaviour on made-up series (`promtool test rules`
 * runs alerts.test.yml: which alerts fire, when, with which labels and text). promtool comes with
 * Debian's prometheus package (scripts/install-system-deps.sh).
 */
const dir = path.join(__dirname, '../prometheus');

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`, { cause: err });
  }
}

/** Every PromQL query of the Grafana dashboard, with Grafana's own variables filled in. */
function dashboardQueries(): string[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '../grafana/dashboards/shutter.json'), 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
  };
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '5m')));
}

describe('alert rules', () => {
  it('are valid rule files with valid PromQL', () => {
    expect(promtool('check', 'rules', 'alerts.yml')).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fire, and stay quiet, as their unit tests say', () => {
    expect(promtool('test', 'rules', 'alerts.test.yml')).toMatch(/SUCCESS/);
  });

  it('each link to a runbook entry in docs/operations.md', () => {
    const rules = fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8');
    const runbook = fs.readFileSync(path.join(__dirname, '../../docs/operations.md'), 'utf8');
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts.length).toBeGreaterThan(5);
    for (const alert of alerts) {
      expect(rules).toContain(`runbook: docs/operations.md#${alert.toLowerCase()}`);
      expect(runbook).toMatch(new RegExp(`^### ${alert}$`, 'm'));
    }
  });
});

describe('the Grafana dashboard', () => {
  it('queries valid PromQL (checked by promtool as recording rules)', () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-')), 'queries.yml');
    const rules = queries.map((q, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(q)}`).join('\n');
    fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
    expect(promtool('check', 'rules', file)).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('uses only recording rules that alerts.yml defines', () => {
    const rules = fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8');
    const recorded = new Set([...rules.matchAll(/- record: ([\w:]+)/g)].map((m) => m[1]));
    const used = dashboardQueries().flatMap((q) => [...q.matchAll(/\b(\w+:\w+:\w+)\b/g)].map((m) => m[1]));
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(recorded).toContain(name);
  });
});
