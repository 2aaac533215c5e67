/**
 * Who may see an author's posts (and like and comment on them) — the one place this is decided.
 * docs/api.md: the author; anyone when the author is public; otherwise the author's agree followers.
 * A disabled author's posts and comments are visible to no one else (admins included: they
 * only get the profile back, to enable it again).
 *
 * The inputs come from content's read models (read-models/), which identity's and
 * social-graph's events keep current, so an unfollow, a switch to private or a disable applies
 * as soon as its event is consumed (milliseconds), not after a cache TTL.
 */

export interface AuthorAccess {
  authorId: string;
  isPublic: boolean;
  status: string;
}

export function canSeePostsOf(viewerId: string, author: AuthorAccess, viewerFollowsAuthor: boolean): boolean {
  if (author.status !== 'enabled') return false;
  return viewerId === author.authorId || author.isPublic || viewerFollowsAuthor;
}

/**
 * The same rule as a SQL condition for lists (they filter before LIMIT): posts `p` joined to
 * their author `a` in `authors`, with `visiblePostBindings(viewer)` for its two `?`.
 */
export const VISIBLE_POST_SQL = `(a.status = 'enabled' AND (p.author_id = ? OR a.is_public OR EXISTS (
  SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = p.author_id)))`;
export const visiblePostBindings = (viewerId: string) => [viewerId, viewerId];
