/**
 * INVERTED indexes on a JSON path (Milvus 2.5's `json_path` / `json_cast_type` index params): the values found at
 * one path of a JSON field, of one cast type, in a ScalarIndex whose postings leave out every row where the path is
 * missing or holds a value of another type. A filter on that path with a literal of that type (==, in, <, <=, >, >=,
 * and prefix like for VARCHAR) is answered from it (indexed.ts); the rows left out are exactly the rows for which
 * such a comparison is false in the scan (a missing key or a value of another type is unequal to everything), so the
 * answer is the scan's. `!=` and other predicates scan.
 */
import type { PathKey } from './ir';

/** The cast types of a JSON path index, by their Milvus 2.6 names (2.5 takes them in lower case). */
export const JSON_CAST_TYPES = ['BOOL', 'DOUBLE', 'VARCHAR'] as const;
export type JsonCastType = (typeof JSON_CAST_TYPES)[number];

/** The cast type named by `raw` (any case), or undefined when Kite does not build that one. */
export function jsonCastType(raw: string): JsonCastType | undefined {
  const upper = raw.trim().toUpperCase();
  return (JSON_CAST_TYPES as readonly string[]).includes(upper) ? (upper as JsonCastType) : undefined;
}

/**
 * The key a batch offers a JSON path index under (ColumnBatch.scalarIndex): field, path and cast type. A number
 * step and its decimal string step name the same key (walkPath treats them alike). Field names cannot hold `[`, so
 * the key never equals a field's name.
 */
export function jsonIndexKey(field: string, path: readonly PathKey[], cast: JsonCastType): string {
  return `${field}${JSON.stringify(path.map(String))}:${cast}`;
}

export { wrapAtPath } from './values';
