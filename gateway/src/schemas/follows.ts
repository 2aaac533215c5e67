import { Type } from '@sinclair/typebox';
import { PageQuery, Timestamp, Uuid } from './common';
import { UserMetadata } from './users';

export const FollowStatus = Type.String({ enum: ['pending', 'agree'] });

/** `{follows_id, status}`; `status` is null once the edge is removed. */
export const FollowState = Type.Object({
  follows_id: Uuid,
  status: Type.Union([FollowStatus, Type.Null()]),
});

/** An item of a follow list: the listed user and the edge. */
export const FollowListItem = Type.Object(
  {
    follows_id: Uuid,
    user_id: Uuid,
    username: Type.String(),
    name: Type.String(),
    metadata: UserMetadata,
    status: FollowStatus,
    created_at: Timestamp,
  },
  { $id: 'FollowListItem' },
);

export const FollowListQuery = Type.Object({
  type: Type.String({ enum: ['follower', 'following'], description: 'followers of the user, or the accounts the user follows' }),
  status: Type.Optional(Type.String({ enum: ['pending', 'agree'], default: 'agree' })),
  user_id: Type.Optional(Uuid),
  ...PageQuery,
});
