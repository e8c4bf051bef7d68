import { VectorIndex } from '@kite/faiss';
import { encodePlan, parseExpr, type Expr, type SchemaInfo } from '@kite/expr';
import type { CollectionMeta, Column, ColumnBatch } from '@kite/segment';
import { PARTITION, PK, SCORE, TS } from '@kite/segment';
import { compileFilter, DeleteSet, FilterBitsCache, forEachSetRow, maskRows, querySource, searchSource, type RowSource } from './exec';
import { GrowingRows } from './segments';
import { testCollection, testField } from './testing/collection';

const DIM = 8;

const coll: CollectionMeta = testCollection('race', DIM);

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
      { field: 'vector', metric: 'COSINE', k: 5, nq: 1, queries: { kind: 'dense', data: (query as { data: Float32Array }).data }, params: {}, outputs: [] },
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

// A segment released (moved to another node, or handed over by a stopping node) while a search on it waits has
// no index any more: the search must fail retriably, so the proxy sends it to another replica (before the fix: a
// non-retriable IndexNotFound that failed the client's search during a rolling restart).
test('a search on rows released under it fails retriably, naming the release', async () => {
  const g = new GrowingRows(coll);
  g.append(rows(0, 100), 10);
  await g.settle();
  const query = rows(50, 1).columns.get('vector') as { data: Float32Array };
  g.free();
  const err = await searchSource(g, { field: 'vector', metric: 'COSINE', k: 5, nq: 1, queries: { kind: 'dense', data: query.data }, params: {}, outputs: [] }, { deletes: [] }).then(
    () => undefined,
    (e: unknown) => e as { kind?: string; retriable?: boolean; message?: string },
  );
  expect({ kind: err?.kind, retriable: err?.retriable }).toEqual({ kind: 'ReplicaNotAvailable', retriable: true });
  expect(err?.message).toMatch(/released during the search/);
});

describe('filters on many long strings', () => {
  const textColl: CollectionMeta = testCollection('race', DIM, [testField(102, 's', 'VarChar', { max_length: '65535' })]);
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 's', type: 'VarChar' }] };
  /** Rows whose `s` is 2,000 a's and the row number: '%a_a_..._c%' is tried at every character without a match. */
  function textRows(from: number, n: number): ColumnBatch {
    const b = rows(from, n);
    const s = Array.from({ length: n }, (_, i) => `${'a'.repeat(2000)}${from + i}`);
    b.columns.set('s', { kind: 'string', data: s });
    return b;
  }
  /** Passes only the row whose `s` ends in `end`, after scanning every row. */
  const heavy = (end: number): Expr => parseExpr(`s like "%${'a_'.repeat(60)}c%" or s like "%a${end}"`, schema);

  /** Runs `work` while a 1 ms interval timer ticks; returns the longest gap between ticks. */
  async function longestStall(work: () => Promise<unknown>): Promise<{ gap: number; ms: number }> {
    let last = Date.now();
    let gap = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      gap = Math.max(gap, now - last);
      last = now;
    }, 1);
    const t0 = Date.now();
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
    // The stretch since the last tick counts too: a synchronous evaluation lets no tick run at all.
    return { gap: Math.max(gap, Date.now() - last), ms: Date.now() - t0 };
  }

  it('keeps the event loop turning while a query evaluates a heavy filter', async () => {
    const g = new GrowingRows(textColl);
    g.append(textRows(0, 16000), 10);
    await g.settle();
    let result: { rows: ColumnBatch; count: number } | undefined;
    const { gap, ms } = await longestStall(async () => {
      result = await querySource(g, [], { expr: heavy(3500), deletes: [] }, 0, false);
    });
    expect(result?.count).toBe(1);
    expect(Array.from((result?.rows.columns.get(PK) as { data: BigInt64Array }).data)).toEqual([3500n]);
    // The evaluation takes about a second here (checked, so the test shows something), and the timer still gets
    // its turn every few tens of ms; the margin allows for a busy machine. In one piece, the gap is the whole time.
    expect(ms).toBeGreaterThan(500);
    expect(gap).toBeLessThan(Math.min(250, ms / 3));
    g.free();
  });

  it('stops at the deadline', async () => {
    const g = new GrowingRows(textColl);
    g.append(textRows(0, 8000), 10);
    await g.settle();
    await expect(querySource(g, [], { expr: heavy(3500), deletes: [], deadline: Date.now() + 20 }, 0, false)).rejects.toMatchObject({ kind: 'DeadlineExceeded' });
    g.free();
  });

  // The filter yields while it runs, so the growing rows can compact meanwhile: the search must notice, evaluate
  // again on the new rows and still return ids that belong to the hits.
  it('a filtered search stays consistent when the rows compact during the evaluation', async () => {
    const g = new GrowingRows(textColl);
    g.append(textRows(0, 5000), 10);
    g.append(textRows(5000, 3000), 20);
    await g.settle();
    const query = rows(6500, 1).columns.get('vector') as { data: Float32Array };
    const before = g.batch;
    let started = false;
    const search = searchSource(g, { field: 'vector', metric: 'COSINE', k: 5, nq: 1, queries: { kind: 'dense', data: query.data }, params: {}, outputs: [] }, { expr: heavy(6500), deletes: [] }, () => {
      started = true;
    });
    expect(started).toBe(false); // the evaluation yielded before the search started
    g.setWatermark(20); // rows at offset 10 are now covered by sealed segments: 5000 of 8000 drop and the rest move
    await g.compact();
    expect(g.batch).not.toBe(before);
    const hits = await search;
    expect(started).toBe(true);
    const pk = hits.columns.get(PK) as { data: BigInt64Array };
    expect(Array.from(pk.data)).toEqual([6500n]); // the only row the filter passes, found by its own id
    g.free();
  });
});

describe('compileFilter: the plan the proxy checked, or the text from a proxy of the previous version', () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'age', type: 'Int32' }] };
  const parsed = parseExpr('id in {ids} and age > 3', schema, { ids: [1n, 9007199254740993n] });

  test('with a plan, the plan is compiled and the text is not parsed', () => {
    // The text is only carried for messages: a text that does not even parse shows it is not read.
    const e = compileFilter(schema, { filter: 'id in {ids} and age > 3', filter_params: '', filter_plan: encodePlan(parsed) }, 1 << 20);
    expect(e?.ir).toEqual(parsed.ir);
    const withBadText = compileFilter(schema, { filter: 'this is ((( not a filter', filter_params: '', filter_plan: encodePlan(parsed) }, 1 << 20);
    expect(withBadText?.ir).toEqual(parsed.ir);
  });

  test('without a plan the text is parsed with its parameters; none at all is no filter', () => {
    const e = compileFilter(schema, { filter: 'id in {ids} and age > 3', filter_params: '{"ids":[{"$int64":"1"},{"$int64":"9007199254740993"}]}', filter_plan: '' }, 1 << 20);
    expect(e?.ir).toEqual(parsed.ir);
    expect(compileFilter(schema, { filter: '  ', filter_params: '', filter_plan: '' }, 1 << 20)).toBeUndefined();
  });

  test('a bad plan or text is ExpressionInvalid', () => {
    expect(() => compileFilter(schema, { filter: 'x', filter_params: '', filter_plan: '{"v":99}' }, 1 << 20)).toThrow(expect.objectContaining({ kind: 'ExpressionInvalid' }));
    expect(() => compileFilter(schema, { filter: 'age >', filter_params: '', filter_plan: '' }, 1 << 20)).toThrow(expect.objectContaining({ kind: 'ExpressionInvalid' }));
  });
});

describe('a selective filter searches its candidates exactly (AnnIndex.searchRows)', () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'a', type: 'Int64' }] };

  test('maskRows lists the set rows in order', () => {
    const mask = new Uint8Array(40);
    const want = [0, 7, 8, 9, 63, 64, 200, 255, 300, 319];
    for (const r of want) mask[r >> 3]! |= 1 << (r & 7);
    mask[39]! |= 0x80; // row 319 is past n = 310: left out
    expect(Array.from(maskRows(mask, 310, want.length - 1))).toEqual(want.slice(0, -1));
    expect(Array.from(maskRows(new Uint8Array(4), 32, 0))).toEqual([]);
    // Not on a 4-byte boundary, with set bits in and around zero words: the same rows as a bit-by-bit walk.
    const big = new Uint8Array(203);
    for (let i = 0; i < big.length; i++) big[i] = i % 7 === 0 ? (i * 37) & 0xff : 0;
    for (const offset of [0, 1, 3]) {
      const m = big.subarray(offset);
      const n = m.length * 8 - 5;
      const naive = Array.from({ length: n }, (_, i) => i).filter((i) => (m[i >> 3]! >> (i & 7)) & 1);
      const seen: number[] = [];
      forEachSetRow(m, n, (i) => void seen.push(i));
      expect(seen).toEqual(naive);
      expect(Array.from(maskRows(m, n, naive.length))).toEqual(naive);
    }
  });

  test.each(['L2', 'IP', 'COSINE'])('%s: the hits equal the filtered search over every row', async (metric) => {
    const c: CollectionMeta = { ...coll, indexes: [{ indexID: 1, indexName: 'v', fieldName: 'vector', fieldID: 101, indexType: 'FLAT', metricType: metric as 'L2', params: {}, createdTs: '0' } as CollectionMeta['indexes'][number]] };
    const g = new GrowingRows(c);
    const b = rows(0, 5000);
    b.columns.set('a', b.columns.get(PK)!);
    g.append(b, 10);
    await g.settle();
    const query = (rows(1234, 1).columns.get('vector') as { data: Float32Array }).data;
    const ids = Array.from({ length: 40 }, (_, i) => BigInt(i * 97 + 3));
    const f = { expr: parseExpr(`a in [${ids.join(', ')}]`, schema), deletes: [] };
    const spec = { field: 'vector', metric, k: 10, nq: 1, queries: { kind: 'dense' as const, data: query }, params: {}, outputs: [] };
    const calls = jest.spyOn(VectorIndex.prototype, 'searchRows');
    const fast = await searchSource(g, spec, f);
    expect(calls).toHaveBeenCalledTimes(1);
    // The same source with an index that has no candidate search: the search threads' filtered pass.
    const plain: RowSource = { batch: g.batch, pkIndex: g.pkIndex, baseMask: () => g.baseMask(), index: (x) => ({ ...g.index(x)!, searchRows: undefined, metric: g.index(x)!.metric }) };
    const slow = await searchSource(plain, spec, f);
    expect(fast.numRows).toBe(10);
    expect(Array.from((fast.columns.get(PK) as { data: BigInt64Array }).data)).toEqual(Array.from((slow.columns.get(PK) as { data: BigInt64Array }).data));
    expect(Array.from((fast.columns.get(SCORE) as { data: Float32Array }).data)).toEqual(Array.from((slow.columns.get(SCORE) as { data: Float32Array }).data));
    calls.mockRestore();
    g.free();
  });
});

test('growing rows that never held a row answer a read of some partitions with nothing (imported collections)', async () => {
  const g = new GrowingRows(coll);
  const res = await querySource(g, [], { deletes: [], partitions: new Set([1]) }, 0, false);
  expect(res.count).toBe(0);
  const counted = await querySource(g, [], { deletes: [], partitions: new Set([1]), hiddenUpTo: 5n }, 0, true);
  expect(counted.count).toBe(0);
  g.free();
});

test('partitions and the visibility cut apply to the rows the filter keeps (checked on set rows only)', async () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'a', type: 'Int64' }] };
  const g = new GrowingRows(coll);
  const n = 1000;
  const b = rows(0, n);
  b.columns.set('a', b.columns.get(PK)!);
  b.columns.set(PARTITION, { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(1 + (i % 3))) });
  b.columns.set(TS, { kind: 'int64', data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) });
  g.append(b, 10);
  await g.settle();
  const want = (keep: (i: number) => boolean): bigint[] => Array.from({ length: n }, (_, i) => i).filter(keep).map(BigInt);
  const got = async (f: Parameters<typeof querySource>[2]): Promise<bigint[]> =>
    Array.from(((await querySource(g, [], f, 0, false)).rows.columns.get(PK) as { data: BigInt64Array } | undefined)?.data ?? []);
  const expr = parseExpr('a >= 100 and a < 700', schema);
  expect(await got({ expr, deletes: [], partitions: new Set([2, 3]), hiddenUpTo: 200n })).toEqual(want((i) => i >= 201 && i < 700 && i % 3 !== 0));
  expect(await got({ deletes: [], partitions: new Set([1]) })).toEqual(want((i) => i % 3 === 0));
  expect(await got({ deletes: [], hiddenUpTo: 990n })).toEqual(want((i) => i > 990));
  expect(await got({ expr, deletes: [], partitions: new Set([7]) })).toEqual([]);
  g.free();
});

test('deletes apply the same whether walked by delete or by the rows a selective filter keeps', async () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'a', type: 'Int64' }] };
  const g = new GrowingRows(coll);
  const b = rows(0, 1000); // timestamps 1
  b.columns.set('a', b.columns.get(PK)!);
  g.append(b, 10);
  await g.settle();
  const many = new DeleteSet();
  for (let k = 0; k < 600; k++) many.add(BigInt(k), 5n); // newer than the rows: deleted
  many.add(105n, 5n);
  const older = new DeleteSet();
  older.add(700n, 1n); // not newer than row 700: kept
  older.add(701n, 2n); // newer: deleted
  older.add(5000n, 9n); // no such row
  const ids = async (filter: string | undefined): Promise<bigint[]> => {
    const f = { ...(filter === undefined ? {} : { expr: parseExpr(filter, schema) }), deletes: [many, older] };
    return Array.from(((await querySource(g, [], f, 0, false)).rows.columns.get(PK) as { data: BigInt64Array } | undefined)?.data ?? []);
  };
  // 17 rows kept by the filter, 602 deletes: walked by row.
  expect(await ids('(a >= 100 and a < 110) or (a >= 700 and a < 707)')).toEqual([700n, 702n, 703n, 704n, 705n, 706n]);
  // Every row kept: walked by delete.
  const all = await ids(undefined);
  expect(all.length).toBe(1000 - 600 - 1);
  expect(all.includes(700n) && !all.includes(701n) && !all.includes(599n) && all.includes(600n)).toBe(true);
  g.free();
});

test('a search or query without a filter on a few rows does not walk every delete of the channel', async () => {
  const g = new GrowingRows(coll);
  g.append(rows(0, 100), 10); // timestamps 1
  await g.settle();
  // Far more deletes than rows, as a channel accumulates under a mixed workload; walking them all would throw.
  const big = new DeleteSet();
  for (let k = 0; k < 20_000; k++) big.add(BigInt(1_000 + k), 5n);
  big.add(3n, 5n);
  big.add(4n, 1n); // not newer than row 4: kept
  Object.defineProperty(big.map, Symbol.iterator, {
    value: () => {
      throw new Error('walked every delete');
    },
  });
  const res = await querySource(g, [], { deletes: [big] }, 0, false);
  const ids = Array.from((res.rows.columns.get(PK) as { data: BigInt64Array }).data);
  expect(ids.length).toBe(99);
  expect(ids.includes(3n) || !ids.includes(4n)).toBe(false);
  const hits = await searchSource(g, { field: 'vector', metric: 'COSINE', k: 100, nq: 1, queries: { kind: 'dense', data: new Float32Array(DIM).fill(0.5) }, params: {}, outputs: [] }, { deletes: [big] });
  expect(hits.numRows).toBe(99);
  g.free();
});

test('a filter that sets the bits past the last row counts and returns only real rows', async () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'a', type: 'Int64' }] };
  const g = new GrowingRows(coll);
  const b = rows(0, 1003); // not a whole number of bytes of mask
  b.columns.set('a', b.columns.get(PK)!);
  g.append(b, 10);
  await g.settle();
  for (const filter of ['not (a == 3)', 'a >= 0', 'not (a < 0)']) {
    const f = { expr: parseExpr(filter, schema), deletes: [] };
    expect((await querySource(g, [], f, 0, true)).count).toBe(filter === 'not (a == 3)' ? 1002 : 1003);
    expect((await querySource(g, [], f, 0, false)).rows.numRows).toBe(filter === 'not (a == 3)' ? 1002 : 1003);
  }
  g.free();
});

test('a sealed source keeps a shared filter\'s bits; deletes, partitions and the visibility cut still apply per request', async () => {
  const schema: SchemaInfo = { enableDynamicField: false, fields: [{ name: 'id', type: 'Int64', isPrimaryKey: true }, { name: 'a', type: 'Int64' }] };
  const g = new GrowingRows(coll);
  const b = rows(0, 1000); // timestamps 1
  const a = BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(i));
  b.columns.set('a', { kind: 'int64', data: a });
  b.columns.set(PARTITION, { kind: 'int64', data: new BigInt64Array(1000).fill(1n) });
  g.append(b, 10);
  await g.settle();
  const kept = new FilterBitsCache(2);
  // The rows of a growing store that no longer changes, presented as a sealed segment is (rows fixed, bits kept).
  const sealed: RowSource = { batch: g.batch, pkIndex: g.pkIndex, index: (f) => g.index(f), baseMask: () => undefined, filterBits: kept };
  const ids = async (f: Parameters<typeof querySource>[2]): Promise<bigint[]> =>
    Array.from(((await querySource(sealed, [], f, 0, false)).rows.columns.get(PK) as { data: BigInt64Array } | undefined)?.data ?? []);
  const below100 = parseExpr('a < 100', schema);
  const range = (from: number, to: number): bigint[] => Array.from({ length: to - from }, (_, i) => BigInt(from + i));
  expect(await ids({ expr: below100, exprShared: true, deletes: [] })).toEqual(range(0, 100));
  expect(kept.size).toBe(1);
  // Were the filter evaluated again it would now match nothing: the kept bits answer instead.
  a.fill(5000n);
  const del = new DeleteSet();
  del.add(3n, 5n);
  expect(await ids({ expr: below100, exprShared: true, deletes: [del] })).toEqual(range(0, 100).filter((x) => x !== 3n));
  expect(await ids({ expr: below100, exprShared: true, deletes: [], hiddenUpTo: 1n })).toEqual([]);
  expect(await ids({ expr: below100, exprShared: true, deletes: [], partitions: new Set([7]) })).toEqual([]);
  // Not kept: a filter compiled for one request, and a filter reading default values.
  expect(await ids({ expr: parseExpr('a < 100', schema), deletes: [] })).toEqual([]);
  expect(await ids({ expr: parseExpr('a < 100', schema), exprShared: true, defaults: new Map(), deletes: [] })).toEqual([]);
  expect(kept.size).toBe(1);
  // At most two kept: a third filter pushes out the least recently used, which is then evaluated again.
  expect(await ids({ expr: parseExpr('a > 4000', schema), exprShared: true, deletes: [] })).toHaveLength(1000);
  expect(await ids({ expr: parseExpr('a == 5000', schema), exprShared: true, deletes: [] })).toHaveLength(1000);
  expect(kept.size).toBe(2);
  expect(await ids({ expr: below100, exprShared: true, deletes: [] })).toEqual([]);
  g.free();
});

test('an unfiltered search shares one all-rows mask and still applies deletes when there are some', async () => {
  const g = new GrowingRows(coll);
  g.append(rows(0, 500), 10); // timestamps 1
  await g.settle();
  const spec = { field: 'vector', metric: 'COSINE', k: 500, nq: 1, queries: { kind: 'dense' as const, data: new Float32Array(DIM).fill(0.5) }, params: {}, outputs: [] };
  expect((await searchSource(g, spec, { deletes: [] })).numRows).toBe(500);
  const del = new DeleteSet();
  del.add(7n, 5n);
  const hits = await searchSource(g, spec, { deletes: [del] });
  expect(hits.numRows).toBe(499);
  expect(Array.from((hits.columns.get(PK) as { data: BigInt64Array }).data)).not.toContain(7n);
  expect((await searchSource(g, spec, { deletes: [] })).numRows).toBe(500);
  g.free();
});
