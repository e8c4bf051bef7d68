/**
 * Clustering compaction benchmark through the official Node SDK: a collection of --rows rows (default 500,000)
 * whose Int64 clustering key k is random, flushed into segments of --segment-rows rows (so every segment spans the
 * whole key range), then a query and a filtered search (top 10) whose filter selects 1% of the key range, timed
 * before and after clustering compaction (ManualCompaction with majorCompaction, as pymilvus's
 * compact(is_clustering=True) sends it) into key-range segments of --segment-rows rows. Prints, per case, the median
 * and p99 latency and the sealed segments a request scanned (segments in the target minus those skipped by their
 * key range: kite_querynode_segments_skipped_total{reason="range"}). Checks the rows returned are the same. Not a
 * test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/clustering-bench.ts [--rows 500000] [--batch 20000] [--segment-rows 50000] [--repeats 30]
 *
 * It starts `bin/kite standalone` on a temporary data directory and stops it at the end. Every loop is bounded.
 */
import { performance } from 'node:perf_hooks';
import { ConsistencyLevelEnum, DataType, MilvusClient, promisify } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk, rng } from '../standalone/helpers';
import { benchArgs, percentile } from './args';

function readOptions(argv: string[]) {
  const a = benchArgs(argv, { rows: 'int', batch: 'int', 'segment-rows': 'int', repeats: 'int' }, __filename);
  return { rows: a.rows ?? 500_000, batch: a.batch ?? 20_000, segmentRows: a['segment-rows'] ?? 50_000, repeats: a.repeats ?? 30 };
}

const DIM = 8;
const NAME = 'bench_clustering';
const BOUNDED = ConsistencyLevelEnum.Bounded;

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  const next = rng(91);
  let server: Standalone | undefined;
  const out: string[][] = [['case', 'p50', 'p99', 'segments scanned', 'detail']];
  const t00 = performance.now();
  try {
    server = await startStandalone({
      env: {
        KITE_DATANODE_SEGMENT_MAX_ROWS: String(o.segmentRows),
        KITE_COMPACTION_ENABLED: 'false',
        KITE_COMPACTION_CLUSTERING_SEGMENT_ROWS: String(o.segmentRows),
        KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '1000',
      },
    });
    const metricsUrl = `http://127.0.0.1:${server.metricsPort}/metrics`;
    const metric = async (re: RegExp): Promise<number> => [...(await (await fetch(metricsUrl)).text()).matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
    const skipped = (): Promise<number> => metric(/kite_querynode_segments_skipped_total\{reason="range"\} (\d+)/g);
    const served = (): Promise<number> => metric(new RegExp(`kite_querycoord_segments\\{collection="${NAME}",state="served"\\} (\\d+)`, 'g'));
    const pending = (): Promise<number> => metric(new RegExp(`kite_querycoord_segments\\{collection="${NAME}",state="pending"\\} (\\d+)`, 'g'));
    const client = new MilvusClient({ address: server.address, timeout: 600_000 });
    await client.connectPromise;
    expectOk(await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'k', data_type: DataType.Int64, is_clustering_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
      consistency_level: 'Bounded',
    }), 'createCollection');
    expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'vector index');
    const keys = new Float64Array(o.rows);
    const t0 = performance.now();
    for (let start = 0; start < o.rows; start += o.batch) {
      const data = [];
      for (let id = start; id < Math.min(o.rows, start + o.batch); id++) {
        keys[id] = Math.floor(next() * o.rows);
        data.push({ id, k: keys[id]!, vector: Array.from({ length: DIM }, () => next() * 2 - 1) });
      }
      expectOk((await client.insert({ collection_name: NAME, data })).status, 'insert');
    }
    expectOk((await client.flushSync({ collection_names: [NAME] })).status, 'flush');
    expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'load');
    await eventually('every segment loaded', async () => ((await pending()) === 0 && (await served()) > 0 ? true : undefined), 900_000);
    out.push(['insert + flush + load', '', '', '', `${o.rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`]);

    const lo = Math.floor(o.rows * 0.37);
    const hi = lo + Math.floor(o.rows / 100);
    const filter = `k >= ${lo} and k < ${hi}`;
    let want = 0;
    for (const k of keys) if (k >= lo && k < hi) want++;
    const q = Array.from({ length: DIM }, () => next() * 2 - 1);
    const time = async (): Promise<{ query: number[]; search: number[]; scanned: number; total: number; ids: string }> => {
      const query: number[] = [];
      const search: number[] = [];
      const total = await served();
      const s0 = await skipped();
      let ids = '';
      for (let r = 0; r < o.repeats; r++) {
        let t = performance.now();
        const res = await client.query({ collection_name: NAME, filter, output_fields: ['id'], limit: 16384, consistency_level: BOUNDED });
        query.push(performance.now() - t);
        expectOk(res.status, 'query');
        if (res.data.length !== want) throw new Error(`query returned ${res.data.length} rows, expected ${want}`);
        ids = res.data.map((x) => Number(x.id)).sort((a, b) => a - b).join(',');
        t = performance.now();
        const s = await client.search({ collection_name: NAME, data: [q], limit: 10, filter, output_fields: ['id'], consistency_level: BOUNDED });
        search.push(performance.now() - t);
        expectOk(s.status, 'search');
      }
      const perRequest = (await skipped() - s0) / (2 * o.repeats);
      query.sort((x, y) => x - y);
      search.sort((x, y) => x - y);
      return { query, search, scanned: total - perRequest, total, ids };
    };
    await time(); // warm-up
    const before = await time();

    const d = await client.describeCollection({ collection_name: NAME });
    const tc = performance.now();
    const res = await promisify((client as unknown as { channelPool: never }).channelPool, 'ManualCompaction', { collectionID: d.collectionID, majorCompaction: true }, 600_000);
    expectOk(res.status, 'ManualCompaction');
    await eventually('clustering compaction completed', async () => {
      const s = await client.getCompactionState({ compactionID: String(res.compactionID) });
      return String(s.state) === 'Completed' ? true : undefined;
    }, 1_800_000);
    const compactS = (performance.now() - tc) / 1000;
    const plans = await client.getCompactionStateWithPlans({ compactionID: String(res.compactionID) });
    const results = new Set(plans.mergeInfos.map((m) => String(m.target))).size;
    await eventually('results served', async () => ((await pending()) === 0 && (await served()) === results ? true : undefined), 900_000);
    out.push(['clustering compaction', '', '', '', `${compactS.toFixed(1)} s to completed; ${before.total} segments -> ${results} key-range segments`]);
    await time(); // warm-up
    const after = await time();
    if (after.ids !== before.ids) throw new Error('the rows returned after clustering compaction differ from those before');

    const row = (name: string, lat: number[], scanned: number, total: number, detail: string): void => {
      out.push([name, `${percentile(lat, 50).toFixed(1)} ms`, `${percentile(lat, 99).toFixed(1)} ms`, `${scanned.toFixed(1)} of ${total}`, detail]);
    };
    const ratio = (a: number[], b: number[]): string => `${(percentile(a, 50) / percentile(b, 50)).toFixed(1)}x`;
    row('query, before', before.query, before.scanned, before.total, `"${filter}": ${want} of ${o.rows} rows`);
    row('query, after clustering', after.query, after.scanned, after.total, `before / after ${ratio(before.query, after.query)}; same rows`);
    row('search top 10, before', before.search, before.scanned, before.total, 'FLAT, dim 8, filtered');
    row('search top 10, after clustering', after.search, after.scanned, after.total, `before / after ${ratio(before.search, after.search)}`);
    await client.closeConnection();
  } finally {
    await server?.dispose();
  }
  out.push(['total', '', '', '', `${((performance.now() - t00) / 1000).toFixed(0)} s; ${o.repeats} runs per case`]);
  const widths = out[0]!.map((_, c) => Math.max(...out.map((r) => r[c]!.length)));
  for (const r of out) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
