import { runService } from '@shutter/kit/db';
import { loadNotificationConfig } from './config';
import { migrations, schema } from './migrations';
import { createNotificationService } from './server';

runService({ name: 'notification', loadConfig: loadNotificationConfig, create: createNotificationService, schema, migrations });
