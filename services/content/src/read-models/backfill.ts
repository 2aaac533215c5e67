import type { Logger } from '@shutter/kit';
import type { Knex, ReplicaBackfill } from '@shutter/kit/db';
import type { ReplicaAppliers } from '../events-consumer';
import type { Peers } from '../peers';
import { authorsReplica } from './authors';
import { edgesReplica } from './follow-graph';

/**
 * Content's replicas filled from their owners once in their life (kit createReplicaBackfill):
 * `authors` from identity's user snapshot, `follow_edges` (and so `follows`) from social-graph's
 * edge snapshot. Each chunk of snapshot rows goes through the same appliers as events, set-wise
 * (a few statements a chunk), so rows and events arriving meanwhile converge in any order. Until
 * both are complete the service is not ready.
 * An operator re-runs one by deleting its replica_state row and restarting (docs/operations.md).
 */
export function createReplicaBackfills(deps: {
  db: Knex;
  log: Logger;
  peers: Pick<Peers, 'userSnapshot' | 'edgeSnapshot'>;
  apply: ReplicaAppliers;
  retryMs?: number;
}): ReplicaBackfill[] {
  const { db, log, peers, apply, retryMs } = deps;
  return [
    authorsReplica.backfillFrom({ db, log, retryMs, snapshot: (signal) => peers.userSnapshot(signal), applyMany: (trx, users) => apply.users(trx, users) }),
    edgesReplica.backfillFrom({
      db,
      log,
      retryMs,
      snapshot: (signal) => peers.edgeSnapshot(signal),
      applyMany: (trx, edges) =>
        apply.edges(
          trx,
          edges.map((e) => ({
            followsId: e.followsId,
            followerId: e.followerId,
            followeeId: e.followeeId,
            status: e.status === 'agree' ? 'agree' : 'pending',
          })),
        ),
    }),
  ];
}
