/**
 * Crash recovery of Kite standalone through the Node SDK: rows acknowledged before a kill -9 (flushed ones and ones
 * only in the WAL, plus acknowledged deletes) are all there after a restart on the same data directory, the
 * collection is loaded again without being asked, and search works.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, DataType, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { chunks, clusteredVectors, eventually, expectOk } from './helpers';

jest.setTimeout(180_000);

const STRONG = ConsistencyLevelEnum.Strong;
const NAME = 'e2e_restart';
const DIM = 32;

let server: Standalone;
let client: MilvusClient;

function connect(): MilvusClient {
  return new MilvusClient({ address: server.address, timeout: 60_000 });
}

beforeAll(async () => {
  server = await startStandalone();
  client = connect();
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

interface Row {
  id: number;
  n: number;
  vector: number[];
}

/** Acknowledged state: what the server said it holds. */
const acked = new Map<number, Row>();

async function insertAcked(rows: Row[], batch: number): Promise<void> {
  for (const part of chunks(rows, batch)) {
    const res = await client.insert({ collection_name: NAME, data: part.map((r) => ({ ...r })) });
    expectOk(res.status, 'insert');
    const ids = ((res.IDs as { int_id?: { data: string[] } }).int_id?.data ?? []).map(Number);
    expect(ids).toEqual(part.map((r) => r.id));
    for (const r of part) acked.set(r.id, r);
  }
}

async function countAll(): Promise<number> {
  const res = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
  expectOk(res.status, 'count(*)');
  return Number(res.data[0]?.['count(*)']);
}

/** Every id the server returns for `id >= 0`, read in pages by id range so no limit caps it. */
async function allIds(): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  const maxId = Math.max(...acked.keys(), 0);
  for (let lo = 0; lo <= maxId; lo += 1000) {
    const res = await client.query({
      collection_name: NAME,
      filter: `id >= ${lo} and id < ${lo + 1000}`,
      output_fields: ['id', 'n'],
      consistency_level: STRONG,
    });
    expectOk(res.status, `query ids in [${lo}, ${lo + 1000})`);
    for (const r of res.data) found.set(Number(r.id), Number(r.n));
  }
  return found;
}

test('acknowledged rows survive kill -9 and the collection is loaded again', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'n', data_type: DataType.Int32 },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(
    await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 64 } }),
    'createIndex',
  );
  await client.loadCollectionSync({ collection_name: NAME });

  const vectors = clusteredVectors(2200, DIM, 4242);
  const rows: Row[] = vectors.map((vector, i) => ({ id: i, n: i * 3, vector }));
  // Flushed: 1500 rows, then Flush until the segments are persisted.
  await insertAcked(rows.slice(0, 1500), 500);
  const flush = await client.flush({ collection_names: [NAME] });
  expectOk(flush.status, 'flush');
  const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
  await eventually('flushed', async () => {
    const st = await client.getFlushState({ segmentIDs: segIDs as unknown as number[] });
    expectOk(st.status, 'getFlushState');
    return st.flushed ? true : undefined;
  });
  // Only in the WAL: 700 rows and some deletes, acknowledged right before the crash.
  await insertAcked(rows.slice(1500), 350);
  const deleted = [3, 4, 5, 700, 1499, 1500, 1501, 2199];
  const del = await client.delete({ collection_name: NAME, ids: deleted });
  expectOk(del.status, 'delete');
  for (const id of deleted) acked.delete(id);
  expect(await countAll()).toBe(acked.size);

  await client.closeConnection();
  await server.kill9();
  expect(server.running).toBe(false);
  await server.restart();
  client = connect();
  await client.connectPromise;

  // Loaded again without a LoadCollection call.
  await eventually(
    'collection loaded again after the restart',
    async () => {
      const st = await client.getLoadState({ collection_name: NAME });
      expectOk(st.status, 'getLoadState');
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    },
    90_000,
  );

  expect(await countAll()).toBe(acked.size);
  const found = await allIds();
  const missing = [...acked.keys()].filter((id) => !found.has(id));
  const extra = [...found.keys()].filter((id) => !acked.has(id));
  expect({ missing: missing.slice(0, 20), extra: extra.slice(0, 20) }).toEqual({ missing: [], extra: [] });
  for (const [id, n] of found) expect(n).toBe(acked.get(id)!.n);

  // Search finds flushed and WAL-only rows by their own vectors, and never a deleted one.
  const probes = [0, 750, 1498, 1502, 1800, 2198, 700, 1500];
  const res = await client.search({
    collection_name: NAME,
    data: probes.map((id) => rows[id]!.vector),
    limit: 3,
    output_fields: ['id'],
    params: { ef: 64 },
    consistency_level: STRONG,
  });
  expectOk(res.status, 'search after restart');
  const results = res.results as unknown as Record<string, unknown>[][];
  probes.forEach((id, i) => {
    const hits = results[i]!.map((h) => Number(h.id));
    for (const h of hits) expect(acked.has(h)).toBe(true);
    if (acked.has(id)) {
      expect(hits[0]).toBe(id);
      expect(results[i]![0]!.score as number).toBeLessThan(1e-4);
    } else {
      expect(hits).not.toContain(id);
    }
  });

  // And it takes writes again.
  await insertAcked([{ id: 5000, n: 15000, vector: rows[10]!.vector }], 1);
  expect(await countAll()).toBe(acked.size);
});
