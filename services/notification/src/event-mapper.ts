import { isUuid } from '@shutter/kit';
import { decodeEvent, type EventType, type NotificationType } from '@shutter/contracts';

/**
 * How the message is worded. `friend_agree_public` is the friend_agree a follower gets for
 * following a public account: their own action, so it is created already read (README).
 */
export type Template = NotificationType | 'friend_agree_public';

export interface NewNotification {
  recipientId: string;
  type: NotificationType;
  template: Template;
  actorId: string;
  followsId?: string;
  postId?: string;
  commentId?: string;
  /** Created read: nothing to tell the recipient (it records their own action). */
  read?: boolean;
}

/** What one domain event does to the notifications. */
export interface Plan {
  /** Orders the events about one thing: an event older than the last one applied to it is stale. */
  subject: string | null;
  create: NewNotification[];
  /** Removes the live notifications of this subject (and type). */
  withdraw: Array<{ subject: string; type: NotificationType }>;
  /** Removes every like and comment notification of a deleted post. */
  withdrawPost?: string;
}

/** The domain events this service consumes. */
export const CONSUMED_TYPES = [
  'follow.requested',
  'follow.created',
  'follow.accepted',
  'follow.removed',
  'post.liked',
  'post.unliked',
  'comment.created',
  'comment.deleted',
  'post.deleted',
] as const satisfies readonly EventType[];

export type ConsumedType = (typeof CONSUMED_TYPES)[number];
const isConsumed = (type: string): type is ConsumedType => (CONSUMED_TYPES as readonly string[]).includes(type);

const followSubject = (followsId: string) => `follow:${followsId}`;
const likeSubject = (postId: string, userId: string) => `like:${postId}:${userId}`;
const commentSubject = (commentId: string) => `comment:${commentId}`;

/** A payload without its ids is a broken producer: throwing sends it to the dead-letter stream. */
function ids<T extends object>(type: string, msg: T, keys: Array<keyof T>): T {
  for (const k of keys) {
    if (!isUuid(String(msg[k]))) throw new Error(`${type}: ${String(k)} is not a UUID`);
  }
  return msg;
}

const nothing = (subject: string | null = null): Plan => ({ subject, create: [], withdraw: [] });

/**
 * Maps a domain event to the notifications it creates or withdraws. Pure: the same event always
 * gives the same plan. Nobody is notified of their own action.
 */
export function planFor(type: string, payload: Uint8Array): Plan {
  if (!isConsumed(type)) return nothing();
  switch (type) {
    case 'follow.requested': {
      const f = ids(type, decodeEvent(type, payload), ['followsId', 'followerId', 'followeeId']);
      const subject = followSubject(f.followsId);
      if (f.followerId === f.followeeId) return nothing(subject);
      return {
        subject,
        create: [{ recipientId: f.followeeId, type: 'friend_request', template: 'friend_request', actorId: f.followerId, followsId: f.followsId }],
        withdraw: [],
      };
    }
    case 'follow.created': {
      // A public account was followed: the followee learns of it; the follower's friend_agree
      // (docs/api.md) records their own action, so it is created read and never pushed.
      const f = ids(type, decodeEvent(type, payload), ['followsId', 'followerId', 'followeeId']);
      const subject = followSubject(f.followsId);
      if (f.followerId === f.followeeId) return nothing(subject);
      return {
        subject,
        create: [
          { recipientId: f.followeeId, type: 'follow', template: 'follow', actorId: f.followerId, followsId: f.followsId },
          { recipientId: f.followerId, type: 'friend_agree', template: 'friend_agree_public', actorId: f.followeeId, followsId: f.followsId, read: true },
        ],
        withdraw: [],
      };
    }
    case 'follow.accepted': {
      // The request is settled: its friend_request goes, the follower hears of the acceptance.
      const f = ids(type, decodeEvent(type, payload), ['followsId', 'followerId', 'followeeId']);
      const subject = followSubject(f.followsId);
      return {
        subject,
        create:
          f.followerId === f.followeeId
            ? []
            : [{ recipientId: f.followerId, type: 'friend_agree', template: 'friend_agree', actorId: f.followeeId, followsId: f.followsId }],
        withdraw: [{ subject, type: 'friend_request' }],
      };
    }
    case 'follow.removed': {
      // A pending request cancelled or rejected takes its friend_request along. An unfollow
      // leaves history alone: "alice started following you" stays true of its time.
      const f = ids(type, decodeEvent(type, payload), ['followsId', 'followerId', 'followeeId']);
      const subject = followSubject(f.followsId);
      return f.status === 'pending' ? { subject, create: [], withdraw: [{ subject, type: 'friend_request' }] } : nothing(subject);
    }
    case 'post.liked': {
      const l = ids(type, decodeEvent(type, payload), ['postId', 'postAuthorId', 'userId']);
      const subject = likeSubject(l.postId, l.userId);
      if (l.userId === l.postAuthorId) return nothing(subject);
      return { subject, create: [{ recipientId: l.postAuthorId, type: 'like', template: 'like', actorId: l.userId, postId: l.postId }], withdraw: [] };
    }
    case 'post.unliked': {
      const l = ids(type, decodeEvent(type, payload), ['postId', 'postAuthorId', 'userId']);
      const subject = likeSubject(l.postId, l.userId);
      return { subject, create: [], withdraw: [{ subject, type: 'like' }] };
    }
    case 'comment.created': {
      const c = ids(type, decodeEvent(type, payload), ['commentId', 'postId', 'postAuthorId', 'userId']);
      const subject = commentSubject(c.commentId);
      if (c.userId === c.postAuthorId) return nothing(subject);
      return {
        subject,
        create: [{ recipientId: c.postAuthorId, type: 'comment', template: 'comment', actorId: c.userId, postId: c.postId, commentId: c.commentId }],
        withdraw: [],
      };
    }
    case 'comment.deleted': {
      const c = ids(type, decodeEvent(type, payload), ['commentId', 'postId', 'postAuthorId', 'userId']);
      const subject = commentSubject(c.commentId);
      return { subject, create: [], withdraw: [{ subject, type: 'comment' }] };
    }
    case 'post.deleted': {
      const p = ids(type, decodeEvent(type, payload), ['postId']);
      return { ...nothing(), withdrawPost: p.postId };
    }
  }
}

/** The message in seed 000's words, for the actor's current username. */
export function renderMessage(template: Template, username: string): string {
  const who = username || 'Someone';
  switch (template) {
    case 'friend_request':
      return `${who} sent you a follow request`;
    case 'friend_agree':
      return `${who} accepted your follow request`;
    case 'friend_agree_public':
      return username ? `You started following ${username}` : 'You started following an account';
    case 'follow':
      return `${who} started following you`;
    case 'like':
      return `${who} liked your post`;
    case 'comment':
      return `${who} commented on your post`;
  }
}
