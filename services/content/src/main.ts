import { runService } from '@shutter/kit';
import { loadContentConfig } from './config';
import { migrations, schema } from './migrations';
import { createContentService } from './server';

runService({ name: 'content', loadConfig: loadContentConfig, create: createContentService, schema, migrations });
