import pino, { type Logger } from 'pino';

export type { Logger };

/** pino JSON logs with the service name; pretty only when stdout is a terminal. */
export function createLogger(service: string, level = 'info'): Logger {
  const pretty = process.stdout.isTTY && process.env.LOG_FORMAT !== 'json';
  return pino({
    name: service,
    level,
    base: { service },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,service' } } } : {}),
  });
}
