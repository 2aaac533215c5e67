/** The facts every process must agree on, defined once: see README.md. */
export * from './api-json';
export * from './events';
export * from './idempotency';
export * from './limits';
export * from './redis-names';
