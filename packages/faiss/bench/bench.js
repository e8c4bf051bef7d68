#!/usr/bin/env node
// `pnpm --filter @kite/faiss run bench` (make bench-faiss): the binding against a C++ program (baseline.cc, built
// here with g++ and linked to the same libfaiss) on the same clustered data, in the same run. Prints build times,
// then QPS and recall@10 per search setting for both, and the binding/C++ QPS ratio.
//
// Each measurement runs passes over the query set for at least BENCH_MIN_SECONDS; binding and C++ measurements of
// one setting alternate, BENCH_REPS times, and the best QPS of each side is kept (background load on a shared
// 2-core machine then hits both sides alike instead of skewing the ratio).
//
// Environment (all optional): BENCH_N (100000), BENCH_DIM (128), BENCH_NQ (1000), BENCH_BATCH (100),
// BENCH_MIN_SECONDS (0.5), BENCH_REPS (3), BENCH_EFS ("16,32,64,128,256"), BENCH_NPROBES ("1,4,16,64"),
// BENCH_STREAMS (C++ threads for the concurrent nq=1 rows; default: cores), BENCH_INFLIGHT (binding calls in
// flight for those rows; default: UV_THREADPOOL_SIZE or 4), BENCH_SEARCH_THREADS / BENCH_PARALLELISM (override the
// binding's thread settings, see src/threads.ts), BENCH_JSON=1 (also print every row as JSON),
// BENCH_INDEXES ("hnsw,ivf"), BENCH_MODES ("nq=1,nq=1 x streams,batch"): run a subset.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const pkgRoot = path.join(__dirname, '..');
const dist = path.join(pkgRoot, 'dist');
if (!fs.existsSync(path.join(dist, 'index.js'))) {
  console.error('bench: packages/faiss/dist is missing; run `make build` (or npx tsc --build packages/faiss) first');
  process.exit(2);
}
const { VectorIndex, getThreadSettings, setThreadSettings, searchBusySeconds } = require(path.join(dist, 'index.js'));
const { clustered, sequentialIds, recallAtK } = require(path.join(dist, 'synthetic.js'));
const { NATIVE_ENV_DEFAULTS } = require(path.join(dist, 'native.js'));

const env = (name, dflt) => (process.env[name] !== undefined && process.env[name] !== '' ? process.env[name] : dflt);
const N = Number(env('BENCH_N', 100000));
const DIM = Number(env('BENCH_DIM', 128));
const NQ = Number(env('BENCH_NQ', 1000));
const K = 10;
const BATCH = Number(env('BENCH_BATCH', 100));
const MIN_SECONDS = Number(env('BENCH_MIN_SECONDS', 0.5));
const REPS = Number(env('BENCH_REPS', 3));
const EFS = env('BENCH_EFS', '16,32,64,128,256').split(',').map(Number);
const NPROBES = env('BENCH_NPROBES', '1,4,16,64').split(',').map(Number);
const INDEXES = env('BENCH_INDEXES', 'hnsw,ivf').split(',');
const MODES = env('BENCH_MODES', 'nq=1,nq=1 x streams,batch').split(',');
const CORES = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
const STREAMS = Number(env('BENCH_STREAMS', CORES));
const INFLIGHT = Number(env('BENCH_INFLIGHT', Number(process.env.UV_THREADPOOL_SIZE || 4)));
const HNSW = { M: 16, efConstruction: 200 };
const NLIST = 1024;
const CLUSTERS = 200;

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** The C++ program, driven one command per line. */
class Baseline {
  constructor(exe) {
    // Same OpenMP/OpenBLAS settings as the binding uses (src/native.ts), unless the environment sets them.
    const childEnv = { ...NATIVE_ENV_DEFAULTS, ...process.env };
    this.child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv });
    this.lines = readline.createInterface({ input: this.child.stdout });
    this.waiting = [];
    this.lines.on('line', (l) => this.waiting.shift()?.resolve(JSON.parse(l)));
    this.child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`baseline exited with ${code}`));
    });
  }
  send(cmd) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${cmd}\n`);
    });
  }
  close() {
    this.child.stdin.end('quit\n');
  }
}

function buildBaseline(dir) {
  const out = path.join(dir, 'baseline');
  const args = ['-O2', '-std=c++17', '-fopenmp', path.join(__dirname, 'baseline.cc'), '-o', out, '-lfaiss', '-lopenblas'];
  log(`g++ ${args.join(' ')}`);
  execFileSync('g++', args, { stdio: 'inherit' });
  return out;
}

let GT;
let QUERIES;

/**
 * Runs passes over the query set until MIN_SECONDS have passed; recall from the first pass. `busy`: the binding's
 * search-thread time per query in the same span (µs), so that a call's time splits into search and hand-off.
 */
async function measure(runPass) {
  const busy0 = searchBusySeconds();
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
  return { qps: done / elapsed(), recall, busyUs: ((searchBusySeconds() - busy0) / done) * 1e6 };
}

function bindingPass(index, mode, opts) {
  const one = (i) => index.search(QUERIES.subarray(i * DIM, (i + 1) * DIM), K, opts);
  if (mode === 'nq=1') {
    return async () => {
      const ids = new BigInt64Array(NQ * K);
      for (let i = 0; i < NQ; i++) ids.set((await one(i)).ids, i * K);
      return ids;
    };
  }
  if (mode === 'nq=1 x streams') {
    return async () => {
      const ids = new BigInt64Array(NQ * K);
      let next = 0;
      const worker = async () => {
        for (let i; (i = next++) < NQ;) ids.set((await one(i)).ids, i * K);
      };
      await Promise.all(Array.from({ length: INFLIGHT }, worker));
      return ids;
    };
  }
  return async () => {
    const ids = new BigInt64Array(NQ * K);
    for (let i = 0; i < NQ; i += BATCH) {
      const n = Math.min(BATCH, NQ - i);
      ids.set((await index.search(QUERIES.subarray(i * DIM, (i + n) * DIM), K, opts)).ids, i * K);
    }
    return ids;
  };
}

function cppCommand(which, value, mode) {
  if (mode === 'nq=1') return `run ${which} ${value} 1 1 ${MIN_SECONDS}`;
  if (mode === 'nq=1 x streams') return `run ${which} ${value} 1 ${STREAMS} ${MIN_SECONDS}`;
  return `run ${which} ${value} ${BATCH} 1 ${MIN_SECONDS}`;
}

async function compare(rows, baseline, index, which, knob, value, opts) {
  for (const mode of MODES) {
    const best = { binding: { qps: 0, recall: 0, busyUs: 0 }, cpp: { qps: 0, recall: 0 } };
    for (let rep = 0; rep < REPS; rep++) {
      const b = await measure(bindingPass(index, mode, opts));
      const c = await baseline.send(cppCommand(which, value, mode));
      if (c.error) throw new Error(`baseline: ${c.error}`);
      if (b.qps > best.binding.qps) best.binding = b;
      if (c.qps > best.cpp.qps) best.cpp = c;
    }
    rows.push({ index: index.indexType, param: `${knob}=${value}`, mode, binding: best.binding, cpp: best.cpp });
    log(`${index.indexType} ${knob}=${value} ${mode}: binding ${best.binding.qps.toFixed(0)} QPS ` +
      `(search ${best.binding.busyUs.toFixed(0)} us/query), C++ ${best.cpp.qps.toFixed(0)} QPS`);
  }
}

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function main() {
  if (process.env.BENCH_SEARCH_THREADS) setThreadSettings({ searchThreads: Number(process.env.BENCH_SEARCH_THREADS) });
  if (process.env.BENCH_PARALLELISM) setThreadSettings({ searchParallelism: Number(process.env.BENCH_PARALLELISM) });
  const threads = getThreadSettings();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-faiss-bench-'));
  const baseline = new Baseline(buildBaseline(dir));
  try {
    log(`data: ${N} x ${DIM}, ${CLUSTERS} clusters; ${NQ} queries, k=${K}; cores=${CORES}; binding threads: ` +
      `search=${threads.searchThreads} build=${threads.buildThreads || 'all'} parallelism=${threads.searchParallelism}`);
    const gen = clustered(DIM, CLUSTERS, 7);
    const base = gen.points(N, 11);
    QUERIES = gen.points(NQ, 13);
    const ids = sequentialIds(N);

    log('ground truth (FLAT, exact)');
    const flat = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
    await flat.add(base, ids);
    GT = (await flat.search(QUERIES, K)).ids;
    flat.free();

    const write = (name, a) => fs.writeFileSync(path.join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    write('base.f32', base);
    write('queries.f32', QUERIES);
    write('gt.i64', GT);
    await baseline.send(`load ${dir} ${N} ${DIM} ${NQ} ${K}`);

    const builds = {};
    const rows = [];

    if (INDEXES.includes('hnsw')) {
      log(`HNSW M=${HNSW.M} efConstruction=${HNSW.efConstruction}: building (binding, then C++)`);
      const t0 = process.hrtime.bigint();
      const hnsw = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: HNSW });
      await hnsw.add(base, ids);
      builds.hnsw = { binding: seconds(t0), cpp: (await baseline.send(`build_hnsw ${HNSW.M} ${HNSW.efConstruction}`)).build };
      for (const ef of EFS) await compare(rows, baseline, hnsw, 'hnsw', 'ef', ef, { ef });
      hnsw.free();
    }
    if (INDEXES.includes('ivf')) {
      log(`IVF_FLAT nlist=${NLIST}: training and adding (binding, then C++)`);
      const t0 = process.hrtime.bigint();
      const ivf = VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim: DIM, params: { nlist: NLIST } });
      await ivf.train(base);
      await ivf.add(base, ids);
      builds.ivf = { binding: seconds(t0), cpp: (await baseline.send(`build_ivf ${NLIST}`)).build };
      for (const nprobe of NPROBES) await compare(rows, baseline, ivf, 'ivf', 'nprobe', nprobe, { nprobe });
      ivf.free();
    }

    if (process.env.BENCH_JSON === '1') for (const r of rows) console.log(JSON.stringify(r));
    printTable(rows, builds, threads);
  } finally {
    baseline.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** For one-call-at-a-time rows: a call's time in the binding = time on a search thread + the rest (hand-off). */
function split(r) {
  if (r.mode !== 'nq=1') return '';
  const perCall = 1e6 / r.binding.qps;
  return `${perCall.toFixed(0)} = ${r.binding.busyUs.toFixed(0)} + ${(perCall - r.binding.busyUs).toFixed(0)}`;
}

function printTable(rows, builds, threads) {
  const pad = (s, n) => String(s).padStart(n);
  const padR = (s, n) => String(s).padEnd(n);
  console.log(`\nfaiss binding vs C++ on the same libfaiss: ${N} x ${DIM} clustered (${CLUSTERS} clusters), ${NQ} queries, ` +
    `k=${K}, ${CORES} cores; best of ${REPS} alternating runs of >= ${MIN_SECONDS}s each`);
  console.log(`binding: searchThreads=${threads.searchThreads}, searchParallelism=${threads.searchParallelism}, ` +
    `search threads ${threads.searchPool} (spin ${threads.searchSpinUs} us, event-loop poll ${threads.searchPollUs} us); C++: OpenMP on ${CORES} threads for batches, 1 for ` +
    `single queries; both: ${Object.keys(NATIVE_ENV_DEFAULTS).map((k) => `${k}=${process.env[k] ?? NATIVE_ENV_DEFAULTS[k]}`).join(' ')}`);
  console.log(`modes: "nq=1" one query per call, one call at a time | "nq=1 x streams" one query per call, binding ` +
    `${INFLIGHT} calls in flight vs C++ ${STREAMS} threads | "batch" ${BATCH} queries per call, one call at a time`);
  const built = [];
  if (builds.hnsw) built.push(`HNSW M=${HNSW.M} efConstruction=${HNSW.efConstruction}: binding ${builds.hnsw.binding.toFixed(1)}, C++ ${builds.hnsw.cpp.toFixed(1)}`);
  if (builds.ivf) built.push(`IVF_FLAT nlist=${NLIST} train+add: binding ${builds.ivf.binding.toFixed(1)}, C++ ${builds.ivf.cpp.toFixed(1)}`);
  console.log(`build (s): ${built.join(' | ')}\n`);
  const head = '| index    | param      | mode           | binding QPS |  C++ QPS | ratio | binding us/call: search + hand-off | recall@10 binding | recall@10 C++ |';
  console.log(head);
  console.log(head.replace(/[^|]/g, '-'));
  for (const r of rows) {
    console.log(`| ${padR(r.index, 8)} | ${padR(r.param, 10)} | ${padR(r.mode, 14)} | ${pad(r.binding.qps.toFixed(0), 11)} | ` +
      `${pad(r.cpp.qps.toFixed(0), 8)} | ${pad((r.binding.qps / r.cpp.qps).toFixed(2), 5)} | ${pad(split(r), 34)} | ` +
      `${pad(r.binding.recall.toFixed(3), 17)} | ${pad(r.cpp.recall.toFixed(3), 13)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
