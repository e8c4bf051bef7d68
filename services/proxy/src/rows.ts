import { KiteError, clip } from '@kite/common';
import type { FieldData, InsertRequest, UpsertRequest } from '@kite/proto';
import { META, PARTITION, PK, TS, absentFieldColumn, fieldDataToColumn, type CollectionMeta, type Column, type ColumnBatch, type WireFieldData } from '@kite/segment';
import type { ProxyCore } from './core';
import { functionOf, runFunctions } from './functions';
import { primaryField } from './output';
import { keyIndex, keyPartitions, partitionKeyField, refuseManualPartitions } from './partition-key';

/**
 * The decoded FieldData in the shape @kite/segment converts (the loader's shape; enums as names or numbers). Insert
 * and Upsert requests come through insert-decode.ts: their float_vector.data is a Float32Array and a column's
 * long_data.data a BigInt64Array at run time (WireFieldData allows both), though FieldData types them as the loader
 * decodes them.
 */
const wire = (fd: FieldData): WireFieldData => ({ ...fd, type: String(fd.type) });

/** Rows in one column as sent: the set scalar array's length, or the float vectors' values / dim. */
function rowsOf(fd: FieldData): number {
  if (fd.valid_data?.length) return fd.valid_data.length;
  const s = fd.scalars;
  if (s) {
    const d = s.data ? s[s.data] : undefined;
    return d && 'data' in d && (Array.isArray(d.data) || ArrayBuffer.isView(d.data)) ? d.data.length : 0;
  }
  const v = fd.vectors;
  if (v?.sparse_float_vector) return v.sparse_float_vector.contents?.length ?? 0;
  return v?.float_vector ? v.float_vector.data.length / Number(v.dim) : 0;
}

/** Each row's partition: the named one, or on a partition-key collection the one its key hashes to. */
function partitionColumn(core: ProxyCore, c: CollectionMeta, name: string | undefined, columns: Map<string, Column>, numRows: number): Column {
  const key = partitionKeyField(c);
  if (!key) return { kind: 'int64', data: new BigInt64Array(numRows).fill(BigInt(core.partitionID(c, name))) };
  refuseManualPartitions(c, name);
  const parts = keyPartitions(c);
  const col = columns.get(key.name);
  const out = new BigInt64Array(numRows);
  for (let i = 0; i < numRows; i++) {
    const v = col?.kind === 'int64' ? col.data[i]! : col?.kind === 'string' ? col.data[i]! : undefined;
    if (v === undefined) throw new KiteError('ParameterMissing', `partition key field "${key.name}" is missing: every row needs a value for it`);
    out[i] = BigInt(parts[keyIndex(v, parts.length)]!.partitionID);
  }
  return { kind: 'int64', data: out };
}

/**
 * Refuses rows built from a schema older than the collection's (Milvus's check; the SDKs send the update_timestamp
 * they described): pymilvus then describes the collection again and resends, so fields added since are not taken for
 * dynamic keys. "0" or absent: not checked.
 */
function checkSchemaTimestamp(c: CollectionMeta, sent: string | number | undefined): void {
  if (c.schemaTs === undefined || sent === undefined || !/^\d+$/.test(String(sent)) || BigInt(sent) === 0n) return;
  if (BigInt(sent) < BigInt(c.schemaTs)) {
    throw new KiteError('CollectionSchemaMismatch', `collection schema mismatch[collection=${c.name}]: the rows were built from a schema older than the collection's (a field was added since); describe the collection again and resend`);
  }
}

/** Builds the rows of an insert or upsert as one batch with $pk, $ts, $partition, the fields and $meta. */
export async function buildRows(core: ProxyCore, c: CollectionMeta, r: InsertRequest | UpsertRequest, ts: bigint, upsert: boolean, deadline: number): Promise<ColumnBatch> {
  checkSchemaTimestamp(c, r.schema_timestamp);
  const fds = r.fields_data ?? [];
  const numRows = Number(r.num_rows) || (fds[0] ? rowsOf(fds[0]) : 0);
  if (numRows <= 0) throw new KiteError('ParameterInvalid', 'the request has no rows: num_rows is 0');
  const byName = new Map<string, FieldData>();
  for (const fd of fds) {
    const name = fd.is_dynamic ? META : fd.field_name;
    if (!c.fields.some((f) => f.name === name)) {
      throw new KiteError('ParameterInvalid', `field "${clip(String(fd.field_name), 128)}" is not in the schema of collection ${c.name}${c.enableDynamicField ? '' : ' (the dynamic field is disabled)'}`);
    }
    if (byName.has(name)) throw new KiteError('ParameterInvalid', `field "${clip(String(fd.field_name), 128)}" is sent twice in one request: send each field once`);
    byName.set(name, fd);
  }
  const columns = new Map<string, Column>();
  const pkf = primaryField(c);
  for (const f of c.fields) {
    const fd = byName.get(f.name);
    const fn = functionOf(c, f.name);
    if (fn) {
      if (fd) {
        throw new KiteError('ParameterInvalid', `field "${f.name}" is the output of function "${fn.name}" (computed from "${fn.inputFieldNames[0]}"): do not pass it, Kite fills it`);
      }
      continue;
    }
    if (f.isPrimaryKey && f.autoID && !upsert) {
      if (fd) throw new KiteError('ParameterInvalid', `field "${f.name}" is an auto-ID primary key: do not pass it, Kite assigns it`);
      continue;
    }
    if (!fd) {
      if (f.isDynamic) {
        columns.set(META, { kind: 'json', data: Array.from({ length: numRows }, () => ({})) });
        continue;
      }
      // Milvus: a field left out reads NULL (nullable) or its default value.
      if (f.nullable || f.defaultValue !== undefined) {
        columns.set(f.name, absentFieldColumn(f, numRows));
        continue;
      }
      throw new KiteError('ParameterMissing', `field "${f.name}" is missing: every row needs a value for it`);
    }
    columns.set(f.isDynamic ? META : f.name, fieldDataToColumn(wire(fd), f, numRows));
  }
  await runFunctions(c, columns);
  let pk: Column;
  if (pkf.autoID && !upsert) {
    const start = Number((await core.coordinator.call(deadline, (qc, timeoutMs) => qc.AllocIds({ count: numRows }, { timeoutMs }))).start);
    const ids = new BigInt64Array(numRows);
    for (let i = 0; i < numRows; i++) ids[i] = BigInt(start + i);
    pk = { kind: 'int64', data: ids };
  } else {
    const given = columns.get(pkf.name);
    if (!given) throw new KiteError('ParameterMissing', `field "${pkf.name}" is missing: every row needs a value for it`);
    pk = given;
    if (pk.kind === 'string' && pk.data.some((s) => s === '')) throw new KiteError('ParameterInvalid', `primary key "${pkf.name}" must not be empty`);
  }
  columns.set(PK, pk);
  columns.set(TS, { kind: 'int64', data: new BigInt64Array(numRows).fill(ts) });
  columns.set(PARTITION, partitionColumn(core, c, r.partition_name, columns, numRows));
  if (pkf.autoID && !upsert) columns.set(pkf.name, pk);
  return { numRows, columns };
}
