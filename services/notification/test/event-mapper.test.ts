import { newId } from '@shutter/kit';
import { events } from '@shutter/proto';
import { planFor, renderMessage } from '../src/event-mapper';

/** The mapping from domain events to notifications (pure logic: unit tests). */

const [a, b] = [newId(), newId()];
const follow = (status: 'pending' | 'agree', actorId = a) =>
  events.FollowChanged.encode({ followsId: 'f0000000-0000-7000-8000-000000000000', followerId: a, followeeId: b, status, actorId }).finish();
const fid = 'f0000000-0000-7000-8000-000000000000';

describe('planFor', () => {
  it('follow.requested: a friend_request to the followee', () => {
    expect(planFor('follow.requested', follow('pending'))).toEqual({
      subject: `follow:${fid}`,
      create: [{ recipientId: b, type: 'friend_request', template: 'friend_request', actorId: a, followsId: fid }],
      withdraw: [],
    });
  });

  it('follow.accepted: friend_agree to the follower (actor: the followee), the request withdrawn', () => {
    const plan = planFor('follow.accepted', follow('agree', b));
    expect(plan.create).toEqual([{ recipientId: a, type: 'friend_agree', template: 'friend_agree', actorId: b, followsId: fid }]);
    expect(plan.withdraw).toEqual([{ subject: `follow:${fid}`, type: 'friend_request' }]);
  });

  it('follow.created: follow to the followee, a read friend_agree to the follower', () => {
    const plan = planFor('follow.created', follow('agree'));
    expect(plan.create).toEqual([
      { recipientId: b, type: 'follow', template: 'follow', actorId: a, followsId: fid },
      { recipientId: a, type: 'friend_agree', template: 'friend_agree_public', actorId: b, followsId: fid, read: true },
    ]);
  });

  it('follow.removed withdraws a pending request only', () => {
    expect(planFor('follow.removed', follow('pending')).withdraw).toEqual([{ subject: `follow:${fid}`, type: 'friend_request' }]);
    expect(planFor('follow.removed', follow('agree'))).toEqual({ subject: `follow:${fid}`, create: [], withdraw: [] });
  });

  it('likes and comments notify the post author, never for their own post', () => {
    const post = newId();
    const like = (userId: string) => events.PostLikeChanged.encode({ postId: post, postAuthorId: b, userId }).finish();
    expect(planFor('post.liked', like(a)).create).toEqual([{ recipientId: b, type: 'like', template: 'like', actorId: a, postId: post }]);
    expect(planFor('post.liked', like(b)).create).toEqual([]);
    expect(planFor('post.unliked', like(a)).withdraw).toEqual([{ subject: `like:${post}:${a}`, type: 'like' }]);
    const comment = newId();
    const c = (userId: string) => events.CommentChanged.encode({ commentId: comment, postId: post, postAuthorId: b, userId, actorId: userId }).finish();
    expect(planFor('comment.created', c(a)).create).toEqual([
      { recipientId: b, type: 'comment', template: 'comment', actorId: a, postId: post, commentId: comment },
    ]);
    expect(planFor('comment.created', c(b)).create).toEqual([]);
    expect(planFor('comment.deleted', c(a)).withdraw).toEqual([{ subject: `comment:${comment}`, type: 'comment' }]);
  });

  it('post.deleted withdraws everything about the post', () => {
    const post = newId();
    expect(planFor('post.deleted', events.PostChanged.encode({ postId: post, authorId: b, createdAtMs: 0, mediaKeys: [] }).finish()).withdrawPost).toBe(post);
  });

  it('rejects a payload without its ids (it goes to the dead-letter stream)', () => {
    expect(() => planFor('post.liked', events.PostLikeChanged.encode({ postId: '', postAuthorId: b, userId: a }).finish())).toThrow(/postId is not a UUID/);
  });

  it("ignores types it doesn't know", () => {
    expect(planFor('user.created', new Uint8Array())).toEqual({ subject: null, create: [], withdraw: [] });
  });
});

describe('renderMessage', () => {
  it("words messages in seed 000's style", () => {
    expect(renderMessage('friend_request', 'alice')).toBe('alice sent you a follow request');
    expect(renderMessage('friend_agree', 'alice')).toBe('alice accepted your follow request');
    expect(renderMessage('follow', 'alice')).toBe('alice started following you');
    expect(renderMessage('like', 'alice')).toBe('alice liked your post');
    expect(renderMessage('comment', 'alice')).toBe('alice commented on your post');
    expect(renderMessage('friend_agree_public', 'bob')).toBe('You started following bob');
    expect(renderMessage('like', '')).toBe('Someone liked your post');
  });
});
