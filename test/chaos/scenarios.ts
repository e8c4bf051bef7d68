/**
 * The faults of the chaos suite, each run the same way under a steady load (test/chaos/*.test.ts assert on the
 * result; test/bench/failover.ts prints it):
 *
 *   load starts → `preMs` of normal service → the fault → probes (ServedMonitor) until the collection has been
 *   fully served for `postMs` (and at least `minWindowMs` after the fault) → load stops → every acknowledged row
 *   is checked (verifyData).
 *
 * The fault window is [fault, load end]; its searches, inserts and count(*) queries are summarised separately from
 * the baseline before the fault.
 */
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { readJson, readSegments, ROOT, withEtcd } from '../cluster/inspect';
import { createCollection, createHnswIndex, flushAndWait, insertRows, loadAndWait, makeRows, type Row } from '../cluster/scenario';
import { sleep } from '../harness/util';
import { expectOk, waitIndexBuilt } from '../standalone/helpers';
import { httpJson, running, type ChaosCluster, type ComponentEntry } from './chaos';
import {
  DataState,
  deadComponents,
  nodeDistribution,
  ProxyClient,
  sealedSegmentIds,
  searchFor,
  servedSegments,
  ServedMonitor,
  verifyData,
  Workload,
  type Stats,
  type VerifyReport,
  type WorkloadOptions,
} from './workload';

/** A loaded collection with sealed, indexed segments and the rows it must hold. */
export interface Fixture {
  chaos: ChaosCluster;
  name: string;
  collectionID: number;
  replicaIDs: number[];
  probes: Row[];
  data: DataState;
}

export interface FixtureOptions {
  rows: number;
  shards: number;
  replicas: number;
  seed: number;
  /** Rows per insert call while seeding. */
  batch?: number;
  /** HNSW build parameters of the vector index (default scenario.ts's HNSW); larger ones make builds slower. */
  hnsw?: { M: number; efConstruction: number };
}

/** Creates, fills (rows flushed into sealed segments), indexes and loads a collection; picks search probes. */
export async function setupCollection(chaos: ChaosCluster, admin: MilvusClient, name: string, o: FixtureOptions): Promise<Fixture> {
  const data = new DataState(o.rows);
  const initial = makeRows(o.rows, 0, o.seed);
  const collectionID = Number(await createCollection(admin, name, o.shards));
  await insertRows(admin, name, data.model, initial, o.batch ?? 1000);
  await flushAndWait(admin, name);
  if (o.hnsw) expectOk(await admin.createIndex({ collection_name: name, field_name: 'vector', index_name: 'vec_hnsw', index_type: 'HNSW', metric_type: 'L2', params: o.hnsw }), `createIndex(${name}, HNSW ${JSON.stringify(o.hnsw)})`);
  else await createHnswIndex(admin, name);
  await waitIndexBuilt(admin, name, 'vector', 120_000);
  await loadAndWait(admin, name, o.replicas, 120_000);
  const reps = await admin.getReplicas({ collectionID: collectionID as unknown as number });
  expectOk(reps.status, `getReplicas(${name})`);
  const replicaIDs = reps.replicas.map((r) => Number(r.replicaID));
  if (replicaIDs.length !== o.replicas) throw new Error(`${name}: ${replicaIDs.length} replicas instead of ${o.replicas}`);
  // Probes: rows spread over the id range (so over shards and segments) whose own vector finds them.
  const pc = new ProxyClient([`127.0.0.1:${chaos.info.proxy.grpc}`], 30_000);
  const probes: Row[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const row = initial[Math.floor(((i + 0.5) * o.rows) / 12)]!;
      if ((await searchFor(pc, name, row)) === undefined) probes.push(row);
    }
  } finally {
    await pc.close();
  }
  if (probes.length < 8) throw new Error(`${name}: only ${probes.length} of 12 rows are found by their own vector`);
  return { chaos, name, collectionID, replicaIDs, probes, data };
}

type Notes = Record<string, number | string | boolean>;

export interface FaultSpec {
  name: string;
  goal: string;
  fixture: Fixture;
  /** Load clients (the collection, probes and data come from the fixture). */
  load: Omit<WorkloadOptions, 'collection' | 'probes' | 'data'>;
  /** Client for the served-again probe and the final checks: one of a proxy that stays up. */
  checker: ProxyClient;
  /** The fault itself; resolves when it has been done (e.g. once a restarted process is up). */
  inject: () => Promise<Notes | void>;
  /** Runs beside the served-again probe once the fault is injected (e.g. waits for a takeover). */
  observe?: (faultAt: number) => Promise<Notes | void>;
  preMs?: number;
  /** Inject the fault before the load starts (no baseline): the first requests meet the fault. */
  injectFirst?: boolean;
  /** Load after the collection is served again. */
  postMs?: number;
  /** The load runs at least this long after the fault. */
  minWindowMs?: number;
  /** How long the collection may take to be served again. */
  maxMs?: number;
}

export interface FaultResult {
  name: string;
  goal: string;
  faultAt: number;
  baseline: Stats;
  searches: Stats;
  inserts: Stats;
  counts: Stats;
  /** Seconds from the fault until the collection was fully served again (undefined: not within maxMs). */
  servedSeconds?: number;
  servedDetail: string;
  notes: Notes;
  verify: VerifyReport;
  /** Components whose process died besides the victim. */
  dead: string[];
  workload: Workload;
}

export async function runFault(s: FaultSpec): Promise<FaultResult> {
  const f = s.fixture;
  const segments = await sealedSegmentIds(f.chaos, f.collectionID);
  const w = new Workload({ ...s.load, collection: f.name, probes: f.probes, data: f.data });
  const target = { chaos: f.chaos, client: s.checker, collection: f.name, collectionID: f.collectionID, replicaIDs: f.replicaIDs, segments, probes: f.probes, data: f.data };
  const monitor = new ServedMonitor(target);
  const notes: Notes = {};
  const postMs = s.postMs ?? 3000;
  const maxMs = s.maxMs ?? 60_000;
  let faultAt = Date.now();
  try {
    if (!s.injectFirst) {
      w.start();
      await sleep(s.preMs ?? 3000);
      faultAt = Date.now();
    }
    const injected = s.inject();
    if (s.injectFirst) {
      await injected;
      w.start();
    }
    monitor.start();
    Object.assign(notes, await injected);
    Object.assign(notes, await s.observe?.(faultAt));
    // The window ends once the collection has been served for postMs, and not before minWindowMs (nor after maxMs).
    for (;;) {
      const now = Date.now();
      const since = monitor.servedSince;
      if (now >= faultAt + maxMs) break;
      if (since !== undefined && now >= since + postMs && now >= faultAt + (s.minWindowMs ?? 10_000)) break;
      await sleep(100);
    }
  } finally {
    await monitor.stop();
    await w.stop();
  }
  if (monitor.regressions) notes.servedRegressions = `${monitor.regressions} (${monitor.regressionDetail})`;
  const verify = await verifyData(s.checker, f.name, f.data, f.probes);
  const since = monitor.servedSince;
  return {
    name: s.name,
    goal: s.goal,
    faultAt,
    baseline: w.stats('search', 0, faultAt),
    searches: w.stats('search', faultAt),
    inserts: w.stats('insert', faultAt),
    counts: w.stats('count', faultAt),
    servedSeconds: since === undefined ? undefined : Math.max(0, since - faultAt) / 1000,
    servedDetail: since === undefined ? monitor.lastFailure : 'served',
    notes,
    verify,
    dead: deadComponents(f.chaos),
    workload: w,
  };
}

export function proxyAddresses(chaos: ChaosCluster): string[] {
  return chaos.components('proxy').map((p) => chaos.address(p));
}

/** The live query node holding the most of the collection: a delegator first, then the most segments. */
export async function busiestQueryNode(f: Fixture): Promise<ComponentEntry> {
  let best: { c: ComponentEntry; score: number } | undefined;
  for (const qn of f.chaos.live('querynode')) {
    const d = await nodeDistribution('QueryNode', f.chaos.address(qn));
    const chans = d.channels.filter((x) => Number(x.collection_id) === f.collectionID).length;
    const segs = d.segments.filter((x) => Number(x.collection_id) === f.collectionID).length;
    const score = chans * 1000 + segs;
    if (!best || score > best.score) best = { c: qn, score };
  }
  if (!best || best.score === 0) throw new Error(`no query node serves ${f.name}`);
  return best.c;
}

/** How deadComponents() names a component. */
function componentTag(c: ComponentEntry): string {
  return `${c.role}-${c.serverID} (pid ${c.pid})`;
}

/** Seconds until `check` holds, polled every 100 ms from `since`; undefined after `timeoutMs`. */
export async function secondsUntil(since: number, timeoutMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
  while (Date.now() < since + timeoutMs) {
    if (await check().catch(() => false)) return (Date.now() - since) / 1000;
    await sleep(100);
  }
  return undefined;
}

/** Segments of the collection a query node serves (0 when it does not answer). */
async function segmentsOn(chaos: ChaosCluster, qn: ComponentEntry, collectionID: number): Promise<number> {
  const d = await nodeDistribution('QueryNode', chaos.address(qn));
  return d.segments.filter((x) => Number(x.collection_id) === collectionID).length;
}

// --------------------------------------------------------------------------------------------- the faults

export interface QueryNodeFaultOptions {
  fixture: Fixture;
  clients: { searchers: ProxyClient[]; inserter: ProxyClient; counter?: ProxyClient; checker: ProxyClient };
  goal: string;
  name: string;
}

/** runFault with what every fault of these options shares: its name and goal, the fixture, the clients' load. */
function runWith(o: QueryNodeFaultOptions, spec: Omit<FaultSpec, 'name' | 'goal' | 'fixture' | 'load' | 'checker'>): Promise<FaultResult> {
  return runFault({ name: o.name, goal: o.goal, fixture: o.fixture, load: o.clients, checker: o.clients.checker, ...spec });
}

/** kill -9 of the busiest query node of the collection. */
export async function queryNodeKill(o: QueryNodeFaultOptions): Promise<FaultResult & { victim: ComponentEntry }> {
  const victim = await busiestQueryNode(o.fixture);
  const tag = componentTag(victim);
  const before = await segmentsOn(o.fixture.chaos, victim, o.fixture.collectionID);
  const r = await runWith(o, {
    inject: async () => {
      await o.fixture.chaos.kill9(victim);
      return { victim: `querynode-${victim.serverID}`, victimSegments: before };
    },
  });
  return { ...r, dead: r.dead.filter((d) => d !== tag), victim };
}

/**
 * SIGSTOP of a query node for longer than its session TTL, then SIGCONT. Meanwhile its lease expires and the
 * coordinator reassigns its work; once resumed it must find its lease gone, drop what it held instead of serving
 * it (stale assignments), and register again under a new serverID.
 */
export async function queryNodePause(o: QueryNodeFaultOptions & { pauseMs: number }): Promise<FaultResult & { victim: ComponentEntry }> {
  const chaos = o.fixture.chaos;
  const victim = await busiestQueryNode(o.fixture);
  const oldID = victim.serverID;
  const before = await segmentsOn(chaos, victim, o.fixture.collectionID);
  let resumedAt = 0;
  const r = await runWith(o, {
    inject: async () => {
      chaos.pause(victim);
      await sleep(o.pauseMs);
      chaos.resume(victim);
      resumedAt = Date.now();
      return { victim: `querynode-${oldID}`, victimSegments: before, pausedSeconds: o.pauseMs / 1000 };
    },
    observe: async () => {
      // Right after the resume: its /ready must not report the old session as live for long.
      const rejoinSeconds = await secondsUntil(resumedAt, 30_000, async () => {
        const st = await chaos.ready(victim);
        return st.ready && st.serverID !== oldID;
      });
      const st = await chaos.ready(victim);
      victim.serverID = st.serverID;
      chaos.save();
      const dropped = chaos.grep(/lease lost: releasing all segments and channels/, 50).some((l) => l.includes(`"pid":${victim.pid}`));
      return { rejoinSeconds: rejoinSeconds ?? 'never', newServerID: st.serverID, droppedStaleWork: dropped };
    },
  });
  return { ...r, victim };
}

/** A stopped query node started again with the same command; it must rejoin and get segments by balancing. */
export async function queryNodeRestart(o: QueryNodeFaultOptions & { victim: ComponentEntry }): Promise<FaultResult> {
  const chaos = o.fixture.chaos;
  let restartAt = 0;
  const existing = new Set(await sealedSegmentIds(chaos, o.fixture.collectionID));
  const balanced = async (): Promise<number> => {
    const d = await nodeDistribution('QueryNode', chaos.address(o.victim));
    return d.segments.filter((x) => Number(x.collection_id) === o.fixture.collectionID && existing.has(Number(x.segment_id))).length;
  };
  return runWith(o, {
    inject: async () => {
      restartAt = Date.now();
      await chaos.restart(o.victim);
      return { readySeconds: (Date.now() - restartAt) / 1000, newServerID: o.victim.serverID };
    },
    observe: async () => {
      // Serving again: it holds segments of the collection and answers searches for them.
      const servingSeconds = await secondsUntil(restartAt, 60_000, async () => (await segmentsOn(chaos, o.victim, o.fixture.collectionID)) > 0);
      // Balancing: a segment that was sealed before the restart moves to the node.
      const balancedSeconds = await secondsUntil(restartAt, 20_000, async () => (await balanced()) > 0);
      return {
        servingSeconds: servingSeconds ?? 'never',
        balancedSeconds: balancedSeconds ?? 'never',
        segmentsAfter: await segmentsOn(chaos, o.victim, o.fixture.collectionID).catch(() => 0),
        balancedSegments: await balanced().catch(() => 0),
      };
    },
  });
}

/** Graceful stop (SIGTERM) of the busiest query node; its work must move before it goes. */
export async function queryNodeSigterm(o: QueryNodeFaultOptions): Promise<FaultResult & { victim: ComponentEntry }> {
  const victim = await busiestQueryNode(o.fixture);
  const tag = componentTag(victim);
  const r = await runWith(o, {
    inject: async () => {
      const ms = await o.fixture.chaos.terminate(victim, 60_000);
      return { victim: `querynode-${victim.serverID}`, stopSeconds: ms / 1000 };
    },
  });
  return { ...r, dead: r.dead.filter((d) => d !== tag), victim };
}

/** Channels of the collection a data node consumes. */
async function dataChannels(chaos: ChaosCluster, dn: ComponentEntry, collectionID: number): Promise<string[]> {
  const d = await nodeDistribution('DataNode', chaos.address(dn));
  return d.channels.filter((x) => Number(x.collection_id) === collectionID).map((x) => x.channel).sort();
}

/**
 * kill -9 of the data node consuming the collection's channels; they must move to the other data node, and after a
 * flush the sealed segments must hold every row exactly once.
 */
export async function dataNodeKill(o: QueryNodeFaultOptions & { admin: MilvusClient; shards: number }): Promise<FaultResult & { victim: ComponentEntry; sealedRows: number; rowsAfterFlush: number }> {
  const chaos = o.fixture.chaos;
  const id = o.fixture.collectionID;
  let victim: ComponentEntry | undefined;
  for (const dn of chaos.live('datanode')) if ((await dataChannels(chaos, dn, id)).length > 0) victim = victim ?? dn;
  if (!victim) throw new Error('no data node consumes the collection');
  const v = victim;
  const tag = componentTag(v);
  const r = await runWith(o, {
    inject: async () => {
      const owned = await dataChannels(chaos, v, id);
      await chaos.kill9(v);
      return { victim: `datanode-${v.serverID}`, victimChannels: owned.length };
    },
    observe: async (faultAt) => {
      const moved = await secondsUntil(faultAt, 60_000, async () => {
        const all = new Set<string>();
        for (const dn of chaos.live('datanode')) for (const ch of await dataChannels(chaos, dn, id)) all.add(ch);
        return all.size === o.shards;
      });
      return { channelsMovedSeconds: moved ?? 'never' };
    },
  });
  // Seal everything and count rows in the sealed segments' records: each row once.
  await flushAndWait(o.admin, o.fixture.name, 120_000);
  const sealedRows = (await readSegments(chaos.cluster.etcdEndpoints, id)).reduce((a, s) => a + s.numRows, 0);
  const rowsAfterFlush = o.fixture.data.acked();
  return { ...r, dead: r.dead.filter((d) => d !== tag), victim: v, sealedRows, rowsAfterFlush };
}

/** The coordinator that holds the exclusive session (the active one). */
export async function activeCoordinator(chaos: ChaosCluster): Promise<ComponentEntry> {
  const key = await readJson<{ serverID: number; address: string }>(chaos.cluster.etcdEndpoints, `${ROOT}/session/querycoord`);
  // By gRPC port: a coordinator that lost its session (an etcd outage) rejoins under a new serverID.
  const port = Number(key?.address.split(':').pop());
  const c = chaos.live('querycoord').find((x) => x.grpc === port);
  if (!c) throw new Error(`no live coordinator holds ${ROOT}/session/querycoord (${JSON.stringify(key)})`);
  return c;
}

/**
 * Waits until the shard leaders the coordinator publishes (`<root>/leaders/<collection>`) have not changed for
 * `stableMs` — the steady state in which proxies have had no leader update for a while. Returns how long they were
 * stable, or undefined when they kept changing for `timeoutMs`.
 */
export async function waitLeadersStable(chaos: ChaosCluster, collectionID: number, stableMs: number, timeoutMs: number): Promise<number | undefined> {
  const key = `${ROOT}/leaders/${collectionID}`;
  const deadline = Date.now() + timeoutMs;
  let rev = '';
  let since = Date.now();
  while (Date.now() < deadline) {
    const res = await withEtcd(chaos.cluster.etcdEndpoints, (etcd) => etcd.get(key).exec());
    const now = String(res.kvs[0]?.mod_revision ?? '');
    if (now !== rev) {
      rev = now;
      since = Date.now();
    }
    if (Date.now() - since >= stableMs) return (Date.now() - since) / 1000;
    await sleep(500);
  }
  return undefined;
}

/**
 * kill -9 of the active coordinator while a standby waits; the standby must take over and DDL must work after.
 * With `leadersStableMs`, the kill waits until the published shard leaders have not changed (and, the load being
 * off, no proxy has asked for them) for that long, and the load starts right after the kill: requests meet proxies
 * whose shard-leader cache is that old. Afterwards the killed one is started again (as the new standby).
 */
export async function coordinatorKill(o: QueryNodeFaultOptions & { admin: MilvusClient; leadersStableMs?: number }): Promise<FaultResult & { ddl: string }> {
  const chaos = o.fixture.chaos;
  const stable = o.leadersStableMs ? await waitLeadersStable(chaos, o.fixture.collectionID, o.leadersStableMs, o.leadersStableMs + 30_000) : undefined;
  const active = await activeCoordinator(chaos);
  const standby = chaos.live('querycoord').find((c) => c !== active);
  if (!standby) throw new Error('no standby coordinator runs');
  const tag = componentTag(active);
  const r = await runWith(o, {
    injectFirst: o.leadersStableMs !== undefined,
    inject: async () => {
      await chaos.kill9(active);
      return { victim: `querycoord-${active.serverID}`, standby: `querycoord-${standby.serverID}`, leadersStableSeconds: stable ?? (o.leadersStableMs ? 'kept changing' : '-') };
    },
    observe: async (faultAt) => {
      const takeover = await secondsUntil(faultAt, 60_000, async () => (await httpJson(standby.metrics, '/ready')).status === 200);
      return { takeoverSeconds: takeover ?? 'never' };
    },
  });
  // New DDL through the new coordinator: create, insert, flush, index, load, search.
  let ddl = 'ok';
  const t0 = Date.now();
  try {
    const name = `${o.fixture.name}_after`;
    const model = new DataState(0).model;
    const rows = makeRows(600, 0, 4242);
    await createCollection(o.admin, name, 1);
    await insertRows(o.admin, name, model, rows, 300);
    await flushAndWait(o.admin, name);
    await createHnswIndex(o.admin, name);
    await loadAndWait(o.admin, name, 1, 60_000);
    const pc = new ProxyClient([o.clients.checker.address], 30_000);
    try {
      const miss = await searchFor(pc, name, rows[123]!);
      if (miss) ddl = miss;
    } finally {
      await pc.close();
    }
    expectOk(await o.admin.releaseCollection({ collection_name: name }), 'releaseCollection');
  } catch (err) {
    ddl = `failed: ${(err as Error).message.slice(0, 300)}`;
  }
  r.notes.ddlSeconds = (Date.now() - t0) / 1000;
  await chaos.restart(active, 'healthz');
  return { ...r, dead: r.dead.filter((d) => d !== tag), ddl };
}

/**
 * kill -9 of one of two proxies. Clients labelled 'A' use the surviving proxy; clients labelled 'B' use the
 * victim and fail over to the survivor. Afterwards the victim is started again on its port.
 */
export async function proxyKill(o: { fixture: Fixture; name: string; goal: string; survivor: ComponentEntry; victim: ComponentEntry }): Promise<FaultResult & { reconnectSeconds?: number; clientA: { searches: Stats; counts: Stats }; clientB: { searches: Stats; inserts: Stats } }> {
  const chaos = o.fixture.chaos;
  const a = chaos.address(o.survivor);
  const b = chaos.address(o.victim);
  const searcherA = new ProxyClient([a], 10_000, false, 'A');
  const counterA = new ProxyClient([a], 10_000, false, 'A');
  const searcherB = new ProxyClient([b, a], 10_000, true, 'B');
  const inserterB = new ProxyClient([b, a], 10_000, true, 'B');
  const checker = new ProxyClient([a], 30_000, false, 'check');
  const tag = componentTag(o.victim);
  try {
    await Promise.all([searcherA, counterA, searcherB, inserterB, checker].map((c) => c.ready()));
    const r = await runFault({
      name: o.name,
      goal: o.goal,
      fixture: o.fixture,
      load: { searchers: [searcherA, searcherB], inserter: inserterB, counter: counterA },
      checker,
      inject: async () => {
        await chaos.kill9(o.victim);
        return { victim: `proxy-${o.victim.serverID}` };
      },
    });
    const w = r.workload;
    const firstOk = w.samples.filter((s) => s.client === 'B' && s.ok && s.start >= r.faultAt && s.proxy === a).sort((x, y) => x.end - y.end)[0];
    const reconnectSeconds = firstOk ? (firstOk.end - r.faultAt) / 1000 : undefined;
    r.notes.reconnects = searcherB.reconnects.length + inserterB.reconnects.length;
    await chaos.restart(o.victim);
    return {
      ...r,
      dead: r.dead.filter((d) => d !== tag),
      reconnectSeconds,
      clientA: { searches: w.stats('search', r.faultAt, undefined, 'A'), counts: w.stats('count', r.faultAt, undefined, 'A') },
      clientB: { searches: w.stats('search', r.faultAt, undefined, 'B'), inserts: w.stats('insert', r.faultAt, undefined, 'B') },
    };
  } finally {
    await Promise.all([searcherA, counterA, searcherB, inserterB, checker].map((c) => c.close()));
  }
}

/** Crash-restart of etcd or Kafka (kill -9, `downMs` of outage, the same command again). */
export async function backendRestart(o: QueryNodeFaultOptions & { backend: 'etcd' | 'kafka'; downMs: number }): Promise<FaultResult> {
  const chaos = o.fixture.chaos;
  return runWith(o, {
    maxMs: 120_000,
    inject: async () => {
      const t = o.backend === 'etcd' ? await chaos.restartEtcd(o.downMs) : await chaos.restartKafka(o.downMs);
      return { outageSeconds: (t.upAt - t.stoppedAt) / 1000 };
    },
  });
}

/** Fresh load clients on one proxy: `searchers` search loops, an insert loop, a count loop and a checker. */
export function clientsOn(address: string, searchers = 2): QueryNodeFaultOptions['clients'] & { all: ProxyClient[] } {
  const s = Array.from({ length: searchers }, () => new ProxyClient([address], 10_000));
  const inserter = new ProxyClient([address], 10_000);
  const counter = new ProxyClient([address], 10_000);
  const checker = new ProxyClient([address], 30_000);
  return { searchers: s, inserter, counter, checker, all: [...s, inserter, counter, checker] };
}

export { running, servedSegments };

function fmtStats(s: Stats): string {
  const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)}` : '-');
  return `${s.sent} sent, ${s.failed} failed, p50 ${ms(s.p50)} ms, p99 ${ms(s.p99)} ms, max ${ms(s.max)} ms`;
}

/** A few lines describing a fault's outcome, for test output and reports. */
export function describeResult(r: FaultResult): string {
  const lines = [
    `[chaos] ${r.name}`,
    `  baseline searches: ${fmtStats(r.baseline)}${r.baseline.errors.length ? ` (${r.baseline.errors.join(' | ')})` : ''}`,
    `  fault window searches: ${fmtStats(r.searches)}`,
    `  fault window inserts: ${fmtStats(r.inserts)}`,
    `  fault window count(*): ${fmtStats(r.counts)}`,
    `  served again after: ${r.servedSeconds === undefined ? `never (${r.servedDetail})` : `${r.servedSeconds.toFixed(1)} s`}`,
    `  notes: ${JSON.stringify(r.notes)}`,
    `  verify: acked ${r.verify.acked}, count(*) ${r.verify.count}, distinct ${r.verify.distinct}, missing ${r.verify.missing.length}, duplicates ${r.verify.duplicates.length}, unknown ${r.verify.unknown.length}, failed-but-stored ${r.verify.failedButStored}, search misses ${r.verify.searchMisses.length}${r.verify.error ? `; ${r.verify.error}` : ''}`,
  ];
  const errors = [...r.searches.errors, ...r.inserts.errors, ...r.counts.errors];
  if (errors.length) lines.push(`  errors: ${errors.join(' | ')}`);
  if (r.dead.length) lines.push(`  other components dead: ${r.dead.join(', ')}`);
  return lines.join('\n');
}
