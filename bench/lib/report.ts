/** bench/results/latest.json, latest.md (the table with same-run ratios) and the feed chart. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RouteResult } from './cannon';
import { writeChart } from './chart';
import type { ProfileSummary } from './profiles';

export interface Report {
  machine: { cores: number; cpu_model: string; memory_gb: number; node: string; date: string; quick: boolean; shared: boolean };
  dataset: { users: number; follows: number; posts: number; images: number; likes: number; comments: number; scale: number; load_s: number | null };
  settings: { seconds_per_route: number; connections: number; mix_readers: number; page_size: number };
  routes: Record<string, RouteResult>;
  /** The baselines' own runs in full (errors included): `baselines` holds the figures. */
  baseline_runs: Record<string, RouteResult>;
  baselines: {
    hello_rps: number;
    monolith_feed_rps: number;
    monolith_feed_p50_ms: number;
    monolith_feed_rps_by_followees: Record<string, number>;
    monolith_feed_p50_ms_by_followees: Record<string, number>;
  };
  feed_rps_by_followees: Record<string, number>;
  feed_p50_ms_by_followees: Record<string, number>;
  feed_p99_ms_by_followees: Record<string, number>;
  post_create_p99_ms_by_followers: Record<string, number>;
  fanout_entries_per_s: number | null;
  /** seconds: from sending the post until every follower's timeline holds it; entries_per_s = followers / seconds (a lower bound). */
  fanout_by_followers: Record<string, { followers: number; seconds: number; after_201_s: number; entries_per_s: number | null }>;
  feed_latency_by_load: Array<{ target_rps: number; rps: number; p50_ms: number; p99_ms: number; errors: number }>;
  idle_rss_mb: Record<string, number>;
  load_rss_mb: Record<string, number>;
  ready_s: number;
  /** BENCH_PROFILE: the slowest hot read route, run once more with the profilers on. */
  profiled_route: string | null;
  profiles: ProfileSummary[];
  total_s: number;
}

const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');

/** The Markdown summary: what the README's *Benchmarks* section shows. */
export function markdown(r: Report): string {
  const b = r.baselines;
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `Machine: ${m.cores} cores (${m.cpu_model}), ${m.memory_gb} GB, Node ${m.node}; ${m.date.slice(0, 16).replace('T', ' ')} UTC${m.quick ? '; BENCH_QUICK run' : ''}.`,
  );
  lines.push(
    `Data set: ${r.dataset.users} users, ${r.dataset.follows} follows, ${r.dataset.posts} posts, ${r.dataset.images} images, ${r.dataset.likes} likes, ${r.dataset.comments} comments (scale ${r.dataset.scale}).`,
  );
  lines.push(
    `${r.settings.connections} connections, ${r.settings.seconds_per_route} s per route, feed page ${r.settings.page_size}; feed_mix = ${r.settings.mix_readers} readers round robin.`,
  );
  lines.push(
    `Baselines in this run: Fastify hello-world ${Math.round(b.hello_rps)} req/s; one-SQL monolith feed ${Math.round(b.monolith_feed_rps)} req/s (mix, p50 ${b.monolith_feed_p50_ms} ms).`,
  );
  lines.push('');
  lines.push('| route | req/s | p50 ms | p90 ms | p99 ms | errors | ÷ monolith feed | ÷ hello |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [key, x] of Object.entries(r.routes)) {
    const k = /^feed_(\d+)$/.exec(key)?.[1];
    const mono = k ? (b.monolith_feed_rps_by_followees[k] ?? 0) : b.monolith_feed_rps;
    lines.push(
      `| ${key} | ${Math.round(x.rps)} | ${x.p50_ms} | ${x.p90_ms} | ${x.p99_ms} | ${x.errors} | ${ratio(x.rps, mono)}${k ? ` (of ${Math.round(mono)})` : ''} | ${ratio(x.rps, b.hello_rps)} |`,
    );
  }
  lines.push('');
  lines.push('Feed by followee count (Shutter vs the monolith, same reader):');
  lines.push('');
  lines.push('| followees | Shutter req/s | p50 ms | p99 ms | monolith req/s | monolith p50 ms | Shutter ÷ monolith |');
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const k of Object.keys(r.feed_rps_by_followees)) {
    const s = r.feed_rps_by_followees[k]!;
    const mo = b.monolith_feed_rps_by_followees[k] ?? 0;
    lines.push(
      `| ${k} | ${Math.round(s)} | ${r.feed_p50_ms_by_followees[k]} | ${r.feed_p99_ms_by_followees[k]} | ${Math.round(mo)} | ${b.monolith_feed_p50_ms_by_followees[k]} | ${ratio(s, mo)} |`,
    );
  }
  lines.push('');
  const fan = Object.entries(r.fanout_by_followers)
    .map(([k, f]) => `${k} followers ${f.seconds} s from the request, ${f.after_201_s} s after the 201 (≥ ${f.entries_per_s} entries/s)`)
    .join('; ');
  lines.push(
    `Post create p99 by the author's follower count: ${Object.entries(r.post_create_p99_ms_by_followers)
      .map(([k, v]) => `${k}: ${v} ms`)
      .join(', ')}. Fan-out until every follower's timeline holds the post: ${fan || '–'}.`,
  );
  lines.push('');
  lines.push(
    `Feed latency by offered load: ${r.feed_latency_by_load.map((s) => `${s.target_rps}→${Math.round(s.rps)} req/s p50 ${s.p50_ms} / p99 ${s.p99_ms} ms`).join('; ')}.`,
  );
  lines.push('');
  const procs = Object.keys(r.idle_rss_mb);
  lines.push(
    `RSS MB idle / under the feed mix: ${procs.map((p) => `${p} ${r.idle_rss_mb[p]} / ${r.load_rss_mb[p] ?? '–'}`).join(', ')}. Ready ${r.ready_s} s after start.`,
  );
  if (r.profiles.length) {
    lines.push('');
    lines.push(
      `CPU profiles of \`${r.profiled_route}\` (the slowest hot read), ${r.settings.seconds_per_route} s under load (self time, share of the process's busy time):`,
    );
    for (const p of r.profiles) {
      lines.push('');
      lines.push(
        `- ${p.process} (${p.file}, busy ${(p.busy_ms / 1000).toFixed(1)} s). By package: ${p.by_package
          .slice(0, 6)
          .map((t) => `${t.package} ${t.share}%`)
          .join(', ')}. Top functions: ${p.top
          .slice(0, 6)
          .map((t) => `${t.fn} ${t.share}%`)
          .join('; ')}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

export async function writeReport(dir: string, r: Report): Promise<string[]> {
  const files = [path.join(dir, 'latest.json'), path.join(dir, 'latest.md')];
  fs.writeFileSync(files[0]!, JSON.stringify(r, null, 2) + '\n');
  const md = markdown(r);
  fs.writeFileSync(files[1]!, md);
  console.log(`\n${md}`);
  const chart = await writeChart(dir, r).catch((err: unknown) => {
    console.error(`bench: no chart (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  });
  if (chart) files.push(chart);
  return files;
}
