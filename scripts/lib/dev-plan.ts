import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import { REPO_ROOT } from '@shutter/testing/src/backends';
import { SERVICE_ORDER } from '@shutter/testing/src/stack';
import { DevError } from './dev-procs';

/**
 * What `make dev` runs and where. Every service under services/ with a `src/main.ts` takes part;
 * its default ports come from its own config shape (`GRPC_PORT`, `METRICS_PORT` in
 * src/config.ts), so no second list of ports exists. The variables a user sets win: a service's
 * gRPC port is the port of its `<NAME>_ADDR` (the address the others dial) and its metrics port
 * `<NAME>_METRICS_PORT`; the gateway's are `PORT` and `GATEWAY_METRICS_PORT`.
 */

export interface PlannedProcess {
  name: string;
  /** Entry file, relative to the repository root. */
  entry: string;
  /** The variable the process reads its listening port from (`GRPC_PORT`, or the gateway's `PORT`). */
  portVar: 'GRPC_PORT' | 'PORT';
  port: number;
  /** The variable naming the port for the user (`IDENTITY_ADDR`, `PORT`). */
  userVar: string;
  metricsPort: number;
  metricsVar: string;
}

type Shape = Record<string, z.ZodType>;

/** The default of a port variable in a config shape (zod applies it to `undefined`). */
function defaultPort(shape: Shape, name: string, file: string): number {
  const schema = shape[name];
  const value: unknown = schema?.safeParse(undefined).data;
  if (typeof value !== 'number') throw new DevError(`${file} declares no default for ${name}`);
  return value;
}

function configShape(file: string): Shape {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as Record<string, unknown>;
  const key = Object.keys(mod).find((k) => k.endsWith('ConfigShape'));
  if (!key) throw new DevError(`${path.relative(REPO_ROOT, file)} exports no *ConfigShape`);
  return mod[key] as Shape;
}

const envName = (service: string) => service.toUpperCase().replace(/-/g, '_');

export function planProcesses(env: NodeJS.ProcessEnv): PlannedProcess[] {
  const order = (n: string) => (SERVICE_ORDER.includes(n) ? SERVICE_ORDER.indexOf(n) : SERVICE_ORDER.length);
  const services = fs
    .readdirSync(path.join(REPO_ROOT, 'services'))
    .filter((n) => fs.existsSync(path.join(REPO_ROOT, 'services', n, 'src/main.ts')))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const planned: PlannedProcess[] = services.map((name) => {
    const file = path.join(REPO_ROOT, 'services', name, 'src/config.ts');
    const shape = configShape(file);
    const addrVar = `${envName(name)}_ADDR`;
    const metricsVar = `${envName(name)}_METRICS_PORT`;
    return {
      name,
      entry: path.join('services', name, 'src/main.ts'),
      portVar: 'GRPC_PORT',
      port: addrPort(env, addrVar) ?? defaultPort(shape, 'GRPC_PORT', file),
      userVar: addrVar,
      metricsPort: portVar(env, metricsVar) ?? defaultPort(shape, 'METRICS_PORT', file),
      metricsVar,
    };
  });
  const gatewayFile = path.join(REPO_ROOT, 'gateway/src/config.ts');
  const gateway = configShape(gatewayFile);
  planned.push({
    name: 'gateway',
    entry: 'gateway/src/server.ts',
    portVar: 'PORT',
    port: portVar(env, 'PORT') ?? defaultPort(gateway, 'PORT', gatewayFile),
    userVar: 'PORT',
    metricsPort: portVar(env, 'GATEWAY_METRICS_PORT') ?? defaultPort(gateway, 'METRICS_PORT', gatewayFile),
    metricsVar: 'GATEWAY_METRICS_PORT',
  });
  return planned;
}

function portVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DevError(`${name}=${v} is not a port number`);
  return n;
}

/** The port of a host:port variable (the service listens there, the gateway connects there). */
function addrPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (!v) return undefined;
  const n = Number(v.slice(v.lastIndexOf(':') + 1));
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DevError(`${name}=${v} is not host:port`);
  return n;
}
