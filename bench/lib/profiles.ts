/**
 * BENCH_PROFILE=1: every process ran with `node --cpu-prof`, which writes a .cpuprofile on exit.
 * These are renamed after their process (<name>.cpuprofile: open in Chrome DevTools or speedscope)
 * and summarised: self time per function, the top ones, for latest.md.
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

export function summariseProfiles(dir: string, pidsByName: Record<string, number[]>, topN = 12): ProfileSummary[] {
  const nameOf = new Map<number, string>();
  for (const [name, pids] of Object.entries(pidsByName)) for (const pid of pids) nameOf.set(pid, name);
  const out: ProfileSummary[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile, or baseline-<name>.cpuprofile (named at start)
    const pid = Number(file.split('.')[3]);
    const name = file.startsWith('baseline-') ? file.replace('.cpuprofile', '') : nameOf.get(pid);
    if (!name) {
      fs.rmSync(path.join(dir, file)); // make dev's own launcher processes: not under test
      continue;
    }
    const target = `${name}.cpuprofile`;
    if (target !== file) fs.renameSync(path.join(dir, file), path.join(dir, target));
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
