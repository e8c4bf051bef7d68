import { KiteError } from '@kite/common';
import type { Expr, Lit, Pred } from '@kite/expr';
import { keyIndex, keyPartitions, partitionKeyField, type CollectionMeta, type FieldMeta } from '@kite/segment';

/** Milvus's default number of partitions of a partition-key collection (rootCoord default since 2.4). */
export const DEFAULT_KEY_PARTITIONS = 16;
/** Milvus's rootCoord.maxPartitionNum. */
export const MAX_KEY_PARTITIONS = 1024;
/** Milvus's error text for partition names given to a partition-key collection. */
export const NO_MANUAL_PARTITIONS = 'not support manually specifying the partition names if partition key mode is used';

// The hashes and the key partitions live in @kite/segment (data nodes route imported rows by them too).
export { hashInt64Milvus, hashStringMilvus, keyIndex, keyPartitions, partitionKeyField } from '@kite/segment';

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
