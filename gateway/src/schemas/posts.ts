import { Type } from '@sinclair/typebox';
import { MAX_COMMENT_CHARS, MAX_IMAGES, MAX_POST_CHARS } from '@shutter/contracts';
import { validation } from '../errors';
import { checkText } from '../plugins/validation';
import { PageQuery, Timestamp, Uuid } from './common';
import { UserMetadata } from './users';

export const ImageVariant = Type.Object({
  url: Type.String(),
  width: Type.Integer(),
  height: Type.Integer({ description: 'in proportion to the full-size image' }),
});

export const Image = Type.Object({
  image_id: Uuid,
  url: Type.String({
    description:
      'the processed full-size image (long side at most 2048 px; JPEG, PNG or WebP; no metadata, orientation applied), made per response: presigned (valid at least an hour) or under the public base',
  }),
  width: Type.Integer({ description: 'as displayed' }),
  height: Type.Integer({ description: 'as displayed' }),
  order: Type.Integer({ description: '0-based, in upload (or media_ids) order' }),
  blurhash: Type.String({ description: 'a BlurHash of the image, for a placeholder while it loads' }),
  variants: Type.Array(ImageVariant, {
    description: 'WebP, one for each of the widths 320, 640 and 1080 narrower than the full-size image, narrowest first; [] for a small image',
  }),
});

const postFields = {
  post_id: Uuid,
  user_id: Uuid,
  username: Type.String(),
  content: Type.String(),
  images: Type.Array(Image),
  like_count: Type.Integer(),
  comment_count: Type.Integer(),
  is_liked: Type.Boolean({ description: 'by the caller' }),
  created_at: Timestamp,
  updated_at: Timestamp,
};

export const Post = Type.Object(postFields, { $id: 'Post' });

export const Comment = Type.Object(
  {
    comment_id: Uuid,
    post_id: Uuid,
    content: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
    user: Type.Object({ user_id: Uuid, username: Type.String(), name: Type.String(), metadata: UserMetadata }),
  },
  { $id: 'Comment' },
);

/** GET /api/posts/{post_id}: the post item's fields directly in `data`, plus its 2 newest comments. */
export const PostDetail = Type.Object({ ...postFields, comments: Type.Array(Type.Ref('Comment')) });

export const PostContent = Type.String({ minLength: 1, maxLength: MAX_POST_CHARS });
export const CommentContent = Type.String({ minLength: 1, maxLength: MAX_COMMENT_CHARS });

export const CreatePostJson = Type.Object({
  content: PostContent,
  media_ids: Type.Array(Uuid, { minItems: 1, maxItems: MAX_IMAGES, description: 'ids from POST /api/media/uploads, in order' }),
});

export const CreatePostMultipart = Type.Object({
  content: Type.String({ description: `1–${MAX_POST_CHARS} characters` }),
  images: Type.Array(Type.String({ format: 'binary' }), { description: `1–${MAX_IMAGES} JPEG, PNG or WebP files of at most 20 MiB` }),
});

export const ListPostsQuery = Type.Object({
  user_id: Type.Optional(Uuid),
  search: Type.Optional(Type.String({ maxLength: 200, description: 'case-insensitive substring of the content; % and _ are literal' })),
  limit: PageQuery.limit,
  cursor_post_id: Type.Optional(Uuid),
});

export const KeysetPagination = Type.Object({
  limit: Type.Integer(),
  cursor_post_id: Type.Union([Uuid, Type.Null()], { description: 'the last post id of this page when has_more, else null' }),
  has_more: Type.Boolean(),
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: '^[\\x21-\\x7e]{1,255}$',
      errorMessage: 'Idempotency-Key must be 1 to 255 printable ASCII characters',
      description: 'per user, 24 hours: a repeat answers the first response; the same key with another body → 422',
    }),
  ),
});

export const MediaUpload = Type.Object({
  media_id: Uuid,
  upload: Type.Object({
    method: Type.String({ enum: ['POST'] }),
    url: Type.String(),
    fields: Type.Record(Type.String(), Type.String(), { description: 'form fields to send before the file (field name `file`)' }),
  }),
  expires_at: Timestamp,
});

/** Post content from a multipart form: the JSON body's rules (trimmed, 1 to MAX_POST_CHARS code points). */
export function checkPostContent(value: string | undefined): string {
  if (value === undefined) throw validation('body.content', 'content is required');
  const text = value.trim();
  if (checkText(text)) throw validation('body.content', 'content must not contain control characters');
  const length = [...text].length;
  if (length < 1) throw validation('body.content', 'content must be at least 1 character');
  if (length > MAX_POST_CHARS) throw validation('body.content', `content must be at most ${MAX_POST_CHARS} characters`);
  return text;
}
