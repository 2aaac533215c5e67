import { Type, type TSchema } from '@sinclair/typebox';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '@shutter/contracts';

/** `{data, message: "ok"}`: every 2xx body. */
export const Ok = <T extends TSchema>(data: T) => Type.Object({ data, message: Type.String() });

export const ErrorBody = Type.Object(
  {
    detail: Type.String(),
    code: Type.String(),
    request_id: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'Error', description: 'The error envelope of every 4xx/5xx' },
);

/** Error responses a route documents (the schemas double as the OpenAPI description). */
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, Type.Ref('Error')])) as Record<number, ReturnType<typeof Type.Ref>>;

export const Uuid = Type.String({ format: 'uuid', errorMessage: 'must be a UUID' });

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 UTC with milliseconds' });

/** The deepest page of an offset list: bounds OFFSET (and keeps `page` far inside an int32). */
export const MAX_PAGE = 10_000;

/** Offset paging (`page` 1–MAX_PAGE, `limit` ≥ 1, clamped to MAX_PAGE_LIMIT as the services do). */
export const PageQuery = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_PAGE_LIMIT, description: `clamped to ${MAX_PAGE_LIMIT}` })),
};

export const Pagination = Type.Object({
  page: Type.Integer(),
  limit: Type.Integer(),
  total: Type.Integer({ description: 'number of pages' }),
  total_items: Type.Integer(),
});

/** A list's `limit` as asked, or DEFAULT_PAGE_LIMIT, clamped to MAX_PAGE_LIMIT. */
export const clampedLimit = (limit: number | undefined) => Math.min(limit ?? DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT);

export function pageParams(q: { page?: number; limit?: number }) {
  const page = q.page ?? 1;
  const limit = clampedLimit(q.limit);
  return { page, limit, offset: (page - 1) * limit };
}

export function pagination(page: number, limit: number, totalItems: number) {
  return { page, limit, total: Math.ceil(totalItems / limit), total_items: totalItems };
}

/** `{data, message: "ok"}`. */
export const ok = <T>(data: T) => ({ data, message: 'ok' });
