/**
 * The SDK scenario the cluster tests share: a collection with a few scalar fields and a 32-d vector, a model of
 * what the server should hold, and the SDK calls with their checks (brute-force truth for search, the model for
 * query and count). Every function takes the client, so the same steps run against any proxy — a cluster's, or
 * standalone's.
 */
import { ConsistencyLevelEnum, DataType, LoadState, type MilvusClient } from '@zilliz/milvus2-sdk-node';
import { bruteForce, chunks, clusteredVectors, eventually, expectOk, recall, rng } from '../standalone/helpers';

export const STRONG = ConsistencyLevelEnum.Strong;
export const DIM = 32;
export const TAGS = ['a', 'b', 'c', 'd'] as const;

export interface Row {
  id: number;
  n: number;
  tag: string;
  f: number;
  vector: number[];
}

/** `count` rows with ids from `startId`; the same arguments give the same rows. */
export function makeRows(count: number, startId: number, seed: number, dim = DIM): Row[] {
  const next = rng(seed);
  return clusteredVectors(count, dim, seed + 1).map((vector, i) => {
    const id = startId + i;
    return { id, n: id % 1000, tag: TAGS[id % TAGS.length]!, f: Math.fround(next()), vector };
  });
}

export function fields(dim = DIM) {
  return [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
    { name: 'n', data_type: DataType.Int32 },
    { name: 'tag', data_type: DataType.VarChar, max_length: 8 },
    { name: 'f', data_type: DataType.Float },
    { name: 'vector', data_type: DataType.FloatVector, dim },
  ];
}

/** The rows the server must hold, kept in step with every acknowledged write. */
export class Model {
  readonly rows = new Map<number, Row>();

  apply(rows: Row[]): void {
    for (const r of rows) this.rows.set(r.id, r);
  }

  remove(ids: number[]): void {
    for (const id of ids) this.rows.delete(id);
  }

  values(): Row[] {
    return [...this.rows.values()];
  }

  where(pred: (r: Row) => boolean): Row[] {
    return this.values().filter(pred);
  }
}

export async function createCollection(client: MilvusClient, name: string, shards: number): Promise<string> {
  expectOk(
    await client.createCollection({ collection_name: name, fields: fields(), shards_num: shards, consistency_level: 'Strong' }),
    `createCollection(${name}, shards_num ${shards})`,
  );
  const desc = await client.describeCollection({ collection_name: name });
  expectOk(desc.status, 'describeCollection');
  return String(desc.collectionID);
}

/** Inserts in batches; each acknowledged batch is added to the model. Returns the acknowledged ids. */
export async function insertRows(client: MilvusClient, name: string, model: Model, rows: Row[], batch: number): Promise<number[]> {
  const acked: number[] = [];
  for (const part of chunks(rows, batch)) {
    const res = await client.insert({ collection_name: name, data: part.map((r) => ({ ...r })) });
    expectOk(res.status, `insert of ${part.length} rows into ${name}`);
    const ids = ((res.IDs as { int_id?: { data: (string | number)[] } }).int_id?.data ?? []).map(Number);
    if (ids.join(',') !== part.map((r) => r.id).join(',')) {
      throw new Error(`insert acknowledged ids ${ids.slice(0, 5).join(',')}… instead of the rows' ids ${part[0]?.id}…`);
    }
    model.apply(part);
    acked.push(...ids);
  }
  return acked;
}

/** Flush, then wait until GetFlushState says every returned segment is flushed. Returns the segment ids. */
export async function flushAndWait(client: MilvusClient, name: string, timeoutMs = 90_000): Promise<string[]> {
  const flush = await client.flush({ collection_names: [name] });
  expectOk(flush.status, `flush(${name})`);
  const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data.map(String));
  await eventually(
    `flush of ${name} done`,
    async () => {
      const st = await client.getFlushState({ segmentIDs: segIDs as unknown as number[] });
      expectOk(st.status, 'getFlushState');
      return st.flushed ? true : undefined;
    },
    timeoutMs,
  );
  return segIDs;
}

export const HNSW = { index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 64 } } as const;

export async function createHnswIndex(client: MilvusClient, name: string): Promise<void> {
  expectOk(
    await client.createIndex({ collection_name: name, field_name: 'vector', index_name: 'vec_hnsw', ...HNSW }),
    `createIndex(${name}, HNSW)`,
  );
}

export async function loadAndWait(client: MilvusClient, name: string, replicaNumber = 1, timeoutMs = 120_000): Promise<void> {
  expectOk(await client.loadCollectionAsync({ collection_name: name, replica_number: replicaNumber }), `loadCollection(${name}, replicas ${replicaNumber})`);
  await waitLoaded(client, name, timeoutMs);
}

export async function waitLoaded(client: MilvusClient, name: string, timeoutMs = 120_000): Promise<void> {
  await eventually(
    `${name} loaded`,
    async () => {
      const st = await client.getLoadState({ collection_name: name });
      expectOk(st.status, 'getLoadState');
      return st.state === LoadState.LoadStateLoaded ? true : undefined;
    },
    timeoutMs,
  );
}

export type Hit = { id: string; score: number } & Record<string, unknown>;

/** Search with Strong consistency; one list of hits per query vector. */
export async function search(
  client: MilvusClient,
  name: string,
  data: number[][],
  limit: number,
  opts: { filter?: string; ef?: number; output_fields?: string[] } = {},
): Promise<Hit[][]> {
  const res = await client.search({
    collection_name: name,
    data,
    anns_field: 'vector',
    limit,
    filter: opts.filter,
    output_fields: opts.output_fields ?? ['id', 'n', 'tag'],
    params: { ef: opts.ef ?? 64 },
    consistency_level: STRONG,
  });
  expectOk(res.status, `search(${name}, nq ${data.length}, limit ${limit}, filter ${opts.filter ?? '-'})`);
  const results = data.length === 1 ? [res.results as unknown as Hit[]] : (res.results as unknown as Hit[][]);
  return results.map((hits) => hits.map((h) => ({ ...h, id: String(h.id) })));
}

/** Mean recall@k of the server's hits against the exact top k over the model (rows passing `keep`). */
export function meanRecall(model: Model, queries: number[][], results: Hit[][], k: number, keep?: (r: Row) => boolean): number {
  let sum = 0;
  queries.forEach((q, i) => {
    const truth = bruteForce('L2', model.values(), q, k, 0, keep).map((t) => t.id);
    sum += recall((results[i] ?? []).map((h) => h.id), truth);
  });
  return sum / queries.length;
}

/** Query with Strong consistency; all matching rows (the model keeps results below Milvus's 16384 cap). */
export async function query(client: MilvusClient, name: string, filter: string, output = ['id', 'n', 'tag', 'f']): Promise<Record<string, unknown>[]> {
  const res = await client.query({ collection_name: name, filter, output_fields: output, consistency_level: STRONG });
  expectOk(res.status, `query(${name}, ${filter})`);
  return res.data;
}

export async function count(client: MilvusClient, name: string, filter = ''): Promise<number> {
  const res = await client.query({ collection_name: name, filter, output_fields: ['count(*)'], consistency_level: STRONG });
  expectOk(res.status, `count(*) of ${name} where ${filter || 'true'}`);
  return Number(res.data[0]?.['count(*)']);
}

/** Every id the server holds, read by id range so no result cap applies. */
export async function allIds(client: MilvusClient, name: string, maxId: number, step = 2000): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  for (let lo = 0; lo <= maxId; lo += step) {
    for (const r of await query(client, name, `id >= ${lo} and id < ${lo + step}`, ['id', 'n'])) found.set(Number(r.id), Number(r.n));
  }
  return found;
}

/** Ids the model and the server disagree on: missing from the server, or returned but not in the model. */
export function diffIds(model: Model, found: Map<number, number>): { missing: number[]; extra: number[]; wrongN: number[] } {
  const missing = [...model.rows.keys()].filter((id) => !found.has(id));
  const extra = [...found.keys()].filter((id) => !model.rows.has(id));
  const wrongN = [...found.entries()].filter(([id, n]) => model.rows.has(id) && model.rows.get(id)!.n !== n).map(([id]) => id);
  return { missing: missing.slice(0, 20), extra: extra.slice(0, 20), wrongN: wrongN.slice(0, 20) };
}
