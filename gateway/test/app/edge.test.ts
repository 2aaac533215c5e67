import { expectError } from '@shutter/testing';
import { testApp, type TestApp } from './test-app';

/** The edge of the API (docs/api.md *Conventions*, *Outside /api*): what every response carries. */

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.stop());

describe('the edge of the API', () => {
  it('echoes or generates X-Request-Id, answers / and health, and 404s unknown routes in the envelope', async () => {
    const res = await t.api.get('/', { headers: { 'x-request-id': 'client-id-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('client-id-1');
    expect(res.body.message).toMatch(/Shutter/);
    expect((await t.api.get('/healthz')).status).toBe(200);
    expect((await t.api.get('/readyz')).status).toBe(200);
    const missing = await t.api.get('/api/nothing-here');
    expectError(missing, 404);
    expect(missing.headers.get('x-request-id')).toMatch(/[0-9a-f-]{36}/);
  });

  it('/readyz is 503 while identity’s keys cannot be read', async () => {
    const lost = await testApp({ env: { IDENTITY_ADDR: '127.0.0.1:1' } });
    try {
      expect(await lost.api.get('/readyz')).toMatchObject({ status: 503, body: { status: 'not ready' } });
    } finally {
      await lost.stop();
    }
  });

  it('answers CORS preflight before authentication, and errors carry the CORS headers', async () => {
    const res = await t.api.request('OPTIONS', '/api/users/me', {
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const err = await t.api.get('/api/users/me', { headers: { origin: 'http://localhost:3000' } });
    expectError(err, 401);
    expect(err.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
  });

  it('publishes identity’s verification keys as JWKS', async () => {
    const res = await t.api.get('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(t.fakes.tokens.jwksJson));
    expect(res.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
  });
});
