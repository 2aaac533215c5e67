import { liveChannel } from '@shutter/contracts';
import type { Logger, Redis } from '@shutter/kit';
import { notification } from '@shutter/proto';

/** Publishes new events, protobuf-encoded, to their recipient's channel (after the commit). */
export function createLivePublisher(redis: Redis, log: Logger) {
  const prefix = redis.options.keyPrefix ?? '';
  return {
    /** Best effort: a subscriber that missed it gets it from the Last-Event-ID replay. */
    async publish(event: notification.Event): Promise<void> {
      try {
        await redis.publish(liveChannel(prefix, event.recipientId), Buffer.from(notification.Event.encode(event).finish()));
      } catch (err) {
        log.warn({ err, eventId: event.eventId }, 'live event not published');
      }
    },
  };
}

export type LivePublisher = ReturnType<typeof createLivePublisher>;
