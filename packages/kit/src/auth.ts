/**
 * Redis set of disabled account ids: identity writes it (services/identity/src/revocation.ts),
 * the gateway checks it on every request (gateway/src/plugins/auth.ts).
 */
export const DISABLED_USERS_KEY = 'auth:disabled-users';
