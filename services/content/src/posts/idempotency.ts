import { createHash } from 'node:crypto';
import { validationFailed } from '@shutter/kit';
import type { Recorded } from './idempotency-keys-repository';

const KEY = /^[\x21-\x7e]{1,255}$/;

/** A request's identity: its trimmed content and its images (file digests, or media ids). */
export function fingerprint(content: string, media: string[]): string {
  return createHash('sha256').update(JSON.stringify({ content, media })).digest('hex');
}

export function checkIdempotencyKey(key: string): string {
  if (!KEY.test(key)) throw validationFailed('idempotency_key', 'Idempotency-Key must be 1 to 255 printable ASCII characters');
  return key;
}

/** The first response repeated, or 422 when the key was used with another body. */
export function replay(recorded: Recorded, fp: string): string {
  if (recorded.fingerprint !== fp) throw validationFailed('idempotency_key', 'Idempotency-Key was already used with a different request body');
  return recorded.postId;
}
