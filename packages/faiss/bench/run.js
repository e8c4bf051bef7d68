#!/usr/bin/env node
// `make bench-faiss` (`pnpm --filter @kite/faiss run bench`): bench.js once per faiss library, in one run, then the
// two side by side. The addon in build/Release is the one `make build` linked (scripts/faiss-link.js: the AVX2
// archive when it is cached and the CPU has AVX2, else Debian's generic libfaiss); when that is the AVX2 one, a
// second copy of the addon linked to the generic library is built under build/bench-generic/ (node-gyp with
// KITE_FAISS_SIMD=off, about a minute) and bench.js runs again on it. Each run's C++ program links the same library
// as the addon it is compared with.
//
// Environment: everything bench.js reads (BENCH_N, BENCH_EFS, ...), and BENCH_LIBRARIES ("avx2,generic" by
// default, or one of them) to run a subset.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgRoot = path.join(__dirname, '..');
const mainAddon = path.join(pkgRoot, 'build', 'Release', 'kite_faiss.node');
const wanted = (process.env.BENCH_LIBRARIES || 'avx2,generic').split(',');

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** The faiss library an addon was linked against, asked in a child process (an addon loads once per process). */
function simdOf(addon) {
  const out = execFileSync(process.execPath, ['-e',
    `process.stdout.write(require(${JSON.stringify(path.join(pkgRoot, 'dist', 'native.js'))}).faissBuildInfo().simd)`],
  { encoding: 'utf8', env: { ...process.env, KITE_FAISS_ADDON: addon } });
  return out.trim();
}

/** A copy of the addon linked to Debian's generic libfaiss, built beside the main one (build/ is left alone). */
function buildGenericAddon() {
  const dir = path.join(pkgRoot, 'build', 'bench-generic');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const item of ['binding.gyp', 'native', 'scripts']) fs.cpSync(path.join(pkgRoot, item), path.join(dir, item), { recursive: true });
  const gyp = path.join(pkgRoot, 'node_modules', '.bin', 'node-gyp');
  const env = { ...process.env, KITE_FAISS_SIMD: 'off' };
  log('building a second addon linked to Debian\'s generic libfaiss (build/bench-generic)');
  for (const args of [['configure', '--nodedir=/usr'], ['build', '--nodedir=/usr', '-j', String(os.availableParallelism?.() ?? 2)]]) {
    const r = spawnSync(gyp, args, { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`node-gyp ${args[0]} failed in ${dir} (exit ${r.status})`);
  }
  return path.join(dir, 'build', 'Release', 'kite_faiss.node');
}

function runBench(simd, addon, summaryFile) {
  log(`=== faiss ${simd}: bench.js with ${addon} ===`);
  const env = { ...process.env, KITE_FAISS_ADDON: addon, BENCH_SUMMARY_FILE: summaryFile };
  if (simd === 'generic') env.KITE_FAISS_SIMD = 'off';
  const r = spawnSync(process.execPath, [path.join(__dirname, 'bench.js')], { env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`bench.js on the ${simd} faiss failed (exit ${r.status})`);
  return JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
}

function compareTable(results) {
  const [a, g] = [results.avx2, results.generic];
  console.log('\nfaiss AVX2 vs generic (Debian\'s libfaiss), same data, same run; "x" = AVX2 / generic');
  const builds = [['hnsw', 'HNSW M=16 efConstruction=200 build'], ['ivf', 'IVF_FLAT nlist=1024 train+add']];
  for (const [key, label] of builds) {
    if (!a.builds[key] || !g.builds[key]) continue;
    const x = (s) => `${s.avx2.toFixed(1)} s vs ${s.generic.toFixed(1)} s (generic / AVX2 = ${(s.generic / s.avx2).toFixed(2)})`;
    const b = (side) => `${x({ avx2: a.builds[key][side], generic: g.builds[key][side] })}, CPU ` +
      `${x({ avx2: a.builds[key][`${side}Cpu`], generic: g.builds[key][`${side}Cpu`] })}`;
    console.log(`${label}: binding ${b('binding')}; C++ ${b('cpp')}`);
  }
  const head = '| index    | param      | mode           | binding QPS avx2 | generic |     x | C++ QPS avx2 | generic |     x |';
  console.log(`\n${head}\n${head.replace(/[^|]/g, '-')}`);
  const pad = (v, n) => String(v).padStart(n);
  for (const r of a.rows) {
    const o = g.rows.find((x) => x.index === r.index && x.param === r.param && x.mode === r.mode);
    if (!o) continue;
    console.log(`| ${r.index.padEnd(8)} | ${r.param.padEnd(10)} | ${r.mode.padEnd(14)} | ${pad(r.binding.qps.toFixed(0), 16)} | ` +
      `${pad(o.binding.qps.toFixed(0), 7)} | ${pad((r.binding.qps / o.binding.qps).toFixed(2), 5)} | ` +
      `${pad(r.cpp.qps.toFixed(0), 12)} | ${pad(o.cpp.qps.toFixed(0), 7)} | ${pad((r.cpp.qps / o.cpp.qps).toFixed(2), 5)} |`);
  }
}

function main() {
  if (!fs.existsSync(mainAddon)) {
    console.error(`bench: ${mainAddon} is missing; run \`make build\` first`);
    process.exit(2);
  }
  const mainSimd = simdOf(mainAddon);
  const addons = { [mainSimd]: mainAddon };
  if (mainSimd === 'generic' && wanted.includes('avx2')) {
    const why = execFileSync(process.execPath, [path.join(pkgRoot, 'scripts', 'faiss-link.js')], { encoding: 'utf8' }).trim();
    log(`the addon links the generic faiss (${why}): measuring that one only (scripts/install-faiss-simd.sh, then ` +
      '`make build`, for the AVX2 one)');
  }
  if (mainSimd === 'avx2' && wanted.includes('generic')) addons.generic = buildGenericAddon();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-faiss-bench-run-'));
  try {
    const results = {};
    for (const simd of ['avx2', 'generic']) {
      if (addons[simd] && wanted.includes(simd)) results[simd] = runBench(simd, addons[simd], path.join(tmp, `${simd}.json`));
    }
    if (results.avx2 && results.generic) compareTable(results);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
