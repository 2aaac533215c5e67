/** Every test runs as TypeScript through SWC (fast, no type-check: `make typecheck` does that). */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  testMatch: ['<rootDir>/**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  // cookie 2 is ES-module only; fastify's inject (light-my-request) requires it: compiled like our code.
  transformIgnorePatterns: ['/node_modules/(?!cookie/)'],
  globalSetup: '<rootDir>/packages/testing/src/global-setup.ts',
  globalTeardown: '<rootDir>/packages/testing/src/global-teardown.ts',
  setupFilesAfterEnv: ['<rootDir>/packages/testing/src/per-file.ts'],
  // A hang detector, not a speed check (make bench measures speed): generous, since CI machines are busy.
  testTimeout: 120_000,
  maxWorkers: 2,
};
