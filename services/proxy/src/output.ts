import { KiteError, clip } from '@kite/common';
import type { FieldDataOut, IDsOut } from '@kite/proto';
import { withKeys } from './search-reply';
import { META, absentFieldColumn, isDenseType, isVectorType, vectorBytesOf, columnToFieldData, emptyColumn, pickDynamicKeys, type CollectionMeta, type Column, type ColumnBatch, type FieldMeta } from '@kite/segment';
import { isFunctionOutput } from './functions';

/** Which stored columns a read returns, which dynamic keys it picks from `$meta`, and the names the client sees. */
export interface Outputs {
  columns: string[];
  dynamicKeys: string[] | 'all';
  names: string[];
}

/** Output fields as stored column names; dynamic keys are returned through $meta and picked afterwards. */
export function outputsOf(c: CollectionMeta, requested: readonly string[], withVectors: boolean): Outputs {
  const cols = new Set<string>();
  const dyn: string[] = [];
  let allDyn = false;
  for (const raw of requested) {
    const name = raw.trim();
    if (!name) continue;
    if (name === '*') {
      for (const f of c.fields) if (!f.isDynamic && (withVectors || !isVectorType(f.dataType) || f.dataType === 'SparseFloatVector') && !isFunctionOutput(c, f.name)) cols.add(f.name);
      if (c.enableDynamicField) allDyn = true;
      continue;
    }
    const f = c.fields.find((x) => x.name === name && !x.isDynamic);
    if (f && isFunctionOutput(c, f.name)) {
      throw new KiteError('ParameterInvalid', `not allowed to retrieve raw data of field ${f.name}: it is the output of a BM25 function; leave it out of output_fields`);
    }
    if (f) cols.add(f.name);
    else if (name === META && c.enableDynamicField) allDyn = true;
    else if (c.enableDynamicField) dyn.push(name);
    else throw new KiteError('ParameterInvalid', `field ${clip(name, 128)} not exist: output_fields must name fields of collection ${c.name}`);
  }
  if (allDyn || dyn.length) cols.add(META);
  return { columns: [...cols], dynamicKeys: allDyn ? 'all' : dyn, names: [...cols].filter((x) => x !== META).concat(allDyn ? [META] : dyn) };
}

/** Makes sure the primary key is among the outputs (Milvus returns it with every hit; the SDKs read the id there). */
export function withPrimaryKey(out: Outputs, pkName: string): Outputs {
  if (!out.columns.includes(pkName)) out.columns.unshift(pkName);
  if (!out.names.includes(pkName)) out.names.unshift(pkName);
  return out;
}

/** The columns of a result batch as the reply's FieldData (the shapes @kite/segment writes are the wire's). */
export function fieldData(c: CollectionMeta, batch: ColumnBatch, columns: string[], dynamicKeys: string[] | 'all'): FieldDataOut[] {
  const out: FieldDataOut[] = [];
  for (const name of columns) {
    const f = c.fields.find((x) => (name === META ? x.isDynamic : x.name === name)) as FieldMeta;
    // A field added after the rows were written: they read NULL, or its default value.
    let col = batch.columns.get(name) ?? (batch.numRows > 0 && f.nullable ? absentFieldColumn(f, batch.numRows) : emptyColumn(f));
    if (name === META) col = pickDynamicKeys(col, dynamicKeys);
    const fd = columnToFieldData(col, f) as FieldDataOut;
    // An Int64 column without nulls: its values go to the search reply's encoder as they are (search-reply.ts).
    const longs = fd.scalars?.long_data?.data;
    if (col.kind === 'int64' && longs !== undefined && (fd.valid_data?.length ?? 0) === 0) withKeys(longs as string[], col.data.slice());
    out.push(fd);
  }
  return out;
}

/** Primary keys as the reply's IDs. */
export function idsOf(pk: Column): IDsOut {
  return pk.kind === 'int64'
    ? { int_id: { data: withKeys(Array.from(pk.data, (v) => v.toString()), pk.data.slice()) } }
    : { str_id: { data: pk.kind === 'string' ? pk.data : [] } };
}

export function primaryField(c: CollectionMeta): FieldMeta {
  const pk = c.fields.find((f) => f.isPrimaryKey);
  if (!pk) throw new KiteError('Internal', `collection ${c.name} has no primary key field`);
  return pk;
}

/**
 * Refuses a search whose output vectors would not fit in one reply: vectors are the one part of a result whose size
 * the hit bound does not cap (dim up to 32768). `hits` is how many hits the reply may carry in all.
 */
export function checkVectorReplySize(c: CollectionMeta, columns: readonly string[], hits: number, maxBytes: number): void {
  const perHit = columns.reduce((sum, name) => {
    const f = c.fields.find((x) => x.name === name);
    return sum + (f && (isDenseType(f.dataType) || f.dataType === 'BinaryVector') ? vectorBytesOf(f) : 0);
  }, 0);
  if (perHit * hits > maxBytes) {
    throw new KiteError('ParameterInvalid', `returning vectors with ${hits} hits takes ${perHit * hits} bytes, more than a reply may hold (proxy.maxSendMessageBytes ${maxBytes}); leave the vector out of output_fields or ask for fewer hits`);
  }
}
