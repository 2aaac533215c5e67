import { liveChannel } from '@shutter/contracts';
import { notification } from '@shutter/proto';
import type { Logger, Redis } from '@shutter/kit';

export type LiveListener = (event: notification.Event) => void;

/**
 * One Redis subscriber connection per gateway process, shared by every open event stream: a
 * user's channel is subscribed while at least one of their streams is open here, and each
 * message fans out to those streams. When the connection drops, `onLost` listeners are told
 * (their streams end; clients reconnect with Last-Event-ID and get what they missed replayed).
 */
export function createLiveHub(redis: Redis, log: Logger) {
  const prefix = redis.options.keyPrefix ?? '';
  const channelPrefix = liveChannel(prefix, '');
  const channels = new Map<string, { listeners: Set<LiveListener>; ready: Promise<unknown> }>();
  const lostListeners = new Set<() => void>();
  let sub: Redis | null = null;
  let closing = false;

  function connection(): Redis {
    if (sub) return sub;
    // Channel state is ours: after a reconnect, streams start over (no automatic resubscribe).
    const s = redis.duplicate({ enableAutoPipelining: false, autoResubscribe: false });
    let ready = false;
    s.on('ready', () => {
      ready = true;
    });
    s.on('close', () => {
      if (!ready) return;
      ready = false;
      channels.clear();
      if (!closing) log.warn('event stream subscriber lost its connection: ending open streams');
      for (const fn of [...lostListeners]) fn();
    });
    s.on('error', (err: Error) => log.warn({ err }, 'event stream subscriber error'));
    s.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const entry = channels.get(channel.toString().slice(channelPrefix.length));
      if (!entry) return;
      let event: notification.Event;
      try {
        event = notification.Event.decode(message);
      } catch (err) {
        log.warn({ err }, 'undecodable live event dropped');
        return;
      }
      for (const listener of entry.listeners) listener(event);
    });
    sub = s;
    return s;
  }

  return {
    /** Delivers the user's new events to `listener` once subscribed; answers the unsubscribe. */
    async subscribe(userId: string, listener: LiveListener): Promise<() => void> {
      const s = connection();
      let entry = channels.get(userId);
      if (!entry) {
        const created = { listeners: new Set<LiveListener>(), ready: s.subscribe(liveChannel(prefix, userId)) };
        created.ready.catch(() => {
          if (channels.get(userId) === created) channels.delete(userId);
        });
        channels.set(userId, created);
        entry = created;
      }
      const current = entry;
      current.listeners.add(listener);
      try {
        await current.ready;
      } catch (err) {
        current.listeners.delete(listener);
        throw err;
      }
      return () => {
        current.listeners.delete(listener);
        if (current.listeners.size > 0 || channels.get(userId) !== current) return;
        channels.delete(userId);
        // Commands on one connection run in order: a later subscribe for this user still wins.
        s.unsubscribe(liveChannel(prefix, userId)).catch(() => undefined);
      };
    },

    /** Called when the subscriber connection is lost (streams must start over). */
    onLost(fn: () => void): () => void {
      lostListeners.add(fn);
      return () => lostListeners.delete(fn);
    },

    /** Channels subscribed now (tests: one per user with open streams, whatever their number). */
    subscribedUsers(): string[] {
      return [...channels.keys()];
    },

    async close(): Promise<void> {
      closing = true;
      const s = sub;
      sub = null;
      channels.clear();
      if (s) await s.quit().catch(() => s.disconnect());
    },
  };
}

export type LiveHub = ReturnType<typeof createLiveHub>;
