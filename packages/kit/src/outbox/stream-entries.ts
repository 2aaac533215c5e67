/** One stream entry as read with the *Buffer commands (payloads are binary). */
export interface RawEntry {
  streamId: string;
  /** Flat field/value list, as XADD takes it (used to copy an entry into the dead-letter stream). */
  fields: Buffer[];
  map: Map<string, Buffer>;
}

const isBuffer = (v: unknown): v is Buffer => Buffer.isBuffer(v);

/** `[id, [field, value, …]]`; entries deleted from the stream come back with nil fields and are skipped. */
function parseEntry(raw: unknown): RawEntry | null {
  if (!Array.isArray(raw) || !isBuffer(raw[0]) || !Array.isArray(raw[1])) return null;
  const fields = (raw[1] as unknown[]).filter(isBuffer);
  const map = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!.toString(), fields[i + 1]!);
  return { streamId: raw[0].toString(), fields, map };
}

function parseList(raw: unknown): RawEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(parseEntry).filter((e): e is RawEntry => e !== null);
}

/** XREADGROUP reply: nil on timeout, else `[[stream, entries]]` (we read one stream). */
export function parseEntries(reply: unknown): RawEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.flatMap((s: unknown) => (Array.isArray(s) ? parseList(s[1]) : []));
}

/** XCLAIM reply: the claimed entries. */
export function parseClaimed(reply: unknown): RawEntry[] {
  return parseList(reply);
}

/** XAUTOCLAIM reply: `[next cursor, entries, deleted ids]`. */
export function parseAutoClaim(reply: unknown): { cursor: string; entries: RawEntry[] } {
  if (!Array.isArray(reply) || !isBuffer(reply[0])) throw new Error('unexpected XAUTOCLAIM reply');
  return { cursor: reply[0].toString(), entries: parseList(reply[1]) };
}

/** XINFO GROUPS of a stream as one record per group (ioredis does not prefix XINFO's key: done here). */
export async function streamGroups(
  redis: { call(...args: string[]): Promise<unknown>; options: { keyPrefix?: string } },
  stream: string,
): Promise<Array<Record<string, unknown>>> {
  const raw = (await redis.call('xinfo', 'GROUPS', `${redis.options.keyPrefix ?? ''}${stream}`)) as unknown[][];
  return raw.map((flat) => {
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
    return info;
  });
}

/** XINFO CONSUMERS of a group as one record per consumer (`name`, `pending`, `idle`). */
export async function groupConsumers(
  redis: { call(...args: string[]): Promise<unknown>; options: { keyPrefix?: string } },
  stream: string,
  group: string,
): Promise<Array<Record<string, unknown>>> {
  const raw = (await redis.call('xinfo', 'CONSUMERS', `${redis.options.keyPrefix ?? ''}${stream}`, group)) as unknown[][];
  return raw.map((flat) => {
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
    return info;
  });
}
