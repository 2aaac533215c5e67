import * as argon2 from 'argon2';
import type { Logger } from '@shutter/kit';
import { ARGON2_OPTIONS } from './identity-service';
import type { UsersRepository } from './users-repository';

/**
 * The API never creates admins. With ADMIN_EMAIL and ADMIN_PASSWORD set, start-up makes sure that
 * account exists with role admin: creates it, or promotes the existing account (its password is
 * left alone). Running it twice changes nothing.
 */
export async function ensureAdmin(users: UsersRepository, opts: { email?: string; password?: string; username: string }, log: Logger) {
  if (!opts.email || !opts.password) return;
  const existing = await users.findByEmail(opts.email);
  if (existing) {
    if (existing.role !== 'admin') {
      await users.setRole(existing.id, 'admin');
      log.info({ user_id: existing.id }, 'promoted existing account to admin');
    }
    return;
  }
  const passwordHash = await argon2.hash(opts.password, ARGON2_OPTIONS);
  try {
    const user = await users.insert({ email: opts.email, username: opts.username, passwordHash, role: 'admin' });
    log.info({ user_id: user.id }, 'created admin account');
  } catch (err) {
    // Another replica created it at the same moment: make sure of the role and move on.
    const raced = await users.findByEmail(opts.email);
    if (!raced) throw err;
    if (raced.role !== 'admin') await users.setRole(raced.id, 'admin');
  }
}
