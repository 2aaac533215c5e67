/**
 * What the OpenAPI document adds to the route schemas: an operation id per route (client
 * generators name methods after them, so they are part of the contract and never change), and an
 * example for every response, success or error. Kept here, in one table, so that a route without
 * an id fails the OpenAPI test instead of shipping a generated name.
 */

/** `METHOD url` (Fastify's route syntax) → operationId. */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'POST /api/users/register': 'register',
  'POST /api/users/login': 'login',
  'POST /api/users/refresh': 'refreshTokens',
  'POST /api/users/logout': 'logout',
  'POST /api/users/logout-all': 'logoutAll',
  'PATCH /api/users/password': 'changePassword',
  'GET /api/users/me': 'getMe',
  'GET /api/users/:user_id': 'getUser',
  'GET /api/users': 'searchUsers',
  'PATCH /api/users': 'updateMe',
  'PATCH /api/users/:user_id': 'setUserStatus',
  'POST /api/follows/request/:user_id': 'requestFollow',
  'POST /api/follows/:follows_id': 'respondFollow',
  'DELETE /api/follows/:follows_id': 'removeFollow',
  'GET /api/follows': 'listFollows',
  'POST /api/media/uploads': 'createUpload',
  'POST /api/posts': 'createPost',
  'GET /api/posts/:post_id': 'getPost',
  'GET /api/posts': 'listPosts',
  'PATCH /api/posts/:post_id': 'updatePost',
  'DELETE /api/posts/:post_id': 'deletePost',
  'POST /api/posts/like/:post_id': 'likePost',
  'POST /api/posts/unlike/:post_id': 'unlikePost',
  'GET /api/posts/comment/:post_id': 'listComments',
  'POST /api/posts/comment/:post_id': 'createComment',
  'PATCH /api/posts/comment/:comment_id': 'updateComment',
  'DELETE /api/posts/comment/:comment_id': 'deleteComment',
  'GET /api/events': 'listEvents',
  'POST /api/events/read/:event_id': 'markEventRead',
  'POST /api/events/read-all': 'markAllEventsRead',
  'GET /api/events/unread-count': 'getUnreadCount',
  'GET /api/events/stream': 'streamEvents',
  'POST /api/events/stream-ticket': 'createStreamTicket',
  'GET /': 'getServiceInfo',
  'GET /healthz': 'getHealth',
  'GET /readyz': 'getReadiness',
  'GET /.well-known/jwks.json': 'getJwks',
};

const ERROR_EXAMPLES: Readonly<Record<string, { detail: string; code: string }>> = {
  '400': { detail: 'the request could not be read', code: 'bad_request' },
  '401': { detail: 'missing or invalid access token', code: 'unauthorized' },
  '403': { detail: 'you may not do this', code: 'forbidden' },
  '404': { detail: 'not found', code: 'not_found' },
  '409': { detail: 'already exists', code: 'conflict' },
  '413': { detail: 'the request body is too large', code: 'payload_too_large' },
  '415': { detail: 'unsupported media type', code: 'unsupported_media_type' },
  '422': { detail: 'body.email: must be an e-mail address', code: 'validation_error' },
  '429': { detail: 'too many requests; retry after the time in Retry-After', code: 'too_many_requests' },
  '503': { detail: 'a service is unavailable; retry shortly', code: 'service_unavailable' },
  '504': { detail: 'a service did not answer in time', code: 'gateway_timeout' },
};
const EXAMPLE_REQUEST_ID = '6f1c2b7e-0d4a-4f7e-9a51-3b8f2c1d9e04';

type Schema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  default?: unknown;
  example?: unknown;
  minimum?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  nullable?: boolean;
};
type Doc = {
  paths?: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: Schema; example?: unknown }> }> }>>;
  components?: { schemas?: Record<string, Schema> };
};

/** Adds an example to every JSON response: the error envelope by status, successes synthesised from the schema. */
export function addResponseExamples<D extends object>(doc: D): D {
  const d = doc as Doc;
  const components = d.components?.schemas ?? {};
  for (const ops of Object.values(d.paths ?? {})) {
    for (const op of Object.values(ops)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        for (const media of Object.values(response.content ?? {})) {
          if (media.example !== undefined) continue;
          const error = ERROR_EXAMPLES[status];
          if (error) {
            media.example =
              status === '422'
                ? { ...error, request_id: EXAMPLE_REQUEST_ID, errors: [{ field: 'body.email', message: 'must be an e-mail address' }] }
                : { ...error, request_id: EXAMPLE_REQUEST_ID };
          } else if (media.schema) {
            media.example = exampleOf(media.schema, components, 0);
          }
        }
      }
    }
  }
  return doc;
}

/** A deterministic value that satisfies `schema`: the schema's own example or default, else one built from its type. */
function exampleOf(schema: Schema, components: Record<string, Schema>, depth: number, key = ''): unknown {
  if (depth > 8) return null;
  if (schema.$ref) {
    const target = components[schema.$ref.replace('#/components/schemas/', '')];
    return target ? exampleOf(target, components, depth + 1) : null;
  }
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const variant = schema.anyOf ?? schema.oneOf;
  if (variant?.length) return exampleOf(variant.find((s) => s.type !== 'null') ?? variant[0]!, components, depth + 1);
  if (schema.allOf?.length) return Object.assign({}, ...schema.allOf.map((s) => exampleOf(s, components, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, exampleOf(v, components, depth + 1, k)]));
    case 'array':
      return schema.items ? [exampleOf(schema.items, components, depth + 1, key)] : [];
    case 'integer':
    case 'number':
      return schema.minimum !== undefined && schema.minimum > 1 ? schema.minimum : 1;
    case 'boolean':
      return true;
    case 'string':
      return STRING_BY_KEY[key] ?? stringExample(schema.format);
    default:
      return null;
  }
}

/** Strings named like these read better than "string" in an example. */
const STRING_BY_KEY: Readonly<Record<string, string>> = {
  message: 'ok',
  username: 'ada',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  bio: 'Photos of bridges',
  content: 'Golden hour at the harbour',
  url: 'https://media.example.com/p/0b6f1c2e.webp',
  blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
  token: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIwYjZmMWMyZSJ9.c2lnbmF0dXJl',
  refresh_token: 'rt_2b7d0a3c9e8f4a1b',
  token_type: 'Bearer',
};

function stringExample(format: string | undefined): string {
  switch (format) {
    case 'uuid':
      return '0b6f1c2e-7d3a-4c5b-9e8f-1a2b3c4d5e6f';
    case 'date-time':
      return '2026-12-07T10:15:30.000Z';
    case 'email':
      return 'ada@example.com';
    case 'uri':
      return 'https://media.example.com/posts/0b6f1c2e.webp';
    default:
      return 'string';
  }
}
