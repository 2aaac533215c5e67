import type { FastifyRequest } from 'fastify';
import { MAX_IMAGES } from '@shutter/contracts';
import type { CallOptions } from '@shutter/kit';
import type { Media } from '../media';
import { validation } from '../errors';
import { discardRestOfBody } from './multipart';
import { checkPostContent } from '../schemas/posts';

/**
 * Reads seed 000's multipart post form: `content` and 1–10 `images` files. Each file is streamed
 * to content as it arrives (never buffered here); if anything fails, what was stored is deleted.
 */
export async function readPostForm(req: FastifyRequest, media: Media, opts: CallOptions): Promise<{ content: string; mediaIds: string[] }> {
  const mediaIds: string[] = [];
  let content: string | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'images') {
          part.file.resume(); // other file fields are ignored, like unknown JSON fields
          continue;
        }
        if (mediaIds.length >= MAX_IMAGES) throw validation('body.images', `images must have at most ${MAX_IMAGES} files`);
        mediaIds.push(await media.upload({ stream: part.file, filename: part.filename, mimetype: part.mimetype }, 'post', opts));
      } else if (part.fieldname === 'content') {
        // Checked as soon as it arrives: a bad caption fails before any file is stored.
        content = checkPostContent(String(part.value));
      }
    }
    const text = checkPostContent(content);
    if (mediaIds.length === 0) throw validation('body.images', 'images must have at least 1 file');
    return { content: text, mediaIds };
  } catch (err) {
    discardRestOfBody(req);
    await media.discard(mediaIds, opts).catch((e: unknown) => req.log.error({ err: e }, 'could not discard the files of a failed post'));
    throw err;
  }
}
