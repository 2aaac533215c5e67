import { events } from '@shutter/proto';
import { EVENT_MESSAGES, IDEMPOTENT_METHODS, USERNAME, decodeEvent, domainEvent, isEventType, isIdempotentMethod } from '../src';

describe('idempotent methods, read from the proto', () => {
  it('are exactly the rpcs marked idempotency_level, by full path', () => {
    expect([...IDEMPOTENT_METHODS].sort()).toEqual(
      [
        '/shutter.identity.v1.IdentityService/GetUser',
        '/shutter.identity.v1.IdentityService/BatchGetUsers',
        '/shutter.identity.v1.IdentityService/GetProfile',
        '/shutter.identity.v1.IdentityService/SearchUsers',
        '/shutter.identity.v1.IdentityService/GetPublicKeys',
        '/shutter.socialgraph.v1.SocialGraphService/ListFollows',
        '/shutter.socialgraph.v1.SocialGraphService/BatchRelationships',
        '/shutter.socialgraph.v1.SocialGraphService/BatchCounts',
        '/shutter.socialgraph.v1.SocialGraphService/GetProfileGraph',
        '/shutter.socialgraph.v1.SocialGraphService/StreamFollowers',
        '/shutter.socialgraph.v1.SocialGraphService/StreamFollowing',
        '/shutter.content.v1.ContentService/SignMediaUrls',
        '/shutter.content.v1.ContentService/GetPost',
        '/shutter.content.v1.ContentService/ListPosts',
        '/shutter.content.v1.ContentService/CountPosts',
        '/shutter.content.v1.ContentService/ListComments',
        '/shutter.notification.v1.NotificationService/ListEvents',
        '/shutter.notification.v1.NotificationService/ListEventsAfter',
        '/shutter.notification.v1.NotificationService/GetUnreadCount',
      ].sort(),
    );
  });

  it('never include a write', () => {
    expect(isIdempotentMethod('/shutter.content.v1.ContentService/CreatePost')).toBe(false);
    expect(isIdempotentMethod('/shutter.identity.v1.IdentityService/Register')).toBe(false);
    expect(isIdempotentMethod('/shutter.notification.v1.NotificationService/MarkRead')).toBe(false);
  });
});

describe('event registry', () => {
  it('encodes a payload as its type’s message and decodes it back', () => {
    const e = domainEvent('post.liked', 'p1', { postId: 'p1', postAuthorId: 'a1', userId: 'u1' });
    expect(e.type).toBe('post.liked');
    expect(e.key).toBe('p1');
    expect(events.PostLikeChanged.decode(e.payload)).toEqual({ postId: 'p1', postAuthorId: 'a1', userId: 'u1' });
    expect(decodeEvent('post.liked', e.payload)).toEqual({ postId: 'p1', postAuthorId: 'a1', userId: 'u1' });
  });

  it('knows every type it registers and nothing else', () => {
    for (const type of Object.keys(EVENT_MESSAGES)) expect(isEventType(type)).toBe(true);
    expect(isEventType('post.shared')).toBe(false);
    expect(isEventType('toString')).toBe(false);
  });
});

describe('username rule', () => {
  it.each([
    ['ab', false],
    ['abc', true],
    ['a.b_c9', true],
    ['x'.repeat(30), true],
    ['x'.repeat(31), false],
    ['Abc', false],
    ['a-b', false],
  ])('%s → %s', (name, ok) => expect(USERNAME.test(name)).toBe(ok));
});
