import { runService } from '@shutter/kit/db';
import { loadSocialGraphConfig } from './config';
import { migrations, schema } from './migrations';
import { createSocialGraphService } from './server';

runService({ name: 'social-graph', loadConfig: loadSocialGraphConfig, create: createSocialGraphService, schema, migrations });
