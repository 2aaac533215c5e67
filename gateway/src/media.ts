import type { Readable } from 'node:stream';
import type { CallOptions } from '@shutter/kit';
import type { MediaUrls } from './presenters/users';
import { HttpError } from './errors';

/** Media as the gateway needs it: URLs per response, profile images (uploaded or by media id). */
export interface Media extends MediaUrls {
  /** Streams an uploaded file to content; answers its media id. */
  upload(file: { stream: Readable; filename: string; mimetype: string }, opts: CallOptions): Promise<string>;
  /** Uses a media id (once, by its owner) as a profile image; answers the object key. */
  claimProfileImage(mediaId: string, opts: CallOptions): Promise<string>;
}

/** Until content serves media: uploads answer 503; stored keys have no URL. */
export const mediaUnavailable: Media = {
  async url(key) {
    return key;
  },
  async upload() {
    throw new HttpError(503, 'Media uploads are unavailable.', 'service_unavailable');
  },
  async claimProfileImage() {
    throw new HttpError(503, 'Media uploads are unavailable.', 'service_unavailable');
  },
};
