import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MAX_IMAGE_BYTES } from '@shutter/contracts';
import { grpcOpts, type RouteDeps } from './deps';
import { Ok, errorResponses, ok } from '../schemas/common';
import { MediaUpload } from '../schemas/posts';

// Any size past 20 MiB is the same 413 (content's), and a huge one must still fit an int64.
const OVER_LIMIT = MAX_IMAGE_BYTES + 1;

/** Direct uploads (docs/api.md): a presigned S3 POST; the media id is then named in a post or profile. */
const mediaRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { clients, quota }) => {
  app.post('/api/media/uploads', {
    schema: {
      tags: ['media'],
      summary: 'Start a direct upload: a presigned S3 POST (10-minute expiry; type and size enforced by its policy)',
      description:
        'POST the returned `fields` and then the file (form field `file`) to `url`. Then name `media_id` in `POST /api/posts` (`media_ids`) or `PATCH /api/users/` (`profile_image_media_id`): usable once, by its owner, after the object exists. The image is processed then (metadata removed, orientation applied, long side bounded, variants and BlurHash made) into new objects, so posting to `url` again afterwards changes nothing that is served; over 10 000 px a side or 50 megapixels → 422 on that field.',
      security: [{ bearer: [] }],
      body: Type.Object({
        content_type: Type.String({ minLength: 1, maxLength: 100, description: 'image/jpeg, image/png or image/webp (else 415)' }),
        size_bytes: Type.Integer({ minimum: 1, description: 'at most 20 MiB = 20971520 (else 413)' }),
      }),
      response: { 201: Ok(MediaUpload), ...errorResponses(401, 413, 415, 422, 429) },
    },
    handler: async (req, reply) => {
      const sizeBytes = Math.min(req.body.size_bytes, OVER_LIMIT);
      // Counted as declared (the S3 policy holds the object to it); a refused size counts nothing.
      if (req.caller && sizeBytes < OVER_LIMIT) await quota.startFile(req.caller.userId, sizeBytes);
      const res = await clients.content.createMediaUpload({ contentType: req.body.content_type, sizeBytes }, grpcOpts(req));
      return reply.code(201).send(
        ok({
          media_id: res.mediaId,
          upload: { method: res.method, url: res.url, fields: res.fields },
          expires_at: (res.expiresAt ?? new Date(0)).toISOString(),
        }),
      );
    },
  });
};

export default mediaRoutes;
