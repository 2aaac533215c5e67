import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createShutterClient, type Event } from '@shutter/client';

/**
 * Shutter in one script, through @shutter/client only: two people sign up, Grace uploads a photo
 * straight to the object store and posts it, Ada follows her (Grace accepts), reads her home feed,
 * likes and comments; Grace's live event stream prints each notification as it arrives.
 *
 *     make dev                                  # in another terminal
 *     npx tsx examples/walkthrough.ts           # SHUTTER_URL=… for another gateway
 */

export async function walkthrough(baseUrl: string, log: (line: string) => void = console.log): Promise<{ events: Event[]; feedHasPost: boolean }> {
  const suffix = randomBytes(3).toString('hex');
  const ada = createShutterClient({ baseUrl });
  const grace = createShutterClient({ baseUrl });

  const adaUser = await ada.register({ email: `ada.${suffix}@example.com`, username: `ada_${suffix}`, password: 'correct horse battery' });
  const graceUser = await grace.register({ email: `grace.${suffix}@example.com`, username: `grace_${suffix}`, password: 'staple battery horse' });
  log(`signed up ${adaUser.username} and ${graceUser.username} (new accounts are private)`);

  // Grace listens before anything happens to her.
  const events: Event[] = [];
  const stream = grace.stream((e) => {
    events.push(e);
    log(`  live → ${graceUser.username}: ${e.message}`);
  });

  try {
    const photo = new Blob([fs.readFileSync(path.join(__dirname, 'harbour.png'))], { type: 'image/png' });
    const mediaId = await grace.upload(photo, 'image/png');
    const post = await grace.unwrap(grace.api.POST('/api/posts', { body: { content: 'Golden hour at the harbour', media_ids: [mediaId] } }));
    log(`${graceUser.username} posted ${post.post_id} with a directly uploaded photo`);

    const request = await ada.unwrap(ada.api.POST('/api/follows/request/{user_id}', { params: { path: { user_id: graceUser.user_id } } }));
    log(`${adaUser.username} asked to follow ${graceUser.username}: ${request.status}`);
    for await (const item of grace.pages((p) => grace.api.GET('/api/follows', { params: { query: { type: 'follower', status: 'pending', ...p } } }), 'users')) {
      await grace.unwrap(grace.api.POST('/api/follows/{follows_id}', { params: { path: { follows_id: item.follows_id } }, body: { status: 'agree' } }));
      log(`${graceUser.username} accepted ${item.username}`);
    }

    // An accepted follow reaches the feed by event, within seconds (docs/api.md): a client shows
    // the feed it gets and refreshes, as this loop does, until the post is there.
    let feedHasPost = false;
    for (const until = Date.now() + 20_000; !feedHasPost && Date.now() < until;) {
      const feed = await ada.unwrap(ada.api.GET('/api/posts', { params: { query: { limit: 10 } } }));
      feedHasPost = feed.posts.some((p) => p.post_id === post.post_id);
      if (!feedHasPost) await new Promise((r) => setTimeout(r, 200));
    }
    for await (const p of ada.posts({ limit: 10 })) log(`${adaUser.username}'s feed: "${p.content}" by ${p.username}, ${p.images.length} image(s)`);
    await ada.unwrap(ada.api.POST('/api/posts/like/{post_id}', { params: { path: { post_id: post.post_id } } }));
    await ada.unwrap(ada.api.POST('/api/posts/comment/{post_id}', { params: { path: { post_id: post.post_id } }, body: { content: 'Beautiful light!' } }));
    log(`${adaUser.username} liked and commented`);

    // The request, the like and the comment reach Grace live (the consumers run asynchronously).
    const until = Date.now() + 15_000;
    while (events.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    return { events, feedHasPost };
  } finally {
    await stream.close();
  }
}

if (require.main === module) {
  walkthrough(process.env.SHUTTER_URL ?? 'http://127.0.0.1:8080').then(
    ({ events }) => console.log(`done: ${events.length} live events`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
