// BM25 and IP search over a synthetic corpus at the index level: build time, queries per second of
// SPARSE_INVERTED_INDEX and SPARSE_WAND, and whether WAND returns the inverted index's answer (it must).
// Usage: node bench/bench.js [--docs 100000] [--vocab 50000] [--len 40] [--queries 500] [--k 10]
'use strict';
const { parseArgs } = require('node:util');
const { SparseIndex } = require('../dist');

const { values: o } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    vocab: { type: 'string', default: '50000' },
    len: { type: 'string', default: '40' },
    queries: { type: 'string', default: '500' },
    k: { type: 'string', default: '10' },
  },
});
const N = Number(o.docs), V = Number(o.vocab), L = Number(o.len), Q = Number(o.queries), K = Number(o.k);

let seed = 42;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
// Zipf(1.1) over the vocabulary, by inverse CDF over a cumulative table.
const cdf = new Float64Array(V);
let acc = 0;
for (let i = 0; i < V; i++) cdf[i] = acc += 1 / Math.pow(i + 1, 1.1);
const zipf = () => {
  const x = rnd() * acc;
  let lo = 0, hi = V - 1;
  while (lo < hi) { const m = (lo + hi) >> 1; if (cdf[m] < x) lo = m + 1; else hi = m; }
  return lo;
};
const row = (len) => {
  const m = new Map();
  for (let j = 0; j < len; j++) { const t = zipf(); m.set(t, (m.get(t) || 0) + 1); }
  const indices = Uint32Array.from([...m.keys()].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, (i) => m.get(i)) };
};

const t0 = Date.now();
const docs = Array.from({ length: N }, () => row(Math.max(1, Math.round(L * (0.5 + rnd())))));
const queries = Array.from({ length: Q }, () => row(2 + Math.floor(rnd() * 4)));
console.log(`corpus: ${N} docs, vocabulary ${V} (Zipf 1.1), ~${L} terms per doc, ${Q} queries of 2-5 terms, k=${K}; generated in ${Date.now() - t0} ms`);

(async () => {
  for (const metric of ['BM25', 'IP']) {
    const t1 = Date.now();
    const inv = await SparseIndex.buildAsync(docs, { indexType: 'SPARSE_INVERTED_INDEX', metric });
    const buildMs = Date.now() - t1;
    const wand = SparseIndex.deserialize(inv.serialize(), 'SPARSE_WAND');
    let bm25;
    if (metric === 'BM25') {
      const terms = [...new Set(queries.flatMap((q) => [...q.indices]))];
      const st = inv.termStats(terms);
      bm25 = { k1: 1.2, b: 0.75, numDocs: st.numDocs, avgdl: st.sumDocLen / st.numDocs, df: new Map(terms.map((t, i) => [t, st.df[i]])) };
    }
    const run = async (idx) => {
      const t = process.hrtime.bigint();
      const res = [];
      for (const q of queries) res.push(await idx.search([q], K, { bm25 }));
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      return { ms, res };
    };
    const a = await run(inv);
    const b = await run(wand);
    let same = 0;
    for (let i = 0; i < Q; i++) if (a.res[i].ids.join() === b.res[i].ids.join()) same++;
    console.log(`${metric}: build ${buildMs} ms; SPARSE_INVERTED_INDEX ${(Q / a.ms * 1000).toFixed(0)} QPS (${(a.ms / Q).toFixed(2)} ms/query); SPARSE_WAND ${(Q / b.ms * 1000).toFixed(0)} QPS (${(b.ms / Q).toFixed(2)} ms/query); WAND = inverted on ${same}/${Q} queries`);
  }
})();
