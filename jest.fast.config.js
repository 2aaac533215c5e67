/**
 * The fast tier (`make test-fast`): unit tests and the gateway's in-process tests (gateway/test/app/,
 * buildApp + inject against fake services). Nothing here needs Postgres, S3 or a started service,
 * so global-setup starts only Redis (TEST_TIER=fast). A new test that needs nothing running belongs
 * in this list.
 */
process.env.TEST_TIER = 'fast';

const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/gateway/test/app/**/*.test.ts',
    '<rootDir>/gateway/test/errors.test.ts',
    '<rootDir>/packages/testing/test/*.test.ts',
    '<rootDir>/packages/kit/test/{backend-unavailable,config,grpc,grpc-streams,internal-auth}.test.ts',
    '<rootDir>/services/content/test/{sniff,url-signer}.test.ts',
    '<rootDir>/services/notification/test/event-mapper.test.ts',
    '<rootDir>/infra/test/{alerts,deploy-compose,deploy-config,deploy-secrets,env-example,metric-names}.test.ts',
  ],
};
