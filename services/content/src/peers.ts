import type * as grpc from '@grpc/grpc-js';
import { identity, socialgraph, type events } from '@shutter/proto';
import { createClient, type AssertionSigner, type Metrics } from '@shutter/kit';
import type { ContentConfig } from './config';

/** A whole snapshot may take long on a big graph; flow control paces it to the replica's writes. */
const SNAPSHOT_DEADLINE_MS = 60 * 60_000;

/**
 * Content's only calls to other services: the owners' snapshots its replicas backfill from, once
 * in each replica's life (read-models/backfill.ts). No request path and no fan-out calls a peer.
 */
export function createPeers(config: ContentConfig, metrics: Metrics, auth: AssertionSigner) {
  const opts = { deadlineMs: SNAPSHOT_DEADLINE_MS, metrics, auth };
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, { ...opts, service: 'identity' });
  const graphClient = createClient(socialgraph.SocialGraphServiceService, config.SOCIAL_GRAPH_ADDR, { ...opts, service: 'social-graph' });

  /** The pages of a server stream; ending the iteration or aborting `signal` cancels the call. */
  async function* pages<T>(stream: grpc.ClientReadableStream<T>, signal: AbortSignal): AsyncIterable<T> {
    const cancel = () => stream.cancel();
    signal.addEventListener('abort', cancel);
    try {
      for await (const page of stream) yield page as T;
    } finally {
      signal.removeEventListener('abort', cancel);
      stream.cancel();
    }
  }

  return {
    /** identity's users, whole state at version, by id. */
    async *userSnapshot(signal: AbortSignal): AsyncIterable<events.UserState[]> {
      const def = identity.IdentityServiceService.streamUserSnapshot;
      const stream = identityClient.raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, { pageSize: 1000 }, identityClient.metadata('streamUserSnapshot'), {
        deadline: identityClient.deadline(),
      });
      for await (const page of pages(stream, signal)) yield page.users;
    },

    /** social-graph's live edges at version, by edge id. */
    async *edgeSnapshot(signal: AbortSignal): AsyncIterable<socialgraph.EdgeState[]> {
      const def = socialgraph.SocialGraphServiceService.streamEdgeSnapshot;
      const stream = graphClient.raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, { pageSize: 1000 }, graphClient.metadata('streamEdgeSnapshot'), {
        deadline: graphClient.deadline(),
      });
      for await (const page of pages(stream, signal)) yield page.edges;
    },

    close() {
      identityClient.close();
      graphClient.close();
    },
  };
}

export type Peers = ReturnType<typeof createPeers>;
