/** `@shutter/kit`: what every process uses. What needs Postgres is in `@shutter/kit/db` (index-db.ts). */
export * from './config';
export * from './logger';
export * from './metrics';
export * from './errors';
export * from './redis';
export * from './ids';
export * from './grpc/context';
export * from './grpc/internal-auth';
export * from './grpc/server';
export * from './grpc/client';
export * from './grpc/requests';
export * from './process';
export * from './tracing';
