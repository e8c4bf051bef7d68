import { KiteError, clip } from '@kite/common';
import type { SearchRequest } from '@kite/proto';
import { PK, floatVectors, pkAt, type ColumnBatch, type FieldMeta } from '@kite/segment';
/** Milvus's bound on query vectors per search (read-plan.ts MAX_NQ). */
const MAX_NQ = 16384;


/**
 * Search by primary keys (Milvus 2.6's `ids` search input: pymilvus `search(..., ids=[...])`, the Node SDK's `ids`):
 * the stored vectors of those rows are the query vectors, in the order the keys were given.
 */
export interface PrimaryKeys {
  kind: 'int64' | 'string';
  values: string[];
}

/** The primary keys a search request searches by, or undefined for a search by vectors. */
export function searchIds(r: SearchRequest): PrimaryKeys | undefined {
  const ints = r.ids?.int_id?.data ?? [];
  const strs = r.ids?.str_id?.data ?? [];
  const byIds = r.search_input === 'ids' || r.ids?.id_field !== undefined || ints.length > 0 || strs.length > 0;
  if (!byIds) {
    if (r.search_by_primary_keys) throw new KiteError('ParameterInvalid', 'search_by_primary_keys is set but the request has no ids: pass the primary keys in ids');
    return undefined;
  }
  if (r.placeholder_group && r.placeholder_group.length > 0 && r.search_input !== 'ids') {
    throw new KiteError('ParameterInvalid', 'a search takes either query vectors (data) or primary keys (ids), not both');
  }
  const values = ints.length ? ints.map((v) => String(v)) : strs.map(String);
  const kind = ints.length || r.ids?.id_field === 'int_id' ? 'int64' : 'string';
  if (values.length === 0) throw new KiteError('ParameterInvalid', 'ids must not be empty: pass the primary keys to search with');
  if (values.length > MAX_NQ) throw new KiteError('ParameterInvalid', `ids holds ${values.length} primary keys: a search takes at most ${MAX_NQ}; split the search`);
  const declared = Number(r.nq ?? 0);
  if (declared !== 0 && declared !== values.length) throw new KiteError('ParameterInvalid', `nq is ${String(r.nq)} but ids holds ${values.length} primary keys; they must agree`);
  return { kind, values };
}

/** A filter expression selecting the rows with these keys. */
export function idsFilter(pk: FieldMeta, ids: PrimaryKeys): string {
  if ((pk.dataType === 'Int64') !== (ids.kind === 'int64')) {
    throw new KiteError('ParameterInvalid', `ids are ${ids.kind === 'int64' ? 'integers' : 'strings'} but the primary key ${pk.name} is ${pk.dataType}: pass ${pk.dataType === 'Int64' ? 'integer' : 'string'} keys`);
  }
  const list = ids.kind === 'int64' ? ids.values.map((v) => {
    if (!/^-?\d+$/.test(v)) throw new KiteError('ParameterInvalid', `id ${clip(v, 64)} is not an integer primary key`);
    return v;
  }) : ids.values.map((v) => JSON.stringify(v));
  return `${pk.name} in [${[...new Set(list)].join(', ')}]`;
}

/**
 * The query vectors for a search by primary keys, from the rows a query returned ($pk and the vector field), in
 * the order of `ids`. A key with no visible row fails the search naming it, as Milvus does.
 */
export function vectorsOfRows(rows: ColumnBatch, field: FieldMeta, ids: PrimaryKeys): Buffer {
  const dim = Number(field.typeParams.dim);
  const pk = rows.columns.get(PK);
  const col = rows.columns.get(field.name);
  const vec = col && col.kind !== 'binary' ? floatVectors(col) : undefined;
  const at = new Map<string, number>();
  if (pk && (vec || col?.kind === 'binary')) for (let i = 0; i < rows.numRows; i++) at.set(String(pkAt(pk, i)), i);
  const missing = ids.values.filter((v) => !at.has(v));
  if (missing.length) {
    throw new KiteError('ParameterInvalid', `search by ids: ${missing.length} of the ${ids.values.length} primary keys do not exist (or are not in the searched partitions): ${clip(missing.join(', '), 256)}`);
  }
  if (col?.kind === 'binary') {
    // Binary queries travel as the rows' bytes.
    const w = dim / 8;
    return Buffer.concat(ids.values.map((v) => Buffer.from(col.data.subarray(at.get(v)! * w, (at.get(v)! + 1) * w))));
  }
  const out = Buffer.alloc(ids.values.length * dim * 4);
  const f = new Float32Array(out.buffer, out.byteOffset, ids.values.length * dim);
  ids.values.forEach((v, i) => {
    const row = at.get(v)!;
    f.set(vec!.data.subarray(row * dim, (row + 1) * dim), i * dim);
  });
  return out;
}
