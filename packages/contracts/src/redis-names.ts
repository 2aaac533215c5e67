/**
 * Redis keys and Pub/Sub channels written by one process and read by another. ioredis prefixes
 * keys but not channels, so channel names take the deployment's key prefix explicitly.
 */

/** Pub/Sub channel of a user's new notification events (notification publishes, the gateway subscribes). */
export const liveChannel = (keyPrefix: string, userId: string) => `${keyPrefix}notif:live:${userId}`;

/*
 * Revocation state. identity writes it (services/identity/src/revocation.ts) and rebuilds it from
 * Postgres; the gateway keeps a copy in memory (gateway/src/plugins/revocations.ts), kept current
 * by the channel below and a periodic resync, so checking a token costs no round trip.
 */

/** Set of disabled account ids. */
export const DISABLED_USERS_KEY = 'auth:disabled-users';

/**
 * Sorted set of ended sessions: member = session id (the access token's `sid`), score = the
 * epoch ms after which no access token issued in it can still be valid (the entry may go then).
 */
export const REVOKED_SESSIONS_KEY = 'auth:revoked-sessions';

/**
 * Bumped (INCR) in the same MULTI as every change to the two keys above. Its absence means Redis
 * lost the revocation state and identity has not rebuilt it yet: readers must not trust the sets.
 */
export const REVOCATIONS_VERSION_KEY = 'auth:revocations-version';

/** Pub/Sub channel of revocation changes. */
export const revocationsChannel = (keyPrefix: string) => `${keyPrefix}auth:revocations`;

/** A message on the revocations channel (JSON). `resync`: reread the keys above. */
export type RevocationMessage = { type: 'sessions'; ids: string[]; until: number } | { type: 'user'; id: string; disabled: boolean } | { type: 'resync' };
