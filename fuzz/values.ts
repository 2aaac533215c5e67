/**
 * Seeded generators of hostile values: one PRNG (mulberry32) drives every choice, so a seed
 * replays the same run exactly.
 */
import { prng } from '@shutter/testing/src/random';

export type Rng = () => number;

/** The fuzzer's seeded random source (a run is replayed from its seed). */
export const rngOf = (seed: number): Rng => prng(seed);

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
export const chance = (rng: Rng, p: number) => rng() < p;
export const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** Strings that have broken parsers, validators or databases somewhere. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '   \t\n ',
  'a',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  'NaN',
  '\u0000',
  'a\u0000b',
  '\u0007\u001b[31m',
  '\u007f',
  '\r\n\r\n',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '😀👍🏽👨‍👩‍👧',
  'İstanbul',
  'ǅ',
  'K',
  'ß',
  'e\u0301\u0301\u0301',
  '\u202eevil',
  '\u200b\u200d\ufeff',
  '‮',
  'ＡＢＣ',
  '%',
  '_',
  '%_%\\',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${7*7}',
  '../../../../etc/passwd',
  '..%2F..%2F',
  '%00',
  '%E0%A4%A',
  '__proto__',
  'constructor',
  '0190a6b4-0000-7000-8000-000000000000',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '{0190a6b4-0000-7000-8000-000000000000}',
  'not-a-uuid',
  'a@b',
  'user@example.com',
  'İNFO@EXAMPLE.COM',
  'a'.repeat(255),
  'é'.repeat(1001),
  'x'.repeat(2201),
  '😀'.repeat(2201),
  'y'.repeat(70_000),
] as const;

export const NASTY_NUMBERS = [
  0,
  -1,
  1,
  1.5,
  -0.0001,
  100,
  101,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 53 + 1,
  1e21,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
] as const;

/** A value of the wrong kind, or at a boundary, or simply strange. */
export function nastyValue(rng: Rng, depth = 0): unknown {
  const r = rng();
  if (r < 0.45) return pick(rng, NASTY_STRINGS);
  if (r < 0.65) return pick(rng, NASTY_NUMBERS);
  if (r < 0.7) return pick(rng, [true, false, null]);
  if (r < 0.8) return depth > 2 ? [] : Array.from({ length: int(rng, 0, 3) }, () => nastyValue(rng, depth + 1));
  if (r < 0.88) return depth > 2 ? {} : { a: nastyValue(rng, depth + 1), ['k\u0000']: 1 };
  if (r < 0.93) return deepObject(int(rng, 15, 200));
  if (r < 0.96) return Array.from({ length: 1000 }, (_, i) => i);
  return { role: 'admin', status: 'enabled', user_id: '0190a6b4-0000-7000-8000-000000000000', like_count: 1e9 };
}

export function deepObject(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** A plausible string for a schema (formats, lengths), so requests also get past validation. */
export function plausibleString(rng: Rng, schema: Record<string, unknown>, pools: { ids: string[] }): string {
  if (schema.format === 'uuid') return pick(rng, pools.ids);
  if (schema.format === 'email') return `fz${Math.floor(rng() * 1e9)}@example.com`;
  if (Array.isArray(schema.enum)) return String(pick(rng, schema.enum));
  if (typeof schema.pattern === 'string' && schema.pattern.includes('a-z0-9._')) return `fz${Math.floor(rng() * 1e9)}`;
  const min = Number(schema.minLength ?? 1);
  const max = Number(schema.maxLength ?? 40);
  const len = pick(rng, [min, Math.min(max, min + 5), max, Math.min(max, 12)]);
  const alphabet = [...pick(rng, ['abc xyz', 'Ünïcödé ', '😀 ', 'line\n\t'])];
  const out: string[] = [];
  while (out.length < len) out.push(pick(rng, alphabet));
  return out.join('') || 'a';
}
