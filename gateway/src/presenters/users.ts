import type { identity } from '@shutter/proto';

/** API.md's `profile_image`: the URL, and a processed image's BlurHash and variants. */
export interface ProfileImage {
  url: string;
  blurhash?: string;
  variants?: Array<{ url: string; width: number; height: number }>;
}

/** Makes a client-usable URL for a stored media key (presigned or public), per response. */
export interface MediaUrls {
  url(key: string): Promise<string>;
  /** The whole profile image object of a key; without it, `{ url }`. */
  image?(key: string): Promise<ProfileImage>;
}

/** API.md's `user` object; `email` only for the owner. */
export async function presentUser(u: identity.User, viewerId: string | undefined, media: MediaUrls) {
  return {
    user_id: u.userId,
    username: u.username,
    name: u.name,
    ...(viewerId === u.userId ? { email: u.email } : {}),
    is_public: u.isPublic,
    role: u.role,
    status: u.status,
    metadata: {
      profile: u.profile ?? {},
      ...(u.profileImageKey ? { profile_image: media.image ? await media.image(u.profileImageKey) : { url: await media.url(u.profileImageKey) } } : {}),
    },
    created_at: (u.createdAt ?? new Date(0)).toISOString(),
  };
}

export type UserJson = Awaited<ReturnType<typeof presentUser>>;
