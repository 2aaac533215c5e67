/**
 * The load `make chaos` runs through the gateway while it breaks things: real users with real
 * tokens posting, liking, commenting, following and reading feeds, posts, profiles and
 * notifications. Every request is recorded (time, route, what it needs, outcome); every write the
 * API acknowledged is remembered, so afterwards its row and the events it caused can be looked for.
 */

/** The parts of the stack a route cannot answer without. */
export type Part = 'gateway' | 'identity' | 'social-graph' | 'content' | 'notification' | 'redis' | 'postgres';

export interface Sample {
  route: string;
  needs: readonly Part[];
  start: number;
  end: number;
  ok: boolean;
  status: number;
}

export interface User {
  id: string;
  username: string;
  token: string;
}

/** What the API acknowledged (2xx): the rows and events that must exist afterwards. */
export interface Acked {
  /** post id → author id */
  posts: Map<string, string>;
  /** `${postId}:${userId}` */
  likes: Set<string>;
  /** comment id → { post, author } */
  comments: Map<string, { postId: string; userId: string }>;
  /** `${follower}:${followee}` → follows id (every target is public: status agree) */
  follows: Map<string, string>;
}

// A 1×1 PNG: a real image through the whole upload path at the smallest cost.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const REQUEST_TIMEOUT_MS = 10_000;
/** Every route needs the gateway and Postgres; Redis only where its data lives there (feeds, a post's read form, unread counts): elsewhere it is a cache or a limit that fails open. */
const B = ['gateway', 'postgres'] as const;

interface Res {
  status: number;
  body: any;
}

export class Load {
  readonly users: User[] = [];
  readonly acked: Acked = { posts: new Map(), likes: new Set(), comments: new Map(), follows: new Map() };
  readonly samples: Sample[] = [];
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(
    readonly url: string,
    private readonly opts: { users: number; workers: number; pauseMs: number; run: string },
  ) {}

  /** One request through the gateway, recorded as a sample of `route`. */
  async call(route: string, needs: readonly Part[], method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<Res> {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: RequestInit['body'];
    if (opts.body instanceof FormData) body = opts.body;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const start = Date.now();
    let res: Res;
    try {
      const r = await fetch(this.url + path, { method, headers, body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const text = await r.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      res = { status: r.status, body: parsed };
    } catch {
      res = { status: 0, body: undefined }; // refused, reset or timed out
    }
    this.samples.push({ route, needs, start, end: Date.now(), ok: res.status >= 200 && res.status < 300, status: res.status });
    return res;
  }

  /** Registers the users (public accounts), each following a few others and with one post. */
  async seed(): Promise<void> {
    for (let i = 0; i < this.opts.users; i++) {
      const username = `chaos_${this.opts.run}_${i}`;
      const res = await this.call('seed', B, 'POST', '/api/users/register', {
        body: { email: `${username}@chaos.test`, username, password: 'chaos-password' },
      });
      if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
      const user = { id: res.body.data.user.user_id as string, username, token: res.body.data.token as string };
      const pub = await this.call('seed', B, 'PATCH', '/api/users', { token: user.token, body: { is_public: true } });
      if (pub.status !== 200) throw new Error(`make public: ${pub.status} ${JSON.stringify(pub.body)}`);
      this.users.push(user);
    }
    for (const u of this.users) {
      for (let k = 0; k < 3; k++) await this.follow(u);
      if (!(await this.post(u))) throw new Error('seed post failed');
    }
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.opts.workers }, () => this.work());
  }

  /** Stops issuing requests and waits for those in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async work(): Promise<void> {
    while (this.running) {
      await this.step();
      if (this.opts.pauseMs > 0) await new Promise((r) => setTimeout(r, this.opts.pauseMs));
    }
  }

  private async step(): Promise<void> {
    const u = pick(this.users);
    const r = Math.random() * 100;
    if (r < 6) await this.post(u);
    else if (r < 20) await this.like(u);
    else if (r < 30) await this.comment(u);
    else if (r < 36) await this.follow(u);
    else if (r < 54) await this.call('GET feed', [...B, 'content', 'redis'], 'GET', '/api/posts?limit=10', { token: u.token });
    else if (r < 64) await this.call('GET post', [...B, 'content', 'redis'], 'GET', `/api/posts/${this.somePost()}`, { token: u.token });
    else if (r < 74) await this.call('GET events', [...B, 'notification'], 'GET', '/api/events?limit=10', { token: u.token });
    else if (r < 84) await this.call('GET unread-count', [...B, 'notification', 'redis'], 'GET', '/api/events/unread-count', { token: u.token });
    else if (r < 92)
      await this.call('GET following', [...B, 'social-graph', 'identity'], 'GET', `/api/follows?type=following&user_id=${pick(this.users).id}`, {
        token: u.token,
      });
    else await this.call('GET profile', [...B, 'identity'], 'GET', `/api/users/${pick(this.users).id}`, { token: u.token });
  }

  private somePost(): string {
    return pick([...this.acked.posts.keys()]);
  }

  async post(u: User): Promise<boolean> {
    const form = new FormData();
    form.set('content', `chaos post by ${u.username} at ${Date.now()}`);
    form.append('images', new Blob([PNG], { type: 'image/png' }), 'p.png');
    const res = await this.call('POST post', [...B, 'content'], 'POST', '/api/posts/', { token: u.token, body: form });
    if (res.status === 201) this.acked.posts.set(res.body.data.post_id as string, u.id);
    return res.status === 201;
  }

  private async like(u: User): Promise<void> {
    const postId = this.somePost();
    const res = await this.call('POST like', [...B, 'content'], 'POST', `/api/posts/like/${postId}`, { token: u.token });
    if (res.status === 200) this.acked.likes.add(`${postId}:${u.id}`);
  }

  private async comment(u: User): Promise<void> {
    const postId = this.somePost();
    const res = await this.call('POST comment', [...B, 'content'], 'POST', `/api/posts/comment/${postId}`, {
      token: u.token,
      body: { content: `comment by ${u.username}` },
    });
    if (res.status === 201) this.acked.comments.set(res.body.data.comment_id as string, { postId, userId: u.id });
  }

  /** social-graph asks identity about the target on a miss of its short user cache (a cold path). */
  private async follow(u: User): Promise<void> {
    const candidates = this.users.filter((t) => t.id !== u.id && !this.acked.follows.has(`${u.id}:${t.id}`));
    if (!candidates.length) return;
    const t = pick(candidates);
    const res = await this.call('POST follow', [...B, 'social-graph'], 'POST', `/api/follows/request/${t.id}`, { token: u.token });
    if (res.status === 201 || res.status === 200) this.acked.follows.set(`${u.id}:${t.id}`, res.body.data.follows_id as string);
  }
}

function pick<T>(xs: readonly T[]): T {
  const x = xs[Math.floor(Math.random() * xs.length)];
  if (x === undefined) throw new Error('pick from an empty list');
  return x;
}

/** Samples of a time window: total and failed, for routes that need `part` or not. */
export function errorRates(samples: readonly Sample[], part: Part, from: number, to: number) {
  const inWindow = samples.filter((s) => s.route !== 'seed' && s.start >= from && s.start <= to);
  const tally = (xs: Sample[]) => ({ total: xs.length, failed: xs.filter((s) => !s.ok).length });
  return {
    unrelated: tally(inWindow.filter((s) => !s.needs.includes(part))),
    affected: tally(inWindow.filter((s) => s.needs.includes(part))),
    failedStatuses: countBy(inWindow.filter((s) => !s.ok).map((s) => `${s.route} ${s.status}`)),
  };
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
