/**
 * BENCH_PROFILE=1: every process wrote <name>.cpuprofile on exit (cpu-profile.cjs; open one in
 * Chrome DevTools or speedscope). Summarised here: self time per function, the top ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ProfileSummary {
  process: string;
  file: string;
  total_ms: number;
  /** Busy time (not idle) in ms and share of it by function, largest first. */
  busy_ms: number;
  top: Array<{ fn: string; self_ms: number; share: number }>;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

export function summariseProfiles(dir: string, topN = 12): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  for (const target of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const name = target.replace('.cpuprofile', '');
    const prof = JSON.parse(fs.readFileSync(path.join(dir, target), 'utf8')) as CpuProfile;
    const frame = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
    const self = new Map<string, number>();
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
      const where = f.url ? ` ${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName || '(anonymous)'}${where}`;
      self.set(key, (self.get(key) ?? 0) + dt);
    });
    const busy = total - idle;
    const top = [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([fn, ms]) => ({ fn, self_ms: Math.round(ms), share: busy > 0 ? Math.round((ms / busy) * 1000) / 10 : 0 }));
    out.push({ process: name, file: path.join('profiles', target), total_ms: Math.round(total), busy_ms: Math.round(busy), top });
  }
  return out;
}

/** `node_modules/<pkg>/…/file.js` or the repository-relative path. */
function shortUrl(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const repo = u.indexOf('/services/') >= 0 ? u.indexOf('/services/') : u.indexOf('/gateway/') >= 0 ? u.indexOf('/gateway/') : u.indexOf('/packages/');
  return repo >= 0 ? u.slice(repo + 1) : path.basename(u);
}
