/**
 * latest-feed.svg and latest-feed.png: feed latency by offered load, and by followee count (Shutter
 * beside the monolith). Drawn as SVG here; the PNG is that SVG rendered by the Chromium the tests
 * already use (playwright-core, scripts/install-system-deps.sh), so no charting package is needed.
 * Without Chromium only the SVG is written.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { Report } from './report';

const W = 960;
const H = 400;
const PANEL = { w: 400, h: 280, top: 60 };

interface Series {
  label: string;
  colour: string;
  points: Array<[number, number]>;
}

function panel(x0: number, title: string, xLabel: string, series: Series[], opts: { logX?: boolean; xTicks: number[] }): string {
  const all = series.flatMap((s) => s.points);
  const fx = (v: number) => (opts.logX ? Math.log10(v) : v);
  const xs = opts.xTicks.map(fx);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMax = niceMax(Math.max(1, ...all.map((p) => p[1])));
  const px = (v: number) => x0 + ((fx(v) - xMin) / (xMax - xMin || 1)) * PANEL.w;
  const py = (v: number) => PANEL.top + PANEL.h - (v / yMax) * PANEL.h;
  const out: string[] = [];
  out.push(`<text x="${x0}" y="${PANEL.top - 20}" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0}" y="${PANEL.top}" width="${PANEL.w}" height="${PANEL.h}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    out.push(`<line x1="${x0}" x2="${x0 + PANEL.w}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${py(v) + 4}" font-size="11" text-anchor="end">${round(v)}</text>`);
  }
  for (const t of opts.xTicks) out.push(`<text x="${px(t)}" y="${PANEL.top + PANEL.h + 16}" font-size="11" text-anchor="middle">${t}</text>`);
  out.push(`<text x="${x0 + PANEL.w / 2}" y="${PANEL.top + PANEL.h + 34}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(${x0 - 40},${PANEL.top + PANEL.h / 2}) rotate(-90)" font-size="12" text-anchor="middle">ms</text>`);
  series.forEach((s, i) => {
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    out.push(`<rect x="${x0 + 10}" y="${PANEL.top + 10 + i * 18}" width="12" height="3" fill="${s.colour}"/>`);
    out.push(`<text x="${x0 + 28}" y="${PANEL.top + 15 + i * 18}" font-size="11">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

export function svg(r: Report): string {
  const sweep = [...r.feed_latency_by_load].sort((a, b) => a.rps - b.rps);
  const rates = sweep.map((s) => Math.round(s.rps));
  const followees = Object.keys(r.feed_p50_ms_by_followees).map(Number);
  const by = (m: Record<string, number>) => followees.map((k) => [k, m[k] ?? 0] as [number, number]);
  const body = [
    panel(
      70,
      'Feed mix: latency by load (served req/s)',
      'requests/s served',
      [
        { label: 'p50', colour: '#1f77b4', points: sweep.map((s) => [Math.round(s.rps), s.p50_ms]) },
        { label: 'p99', colour: '#d62728', points: sweep.map((s) => [Math.round(s.rps), s.p99_ms]) },
      ],
      { xTicks: rates.length > 1 ? [Math.min(...rates), Math.max(...rates)] : [0, rates[0] ?? 1] },
    ),
    panel(
      540,
      'Feed latency by followee count',
      'followees (log scale)',
      [
        { label: 'Shutter p50', colour: '#1f77b4', points: by(r.feed_p50_ms_by_followees) },
        { label: 'Shutter p99', colour: '#d62728', points: by(r.feed_p99_ms_by_followees) },
        { label: 'monolith p50', colour: '#2ca02c', points: by(r.baselines.monolith_feed_p50_ms_by_followees) },
      ],
      { logX: true, xTicks: followees },
    ),
  ].join('\n');
  const note = `Shutter ${r.machine.date.slice(0, 10)}, ${r.machine.cores} cores, ${r.settings.connections} connections (shared machine: compare within a run)`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body}
<text x="${W / 2}" y="${H - 8}" font-size="11" text-anchor="middle" fill="#555">${esc(note)}</text>
</svg>
`;
}

export async function writeChart(dir: string, r: Report): Promise<string> {
  const svgFile = path.join(dir, 'latest-feed.svg');
  const text = svg(r);
  fs.writeFileSync(svgFile, text);
  const executablePath = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
    (p): p is string => Boolean(p) && fs.existsSync(p!),
  );
  if (!executablePath) return svgFile;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    timeout: 20_000,
    viewport: { width: W, height: H },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.setContent(`<html><body style="margin:0">${text}</body></html>`);
    const png = path.join(dir, 'latest-feed.png');
    await page.screenshot({ path: png, clip: { x: 0, y: 0, width: W, height: H } });
    return png;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

function niceMax(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
const round = (v: number) => (v >= 10 ? Math.round(v) : Math.round(v * 10) / 10);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
