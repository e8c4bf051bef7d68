import { crc32 } from 'node:zlib';
import { KiteError } from '@kite/common';
import type { CollectionMeta, FieldMeta, PartitionMeta } from './meta';

/**
 * Partition key: rows are routed by a hash of the key value into the internal partitions `_default_0` ..
 * `_default_{n-1}`, with Milvus's hash so that the same key lands in the same partition index as on Milvus
 * (typeutil.HashKey2Partitions): murmur3 (32-bit, seed 0) of the int64's 8 little-endian bytes masked to 31 bits,
 * or the IEEE CRC-32 of a string's first 100 bytes; the partition is the hash modulo the number of partitions.
 * Shared by the proxy (inserts) and data nodes (bulk import).
 */

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

function murmurBlock(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Murmur3 x86 32-bit (seed 0) of an int64's 8 little-endian bytes, masked to 31 bits (Milvus's Hash32Int64). */
export function hashInt64Milvus(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  let h = murmurBlock(0, Number(u & 0xffffffffn) | 0);
  h = murmurBlock(h, Number(u >> 32n) | 0);
  h ^= 8;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) & 0x7fffffff;
}

/** IEEE CRC-32 of a string's first 100 UTF-8 bytes (Milvus's HashString2Uint32). */
export function hashStringMilvus(s: string): number {
  const b = Buffer.from(s, 'utf8');
  return crc32(b.length > 100 ? b.subarray(0, 100) : b) >>> 0;
}

export function keyIndex(v: bigint | string, partitions: number): number {
  return (typeof v === 'bigint' ? hashInt64Milvus(v) : hashStringMilvus(v)) % partitions;
}

export function partitionKeyField(c: CollectionMeta): FieldMeta | undefined {
  return c.fields.find((f) => f.isPartitionKey);
}

/** The internal partitions `_default_0` .. `_default_{n-1}` in index order. */
export function keyPartitions(c: CollectionMeta): PartitionMeta[] {
  const out: PartitionMeta[] = [];
  for (const p of c.partitions) {
    const m = /^_default_(\d+)$/.exec(p.name);
    if (m) out[Number(m[1])] = p;
  }
  if (out.length === 0 || out.some((p) => p === undefined)) {
    throw new KiteError('Internal', `collection ${c.name} has a partition key but its partitions are not _default_0.._default_${out.length - 1}`);
  }
  return out;
}
