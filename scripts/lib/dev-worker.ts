import { loadDotEnv } from '@shutter/kit';
import { createLauncher } from './dev-launcher';
import { Output } from './dev-output';
import { planProcesses, type PlannedProcess } from './dev-plan';
import { DevError } from './dev-procs';

/**
 * The worker of `make dev` (see scripts/dev.ts for what it does and how it decides): reads the
 * plan (scripts/lib/dev-plan.ts: each process's ports from its own config), starts it through the
 * launcher (dev-launcher.ts) and turns signals, the foreground process going away and errors
 * nothing caught into one ordered stop.
 */
export function runWorker(): void {
  loadDotEnv();
  // The AWS SDK warns, once per process, that releases from 2027 need Node 22: noise in every start.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const given = process.env.SHUTTER_DEV_T0;
  const t0 = given && /^\d{13}$/.test(given) ? Number(given) : Math.round(performance.timeOrigin);
  let plan: PlannedProcess[];
  try {
    plan = planProcesses(process.env);
  } catch (err) {
    console.error(`make dev: ${err instanceof DevError ? err.message : String(err)}`);
    process.exit(1);
  }
  const tty = Boolean(process.stdout.isTTY);
  const out = new Output([...plan.map((p) => p.name), 'postgres'], { tty, prettyJson: tty && process.env.LOG_FORMAT !== 'json' });
  const launcher = createLauncher(plan, out, t0);

  let signals = 0;
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      out.error('second signal: killing everything now');
      process.exit(1); // the exit hook below kills the children
    }
    void launcher.shutdown(0, `${signal}: stopping (Ctrl-C again to kill at once)`);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => onSignal(s));
  // The foreground process is gone (its terminal closed, or it was killed): stop as well.
  process.on('disconnect', () => void launcher.shutdown(0, 'the foreground process went away: stopping'));
  // An error nothing caught (e.g. an 'error' event of a library's child process): stop in order.
  process.on('uncaughtException', (err) => void launcher.shutdown(1, `unexpected error: ${err.stack ?? err.message}`, 0));
  // Last resort when the worker exits without having stopped them (second Ctrl-C, a crash).
  process.on('exit', () => launcher.killLeftovers());

  void launcher.start();
}
