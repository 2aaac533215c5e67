import { Type } from '@sinclair/typebox';
import { Timestamp, Uuid } from './common';

export const USERNAME_RULE = 'username must be 3 to 30 characters of a-z, 0-9, "." and "_"';

export const UserMetadata = Type.Object({
  profile: Type.Object({}, { additionalProperties: true }),
  profile_image: Type.Optional(
    Type.Object({
      url: Type.String({ description: 'the processed image (long side at most 1024 px, no metadata), made per response' }),
      blurhash: Type.Optional(Type.String({ description: 'a BlurHash of the image, for a placeholder while it loads' })),
      variants: Type.Optional(
        Type.Array(Type.Object({ url: Type.String(), width: Type.Integer(), height: Type.Integer() }), {
          description: 'WebP, widths 320 and 640 where narrower than the image, narrowest first',
        }),
      ),
    }),
  ),
});

export const User = Type.Object(
  {
    user_id: Uuid,
    username: Type.String(),
    name: Type.String(),
    email: Type.Optional(Type.String({ description: "the owner's own only" })),
    is_public: Type.Boolean(),
    role: Type.String({ enum: ['user', 'admin'] }),
    status: Type.String({ enum: ['enabled', 'disabled'] }),
    metadata: UserMetadata,
    created_at: Timestamp,
  },
  { $id: 'User' },
);

export const Tokens = {
  token: Type.String({ description: 'access token (JWT, EdDSA)' }),
  refresh_token: Type.String(),
  expires_in: Type.Integer({ description: "the access token's lifetime in seconds" }),
};

export const Email = Type.String({ format: 'email', maxLength: 254, errorMessage: 'email must be a valid email address (at most 254 characters)' });
export const Username = Type.String({ pattern: '^[a-z0-9._]{3,30}$', errorMessage: USERNAME_RULE });
export const Password = Type.String({ minLength: 8, maxLength: 128 });
