#!/usr/bin/env node
// Which faiss library binding.gyp links, decided when the addon is built (faiss 1.7.3 picks its SIMD level at
// compile time, with no runtime dispatch):
// - the AVX2 archive that scripts/install-faiss-simd.sh builds into .cache/faiss-avx2/<Debian source version of
//   libfaiss-dev>/, when it is there and this CPU has AVX2, FMA, F16C and POPCNT (the instructions it is built with);
// - otherwise Debian's generic libfaiss (libfaiss-dev), which runs on any x86-64.
// KITE_FAISS_SIMD=off forces the generic library (for comparing the two, or to rule the AVX2 build out);
// KITE_FAISS_SIMD_CACHE names another directory to look in instead of .cache/faiss-avx2.
//
// `node scripts/faiss-link.js include|libraries|defines` prints gyp's list for that key (one item a line);
// `node scripts/faiss-link.js` prints the choice and why.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REQUIRED_FLAGS = ['avx2', 'fma', 'f16c', 'popcnt'];

function cpuFlags() {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set(line ? line.split(':')[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

function debianFaissVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${source:Version}', 'libfaiss-dev'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

function choose() {
  const repoRoot = path.join(__dirname, '..', '..', '..');
  if (process.env.KITE_FAISS_SIMD === 'off') return { level: 'generic', why: 'KITE_FAISS_SIMD=off' };
  const flags = cpuFlags();
  const missing = REQUIRED_FLAGS.filter((f) => !flags.has(f));
  if (missing.length) return { level: 'generic', why: `this CPU has no ${missing.join(', ')}` };
  const version = debianFaissVersion();
  if (!version) return { level: 'generic', why: 'libfaiss-dev is not installed' };
  const cache = process.env.KITE_FAISS_SIMD_CACHE || path.join(repoRoot, '.cache', 'faiss-avx2');
  const dir = path.join(cache, version);
  const lib = path.join(dir, 'lib', 'libfaiss_avx2.a');
  if (!fs.existsSync(lib)) {
    return { level: 'generic', why: `no AVX2 build at ${lib} (scripts/install-faiss-simd.sh makes it)` };
  }
  return { level: 'avx2', why: `faiss ${version} built with AVX2`, include: path.join(dir, 'include'), lib };
}

const c = choose();
const key = process.argv[2];
if (key === 'include') {
  if (c.include) console.log(c.include);
} else if (key === 'libraries') {
  console.log(c.lib ?? '-lfaiss');
} else if (key === 'defines') {
  console.log(`KITE_FAISS_LIBRARY=${c.level}`);
} else if (key === undefined) {
  console.log(`faiss library: ${c.level} (${c.why})`);
} else {
  console.error(`faiss-link.js: unknown key "${key}"; use include, libraries or defines`);
  process.exit(2);
}
