import { Type } from '@sinclair/typebox';
import { MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, USERNAME_PATTERN, USERNAME_RULE } from '@shutter/contracts';
import { Timestamp, Uuid } from './common';

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

export const Email = Type.String({
  format: 'email',
  maxLength: MAX_EMAIL_CHARS,
  errorMessage: `email must be a valid email address (at most ${MAX_EMAIL_CHARS} characters)`,
});
export const Username = Type.String({ pattern: USERNAME_PATTERN, errorMessage: USERNAME_RULE });
export const Password = Type.String({ minLength: MIN_PASSWORD_CHARS, maxLength: MAX_PASSWORD_CHARS });
