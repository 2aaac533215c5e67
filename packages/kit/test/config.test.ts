import { env, loadConfig, commonConfig } from '../src';

describe('loadConfig', () => {
  it('applies defaults and types, and freezes the result', () => {
    const c = loadConfig({ ...commonConfig, PORT: env.port(8080), ON: env.bool(false) }, { PORT: '9000', ON: 'true' });
    expect(c.PORT).toBe(9000);
    expect(c.ON).toBe(true);
    expect(c.DATABASE_POOL_MAX).toBe(10);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names every bad or missing variable', () => {
    expect(() => loadConfig({ PORT: env.port(8080), SECRET: env.str() }, { PORT: 'eighty' })).toThrow(/PORT[\s\S]*SECRET|SECRET[\s\S]*PORT/);
    try {
      loadConfig({ PORT: env.port(8080) }, { PORT: '70000' });
    } catch (err) {
      expect((err as Error).name).toBe('ConfigError');
      expect((err as Error).message).toMatch(/^invalid configuration:\n {2}PORT: /);
    }
  });

  it('reads proxy hops as true, false or a count', () => {
    const shape = { TRUST_PROXY: env.hops(0) };
    expect(loadConfig(shape, { TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(1);
    expect(loadConfig(shape, { TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(0);
    expect(loadConfig(shape, { TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig(shape, {}).TRUST_PROXY).toBe(0);
    expect(() => loadConfig(shape, { TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY/);
  });

  it('treats an empty optional string as unset (compose passes empty values)', () => {
    expect(loadConfig({ ADMIN_EMAIL: env.optionalStr() }, { ADMIN_EMAIL: '' }).ADMIN_EMAIL).toBeUndefined();
  });
});
