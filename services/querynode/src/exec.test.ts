import type { CollectionMeta, Column, ColumnBatch } from '@kite/segment';
import { PK, TS } from '@kite/segment';
import { searchSource } from './exec';
import { GrowingRows } from './segments';

const DIM = 8;

const coll: CollectionMeta = {
  collectionID: 1,
  name: 'race',
  description: '',
  fields: [
    { fieldID: 100, name: 'id', dataType: 'Int64', isPrimaryKey: true, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false },
    { fieldID: 101, name: 'vector', dataType: 'FloatVector', isPrimaryKey: false, autoID: false, description: '', typeParams: { dim: String(DIM) }, isDynamic: false, isPartitionKey: false, nullable: false },
  ],
  enableDynamicField: false,
  shardsNum: 1,
  topic: 't',
  partitions: [],
  indexes: [],
  consistencyLevel: 'Strong',
  properties: {},
  createdTs: '0',
};

/** Rows [from, from+n) with distinct vectors (a row's own vector finds it first). */
function rows(from: number, n: number): ColumnBatch {
  const ids = new BigInt64Array(n);
  const ts = new BigInt64Array(n);
  const vec = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    ids[i] = BigInt(from + i);
    ts[i] = 1n;
    for (let d = 0; d < DIM; d++) vec[i * DIM + d] = d === (from + i) % DIM ? 1 + (from + i) / 1000 : 0.01 * d;
  }
  return {
    numRows: n,
    columns: new Map<string, Column>([
      [PK, { kind: 'int64', data: ids }],
      [TS, { kind: 'int64', data: ts }],
      ['vector', { kind: 'vector', dim: DIM, data: vec }],
    ]),
  };
}

// A growing store compacts (drops rows below the watermark, renumbering the rest) while a search on it runs on
// the thread pool: the hits must still carry the primary keys of the rows the index returned, not whatever the
// new batch holds at those row numbers (before the fix: hits without ids, or other rows' ids).
test('a search on growing rows stays consistent when the rows compact under it', async () => {
  for (let round = 0; round < 20; round++) {
    const g = new GrowingRows(coll);
    g.append(rows(0, 3000), 10);
    g.append(rows(3000, 1000), 20);
    await g.settle();
    const query = rows(3500, 1).columns.get('vector')!;
    const search = searchSource(
      g,
      { field: 'vector', metric: 'COSINE', k: 5, nq: 1, queries: (query as { data: Float32Array }).data, params: {}, outputs: [] },
      { deletes: [] },
    );
    // Rows at offset 10 are now covered by sealed segments: 3000 of 4000 rows drop, the rest are renumbered.
    g.setWatermark(20);
    const compacted = g.compact();
    const hits = await search;
    await compacted;
    const pk = hits.columns.get(PK) as { data: BigInt64Array } | undefined;
    expect(hits.numRows).toBe(5);
    expect(pk?.data.length).toBe(5);
    // The best hit is the query's own row, by id.
    expect(Array.from(pk!.data)).toContain(3500n);
    g.free();
  }
});
