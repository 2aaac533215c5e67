import type { ServerWritableStream } from '@grpc/grpc-js';
import type { socialgraph } from '@shutter/proto';
import { drained, isUuid, validationFailed } from '@shutter/kit';
import type { Direction, FollowsRepository } from './follows-repository';

const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;

/**
 * Writes a user's agree followers (or followees) as pages of ids, keyset-paged by id: memory and
 * each query stay O(page) however many there are. Honours flow control and cancellation.
 * Pages are read one by one, not from one snapshot: an edge changed meanwhile may be missed or
 * seen, which feed fan-out tolerates (timelines are rebuilt from Postgres).
 */
export async function streamNeighbours(
  call: ServerWritableStream<socialgraph.StreamFollowersRequest, socialgraph.UserIdPage>,
  follows: FollowsRepository,
  direction: Direction,
): Promise<void> {
  const { userId, pageSize } = call.request;
  if (!isUuid(userId)) throw validationFailed('user_id', 'user_id must be a UUID');
  if (pageSize < 0) throw validationFailed('page_size', 'page_size must be positive');
  const size = Math.min(pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  let after: string | undefined;
  for (;;) {
    if (call.cancelled) return;
    const ids = await follows.neighbourIds(userId, direction, after, size);
    if (ids.length === 0) return;
    if (!call.write({ userIds: ids })) await drained(call);
    if (ids.length < size) return;
    after = ids[ids.length - 1];
  }
}
