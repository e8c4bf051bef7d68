/**
 * Soak: mixed insert / upsert / delete / search / query load against a local Kite cluster (etcd, Kafka, coordinator,
 * 2 query nodes, a data node, a proxy; loopback only) through the official Node SDK, for SOAK_MINUTES minutes (30 by
 * default, 1–240). Not a test; prints one row per minute and a verdict at the end:
 *
 *   SOAK_MINUTES=30 test/node_modules/.bin/tsx test/bench/soak.ts     (or `make soak`)
 *
 * Per minute: operations and p99 latency per kind, errors, the RSS of every process (VmRSS of /proc/<pid>/status,
 * children included, so Kafka's JVM counts under its launcher) and the segments the query coordinator serves; under
 * each row, from the components' metrics, the JS heap in use (and external memory) per process, the segments and rows
 * each query node holds (sealed + growing), and the compaction plans created, completed and the rows they purged.
 *
 * The load: one writer (so that acknowledgements are ordered and the client's model of the collection is exact)
 * cycles insert of 200 fresh ids, upsert of 50 live ids (new values) and delete of live ids, at most
 * SOAK_WRITE_CYCLES_PER_S (2) cycles a second, keeping about SOAK_LIVE_ROWS (20,000) live rows, so that memory should not grow with the data; two searchers (nq 1, top 10) and one querier (`id in
 * [...]`) run at the same time, Bounded consistency. Automatic compaction is on (the cluster default; the test
 * launcher turns it off, this run turns it back on), and segments seal at SOAK_SEGMENT_ROWS (5,000) rows so that compaction
 * has small segments to merge and deletes to purge during the run.
 *
 * At the end: a Strong query of every id (by id range) must return exactly the model's ids and values, and count(*)
 * must equal the model's size. A write whose call failed leaves its ids uncertain (it may or may not have applied);
 * such ids are reported, and excluded from the exact comparison only until a later acknowledged write settles them.
 *
 * Verdicts: RSS of each process over the last 20 minutes (the last two thirds of a shorter run) may grow at most 10%
 * (mean of the window's first two samples against its last two): PASS/FAIL per process. p99 steadiness: the p99 of
 * each kind over the last 10 minutes divided by the p99 over the first 10 (thirds for a run under 30 minutes).
 * A run shorter than about 15 minutes has no window after warm-up (memory still rises with the first segments and
 * compactions), so its RSS verdicts only prove the harness. Exits 1 if the data check fails or a process died; RSS FAILs are reported but do not change the exit code.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { KiteCluster } from '../cluster/launcher';
import { percentile } from './args';
import { expectOk, rng } from '../standalone/helpers';

function envInt(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${raw}`);
  return n;
}

const MINUTES = envInt('SOAK_MINUTES', 30, 1, 240);
const LIVE_ROWS = envInt('SOAK_LIVE_ROWS', 20_000, 1_000, 1_000_000);
const SEGMENT_ROWS = envInt('SOAK_SEGMENT_ROWS', 5_000, 100, 1_000_000);
const WRITE_CYCLES_PER_S = envInt('SOAK_WRITE_CYCLES_PER_S', 2, 1, 100);
const DIM = 32;
const INSERT_BATCH = 200;
const UPSERT_BATCH = 50;
const DELETE_BATCH = 200;
const CALL_TIMEOUT_MS = 60_000;
const SAMPLE_MS = 10_000;
const NAME = 'soak';
const STRONG = ConsistencyLevelEnum.Strong;
const BOUNDED = ConsistencyLevelEnum.Bounded;

type Kind = 'insert' | 'upsert' | 'delete' | 'search' | 'query';
const KINDS: Kind[] = ['insert', 'upsert', 'delete', 'search', 'query'];

interface Bucket {
  ms: Record<Kind, number[]>;
  errors: Record<Kind, number>;
}
function newBucket(): Bucket {
  return {
    ms: { insert: [], upsert: [], delete: [], search: [], query: [] },
    errors: { insert: 0, upsert: 0, delete: 0, search: 0, query: 0 },
  };
}

/** VmRSS in KiB of `pid` and all its descendants (Kafka's pid may be a launcher whose child is the JVM). */
function treeRssKiB(pid: number): number | undefined {
  const status = (p: number): string | undefined => {
    try {
      return fs.readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      return undefined;
    }
  };
  const own = status(pid);
  if (own === undefined) return undefined;
  let total = Number(/VmRSS:\s+(\d+)/.exec(own)?.[1] ?? 0);
  let children: number[] = [];
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    children = [];
  }
  for (const c of children) total += treeRssKiB(c) ?? 0;
  return total;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => cell.padStart(widths[c]!)).join(' | ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}

function vector(r: () => number): number[] {
  return Array.from({ length: DIM }, () => r());
}

async function main(): Promise<number> {
  const t0 = Date.now();
  console.log(
    `soak: ${MINUTES} min, ~${LIVE_ROWS} live rows, <= ${WRITE_CYCLES_PER_S} write cycles/s (insert ${INSERT_BATCH}, upsert ${UPSERT_BATCH}, ` +
      `delete <= ${2 * DELETE_BATCH} rows), segments seal at ${SEGMENT_ROWS} rows, automatic compaction on`,
  );
  const cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 1,
    proxies: 1,
    env: { KITE_COMPACTION_ENABLED: 'true', KITE_DATANODE_SEGMENT_MAX_ROWS: String(SEGMENT_ROWS) },
  });
  let exitCode = 0;
  try {
    console.log(`cluster up in ${(cluster.upTimesMs[0]! / 1000).toFixed(1)} s at ${cluster.address}`);
    const procs: { name: string; pid: number }[] = [
      { name: 'etcd', pid: cluster.info.etcd.pid },
      { name: 'kafka', pid: cluster.info.kafka.pid },
    ];
    const roleCount: Record<string, number> = {};
    const roleOrder = ['querycoord', 'querynode', 'datanode', 'proxy'];
    const components = [...cluster.info.components].sort((a, b) => roleOrder.indexOf(a.role) - roleOrder.indexOf(b.role) || a.serverID - b.serverID);
    for (const c of components) {
      roleCount[c.role] = (roleCount[c.role] ?? 0) + 1;
      const short = { querycoord: 'coord', querynode: 'qn', datanode: 'dn', proxy: 'proxy' }[c.role];
      procs.push({ name: c.role === 'querynode' ? `${short}${roleCount[c.role]}` : short, pid: c.pid });
    }
    const coordMetrics = cluster.components('querycoord')[0]?.metrics;

    const client = new MilvusClient({ address: cluster.address, timeout: CALL_TIMEOUT_MS, logLevel: 'error' });
    await client.connectPromise;
    expectOk(
      await client.createCollection({
        collection_name: NAME,
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true },
          { name: 'val', data_type: DataType.Int64 },
          { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
        ],
        shards_num: 2,
        consistency_level: 'Bounded',
      }),
      'createCollection',
    );
    expectOk(
      await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 16, efConstruction: 64 } }),
      'createIndex',
    );
    expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'loadCollection');

    // The model: every acknowledged write, in acknowledgement order (one writer).
    const model = new Map<number, number>();
    const live: number[] = []; // ids in the model, for O(1) random picks
    const livePos = new Map<number, number>();
    const addLive = (id: number): void => {
      if (livePos.has(id)) return;
      livePos.set(id, live.length);
      live.push(id);
    };
    const removeLive = (id: number): void => {
      const i = livePos.get(id);
      if (i === undefined) return;
      const last = live.pop()!;
      if (last !== id) {
        live[i] = last;
        livePos.set(last, i);
      }
      livePos.delete(id);
    };
    const uncertain = new Set<number>();
    let nextId = 0;
    let valSeq = 0;

    let bucket = newBucket();
    const minutes: Bucket[] = [];
    const rssSamples: { t: number; rss: (number | undefined)[] }[] = [];
    const segmentsPerMinute: (number | undefined)[] = [];
    const errorSamples: string[] = [];
    let stop = false;
    const deadline = Date.now() + MINUTES * 60_000;

    const timed = async (kind: Kind, call: () => Promise<unknown>): Promise<boolean> => {
      const t = performance.now();
      try {
        const res = await call();
        const r = res as { status?: { error_code?: string; code?: number; reason?: string }; error_code?: string; code?: number; reason?: string };
        const st = r.status ?? r;
        if (st.error_code !== undefined && (st.error_code !== 'Success' || (st.code !== undefined && Number(st.code) !== 0))) {
          throw new Error(`${st.error_code} ${st.reason ?? ''}`);
        }
        bucket.ms[kind].push(performance.now() - t);
        return true;
      } catch (e) {
        bucket.errors[kind]++;
        if (errorSamples.length < 20) errorSamples.push(`${new Date().toISOString()} ${kind}: ${(e as Error).message.slice(0, 300)}`);
        return false;
      }
    };

    const r = rng(7);
    const writer = async (): Promise<void> => {
      let cycle = 0;
      const writeStart = Date.now();
      while (!stop && Date.now() < deadline) {
        // at most WRITE_CYCLES_PER_S cycles a second, so the write load is the same all run long
        const due = writeStart + (cycle * 1000) / WRITE_CYCLES_PER_S;
        if (Date.now() < due) await new Promise((res) => setTimeout(res, due - Date.now()));
        cycle++;
        // insert fresh ids
        const ins = Array.from({ length: INSERT_BATCH }, () => ({ id: nextId++, val: ++valSeq, vector: vector(r) }));
        if (await timed('insert', () => client.insert({ collection_name: NAME, data: ins }))) {
          for (const row of ins) {
            model.set(row.id, row.val);
            addLive(row.id);
            uncertain.delete(row.id);
          }
        } else for (const row of ins) uncertain.add(row.id);
        // upsert live ids with new values (and now and then an id deleted before: an upsert re-creates it)
        if (live.length > UPSERT_BATCH) {
          const ids = new Set<number>();
          while (ids.size < UPSERT_BATCH) ids.add(cycle % 5 === 0 && ids.size < 5 && nextId > 0 ? Math.floor(r() * nextId) : live[Math.floor(r() * live.length)]!);
          const ups = [...ids].map((id) => ({ id, val: ++valSeq, vector: vector(r) }));
          if (await timed('upsert', () => client.upsert({ collection_name: NAME, data: ups }))) {
            for (const row of ups) {
              model.set(row.id, row.val);
              addLive(row.id);
              uncertain.delete(row.id);
            }
          } else for (const row of ups) uncertain.add(row.id);
        }
        // delete live ids once the live set is at its size, so it stays about constant
        if (live.length > LIVE_ROWS) {
          const ids = new Set<number>();
          const want = Math.min(2 * DELETE_BATCH, live.length - LIVE_ROWS);
          while (ids.size < want) ids.add(live[Math.floor(r() * live.length)]!);
          const list = [...ids];
          if (await timed('delete', () => client.delete({ collection_name: NAME, filter: `id in [${list.join(',')}]` }))) {
            for (const id of list) {
              model.delete(id);
              removeLive(id);
              uncertain.delete(id);
            }
          } else for (const id of list) uncertain.add(id);
        }
      }
    };
    const searcher = async (seed: number): Promise<void> => {
      const rs = rng(seed);
      while (!stop && Date.now() < deadline) {
        await timed('search', () =>
          client.search({ collection_name: NAME, data: [vector(rs)], limit: 10, output_fields: ['id', 'val'], params: { ef: 64 }, consistency_level: BOUNDED }),
        );
      }
    };
    const querier = async (): Promise<void> => {
      const rq = rng(99);
      while (!stop && Date.now() < deadline) {
        if (live.length === 0) {
          await new Promise((res) => setTimeout(res, 100));
          continue;
        }
        const ids = Array.from({ length: 20 }, () => live[Math.floor(rq() * live.length)]!);
        await timed('query', () => client.query({ collection_name: NAME, filter: `id in [${ids.join(',')}]`, output_fields: ['id', 'val'], consistency_level: BOUNDED }));
      }
    };

    const segmentsServed = async (): Promise<number | undefined> => {
      if (coordMetrics === undefined) return undefined;
      try {
        const text = await (await fetch(`http://127.0.0.1:${coordMetrics}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        const m = new RegExp(`kite_querycoord_segments\\{collection="${NAME}",state="served"\\} (\\d+)`).exec(text);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    };

    /** Sum of the samples of `name` (any labels, optionally only those whose labels contain `label`) in a metrics text. */
    const metricSum = (text: string, name: string, label = ''): number => {
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-z_]+)(\{[^}]*\})? ([-0-9.e+]+)$/.exec(line);
        if (m && m[1] === name && (m[2] ?? '').includes(label)) sum += Number(m[3]);
      }
      return sum;
    };
    /** One line per minute from the components' metrics: JS heap in use per process, what each query node holds, compaction. */
    const internals = async (): Promise<string> => {
      const parts: string[] = [];
      let qn = 0;
      for (const c of components) {
        let text: string;
        try {
          text = await (await fetch(`http://127.0.0.1:${c.metrics}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        } catch {
          parts.push(`${c.role}: metrics unavailable`);
          continue;
        }
        const heap = (metricSum(text, 'nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(0);
        const ext = (metricSum(text, 'nodejs_external_memory_bytes') / 2 ** 20).toFixed(0);
        let tag: string = c.role;
        let more = '';
        if (c.role === 'querynode') {
          tag = `qn${++qn}`;
          more =
            ` segs ${metricSum(text, 'kite_querynode_segments', 'sealed')}+${metricSum(text, 'kite_querynode_segments', 'growing')}g` +
            ` rows ${metricSum(text, 'kite_querynode_rows', 'sealed')}+${metricSum(text, 'kite_querynode_rows', 'growing')}g`;
        } else if (c.role === 'querycoord') {
          tag = 'coord';
          more = ` plans ${metricSum(text, 'kite_querycoord_compaction_plans_total')}`;
        } else if (c.role === 'datanode') {
          tag = 'dn';
          more =
            ` plans ${metricSum(text, 'kite_datanode_compaction_plans_total', 'completed')} ok/${metricSum(text, 'kite_datanode_compaction_plans_total')}` +
            ` purged ${metricSum(text, 'kite_datanode_compaction_rows_purged_total')} buffered ${metricSum(text, 'kite_datanode_buffered_rows')}`;
        }
        parts.push(`${tag} heap ${heap} ext ${ext}${more}`);
      }
      return parts.join('; ');
    };

    const header = ['min', ...KINDS.flatMap((k) => [`${k}/s`, `${k} p99`]), 'errors', 'segs', 'live', ...procs.map((p) => `${p.name} MiB`)];
    const printed: string[][] = [header];
    console.log(header.join(' | '));
    const sampleRss = (): (number | undefined)[] => procs.map((p) => treeRssKiB(p.pid));
    rssSamples.push({ t: 0, rss: sampleRss() });
    const sampler = (async () => {
      const start = Date.now();
      let minute = 0;
      let lastMinuteAt = start;
      while (Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, Math.min(SAMPLE_MS, Math.max(0, deadline - Date.now()))));
        const rss = sampleRss();
        rssSamples.push({ t: (Date.now() - start) / 60_000, rss });
        if (Date.now() - lastMinuteAt >= 60_000 - 500 || Date.now() >= deadline) {
          const secs = (Date.now() - lastMinuteAt) / 1000;
          lastMinuteAt = Date.now();
          minute++;
          const b = bucket;
          bucket = newBucket();
          minutes.push(b);
          const segs = await segmentsServed();
          segmentsPerMinute.push(segs);
          const row = [
            String(minute),
            ...KINDS.flatMap((k) => {
              const s = [...b.ms[k]].sort((x, y) => x - y);
              return [(s.length / secs).toFixed(1), s.length ? percentile(s, 99).toFixed(0) : '-'];
            }),
            String(KINDS.reduce((n, k) => n + b.errors[k], 0)),
            segs === undefined ? '?' : String(segs),
            String(model.size),
            ...rss.map((kib) => (kib === undefined ? 'dead' : (kib / 1024).toFixed(0))),
          ];
          printed.push(row);
          console.log(row.join(' | '));
          console.log(`    ${await internals()}`);
        }
      }
    })();
    await Promise.all([writer(), searcher(11), searcher(12), querier(), sampler]);
    stop = true;
    console.log(`\nper-minute table (ops/s; p99 in ms; RSS in MiB, process and children):\n${table(printed)}`);
    if (errorSamples.length) console.log(`\nfirst errors:\n${errorSamples.join('\n')}`);

    // RSS verdicts.
    const windowMin = MINUTES >= 30 ? 20 : Math.max(1, Math.round((MINUTES * 2) / 3));
    const from = MINUTES - windowMin;
    const win = rssSamples.filter((s) => s.t >= from - 1e-9);
    console.log(`\nRSS over the last ${windowMin} min (minute ${from} to ${MINUTES}; mean of first two samples vs last two, limit +10%):`);
    for (let i = 0; i < procs.length; i++) {
      const vals = win.map((s) => s.rss[i]);
      if (vals.some((v) => v === undefined)) {
        console.log(`  ${procs[i]!.name.padEnd(6)} FAIL (process gone)`);
        exitCode = 1;
        continue;
      }
      const v = vals as number[];
      const a = (v[0]! + v[Math.min(1, v.length - 1)]!) / 2;
      const z = (v[v.length - 1]! + v[Math.max(0, v.length - 2)]!) / 2;
      const growth = (z - a) / a;
      const peak = Math.max(...v);
      console.log(
        `  ${procs[i]!.name.padEnd(6)} ${growth <= 0.1 ? 'PASS' : 'FAIL'} ${(a / 1024).toFixed(0)} -> ${(z / 1024).toFixed(0)} MiB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%, peak ${(peak / 1024).toFixed(0)})`,
      );
    }

    // p99 steadiness.
    const edge = MINUTES >= 30 ? 10 : Math.max(1, Math.floor(MINUTES / 3));
    const first = minutes.slice(0, edge);
    const last = minutes.slice(-edge);
    console.log(`\np99 steadiness (last ${edge} min / first ${edge} min):`);
    for (const k of KINDS) {
      const p = (bs: Bucket[]): number => percentile(bs.flatMap((b) => b.ms[k]).sort((x, y) => x - y), 99);
      const f = p(first);
      const l = p(last);
      const n = minutes.reduce((s, b) => s + b.ms[k].length, 0);
      const errs = minutes.reduce((s, b) => s + b.errors[k], 0);
      console.log(`  ${k.padEnd(6)} first ${f.toFixed(0)} ms, last ${l.toFixed(0)} ms, ratio ${(l / f).toFixed(2)}; ${n} ok, ${errs} errors`);
    }

    // Every acknowledged row accounted for.
    console.log('\nchecking every acknowledged row (Strong query of all ids by range, count(*)) ...');
    const found = new Map<number, number>();
    const STEP = 5000;
    for (let lo = 0; lo < nextId; lo += STEP) {
      const res = await client.query({
        collection_name: NAME,
        filter: `id >= ${lo} and id < ${lo + STEP}`,
        output_fields: ['id', 'val'],
        limit: 16384,
        consistency_level: STRONG,
      });
      expectOk(res.status, `query ids ${lo}..${lo + STEP}`);
      for (const row of res.data) {
        const id = Number(row.id);
        if (found.has(id)) throw new Error(`id ${id} returned twice`);
        found.set(id, Number(row.val));
      }
    }
    const cnt = await client.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
    expectOk(cnt.status, 'count(*)');
    const count = Number(cnt.data[0]?.['count(*)']);
    const missing: number[] = [];
    const wrong: number[] = [];
    const extra: number[] = [];
    for (const [id, val] of model) {
      if (uncertain.has(id)) continue;
      if (!found.has(id)) missing.push(id);
      else if (found.get(id) !== val) wrong.push(id);
    }
    for (const id of found.keys()) if (!model.has(id) && !uncertain.has(id)) extra.push(id);
    const countOk = uncertain.size === 0 ? count === model.size : Math.abs(count - model.size) <= uncertain.size;
    console.log(
      `model ${model.size} rows (ids 0..${nextId - 1}, ${uncertain.size} uncertain after failed writes); server ${found.size} rows, count(*) ${count}`,
    );
    console.log(`missing ${missing.length}, wrong value ${wrong.length}, extra ${extra.length}, count(*) ${countOk ? 'matches' : 'DIFFERS'}`);
    if (missing.length || wrong.length || extra.length || !countOk) {
      console.log(`DATA CHECK FAIL: missing ${missing.slice(0, 10).join(',')} wrong ${wrong.slice(0, 10).join(',')} extra ${extra.slice(0, 10).join(',')}`);
      exitCode = 1;
    } else console.log('DATA CHECK PASS: every acknowledged insert, upsert and delete is accounted for');
    await client.closeConnection();
  } finally {
    await cluster.dispose();
  }
  console.log(`total ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
