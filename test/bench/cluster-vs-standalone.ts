/**
 * Kite cluster vs standalone, in one run, through the official Node SDK: start time, insert throughput (128-d rows
 * in batches of 2000), flush + HNSW build, load, recall@10, and search QPS with p50/p99 latency (nq = 1, top 10) at
 * concurrency 1 and 8. Standalone runs first and is stopped before the cluster starts, so they never share the CPU.
 * Not a test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/cluster-vs-standalone.ts [--rows 20000] [--batch 2000] [--dim 128]
 *       [--queries 1000] [--ef 64] [--concurrency 1,8] [--shards 2] [--querynodes 2] [--datanodes 1]
 *
 * Both get temporary data directories under the OS temp dir, removed at the end (kept with KITE_KEEP_TEST_DATA=1).
 */
import { benchArgs, percentile } from './args';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone } from '../support/kite';
import { KiteCluster } from '../cluster/launcher';
import { bruteForce, chunks, clusteredVectors, eventually, expectOk, queriesNear, recall, waitIndexBuilt } from '../standalone/helpers';

interface Options {
  rows: number;
  batch: number;
  dim: number;
  queries: number;
  ef: number;
  concurrency: number[];
  shards: number;
  querynodes: number;
  datanodes: number;
}

function readOptions(argv: string[]): Options {
  const a = benchArgs(argv, {
    rows: 'int', batch: 'int', dim: 'int', queries: 'int', ef: 'int', concurrency: 'ints', shards: 'int', querynodes: 'int', datanodes: 'int',
  }, __filename);
  return {
    rows: a.rows ?? 20_000, batch: a.batch ?? 2_000, dim: a.dim ?? 128, queries: a.queries ?? 1_000, ef: a.ef ?? 64,
    concurrency: a.concurrency ?? [1, 8], shards: a.shards ?? 2, querynodes: a.querynodes ?? 2, datanodes: a.datanodes ?? 1,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}

/** Measures, in order: one value (as a display string) per metric name. */
type Results = Map<string, string>;

interface Dataset {
  vectors: number[][];
  queries: number[][];
  truth: string[][];
}

const RECALL_QUERIES = 20;

async function measure(address: string, o: Options, data: Dataset, out: Results): Promise<string[][]> {
  const client = new MilvusClient({ address, timeout: 300_000, logLevel: 'info' });
  const name = `bench_${Date.now()}`;
  await client.connectPromise;
  try {
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: o.dim },
        ],
        shards_num: o.shards,
        consistency_level: 'Bounded',
      }),
      'createCollection',
    );
    expectOk(
      await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 128 } }),
      'createIndex',
    );

    const batches = chunks(data.vectors.map((vector, id) => ({ id, vector })), o.batch);
    const batchMs: number[] = [];
    const t0 = performance.now();
    for (const batch of batches) {
      const t = performance.now();
      expectOk((await client.insert({ collection_name: name, data: batch })).status, 'insert');
      batchMs.push(performance.now() - t);
    }
    const insertSec = (performance.now() - t0) / 1000;
    batchMs.sort((a, b) => a - b);
    out.set('insert rows/s', `${Math.round(o.rows / insertSec)}`);
    out.set('insert batch p50 / p99 ms', `${percentile(batchMs, 50).toFixed(0)} / ${percentile(batchMs, 99).toFixed(0)}`);

    const t1 = performance.now();
    const flush = await client.flush({ collection_names: [name] });
    expectOk(flush.status, 'flush');
    const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
    await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 600_000);
    await waitIndexBuilt(client, name, 'vector', 900_000);
    out.set('flush + HNSW build s', ((performance.now() - t1) / 1000).toFixed(1));

    const t2 = performance.now();
    await client.loadCollectionSync({ collection_name: name });
    out.set('load s', ((performance.now() - t2) / 1000).toFixed(1));

    const search = async (q: number[]): Promise<string[]> => {
      const res = await client.search({
        collection_name: name,
        data: [q],
        limit: 10,
        output_fields: ['id'],
        params: { ef: o.ef },
        consistency_level: ConsistencyLevelEnum.Bounded,
      });
      expectOk(res.status, 'search');
      return (res.results as unknown as { id: string | number }[]).map((h) => String(h.id));
    };
    // Warm-up and recall against brute force.
    const answers: string[][] = [];
    let recallSum = 0;
    for (let i = 0; i < RECALL_QUERIES; i++) {
      const ids = await search(data.queries[i]!);
      answers.push(ids);
      recallSum += recall(ids, data.truth[i]!);
    }
    out.set(`recall@10 (ef ${o.ef})`, (recallSum / RECALL_QUERIES).toFixed(3));

    for (const conc of o.concurrency) {
      const latencies: number[] = [];
      let next = 0;
      const start = performance.now();
      const worker = async (): Promise<void> => {
        for (;;) {
          const i = next++;
          if (i >= o.queries) return;
          const t = performance.now();
          await search(data.queries[i % data.queries.length]!);
          latencies.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      const sec = (performance.now() - start) / 1000;
      latencies.sort((a, b) => a - b);
      out.set(`search QPS c=${conc}`, (o.queries / sec).toFixed(1));
      out.set(`search c=${conc} p50 / p99 ms`, `${percentile(latencies, 50).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)}`);
    }
    return answers;
  } finally {
    await client.dropCollection({ collection_name: name }).catch(() => undefined);
    await client.closeConnection().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  const vectors = clusteredVectors(o.rows, o.dim, 7, 64, 0.3);
  const queries = queriesNear(vectors, Math.max(o.queries, 50), 11, 0.1);
  const rows = vectors.map((vector, id) => ({ id, vector }));
  const truth = queries.slice(0, RECALL_QUERIES).map((q) => bruteForce('L2', rows, q, 10).map((t) => t.id));
  const data: Dataset = { vectors, queries, truth };
  const load = (): string => os.loadavg().map((x) => x.toFixed(1)).join(' ');

  const standalone = new Map<string, string>();
  const cluster = new Map<string, string>();
  const loads: string[] = [];

  // Standalone.
  loads.push(`before standalone: ${load()}`);
  let t = performance.now();
  const server = await startStandalone();
  standalone.set('start s (until ready)', ((performance.now() - t) / 1000).toFixed(1));
  let standaloneAnswers: string[][] = [];
  try {
    standaloneAnswers = await measure(server.address, o, data, standalone);
  } finally {
    await server.dispose();
  }

  // Cluster.
  loads.push(`before cluster: ${load()}`);
  t = performance.now();
  const c = await KiteCluster.start({ querynodes: o.querynodes, datanodes: o.datanodes, proxies: 1 });
  cluster.set('start s (until ready)', ((performance.now() - t) / 1000).toFixed(1));
  cluster.set('  upSeconds in cluster.json', c.info.upSeconds.toFixed(1));
  let clusterAnswers: string[][] = [];
  try {
    clusterAnswers = await measure(c.address, o, data, cluster);
  } finally {
    loads.push(`after cluster: ${load()}`);
    t = performance.now();
    await c.dispose();
    cluster.set('  cluster down s', ((performance.now() - t) / 1000).toFixed(1));
  }
  standalone.set('  upSeconds in cluster.json', '-');
  standalone.set('  cluster down s', '-');

  let overlap = 0;
  standaloneAnswers.forEach((ids, i) => (overlap += recall(clusterAnswers[i] ?? [], ids)));
  const header = ['measure', 'standalone', `cluster (${o.querynodes} QN, ${o.datanodes} DN, 1 proxy, etcd, Kafka)`];
  const names = [...new Set([...standalone.keys(), ...cluster.keys()])];
  const order = ['start s (until ready)', '  upSeconds in cluster.json', '  cluster down s', ...names.filter((n) => !n.startsWith('start') && !n.startsWith('  '))];
  const lines = [header, ...order.map((n) => [n, standalone.get(n) ?? '-', cluster.get(n) ?? '-'])];
  console.log(
    `\nKite cluster vs standalone via @zilliz/milvus2-sdk-node: ${o.rows} rows x ${o.dim}-d, batches of ${o.batch}, ` +
      `${o.shards} shards, HNSW M=16 efConstruction=128, search nq=1 top 10, ${o.queries} requests per concurrency level\n`,
  );
  console.log(table(lines));
  console.log(`\ntop-10 overlap of cluster vs standalone answers on ${RECALL_QUERIES} queries: ${(overlap / RECALL_QUERIES).toFixed(3)}`);
  console.log(`load average (1/5/15 min): ${loads.join('; ')}; ${os.cpus().length} CPUs\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
