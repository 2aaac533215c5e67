import Ajv, { type AnySchema, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaValidationError } from 'fastify';

/**
 * Two validators: bodies are never coerced (a number where a string belongs is a 422), while
 * querystrings and path params are strings by nature and are coerced to the declared types.
 * Unknown properties are removed, never rejected. Schemas may carry `errorMessage`: the sentence
 * shown when that property breaks a rule that has no natural wording (patterns, formats).
 */
function makeAjv(coerceTypes: boolean) {
  const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: true, allErrors: false, verbose: true, strict: false });
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
  return ajv;
}

/**
 * Fastify's `schemaController.compilersFactory.buildValidator`: called for each encapsulation
 * context with its shared schemas (`addSchema`), so `Type.Ref`s resolve in both validators.
 */
export function buildValidator(externalSchemas: Record<string, unknown>) {
  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  for (const schema of Object.values(externalSchemas)) {
    strict.addSchema(schema as object);
    coercing.addSchema(schema as object);
  }
  return ({ schema, httpPart }: { schema: AnySchema; httpPart?: string }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = strict.compile(schema);
    // Fastify reads `.errors` off the function it was given.
    const normalized = (data: unknown) => {
      normalizeBody(data);
      const valid = validate(data);
      normalized.errors = validate.errors;
      return valid;
    };
    normalized.errors = null as typeof validate.errors;
    return normalized;
  };
}

/**
 * Text fields are trimmed before their length is checked (API.md); usernames are lower-cased.
 * Passwords are taken exactly as typed.
 */
export function normalizeBody(data: unknown): void {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return;
  const body = data as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) {
    if (typeof v !== 'string' || k === 'password') continue;
    body[k] = k === 'username' ? v.trim().toLowerCase() : v.trim();
  }
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
};

function typeWords(t: unknown): string {
  const types = Array.isArray(t) ? t : [t];
  return types.map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(' or ');
}

/** One validation error → `{field: "body.username", message: "username must be ..."}`. */
export function describeValidationError(e: FastifySchemaValidationError | ErrorObject, context: string): { field: string; message: string } {
  const part = PART_NAMES[context] ?? context;
  const path = e.instancePath.split('/').filter(Boolean);
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') path.push(String(params.missingProperty));
  const name = path.length ? path.join('.') : part === 'body' ? 'request body' : part;
  const field = [part, ...path].join('.');
  const custom = (e as ErrorObject).parentSchema?.errorMessage as string | undefined;
  const message = (() => {
    switch (e.keyword) {
      case 'required':
        return `${name} is required`;
      case 'type':
        return `${name} must be ${typeWords(params.type)}`;
      case 'minLength':
        return `${name} must be at least ${String(params.limit)} character${params.limit === 1 ? '' : 's'}`;
      case 'maxLength':
        return `${name} must be at most ${String(params.limit)} characters`;
      case 'minimum':
        return `${name} must be at least ${String(params.limit)}`;
      case 'maximum':
        return `${name} must be at most ${String(params.limit)}`;
      case 'minItems':
        return `${name} must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`;
      case 'maxItems':
        return `${name} must have at most ${String(params.limit)} items`;
      case 'enum':
        return `${name} must be one of: ${((params.allowedValues as unknown[]) ?? []).join(', ')}`;
      case 'format':
        return custom ?? (params.format === 'uuid' ? `${name} must be a UUID` : `${name} must be a valid ${String(params.format)}`);
      default:
        return custom ?? `${name} is invalid`;
    }
  })();
  return { field, message: custom && e.keyword !== 'required' && e.keyword !== 'type' ? custom : message };
}
