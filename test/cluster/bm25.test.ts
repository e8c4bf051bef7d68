/**
 * BM25 and sparse search in cluster mode: two query nodes, a collection of two shards whose sealed segments and
 * delegators are spread over both nodes. BM25 scores must use N, avgdl and df of the whole collection (every shard,
 * every node, growing and sealed rows, deletes applied), so each hit scores as the reference computed over all live
 * documents; a plain sparse field searched with IP gives the brute-force answer.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, FunctionType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { bm25Reference, expectSameRanking, standardTerms } from '../standalone/bm25-reference';
import { eventually, expectOk, rng, waitIndexBuilt } from '../standalone/helpers';
import { getDistribution } from './inspect';
import { KiteCluster } from './launcher';
import { flushAndWait, loadAndWait, STRONG } from './scenario';

jest.setTimeout(300_000);

const NAME = 'cluster_bm25';
const WORDS = ['vector', 'database', 'search', 'sparse', 'dense', 'hybrid', 'kite', 'milvus', 'index', 'query', 'text', 'score', 'token', 'shard'];

let cluster: KiteCluster;
let client: MilvusClient;

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '40' } });
  client = new MilvusClient({ address: cluster.proxyAddresses[0]!, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

test('BM25 scores and sparse IP search are exact across shards, segments and query nodes', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      shards_num: 2,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'text', data_type: DataType.VarChar, max_length: 1000, enable_analyzer: true },
        { name: 'bm25', data_type: DataType.SparseFloatVector },
        { name: 'sv', data_type: DataType.SparseFloatVector },
      ],
      functions: [{ name: 'text_bm25', type: FunctionType.BM25, input_field_names: ['text'], output_field_names: ['bm25'], params: {} }],
      consistency_level: 'Strong',
    }),
    'createCollection',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'bm25', index_type: 'SPARSE_WAND', metric_type: 'BM25', params: { bm25_k1: 1.4, bm25_b: 0.8 } }), 'bm25 index');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'sv', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'IP' }), 'sv index');

  const next = rng(5);
  const docs = new Map<number, { text: string; sv: Map<number, number> }>();
  const make = (from: number, n: number): { id: number; text: string; sv: Record<string, number> }[] =>
    Array.from({ length: n }, (_, i) => {
      const id = from + i;
      const text = Array.from({ length: 2 + Math.floor(next() * 10) }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ');
      const sv = new Map<number, number>();
      while (sv.size < 1 + Math.floor(next() * 6)) sv.set(Math.floor(next() * 50), Math.fround(0.1 + next()));
      docs.set(id, { text, sv });
      return { id, text, sv: Object.fromEntries([...sv].map(([k, v]) => [String(k), v])) };
    });
  // Sealed: 200 rows in several segments per shard; then growing rows and deletes on both.
  expectOk((await client.insert({ collection_name: NAME, data: make(0, 200) })).status, 'insert');
  await flushAndWait(client, NAME);
  await waitIndexBuilt(client, NAME, 'bm25', 120_000);
  await waitIndexBuilt(client, NAME, 'sv', 120_000);
  await loadAndWait(client, NAME);
  expectOk((await client.insert({ collection_name: NAME, data: make(1000, 60) })).status, 'insert growing');
  const gone = [...docs.keys()].filter((id) => id % 9 === 0);
  expectOk((await client.delete({ collection_name: NAME, ids: gone })).status, 'delete');
  for (const id of gone) docs.delete(id);

  // The data is spread: both query nodes serve part of the collection.
  await eventually('both query nodes hold sealed segments or a delegator', async () => {
    const busy = await Promise.all(cluster.components('querynode').map(async (q) => {
      const d = await getDistribution(`127.0.0.1:${q.grpc}`);
      return d.segments.length + d.channels.length > 0;
    }));
    return busy.every(Boolean) ? true : undefined;
  }, 60_000);

  const queries = ['vector search', 'kite kite milvus shard', 'hybrid sparse dense index token', 'query'];
  const res = await client.search({ collection_name: NAME, anns_field: 'bm25', data: queries, limit: 10, output_fields: ['id'], consistency_level: STRONG } as never);
  expectOk(res.status, 'bm25 search');
  const tokenized = new Map([...docs].map(([id, d]) => [id, standardTerms(d.text)]));
  (res.results as unknown as Record<string, unknown>[][]).forEach((hits, i) => {
    const got = hits.map((h) => ({ id: Number(h.id), score: Number(h.score) }));
    const q = standardTerms(queries[i]!);
    expectSameRanking(queries[i]!, got, bm25Reference(tokenized, q, 1.4, 0.8, 10), bm25Reference(tokenized, q, 1.4, 0.8, tokenized.size));
  });

  const probe = new Map([[3, 1], [17, 0.5], [42, 2]]);
  const sres = await client.search({ collection_name: NAME, anns_field: 'sv', data: [{ 3: 1, 17: 0.5, 42: 2 }], limit: 15, output_fields: ['id'], consistency_level: STRONG } as never);
  expectOk(sres.status, 'sparse search');
  const want: { id: number; score: number }[] = [];
  for (const [id, d] of docs) {
    let s = 0;
    let hit = false;
    for (const [k, v] of probe) {
      const w = d.sv.get(k);
      if (w !== undefined) {
        hit = true;
        s += v * w;
      }
    }
    if (hit) want.push({ id, score: s });
  }
  want.sort((a, b) => b.score - a.score || a.id - b.id);
  const got = (sres.results as unknown as Record<string, unknown>[]).map((h) => ({ id: Number(h.id), score: Number(h.score) }));
  expectSameRanking('sparse IP', got, want.slice(0, 15), want);
});
