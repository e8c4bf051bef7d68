#!/usr/bin/env node
// `pnpm --filter @kite/faiss run bench:hnsw-build`: HNSW build time, Kite's insertion loop (native/hnsw-build.cc)
// against faiss's own IndexHNSW::add, on bench.js's data (clustered, 200 clusters), in one process. Builds alternate
// (kite, faiss, faiss, kite, ...) so that the machine's background load hits both alike; each row gives the wall
// time, the process's CPU seconds during the add (all threads), recall@10 at ef=64 of the graph (Kite's search,
// against an exact FLAT search), and the 1-minute load average before the build.
//
// Environment (all optional): BENCH_N (100000), BENCH_DIM (128), BENCH_NQ (1000), BENCH_PAIRS (3), BENCH_M (16),
// BENCH_EFC (200), BENCH_EF (64), BENCH_BUILDERS ("kite,faiss").
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
if (!fs.existsSync(path.join(dist, 'index.js'))) {
  console.error('bench: packages/faiss/dist is missing; run `make build` (or npx tsc --build packages/faiss) first');
  process.exit(2);
}
const { VectorIndex, getHnswBuildSettings, setHnswBuildSettings, getThreadSettings } = require(path.join(dist, 'index.js'));
const { clustered, sequentialIds, recallAtK } = require(path.join(dist, 'synthetic.js'));

const env = (name, dflt) => Number(process.env[name] !== undefined && process.env[name] !== '' ? process.env[name] : dflt);
const N = env('BENCH_N', 100000);
const DIM = env('BENCH_DIM', 128);
const NQ = env('BENCH_NQ', 1000);
const PAIRS = env('BENCH_PAIRS', 3);
const M = env('BENCH_M', 16);
const EFC = env('BENCH_EFC', 200);
const EF = env('BENCH_EF', 64);
const K = 10;
const BUILDERS = (process.env.BENCH_BUILDERS || 'kite,faiss').split(',');

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);
const load = () => os.loadavg()[0].toFixed(2);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function main() {
  const gen = clustered(DIM, 200, 7);
  const base = gen.points(N, 11);
  const queries = gen.points(NQ, 13);
  const ids = sequentialIds(N);
  const flat = VectorIndex.create({ indexType: 'FLAT', metric: 'L2', dim: DIM });
  await flat.add(base, ids);
  const truth = (await flat.search(queries, K)).ids;
  flat.free();

  const s0 = getHnswBuildSettings();
  log(`${N} x ${DIM}, HNSW M=${M} efConstruction=${EFC}, L2; recall@${K} at ef=${EF} over ${NQ} queries; ` +
    `Kite kernel ${s0.kernel}; build threads ${getThreadSettings().buildThreads || 'all'} of ${getThreadSettings().hardwareThreads}`);
  const rows = [];
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? BUILDERS : [...BUILDERS].reverse();
    for (const builder of order) {
      setHnswBuildSettings({ builder });
      const index = VectorIndex.create({ indexType: 'HNSW', metric: 'L2', dim: DIM, params: { M, efConstruction: EFC } });
      const loadBefore = load();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await index.add(base, ids);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6;
      const recall = recallAtK(truth, (await index.search(queries, K, { ef: EF })).ids, NQ, K);
      index.free();
      const row = { builder, wall, cpu, recall, loadBefore, loadAfter: load() };
      rows.push(row);
      console.log(`${builder.padEnd(5)}  wall ${wall.toFixed(1).padStart(6)} s  CPU ${cpu.toFixed(1).padStart(6)} s  ` +
        `recall ${recall.toFixed(4)}  load ${loadBefore} -> ${row.loadAfter}`);
    }
  }
  setHnswBuildSettings({ builder: s0.builder });
  console.log('\nmedians:');
  for (const b of BUILDERS) {
    const r = rows.filter((x) => x.builder === b);
    console.log(`${b.padEnd(5)}  wall ${median(r.map((x) => x.wall)).toFixed(1)} s  CPU ${median(r.map((x) => x.cpu)).toFixed(1)} s  ` +
      `recall ${r.map((x) => x.recall.toFixed(4)).join(' ')}`);
  }
  if (BUILDERS.includes('kite') && BUILDERS.includes('faiss')) {
    const cpu = (b) => median(rows.filter((x) => x.builder === b).map((x) => x.cpu));
    console.log(`Kite / faiss CPU: ${(cpu('kite') / cpu('faiss')).toFixed(2)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
