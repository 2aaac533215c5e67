import { Type } from '@sinclair/typebox';
import { NOTIFICATION_TYPES } from '@shutter/contracts';
import { Timestamp, Uuid } from './common';
import { UserMetadata } from './users';

/** Who acted (docs/api.md `metadata.actor`, also `follower` / `following`). */
export const EventActor = Type.Object({ user_id: Uuid, username: Type.String(), metadata: UserMetadata });

export const EventItem = Type.Object(
  {
    event_id: Uuid,
    type: Type.String({ enum: [...NOTIFICATION_TYPES] }),
    message: Type.String(),
    is_read: Type.Boolean(),
    metadata: Type.Object(
      {
        actor: EventActor,
        follower: Type.Optional(EventActor),
        following: Type.Optional(EventActor),
        follows_id: Type.Optional(Uuid),
        post_id: Type.Optional(Uuid),
        comment_id: Type.Optional(Uuid),
      },
      {
        description:
          "seed 000's keys: friend_request and follow have follower + follows_id, friend_agree following + follows_id, like post_id, comment post_id + comment_id",
      },
    ),
    created_at: Timestamp,
  },
  { $id: 'Event' },
);
