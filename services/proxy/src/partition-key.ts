import { crc32 } from 'node:zlib';
import { KiteError } from '@kite/common';
import type { Expr, Lit, Pred } from '@kite/expr';
import type { CollectionMeta, FieldMeta, PartitionMeta } from '@kite/segment';

/**
 * Partition key: rows are routed by a hash of the key value into the internal partitions `_default_0` ..
 * `_default_{n-1}`, with Milvus's hash so that the same key lands in the same partition index as on Milvus
 * (typeutil.HashKey2Partitions): murmur3 (32-bit, seed 0) of the int64's 8 little-endian bytes masked to 31 bits,
 * or the IEEE CRC-32 of a string's first 100 bytes; the partition is the hash modulo the number of partitions.
 */

/** Milvus's default number of partitions of a partition-key collection (rootCoord default since 2.4). */
export const DEFAULT_KEY_PARTITIONS = 16;
/** Milvus's rootCoord.maxPartitionNum. */
export const MAX_KEY_PARTITIONS = 1024;
/** Milvus's error text for partition names given to a partition-key collection. */
export const NO_MANUAL_PARTITIONS = 'not support manually specifying the partition names if partition key mode is used';

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

/** `partitionkey.isolation` (Milvus 2.4+): true or false, and true only with a partition key (Milvus's message). */
export function checkIsolation(props: Record<string, string>, hasKey: boolean): void {
  const v = props['partitionkey.isolation'];
  if (v === undefined) return;
  if (!/^(true|false)$/i.test(v)) throw new KiteError('ParameterInvalid', `partitionkey.isolation must be true or false, got "${v.slice(0, 32)}"`);
  if (/^true$/i.test(v) && !hasKey) throw new KiteError('ParameterInvalid', 'partition key isolation mode is enabled but no partition key field is set');
}

/** Refuses partition names on a partition-key collection, as Milvus does. */
export function refuseManualPartitions(c: CollectionMeta, names: readonly string[] | string | undefined): void {
  const given = typeof names === 'string' ? names !== '' : (names?.length ?? 0) > 0;
  if (given && partitionKeyField(c)) throw new KiteError('ParameterInvalid', NO_MANUAL_PARTITIONS);
}

/**
 * The key values a filter restricts the partition key to: a `key == v` or `key in [..]` term (or an `or` of them)
 * at the top level of an `and` chain; several such terms intersect. Undefined when the filter does not restrict
 * the key that way (every partition has to be read).
 */
export function keyTerms(expr: Expr | undefined, key: FieldMeta): (bigint | string)[] | undefined {
  if (!expr) return undefined;
  const norm = (v: Lit): bigint | string | undefined => {
    if (key.dataType === 'VarChar') return typeof v === 'string' ? v : undefined;
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) return BigInt(v);
    return undefined;
  };
  // The values one predicate allows, or undefined when it does not restrict the key to a list.
  const values = (p: Pred): (bigint | string)[] | undefined => {
    if (p.k === 'in' && p.a.k === 'col' && p.a.field === key.name) return p.values.map(norm).filter((v): v is bigint | string => v !== undefined);
    if (p.k === 'cmp' && p.op === '==') {
      const [col, lit] = p.a.k === 'col' ? [p.a, p.b] : [p.b, p.a];
      if (col.k === 'col' && col.field === key.name && lit.k === 'lit') {
        const v = norm(lit.v);
        return v === undefined ? [] : [v];
      }
    }
    if (p.k === 'or') {
      const parts = p.args.map(values);
      if (parts.some((x) => x === undefined)) return undefined;
      return parts.flat() as (bigint | string)[];
    }
    return undefined;
  };
  const chain = (p: Pred): Pred[] => (p.k === 'and' ? p.args.flatMap(chain) : [p]);
  let out: Set<bigint | string> | undefined;
  for (const term of chain(expr.ir)) {
    const v = values(term);
    if (v === undefined) continue;
    out = out === undefined ? new Set(v) : new Set(v.filter((x) => out!.has(x)));
  }
  return out === undefined ? undefined : [...out];
}

/**
 * The partitions a read on a partition-key collection has to cover: those the filter's key terms hash to, within
 * `candidates` (the loaded ones; an empty list means all). Returns `candidates` unchanged when nothing prunes.
 */
export function prunePartitions(c: CollectionMeta, expr: Expr | undefined, candidates: number[]): number[] {
  const key = partitionKeyField(c);
  if (!key) return candidates;
  const terms = keyTerms(expr, key);
  if (terms === undefined) return candidates;
  const parts = keyPartitions(c);
  const wanted = new Set(terms.map((t) => parts[keyIndex(t, parts.length)]!.partitionID));
  const base = candidates.length ? candidates : parts.map((p) => p.partitionID);
  const kept = base.filter((id) => wanted.has(id));
  // No partition at all would read as "every partition" downstream: an impossible id keeps the read empty.
  return kept.length ? kept : [-1];
}
