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
 * The two validators for one set of shared schemas. Fastify asks for validators once per
 * encapsulation context (35 in the gateway) though they share five sets of schemas, and an Ajv
 * with its formats and meta-schema costs tens of milliseconds to build: built per context, they
 * were most of the gateway's start-up CPU. Keyed by the schemas themselves, so an app built with
 * other schemas (a test's) never gets these.
 */
const validatorsBySchemas = new Map<string, { strict: Ajv; coercing: Ajv }>();

function validatorsFor(externalSchemas: Record<string, unknown>): { strict: Ajv; coercing: Ajv } {
  const key = JSON.stringify(externalSchemas);
  let v = validatorsBySchemas.get(key);
  if (!v) {
    v = { strict: makeAjv(false), coercing: makeAjv(true) };
    for (const schema of Object.values(externalSchemas)) {
      v.strict.addSchema(schema as object);
      v.coercing.addSchema(schema as object);
    }
    validatorsBySchemas.set(key, v);
  }
  return v;
}

/**
 * Fastify's `schemaController.compilersFactory.buildValidator`: called for each encapsulation
 * context with its shared schemas (`addSchema`), so `Type.Ref`s resolve in both validators.
 */
export function buildValidator(externalSchemas: Record<string, unknown>) {
  const { strict, coercing } = validatorsFor(externalSchemas);
  return ({ schema, httpPart }: { schema: AnySchema; httpPart?: string }) => {
    const isBody = httpPart === 'body';
    const validate = isBody ? strict.compile(schema) : coercing.compile(schema);
    const textChecked = isBody || httpPart === 'querystring' || httpPart === 'params';
    // Fastify reads `.errors` off the function it was given.
    const checked = (data: unknown) => {
      if (isBody) normalizeBody(data);
      // Text rules first: a NUL or a 10 000-deep object never reaches ajv, gRPC or Postgres.
      const textError = textChecked ? checkText(data) : null;
      if (textError) {
        checked.errors = [textError];
        return false;
      }
      const valid = validate(data);
      checked.errors = validate.errors;
      return valid;
    };
    checked.errors = null as ErrorObject[] | null | undefined;
    return checked;
  };
}

/** Objects and arrays nest at most this deep in a body (profile JSON included). */
export const MAX_DEPTH = 16;
// C0 controls and DEL, except tab, line feed and carriage return; any NUL.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNCHECKED_KEYS = new Set(['password', 'current_password', 'new_password']);

const textIssue = (instancePath: string, keyword: string): ErrorObject => ({ keyword, instancePath, schemaPath: '#', params: {} });
const pointer = (path: string, key: string | number) => `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * Walks every string and key of a parsed body, query or path (iteratively: a hostile depth
 * cannot overflow the stack): control characters, lone surrogates (Postgres refuses NUL, gRPC
 * refuses invalid UTF-8) and nesting deeper than MAX_DEPTH are field errors. Passwords are
 * taken exactly as typed.
 */
export function checkText(data: unknown): ErrorObject | null {
  // `top`: the top-level field, which a depth error names (not a path 16 levels long).
  const stack: Array<{ value: unknown; path: string; top: string; depth: number }> = [{ value: data, path: '', top: '', depth: 0 }];
  while (stack.length) {
    const { value, path, top, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (CONTROL.test(value)) return textIssue(path, 'controlCharacters');
      if (LONE_SURROGATE.test(value)) return textIssue(path, 'unicode');
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) return textIssue(top, 'depth');
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
    for (const [k, v] of entries) {
      if (typeof k === 'string' && (CONTROL.test(k) || LONE_SURROGATE.test(k))) return textIssue(path, 'controlCharactersInKey');
      if (depth === 0 && typeof k === 'string' && UNCHECKED_KEYS.has(k)) continue;
      const at = pointer(path, k);
      stack.push({ value: v, path: at, top: depth === 0 ? at : top, depth: depth + 1 });
    }
  }
  return null;
}

/**
 * Text fields are trimmed before their length is checked (docs/api.md); usernames are lower-cased.
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
  // A schema's own sentence names its field already, or starts at the rule ("must be a UUID").
  const own = (e as ErrorObject).parentSchema?.errorMessage as string | undefined;
  const custom = own && /^(must|is|has) /.test(own) ? `${name} ${own}` : own;
  const message = (() => {
    switch (e.keyword) {
      case 'controlCharacters':
        return `${name} must not contain control characters`;
      case 'controlCharactersInKey':
        return `${name} must not contain control characters in its keys`;
      case 'unicode':
        return `${name} must be valid Unicode text`;
      case 'depth':
        return `${name} is nested too deeply (at most ${MAX_DEPTH} levels)`;
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
