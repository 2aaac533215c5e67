// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkAll, checkManifests, selects } = require('../check-deploy') as typeof import('../check-deploy');

/** The deployment files agree with each other and with the processes' env contract (infra/check-deploy.js). */
describe('deployment files', () => {
  it('k8s/, docker-compose.yml and .env.example have no problems', () => {
    expect(checkAll()).toEqual([]);
  });

  it('reports a Deployment without probes, resources or a locked-down container', () => {
    const problems = checkManifests([
      {
        file: 'test.yaml',
        doc: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'identity' },
          spec: {
            selector: { matchLabels: { app: 'x' } },
            template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'identity', image: 'ghcr.io/shutter/identity:1' }] } },
          },
        },
      },
    ]);
    for (const want of [
      'no readinessProbe',
      'no livenessProbe',
      'cpu+memory requests',
      'securityContext',
      'no preStop',
      'terminationGracePeriodSeconds',
      'does not set DATABASE_URL',
      'no PodDisruptionBudget',
    ]) {
      expect(problems.some((p: string) => p.includes(want))).toBe(true);
    }
  });

  it('matches label selectors the way Kubernetes does', () => {
    expect(selects({ matchLabels: { a: '1' } }, { a: '1', b: '2' })).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'a', operator: 'In', values: ['2', '3'] }] }, { a: '1' })).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'b', operator: 'DoesNotExist' }] }, { a: '1' })).toBe(true);
  });
});
