#!/usr/bin/env node
// `pnpm --filter @kite/faiss run bench` (make bench-faiss): the binding against a C++ program linked to the same
// libfaiss, on the same clustered data, in the same run. Prints build times, then QPS and recall@10 per search
// setting for both, and the binding/C++ QPS ratio.
//
// Environment (all optional): BENCH_N (100000), BENCH_DIM (128), BENCH_NQ (1000), BENCH_BATCH (100),
// BENCH_MIN_SECONDS (1), BENCH_EFS ("16,32,64,128,256"), BENCH_NPROBES ("1,4,16,64"), BENCH_STREAMS (C++ threads
// for the concurrent nq=1 rows; default: cores), BENCH_INFLIGHT (binding calls in flight for those rows; default:
// the libuv pool size), BENCH_JSON=1 (also print every measurement as JSON), BENCH_SEARCH_THREADS and
// BENCH_PARALLELISM (override the binding's thread settings, see src/threads.ts).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgRoot = path.join(__dirname, '..');
const dist = path.join(pkgRoot, 'dist');
if (!fs.existsSync(path.join(dist, 'index.js'))) {
  console.error('bench: packages/faiss/dist is missing; run `make build` (or tsc --build packages/faiss) first');
  process.exit(2);
}
const { VectorIndex, getThreadSettings, setThreadSettings } = require(path.join(dist, 'index.js'));
const { clustered, sequentialIds, recallAtK } = require(path.join(dist, 'synthetic.js'));

const env = (name, dflt) => (process.env[name] !== undefined && process.env[name] !== '' ? process.env[name] : dflt);
const N = Number(env('BENCH_N', 100000));
const DIM = Number(env('BENCH_DIM', 128));
const NQ = Number(env('BENCH_NQ', 1000));
const K = 10;
const BATCH = Number(env('BENCH_BATCH', 100));
const MIN_SECONDS = Number(env('BENCH_MIN_SECONDS', 1));
const EFS = env('BENCH_EFS', '16,32,64,128,256').split(',').map(Number);
const NPROBES = env('BENCH_NPROBES', '1,4,16,64').split(',').map(Number);
const CORES = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
const STREAMS = Number(env('BENCH_STREAMS', CORES));
const INFLIGHT = Number(env('BENCH_INFLIGHT', Number(process.env.UV_THREADPOOL_SIZE || 4)));
const HNSW = { M: 16, efConstruction: 200 };
const NLIST = 1024;
const CLUSTERS = 200;

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

function buildBaseline() {
  const out = path.join(pkgRoot, 'build', 'bench-baseline');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const args = ['-O2', '-std=c++17', '-fopenmp', path.join(__dirname, 'baseline.cc'), '-o', out, '-lfaiss', '-lopenblas'];
  log(`g++ ${args.join(' ')}`);
  execFileSync('g++', args, { stdio: 'inherit' });
  return out;
}

/** Runs passes over the query set until MIN_SECONDS have passed; recall from the first pass. */
async function measure(runPass) {
  let done = 0;
  let pass = 0;
  let recall = 0;
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
  do {
    const ids = await runPass();
    if (pass++ === 0) recall = recallAtK(GT, ids, NQ, K);
    done += NQ;
  } while (elapsed() < MIN_SECONDS);
  return { qps: done / elapsed(), recall };
}

let GT;
let QUERIES;

async function bindingModes(index, knob, value, opts, results) {
  const row = (mode, m) => results.push({ side: 'binding', index: index.indexType, knob, value, mode, ...m });
  // nq=1, one call at a time
  row('nq=1', await measure(async () => {
    const ids = new BigInt64Array(NQ * K);
    for (let i = 0; i < NQ; i++) {
      const r = await index.search(QUERIES.subarray(i * DIM, (i + 1) * DIM), K, opts);
      ids.set(r.ids, i * K);
    }
    return ids;
  }));
  // nq=1, several calls in flight (a busy query node)
  row('nq=1 x streams', await measure(async () => {
    const ids = new BigInt64Array(NQ * K);
    let next = 0;
    const worker = async () => {
      for (let i; (i = next++) < NQ;) {
        const r = await index.search(QUERIES.subarray(i * DIM, (i + 1) * DIM), K, opts);
        ids.set(r.ids, i * K);
      }
    };
    await Promise.all(Array.from({ length: INFLIGHT }, worker));
    return ids;
  }));
  // batches of BATCH queries per call
  row('batch', await measure(async () => {
    const ids = new BigInt64Array(NQ * K);
    for (let i = 0; i < NQ; i += BATCH) {
      const n = Math.min(BATCH, NQ - i);
      const r = await index.search(QUERIES.subarray(i * DIM, (i + n) * DIM), K, opts);
      ids.set(r.ids, i * K);
    }
    return ids;
  }));
}

function runBaseline(exe, dir) {
  return new Promise((resolve, reject) => {
    const args = [dir, N, DIM, NQ, K, HNSW.M, HNSW.efConstruction, NLIST, EFS.join(','), NPROBES.join(','), BATCH,
      MIN_SECONDS, STREAMS].map(String);
    const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`baseline exited with ${code}`));
      resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    });
  });
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padEnd(n) : s.padStart(n);
}

async function main() {
  const exe = buildBaseline();
  if (process.env.BENCH_SEARCH_THREADS) setThreadSettings({ searchThreads: Number(process.env.BENCH_SEARCH_THREADS) });
  if (process.env.BENCH_PARALLELISM) setThreadSettings({ searchParallelism: Number(process.env.BENCH_PARALLELISM) });
  const threads = getThreadSettings();
  log(`data: ${N} x ${DIM}, ${CLUSTERS} clusters; ${NQ} queries, k=${K}; cores=${CORES}; ` +
    `binding threads: search=${threads.searchThreads} build=${threads.buildThreads || 'all'} ` +
    `parallelism=${threads.searchParallelism}`);
  const gen = clustered(DIM, CLUSTERS, 7);
  const base = gen.points(N, 11);
  QUERIES = gen.points(NQ, 13);
  const ids = sequentialIds(N);

  log('ground truth (FLAT)');
  const flat = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await flat.add(base, ids);
  GT = (await flat.search(QUERIES, K)).ids;
  flat.free();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-faiss-bench-'));
  fs.writeFileSync(path.join(dir, 'base.f32'), Buffer.from(base.buffer, base.byteOffset, base.byteLength));
  fs.writeFileSync(path.join(dir, 'queries.f32'), Buffer.from(QUERIES.buffer, QUERIES.byteOffset, QUERIES.byteLength));
  fs.writeFileSync(path.join(dir, 'gt.i64'), Buffer.from(GT.buffer, GT.byteOffset, GT.byteLength));

  const results = [];
  const builds = {};

  log(`binding: HNSW M=${HNSW.M} efConstruction=${HNSW.efConstruction}`);
  let t0 = process.hrtime.bigint();
  const hnsw = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: HNSW });
  await hnsw.add(base, ids);
  builds['binding HNSW'] = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const ef of EFS) await bindingModes(hnsw, 'ef', ef, { ef }, results);
  hnsw.free();

  log(`binding: IVF_FLAT nlist=${NLIST}`);
  t0 = process.hrtime.bigint();
  const ivf = VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim: DIM, params: { nlist: NLIST } });
  await ivf.train(base);
  await ivf.add(base, ids);
  builds['binding IVF_FLAT'] = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const nprobe of NPROBES) await bindingModes(ivf, 'nprobe', nprobe, { nprobe }, results);
  ivf.free();

  log('C++ baseline');
  for (const r of await runBaseline(exe, dir)) {
    if (r.build !== undefined) builds[`cpp ${r.index}`] = r.build;
    else results.push(r);
  }
  fs.rmSync(dir, { recursive: true, force: true });

  if (process.env.BENCH_JSON === '1') for (const r of results) console.log(JSON.stringify(r));

  console.log(`\nfaiss binding vs C++ (same libfaiss), ${N} x ${DIM} clustered, ${NQ} queries, k=${K}, ${CORES} cores`);
  console.log(`modes: nq=1 = one query per call, one call at a time; nq=1 x streams = one query per call, ` +
    `binding ${INFLIGHT} calls in flight vs C++ ${STREAMS} threads; batch = ${BATCH} queries per call`);
  console.log(`build (s): HNSW binding ${builds['binding HNSW'].toFixed(1)} / C++ ${builds['cpp HNSW'].toFixed(1)}; ` +
    `IVF_FLAT (train+add) binding ${builds['binding IVF_FLAT'].toFixed(1)} / C++ ${builds['cpp IVF_FLAT'].toFixed(1)}\n`);
  const header = `| index    | param      | mode           | binding QPS | C++ QPS  | ratio | recall@10 binding | recall@10 C++ |`;
  console.log(header);
  console.log(header.replace(/[^|]/g, '-'));
  const key = (r) => `${r.index}|${r.knob}|${r.value}|${r.mode}`;
  const cpp = new Map(results.filter((r) => r.side === 'cpp').map((r) => [key(r), r]));
  for (const b of results.filter((r) => r.side === 'binding')) {
    const c = cpp.get(key(b));
    const ratio = c ? (b.qps / c.qps).toFixed(2) : '-';
    console.log(`| ${pad(b.index, 8, true)} | ${pad(`${b.knob}=${b.value}`, 10, true)} | ${pad(b.mode, 14, true)} | ` +
      `${pad(b.qps.toFixed(0), 11)} | ${pad(c ? c.qps.toFixed(0) : '-', 8)} | ${pad(ratio, 5)} | ` +
      `${pad(b.recall.toFixed(3), 17)} | ${pad(c ? c.recall.toFixed(3) : '-', 13)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
