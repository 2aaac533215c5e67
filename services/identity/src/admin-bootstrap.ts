import * as argon2 from 'argon2';
import { ServiceError, type Logger } from '@shutter/kit';
import { ARGON2_OPTIONS } from './identity-handlers';
import type { UsersRepository } from './users-repository';

export type AdminBootstrapOutcome = 'not_configured' | 'created' | 'promoted' | 'already_admin' | 'password_mismatch' | 'username_taken' | 'email_taken';

/**
 * docs/api.md *Running it*: the API never creates admins. With ADMIN_EMAIL and ADMIN_PASSWORD set,
 * start-up makes sure that account exists with role admin: it creates it, or promotes an existing
 * account with that email only if ADMIN_PASSWORD is that account's password (anyone can register
 * an email address; holding it proves nothing). Any conflict (the email's account has another
 * password, ADMIN_USERNAME is taken) is logged as one clear error and start-up goes on without
 * an admin: exiting would only restart the process into the same conflict. Idempotent.
 */
export async function ensureAdmin(
  users: UsersRepository,
  opts: { email?: string; password?: string; username: string },
  log: Logger,
): Promise<AdminBootstrapOutcome> {
  if (!opts.email || !opts.password) return 'not_configured';
  const existing = await users.findByEmail(opts.email);
  if (existing) {
    if (existing.role === 'admin') return 'already_admin';
    if (!(await argon2.verify(existing.password_hash, opts.password))) {
      log.error(
        { user_id: existing.id },
        'admin bootstrap: ADMIN_EMAIL belongs to an existing account whose password is not ADMIN_PASSWORD, so it was NOT promoted; ' +
          'starting without a new admin (sign in as that account and set its password to ADMIN_PASSWORD, or choose another ADMIN_EMAIL)',
      );
      return 'password_mismatch';
    }
    await users.setRole(existing.id, 'admin');
    log.info({ user_id: existing.id }, 'admin bootstrap: promoted the existing account (ADMIN_PASSWORD is its password)');
    return 'promoted';
  }
  const passwordHash = await argon2.hash(opts.password, ARGON2_OPTIONS);
  try {
    const user = await users.insert({ email: opts.email, username: opts.username, passwordHash, role: 'admin' });
    log.info({ user_id: user.id }, 'admin bootstrap: created the admin account');
    return 'created';
  } catch (err) {
    if (!(err instanceof ServiceError) || (err.reason !== 'username_taken' && err.reason !== 'email_taken')) throw err;
    if (err.reason === 'username_taken') {
      log.error(
        { username: opts.username },
        `admin bootstrap: the username "${opts.username}" is taken by another account; starting without an admin (set ADMIN_USERNAME to a free username)`,
      );
      return 'username_taken';
    }
    // Another replica created it at the same moment: it holds the same password, so check again.
    const raced = await users.findByEmail(opts.email);
    if (raced?.role === 'admin') return 'already_admin';
    log.error('admin bootstrap: an account with ADMIN_EMAIL appeared during start-up and is not an admin; starting without an admin');
    return 'email_taken';
  }
}
