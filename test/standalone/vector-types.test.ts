/**
 * Float16Vector and BFloat16Vector end to end through the Node SDK on Kite standalone: rows inserted as number
 * arrays (the SDK converts them) and as raw bytes, searched on growing rows (exact) and on sealed rows with IVF_FLAT
 * (all lists probed: exact) and HNSW (AUTOINDEX), with filters, vectors returned in output fields as the exact bytes
 * inserted, after a kill -9 and restart, and bad input refused naming the field. Every expected answer is a brute
 * force over the values the bytes encode, decoded by the SDK's own float16/bfloat16 code.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { bf16BytesToF32Array, ConsistencyLevelEnum, DataType, f16BytesToF32Array, f32ArrayToBf16Bytes, f32ArrayToF16Bytes, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { bruteForce, clusteredVectors, eventually, flushAndWait, expectFailure, expectOk, recall, score, type Metric } from './helpers';

jest.setTimeout(300_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_half_vectors';
const DIM = 16;

let server: Standalone;
let client: MilvusClient;

interface Row {
  id: number;
  tag: number;
  f16: Buffer;
  bf16: Buffer;
}

/** The values a row's bytes encode, decoded by the SDK (not by Kite's code). */
const f16Values = (b: Buffer): number[] => f16BytesToF32Array(b);
const bf16Values = (b: Buffer): number[] => bf16BytesToF32Array(b);

function makeRows(from: number, n: number, seed: number): Row[] {
  const a = clusteredVectors(n, DIM, seed);
  const b = clusteredVectors(n, DIM, seed + 1000);
  return a.map((v, i) => ({ id: from + i, tag: (from + i) % 100, f16: Buffer.from(f32ArrayToF16Bytes(v)), bf16: Buffer.from(f32ArrayToBf16Bytes(b[i]!)) }));
}

const live = new Map<number, Row>();

async function insert(rows: Row[]): Promise<void> {
  const res = await client.insert({
    collection_name: NAME,
    // Even rows go as number arrays (the SDK converts them to float16/bfloat16 bytes), odd rows as the bytes.
    data: rows.map((r) => ({
      id: r.id,
      tag: r.tag,
      f16: r.id % 2 === 0 ? f16Values(r.f16) : r.f16,
      bf16: r.id % 2 === 0 ? bf16Values(r.bf16) : r.bf16,
    })),
  });
  expectOk(res.status, 'insert');
  expect(Number(res.insert_cnt)).toBe(rows.length);
  for (const r of rows) live.set(r.id, r);
}

const QUERIES = makeRows(0, 8, 77);

type Field = 'f16' | 'bf16';

async function expectBruteForce(what: string, field: Field, metric: Metric, opts: { k?: number; filter?: string; keep?: (r: Row) => boolean; params?: Record<string, unknown>; minRecall?: number } = {}): Promise<void> {
  const k = opts.k ?? 10;
  const res = await client.search({
    collection_name: NAME,
    anns_field: field,
    data: QUERIES.map((q) => (field === 'f16' ? f16Values(q.f16) : bf16Values(q.bf16))),
    limit: k,
    output_fields: ['id'],
    consistency_level: STRONG,
    ...(opts.filter ? { filter: opts.filter } : {}),
    ...(opts.params ? { params: opts.params } : {}),
  } as never);
  expectOk(res.status, `search ${what}`);
  const results = res.results as unknown as { id: string; score: number }[][];
  const decode = field === 'f16' ? f16Values : bf16Values;
  const rows = [...live.values()].map((r) => ({ id: r.id, tag: r.tag, vector: decode(r[field]), row: r }));
  QUERIES.forEach((q, i) => {
    const want = bruteForce(metric, rows, decode(q[field]), k, 0, (x) => (opts.keep ? opts.keep(x.row) : true));
    const got = results[i]!;
    if (opts.minRecall !== undefined) {
      const r = recall(got.map((h) => String(h.id)), want.map((h) => h.id));
      expect({ what, q: i, recall: r, enough: r >= opts.minRecall }).toEqual({ what, q: i, recall: r, enough: true });
    } else {
      // Exact: rank by rank the reference's score, and each hit scores as the reference scores that row. Rows whose
      // distances differ by less than float32 rounding may swap places (the server ranks in float32, this in float64).
      const all = new Map(bruteForce(metric, rows, decode(q[field]), rows.length, 0, (x) => (opts.keep ? opts.keep(x.row) : true)).map((h) => [h.id, h.score]));
      const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-3 * Math.max(1, Math.abs(b));
      expect({ what, q: i, n: got.length, distinct: new Set(got.map((h) => String(h.id))).size }).toEqual({ what, q: i, n: want.length, distinct: want.length });
      got.forEach((h, j) => {
        expect({ what, q: i, rank: j, close: close(h.score, want[j]!.score) }).toEqual({ what, q: i, rank: j, close: true });
        const truth = all.get(String(h.id));
        expect({ what, q: i, id: String(h.id), close: truth !== undefined && close(h.score, truth) }).toEqual({ what, q: i, id: String(h.id), close: true });
      });
    }
  });
}

/** Query output as bytes: the SDK's transformers hand back what the server sent, untouched. */
const RAW = { [DataType.Float16Vector]: (b: Uint8Array) => Buffer.from(b), [DataType.BFloat16Vector]: (b: Uint8Array) => Buffer.from(b) };

async function expectStoredBytes(what: string, ids: number[]): Promise<void> {
  const q = await client.query({ collection_name: NAME, filter: `id in [${ids.join(', ')}]`, output_fields: ['id', 'f16', 'bf16'], consistency_level: STRONG, transformers: RAW } as never);
  expectOk(q.status, `query ${what}`);
  expect(q.data.length).toBe(ids.length);
  for (const r of q.data) {
    const want = live.get(Number(r.id))!;
    expect({ what, id: r.id, f16: Buffer.from(r.f16 as Uint8Array).toString('hex') }).toEqual({ what, id: r.id, f16: want.f16.toString('hex') });
    expect({ what, id: r.id, bf16: Buffer.from(r.bf16 as Uint8Array).toString('hex') }).toEqual({ what, id: r.id, bf16: want.bf16.toString('hex') });
  }
}

async function waitIndexed(field: Field): Promise<void> {
  await eventually(`index on ${field} built`, async () => {
    const res = await client.describeIndex({ collection_name: NAME, field_name: field });
    expectOk(res.status, 'describeIndex');
    const d = res.index_descriptions[0];
    return d && d.state === 'Finished' && Number(d.pending_index_rows ?? 0) === 0 && Number(d.indexed_rows) > 0 ? true : undefined;
  }, 120_000);
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

test('schema rules: dim required, float metrics only', async () => {
  const noDim = await expectFailure('Float16Vector without dim', () =>
    client.createCollection({
      collection_name: 'e2e_half_bad',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'h', data_type: DataType.Float16Vector },
      ],
    }),
  );
  expect(noDim.message).toMatch(/dim/);
  expectOk(
    await client.createCollection({
      collection_name: 'e2e_half_metric',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'h', data_type: DataType.BFloat16Vector, dim: 4 },
      ],
    }),
    'createCollection',
  );
  const d = await client.describeCollection({ collection_name: 'e2e_half_metric' });
  expect(d.schema.fields.find((f) => f.name === 'h')?.data_type).toBe('BFloat16Vector');
  const hamming = await expectFailure('HAMMING on a BFloat16Vector field', () =>
    client.createIndex({ collection_name: 'e2e_half_metric', field_name: 'h', index_type: 'FLAT', metric_type: 'HAMMING' }),
  );
  expect(hamming.message).toMatch(/metric_type "HAMMING" is not supported for BFloat16Vector field h; use L2, IP or COSINE/);
  expectOk(await client.dropCollection({ collection_name: 'e2e_half_metric' }), 'drop');
});

test('insert, search growing and sealed (IVF_FLAT, HNSW), filters, range and grouping, output bytes, restart', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'tag', data_type: DataType.Int32 },
        { name: 'f16', data_type: DataType.Float16Vector, dim: DIM },
        { name: 'bf16', data_type: DataType.BFloat16Vector, dim: DIM },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'f16', index_type: 'IVF_FLAT', metric_type: 'L2', params: { nlist: 8 } }), 'f16 index');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'bf16', index_type: 'AUTOINDEX', metric_type: 'COSINE' }), 'bf16 index');
  await client.loadCollectionSync({ collection_name: NAME });

  // Growing rows: searched exactly.
  await insert(makeRows(0, 1500, 1));
  await expectBruteForce('growing f16', 'f16', 'L2');
  await expectBruteForce('growing bf16', 'bf16', 'COSINE');
  await expectBruteForce('growing f16, filtered', 'f16', 'L2', { filter: 'tag < 30', keep: (r) => r.tag < 30 });
  await expectStoredBytes('growing', [0, 1, 2, 3, 777, 1499]);

  // Range search and grouping go through the same index interface as on FloatVector fields.
  const q0 = f16Values(QUERIES[0]!.f16);
  const f16Rows = [...live.values()].map((r) => ({ id: r.id, tag: r.tag, vector: f16Values(r.f16) }));
  const all = bruteForce('L2', f16Rows, q0, f16Rows.length);
  // Bounds halfway between neighbours' distances: the server's float32 distance (SIMD, fused multiply-add) may differ
  // from this process's in the last bits, so a bound equal to one row's distance would decide that row by rounding.
  const mid = (i: number): number => (all[i - 1]!.score + all[i]!.score) / 2;
  const [lo, hi] = [mid(5), mid(41)];
  const ranged = await client.search({ collection_name: NAME, anns_field: 'f16', data: [q0], limit: 20, params: { radius: hi, range_filter: lo }, consistency_level: STRONG } as never);
  expectOk(ranged.status, 'range search');
  expect((ranged.results as unknown as { id: string }[]).map((h) => String(h.id))).toEqual(all.filter((h) => h.score >= lo && h.score < hi).slice(0, 20).map((h) => h.id));
  const grouped = await client.search({ collection_name: NAME, anns_field: 'f16', data: [q0], limit: 5, group_by_field: 'tag', output_fields: ['tag'], consistency_level: STRONG } as never);
  expectOk(grouped.status, 'grouping search');
  const bestPerTag = new Map<number, string>();
  for (const h of all) {
    const tag = live.get(Number(h.id))!.tag;
    if (!bestPerTag.has(tag)) bestPerTag.set(tag, h.id);
  }
  expect((grouped.results as unknown as { id: string }[]).map((h) => String(h.id))).toEqual([...bestPerTag.values()].slice(0, 5));

  // Sealed and indexed; more growing rows beside them.
  await flushAndWait(client, NAME);
  await waitIndexed('f16');
  await waitIndexed('bf16');
  await insert(makeRows(5000, 200, 2));
  await expectBruteForce('sealed IVF_FLAT (all lists probed) + growing', 'f16', 'L2', { params: { nprobe: 8 } });
  await expectBruteForce('sealed IVF_FLAT, filtered', 'f16', 'L2', { params: { nprobe: 8 }, filter: 'tag % 3 == 0', keep: (r) => r.tag % 3 === 0 });
  await expectBruteForce('sealed HNSW (AUTOINDEX) + growing', 'bf16', 'COSINE', { params: { ef: 200 }, minRecall: 0.9 });
  await expectBruteForce('sealed HNSW, filtered', 'bf16', 'COSINE', { params: { ef: 200 }, filter: 'tag >= 50', keep: (r) => r.tag >= 50, minRecall: 0.9 });
  await expectStoredBytes('sealed', [0, 1, 2, 3, 777, 1499, 5000, 5001]);

  // Vectors in search output: the SDK decodes the bytes to the values inserted.
  const out = await client.search({ collection_name: NAME, anns_field: 'f16', data: [f16Values(QUERIES[0]!.f16)], limit: 3, output_fields: ['f16', 'bf16'], consistency_level: STRONG, params: { nprobe: 8 } } as never);
  expectOk(out.status, 'search with vector output');
  for (const h of out.results as unknown as Record<string, unknown>[]) {
    const r = live.get(Number(h.id))!;
    expect(h.f16).toEqual(f16Values(r.f16));
    expect(h.bf16).toEqual(bf16Values(r.bf16));
  }

  // Rows only in the WAL at the crash come back by replay; sealed ones are reloaded with their indexes.
  await insert(makeRows(8000, 100, 3));
  await client.closeConnection();
  await server.kill9();
  await server.restart();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await eventually('loaded again after the restart', async () => {
    const st = await client.getLoadState({ collection_name: NAME });
    return st.state === LoadState.LoadStateLoaded ? true : undefined;
  }, 120_000);
  await eventually('all rows served after the restart', async () => {
    const res = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    return Number(res.data[0]?.['count(*)']) === live.size ? true : undefined;
  }, 60_000);
  await expectBruteForce('after restart f16', 'f16', 'L2', { params: { nprobe: 8 } });
  await expectBruteForce('after restart bf16', 'bf16', 'COSINE', { params: { ef: 200 }, minRecall: 0.9 });
  await expectStoredBytes('after restart', [0, 1, 5000, 8000, 8099]);
});

test('bad half-precision input is refused naming the field', async () => {
  const short = await expectFailure('a row of the wrong length', () =>
    client.insert({ collection_name: NAME, data: [{ id: 9001, tag: 1, f16: Buffer.alloc(2 * DIM), bf16: Buffer.alloc(2 * DIM - 2) }] }),
  );
  expect(short.message).toMatch(/field "bf16"/);
  const nan = Buffer.alloc(2 * DIM);
  nan.writeUInt16LE(0x7e00, 4); // float16 NaN
  const res = await expectFailure('a NaN', () => client.insert({ collection_name: NAME, data: [{ id: 9002, tag: 1, f16: nan, bf16: Buffer.alloc(2 * DIM) }] }));
  expect(res.message).toMatch(/field "f16": row 0 holds NaN or Infinity/);
  const wrongDim = await expectFailure('a query of the wrong dim', () =>
    client.search({ collection_name: NAME, anns_field: 'f16', data: [[1, 2, 3]], limit: 3, consistency_level: STRONG } as never),
  );
  expect(wrongDim.message).toMatch(/query vector 0 has dimension 3, but field f16 has dim 16/);
});

test('Int8Vector: HNSW only, searched growing (exact) and sealed, values returned as inserted', async () => {
  const name = 'e2e_int8_vectors';
  const dim = 16;
  expectOk(
    await client.createCollection({
      collection_name: name,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'v', data_type: DataType.Int8Vector, dim },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  const ivf = await expectFailure('IVF_FLAT on Int8Vector', () => client.createIndex({ collection_name: name, field_name: 'v', index_type: 'IVF_FLAT', metric_type: 'L2' }));
  expect(ivf.message).toMatch(/index_type "IVF_FLAT" is not supported for Int8Vector field v; use HNSW or AUTOINDEX/);
  expectOk(await client.createIndex({ collection_name: name, field_name: 'v', index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 200 } }), 'HNSW');
  await client.loadCollectionSync({ collection_name: name });
  const vecs = clusteredVectors(1200, dim, 5).map((v) => v.map((x) => Math.max(-128, Math.min(127, Math.round(x * 60)))));
  const res = await client.insert({ collection_name: name, data: vecs.map((v, id) => ({ id, v })) });
  expectOk(res.status, 'insert');
  const rows = vecs.map((vector, id) => ({ id, vector }));
  const queries = [vecs[3]!, vecs[500]!, vecs[999]!].map((v) => v.map((x, i) => (i % 3 === 0 ? Math.min(127, x + 1) : x)));
  const check = async (what: string, minRecall?: number): Promise<void> => {
    const r = await client.search({ collection_name: name, anns_field: 'v', data: queries, limit: 10, params: { ef: 200 }, consistency_level: STRONG } as never);
    expectOk(r.status, what);
    // Squared distances between int8 vectors are whole numbers and rows tie often: a hit is right when its true
    // distance is the one reported and within the k-th best, and the distances are the brute force's, in order.
    (r.results as unknown as { id: string; score: number }[][]).forEach((hits, i) => {
      const want = bruteForce('L2', rows, queries[i]!, 10);
      const kth = want[want.length - 1]!.score;
      const good = hits.filter((h) => score('L2', queries[i]!, vecs[Number(h.id)]!) === h.score && h.score <= kth);
      if (minRecall === undefined) {
        expect({ what, i, scores: hits.map((h) => h.score) }).toEqual({ what, i, scores: want.map((w) => w.score) });
        expect({ what, i, good: good.length }).toEqual({ what, i, good: 10 });
      } else {
        expect(good.length / 10).toBeGreaterThanOrEqual(minRecall);
      }
    });
  };
  await check('growing Int8Vector');
  const flush = await client.flush({ collection_names: [name] });
  expectOk(flush.status, 'flush');
  await eventually('Int8Vector index built', async () => {
    const d = (await client.describeIndex({ collection_name: name, field_name: 'v' })).index_descriptions[0];
    return d && d.state === 'Finished' && Number(d.pending_index_rows ?? 0) === 0 && Number(d.indexed_rows) > 0 ? true : undefined;
  }, 120_000);
  await check('sealed Int8Vector HNSW', 0.9);
  const q = await client.query({ collection_name: name, filter: 'id in [0, 7, 1199]', output_fields: ['v'], consistency_level: STRONG });
  expectOk(q.status, 'query');
  // The SDK hands back the stored bytes as unsigned numbers (Array.from over the bytes): read them as int8.
  for (const r of q.data) expect(Array.from(Int8Array.from(r.v as number[]))).toEqual(vecs[Number(r.id)]);
  const wrong = await expectFailure('a query of the wrong dim', () =>
    client.search({ collection_name: name, anns_field: 'v', data: [[1, 2, 3]], limit: 3, consistency_level: STRONG } as never),
  );
  expect(wrong.message).toMatch(/query vector 0 has dimension 3, but field v has dim 16/);
  expectOk(await client.dropCollection({ collection_name: name }), 'drop');
});
