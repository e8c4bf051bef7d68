/**
 * BM25 full-text search benchmark through the official Node SDK: a synthetic corpus (Zipf-distributed words), a
 * collection with a BM25 function over it, insert throughput, then search QPS with p50/p99 latency (nq = 1, top 10,
 * 1-4 query words) at each concurrency, and recall@10 against an exact BM25 computed here over the same documents
 * (Milvus's formula, collection-wide statistics). Not a test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/bm25-bench.ts [--docs 100000] [--batch 5000] [--words 40]
 *       [--vocab 20000] [--queries 500] [--concurrency 1,8] [--index SPARSE_INVERTED_INDEX|SPARSE_WAND] [--shards 2]
 *
 * It starts `bin/kite standalone` on a temporary data directory and stops it at the end. Every loop is bounded.
 */
import { performance } from 'node:perf_hooks';
import { ConsistencyLevelEnum, DataType, FunctionType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { chunks, eventually, expectOk, rng, waitIndexBuilt } from '../standalone/helpers';
import { benchArgs, percentile } from './args';

function readOptions(argv: string[]) {
  const a = benchArgs(argv, { docs: 'int', batch: 'int', words: 'int', vocab: 'int', queries: 'int', concurrency: 'ints', index: 'string', shards: 'int' }, __filename);
  return {
    docs: a.docs ?? 100_000, batch: a.batch ?? 5_000, words: a.words ?? 40, vocab: a.vocab ?? 20_000, queries: a.queries ?? 500,
    concurrency: a.concurrency ?? [1, 8], index: a.index ?? 'SPARSE_INVERTED_INDEX', shards: a.shards ?? 2,
  };
}

/** Words w0..w{n-1} drawn with probability proportional to 1 / (rank + 1)^1.1. */
function zipf(vocab: number, next: () => number): () => string {
  const cdf = new Float64Array(vocab);
  let acc = 0;
  for (let i = 0; i < vocab; i++) cdf[i] = acc += 1 / Math.pow(i + 1, 1.1);
  return () => {
    const x = next() * acc;
    let lo = 0;
    let hi = vocab - 1;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (cdf[m]! < x) lo = m + 1;
      else hi = m;
    }
    return `w${lo}`;
  };
}

/** Exact BM25 top k over tokenized documents, with an inverted map so that a query costs its postings only. */
class ReferenceBm25 {
  private readonly postings = new Map<string, { doc: number; tf: number }[]>();
  private readonly len: number[] = [];
  private avgdl = 0;

  constructor(docs: string[][]) {
    docs.forEach((d, i) => {
      this.len[i] = d.length;
      const tf = new Map<string, number>();
      for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const [t, c] of tf) {
        let p = this.postings.get(t);
        if (!p) this.postings.set(t, (p = []));
        p.push({ doc: i, tf: c });
      }
    });
    this.avgdl = this.len.reduce((s, x) => s + x, 0) / docs.length;
  }

  /** The exact scores of every document holding a query term, best first. */
  scores(query: string[], k1 = 1.2, b = 0.75): [number, number][] {
    const n = this.len.length;
    const q = new Map<string, number>();
    for (const t of query) q.set(t, (q.get(t) ?? 0) + 1);
    const scores = new Map<number, number>();
    for (const [t, qc] of q) {
      const p = this.postings.get(t) ?? [];
      const idf = Math.log(1 + (n - p.length + 0.5) / (p.length + 0.5));
      for (const { doc, tf } of p) scores.set(doc, (scores.get(doc) ?? 0) + (qc * idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * this.len[doc]!) / this.avgdl)));
    }
    return [...scores].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  }
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  const next = rng(2026);
  const word = zipf(o.vocab, next);
  const docs = Array.from({ length: o.docs }, () => Array.from({ length: Math.max(1, Math.round(o.words * (0.5 + next()))) }, word));
  const queries = Array.from({ length: o.queries }, () => Array.from({ length: 1 + Math.floor(next() * 4) }, word));
  let server: Standalone | undefined;
  const out: string[][] = [['measure', 'value', 'detail']];
  try {
    server = await startStandalone();
    const client = new MilvusClient({ address: server.address, timeout: 300_000 });
    await client.connectPromise;
    const name = 'bench_bm25';
    expectOk(
      await client.createCollection({
        collection_name: name,
        shards_num: o.shards,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'text', data_type: DataType.VarChar, max_length: 65535, enable_analyzer: true },
          { name: 'sparse', data_type: DataType.SparseFloatVector },
        ],
        functions: [{ name: 'bm25', type: FunctionType.BM25, input_field_names: ['text'], output_field_names: ['sparse'], params: {} }],
        consistency_level: 'Bounded',
      }),
      'createCollection',
    );
    expectOk(await client.createIndex({ collection_name: name, field_name: 'sparse', index_type: o.index, metric_type: 'BM25' }), 'createIndex');
    const t0 = performance.now();
    for (const part of chunks(docs.map((d, id) => ({ id, text: d.join(' ') })), o.batch)) {
      expectOk((await client.insert({ collection_name: name, data: part })).status, 'insert');
    }
    const insertS = (performance.now() - t0) / 1000;
    out.push(['insert', `${Math.round(o.docs / insertS)} docs/s`, `${o.docs} docs of ~${o.words} words, batches of ${o.batch}, ${o.shards} shards`]);
    const flush = await client.flush({ collection_names: [name] });
    const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
    await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 600_000);
    await waitIndexBuilt(client, name, 'sparse', 600_000);
    await client.loadCollectionSync({ collection_name: name });
    out.push(['flush + index + load', `${((performance.now() - t0) / 1000 - insertS).toFixed(1)} s`, o.index]);

    const returned: number[][] = [];
    for (const c of o.concurrency) {
      const lat: number[] = [];
      let i = 0;
      const start = performance.now();
      await Promise.all(Array.from({ length: c }, async () => {
        while (i < queries.length) {
          const qi = i++;
          const t = performance.now();
          const res = await client.search({ collection_name: name, anns_field: 'sparse', data: [queries[qi]!.join(' ')], limit: 10, consistency_level: ConsistencyLevelEnum.Bounded } as never);
          lat.push(performance.now() - t);
          expectOk(res.status, 'search');
          if (c === o.concurrency[0]) returned[qi] = (res.results as unknown as { id: string }[]).map((h) => Number(h.id));
        }
      }));
      const s = (performance.now() - start) / 1000;
      lat.sort((a, b) => a - b);
      out.push([`search, concurrency ${c}`, `${Math.round(queries.length / s)} QPS`, `p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${percentile(lat, 99).toFixed(1)} ms`]);
    }
    // Recall against exact BM25: a returned document counts when its exact score reaches the 10th best exact score
    // (documents tied there are interchangeable), and the answer must hold as many documents as the exact top 10.
    const reference = new ReferenceBm25(docs);
    let good = 0;
    let total = 0;
    queries.forEach((q, qi) => {
      const exact = reference.scores(q);
      const want = exact.slice(0, 10);
      const kth = want[want.length - 1]?.[1] ?? Infinity;
      const score = new Map(exact);
      good += (returned[qi] ?? []).filter((d) => (score.get(d) ?? -Infinity) >= kth - 1e-4).length;
      total += want.length;
    });
    out.push(['recall@10', (good / Math.max(1, total)).toFixed(4), 'against exact BM25, ties at the 10th place counted as equal']);
    await client.closeConnection();
  } finally {
    await server?.dispose();
  }
  const widths = out[0]!.map((_, c) => Math.max(...out.map((r) => r[c]!.length)));
  for (const r of out) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
