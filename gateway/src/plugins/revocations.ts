import { Gauge } from 'prom-client';
import { DISABLED_USERS_KEY, REVOCATIONS_VERSION_KEY, REVOKED_SESSIONS_KEY, revocationsChannel, type RevocationMessage } from '@shutter/contracts';
import type { Logger, Metrics, Redis } from '@shutter/kit';

/** Reread everything at least this often, even when the version says nothing changed. */
const FULL_RELOAD_MS = 60_000;

export interface RevocationOptions {
  /** How often the state is checked against Redis (a version read; a full read when it moved). */
  resyncMs: number;
  /** How old the last successful check may be before `fresh()` turns false (requests: 503). */
  maxStalenessMs: number;
}

/**
 * The gateway's copy of identity's revocation state (@shutter/contracts): disabled accounts and ended
 * sessions, held in memory so that checking a token costs no Redis round trip.
 *
 * Kept current two ways: the revocations channel applies each change within milliseconds, and
 * every `resyncMs` the version key is read (the whole state when it moved), which repairs
 * messages lost while the subscriber reconnected. The state counts as current as of the start
 * of the last successful resync; `fresh()` says whether that is at most `maxStalenessMs` ago.
 * A resync that finds no version key (Redis lost the state and identity has not rebuilt it) does
 * not count: the old copy is kept and ages. Messages that arrive while a full read is in flight
 * are applied again on top of it, so an older snapshot never undoes a newer change.
 */
export function createRevocations(redis: Redis, log: Logger, opts: RevocationOptions) {
  const channel = revocationsChannel(redis.options.keyPrefix ?? '');
  let disabled = new Set<string>();
  let sessions = new Map<string, number>();
  let version: string | null = null;
  let loadedAt = 0;
  let freshAt = 0;
  let replay: RevocationMessage[] | null = null;
  const listeners = new Set<() => void>();
  let closed = false;

  const notify = () => {
    for (const fn of listeners) fn();
  };

  function apply(m: RevocationMessage): void {
    if (m.type === 'sessions') for (const id of m.ids) sessions.set(id, m.until);
    else if (m.type === 'user') {
      if (m.disabled) disabled.add(m.id);
      else disabled.delete(m.id);
    }
  }

  // Subscribes once connected, however long that takes; ioredis resubscribes after a reconnect.
  const sub = redis.duplicate({ enableAutoPipelining: false, enableOfflineQueue: true, commandTimeout: undefined });
  sub.on('error', (err: Error) => log.warn({ err }, 'revocations subscriber error'));
  sub.on('message', (_channel: string, text: string) => {
    let m: RevocationMessage;
    try {
      m = JSON.parse(text) as RevocationMessage;
    } catch {
      return;
    }
    if (m.type === 'resync') {
      void resync(true);
      return;
    }
    replay?.push(m);
    apply(m);
    notify();
  });
  const subscribed = sub.subscribe(channel).catch((err: unknown) => log.warn({ err }, 'revocations channel not subscribed'));

  async function load(): Promise<boolean> {
    replay = [];
    try {
      const now = Date.now();
      const res = await redis
        .multi()
        .get(REVOCATIONS_VERSION_KEY)
        .smembers(DISABLED_USERS_KEY)
        .zrangebyscore(REVOKED_SESSIONS_KEY, now, '+inf', 'WITHSCORES')
        .exec();
      const [v, members, scored] = (res ?? []).map(([err, value]) => {
        if (err) throw err;
        return value;
      }) as [string | null, string[], string[]];
      if (v === null) return false;
      const nextSessions = new Map(sessions); // sessions are only ever added: a union
      for (let i = 0; i + 1 < scored.length; i += 2) nextSessions.set(scored[i]!, Number(scored[i + 1]));
      disabled = new Set(members);
      sessions = nextSessions;
      for (const m of replay) apply(m);
      version = v;
      loadedAt = now;
      return true;
    } finally {
      replay = null;
    }
  }

  let running: Promise<void> | null = null;
  /** One resync at a time; `full` rereads the state even if the version did not move. */
  function resync(full = false): Promise<void> {
    running ??= (async () => {
      const startedAt = Date.now();
      try {
        const v = await redis.get(REVOCATIONS_VERSION_KEY);
        if (v === null) return;
        const ok = full || v !== version || startedAt - loadedAt > FULL_RELOAD_MS ? await load() : true;
        if (!ok) return;
        freshAt = startedAt;
        for (const [id, until] of sessions) if (until <= startedAt) sessions.delete(id);
        notify();
      } catch (err) {
        log.warn({ err }, 'revocation resync failed');
      }
    })().finally(() => {
      running = null;
    });
    return running;
  }

  const timer = setInterval(() => void resync(), opts.resyncMs);
  timer.unref();
  const ready = subscribed.then(() => resync(true));

  return {
    /** The first resync attempt (made or failed); `fresh()` says which. */
    ready,

    /** Whether the state is at most `maxStalenessMs` old (else the gateway fails closed). */
    fresh: (): boolean => Date.now() - freshAt <= opts.maxStalenessMs,

    /** How old the state is, in ms (metrics, logs). */
    staleness: (): number => Date.now() - freshAt,

    isRevoked(userId: string, sessionId: string): boolean {
      return disabled.has(userId) || sessions.has(sessionId);
    },

    /** Called after every change or resync (open event streams check themselves again). */
    onChange(fn: () => void): () => void {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },

    resync: () => resync(true),

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      listeners.clear();
      await sub.quit().catch(() => sub.disconnect());
    },
  };
}

export type Revocations = ReturnType<typeof createRevocations>;

/** `gateway_revocation_staleness_seconds`: how old the copy is (past the bound, requests get 503). */
export function observeRevocations(metrics: Metrics, revocations: Revocations): void {
  metrics.registry.removeSingleMetric('gateway_revocation_staleness_seconds');
  new Gauge({
    name: 'gateway_revocation_staleness_seconds',
    help: 'Age of the in-memory revocation state (the gateway answers 503 past REVOCATION_MAX_STALENESS_MS)',
    registers: [metrics.registry],
    collect() {
      this.set(revocations.staleness() / 1000);
    },
  });
}
