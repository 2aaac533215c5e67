import type { FastifyRequest } from 'fastify';
import type { Media } from '../media';
import { validation } from '../errors';
import { grpcOpts } from './deps';
import { discardRestOfBody } from './multipart';

/**
 * Turns seed 000's multipart profile form into the JSON body shape: `is_public` arrives as
 * "true"/"false", `profile` as a JSON string, `profile_image` as a file (streamed to content).
 */
export async function readProfileForm(req: FastifyRequest, media: Media): Promise<Record<string, unknown>> {
  try {
    return await readParts(req, media);
  } catch (err) {
    discardRestOfBody(req);
    throw err;
  }
}

async function readParts(req: FastifyRequest, media: Media): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'profile_image') {
        part.file.resume();
        continue;
      }
      body.profile_image_media_id = await media.upload({ stream: part.file, filename: part.filename, mimetype: part.mimetype }, 'profile', grpcOpts(req));
      continue;
    }
    const value = String(part.value);
    switch (part.fieldname) {
      case 'is_public':
        if (value !== 'true' && value !== 'false') throw validation('body.is_public', 'is_public must be "true" or "false"');
        body.is_public = value === 'true';
        break;
      case 'profile':
        try {
          body.profile = JSON.parse(value) as unknown;
        } catch {
          throw validation('body.profile', 'profile must be a JSON object');
        }
        break;
      case 'name':
      case 'username':
      case 'profile_image_media_id':
        body[part.fieldname] = value;
        break;
      default:
        break; // unknown fields are ignored
    }
  }
  if (body.profile !== undefined && (typeof body.profile !== 'object' || body.profile === null || Array.isArray(body.profile))) {
    throw validation('body.profile', 'profile must be a JSON object');
  }
  return body;
}
