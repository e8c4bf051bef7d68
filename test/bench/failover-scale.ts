/**
 * Failover at scale: a collection of --rows rows (default 1,000,000, or BENCH_N) of an Int64 primary key and a
 * 128-d float vector, bulk-imported (JSON files in the object store) into a local cluster of 3 query nodes, 1 data
 * node and 1 proxy, indexed with IVF_SQ8 (nlist 256: an index the one data node trains and builds in about a
 * second per 100,000-row segment on 2 cores, and a quarter of the raw vectors' size, so a node's share reloads
 * mostly as data file), in 2 shards of 100,000-row segments (a tenth of the rows when scaled down). Then, for 1 replica and for 2 replicas: a steady
 * load of Strong searches (2 loops, nq 1, top 10, nprobe 16, 10 s client deadline, the SDK's retries off) and
 * count(*) queries through the Node SDK; after --pre seconds the query node holding most of the collection is
 * killed with -9. Every search is classed as failed, incomplete (its top 10 differ from the same query's answer
 * before the fault) or complete; a count(*) is complete when it is the row count. It prints one row per case:
 * searches, failed, incomplete, latency, seconds until answers are complete again (the end of the last failed or
 * incomplete request, or of the first complete search sent after the fault, whichever is later), the killed
 * node's share (segments, bytes of data and index files) and how long its reload took (from the coordinator's
 * first `loading segment` after the fault until every segment is served again in every replica) with the load
 * bandwidth that makes, beside the goal. Not a test; it prints a table.
 *
 *   test/node_modules/.bin/tsx test/bench/failover-scale.ts [--rows 1000000] [--ttl 3] [--pre 5] [--only r1,r2] [--load-concurrency N]
 *   (or: make bench-failover-1m, BENCH_N=200000 for fewer rows)
 *
 * --load-concurrency sets querynode.loadConcurrency (default: the config's). The cluster runs with `--session-ttl`
 * --ttl (3 s, as `make bench-failover`) on a temporary data directory and is stopped at the end (`cluster down`).
 * The killed node is started again between the two cases. Every wait is bounded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataType, MilvusClient, type SearchResultData } from '@zilliz/milvus2-sdk-node';
import { readSegments } from '../cluster/inspect';
import { ChaosCluster, type ComponentEntry } from '../chaos/chaos';
import { nodeDistribution, ProxyClient, STRONG } from '../chaos/workload';
import { sleep } from '../harness/util';
import { eventually, expectOk, rng } from '../standalone/helpers';
import { benchArgs, percentile } from './args';

const DIM = 128;
const FILE_ROWS = 100_000;
const TOPK = 10;
const NPROBE = 16;
const QUERIES = 40;
const DEADLINE_MS = 10_000;
const NAME = 'scale';

function readOptions(argv: string[]) {
  const a = benchArgs(argv, { rows: 'int', ttl: 'int', pre: 'int', only: 'string', 'load-concurrency': 'int' }, __filename);
  const envRows = process.env.BENCH_N ? Number(process.env.BENCH_N) : undefined;
  if (envRows !== undefined && (!Number.isInteger(envRows) || envRows <= 0)) throw new Error(`BENCH_N needs a positive integer, got ${process.env.BENCH_N}`);
  const only = new Set((a.only ?? 'r1,r2').split(',').filter(Boolean));
  for (const o of only) if (o !== 'r1' && o !== 'r2') throw new Error(`--only takes r1 and/or r2 (1 or 2 replicas), got ${o}`);
  const rows = a.rows ?? envRows ?? 1_000_000;
  // 10 segments at any size (100,000 rows each at 1M), so the three nodes' shares stay alike when scaled down.
  const segmentRows = Math.max(10_000, Math.ceil(rows / 10));
  return { rows, segmentRows, ttl: a.ttl ?? 3, preMs: (a.pre ?? 5) * 1000, only, loadConcurrency: a['load-concurrency'] };
}

const secs = (ms: number): string => (ms / 1000).toFixed(1);
const mb = (b: number): string => (b / 1e6).toFixed(0);

/** Writes the rows as JSON import files ({"rows": [...]}, pymilvus BulkWriter's shape) into the object store. */
function writeFiles(objectsDir: string, rows: number): string[] {
  const files: string[] = [];
  for (let from = 0; from < rows; from += FILE_ROWS) {
    const n = Math.min(FILE_ROWS, rows - from);
    const next = rng(from + 1);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = Array.from({ length: DIM }, () => Math.round((next() * 2 - 1) * 1e4) / 1e4);
      parts.push(`{"id":${from + i},"vector":[${v.join(',')}]}`);
    }
    const key = `bench-scale/rows-${from}.json`;
    const file = path.join(objectsDir, ...key.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `{"rows":[${parts.join(',')}]}`);
    files.push(key);
  }
  return files;
}

interface Sample { kind: 'search' | 'count'; start: number; end: number; outcome: 'complete' | 'incomplete' | 'failed'; detail?: string }

/** Searches in `loops` loops and count(*) in one loop until stopped; each request classified against `expected`. */
class Load {
  readonly samples: Sample[] = [];
  private stopped = false;
  private readonly running: Promise<void>[] = [];

  constructor(
    private readonly clients: ProxyClient[],
    private readonly counter: ProxyClient,
    private readonly queries: number[][],
    private readonly expected: string[],
    private readonly rows: number,
  ) {}

  start(): void {
    this.clients.forEach((c, k) => this.running.push(this.searchLoop(c, k)));
    this.running.push(this.countLoop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  private async searchLoop(c: ProxyClient, k: number): Promise<void> {
    for (let n = k; !this.stopped && n < 100_000; n += this.clients.length) {
      const q = n % this.queries.length;
      const start = Date.now();
      let s: Sample;
      try {
        const ids = await topIds(c, this.queries[q]!);
        s = ids === this.expected[q] ? { kind: 'search', start, end: Date.now(), outcome: 'complete' } : { kind: 'search', start, end: Date.now(), outcome: 'incomplete', detail: `query ${q}: ${ids} instead of ${this.expected[q]}` };
      } catch (err) {
        s = { kind: 'search', start, end: Date.now(), outcome: 'failed', detail: String((err as Error).message ?? err).split('\n')[0] };
      }
      this.samples.push(s);
      await sleep(20);
    }
  }

  private async countLoop(): Promise<void> {
    for (let n = 0; !this.stopped && n < 100_000; n++) {
      const start = Date.now();
      let s: Sample;
      try {
        const got = await countAll(this.counter);
        s = { kind: 'count', start, end: Date.now(), outcome: got === this.rows ? 'complete' : 'incomplete', detail: `count(*) ${got}` };
      } catch (err) {
        s = { kind: 'count', start, end: Date.now(), outcome: 'failed', detail: String((err as Error).message ?? err).split('\n')[0] };
      }
      this.samples.push(s);
      await sleep(200);
    }
  }
}

/** The ids of a Strong top-10 search, comma-separated; throws with the server's reason when it fails. */
async function topIds(c: ProxyClient, vector: number[]): Promise<string> {
  const r = await c.call((m) => m.search({ collection_name: NAME, data: [vector], anns_field: 'vector', limit: TOPK, params: { nprobe: NPROBE }, consistency_level: STRONG }));
  if (r.status.error_code !== 'Success') throw new Error(`search failed: ${r.status.reason || r.status.error_code}`);
  return (r.results as SearchResultData[]).map((h) => String(h.id)).join(',');
}

async function countAll(c: ProxyClient): Promise<number> {
  const r = await c.call((m) => m.query({ collection_name: NAME, filter: '', output_fields: ['count(*)'], consistency_level: STRONG }));
  if (r.status.error_code !== 'Success') throw new Error(`count(*) failed: ${r.status.reason || r.status.error_code}`);
  return Number(r.data[0]?.['count(*)']);
}

/** Segments each replica serves, from every live query node's distribution (a node that does not answer adds none). */
async function served(chaos: ChaosCluster, collectionID: number): Promise<{ byReplica: Map<number, Set<number>>; byNode: Map<number, number[]> }> {
  const byReplica = new Map<number, Set<number>>();
  const byNode = new Map<number, number[]>();
  for (const qn of chaos.live('querynode')) {
    const d = await nodeDistribution('QueryNode', chaos.address(qn)).catch(() => undefined);
    if (!d) continue;
    const segs = d.segments.filter((s) => Number(s.collection_id) === collectionID);
    byNode.set(qn.serverID, segs.map((s) => Number(s.segment_id)));
    for (const s of segs) {
      const set = byReplica.get(Number(s.replica_id)) ?? new Set<number>();
      set.add(Number(s.segment_id));
      byReplica.set(Number(s.replica_id), set);
    }
  }
  return { byReplica, byNode };
}

/** Whether every segment of `want` (per replica) is served by a live query node now. */
async function allServed(chaos: ChaosCluster, collectionID: number, want: Map<number, Set<number>>): Promise<boolean> {
  const now = (await served(chaos, collectionID)).byReplica;
  for (const [rep, segs] of want) for (const s of segs) if (!now.get(rep)?.has(s)) return false;
  return true;
}

/** Times (epoch ms) of the coordinator's `loading segment` log lines at or after `since`, ascending. */
function loadLogsAfter(chaos: ChaosCluster, since: number): number[] {
  const out: number[] = [];
  for (const c of chaos.components('querycoord')) {
    if (!fs.existsSync(c.log)) continue;
    for (const line of fs.readFileSync(c.log, 'utf8').split('\n')) {
      if (!line.includes('"loading segment"')) continue;
      try {
        const t = Date.parse((JSON.parse(line) as { time: string }).time);
        if (t >= since) out.push(t);
      } catch {
        // not a JSON log line
      }
    }
  }
  return out.sort((a, b) => a - b);
}

interface CaseResult {
  name: string;
  goal: string;
  met: boolean;
  searches: Sample[];
  counts: Sample[];
  completeAfterMs: number | undefined;
  victimSegments: number;
  victimBytes: number;
  detectMs: number | undefined;
  reloadMs: number | undefined;
  /** Loads the coordinator started after the fault, and from the first to the last of them. */
  loadsStarted: number;
  loadsSpreadMs: number;
  errors: string[];
}

async function runCase(o: {
  chaos: ChaosCluster;
  proxy: string;
  collectionID: number;
  rows: number;
  replicas: number;
  queries: number[][];
  objectsDir: string;
  preMs: number;
}): Promise<CaseResult & { victim: ComponentEntry }> {
  const { chaos, collectionID } = o;
  const checker = new ProxyClient([o.proxy], 60_000);
  const clients = [new ProxyClient([o.proxy], DEADLINE_MS), new ProxyClient([o.proxy], DEADLINE_MS)];
  const counter = new ProxyClient([o.proxy], DEADLINE_MS);
  try {
    // The answers before the fault.
    const expected: string[] = [];
    for (const q of o.queries) expected.push(await topIds(checker, q));
    if ((await countAll(checker)) !== o.rows) throw new Error(`count(*) is not ${o.rows} before the fault`);
    const before = await served(chaos, collectionID);
    // The victim: the node serving most segments of the collection.
    let victim: ComponentEntry | undefined;
    let most = -1;
    for (const qn of chaos.live('querynode')) {
      const n = before.byNode.get(qn.serverID)?.length ?? 0;
      if (n > most) {
        victim = qn;
        most = n;
      }
    }
    if (!victim || most <= 0) throw new Error('no query node serves the collection');
    const victimSegs = new Set(before.byNode.get(victim.serverID) ?? []);
    const metas = (await readSegments(chaos.cluster.etcdEndpoints, collectionID)).filter((s) => victimSegs.has(s.segmentID));
    const size = (key: string): number => (key ? fs.statSync(path.join(o.objectsDir, ...key.split('/'))).size : 0);
    const victimBytes = metas.reduce((s, m) => s + size(m.dataKey) + m.indexes.reduce((t, x) => t + size(x.key), 0), 0);

    const load = new Load(clients, counter, o.queries, expected, o.rows);
    load.start();
    await sleep(o.preMs);
    const faultAt = Date.now();
    console.error(`[bench] ${o.replicas} replica(s): kill -9 querynode-${victim.serverID} (${victimSegs.size} segments, ${mb(victimBytes)} MB)`);
    await chaos.kill9(victim);
    // Until every segment is served again in every replica, then 5 s more (at least 20 s, at most 180 s after the fault).
    let servedAt: number | undefined;
    for (;;) {
      const now = Date.now();
      if (servedAt === undefined && (await allServed(chaos, collectionID, before.byReplica).catch(() => false))) servedAt = Date.now();
      if (servedAt !== undefined && now >= servedAt + 5000 && now >= faultAt + 20_000) break;
      if (now >= faultAt + 180_000) break;
      await sleep(200);
    }
    await load.stop();
    const windowed = load.samples.filter((s) => s.end >= faultAt);
    const searches = windowed.filter((s) => s.kind === 'search');
    const counts = windowed.filter((s) => s.kind === 'count');
    const bad = windowed.filter((s) => s.outcome !== 'complete');
    const firstGood = searches.find((s) => s.start >= faultAt && s.outcome === 'complete');
    const lastBad = bad.length ? Math.max(...bad.map((s) => s.end)) : faultAt;
    const completeAfterMs = firstGood ? Math.max(firstGood.end, lastBad) - faultAt : undefined;
    const loads = loadLogsAfter(chaos, faultAt);
    const loadLog = loads[0];
    const failed = windowed.filter((s) => s.outcome === 'failed').length;
    const incomplete = windowed.filter((s) => s.outcome === 'incomplete').length;
    const goal = o.replicas === 1 ? 'no failed search; complete answers again ≤ 10 s' : 'zero failed, zero incomplete searches';
    const met = o.replicas === 1
      ? searches.every((s) => s.outcome !== 'failed') && completeAfterMs !== undefined && completeAfterMs <= 10_000
      : failed === 0 && incomplete === 0;
    return {
      name: `kill -9 query node, ${o.replicas} replica${o.replicas > 1 ? 's' : ''}`,
      goal,
      met,
      searches,
      counts,
      completeAfterMs,
      victimSegments: victimSegs.size,
      victimBytes,
      detectMs: loadLog === undefined ? undefined : loadLog - faultAt,
      reloadMs: loadLog === undefined || servedAt === undefined ? undefined : servedAt - loadLog,
      loadsStarted: loads.length,
      loadsSpreadMs: loads.length ? loads[loads.length - 1]! - loads[0]! : 0,
      errors: [...new Set(bad.map((s) => `${s.kind} ${s.outcome}: ${s.detail ?? ''}`))].slice(0, 4),
      victim,
    };
  } finally {
    await Promise.all([checker, counter, ...clients].map((c) => c.close()));
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const o = readOptions(process.argv.slice(2));
  process.on('unhandledRejection', (err) => console.error('[bench] unhandled rejection (ignored):', err));
  const t0 = Date.now();
  const phases: [string, number][] = [];
  const phase = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const s = Date.now();
    console.error(`[bench] ${what}…`);
    const r = await fn();
    phases.push([what, Date.now() - s]);
    console.error(`[bench] ${what}: ${secs(Date.now() - s)} s`);
    return r;
  };
  const chaos = await phase('cluster up (3 query nodes, 1 data node, 1 proxy)', () =>
    ChaosCluster.start({
      querynodes: 3,
      datanodes: 1,
      proxies: 1,
      sessionTtlSeconds: o.ttl,
      env: {
        KITE_BULK_IMPORT_SEGMENT_MAX_ROWS: String(o.segmentRows),
        KITE_DATANODE_SEGMENT_MAX_ROWS: String(o.segmentRows),
        KITE_BULK_IMPORT_CHECK_INTERVAL_MS: '200',
        ...(o.loadConcurrency ? { KITE_QUERYNODE_LOAD_CONCURRENCY: String(o.loadConcurrency) } : {}),
      },
    }),
  );
  const proxy = `127.0.0.1:${chaos.info.proxy.grpc}`;
  const admin = new MilvusClient({ address: proxy, timeout: 120_000, logLevel: 'error' });
  const results: CaseResult[] = [];
  let loadMs = 0;
  let totalBytes = 0;
  try {
    await admin.connectPromise;
    const objectsDir = chaos.cluster.objectsDir;
    const files = await phase(`write ${o.rows.toLocaleString('en-US')} rows as JSON import files`, async () => writeFiles(objectsDir, o.rows));
    expectOk(await admin.createCollection({
      collection_name: NAME, consistency_level: 'Strong', shards_num: 2,
      fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim: DIM }],
    }), 'createCollection');
    expectOk(await admin.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'IVF_SQ8', metric_type: 'L2', params: { nlist: 256 } }), 'createIndex');
    const desc = await admin.describeCollection({ collection_name: NAME });
    expectOk(desc.status, 'describeCollection');
    const collectionID = Number(desc.collectionID);
    await phase('bulk import (rows written, IVF_SQ8 built per segment)', async () => {
      const res = await admin.bulkInsert({ collection_name: NAME, files });
      expectOk(res.status, 'bulkInsert');
      const task = res.tasks[0]!;
      await eventually('import completed', async () => {
        const s = await admin.getImportState({ task });
        expectOk(s.status, 'getImportState');
        if (s.state === 'ImportFailed') throw new Error(`import failed: ${JSON.stringify(s.infos)}`);
        return s.state === 'ImportCompleted' ? true : undefined;
      }, 3_600_000);
    });
    const segs = (await readSegments(chaos.cluster.etcdEndpoints, collectionID)).filter((s) => s.numRows > 0);
    const size = (key: string): number => (key ? fs.statSync(path.join(objectsDir, ...key.split('/'))).size : 0);
    totalBytes = segs.reduce((s, m) => s + size(m.dataKey) + m.indexes.reduce((t, x) => t + size(x.key), 0), 0);
    const indexed = segs.filter((s) => s.indexes.some((x) => x.key)).length;
    console.error(`[bench] ${segs.length} segments (${indexed} with an IVF_SQ8 file), ${mb(totalBytes)} MB of data and index files`);

    const queries = (() => {
      const next = rng(987654321);
      return Array.from({ length: QUERIES }, () => Array.from({ length: DIM }, () => Math.round((next() * 2 - 1) * 1e4) / 1e4));
    })();
    const load = async (replicas: number): Promise<number> => {
      const s = Date.now();
      expectOk(await admin.loadCollectionAsync({ collection_name: NAME, replica_number: replicas }), `load (${replicas} replicas)`);
      await eventually(`loaded with ${replicas} replica(s)`, async () => {
        const st = await admin.getLoadState({ collection_name: NAME });
        expectOk(st.status, 'getLoadState');
        return st.state === 'LoadStateLoaded' ? true : undefined;
      }, 600_000);
      return Date.now() - s;
    };
    let victim: ComponentEntry | undefined;
    if (o.only.has('r1')) {
      loadMs = await phase('load, 1 replica', () => load(1));
      const r = await phase('kill -9 a query node, 1 replica', () => runCase({ chaos, proxy, collectionID, rows: o.rows, replicas: 1, queries, objectsDir, preMs: o.preMs }));
      results.push(r);
      victim = r.victim;
    }
    if (o.only.has('r2')) {
      if (victim) await phase('restart the killed query node', () => chaos.heal());
      if (o.only.has('r1')) expectOk(await admin.releaseCollection({ collection_name: NAME }), 'release');
      const ms = await phase('load, 2 replicas', () => load(2));
      if (!loadMs) loadMs = ms;
      results.push(await phase('kill -9 a query node, 2 replicas', () => runCase({ chaos, proxy, collectionID, rows: o.rows, replicas: 2, queries, objectsDir, preMs: o.preMs })));
    }
  } finally {
    await admin.closeConnection().catch(() => undefined);
    await chaos.dispose();
  }

  const ms = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : '-');
  const header = ['fault', 'searches', 'failed', 'incomplete', 'count(*) failed / wrong', 'p50 ms', 'p99 ms', 'max ms', 'complete again after', 'killed node\'s share', 'detected', 'reload', 'reload MB/s', 'goal', 'met'];
  const body = results.map((r) => {
    const lat = r.searches.map((s) => s.end - s.start).sort((a, b) => a - b);
    return [
      r.name,
      String(r.searches.length),
      String(r.searches.filter((s) => s.outcome === 'failed').length),
      String(r.searches.filter((s) => s.outcome === 'incomplete').length),
      `${r.counts.filter((s) => s.outcome === 'failed').length} / ${r.counts.filter((s) => s.outcome === 'incomplete').length} of ${r.counts.length}`,
      ms(percentile(lat, 50)),
      ms(percentile(lat, 99)),
      ms(lat.length ? lat[lat.length - 1]! : NaN),
      r.completeAfterMs === undefined ? 'never' : `${secs(r.completeAfterMs)} s`,
      `${r.victimSegments} segments, ${mb(r.victimBytes)} MB`,
      r.detectMs === undefined ? '-' : `${secs(r.detectMs)} s`,
      r.reloadMs === undefined ? '-' : `${secs(r.reloadMs)} s`,
      r.reloadMs ? (r.victimBytes / 1e6 / (r.reloadMs / 1000)).toFixed(0) : '-',
      r.goal,
      r.met ? 'yes' : 'NO',
    ];
  });
  console.log(`\nKite failover at scale — ${o.rows.toLocaleString('en-US')} rows x ${DIM}-d, IVF_SQ8 nlist 256, 2 shards, ${o.segmentRows.toLocaleString('en-US')}-row segments, 3 query nodes, querynode.loadConcurrency ${o.loadConcurrency ?? 'default'}; ${os.cpus().length} cores, Node ${process.version}, session TTL ${o.ttl} s; ${secs(Date.now() - t0)} s in all`);
  console.log(`Strong searches (2 loops, top ${TOPK}, nprobe ${NPROBE}, ${DEADLINE_MS / 1000} s deadline, no SDK retries) and count(*); window = fault → 5 s after every segment is served again.`);
  console.log(`Collection files: ${mb(totalBytes)} MB; first load ${secs(loadMs)} s (${loadMs ? (totalBytes / 1e6 / (loadMs / 1000)).toFixed(0) : '-'} MB/s over 3 query nodes).\n`);
  console.log(table([header, ...body]));
  console.log('');
  for (const [what, t] of phases) console.log(`- ${what}: ${secs(t)} s`);
  for (const r of results) {
    console.log(`- ${r.name}: the coordinator started ${r.loadsStarted} segment loads after the fault, the last ${secs(r.loadsSpreadMs)} s after the first`);
    if (r.errors.length) console.log(`- ${r.name}: ${r.errors.join(' | ')}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
