import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Output } from './dev-output';

/** Child processes of `make dev`: start, readiness, stop, memory. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** An error whose message is all the user needs (printed without a stack). */
export class DevError extends Error {
  override name = 'DevError';
}

/** True when nothing listens on host:port (we can bind it ourselves). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** GET url; true on 200. */
export function answers200(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited (with its code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

/** Spawns `node --require tsx/cjs <entry>` (TypeScript through tsx's CommonJS hook only: no loader thread) with its output prefixed by `name`. */
export function startNodeProcess(name: string, entry: string, opts: { cwd: string; env: NodeJS.ProcessEnv; out: Output }): Proc {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', entry], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.stdout) opts.out.pipe(name, child.stdout);
  if (child.stderr) opts.out.pipe(name, child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { name, child, exited, running: () => child.exitCode === null && child.signalCode === null };
}

/** SIGTERM, then SIGKILL once `deadlineMs` has passed. */
export async function stopProcess(p: Proc, deadlineMs: number, out: Output): Promise<void> {
  if (!p.running()) return;
  p.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), deadlineMs);
  });
  const timedOut = await Promise.race([p.exited.then(() => false), deadline]);
  clearTimeout(timer); // a pending deadline would keep the caller's event loop (a test run) alive
  if (timedOut && p.running()) {
    out.error(`${p.name} did not stop within ${deadlineMs} ms; killing it`);
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/**
 * Polls `url` until it answers 200 from a port that `owner` listens on (so another process that
 * took the port meanwhile, say a second `make dev`, is not mistaken for ours); rejects when
 * `deadline` (epoch ms) passes, returns early when `abort` says so.
 */
export async function waitUntilReady(url: string, deadline: number, abort: () => boolean, owner?: { pid: number | undefined; port: number }): Promise<void> {
  while (!abort()) {
    if ((await answers200(url)) && (!owner || listensOn(owner.pid, owner.port) !== false)) return;
    if (Date.now() > deadline) throw new DevError(`${url} did not answer 200 in time`);
    await sleep(100);
  }
}

/** Resident memory of a process (and its descendants), in KiB (Linux /proc; undefined elsewhere). */
export function treeRssKiB(pid: number | undefined, descendants = true): number | undefined {
  if (pid === undefined || !fs.existsSync('/proc/self/status')) return undefined;
  const children = new Map<number, number[]>();
  for (const entry of descendants ? fs.readdirSync('/proc') : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  let total = 0;
  let found = false;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m?.[1]) {
        total += Number(m[1]);
        found = true;
      }
    } catch {
      // exited
    }
    stack.push(...(children.get(p) ?? []));
  }
  return found ? total : undefined;
}

/** Whether process `pid` holds the socket listening on TCP `port` (Linux /proc; undefined elsewhere). */
export function listensOn(pid: number | undefined, port: number): boolean | undefined {
  if (pid === undefined || !fs.existsSync('/proc/net/tcp')) return undefined;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && f[9]) inodes.add(f[9]);
    }
  }
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] && inodes.has(m[1])) return true;
    }
  } catch {
    return undefined;
  }
  return false;
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '';
  }
}
