/**
 * Load and checks for the chaos tests and the failover benchmark, all through the official Node SDK:
 *
 * - `ProxyClient`: a MilvusClient bound to one proxy, with the SDK's own retries off (maxRetries 0) so every
 *   failure the server lets through is seen; with `failover`, a call that cannot reach its proxy moves the client
 *   to the next proxy (what a client behind a list of proxies or a load balancer does).
 * - `Workload`: bounded loops of Strong searches, inserts and count(*) queries, each request recorded with its
 *   start, end and outcome. A search counts as failed when it errors or when its results are incomplete (fewer
 *   than k hits, or the row whose own vector was searched for is not among them); a count(*) fails when it is
 *   below the rows acknowledged before it was sent or above every row that may exist.
 * - `DataState`: what the server must hold — every acknowledged row — and what it may hold — rows of inserts that
 *   failed (their WAL append may still have happened).
 * - `servedNow` / `ServedMonitor`: whether the collection is fully served again: GetLoadState Loaded, every segment
 *   that existed before the fault loaded on a live query node in every replica, count(*) within bounds and a
 *   search for known vectors finding them.
 * - `verifyData`: after a fault, every acknowledged row is there exactly once (count(*) and ids through query).
 */
import { ConsistencyLevelEnum, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { connect, type DistributionResponse } from '@kite/rpc';
import { readSegments } from '../cluster/inspect';
import { Model, makeRows, type Row } from '../cluster/scenario';
import { sleep } from '../harness/util';
import { isSuccess } from '../standalone/helpers';
import { running, type ChaosCluster } from './chaos';

export const STRONG = ConsistencyLevelEnum.Strong;
const GRPC_UNAVAILABLE = 14;

function errText(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string; reason?: string };
  if (typeof e?.reason === 'string' && e.reason) return e.reason;
  return `${e?.code !== undefined ? `grpc ${e.code}: ` : ''}${e?.details ?? e?.message ?? String(err)}`.slice(0, 300);
}

function isTransport(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e?.code === GRPC_UNAVAILABLE || /ECONNREFUSED|No connection established|Connection dropped|UNAVAILABLE/i.test(String(e?.message ?? ''));
}

/** A Milvus client on one proxy; with `failover` it moves to the next address when its proxy is unreachable. */
export class ProxyClient {
  client: MilvusClient;
  private index = 0;
  readonly reconnects: { at: number; from: string; to: string }[] = [];

  constructor(
    readonly addresses: string[],
    readonly timeoutMs = 10_000,
    readonly failover = false,
    /** Names the client in samples (e.g. 'A' for a client of the proxy that stays up). */
    readonly label = '',
  ) {
    this.client = this.make(addresses[0]!);
  }

  get address(): string {
    return this.addresses[this.index]!;
  }

  private make(address: string): MilvusClient {
    const c = new MilvusClient({ address, timeout: this.timeoutMs, maxRetries: 0, logLevel: 'error' });
    c.connectPromise.catch(() => undefined); // a failed Connect shows on the next call
    return c;
  }

  async ready(): Promise<void> {
    await this.client.connectPromise;
  }

  async call<T>(fn: (c: MilvusClient) => Promise<T>): Promise<T> {
    const c = this.client;
    try {
      return await fn(c);
    } catch (err) {
      if (this.failover && this.client === c && this.addresses.length > 1 && isTransport(err)) {
        const from = this.address;
        this.index = (this.index + 1) % this.addresses.length;
        this.client = this.make(this.address);
        this.reconnects.push({ at: Date.now(), from, to: this.address });
        c.closeConnection().catch(() => undefined);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.client.closeConnection().catch(() => undefined);
  }
}

/** What the server must hold (acknowledged rows) and may hold (rows of failed inserts). */
export class DataState {
  readonly model = new Model();
  readonly maybe = new Map<number, Row>();
  /** Rows of inserts sent but not answered yet. */
  inflight = 0;
  /** The latest acknowledged inserted rows (search probes for growing data). */
  recent: Row[] = [];

  constructor(public nextId: number) {}

  acked(): number {
    return this.model.rows.size;
  }

  /** Inserted rows (from the workload) with ids at or above `from`. */
  ackedSince(from: number): number {
    let n = 0;
    for (const id of this.model.rows.keys()) if (id >= from) n++;
    return n;
  }
}

export type Kind = 'search' | 'insert' | 'count';

export interface Sample {
  kind: Kind;
  start: number;
  end: number;
  ok: boolean;
  error?: string;
  proxy: string;
  client: string;
}

export interface Stats {
  sent: number;
  failed: number;
  successRate: number;
  p50: number;
  p99: number;
  max: number;
  errors: string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function statsOf(samples: Sample[]): Stats {
  const lat = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  const failed = samples.filter((s) => !s.ok);
  const errors = [...new Set(failed.map((s) => `${s.proxy}: ${s.error ?? '?'}`))].slice(0, 4);
  return {
    sent: samples.length,
    failed: failed.length,
    successRate: samples.length ? (samples.length - failed.length) / samples.length : 1,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat.length ? lat[lat.length - 1]! : NaN,
    errors,
  };
}

export interface WorkloadOptions {
  collection: string;
  /** One search loop per client. */
  searchers: ProxyClient[];
  inserter?: ProxyClient;
  /** A count(*) loop. */
  counter?: ProxyClient;
  /** Rows whose own vector finds them (checked before the fault). */
  probes: Row[];
  data: DataState;
  insertBatch?: number;
  searchPauseMs?: number;
  insertPauseMs?: number;
  countPauseMs?: number;
  /** Upper bound of requests per loop (the loops are bounded even if stop() is never called). */
  maxPerLoop?: number;
  topk?: number;
}

type Hit = { id: string | number; score: number };

/** Strong search for `row`'s own vector; an error text when it fails or its result is incomplete. */
export async function searchFor(pc: ProxyClient, collection: string, row: Row, topk = 5): Promise<string | undefined> {
  const res = await pc.call((c) =>
    c.search({
      collection_name: collection,
      data: [row.vector],
      anns_field: 'vector',
      limit: topk,
      params: { ef: 64 },
      output_fields: ['id'],
      consistency_level: STRONG,
    }),
  );
  if (!isSuccess(res.status)) return `search failed: ${res.status.reason || JSON.stringify(res.status)}`;
  const hits = res.results as unknown as Hit[];
  if (hits.length !== topk) return `incomplete search: ${hits.length} of ${topk} hits`;
  if (!hits.some((h) => Number(h.id) === row.id)) return `incomplete search: row ${row.id} not among ${hits.map((h) => h.id).join(',')}`;
  return undefined;
}

export async function countRows(pc: ProxyClient | MilvusClient, collection: string): Promise<number> {
  const req = { collection_name: collection, filter: '', output_fields: ['count(*)'], consistency_level: STRONG };
  const res = pc instanceof ProxyClient ? await pc.call((c) => c.query(req)) : await pc.query(req);
  if (!isSuccess(res.status)) throw new Error(`count(*) failed: ${res.status.reason || JSON.stringify(res.status)}`);
  return Number(res.data[0]?.['count(*)']);
}

export class Workload {
  readonly samples: Sample[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];
  startedAt = 0;
  stoppedAt = 0;

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    this.startedAt = Date.now();
    for (const s of this.o.searchers) this.loops.push(this.searchLoop(s));
    if (this.o.inserter) this.loops.push(this.insertLoop(this.o.inserter));
    if (this.o.counter) this.loops.push(this.countLoop(this.o.counter));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.stoppedAt = Date.now();
  }

  /**
   * Samples of `kind` that ended in [from, to) (a request in flight at the fault belongs to the fault window), of
   * clients labelled `client` when given.
   */
  window(kind: Kind, from = 0, to = Number.MAX_SAFE_INTEGER, client?: string): Sample[] {
    return this.samples.filter((s) => s.kind === kind && s.end >= from && s.end < to && (client === undefined || s.client === client));
  }

  stats(kind: Kind, from?: number, to?: number, client?: string): Stats {
    return statsOf(this.window(kind, from, to, client));
  }

  private get max(): number {
    return this.o.maxPerLoop ?? 1500;
  }

  private record(kind: Kind, pc: ProxyClient, start: number, proxy: string, error: string | undefined): void {
    this.samples.push({ kind, start, end: Date.now(), ok: error === undefined, error, proxy, client: pc.label });
  }

  private async searchLoop(pc: ProxyClient): Promise<void> {
    const { data, probes } = this.o;
    for (let n = 0; !this.stopped && n < this.max; n++) {
      // Alternate between sealed rows (probes) and recently acknowledged rows (growing data).
      const recent = data.recent;
      const row = n % 2 === 1 && recent.length > 0 ? recent[Math.floor(Math.random() * recent.length)]! : probes[n % probes.length]!;
      const t0 = Date.now();
      const proxy = pc.address;
      let error: string | undefined;
      try {
        error = await searchFor(pc, this.o.collection, row, this.o.topk ?? 5);
      } catch (err) {
        error = errText(err);
      }
      this.record('search', pc, t0, proxy, error);
      await sleep(this.o.searchPauseMs ?? 40);
    }
  }

  private async insertLoop(pc: ProxyClient): Promise<void> {
    const { data } = this.o;
    const batch = this.o.insertBatch ?? 10;
    for (let n = 0; !this.stopped && n < this.max; n++) {
      const first = data.nextId;
      data.nextId += batch;
      const rows = makeRows(batch, first, first);
      const t0 = Date.now();
      const proxy = pc.address;
      let error: string | undefined;
      data.inflight += batch;
      try {
        const res = await pc.call((c) => c.insert({ collection_name: this.o.collection, data: rows.map((r) => ({ ...r })) }));
        if (!isSuccess(res.status)) error = `insert failed: ${res.status.reason || JSON.stringify(res.status)}`;
        else {
          const ids = ((res.IDs as { int_id?: { data: (string | number)[] } }).int_id?.data ?? []).map(Number);
          if (ids.join(',') !== rows.map((r) => r.id).join(',')) error = `insert acknowledged ids ${ids.slice(0, 3).join(',')}… for rows ${first}…`;
        }
      } catch (err) {
        error = errText(err);
      }
      data.inflight -= batch;
      if (error === undefined) {
        data.model.apply(rows);
        data.recent.push(...rows);
        if (data.recent.length > 300) data.recent = data.recent.slice(-300);
      } else {
        for (const r of rows) data.maybe.set(r.id, r);
      }
      this.record('insert', pc, t0, proxy, error);
      await sleep(this.o.insertPauseMs ?? 120);
    }
  }

  private async countLoop(pc: ProxyClient): Promise<void> {
    const { data } = this.o;
    for (let n = 0; !this.stopped && n < this.max; n++) {
      const low = data.acked();
      const t0 = Date.now();
      const proxy = pc.address;
      let error: string | undefined;
      try {
        const got = await countRows(pc, this.o.collection);
        const high = data.acked() + data.maybe.size + data.inflight;
        if (got < low) error = `incomplete count(*): ${got} < ${low} acknowledged rows`;
        else if (got > high) error = `count(*) ${got} above the ${high} rows that may exist (rows counted twice?)`;
      } catch (err) {
        error = errText(err);
      }
      this.record('count', pc, t0, proxy, error);
      await sleep(this.o.countPauseMs ?? 200);
    }
  }
}

// ------------------------------------------------------------------------------------------- served again

export async function nodeDistribution(role: 'QueryNode' | 'DataNode', address: string, timeoutMs = 2000): Promise<DistributionResponse> {
  const client = connect(role, address, timeoutMs);
  try {
    return await client.GetDistribution({});
  } finally {
    client.close();
  }
}

/** Segment ids each replica of the collection has loaded on live query nodes. */
export async function servedSegments(chaos: ChaosCluster, collectionID: number): Promise<Map<number, Set<number>>> {
  const out = new Map<number, Set<number>>();
  await Promise.all(
    chaos.live('querynode').map(async (qn) => {
      try {
        const d = await nodeDistribution('QueryNode', chaos.address(qn));
        for (const s of d.segments) {
          if (Number(s.collection_id) !== collectionID) continue;
          const set = out.get(Number(s.replica_id)) ?? new Set<number>();
          set.add(Number(s.segment_id));
          out.set(Number(s.replica_id), set);
        }
      } catch {
        // a node that does not answer serves nothing
      }
    }),
  );
  return out;
}

/** Flushed, non-empty segments of the collection as recorded in etcd. */
export async function sealedSegmentIds(chaos: ChaosCluster, collectionID: number): Promise<number[]> {
  return (await readSegments(chaos.cluster.etcdEndpoints, collectionID)).filter((s) => s.numRows > 0).map((s) => s.segmentID).sort((a, b) => a - b);
}

export interface ServeTarget {
  chaos: ChaosCluster;
  /** A client of a proxy that stays up. */
  client: ProxyClient;
  collection: string;
  collectionID: number;
  replicaIDs: number[];
  /** Sealed segments that existed before the fault; each must be loaded again in every replica. */
  segments: number[];
  probes: Row[];
  data: DataState;
}

export interface ServedCheck {
  ok: boolean;
  detail: string;
}

export async function servedNow(t: ServeTarget): Promise<ServedCheck> {
  try {
    const st = await t.client.call((c) => c.getLoadState({ collection_name: t.collection }));
    if (!isSuccess(st.status)) return { ok: false, detail: `GetLoadState: ${st.status.reason}` };
    if (st.state !== LoadState.LoadStateLoaded) return { ok: false, detail: `GetLoadState ${st.state}` };
    const served = await servedSegments(t.chaos, t.collectionID);
    for (const r of t.replicaIDs) {
      const missing = t.segments.filter((s) => !served.get(r)?.has(s));
      if (missing.length) return { ok: false, detail: `replica ${r} lacks segments ${missing.join(',')}` };
    }
    const low = t.data.acked();
    const got = await countRows(t.client, t.collection);
    const high = t.data.acked() + t.data.maybe.size + t.data.inflight;
    if (got < low || got > high) return { ok: false, detail: `count(*) ${got} outside [${low}, ${high}]` };
    const rows = [...t.probes.slice(0, 4), ...t.data.recent.slice(-1)];
    for (const row of rows) {
      const err = await searchFor(t.client, t.collection, row);
      if (err) return { ok: false, detail: err };
    }
    return { ok: true, detail: 'served' };
  } catch (err) {
    return { ok: false, detail: errText(err) };
  }
}

/**
 * Probes `servedNow` in a loop from the fault until stopped. The collection counts as served again from the last
 * time a probe passed after a failing one (or the first probe) — a regression later in the window (the collection
 * served, then not) resets it, so "served again" means served from then to the end of the window.
 */
export class ServedMonitor {
  /** When the current run of passing probes began (undefined while the last probe failed). */
  servedSince: number | undefined;
  /** Times a passing run ended with a failing probe. */
  regressions = 0;
  /** The first failing probe's detail after a regression, and the latest failing detail. */
  regressionDetail = '';
  lastFailure = 'never failed';
  probes = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly t: ServeTarget) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const c = await servedNow(this.t);
        this.probes++;
        if (c.ok) this.servedSince ??= Date.now();
        else {
          if (this.servedSince !== undefined) {
            this.regressions++;
            if (!this.regressionDetail) this.regressionDetail = c.detail;
          }
          this.servedSince = undefined;
          this.lastFailure = c.detail;
        }
        await sleep(200);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

// ------------------------------------------------------------------------------------------- integrity

export interface VerifyReport {
  loaded: boolean;
  count: number;
  /** Distinct ids the server returned; `duplicates` were returned more than once. */
  distinct: number;
  duplicates: number[];
  /** Acknowledged rows not found. */
  missing: number[];
  /** Found rows that were never sent (neither acknowledged nor of a failed insert). */
  unknown: number[];
  /** Rows of failed inserts that were stored after all. */
  failedButStored: number;
  /** Known-vector searches (initial probes and the last acknowledged rows) that did not find their row. */
  searchMisses: string[];
  /** Acknowledged rows (the model), for the report. */
  acked: number;
  /** Why reading back failed ('' when it did not). */
  error: string;
}

/** The expectations a VerifyReport must meet; what tests compare it with. */
export function intact(v: VerifyReport): Pick<VerifyReport, 'loaded' | 'duplicates' | 'missing' | 'unknown' | 'searchMisses' | 'error'> & { countMatches: boolean } {
  return { loaded: v.loaded, countMatches: v.count === v.distinct, duplicates: v.duplicates, missing: v.missing, unknown: v.unknown, searchMisses: v.searchMisses, error: v.error };
}

export const INTACT = { loaded: true, countMatches: true, duplicates: [], missing: [], unknown: [], searchMisses: [], error: '' };

/**
 * Reads back every row by id range (Strong) and checks it against `data`; rows of failed inserts that turn out to
 * be stored move into the model, so later checks expect them.
 */
export async function verifyData(pc: ProxyClient, collection: string, data: DataState, probes: Row[], timeoutMs = 60_000): Promise<VerifyReport> {
  try {
    return await readBack(pc, collection, data, probes, timeoutMs);
  } catch (err) {
    const none: number[] = [];
    return { loaded: false, count: -1, distinct: -1, duplicates: none, missing: none, unknown: none, failedButStored: 0, searchMisses: [], acked: data.acked(), error: `reading back failed for ${timeoutMs / 1000} s: ${errText(err)}` };
  }
}

async function readBack(pc: ProxyClient, collection: string, data: DataState, probes: Row[], timeoutMs: number): Promise<VerifyReport> {
  let loaded = false;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const st = await pc.call((c) => c.getLoadState({ collection_name: collection })).catch(() => undefined);
    if (st && isSuccess(st.status) && st.state === LoadState.LoadStateLoaded) {
      loaded = true;
      break;
    }
    await sleep(250);
  }
  const count = await retry(() => countRows(pc, collection), deadline);
  const seen = new Map<number, number>();
  const step = 4000;
  for (let lo = 0; lo < data.nextId; lo += step) {
    const res = await retry(async () => {
      const r = await pc.call((c) =>
        c.query({ collection_name: collection, filter: `id >= ${lo} and id < ${lo + step}`, output_fields: ['id'], consistency_level: STRONG }),
      );
      if (!isSuccess(r.status)) throw new Error(`query failed: ${r.status.reason}`);
      return r.data;
    }, deadline);
    for (const r of res) seen.set(Number(r.id), (seen.get(Number(r.id)) ?? 0) + 1);
  }
  const duplicates = [...seen.entries()].filter(([, n]) => n > 1).map(([id]) => id);
  const missing = [...data.model.rows.keys()].filter((id) => !seen.has(id));
  const unknown = [...seen.keys()].filter((id) => !data.model.rows.has(id) && !data.maybe.has(id));
  let failedButStored = 0;
  for (const id of seen.keys()) {
    const row = data.maybe.get(id);
    if (row) {
      data.model.apply([row]);
      data.maybe.delete(id);
      failedButStored++;
    }
  }
  const searchMisses: string[] = [];
  const lastRows = [...data.model.rows.values()].sort((a, b) => b.id - a.id).slice(0, 3);
  for (const row of [...probes.slice(0, 3), ...lastRows]) {
    const err = await retry(() => searchFor(pc, collection, row), deadline).catch((e: unknown) => errText(e));
    if (err) searchMisses.push(err);
  }
  return {
    loaded,
    count,
    distinct: seen.size,
    duplicates: duplicates.slice(0, 20),
    missing: missing.slice(0, 20),
    unknown: unknown.slice(0, 20),
    failedButStored,
    searchMisses,
    acked: data.acked(),
    error: '',
  };
}

async function retry<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

/** Components whose process is gone (for checks that a fault took down nothing else). */
export function deadComponents(chaos: ChaosCluster): string[] {
  return chaos.info.components.filter((c) => !running(c.pid)).map((c) => `${c.role}-${c.serverID} (pid ${c.pid})`);
}
