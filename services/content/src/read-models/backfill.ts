import type { Logger } from '@shutter/kit';
import type { Knex, ReplicaBackfill } from '@shutter/kit/db';
import type { ReplicaAppliers } from '../events-consumer';
import type { Peers } from '../peers';
import { authorsReplica } from './authors';
import { edgesReplica } from './follow-graph';

/**
 * Content's replicas filled from their owners once in their life (kit createReplicaBackfill):
 * `authors` from identity's user snapshot, `follow_edges` (and so `follows`) from social-graph's
 * edge snapshot. Each snapshot row goes through the same applier as an event, so rows and events
 * arriving meanwhile converge in any order. Until both are complete the service is not ready.
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
    authorsReplica.backfillFrom({ db, log, retryMs, snapshot: (signal) => peers.userSnapshot(signal), apply: (trx, user) => apply.user(trx, user) }),
    edgesReplica.backfillFrom({
      db,
      log,
      retryMs,
      snapshot: (signal) => peers.edgeSnapshot(signal),
      apply: (trx, e) =>
        apply.edge(trx, { followsId: e.followsId, followerId: e.followerId, followeeId: e.followeeId, status: e.status === 'agree' ? 'agree' : 'pending' }),
    }),
  ];
}
