import { events } from '@shutter/proto';

/** The public types of a user's notification events (docs/api.md): notification makes them, the gateway serves them. */
export const NOTIFICATION_TYPES = ['friend_request', 'friend_agree', 'follow', 'like', 'comment'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** The Redis Stream every outbox relay publishes to and every consumer group reads. */
export const EVENTS_STREAM = 'events';

/**
 * Every domain event type on the stream and the protobuf message its payload is
 * (proto/shutter/events/v1/events.proto). Producers encode and consumers decode through this one
 * table, so a type string and its message cannot drift apart between services.
 */
export const EVENT_MESSAGES = {
  'user.created': events.UserCreated,
  'user.updated': events.UserUpdated,
  'user.disabled': events.UserStatusChanged,
  'user.enabled': events.UserStatusChanged,
  'follow.requested': events.FollowChanged,
  'follow.created': events.FollowChanged,
  'follow.accepted': events.FollowChanged,
  'follow.removed': events.FollowChanged,
  'post.created': events.PostChanged,
  'post.deleted': events.PostChanged,
  'post.liked': events.PostLikeChanged,
  'post.unliked': events.PostLikeChanged,
  'comment.created': events.CommentChanged,
  'comment.deleted': events.CommentChanged,
} as const;

export type EventType = keyof typeof EVENT_MESSAGES;

/** The decoded payload of an event of type T. */
export type EventMessage<T extends EventType> = ReturnType<(typeof EVENT_MESSAGES)[T]['decode']>;

/** What every generated message codec offers; the table's entries differ only in T. */
interface Codec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(payload: Uint8Array): unknown;
}
const codecOf = (type: EventType) => EVENT_MESSAGES[type] as Codec;

/** Whether a stream entry's type is one Shutter defines. */
export const isEventType = (type: string): type is EventType => Object.hasOwn(EVENT_MESSAGES, type);

/** An outbox entry (the kit's `enqueueEvent`): the type, its aggregate key and the encoded message. */
export function domainEvent<T extends EventType>(type: T, key: string, message: EventMessage<T>): { type: T; key: string; payload: Uint8Array } {
  return { type, key, payload: codecOf(type).encode(message).finish() };
}

/** Decodes a payload as the message its type carries (throws on bytes that are not one). */
export function decodeEvent<T extends EventType>(type: T, payload: Uint8Array): EventMessage<T> {
  return codecOf(type).decode(payload) as EventMessage<T>;
}

/**
 * A follow edge's version as a replica applies it: its status only moves forward (pending →
 * agree → removed), so the status's rank is its version. social-graph's snapshot and events
 * carry it; content's and identity's copies of the edges order by it.
 */
export const EDGE_STATUS_VERSION = { pending: 1, agree: 2, removed: 3 } as const;
export type EdgeStatus = keyof typeof EDGE_STATUS_VERSION;
