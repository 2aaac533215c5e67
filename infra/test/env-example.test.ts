import * as fs from 'node:fs';
import * as path from 'node:path';
import { gatewayConfigShape } from '../../gateway/src/config';
import { contentConfigShape } from '../../services/content/src/config';
import { identityConfigShape } from '../../services/identity/src/config';
import { notificationConfigShape } from '../../services/notification/src/config';
import { socialGraphConfigShape } from '../../services/social-graph/src/config';

/** .env.example must stay true to the code: every variable a process reads is documented there. */
const shapes: Record<string, object> = {
  gateway: gatewayConfigShape,
  identity: identityConfigShape,
  'social-graph': socialGraphConfigShape,
  content: contentConfigShape,
  notification: notificationConfigShape,
};

// Set per process by make dev / compose / k8s rather than in one shared file.
const PER_PROCESS = new Set(['GRPC_PORT', 'METRICS_PORT']);

function documented(): Set<string> {
  const text = fs.readFileSync(path.join(__dirname, '../../.env.example'), 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^#?\s?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}

describe('.env.example', () => {
  it.each(Object.keys(shapes))('documents every variable %s reads', (name) => {
    const docs = documented();
    const missing = Object.keys(shapes[name]!).filter((v) => !docs.has(v) && !PER_PROCESS.has(v));
    expect(missing).toEqual([]);
  });
});
