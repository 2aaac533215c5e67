import type { notification } from '@shutter/proto';
import { renderMessage } from './event-mapper';
import type { ActorSnapshot, NotificationRow } from './notifications-repository';

/**
 * A stored notification as the gRPC `Event`. `current` is the actor as identity describes them
 * now: when given, it replaces the snapshot taken at creation and the message is worded anew.
 */
export function toProtoEvent(row: NotificationRow, current?: ActorSnapshot): notification.Event {
  const actor = current ?? row.metadata.actor;
  return {
    eventId: row.id,
    recipientId: row.recipient_id,
    type: row.type,
    message: current ? renderMessage(row.metadata.template, current.username) : row.message,
    isRead: row.is_read,
    actor: { userId: row.actor_id, username: actor.username, name: actor.name, profile: actor.profile ?? {}, profileImageKey: actor.profile_image_key ?? '' },
    followsId: row.follows_id ?? '',
    postId: row.post_id ?? '',
    commentId: row.comment_id ?? '',
    createdAt: row.created_at,
  };
}
