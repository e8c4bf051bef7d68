#!/usr/bin/env node
// Benchmark (not a test): rows/s of evaluate() on a 1M-row batch for typical filters.
// Needs a build first: `pnpm --filter @kite/expr build && pnpm --filter @kite/expr bench`
// Options: --rows N (default 1000000), --runs N (default 7). For each filter it prints the median wall time and
// the best CPU time (process.cpuUsage, user + system) over the runs; rows/s is from the CPU time, which stays
// meaningful when other processes compete for the cores (the wall time does not; the load average is printed).
'use strict';

const { parseExpr, evaluate, countMatches } = require('../dist/index.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--rows', 1_000_000);
const RUNS = arg('--runs', 7);

let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};

const schema = {
  enableDynamicField: true,
  fields: [
    { name: 'id', type: 'Int64', isPrimaryKey: true },
    { name: 'age', type: 'Int32' },
    { name: 'price', type: 'Float' },
    { name: 'score', type: 'Double' },
    { name: 'name', type: 'VarChar' },
    { name: 'ok', type: 'Bool' },
    { name: 'meta', type: 'JSON' },
    { name: 'tags', type: 'Array', elementType: 'VarChar' },
    { name: 'maybe', type: 'Int32', nullable: true },
    { name: 'vec', type: 'FloatVector' },
  ],
};

console.log(`building ${N} rows...`);
const words = ['alpha', 'beta', 'gamma', 'delta', 'abacus', 'xyzzy', 'kite', 'milvus'];
const id = new BigInt64Array(N);
const age = new Int32Array(N);
const price = new Float32Array(N);
const score = new Float64Array(N);
const name = new Array(N);
const ok = new Uint8Array(N);
const meta = new Array(N);
const tags = new Array(N);
const maybe = new Int32Array(N);
const valid = new Uint8Array(N);
const dyn = new Array(N);
for (let i = 0; i < N; i++) {
  id[i] = BigInt(i) * 7919n + 9007199254740000n;
  age[i] = Math.floor(rand() * 100);
  price[i] = rand() * 100;
  score[i] = rand() * 1000;
  name[i] = words[i % words.length] + (i % 1000);
  ok[i] = rand() < 0.5 ? 1 : 0;
  meta[i] = { a: Math.floor(rand() * 10), s: words[i % 5] };
  tags[i] = [words[i % 3], words[(i >> 2) % 8]];
  maybe[i] = i % 50;
  valid[i] = i % 10 === 0 ? 0 : 1;
  dyn[i] = i % 3 === 0 ? { k: i % 7 } : {};
}
const columns = {
  id: { kind: 'int64', data: id },
  age: { kind: 'int', data: age },
  price: { kind: 'float', data: price },
  score: { kind: 'float', data: score },
  name: { kind: 'string', data: name },
  ok: { kind: 'bool', data: ok },
  meta: { kind: 'json', data: meta },
  tags: { kind: 'json', data: tags },
  maybe: { kind: 'int', data: maybe, valid },
  $meta: { kind: 'json', data: dyn },
};
const batch = { numRows: N, column: (n) => columns[n] };

const filters = [
  'age > 30',
  'age >= 20 and age < 40',
  '1 < age < 50',
  'age in [1, 5, 9, 13]',
  'age in [1, 5, 9, 13, 17, 21, 25, 29, 33, 37]',
  'not (age > 30)',
  'ok',
  'price < 50.5',
  'score > 500.0 or age < 10',
  'id > 9007199254750000',
  'id in [9007199254740000, 9007199254747919, 9007199254755838]',
  'id == 9007199254747919 or id == 9007199254755838',
  'age + 2 > 10',
  'age * 2 == 10',
  'price * 2 < 30',
  'id + 1 > 9007199254750000',
  'name == "kite7"',
  'name like "ab%"',
  'name like "%zz%"',
  'name like "a_p%"',
  'name in ["alpha0", "beta1", "kite6", "milvus7", "gamma2"]',
  'maybe > 10',
  'meta["a"] > 5',
  'meta["s"] == "beta"',
  'k == 3',
  'array_contains(tags, "gamma")',
  'age > 30 and (name like "ab%" or meta["a"] == 3) and not ok',
];

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
console.log(`load average: ${require('node:os').loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`${'filter'.padEnd(64)} ${'wall ms'.padStart(8)} ${'cpu ms'.padStart(8)} ${'Mrows/s'.padStart(9)} ${'matches'.padStart(9)}`);
for (const text of filters) {
  const expr = parseExpr(text, schema);
  let matches = 0;
  evaluate(expr, batch); // warm up
  const times = [];
  const cpu = [];
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const bm = evaluate(expr, batch);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    matches = countMatches(bm);
  }
  const best = Math.min(...cpu);
  console.log(
    `${text.padEnd(64)} ${median(times).toFixed(2).padStart(8)} ${best.toFixed(2).padStart(8)} ${(N / best / 1000).toFixed(1).padStart(9)} ${String(matches).padStart(9)}`,
  );
}

const P = 10000;
const c0 = process.cpuUsage();
for (let i = 0; i < P; i++) parseExpr('age > 30 and (name like "ab%" or meta["a"] == 3) and not ok', schema);
const c = process.cpuUsage(c0);
console.log(`parseExpr: ${((c.user + c.system) / P).toFixed(1)} µs CPU per call (parse + check + compile)`);
