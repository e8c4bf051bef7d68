/**
 * Kite standalone benchmark through the official Node SDK: insert throughput (128-d rows in batches) and search
 * QPS with p50/p99 latency (nq = 1, top 10, HNSW) at concurrency 1 and 8, then the same for a query of one row by
 * primary key. Not a test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/standalone-bench.ts [--rows 20000] [--batch 2000] [--dim 128]
 *       [--queries 1000] [--ef 64] [--concurrency 1,8] [--address 127.0.0.1:19530] [--faiss-wait 50/1000,0/0]
 *       [--cpu-prof <dir>]
 *
 * Without --address it starts `bin/kite standalone` on a temporary data directory and stops it at the end, and
 * prints the server's CPU time per request (utime + stime of the whole process from /proc/<pid>/stat, 10 ms ticks,
 * divided by the requests; Linux only). --faiss-wait repeats the searches and queries once per spin/poll pair
 * (microseconds), restarting the server on the same data with KITE_FAISS_SEARCH_SPIN_US and
 * KITE_FAISS_SEARCH_POLL_US set to them (packages/faiss/README.md); without it the server runs with this process's
 * environment. The server CPU goal: <= 0.5 ms per nq=1 search at 16 concurrent (`--rows 100000 --concurrency
 * 1,16`). --cpu-prof runs the server(s) under `node --cpu-prof` (a .cpuprofile of the main thread written to <dir>
 * when each stops). Every loop is bounded by a count; all traffic goes to 127.0.0.1.
 */
import fs from 'node:fs';
import os from 'node:os';
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
  /** Spin/poll pairs (µs) of the faiss search threads to compare, each on a restarted server. */
  faissWait?: [number, number][];
  cpuProf?: string;
}

/** The spin/poll pairs of --faiss-wait ("50/1000,0/0"); a clear error for anything else. */
function waitPairs(text: string | undefined): [number, number][] | undefined {
  if (text === undefined) return undefined;
  return text.split(',').map((pair) => {
    const m = /^(\d+)\/(\d+)$/.exec(pair.trim());
    if (!m) throw new Error(`--faiss-wait takes spin/poll pairs in microseconds such as 50/1000,0/0; got "${pair}"`);
    return [Number(m[1]), Number(m[2])];
  });
}

/** CPU seconds (utime + stime, all threads) of process `pid` so far; NaN where /proc is not there. */
function processCpu(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

function readOptions(argv: string[]): Options {
  const a = benchArgs(argv, { rows: 'int', batch: 'int', dim: 'int', queries: 'int', ef: 'int', concurrency: 'ints', address: 'string', 'faiss-wait': 'string', 'cpu-prof': 'string' }, __filename);
  const faissWait = waitPairs(a['faiss-wait']);
  if (faissWait && a.address !== undefined) throw new Error('--faiss-wait restarts the server, so it needs the bench to start one: drop --address');
  return {
    rows: a.rows ?? 20_000, batch: a.batch ?? 2_000, dim: a.dim ?? 128, queries: a.queries ?? 1_000, ef: a.ef ?? 64,
    concurrency: a.concurrency ?? [1, 8], address: a.address, faissWait, cpuProf: a['cpu-prof'],
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
  // A server started for --faiss-wait, on the first one's data directory.
  let restarted: Standalone | undefined;
  const nodeArgs = opts.cpuProf === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.cpuProf];
  let address = opts.address ?? (server = await startStandalone({ nodeArgs })).address;
  let client = new MilvusClient({ address, timeout: 120_000 });
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
    await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 900_000);
    await waitIndexBuilt(client, name, 'vector', 900_000);
    out.push(['flush + index build', `${((performance.now() - flushStart) / 1000).toFixed(1)} s`, `HNSW M=16 efConstruction=128, ${segIDs.length} segment(s)`]);

    const loadStart = performance.now();
    await client.loadCollectionSync({ collection_name: name });
    out.push(['load', `${((performance.now() - loadStart) / 1000).toFixed(1)} s`, '']);

    const queries = queriesNear(vectors, Math.max(opts.queries, 50), 11, 0.1);
    const search = async (i: number): Promise<Record<string, unknown>[]> => {
      const res = await client.search({
        collection_name: name,
        data: [queries[i % queries.length]!],
        limit: 10,
        output_fields: ['id'],
        params: { ef: opts.ef },
        consistency_level: ConsistencyLevelEnum.Bounded,
      });
      expectOk(res.status, 'search');
      return res.results as unknown as Record<string, unknown>[];
    };
    // One row by primary key: the request's fixed cost on the query path.
    const query = async (i: number): Promise<void> => {
      const id = (i * 7919) % opts.rows;
      const res = await client.query({ collection_name: name, filter: `id == ${id}`, output_fields: ['id'], consistency_level: ConsistencyLevelEnum.Bounded });
      expectOk(res.status, 'query');
      if (res.data.length !== 1) throw new Error(`query id == ${id} returned ${res.data.length} rows`);
    };
    // Warm-up, and recall@10 of the HNSW index on 20 queries against brute force.
    const rows = vectors.map((vector, id) => ({ id, vector }));
    let recallSum = 0;
    for (let i = 0; i < 20; i++) {
      const hits = await search(i);
      recallSum += recall(hits.map((h) => String(h.id)), bruteForce('L2', rows, queries[i]!, 10).map((t) => t.id));
    }
    out.push(['recall@10', (recallSum / 20).toFixed(3), `HNSW ef=${opts.ef}, 20 queries vs brute force`]);

    /** `opts.queries` requests, `conc` at a time: QPS, latency and the server's CPU per request. */
    const measure = async (label: string, op: (i: number) => Promise<unknown>, conc: number): Promise<void> => {
      for (let i = 0; i < 50; i++) await op(i); // warm-up
      const latencies: number[] = [];
      let next = 0;
      const pid = server?.pid;
      const cpu0 = processCpu(restarted?.pid ?? pid);
      const start = performance.now();
      const worker = async (): Promise<void> => {
        for (;;) {
          const i = next++;
          if (i >= opts.queries) return;
          const t = performance.now();
          await op(i);
          latencies.push(performance.now() - t);
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      const sec = (performance.now() - start) / 1000;
      const cpu = processCpu(restarted?.pid ?? pid) - cpu0;
      latencies.sort((a, b) => a - b);
      const cpuText = Number.isNaN(cpu) ? '' : `; server CPU ${((cpu / opts.queries) * 1000).toFixed(3)} ms/request`;
      out.push([
        `${label} c=${conc}`,
        `${(opts.queries / sec).toFixed(1)} QPS`,
        `${opts.queries} requests; p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms${cpuText}`,
      ]);
    };
    const runAll = async (suffix: string): Promise<void> => {
      for (const conc of opts.concurrency) await measure(`search nq=1 top 10${suffix}`, search, conc);
      for (const conc of opts.concurrency) await measure(`query id ==${suffix}`, query, conc);
    };
    if (!opts.faissWait) await runAll('');
    for (const [spin, poll] of opts.faissWait ?? []) {
      await server?.stop();
      await restarted?.dispose();
      restarted = await startStandalone({ dataDir: server!.dataDir, nodeArgs, env: { KITE_FAISS_SEARCH_SPIN_US: String(spin), KITE_FAISS_SEARCH_POLL_US: String(poll) } });
      await client.closeConnection();
      address = restarted.address;
      client = new MilvusClient({ address, timeout: 120_000 });
      await client.connectPromise;
      await client.loadCollectionSync({ collection_name: name });
      await runAll(`, spin ${spin} poll ${poll}`);
    }
    out.push(['load average at the end', os.loadavg().map((x) => x.toFixed(2)).join(' '), `${os.cpus().length} cores`]);
    console.log(`\nKite standalone via @zilliz/milvus2-sdk-node at ${address}\n`);
    console.log(table(out));
    console.log('');
  } finally {
    await client.dropCollection({ collection_name: name }).catch(() => undefined);
    await client.closeConnection().catch(() => undefined);
    await restarted?.dispose();
    await server?.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
