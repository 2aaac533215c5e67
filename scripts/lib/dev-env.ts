import type { PlannedProcess } from './dev-plan';
import { DevError, portFree } from './dev-procs';

/** What each child of `make dev` (and of the chaos stack) is given: environment, readiness URL, free ports. */

/** What every child gets: the backends, the peers' addresses, a short shutdown deadline. */
export function commonEnv(
  base: NodeJS.ProcessEnv,
  plan: PlannedProcess[],
  b: { host: string; probeHost: string; databaseUrl: string; redisUrl: string; s3Env: Record<string, string> },
): NodeJS.ProcessEnv {
  const addrs = Object.fromEntries(plan.filter((p) => p.portVar === 'GRPC_PORT').map((p) => [p.userVar, `${b.probeHost}:${p.port}`]));
  const common: NodeJS.ProcessEnv = {
    ...base,
    HOST: b.host,
    DATABASE_URL: b.databaseUrl,
    REDIS_URL: b.redisUrl,
    ...b.s3Env,
    ...addrs,
    SHUTDOWN_TIMEOUT_MS: base.SHUTDOWN_TIMEOUT_MS ?? '3000',
  };
  for (const v of ['SHUTTER_DEV_WORKER', 'SHUTTER_DEV_T0', 'GRPC_PORT', 'METRICS_PORT', 'PORT']) delete common[v];
  return common;
}

/** One child's environment: the common one plus its own ports. */
export function processEnv(common: NodeJS.ProcessEnv, p: PlannedProcess): NodeJS.ProcessEnv {
  return { ...common, [p.portVar]: String(p.port), METRICS_PORT: String(p.metricsPort) };
}

/** The gateway answers /readyz on its public port, a service on its metrics port. */
export function readiness(p: PlannedProcess, host: string): { url: string; port: number } {
  const port = p.portVar === 'PORT' ? p.port : p.metricsPort;
  return { url: `http://${host}:${port}/readyz`, port };
}

/** Every port of the plan is distinct and free on `host`, else a DevError naming the variable to change. */
export async function checkPorts(plan: PlannedProcess[], host: string): Promise<void> {
  const ports = plan.flatMap((p) => [
    { port: p.port, what: p.name === 'gateway' ? 'the gateway (HTTP API)' : `${p.name} (gRPC)`, variable: p.userVar },
    { port: p.metricsPort, what: `${p.name}'s metrics`, variable: p.metricsVar },
  ]);
  const seen = new Map<number, string>();
  for (const p of ports) {
    const other = seen.get(p.port);
    if (other) throw new DevError(`port ${p.port} is configured twice (${other} and ${p.variable}); change one of them in .env`);
    seen.set(p.port, p.variable);
    if (!(await portFree(p.port, host))) {
      throw new DevError(
        `port ${p.port} (${p.what}) is already in use on ${host}. Stop what uses it (an earlier \`make dev\`? ` +
          `ss -ltnp 'sport = :${p.port}' shows it) or choose another port: ${p.variable}=… in .env.`,
      );
    }
  }
}
