/**
 * BinaryVector end to end through the Node SDK on Kite standalone: rows inserted as byte arrays, searched with
 * HAMMING (BIN_IVF_FLAT) and JACCARD (AUTOINDEX) on growing rows and on sealed rows, with filters, range search and
 * grouping, vectors returned in output fields, after a kill -9 and restart, and bad input refused naming the field.
 * Expected answers are a brute force over the bits computed here; ties (Hamming distances are whole numbers) are
 * broken by the smaller primary key, as every level of Kite's merge does.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, flushAndWait, expectFailure, expectOk, rng } from './helpers';

jest.setTimeout(300_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_binary_vectors';
const DIM = 64;
const BYTES = DIM / 8;

let server: Standalone;
let client: MilvusClient;

interface Row {
  id: number;
  tag: number;
  bin: number[];
  jac: number[];
}

/** Codes around a few centres (each bit flipped with probability 0.15), as byte arrays. */
function makeRows(from: number, n: number, seed: number): Row[] {
  const next = rng(seed);
  const centres = Array.from({ length: 6 }, () => Array.from({ length: BYTES }, () => Math.floor(next() * 256)));
  const noisy = (): number[] => centres[Math.floor(next() * centres.length)]!.map((b) => {
    let v = b;
    for (let bit = 0; bit < 8; bit++) if (next() < 0.15) v ^= 1 << bit;
    return v;
  });
  return Array.from({ length: n }, (_, i) => ({ id: from + i, tag: (from + i) % 100, bin: noisy(), jac: noisy() }));
}

const popcount = (x: number): number => {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
};

type Metric = 'HAMMING' | 'JACCARD';

function distance(metric: Metric, a: number[], b: number[]): number {
  if (metric === 'HAMMING') return a.reduce((s, x, i) => s + popcount(x ^ b[i]!), 0);
  let inter = 0;
  let union = 0;
  a.forEach((x, i) => {
    inter += popcount(x & b[i]!);
    union += popcount(x | b[i]!);
  });
  return union === 0 ? 0 : Math.fround(1 - inter / union);
}

const live = new Map<number, Row>();
const QUERIES = makeRows(0, 6, 77);
type Field = 'bin' | 'jac';
const METRIC: Record<Field, Metric> = { bin: 'HAMMING', jac: 'JACCARD' };

function bruteForce(field: Field, q: number[], keep: (r: Row) => boolean = () => true): { id: number; d: number }[] {
  return [...live.values()].filter(keep).map((r) => ({ id: r.id, d: distance(METRIC[field], q, r[field]) })).sort((a, b) => a.d - b.d || a.id - b.id);
}

async function insert(rows: Row[]): Promise<void> {
  const res = await client.insert({ collection_name: NAME, data: rows.map((r) => ({ id: r.id, tag: r.tag, bin: r.bin, jac: r.jac })) });
  expectOk(res.status, 'insert');
  expect(Number(res.insert_cnt)).toBe(rows.length);
  for (const r of rows) live.set(r.id, r);
}

async function expectBruteForce(what: string, field: Field, opts: { k?: number; filter?: string; keep?: (r: Row) => boolean; params?: Record<string, unknown> } = {}): Promise<void> {
  const k = opts.k ?? 10;
  const res = await client.search({
    collection_name: NAME, anns_field: field, data: QUERIES.map((q) => q[field]), limit: k, output_fields: ['id'], consistency_level: STRONG,
    ...(opts.filter ? { filter: opts.filter } : {}), ...(opts.params ? { params: opts.params } : {}),
  } as never);
  expectOk(res.status, `search ${what}`);
  const results = res.results as unknown as { id: string; score: number }[][];
  QUERIES.forEach((q, i) => {
    const want = bruteForce(field, q[field], opts.keep).slice(0, k);
    const got = results[i]!;
    expect({ what, q: i, hits: got.map((h) => [Number(h.id), h.score]) }).toEqual({ what, q: i, hits: want.map((w) => [w.id, w.d]) });
  });
}

async function waitIndexed(field: Field): Promise<void> {
  await eventually(`index on ${field} built`, async () => {
    const res = await client.describeIndex({ collection_name: NAME, field_name: field });
    expectOk(res.status, 'describeIndex');
    const d = res.index_descriptions[0];
    return d && d.state === 'Finished' && Number(d.pending_index_rows ?? 0) === 0 && Number(d.indexed_rows) > 0 ? true : undefined;
  }, 120_000);
}

async function expectStored(what: string, ids: number[]): Promise<void> {
  const q = await client.query({ collection_name: NAME, filter: `id in [${ids.join(', ')}]`, output_fields: ['id', 'bin', 'jac'], consistency_level: STRONG });
  expectOk(q.status, `query ${what}`);
  expect(q.data.length).toBe(ids.length);
  for (const r of q.data) {
    const want = live.get(Number(r.id))!;
    expect({ what, id: r.id, bin: Array.from(r.bin as number[]), jac: Array.from(r.jac as number[]) }).toEqual({ what, id: r.id, bin: want.bin, jac: want.jac });
  }
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

test('schema and index rules: dim a multiple of 8, binary metrics and index types only', async () => {
  const bad = await expectFailure('dim 12', () =>
    client.createCollection({ collection_name: 'e2e_bin_bad', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'b', data_type: DataType.BinaryVector, dim: 12 }] }),
  );
  // The Node SDK refuses it before sending; the server's own answer (`field "b": invalid dimension: 12. should be
  // multiple of 8.`) is checked by the Python test.
  expect(bad.message).toMatch(/multiples? of 8/);
  expectOk(await client.createCollection({ collection_name: 'e2e_bin_rules', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'b', data_type: DataType.BinaryVector, dim: 16 }] }), 'create');
  const l2 = await expectFailure('L2 on binary', () => client.createIndex({ collection_name: 'e2e_bin_rules', field_name: 'b', index_type: 'BIN_FLAT', metric_type: 'L2' }));
  expect(l2.message).toMatch(/metric type L2 not found or not supported for BinaryVector field b, supported: \[HAMMING JACCARD\]/);
  const hnsw = await expectFailure('HNSW on binary', () => client.createIndex({ collection_name: 'e2e_bin_rules', field_name: 'b', index_type: 'HNSW', metric_type: 'HAMMING' }));
  expect(hnsw.message).toMatch(/index_type "HNSW" is not supported for BinaryVector field b; use one of BIN_FLAT, BIN_IVF_FLAT, AUTOINDEX/);
  const onFloat = await expectFailure('BIN_FLAT on a float field', async () => {
    expectOk(await client.createCollection({ collection_name: 'e2e_bin_float', fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'v', data_type: DataType.FloatVector, dim: 4 }] }), 'create float');
    return client.createIndex({ collection_name: 'e2e_bin_float', field_name: 'v', index_type: 'BIN_FLAT', metric_type: 'L2' });
  });
  expect(onFloat.message).toMatch(/index_type "BIN_FLAT" is not supported/);
  expectOk(await client.createIndex({ collection_name: 'e2e_bin_rules', field_name: 'b', index_type: 'AUTOINDEX' }), 'AUTOINDEX');
  const d = await client.describeIndex({ collection_name: 'e2e_bin_rules', field_name: 'b' });
  expect(d.index_descriptions[0]!.params.find((p) => p.key === 'metric_type')?.value).toBe('HAMMING');
  for (const c of ['e2e_bin_rules', 'e2e_bin_float']) expectOk(await client.dropCollection({ collection_name: c }), 'drop');
});

test('insert, search growing and sealed (HAMMING BIN_IVF_FLAT, JACCARD AUTOINDEX), filters, range, grouping, output, restart', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'tag', data_type: DataType.Int32 },
        { name: 'bin', data_type: DataType.BinaryVector, dim: DIM },
        { name: 'jac', data_type: DataType.BinaryVector, dim: DIM },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'bin', index_type: 'BIN_IVF_FLAT', metric_type: 'HAMMING', params: { nlist: 16 } }), 'bin index');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'jac', index_type: 'AUTOINDEX', metric_type: 'JACCARD' }), 'jac index');
  await client.loadCollectionSync({ collection_name: NAME });

  await insert(makeRows(0, 1500, 1));
  await expectBruteForce('growing HAMMING', 'bin');
  await expectBruteForce('growing JACCARD', 'jac');
  await expectBruteForce('growing HAMMING, filtered', 'bin', { filter: 'tag < 30', keep: (r) => r.tag < 30 });
  await expectStored('growing', [0, 1, 777, 1499]);

  await flushAndWait(client, NAME);
  await waitIndexed('bin');
  await waitIndexed('jac');
  await insert(makeRows(5000, 200, 2));
  await expectBruteForce('sealed BIN_IVF_FLAT (all lists probed) + growing', 'bin', { params: { nprobe: 16 } });
  await expectBruteForce('sealed BIN_IVF_FLAT, filtered', 'bin', { params: { nprobe: 16 }, filter: 'tag % 3 == 0', keep: (r) => r.tag % 3 === 0 });
  await expectBruteForce('sealed JACCARD + growing', 'jac');
  await expectStored('sealed', [0, 1, 777, 1499, 5000, 5199]);

  // Range search: radius is the upper bound of the distance, range_filter the lower.
  const q0 = QUERIES[0]!.bin;
  const all = bruteForce('bin', q0);
  const [lo, hi] = [all[5]!.d, all[60]!.d];
  const ranged = await client.search({ collection_name: NAME, anns_field: 'bin', data: [q0], limit: 20, params: { nprobe: 16, radius: hi, range_filter: lo }, consistency_level: STRONG } as never);
  expectOk(ranged.status, 'range search');
  expect((ranged.results as unknown as { id: string; score: number }[]).map((h) => [Number(h.id), h.score])).toEqual(all.filter((h) => h.d >= lo && h.d < hi).slice(0, 20).map((h) => [h.id, h.d]));
  // Grouping: the best row of each tag.
  const grouped = await client.search({ collection_name: NAME, anns_field: 'bin', data: [q0], limit: 5, group_by_field: 'tag', params: { nprobe: 16 }, consistency_level: STRONG } as never);
  expectOk(grouped.status, 'grouping search');
  const best = new Map<number, number>();
  for (const h of all) if (!best.has(live.get(h.id)!.tag)) best.set(live.get(h.id)!.tag, h.id);
  expect((grouped.results as unknown as { id: string }[]).map((h) => Number(h.id))).toEqual([...best.values()].slice(0, 5));

  // kill -9 with rows only in the WAL; sealed rows come back with their index.
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
  await expectBruteForce('after restart HAMMING', 'bin', { params: { nprobe: 16 } });
  await expectBruteForce('after restart JACCARD', 'jac');
  await expectStored('after restart', [0, 5000, 8000, 8099]);
});

test('bad binary input is refused naming the field', async () => {
  const short = await expectFailure('a query of the wrong size', () =>
    client.search({ collection_name: NAME, anns_field: 'bin', data: [[1, 2, 3]], limit: 3, consistency_level: STRONG } as never),
  );
  expect(short.message).toMatch(/query vector 0 has dimension 24, but field bin has dim 64/);
  const metric = await expectFailure('a float metric', () =>
    client.search({ collection_name: NAME, anns_field: 'bin', data: [QUERIES[0]!.bin], limit: 3, metric_type: 'L2', consistency_level: STRONG } as never),
  );
  expect(metric.message).toMatch(/metric_type L2 is not supported for BinaryVector field bin: use HAMMING, JACCARD/);
  const nprobe = await expectFailure('nprobe 0', () =>
    client.search({ collection_name: NAME, anns_field: 'bin', data: [QUERIES[0]!.bin], limit: 3, params: { nprobe: 0 }, consistency_level: STRONG } as never),
  );
  expect(nprobe.message).toMatch(/search params for the BIN_IVF_FLAT index on bin: nprobe must be .*\[1, 65536\]/);
});
