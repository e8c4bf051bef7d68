import { KiteError, clip } from '@kite/common';
import { JSON_CAST_TYPES, jsonCastType, parseJsonPath, scalarIndexKey } from '@kite/expr';
import type { FieldMeta } from '@kite/segment';

/** Index types of a scalar field (AUTOINDEX resolves per data type, see scalarIndexSpec). */
export const SCALAR_INDEX_TYPES = ['INVERTED', 'STL_SORT', 'TRIE', 'BITMAP'] as const;
export type ScalarIndexType = (typeof SCALAR_INDEX_TYPES)[number];

/** Scalar data types Kite builds scalar indexes on. */
export const SCALAR_TYPES = ['Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar'] as const;

const INTEGER = ['Int8', 'Int16', 'Int32', 'Int64'];
const NUMERIC = [...INTEGER, 'Float', 'Double'];

/** Milvus's bound on bitmap_cardinality_limit (exclusive) and its default. */
const BITMAP_CARDINALITY_MAX = 1000;
const BITMAP_CARDINALITY_DEFAULT = 100;

/** Whether a field takes scalar indexes (rather than vector indexes). */
export function isScalarIndexField(f: FieldMeta): boolean {
  const t: string = f.dataType;
  return (SCALAR_TYPES as readonly string[]).includes(t) || t === 'JSON' || t === 'Array';
}

/**
 * Checks a scalar index as Milvus's index parameter checkers do, with Milvus's messages (followed by the field, its
 * type and the fix), and returns the index type to build and the parameters to keep:
 * - INVERTED: every scalar type; STL_SORT: numeric fields; Trie: VarChar; BITMAP: Bool, integers and VarChar, not
 *   the primary key, bitmap_cardinality_limit in [1, 1000) (default 100);
 * - AUTOINDEX resolves as Milvus's scalarAutoIndex defaults: BITMAP on Bool, INVERTED otherwise;
 * - JSON fields: an INVERTED (or AUTOINDEX) index on one path, see jsonPathIndexSpec; Array fields are refused.
 * Every kind is built as the same sorted index with postings, so all of them answer the same predicates.
 */
export function scalarIndexSpec(field: FieldMeta, requested: string, user: Record<string, unknown>): { indexType: ScalarIndexType; params: Record<string, string> } {
  const t: string = field.dataType;
  const upper = requested.toUpperCase();
  const invalid = (msg: string): KiteError => new KiteError('ParameterInvalid', msg);
  if (t === 'Array') {
    // As Milvus 2.3/2.4 answer; array_contains*, array_length and element filters scan the rows.
    throw new KiteError('ParameterInvalid', `create index on Array field is not supported: field ${field.name} is an Array; drop the index request, filters on ${field.name} scan the rows`);
  }
  if (t === 'JSON') return jsonPathIndexSpec(field, upper, requested, user);
  let indexType: ScalarIndexType;
  if (upper === 'AUTOINDEX' || upper === '') indexType = t === 'Bool' ? 'BITMAP' : 'INVERTED';
  else if ((SCALAR_INDEX_TYPES as readonly string[]).includes(upper)) indexType = upper as ScalarIndexType;
  else {
    throw invalid(`invalid index type: ${clip(requested, 32)}: field ${field.name} is ${t}; scalar fields take ${[...SCALAR_INDEX_TYPES, 'AUTOINDEX'].join(', ')}`);
  }
  if (indexType === 'STL_SORT' && !NUMERIC.includes(t)) {
    throw invalid(`STL_SORT are only supported on numeric field: field ${field.name} is ${t}; use INVERTED${t === 'VarChar' ? ' or Trie' : ''}`);
  }
  if (indexType === 'TRIE' && t !== 'VarChar') {
    throw invalid(`TRIE are only supported on varchar field: field ${field.name} is ${t}; use INVERTED${NUMERIC.includes(t) ? ' or STL_SORT' : ''}`);
  }
  const params: Record<string, string> = {};
  if (indexType === 'BITMAP') {
    if (field.isPrimaryKey) throw invalid(`create bitmap index on primary key not supported: field ${field.name} is the primary key; use INVERTED or STL_SORT`);
    if (t !== 'Bool' && !INTEGER.includes(t) && t !== 'VarChar') {
      throw invalid(`bitmap index are only supported on bool, int, string and array field: field ${field.name} is ${t}; use INVERTED or STL_SORT`);
    }
    const raw = user.bitmap_cardinality_limit;
    const limit = raw === undefined ? BITMAP_CARDINALITY_DEFAULT : typeof raw === 'number' ? raw : Number(String(raw).trim() || NaN);
    if (!Number.isInteger(limit) || limit < 1 || limit >= BITMAP_CARDINALITY_MAX) {
      throw invalid(`failed to check bitmap cardinality limit, should be larger than 0 and smaller than ${BITMAP_CARDINALITY_MAX}: bitmap_cardinality_limit ${clip(JSON.stringify(raw), 32)} on field ${field.name}`);
    }
    params.bitmap_cardinality_limit = String(limit);
  }
  for (const k of Object.keys(user)) {
    if (k === 'bitmap_cardinality_limit' && indexType === 'BITMAP') continue;
    if (k === 'mmap.enabled') continue;
    if (k === 'json_path' || k === 'json_cast_type') {
      throw invalid(`${k} is only valid for an index on a JSON field; field ${field.name} is ${t}`);
    }
    throw invalid(`index parameter "${clip(k, 64)}" is not supported for a ${indexType} index on field ${field.name}`);
  }
  return { indexType, params };
}

/**
 * An index on a path of a JSON field, as Milvus 2.5 takes it: index_type INVERTED or AUTOINDEX, `json_path` (e.g.
 * `meta["a"]["b"]`, read as a filter reads it) and `json_cast_type` (bool, double, varchar; Milvus 2.6's upper-case
 * names too). Kept params: json_path as given and json_cast_type upper-cased. Several such indexes may exist on one
 * field, one per path and cast type (catalog.ts).
 */
function jsonPathIndexSpec(field: FieldMeta, upper: string, requested: string, user: Record<string, unknown>): { indexType: ScalarIndexType; params: Record<string, string> } {
  const invalid = (msg: string): KiteError => new KiteError('ParameterInvalid', msg);
  if (upper !== 'INVERTED' && upper !== 'AUTOINDEX' && upper !== '') {
    throw invalid(`invalid index type: ${clip(requested, 32)}: field ${field.name} is JSON; a JSON field takes INVERTED or AUTOINDEX with json_path and json_cast_type`);
  }
  const path = user.json_path;
  const cast = user.json_cast_type;
  if (typeof path !== 'string' || path.trim() === '') {
    throw invalid(`json_path is required for an index on JSON field ${field.name}: set it to the path to index, e.g. ${field.name}["key"]`);
  }
  if (typeof cast !== 'string' || cast.trim() === '') {
    throw invalid(`json_cast_type is required for an index on JSON field ${field.name}: set it to one of ${JSON_CAST_TYPES.join(', ')}`);
  }
  const castType = jsonCastType(cast);
  if (castType === undefined) {
    throw invalid(`json_cast_type ${clip(JSON.stringify(cast), 40)} is not supported for JSON field ${field.name}: Kite builds ${JSON_CAST_TYPES.join(', ')} (also in lower case)`);
  }
  try {
    parseJsonPath(path, field.name);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  for (const k of Object.keys(user)) {
    if (k === 'json_path' || k === 'json_cast_type' || k === 'mmap.enabled') continue;
    throw invalid(`index parameter "${clip(k, 64)}" is not supported for a JSON path index on field ${field.name}${k === 'json_cast_function' ? ' (Kite does not convert values while indexing)' : ''}`);
  }
  return { indexType: 'INVERTED', params: { json_path: path, json_cast_type: castType } };
}

/**
 * Whether two indexes' params name the same JSON path and cast type (always true for indexes of other fields, which
 * take one index each). `meta["a"]` and `meta['a']` are one path.
 */
export function sameJsonPath(a: Record<string, string>, b: Record<string, string>, field: string): boolean {
  return scalarIndexKey(field, a) === scalarIndexKey(field, b);
}
