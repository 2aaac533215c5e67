/**
 * BENCH_PROFILE=1: every process wrote <name>.cpuprofile on exit (cpu-profile.cjs; open one in
 * Chrome DevTools or speedscope). Summarised here: self time per function, the top ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '@shutter/testing/src/backends';

export interface ProfileSummary {
  process: string;
  file: string;
  total_ms: number;
  /** Busy time (not idle) in ms and share of it by function, largest first. */
  busy_ms: number;
  top: Array<{ fn: string; self_ms: number; share: number }>;
  /** Busy time by who asked for it: the nearest package (or workspace folder) up each sample's stack. */
  by_package: Array<{ package: string; ms: number; share: number }>;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

export function summariseProfiles(dir: string, topN = 12): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  for (const target of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()) {
    const name = target.replace('.cpuprofile', '');
    const prof = JSON.parse(fs.readFileSync(path.join(dir, target), 'utf8')) as CpuProfile;
    const frame = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
    const parent = new Map<number, number>();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const self = new Map<string, number>();
    const owners = new Map<string, number>();
    let total = 0;
    let idle = 0;
    prof.samples.forEach((id, i) => {
      const dt = (prof.timeDeltas[i] ?? 0) / 1000;
      total += dt;
      const f = frame.get(id);
      if (!f) return;
      if (f.functionName === '(idle)') {
        idle += dt;
        return;
      }
      const owner = ownerOf(id, frame, parent);
      if (owner === null) {
        idle += dt; // the profiler stopping itself (cpu-profile.cjs)
        return;
      }
      owners.set(owner, (owners.get(owner) ?? 0) + dt);
      const where = f.url ? ` ${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName || '(anonymous)'}${where}`;
      self.set(key, (self.get(key) ?? 0) + dt);
    });
    const busy = total - idle;
    const top = [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, ms]) => ({ fn, self_ms: Math.round(ms), share: busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0 }));
    const byPackage = [...owners.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([pkg, ms]) => ({ package: pkg, ms: Math.round(ms), share: busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0 }));
    out.push({ process: name, file: path.join('profiles', target), total_ms: Math.round(total), busy_ms: Math.round(busy), top, by_package: byPackage });
  }
  return out;
}

/**
 * Who a sample's time belongs to: the nearest frame up its stack in a package (`@grpc/grpc-js`,
 * `pg`, …) or a workspace folder (`services/content`, `gateway`, `packages/kit`); failing that
 * `node` (internals with no caller of ours) or the V8 pseudo-frame (`(garbage collector)`).
 * null for the profiler's own stop.
 */
function ownerOf(id: number, frame: Map<number, { functionName: string; url: string }>, parent: Map<number, number>): string | null {
  const own = frame.get(id)!;
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
    const url = frame.get(n)?.url ?? '';
    if (url.endsWith('cpu-profile.cjs')) return null;
    const nm = url.lastIndexOf('node_modules/');
    if (nm >= 0) {
      const parts = url.slice(nm + 'node_modules/'.length).split('/');
      const pkg = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
      if (pkg !== 'tsx') return pkg;
      continue;
    }
    const ws = /^(services\/[a-z-]+|gateway|packages\/[a-z-]+|bench)\//.exec(path.relative(REPO_ROOT, url.replace(/^file:\/\//, '')));
    if (ws?.[1]) return ws[1];
  }
  return own.functionName.startsWith('(') ? own.functionName : 'node';
}

/** `node_modules/<pkg>/…/file.js` or the repository-relative path. */
function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const repo = u.indexOf('/services/') >= 0 ? u.indexOf('/services/') : u.indexOf('/gateway/') >= 0 ? u.indexOf('/gateway/') : u.indexOf('/packages/');
  return repo >= 0 ? u.slice(repo + 1) : path.basename(u);
}
