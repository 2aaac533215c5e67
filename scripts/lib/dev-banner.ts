import type { Output } from './dev-output';
import { treeRssKiB } from './dev-procs';
import type { SupervisedProcess } from './dev-supervisor';

/** The box `make dev` prints once everything answers: where the API and docs are, how long start-up took, idle memory. */
export function printReadyBanner(
  out: Output,
  s: { apiUrl: string; readyAfterMs: number; procs: SupervisedProcess[]; postgresPid?: number; redisPid?: number },
): void {
  // Memory of every process right after start (idle), from /proc (Linux).
  const rss: Array<[string, number | undefined]> = s.procs.map((p) => [p.name, treeRssKiB(p.current().child.pid)]);
  if (s.postgresPid !== undefined) rss.push(['postgres', treeRssKiB(s.postgresPid)]);
  if (s.redisPid !== undefined) rss.push(['redis', treeRssKiB(s.redisPid)]);
  rss.push(['dev+s3', treeRssKiB(process.pid, false)]);
  const known = rss.filter((r): r is [string, number] => r[1] !== undefined);
  const mb = (kib: number) => Math.round(kib / 1024);
  const memory = known.length ? `; idle RSS MB: ${known.map(([n, k]) => `${n} ${mb(k)}`).join(', ')} (total ${mb(known.reduce((a, [, k]) => a + k, 0))})` : '';

  const admin = process.env.ADMIN_EMAIL ? `\n  Admin: ${process.env.ADMIN_EMAIL} (password: ADMIN_PASSWORD in .env)` : '';
  const rule = out.colour('2', '─'.repeat(72));
  process.stdout.write(
    `${rule}\n  ${out.colour('1;32', 'Shutter is running')}\n` +
      `  API:  ${out.colour('1', s.apiUrl)}\n` +
      `  Docs: ${out.colour('1', `${s.apiUrl}/docs`)}${admin}\n` +
      `  Stop: Ctrl-C (stops every process started here; one that crashes is restarted)\n` +
      `  ${out.colour('2', `ready ${(s.readyAfterMs / 1000).toFixed(1)} s after start${memory}`)}\n${rule}\n`,
  );
}
