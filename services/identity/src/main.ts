import { runService } from '@shutter/kit/db';
import { loadIdentityConfig } from './config';
import { migrations, schema } from './migrations';
import { createIdentityService } from './server';

runService({ name: 'identity', loadConfig: loadIdentityConfig, create: createIdentityService, schema, migrations });
