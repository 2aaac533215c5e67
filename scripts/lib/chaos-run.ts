import { errorRates, type Load, type Part } from './chaos-load';
import type { ChaosStack } from './chaos-stack';
import { total, verify, type Verdict } from './chaos-verify';

/**
 * One fault under load: a baseline, the fault, the wait until the broken part serves again
 * without help, a little more load, then the check that nothing acknowledged was lost.
 */

export interface Fault {
  name: string;
  part: Part;
  /** What is done, for the report. */
  action: string;
}

/** The faults of `make chaos`, in order: each service killed, then Redis, then Postgres. */
export const FAULTS: Fault[] = [
  { name: 'SIGKILL identity', part: 'identity', action: "kill -9 the identity process; make dev's supervisor restarts it" },
  { name: 'SIGKILL social-graph', part: 'social-graph', action: 'kill -9 social-graph; restarted by the supervisor' },
  { name: 'SIGKILL content', part: 'content', action: 'kill -9 content (posts, feed fan-out); restarted by the supervisor' },
  { name: 'SIGKILL notification', part: 'notification', action: 'kill -9 notification (event consumer); restarted by the supervisor' },
  { name: 'SIGKILL gateway', part: 'gateway', action: 'kill -9 the gateway; restarted by the supervisor' },
  { name: 'restart Redis', part: 'redis', action: 'kill -9 redis-server, start an empty one on the same port after 2 s (stream, timelines, caches gone)' },
  { name: 'restart Postgres', part: 'postgres', action: 'immediate shutdown (SIGQUIT, crash recovery on start) of Postgres, start after 2 s' },
];

/** A request only `part` can answer: it succeeding means `part` serves again. */
const PROBES: Record<Part, string[]> = {
  gateway: ['/readyz'],
  identity: ['/api/users/me'],
  'social-graph': ['/api/follows?type=following'],
  content: ['/api/posts?limit=1'],
  notification: ['/api/events/unread-count'],
  // A backend is back when every kind of route answers again.
  redis: ['/api/posts?limit=1', '/api/events/unread-count', '/api/users/me', '/api/follows?type=following'],
  postgres: ['/api/posts?limit=1', '/api/events/unread-count', '/api/users/me', '/api/follows?type=following'],
};

export interface FaultResult {
  fault: string;
  action: string;
  /** Requests during the fault (from it until recovery + settle) of routes that do not need the broken part. */
  unrelated: { total: number; failed: number; successPct: number | null };
  affected: { total: number; failed: number; successPct: number | null };
  failedStatuses: Record<string, number>;
  /** Requests per second of the load during that window. */
  loadRps: number;
  /** Seconds from the fault (a backend: from its restart) until the part answered again by itself. */
  recoveryS: number | null;
  /** A killed process: seconds from SIGKILL until its own /readyz answered (restart backoff + start-up). */
  restartS?: number | null;
  /** A backend's own downtime (stopped → started again), seconds. */
  downS?: number;
  lostWrites: number;
  lostEvents: number;
  verdict: Verdict;
}

export async function runFault(
  stack: ChaosStack,
  load: Load,
  fault: Fault,
  opts: { baselineMs: number; settleMs: number; verifyBoundMs: number; recoveryBoundMs?: number; previous?: Verdict },
): Promise<FaultResult> {
  const token = load.users[0]?.token;
  if (!token) throw new Error('seed the load first');
  load.start();
  await sleep(opts.baselineMs);
  const at = Date.now();
  let from = at;
  let downS: number | undefined;
  if (fault.part === 'redis' || fault.part === 'postgres') {
    const restart = fault.part === 'redis' ? stack.restartRedis : stack.restartPostgres;
    if (!restart) throw new Error(`${fault.name} needs the private backends of make chaos`);
    const { upAt } = await restart(2000);
    from = upAt;
    downS = (upAt - at) / 1000;
  }
  const bound = opts.recoveryBoundMs ?? 60_000;
  let restarted: Promise<number | undefined> = Promise.resolve(undefined);
  if (fault.part !== 'redis' && fault.part !== 'postgres') {
    stack.kill(fault.part);
    restarted = waitForProbes(stack.readyUrl(fault.part), [''], token, at, bound);
  }
  const recoveredAt = await waitForProbes(stack.url, PROBES[fault.part], token, from, bound);
  const restartedAt = await restarted;
  await sleep(opts.settleMs);
  await load.stop();
  const end = (recoveredAt ?? Date.now()) + opts.settleMs;
  const rates = errorRates(load.samples, fault.part, at, end);
  const verdict = await verify({
    url: stack.url,
    databaseUrl: stack.databaseUrl,
    users: load.users,
    acked: load.acked,
    boundMs: opts.verifyBoundMs,
    checkOutbox: !!stack.restartPostgres,
  });
  const before = opts.previous?.missing;
  const delta = (k: 'writes' | 'events' | 'counts') => {
    const now = Object.values(verdict.missing[k]).reduce((x, y) => x + y, 0);
    const was = before ? Object.values(before[k]).reduce((x, y) => x + y, 0) : 0;
    return Math.max(0, now - was);
  };
  const pct = (t: { total: number; failed: number }) => (t.total ? Math.round((10000 * (t.total - t.failed)) / t.total) / 100 : null);
  return {
    fault: fault.name,
    action: fault.action,
    unrelated: { ...rates.unrelated, successPct: pct(rates.unrelated) },
    affected: { ...rates.affected, successPct: pct(rates.affected) },
    failedStatuses: rates.failedStatuses,
    loadRps: Math.round(((rates.unrelated.total + rates.affected.total) * 1000) / Math.max(1, end - at)),
    recoveryS: recoveredAt === undefined ? null : Math.round((recoveredAt - from) / 100) / 10,
    restartS: restartedAt === undefined ? (fault.part === 'redis' || fault.part === 'postgres' ? undefined : null) : Math.round((restartedAt - at) / 100) / 10,
    downS,
    lostWrites: delta('writes'),
    lostEvents: delta('events') + delta('counts'),
    verdict: { ...verdict, ok: total(verdict.missing) === 0 },
  };
}

/** Polls the probe paths every 100 ms until all answer 2xx at once; the time they did, or undefined after `boundMs`. */
async function waitForProbes(url: string, paths: string[], token: string, from: number, boundMs: number): Promise<number | undefined> {
  while (Date.now() - from < boundMs) {
    const results = await Promise.all(
      paths.map(async (p) => {
        try {
          const res = await fetch(url + p, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      }),
    );
    if (results.every(Boolean)) return Date.now();
    await sleep(100);
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The report's table. */
export function formatTable(rows: FaultResult[]): string {
  const head = [
    'fault',
    'unrelated routes ok',
    'affected routes ok',
    'process ready s',
    'recovery s',
    'events settled s',
    'lost writes',
    'lost events',
    'checked',
  ];
  const lines = rows.map((r) => [
    r.fault,
    r.unrelated.successPct === null ? 'n/a (all need it)' : `${r.unrelated.successPct}% of ${r.unrelated.total}`,
    r.affected.successPct === null ? '–' : `${r.affected.successPct}% of ${r.affected.total}`,
    r.restartS === undefined ? `down ${r.downS?.toFixed(1)}` : r.restartS === null ? 'never' : r.restartS.toFixed(1),
    r.recoveryS === null ? 'never' : r.recoveryS.toFixed(1),
    r.verdict.convergedAfterS === undefined ? 'never' : r.verdict.convergedAfterS.toFixed(1),
    String(r.lostWrites),
    String(r.lostEvents),
    `${r.verdict.checked.posts}p ${r.verdict.checked.likes}l ${r.verdict.checked.comments}c ${r.verdict.checked.follows}f`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}
