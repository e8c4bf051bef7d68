#!/usr/bin/env node
// `pnpm --filter @kite/faiss run bench` (make bench-faiss): the binding against a C++ program (baseline.cc, built
// here with g++ and linked to the same libfaiss) on the same clustered data, in the same run. Prints build times,
// then QPS and recall@10 per search setting for both, and the binding/C++ QPS ratio. Each side builds its own index
// (for the build times); then the C++ program loads the binding's (shareIndex), and both search that one.
//
// Measurement: this VM's speed drifts by 10-20% within seconds (other tenants), so the two sides are compared in
// pairs of short slices taken back to back (BENCH_SLICE_SECONDS each, going round the query set; which side goes
// first alternates), BENCH_PAIRS pairs per row. A row shows the median QPS of each side, the median of the pairs'
// ratios and its quartiles. Recall@10 comes from one untimed pass per side.
//
// Environment (all optional): BENCH_N (100000), BENCH_DIM (128), BENCH_NQ (1000), BENCH_BATCH (100),
// BENCH_SLICE_SECONDS (0.2), BENCH_PAIRS (16), BENCH_EFS ("16,32,64,128,256"), BENCH_NPROBES ("1,4,16,64"),
// BENCH_STREAMS (C++ threads for the concurrent nq=1 rows; default: cores), BENCH_INFLIGHT (binding calls in
// flight for those rows; default: UV_THREADPOOL_SIZE or 4), BENCH_SEARCH_THREADS / BENCH_PARALLELISM (override the
// binding's thread settings, see src/threads.ts), BENCH_JSON=1 (also print every row as JSON),
// BENCH_INDEXES ("hnsw,ivf"), BENCH_MODES ("nq=1,nq=1 x streams,batch"): run a subset.
// The C++ program is linked against the faiss library the binding was built against (scripts/faiss-link.js: the
// AVX2 archive or Debian's generic libfaiss, with KITE_FAISS_SIMD=off forcing the latter); BENCH_FAISS_LIB names
// another archive instead. KITE_FAISS_ADDON: another build of the binding (src/native.ts). bench/run.js (`make
// bench-faiss`) runs this once per faiss library. BENCH_SUMMARY_FILE: write the build times and rows there as JSON.
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
const { NATIVE_ENV_DEFAULTS, faissBuildInfo } = require(path.join(dist, 'native.js'));

const env = (name, dflt) => (process.env[name] !== undefined && process.env[name] !== '' ? process.env[name] : dflt);
const N = Number(env('BENCH_N', 100000));
const DIM = Number(env('BENCH_DIM', 128));
const NQ = Number(env('BENCH_NQ', 1000));
const K = 10;
const BATCH = Number(env('BENCH_BATCH', 100));
const SLICE = Number(env('BENCH_SLICE_SECONDS', 0.2));
const PAIRS = Number(env('BENCH_PAIRS', 16));
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
    this.lines.on('line', (l) => {
      const w = this.waiting.shift();
      const r = JSON.parse(l);
      if (r.error) w?.reject(new Error(`baseline: ${r.error}`));
      else w?.resolve(r);
    });
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
  // BENCH_FAISS_LIB: link that faiss archive instead of -lfaiss, to compare another faiss build (an AVX2 one, say);
  // the binding must then be built against the same archive.
  const link = (key) => execFileSync(process.execPath, [path.join(pkgRoot, 'scripts', 'faiss-link.js'), key], { encoding: 'utf8' })
    .split('\n').filter(Boolean);
  const faiss = process.env.BENCH_FAISS_LIB ? [process.env.BENCH_FAISS_LIB] : link('libraries');
  const include = process.env.BENCH_FAISS_LIB ? [] : link('include').map((d) => `-I${d}`);
  const args = ['-O2', '-std=c++17', '-fopenmp', ...include, path.join(__dirname, 'baseline.cc'), '-o', out, ...faiss, '-lopenblas'];
  log(`g++ ${args.join(' ')}`);
  execFileSync('g++', args, { stdio: 'inherit' });
  return out;
}

let GT;
let QUERIES;

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
/** CPU seconds of this process (all its threads: the event loop, the addon's OpenMP team) since `u0`. */
const cpuSince = (u0) => {
  const u = process.cpuUsage(u0);
  return (u.user + u.system) / 1e6;
};

/**
 * One timed slice of the binding: calls until SLICE seconds passed, going round the query set. `busyUs`: the
 * binding's search-thread time per query in the same span, so that a call's time splits into search and hand-off.
 */
async function bindingSlice(index, mode, opts) {
  const busy0 = searchBusySeconds();
  const t0 = process.hrtime.bigint();
  const elapsed = () => seconds(t0);
  let done = 0;
  const one = (i) => index.search(QUERIES.subarray(i * DIM, (i + 1) * DIM), K, opts);
  if (mode === 'nq=1') {
    for (let i = 0; done === 0 || elapsed() < SLICE; i = (i + 1) % NQ, done++) await one(i);
  } else if (mode === 'nq=1 x streams') {
    let next = 0;
    const stream = async () => {
      do {
        await one(next++ % NQ);
        done++;
      } while (elapsed() < SLICE);
    };
    await Promise.all(Array.from({ length: INFLIGHT }, stream));
  } else {
    for (let i = 0; done === 0 || elapsed() < SLICE; i = (i + BATCH) % NQ) {
      const n = Math.min(BATCH, NQ - i);
      await index.search(QUERIES.subarray(i * DIM, (i + n) * DIM), K, opts);
      done += n;
    }
  }
  const s = elapsed();
  return { qps: done / s, busyUs: ((searchBusySeconds() - busy0) / done) * 1e6 };
}

function cppCommand(which, value, mode) {
  if (mode === 'nq=1') return `run ${which} ${value} 1 1 ${SLICE}`;
  if (mode === 'nq=1 x streams') return `run ${which} ${value} 1 ${STREAMS} ${SLICE}`;
  return `run ${which} ${value} ${BATCH} 1 ${SLICE}`;
}

const cppSlice = (baseline, which, value, mode) => baseline.send(cppCommand(which, value, mode));

/**
 * CPU time the hypervisor gave to other guests while this one wanted it ("steal" in /proc/stat), as a share of all
 * CPU time since `from`: a row measured under heavy steal says more about the host than about the binding (a call
 * that hands work to another thread needs two vCPUs scheduled at once; a single-threaded C++ loop needs one).
 */
function cpuTimes() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}
function stealSince(from) {
  const now = cpuTimes();
  return now.total > from.total ? (now.steal - from.steal) / (now.total - from.total) : 0;
}

/** The q-quantile of numbers (linear interpolation). */
function quantile(xs, q) {
  const v = [...xs].sort((a, b) => a - b);
  const at = (v.length - 1) * q;
  const lo = Math.floor(at);
  return v[lo] + (v[Math.min(lo + 1, v.length - 1)] - v[lo]) * (at - lo);
}

async function compare(rows, baseline, index, which, knob, value, opts) {
  const recall = {
    binding: recallAtK(GT, (await index.search(QUERIES, K, opts)).ids, NQ, K),
    cpp: (await baseline.send(`recall ${which} ${value}`)).recall,
  };
  for (const mode of MODES) {
    const b = [];
    const c = [];
    const stat0 = cpuTimes();
    const h = []; // nq=1 only: the C++ program handing each query to a worker thread
    const handoff = async () => {
      if (mode !== 'nq=1') return;
      h.push(await baseline.send(`handoff ${which} ${value} ${SLICE}`));
    };
    for (let pair = 0; pair < PAIRS; pair++) {
      if (pair % 2 === 0) {
        b.push(await bindingSlice(index, mode, opts));
        c.push(await cppSlice(baseline, which, value, mode));
        await handoff();
      } else {
        await handoff();
        c.push(await cppSlice(baseline, which, value, mode));
        b.push(await bindingSlice(index, mode, opts));
      }
    }
    const ratios = b.map((x, i) => x.qps / c[i].qps);
    const handoffRatios = h.map((x, i) => b[i].qps / x.qps);
    const row = {
      index: index.indexType, param: `${knob}=${value}`, mode, recall,
      binding: { qps: quantile(b.map((x) => x.qps), 0.5), busyUs: quantile(b.map((x) => x.busyUs), 0.5) },
      cpp: { qps: quantile(c.map((x) => x.qps), 0.5) },
      ratio: { median: quantile(ratios, 0.5), p25: quantile(ratios, 0.25), p75: quantile(ratios, 0.75) },
      steal: stealSince(stat0),
      handoff: h.length ? { qps: quantile(h.map((x) => x.qps), 0.5), ratio: quantile(handoffRatios, 0.5) } : undefined,
    };
    rows.push(row);
    log(`${row.index} ${row.param} ${mode}: binding ${row.binding.qps.toFixed(0)} QPS (search ${row.binding.busyUs.toFixed(0)} ` +
      `us/query), C++ ${row.cpp.qps.toFixed(0)} QPS, ratio ${row.ratio.median.toFixed(2)} ` +
      `(pairs: ${ratios.map((r) => r.toFixed(2)).join(' ')}); steal ${(row.steal * 100).toFixed(0)}%`);
  }
}

/**
 * Hands the binding's index to the C++ program (faiss's own format, as `serialize()` carries it after Kite's header
 * and frame), so that both sides search the same graph / lists: two parallel HNSW builds give different graphs, and
 * their search costs differ by some percent, which is not the binding's doing.
 */
async function shareIndex(baseline, dir, which, index) {
  const buf = await index.serialize();
  const payloadAt = 16 + buf.readUInt32LE(12) + 16; // magic+version+header length, header JSON, u64 length + u64 checksum
  const file = path.join(dir, `${which}.faiss`);
  fs.writeFileSync(file, buf.subarray(payloadAt));
  await baseline.send(`adopt ${which} ${file}`);
}

async function main() {
  if (process.env.BENCH_SEARCH_THREADS) setThreadSettings({ searchThreads: Number(process.env.BENCH_SEARCH_THREADS) });
  if (process.env.BENCH_PARALLELISM) setThreadSettings({ searchParallelism: Number(process.env.BENCH_PARALLELISM) });
  const threads = getThreadSettings();
  const faiss = faissBuildInfo();
  log(`faiss library: ${faiss.simd} ("${faiss.compileOptions}"), addon ${faiss.addonPath}`);
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
      const u0 = process.cpuUsage();
      const hnsw = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: HNSW });
      await hnsw.add(base, ids);
      const binding = { s: seconds(t0), cpu: cpuSince(u0) };
      const cpp = await baseline.send(`build_hnsw ${HNSW.M} ${HNSW.efConstruction}`);
      builds.hnsw = { binding: binding.s, bindingCpu: binding.cpu, cpp: cpp.build, cppCpu: cpp.cpu };
      await shareIndex(baseline, dir, 'hnsw', hnsw);
      for (const ef of EFS) await compare(rows, baseline, hnsw, 'hnsw', 'ef', ef, { ef });
      hnsw.free();
    }
    if (INDEXES.includes('ivf')) {
      log(`IVF_FLAT nlist=${NLIST}: training and adding (binding, then C++)`);
      const t0 = process.hrtime.bigint();
      const u0 = process.cpuUsage();
      const ivf = VectorIndex.create({ indexType: 'IVF_FLAT', metric: 'L2', dim: DIM, params: { nlist: NLIST } });
      await ivf.train(base);
      await ivf.add(base, ids);
      const binding = { s: seconds(t0), cpu: cpuSince(u0) };
      const cpp = await baseline.send(`build_ivf ${NLIST}`);
      builds.ivf = { binding: binding.s, bindingCpu: binding.cpu, cpp: cpp.build, cppCpu: cpp.cpu };
      await shareIndex(baseline, dir, 'ivf', ivf);
      for (const nprobe of NPROBES) await compare(rows, baseline, ivf, 'ivf', 'nprobe', nprobe, { nprobe });
      ivf.free();
    }

    if (process.env.BENCH_JSON === '1') for (const r of rows) console.log(JSON.stringify(r));
    printTable(rows, builds, threads, faiss);
    if (process.env.BENCH_SUMMARY_FILE) {
      fs.writeFileSync(process.env.BENCH_SUMMARY_FILE, JSON.stringify({ faiss, threads, cores: CORES, builds, rows }));
    }
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

function printTable(rows, builds, threads, faiss) {
  const pad = (s, n) => String(s).padStart(n);
  const padR = (s, n) => String(s).padEnd(n);
  console.log(`\nfaiss binding vs C++ on the same libfaiss (${faiss.simd}: "${faiss.compileOptions}"): ${N} x ${DIM} clustered (${CLUSTERS} clusters), ${NQ} queries, ` +
    `k=${K}, ${CORES} cores; per row ${PAIRS} pairs of back-to-back ${SLICE}s slices (binding, C++; order alternating): ` +
    `median QPS per side, median and quartiles of the pairs' ratios; steal: CPU time the host gave to other guests during the row`);
  console.log(`binding: searchThreads=${threads.searchThreads}, searchParallelism=${threads.searchParallelism}, ` +
    `search threads ${threads.searchPool} (spin ${threads.searchSpinUs} us, event-loop poll ${threads.searchPollUs} us); C++: OpenMP on ${CORES} threads for batches, 1 for ` +
    `single queries; both: ${Object.keys(NATIVE_ENV_DEFAULTS).map((k) => `${k}=${process.env[k] ?? NATIVE_ENV_DEFAULTS[k]}`).join(' ')}`);
  console.log('searches: the C++ program searches the index the binding built (loaded with faiss::read_index), so ' +
    'both search the same graph / lists; each side builds its own for the build times');
  console.log('C++ with hand-off (nq=1 rows): the C++ program hands each query to a worker thread and waits for it ' +
    '(condition variables, as a thread pool does): the cost any server pays that keeps its I/O thread free; the ratio ' +
    'there is binding / that');
  console.log(`modes: "nq=1" one query per call, one call at a time | "nq=1 x streams" one query per call, binding ` +
    `${INFLIGHT} calls in flight vs C++ ${STREAMS} threads | "batch" ${BATCH} queries per call, one call at a time`);
  const built = [];
  const cpu = (b) => `binding ${b.binding.toFixed(1)} (CPU ${b.bindingCpu.toFixed(1)}), C++ ${b.cpp.toFixed(1)} (CPU ${b.cppCpu.toFixed(1)})`;
  if (builds.hnsw) built.push(`HNSW M=${HNSW.M} efConstruction=${HNSW.efConstruction}: ${cpu(builds.hnsw)}`);
  if (builds.ivf) built.push(`IVF_FLAT nlist=${NLIST} train+add: ${cpu(builds.ivf)}`);
  console.log(`build, wall seconds (CPU seconds of all threads; OpenMP on all ${CORES} cores on both sides): ${built.join(' | ')}\n`);
  const head = '| index    | param      | mode           | binding QPS |  C++ QPS | ratio | ratio p25-p75 | binding us/call: search + hand-off | C++ with hand-off: QPS, ratio | steal | recall@10 binding | recall@10 C++ |';
  console.log(head);
  console.log(head.replace(/[^|]/g, '-'));
  for (const r of rows) {
    console.log(`| ${padR(r.index, 8)} | ${padR(r.param, 10)} | ${padR(r.mode, 14)} | ${pad(r.binding.qps.toFixed(0), 11)} | ` +
      `${pad(r.cpp.qps.toFixed(0), 8)} | ${pad(r.ratio.median.toFixed(2), 5)} | ` +
      `${pad(`${r.ratio.p25.toFixed(2)}-${r.ratio.p75.toFixed(2)}`, 13)} | ${pad(split(r), 34)} | ` +
      `${pad(r.handoff ? `${r.handoff.qps.toFixed(0)}, ${r.handoff.ratio.toFixed(2)}` : '', 29)} | ` +
      `${pad(`${(r.steal * 100).toFixed(0)}%`, 5)} | ` +
      `${pad(r.recall.binding.toFixed(3), 17)} | ${pad(r.recall.cpp.toFixed(3), 13)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
