import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Which metrics the alert rules and the Grafana dashboard read, and which a process exports: the
 * artifact smoke test scrapes every process it starts and checks that nothing paged on or charted
 * is missing (a renamed metric would otherwise leave an alert that can never fire).
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN']);

/** Metric names in a PromQL expression (not functions, keywords, labels, durations or recording rules). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (KEYWORDS.has(word) || word.includes(':')) continue;
    if (
      stripped
        .slice(m.index + word.length)
        .trimStart()
        .startsWith('(')
    )
      continue; // a function or aggregation
    names.add(word);
  }
  return [...names];
}

const INFRA = path.join(__dirname, '..');

/** Every metric the alert rules (including recording rules) and the dashboard query, except Prometheus's own `up`. */
export function metricsUsed(): string[] {
  const rules = fs.readFileSync(path.join(INFRA, 'prometheus/alerts.yml'), 'utf8');
  const exprs = [...rules.matchAll(/^\s+expr: (\|\n(?:\s{10,}.*\n?)+|.*)$/gm)].map((m) => m[1]!.replace(/^\|\n/, ''));
  const dashboard = JSON.parse(fs.readFileSync(path.join(INFRA, 'grafana/dashboards/shutter.json'), 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
  };
  exprs.push(...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
  return [...new Set(exprs.flatMap(metricNames))].filter((n) => n !== 'up').sort();
}

/** The series names a /metrics page (Prometheus text format) can produce, histogram parts included. */
export function metricsExported(page: string): Set<string> {
  const names = new Set<string>();
  for (const m of page.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
