/**
 * Input limits the gateway's schemas and the owning service both enforce (docs/api.md): the
 * gateway to answer a clear 422 early, the service because it trusts no caller. Text lengths
 * count Unicode code points after trimming.
 */

/** A post's text. */
export const MAX_POST_CHARS = 2200;
/** A comment's text. */
export const MAX_COMMENT_CHARS = 1000;
/** Images in one post. */
export const MAX_IMAGES = 10;
/** One image file (20 MiB). */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** A user's display name. */
export const MAX_NAME_CHARS = 100;
/** A user's `profile` object, as JSON bytes. */
export const MAX_PROFILE_BYTES = 4096;
export const MAX_EMAIL_CHARS = 254;
export const MIN_PASSWORD_CHARS = 8;
export const MAX_PASSWORD_CHARS = 128;

/** The username rule as a JSON Schema `pattern` (usernames are lower-cased before the check). */
export const USERNAME_PATTERN = '^[a-z0-9._]{3,30}$';
export const USERNAME = new RegExp(USERNAME_PATTERN);
/** The one wording of a broken username rule, from the gateway and from identity alike. */
export const USERNAME_RULE = 'username must be 3 to 30 characters of a-z, 0-9, "." and "_"';

/** A user search answers at most its first this-many matches (identity's bounded-cost search). */
export const SEARCH_MAX_RESULTS = 1000;
/** Most ids one batch call may name (a page of posts or users is far smaller). */
export const MAX_BATCH_IDS = 1000;

/** A list's `limit` when none is given, and the most it is clamped to. */
export const DEFAULT_PAGE_LIMIT = 10;
export const MAX_PAGE_LIMIT = 100;
