import { runService } from '@shutter/kit/db';
import { runPhotoBackfill } from './backfill-photos';
import { loadContentConfig } from './config';
import { migrations, schema } from './migrations';
import { createContentService } from './server';

// `content backfill-photos`: the one-off photo backfill (README), from the same build as the service.
if (process.argv[2] === 'backfill-photos') runPhotoBackfill(process.argv.slice(3));
else runService({ name: 'content', loadConfig: loadContentConfig, create: createContentService, schema, migrations });
