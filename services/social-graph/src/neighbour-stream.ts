import type { socialgraph } from '@shutter/proto';
import { isUuid, validationFailed } from '@shutter/kit';
import type { Direction, FollowsRepository } from './follows-repository';

const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;

/**
 * A user's agree followers (or followees) as pages of ids, keyset-paged by id: memory and each
 * query stay O(page) however many there are. The kit's server stream pulls a page only when the
 * peer has read the last one, and stops pulling when the call is cancelled.
 * Pages are read one by one, not from one snapshot: an edge changed meanwhile may be missed or
 * seen, which feed fan-out tolerates (timelines are rebuilt from Postgres).
 */
export async function* streamNeighbours(
  req: socialgraph.StreamFollowersRequest,
  follows: FollowsRepository,
  direction: Direction,
): AsyncGenerator<socialgraph.UserIdPage> {
  const { userId, pageSize } = req;
  if (!isUuid(userId)) throw validationFailed('user_id', 'user_id must be a UUID');
  if (pageSize < 0) throw validationFailed('page_size', 'page_size must be positive');
  const size = Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  let after: string | undefined;
  for (;;) {
    const ids = await follows.neighbourIds(userId, direction, after, size);
    if (ids.length === 0) return;
    yield { userIds: ids };
    if (ids.length < size) return;
    after = ids[ids.length - 1];
  }
}
