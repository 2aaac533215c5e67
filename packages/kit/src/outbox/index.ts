export { outboxMigration, outboxTraceMigration } from './migration';
export { enqueueEvent, outboxChannel, type OutboxEvent } from './enqueue';
export { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './relay';
export { createEventConsumer, type EventConsumer, type EventConsumerOptions, type StreamEvent } from './consumer';
