import { composeTs } from '@kite/common';
import type { CollectionMeta } from './meta';

/**
 * The timestamp at or below which a collection's rows are invisible to reads, or undefined when all are visible:
 * the larger of its truncate timestamp (TruncateCollection) and, with a collection TTL (`collection.ttl.seconds`
 * > 0), the hybrid timestamp of `nowMs` minus the TTL. Expired rows disappear from search, query and count at
 * once, whether or not compaction has removed them yet. The TTL cut compares row timestamps (the oracle's clock)
 * with the caller's clock, so clock skew between machines shifts expiry by that skew.
 */
export function hiddenUpTo(c: Pick<CollectionMeta, 'truncatedTs' | 'properties'>, nowMs: number = Date.now()): bigint | undefined {
  let cut = c.truncatedTs ? BigInt(c.truncatedTs) : 0n;
  const ttl = Number(c.properties?.['collection.ttl.seconds'] ?? 0);
  if (Number.isFinite(ttl) && ttl > 0) {
    const expired = composeTs(Math.max(0, nowMs - ttl * 1000), 0);
    if (expired > cut) cut = expired;
  }
  return cut > 0n ? cut : undefined;
}
