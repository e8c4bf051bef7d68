import { parseExpr, type SchemaInfo } from '@kite/expr';
import type { CollectionMeta, Column, ColumnBatch } from '@kite/segment';
import { PK, TS } from '@kite/segment';
import { querySource, type RowSource, PkIndex } from './exec';
import { GrowingRows } from './segments';
import { TextIndexes } from './text-index';

const DIM = 4;
const textParams = { max_length: '1000', enable_analyzer: 'true', enable_match: 'true', analyzer_params: '{"type":"english"}' };
const coll: CollectionMeta = {
  collectionID: 1,
  name: 'docs',
  description: '',
  fields: [
    { fieldID: 100, name: 'id', dataType: 'Int64', isPrimaryKey: true, autoID: false, description: '', typeParams: {}, isDynamic: false, isPartitionKey: false, nullable: false },
    { fieldID: 101, name: 'vector', dataType: 'FloatVector', isPrimaryKey: false, autoID: false, description: '', typeParams: { dim: String(DIM) }, isDynamic: false, isPartitionKey: false, nullable: false },
    { fieldID: 102, name: 'doc', dataType: 'VarChar', isPrimaryKey: false, autoID: false, description: '', typeParams: textParams, isDynamic: false, isPartitionKey: false, nullable: false },
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
const schema: SchemaInfo = {
  enableDynamicField: false,
  fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'doc', type: 'VarChar', typeParams: textParams }],
};

function rows(from: number, texts: string[]): ColumnBatch {
  const n = texts.length;
  return {
    numRows: n,
    columns: new Map<string, Column>([
      [PK, { kind: 'int64', data: BigInt64Array.from(texts.map((_, i) => BigInt(from + i))) }],
      ['id', { kind: 'int64', data: BigInt64Array.from(texts.map((_, i) => BigInt(from + i))) }],
      [TS, { kind: 'int64', data: new BigInt64Array(n).fill(1n) }],
      ['vector', { kind: 'vector', dim: DIM, data: new Float32Array(n * DIM).fill(0.5) }],
      ['doc', { kind: 'string', data: texts }],
    ]),
  };
}

const ids = (r: { rows: ColumnBatch }): bigint[] => Array.from((r.rows.columns.get(PK) as { data: BigInt64Array }).data);
const query = (src: RowSource, filter: string) => querySource(src, [], { expr: parseExpr(filter, schema), deletes: [] }, 0, false, true);

describe('text indexes on query node row sources', () => {
  it('builds a sealed source\'s index once and reuses it for later filters', async () => {
    const batch = rows(0, ['Machine learning boosts efficiency', 'deep machine learning', 'python language', 'machines learn']);
    const pkIndex = new PkIndex();
    pkIndex.addColumn(batch.columns.get(PK)!, 0);
    const texts = new TextIndexes();
    const src: RowSource = { batch, pkIndex, textIndexes: texts, index: () => undefined, baseMask: () => undefined };
    expect(ids(await query(src, 'text_match(doc, "machines")'))).toEqual([0n, 1n, 3n]);
    const first = texts.get(batch, 'doc', textParams.analyzer_params)!.index;
    expect(ids(await query(src, 'phrase_match(doc, "machine learning") and id > 0'))).toEqual([1n, 3n]);
    expect(ids(await query(src, 'phrase_match(doc, "machine learning", 1)'))).toEqual([0n, 1n, 3n]);
    expect(texts.size).toBe(1);
    expect(texts.get(batch, 'doc', textParams.analyzer_params)!.index).toBe(first);
    expect(first.numRows).toBe(4);
  });

  it('extends a growing source\'s index with new rows, and starts over when the rows compact', async () => {
    const g = new GrowingRows(coll);
    try {
      g.append(rows(0, ['red apple', 'green pear']), 10);
      await g.settle();
      expect(ids(await query(g, 'text_match(doc, "apples")'))).toEqual([0n]);
      const before = g.textIndexes;
      const index = before.get(g.batch, 'doc', textParams.analyzer_params)!.index;
      g.append(rows(2, ['apple pie', 'cherry']), 20);
      await g.settle();
      expect(ids(await query(g, 'text_match(doc, "apples") or text_match(doc, "cherry")'))).toEqual([0n, 2n, 3n]);
      // The same index, with the two new rows added to it.
      expect(g.textIndexes).toBe(before);
      expect(index.numRows).toBe(4);
      // Rows below the watermark go (the first two): row numbers change, so the indexes start over.
      g.setWatermark(20);
      await g.compact();
      expect(g.textIndexes).not.toBe(before);
      expect(ids(await query(g, 'text_match(doc, "apple green")'))).toEqual([2n]);
    } finally {
      g.free();
    }
  });
});
