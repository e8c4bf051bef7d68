/**
 * Kite standalone benchmark through the official Node SDK: insert throughput (128-d rows in batches) and search
 * QPS with p50/p99 latency (nq = 1, top 10, HNSW) at concurrency 1 and 8. Not a test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/standalone-bench.ts [--rows 20000] [--batch 2000] [--dim 128]
 *       [--queries 1000] [--ef 64] [--concurrency 1,8] [--address 127.0.0.1:19530]
 *
 * Without --address it starts `bin/kite standalone` on a temporary data directory and stops it at the end. Every
 * loop is bounded by a count; all traffic goes to 127.0.0.1.
 */
import { benchArgs, percentile } from './args';
import { performance } from 'node:perf_hooks';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { bruteForce, chunks, clusteredVectors, eventually, expectOk, queriesNear, recall, waitIndexBuilt } from '../standalone/helpers';

interface Options {
  rows: number;
  batch: number;
  dim: number;
  queries: number;
  ef: number;
  concurrency: number[];
  address?: string;
}

function readOptions(argv: string[]): Options {
  const a = benchArgs(argv, { rows: 'int', batch: 'int', dim: 'int', queries: 'int', ef: 'int', concurrency: 'ints', address: 'string' }, __filename);
  return {
    rows: a.rows ?? 20_000, batch: a.batch ?? 2_000, dim: a.dim ?? 128, queries: a.queries ?? 1_000, ef: a.ef ?? 64,
    concurrency: a.concurrency ?? [1, 8], address: a.address,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const opts = readOptions(process.argv.slice(2));
  let server: Standalone | undefined;
  const address = opts.address ?? (server = await startStandalone()).address;
  const client = new MilvusClient({ address, timeout: 120_000 });
  const name = `bench_${Date.now()}`;
  const out: string[][] = [['measure', 'value', 'detail']];
  try {
    await client.connectPromise;
    expectOk(
      await client.createCollection({
        collection_name: name,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'vector', data_type: DataType.FloatVector, dim: opts.dim },
        ],
        consistency_level: 'Bounded',
      }),
      'createCollection',
    );
    expectOk(
      await client.createIndex({
        collection_name: name,
        field_name: 'vector',
        index_type: 'HNSW',
        metric_type: 'L2',
        params: { M: 16, efConstruction: 128 },
      }),
      'createIndex',
    );

    // Insert: clustered vectors (like embeddings, unlike uniform noise), generated ahead so only the RPCs are timed.
    const vectors = clusteredVectors(opts.rows, opts.dim, 7, 64, 0.3);
    const batches = chunks(vectors.map((vector, id) => ({ id, vector })), opts.batch);
    const batchMs: number[] = [];
    const insertStart = performance.now();
    for (const batch of batches) {
      const t = performance.now();
      expectOk((await client.insert({ collection_name: name, data: batch })).status, 'insert');
      batchMs.push(performance.now() - t);
    }
    const insertSec = (performance.now() - insertStart) / 1000;
    batchMs.sort((a, b) => a - b);
    out.push([
      'insert',
      `${Math.round(opts.rows / insertSec)} rows/s`,
      `${opts.rows} rows x ${opts.dim}-d in batches of ${opts.batch}; batch p50 ${percentile(batchMs, 50).toFixed(0)} ms, p99 ${percentile(batchMs, 99).toFixed(0)} ms`,
    ]);

    const flushStart = performance.now();
    const flush = await client.flush({ collection_names: [name] });
    expectOk(flush.status, 'flush');
    const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
    await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 300_000);
    await waitIndexBuilt(client, name, 'vector', 600_000);
    out.push(['flush + index build', `${((performance.now() - flushStart) / 1000).toFixed(1)} s`, `HNSW M=16 efConstruction=128, ${segIDs.length} segment(s)`]);

    const loadStart = performance.now();
    await client.loadCollectionSync({ collection_name: name });
    out.push(['load', `${((performance.now() - loadStart) / 1000).toFixed(1)} s`, '']);

    const queries = queriesNear(vectors, Math.max(opts.queries, 50), 11, 0.1);
    const search = async (q: number[]): Promise<Record<string, unknown>[]> => {
      const res = await client.search({
        collection_name: name,
        data: [q],
        limit: 10,
        output_fields: ['id'],
        params: { ef: opts.ef },
        consistency_level: ConsistencyLevelEnum.Bounded,
      });
      expectOk(res.status, 'search');
      return res.results as unknown as Record<string, unknown>[];
    };
    // Warm-up, and recall@10 of the HNSW index on 20 queries against brute force.
    const rows = vectors.map((vector, id) => ({ id, vector }));
    let recallSum = 0;
    for (let i = 0; i < 20; i++) {
      const hits = await search(queries[i]!);
      recallSum += recall(hits.map((h) => String(h.id)), bruteForce('L2', rows, queries[i]!, 10).map((t) => t.id));
    }
    out.push(['recall@10', (recallSum / 20).toFixed(3), `HNSW ef=${opts.ef}, 20 queries vs brute force`]);

    for (const conc of opts.concurrency) {
      const latencies: number[] = [];
      let nextQuery = 0;
      const start = performance.now();
      const worker = async (): Promise<void> => {
        for (;;) {
          const i = nextQuery++;
          if (i >= opts.queries) return;
          const t = performance.now();
          await search(queries[i % queries.length]!);
          latencies.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      const sec = (performance.now() - start) / 1000;
      latencies.sort((a, b) => a - b);
      out.push([
        `search c=${conc}`,
        `${(opts.queries / sec).toFixed(1)} QPS`,
        `nq=1 top 10, ${opts.queries} requests; p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
      ]);
    }
    console.log(`\nKite standalone via @zilliz/milvus2-sdk-node at ${address}\n`);
    console.log(table(out));
    console.log('');
  } finally {
    await client.dropCollection({ collection_name: name }).catch(() => undefined);
    await client.closeConnection().catch(() => undefined);
    await server?.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
