/**
 * Scalar index benchmark through the official Node SDK: a collection of --rows rows (default 1,000,000) in Kite
 * standalone, then a query and a filtered search (top 10) whose filter matches 0.1% of the rows, timed first with
 * the filter scanning the columns, then with an INVERTED index on Int64 field a, an STL_SORT index on Int64 field b
 * (a and b hold the same values, so their filters select the same rows) and a Trie index on VarChar field t (a
 * prefix filter). Prints median and p99 latency per case and the ratio scan / index (goal >= 10). It also times the
 * filter stage alone in this process (@kite/expr's evaluate over a 1M-row column, scan vs the same index), since the
 * end-to-end latency includes the request's fixed costs (gRPC, parsing, result assembly). Not a test; prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/scalar-index-bench.ts [--rows 1000000] [--batch 20000] [--repeats 30]
 *     [--cpu-prof <dir>]
 *
 * --cpu-prof runs the server under `node --cpu-prof` (a .cpuprofile of its main thread written to <dir> on exit),
 * and writes <dir>/phases.json: each timed case's span on the monotonic clock of the profile's timestamps.
 * The floor rows time the same query and search on a collection holding only the matching rows: what a request
 * with that result costs whatever the filter does (the bound of the ratio). The table also gives, per case, the server's CPU time by thread name (/proc/<pid>/task/<tid>/stat, Linux only):
 * the main thread versus the libuv pool, where faiss searches run.
 *
 * It starts `bin/kite standalone` on a temporary data directory and stops it at the end. Every loop is bounded.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk, rng } from '../standalone/helpers';
import { evaluate, parseExpr, ScalarIndex, type Column, type ColumnBatch } from '@kite/expr';
import { benchArgs, percentile } from './args';

function readOptions(argv: string[]) {
  const a = benchArgs(argv, { rows: 'int', batch: 'int', repeats: 'int', 'cpu-prof': 'string' }, __filename);
  return { rows: a.rows ?? 1_000_000, batch: a.batch ?? 20_000, repeats: a.repeats ?? 30, cpuProf: a['cpu-prof'] };
}

const DIM = 8;
const NAME = 'bench_scalar_index';
const BOUNDED = ConsistencyLevelEnum.Bounded;

/** CPU seconds of each thread of `pid` by thread name (utime + stime), empty where /proc is not there. */
function threadCpu(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === undefined) return out;
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  const tick = 100; // USER_HZ on Linux
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close).replace(/[0-9]+$/, '');
      const f = stat.slice(close + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / tick);
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** `sum` plus (`after - before`) per thread name. */
function addCpu(sum: Map<string, number>, before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map(sum);
  for (const [name, s] of after) out.set(name, (out.get(name) ?? 0) + s - (before.get(name) ?? 0));
  return out;
}

/** `after - before` per thread name, largest first, as "name 1.2s, ...". */
function cpuDelta(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const)
    .filter(([, s]) => s >= 0.05)
    .sort((x, y) => y[1] - x[1])
    .map(([name, s]) => `${name} ${s.toFixed(1)}s`)
    .join(', ');
}

/** Sum and count of the server's filter-stage histogram, both paths (kite_querynode_filter_duration_seconds). */
async function filterMetric(metricsPort: number): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const pick = (what: string): number =>
    [...text.matchAll(new RegExp(`^kite_querynode_filter_duration_seconds_${what}\\{[^}]*\\} (\\S+)$`, 'gm'))].reduce((x, m) => x + Number(m[1]), 0);
  return { sum: pick('sum'), count: pick('count') };
}

/** The filter stage alone: evaluate() over one column of all the rows, scanning it and with its scalar index. */
function filterStage(field: string, filter: string, col: Column, repeats: number): { scan: number[]; index: number[] } {
  const n = col.data.length;
  const schema = { enableDynamicField: false, fields: [{ name: field, type: col.kind === 'string' ? 'VarChar' as const : 'Int64' as const }] };
  const expr = parseExpr(filter, schema);
  const index = ScalarIndex.build(col);
  const plain: ColumnBatch = { numRows: n, column: (x) => (x === field ? col : undefined) };
  const indexed: ColumnBatch = { ...plain, scalarIndex: (x) => (x === field ? { index, firstRow: 0 } : undefined) };
  const scan: number[] = [];
  const withIndex: number[] = [];
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    const want = evaluate(expr, plain);
    scan.push(performance.now() - t);
    t = performance.now();
    // A fresh expression each time, as each request parses its own: no answer cached from the previous run.
    const got = evaluate(parseExpr(filter, schema), indexed);
    withIndex.push(performance.now() - t);
    if (!Buffer.from(got).equals(Buffer.from(want))) throw new Error(`filter ${filter}: the index's rows differ from the scan's`);
  }
  scan.sort((x, y) => x - y);
  withIndex.sort((x, y) => x - y);
  return { scan, index: withIndex };
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  const next = rng(77);
  // Values 0..rows-1 in a random order: a range of rows/1000 values matches 0.1% of the rows.
  const perm = Int32Array.from({ length: o.rows }, (_, i) => i);
  for (let i = o.rows - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const lo = Math.floor(o.rows / 2);
  const hi = lo + Math.max(1, Math.floor(o.rows / 1000));
  const want = hi - lo;
  // t: the value as a fixed-width decimal, so a prefix of it selects a range of values; `t like "<prefix>%"` matches
  // 10^(width - prefix length) rows, 0.1% of them.
  const width = String(o.rows - 1).length;
  const tag = (v: number): string => `k${String(v).padStart(width, '0')}`;
  const prefixLen = Math.max(1, width - Math.round(Math.log10(o.rows / 1000)));
  const prefix = tag(lo).slice(0, 1 + prefixLen);
  const wantT = perm.reduce((n, v) => n + (tag(v).startsWith(prefix) ? 1 : 0), 0);
  let server: Standalone | undefined;
  const phases: { filter: string; startUs: number; endUs: number }[] = [];
  const out: string[][] = [['case', 'p50', 'p99', 'detail']];
  const t00 = performance.now();
  try {
    server = await startStandalone(o.cpuProf === undefined ? {} : { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] });
    const client = new MilvusClient({ address: server.address, timeout: 600_000 });
    await client.connectPromise;
    expectOk(
      await client.createCollection({
        collection_name: NAME,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'a', data_type: DataType.Int64 },
          { name: 'b', data_type: DataType.Int64 },
          { name: 't', data_type: DataType.VarChar, max_length: 16 },
          { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
        ],
        consistency_level: 'Bounded',
      }),
      'createCollection',
    );
    expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'vector index');
    const t0 = performance.now();
    for (let start = 0; start < o.rows; start += o.batch) {
      const data = [];
      for (let id = start; id < Math.min(o.rows, start + o.batch); id++) {
        data.push({ id, a: perm[id]!, b: perm[id]!, t: tag(perm[id]!), vector: Array.from({ length: DIM }, () => next() * 2 - 1) });
      }
      expectOk((await client.insert({ collection_name: NAME, data })).status, 'insert');
    }
    const insertS = (performance.now() - t0) / 1000;
    const flush = await client.flush({ collection_names: [NAME] });
    const segIDs = Object.values(flush.coll_segIDs as Record<string, { data: string[] }>).flatMap((v) => v.data);
    await eventually('flushed', async () => ((await client.getFlushState({ segmentIDs: segIDs as unknown as number[] })).flushed ? true : undefined), 900_000);
    await client.loadCollectionSync({ collection_name: NAME });
    out.push(['insert + flush + load', '', '', `${o.rows} rows in ${insertS.toFixed(1)} s insert (${Math.round(o.rows / insertS)} rows/s), ${((performance.now() - t0) / 1000).toFixed(1)} s in all`]);
    const q = Array.from({ length: DIM }, () => next() * 2 - 1);

    /** p50 and p99 of `repeats` runs of a query and of a filtered search with `filter`; checks the rows found. */
    const time = async (filter: string, expect = want): Promise<{ query: number[]; search: number[]; cpu: { query: string; search: string }; filterMs: number; clientMs: number }> => {
      const startUs = Number(process.hrtime.bigint() / 1000n);
      const f0 = await filterMetric(server!.metricsPort);
      const c0 = process.cpuUsage();
      const query: number[] = [];
      const search: number[] = [];
      const pid = server?.pid;
      let cpuQ = new Map<string, number>();
      let cpuS = new Map<string, number>();
      for (let r = 0; r < o.repeats; r++) {
        let c = threadCpu(pid);
        let t = performance.now();
        const res = await client.query({ collection_name: NAME, filter, output_fields: ['id'], limit: 16384, consistency_level: BOUNDED });
        query.push(performance.now() - t);
        cpuQ = addCpu(cpuQ, c, threadCpu(pid));
        expectOk(res.status, `query ${filter}`);
        if (res.data.length !== expect) throw new Error(`query "${filter}" returned ${res.data.length} rows, expected ${expect}`);
        c = threadCpu(pid);
        t = performance.now();
        const s = await client.search({ collection_name: NAME, data: [q], limit: 10, filter, output_fields: ['id'], consistency_level: BOUNDED });
        search.push(performance.now() - t);
        cpuS = addCpu(cpuS, c, threadCpu(pid));
        expectOk(s.status, `search ${filter}`);
      }
      const c1 = process.cpuUsage(c0);
      const f1 = await filterMetric(server!.metricsPort);
      // The phase's span on the monotonic clock the server's .cpuprofile timestamps use, to cut the profile by case.
      phases.push({ filter, startUs, endUs: Number(process.hrtime.bigint() / 1000n) });
      query.sort((x, y) => x - y);
      search.sort((x, y) => x - y);
      const requests = 2 * o.repeats;
      return {
        query,
        search,
        cpu: { query: cpuDelta(new Map(), cpuQ), search: cpuDelta(new Map(), cpuS) },
        // The server's filter stage per request (every segment and growing source it evaluated on), and this
        // process's CPU per request: the Node SDK client's share of the latency.
        filterMs: ((f1.sum - f0.sum) * 1000) / requests,
        clientMs: (c1.user + c1.system) / 1000 / requests,
      };
    };
    // The floor: the same query and search on a collection holding only the rows the filter matches (as many as in
    // the big one, so the same result size), what a request costs whatever the filter's work.
    const FLOOR = `${NAME}_floor`;
    expectOk(await client.createCollection({ collection_name: FLOOR, fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'a', data_type: DataType.Int64 }, { name: 'vector', data_type: DataType.FloatVector, dim: DIM }], consistency_level: 'Bounded' }), 'floor collection');
    expectOk(await client.createIndex({ collection_name: FLOOR, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'floor vector index');
    const floorRows = Array.from({ length: want }, (_, i) => ({ id: i, a: lo + i, vector: Array.from({ length: DIM }, () => next() * 2 - 1) }));
    expectOk((await client.insert({ collection_name: FLOOR, data: floorRows })).status, 'floor insert');
    await client.flush({ collection_names: [FLOOR] });
    await client.loadCollectionSync({ collection_name: FLOOR });
    const fa = `a >= ${lo} and a < ${hi}`;
    const fb = `b >= ${lo} and b < ${hi}`;
    const ft = `t like "${prefix}%"`;
    // Warm-up of every filter, so that the first case measured does not pay for cold code and earlier garbage.
    const warmUp = async (): Promise<void> => {
      for (const [f, n] of [[fa, want], [fb, want], [ft, wantT]] as const) await time(f, n);
    };
    await warmUp();
    const scan = await time(fa);
    const scanB = await time(fb);
    const scanT = await time(ft, wantT);

    expectOk(await client.releaseCollection({ collection_name: NAME }), 'release');
    const tIdx = performance.now();
    expectOk(await client.createIndex({ collection_name: NAME, field_name: 'a', index_type: 'INVERTED' }), 'INVERTED on a');
    expectOk(await client.createIndex({ collection_name: NAME, field_name: 'b', index_type: 'STL_SORT' }), 'STL_SORT on b');
    expectOk(await client.createIndex({ collection_name: NAME, field_name: 't', index_type: 'Trie' }), 'Trie on t');
    await eventually('scalar indexes built', async () => {
      const d = await client.describeIndex({ collection_name: NAME });
      const mine = d.index_descriptions.filter((x) => ['a', 'b', 't'].includes(x.field_name));
      return mine.length === 3 && mine.every((x) => Number(x.indexed_rows) === o.rows) ? true : undefined;
    }, 900_000);
    const buildS = (performance.now() - tIdx) / 1000;
    await client.loadCollectionSync({ collection_name: NAME });
    out.push(['build INVERTED + STL_SORT + Trie, load', '', '', `${buildS.toFixed(1)} s build, ${((performance.now() - tIdx) / 1000 - buildS).toFixed(1)} s load`]);
    await warmUp();
    const inv = await time(fa);
    const sorted = await time(fb);
    const trie = await time(ft, wantT);
    // Timed after the other cases, warmed up as they are.
    const floorQ: number[] = [];
    const floorS: number[] = [];
    // Server CPU (all threads) of the measured floor requests, per request.
    const total = (m: Map<string, number>): number => [...m.values()].reduce((x, y) => x + y, 0);
    let floorCpuQ = 0;
    let floorCpuS = 0;
    for (let r = 0; r < o.repeats * 2; r++) {
      let c = total(threadCpu(server?.pid));
      let t = performance.now();
      const fq = await client.query({ collection_name: FLOOR, filter: fa, output_fields: ['id'], limit: 16384, consistency_level: BOUNDED });
      floorQ.push(performance.now() - t);
      if (r >= o.repeats) floorCpuQ += total(threadCpu(server?.pid)) - c;
      expectOk(fq.status, 'floor query');
      if (fq.data.length !== want) throw new Error(`floor query returned ${fq.data.length} rows, expected ${want}`);
      c = total(threadCpu(server?.pid));
      t = performance.now();
      const fs0 = await client.search({ collection_name: FLOOR, data: [q], limit: 10, filter: fa, output_fields: ['id'], consistency_level: BOUNDED });
      floorS.push(performance.now() - t);
      if (r >= o.repeats) floorCpuS += total(threadCpu(server?.pid)) - c;
      expectOk(fs0.status, 'floor search');
    }
    // The first half warms up.
    floorQ.splice(0, o.repeats);
    floorS.splice(0, o.repeats);
    floorQ.sort((x, y) => x - y);
    floorS.sort((x, y) => x - y);

    const row = (name: string, lat: number[], detail: string): void => {
      out.push([name, `${percentile(lat, 50).toFixed(1)} ms`, `${percentile(lat, 99).toFixed(1)} ms`, detail]);
    };
    const ratio = (a: number[], b: number[]): string => `${(percentile(a, 50) / percentile(b, 50)).toFixed(1)}x`;
    row('query, scan (a)', scan.query, `"${fa}": ${want} of ${o.rows} rows`);
    row('query, scan (b)', scanB.query, `"${fb}"`);
    row('query, INVERTED (a)', inv.query, `scan / index ${ratio(scan.query, inv.query)}`);
    row('query, STL_SORT (b)', sorted.query, `scan / index ${ratio(scanB.query, sorted.query)}`);
    row('query, scan (t)', scanT.query, `"${ft}": ${wantT} rows`);
    row('query, Trie (t)', trie.query, `scan / index ${ratio(scanT.query, trie.query)}`);
    row('query, floor', floorQ, `the same query on a collection of only its ${want} matching rows: the cost of a request and its result`);
    row('search, floor', floorS, 'the same search on that collection');
    row('search top 10, scan (a)', scan.search, 'FLAT, dim 8, pre-filter from the filter');
    row('search top 10, scan (b)', scanB.search, '');
    row('search top 10, INVERTED (a)', inv.search, `scan / index ${ratio(scan.search, inv.search)}`);
    row('search top 10, STL_SORT (b)', sorted.search, `scan / index ${ratio(scanB.search, sorted.search)}`);
    row('search top 10, scan (t)', scanT.search, '');
    row('search top 10, Trie (t)', trie.search, `scan / index ${ratio(scanT.search, trie.search)}`);
    const stageRow = (name: string, scanned: { filterMs: number }, indexed: { filterMs: number }): void => {
      out.push([`filter stage in the server, ${name}`, '', '', `${scanned.filterMs.toFixed(2)} ms scan, ${indexed.filterMs.toFixed(2)} ms index per request (kite_querynode_filter_duration_seconds): scan / index ${(scanned.filterMs / indexed.filterMs).toFixed(1)}x`]);
    };
    stageRow('INVERTED (a)', scan, inv);
    stageRow('STL_SORT (b)', scanB, sorted);
    stageRow('Trie (t)', scanT, trie);
    const bound = (scanned: number[], floor: number[]): string => (percentile(scanned, 50) / percentile(floor, 50)).toFixed(1);
    out.push(['bound of the end-to-end ratio', '', '', `scan / floor (p50): query ${bound(scan.query, floorQ)}x (a), ${bound(scanB.query, floorQ)}x (b), ${bound(scanT.query, floorQ)}x (t); search ${bound(scan.search, floorS)}x, ${bound(scanB.search, floorS)}x, ${bound(scanT.search, floorS)}x: what an index that cost nothing would reach`]);
    out.push(['client CPU per request (this process)', '', '', [['scan (a)', scan], ['INVERTED (a)', inv], ['Trie (t)', trie]].map(([n, r]) => `${n as string} ${(r as { clientMs: number }).clientMs.toFixed(2)} ms`).join(', ') + ': the Node SDK encoding and decoding, on the same 2 cores']);
    out.push(['server CPU per request, floor', '', '', `query ${((floorCpuQ / o.repeats) * 1000).toFixed(2)} ms, search ${((floorCpuS / o.repeats) * 1000).toFixed(2)} ms (all threads, /proc, 10 ms ticks)`]);
    out.push(['load average at the end', '', '', os.loadavg().map((x) => x.toFixed(2)).join(' ')]);
    for (const [name, r] of [['scan (a)', scan], ['INVERTED (a)', inv], ['scan (b)', scanB], ['STL_SORT (b)', sorted], ['scan (t)', scanT], ['Trie (t)', trie]] as const) {
      out.push([`server CPU, query ${name}`, '', '', r.cpu.query]);
      out.push([`server CPU, search ${name}`, '', '', r.cpu.search]);
    }
    for (const [name, filter, col] of [
      ['a', fa, { kind: 'int64', data: BigInt64Array.from(perm, (v) => BigInt(v)) }],
      ['t', ft, { kind: 'string', data: Array.from(perm, tag) }],
    ] as [string, string, Column][]) {
      const stage = filterStage(name, filter, col, o.repeats);
      row(`filter stage only, scan (${name})`, stage.scan, `evaluate() over one ${o.rows}-row column in this process`);
      row(`filter stage only, index (${name})`, stage.index, `scan / index ${ratio(stage.scan, stage.index)}`);
    }
    await client.closeConnection();
  } finally {
    await server?.dispose();
  }
  if (o.cpuProf !== undefined) fs.writeFileSync(`${o.cpuProf}/phases.json`, JSON.stringify(phases));
  out.push(['total', '', '', `${((performance.now() - t00) / 1000).toFixed(0)} s; ${o.repeats} runs per case`]);
  const widths = out[0]!.map((_, c) => Math.max(...out.map((r) => r[c]!.length)));
  for (const r of out) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
