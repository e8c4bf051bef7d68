/** Primary-key hashing that routes rows to shards (and so to WAL partitions). Stable across processes. */

/** FNV-1a 32-bit over a string's UTF-8 bytes. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Hash of an int64 key: mixes both 32-bit halves (murmur3 finaliser). */
export function hashInt64(v: bigint): number {
  const lo = Number(BigInt.asUintN(32, v));
  const hi = Number(BigInt.asUintN(32, v >> 32n));
  let h = lo ^ Math.imul(hi, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function shardOf(pk: bigint | string, shards: number): number {
  const h = typeof pk === 'bigint' ? hashInt64(pk) : hashString(pk);
  return h % shards;
}
