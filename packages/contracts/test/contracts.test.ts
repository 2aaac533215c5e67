import * as fs from 'node:fs';
import * as path from 'node:path';
import { events } from '@shutter/proto';
import { EVENT_MESSAGES, IDEMPOTENT_METHODS, USERNAME, decodeEvent, domainEvent, isEventType, isIdempotentMethod } from '../src';

/** Full paths of the rpcs a .proto marks idempotent, read from the proto text itself. */
function markedInProtoFiles(): string[] {
  const root = path.resolve(__dirname, '../../../proto');
  const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.proto'));
  return files.flatMap((f) => {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    const pkg = /^package ([\w.]+);/m.exec(text)?.[1];
    return [...text.matchAll(/service (\w+) \{([\s\S]*?)\n\}/g)].flatMap(([, service, body]) =>
      [...body!.matchAll(/rpc (\w+)\([^)]*\) returns \([^)]*\) \{[^}]*idempotency_level = (?:NO_SIDE_EFFECTS|IDEMPOTENT);/g)].map(
        ([, rpc]) => `/${pkg}.${service}/${rpc}`,
      ),
    );
  });
}

describe('idempotent methods, read from the generated descriptors', () => {
  it('are exactly the rpcs proto/ marks idempotency_level', () => {
    const marked = markedInProtoFiles();
    expect(marked).toContain('/shutter.identity.v1.IdentityService/GetUser');
    expect([...IDEMPOTENT_METHODS].sort()).toEqual(marked.sort());
  });

  it("include the gateway's reads and never a write", () => {
    for (const read of [
      '/shutter.content.v1.ContentService/GetPost',
      '/shutter.socialgraph.v1.SocialGraphService/BatchCounts',
      '/shutter.notification.v1.NotificationService/GetUnreadCount',
    ]) {
      expect(isIdempotentMethod(read)).toBe(true);
    }
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

  it('maps each type to the message events.proto names it for, and knows every type named there', () => {
    const text = fs.readFileSync(path.resolve(__dirname, '../../../proto/shutter/events/v1/events.proto'), 'utf8');
    const named: Array<[string, string]> = [];
    // Each message's comment block (the lines right above it) names the types it carries.
    for (const [, comments, message] of text.matchAll(/((?:^\/\/.*\n)+)message (\w+) \{/gm)) {
      for (const [type] of comments!.matchAll(/\b(?:user|follow|post|comment)\.[a-z]+\b/g)) named.push([type, message!]);
    }
    expect(Object.keys(EVENT_MESSAGES).sort()).toEqual([...new Set(named.map(([type]) => type))].sort());
    for (const [type, message] of named) expect(EVENT_MESSAGES[type as keyof typeof EVENT_MESSAGES]).toBe(events[message as keyof typeof events]);
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
