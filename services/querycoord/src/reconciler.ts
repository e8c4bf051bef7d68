import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { DistributionResponse, ReplicaInfo, SealedPlacement } from '@kite/rpc';
import type { CollectionMeta, ReplicaRecord } from '@kite/segment';
import type { SessionInfo } from '@kite/session';
import { gauge, histogram } from '@kite/observe';
import { checkChannelBalance, checkSegmentBalance } from './checkers/balance';
import { checkChannels } from './checkers/channel';
import { checkDataChannels } from './checkers/data-channel';
import { checkIndexes } from './checkers/index';
import { checkLeaders, syncKey } from './checkers/leader';
import { checkReleases } from './checkers/release';
import { checkReplicas } from './checkers/replica';
import { checkRedundantSegments, checkSegments } from './checkers/segment';
import { within } from './deadline';
import { DistributionManager, nodesOf, type DistSnapshot, type NodeRole } from './distribution';
import { handoffOf } from './handoff';
import { LeaderPublisher, leadersOf } from './leaders';
import { ManualMoves } from './manual-balance';
import type { NodeConnector } from './nodes';
import { loadInfo, servedEverywhere } from './progress';
import { ReplicaStore } from './replicas';
import { Scheduler } from './scheduler';
import { TargetManager } from './target';
import { effectOf, type Task } from './tasks';
import { EventLog } from './events';

/** Recent cluster events kept for the web UI (a ring: the oldest goes first). */
const EVENT_CAPACITY = 500;
/** How long a lost node's segments and channels are remembered, to tell a failover move from a first load. */
const ORPHAN_MEMORY_MS = 30 * 60_000;

const sessionsGauge = gauge('kite_querycoord_sessions', 'node sessions by role and state (alive, joining, suspect, stopping)', ['role', 'state']);
const loadProgress = gauge('kite_querycoord_load_progress_percent', 'load progress of each loaded collection', ['collection']);
const segmentsGauge = gauge('kite_querycoord_segments', 'flushed segments of loaded collections, by serving state', ['collection', 'state']);
const tickDuration = histogram('kite_querycoord_reconcile_duration_seconds', 'one reconcile pass (pull, check, schedule)');

/** What the reconcile loop reads the collection catalogue through. */
export interface CollectionSource {
  all(): CollectionMeta[];
}

/**
 * The reconcile loop in the manner of Milvus's querycoordv2: each tick pulls the distribution (what is loaded
 * where), settles the scheduler's tasks against it, runs the checkers over the target (what must be loaded) and
 * that snapshot, schedules the tasks they plan, and publishes shard leaders. Every meta store call and node RPC
 * it makes is bounded by a configured timeout; a pass that fails is logged and the next tick tries again.
 */
export class Reconciler {
  readonly dist: DistributionManager;
  readonly targets: TargetManager;
  readonly replicas: ReplicaStore;
  readonly scheduler: Scheduler;
  /** Segment moves asked for by LoadBalance. */
  readonly moves = new ManualMoves();
  /** Recent cluster events (events.ts), for the web UI. */
  readonly events = new EventLog(EVENT_CAPACITY);
  /** What lost nodes served, by `seg/<replica>/<segment>` or `ch/<replica>/<channel>`: the node and when it went. */
  private readonly orphaned = new Map<string, { node: number; why: string; at: number }>();
  /** Each node's state at the end of the last pass, to record changes; collections seen fully loaded. */
  private readonly lastState = new Map<number, string>();
  private readonly fullyLoaded = new Set<number>();
  private readonly publisher: LeaderPublisher;
  private readonly lastPlace = new Map<string, SealedPlacement>();
  private readonly synced = new Map<string, string>();
  /** When each replica switched to a compaction plan's results, by `<replica>/<plan>` (handoff.ts). */
  private readonly switchedAt = new Map<string, number>();
  /** Bulk imports each replica has served together once, by `<replica>/<task>` (handoff.ts). */
  private readonly joinedImports = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly cfg: KiteConfig['querycoord'] & { sourceReleaseGraceMs?: number },
    store: MetaStore,
    root: string,
    private readonly catalog: CollectionSource,
    connector: NodeConnector,
    private readonly log: Logger,
    private readonly sessionOf: (role: NodeRole, id: number) => SessionInfo | undefined = () => undefined,
  ) {
    // A node whose pull failed (unreachable, say) holds one pass for pullTimeoutMs, not every pass: later pulls of
    // it get checkIntervalMs of a pass, and one that answers later triggers a pass that pulls it as usual.
    this.dist = new DistributionManager(connector, { pullTimeoutMs: cfg.pullTimeoutMs, suspectWaitMs: cfg.checkIntervalMs, onSuspectAnswered: () => this.trigger() }, log);
    this.targets = new TargetManager(store, root, cfg.metaTimeoutMs, () => this.trigger());
    this.replicas = new ReplicaStore(store, root, cfg.metaTimeoutMs);
    this.publisher = new LeaderPublisher(store, root, cfg.metaTimeoutMs);
    this.scheduler = new Scheduler(
      { maxTasksPerNode: cfg.maxTasksPerNode, retryMs: cfg.taskRetryMs, retryMsByKind: { index: cfg.indexTimeoutMs }, retentionMs: cfg.taskRetentionMs },
      {
        run: (t) => this.run(t),
        effect: (t, snap) =>
          effectOf(t, snap, (coll, seg, idx) => {
            const s = this.targets.segment(coll, seg);
            return !s || s.indexes.some((f) => f.indexID === idx);
          }),
        onReturned: () => this.trigger(),
        onDone: (t) => this.recordDone(t),
        onAbandoned: (t, outcome) => {
          if (t.kind === 'sync' && outcome === 'failed') this.synced.delete(syncKey(t.node, t.req.replica_id, t.req.channel));
        },
      },
      log.child({ part: 'scheduler' }),
    );
  }

  async start(): Promise<void> {
    await this.replicas.load();
    await this.targets.start();
    this.timer = setInterval(() => this.trigger(), this.cfg.checkIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.targets.stop();
    this.dist.close();
    this.scheduler.clear();
  }

  /** A node session came up. */
  nodeUp(s: SessionInfo): void {
    if (!this.stopped && this.dist.join(s)) {
      this.events.record('node-joined', `${s.role} ${s.serverID} joined at ${s.address}`, { node: s.serverID });
      this.trigger();
    }
  }

  /** A node session changed (e.g. it is stopping). */
  nodeUpdated(s: SessionInfo): void {
    const was = this.dist.snapshot().nodes.get(s.serverID);
    this.dist.update(s);
    if (s.stopping && was && !was.stopping && was.state !== 'gone') this.events.record('node-stopping', `${s.role} ${s.serverID} is stopping; its work moves to other nodes`, { node: s.serverID });
  }

  /** A node session is gone: it leaves its replicas at once and its work is reassigned. */
  nodeDown(s: SessionInfo): void {
    const held = this.dist.snapshot().nodes.get(s.serverID)?.dist;
    if (!this.dist.leave(s)) return;
    this.remember(s.serverID, held, 'lost');
    const what = held ? `; it held ${held.segments.length} segment(s) and ${held.channels.length} channel(s)` : '';
    this.events.record('node-lost', `${s.role} ${s.serverID} lost (session gone)${what}`, { node: s.serverID });
    for (const coll of this.replicas.dropNode(s.serverID)) {
      this.replicas.save(coll, [...(this.replicas.get(coll) ?? [])]).catch((e: unknown) => this.log.warn({ err: String(e), collection: coll }, 'saving replicas failed'));
    }
    this.trigger();
  }

  /** Runs one reconcile pass soon; repeated triggers while a pass runs collapse into the next tick. */
  trigger(): void {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.tick())
      .catch((e: unknown) => this.log.error({ err: String(e) }, 'reconcile pass failed; retrying on the next tick'))
      .finally(() => {
        this.ticking = false;
      });
  }

  /** Waits for a pass in progress, then runs one at once (tests drive the loop with it); it throws what the pass threw. */
  async pass(): Promise<void> {
    while (this.ticking) await this.running;
    this.ticking = true;
    try {
      await this.tick();
    } finally {
      this.ticking = false;
    }
  }

  private async tick(): Promise<void> {
    const end = tickDuration.startTimer();
    try {
      await this.reconcile();
    } finally {
      end();
    }
    this.observe();
  }

  private replicasOf(c: CollectionMeta): readonly ReplicaRecord[] {
    return this.replicas.get(c.collectionID) ?? [];
  }

  private async reconcile(): Promise<void> {
    const snap = await this.dist.pull(this.sessionOf);
    if (this.stopped) return;
    this.scheduler.observe(snap);
    const submit = (tasks: Task[]): void => void this.scheduler.submit(tasks);
    const all = this.catalog.all();
    submit(checkDataChannels(all, snap));
    const loaded = all.filter((c) => c.load);
    const now = Date.now();
    const switched = new Map<string, number>();
    const joined = new Set<string>();
    // Membership follows sessions as they are now: a node whose session went during the pull does not rejoin.
    const live = new Set(this.dist.members('querynode').map((n) => n.id));
    const queryNodes = nodesOf(snap, 'querynode').filter((n) => live.has(n.id));
    for (const c of loaded) {
      const plan = checkReplicas(c.collectionID, c.load!.replicaNumber, this.replicas.get(c.collectionID), queryNodes);
      for (const b of plan.borrowed) this.log.warn({ collection: c.name, ...b }, 'replica had no node left: borrowed one');
      if (plan.changed) await this.replicas.save(c.collectionID, plan.replicas);
      const t = this.targets.next(c);
      for (const r of this.replicasOf(c)) {
        const handoff = handoffOf(t, r, snap, this.switchedAt, now, this.cfg.sourceReleaseGraceMs ?? 0, this.joinedImports);
        for (const [k, at] of handoff.switched) switched.set(k, at);
        for (const k of handoff.joinedImports) joined.add(k);
        const manual = this.moves.check(t, r, snap);
        submit(manual);
        const lacking = checkSegments(t, r, snap);
        submit(lacking);
        const moving = this.moves.moving(r.replicaID);
        const moves = checkSegmentBalance(t, r, snap, this.scheduler.pending(), lacking, this.moves.pinned(r.replicaID), moving.size > 0);
        submit(moves);
        submit(checkRedundantSegments(t, r, snap, [...lacking, ...moves], handoff.keep, moving));
        submit(checkChannels(t, r, snap, this.scheduler.pending()));
        submit(checkChannelBalance(t, r, snap, this.scheduler.pending()));
        const leaders = checkLeaders(t, r, snap, { lastPlace: this.lastPlace, synced: this.synced }, handoff, this.moves.preferred(r.replicaID));
        for (const [k, p] of leaders.placed) this.lastPlace.set(k, p);
        for (const [k, sig] of leaders.synced) this.synced.set(k, sig);
        submit(leaders.tasks);
      }
    }
    // Replica and plan ids are unique cluster-wide; plans no replica is switching any more are forgotten.
    this.switchedAt.clear();
    for (const [k, at] of switched) this.switchedAt.set(k, at);
    // Imports of released collections (and of dropped replicas) are forgotten with them.
    this.joinedImports.clear();
    for (const k of joined) this.joinedImports.add(k);
    submit(checkReleases(new Map(loaded.map((c) => [c.collectionID, this.replicasOf(c)])), snap));
    submit(checkIndexes(all.map((c) => this.targets.next(c)), snap));
    this.scheduler.dispatch();
    await this.publisher.publish(new Map(loaded.map((c) => [c.collectionID, this.leaders(c, snap)])));
  }

  leaders(c: CollectionMeta, snap: DistSnapshot = this.dist.snapshot()): ReplicaInfo[] {
    return leadersOf(this.targets.next(c).channels, this.replicasOf(c), snap);
  }

  loadInfo(c: CollectionMeta): ReturnType<typeof loadInfo> {
    return loadInfo(this.targets.next(c), this.replicasOf(c), this.dist.snapshot());
  }

  /**
   * Notes what a node that was lost or stopped answering served, so that the loads replacing it are recorded as
   * moves (recordDone). `why`: lost | not answering.
   */
  private remember(node: number, held: DistributionResponse | undefined, why: string): void {
    const now = Date.now();
    for (const [k, v] of this.orphaned) if (now - v.at > ORPHAN_MEMORY_MS) this.orphaned.delete(k);
    for (const s of held?.segments ?? []) this.orphaned.set(`seg/${s.replica_id}/${s.segment_id}`, { node, why, at: now });
    for (const c of held?.channels ?? []) this.orphaned.set(`ch/${c.replica_id}/${c.channel}`, { node, why, at: now });
  }

  /** A task was seen done: a segment or delegator placed elsewhere than at first load becomes an event. */
  private recordDone(t: Task): void {
    if (t.kind === 'load') {
      const k = `seg/${t.replica}/${t.segment}`;
      const lost = this.orphaned.get(k);
      this.orphaned.delete(k);
      if (lost) this.events.record('segment-moved', `segment ${t.segment} moved from node ${lost.node} (${lost.why}) to node ${t.node} (replica ${t.replica})`, { node: t.node, collection: t.collection });
      else if (t.why !== 'lacks segment') this.events.record('segment-moved', `segment ${t.segment} moved to node ${t.node} (replica ${t.replica}, ${t.why})`, { node: t.node, collection: t.collection });
    } else if (t.kind === 'watch') {
      const k = `ch/${t.replica}/${t.channel}`;
      const lost = this.orphaned.get(k);
      this.orphaned.delete(k);
      if (lost) this.events.record('delegator-rebuilt', `delegator of ${t.channel} rebuilt on node ${t.node}, moved from node ${lost.node} (${lost.why}) (replica ${t.replica})`, { node: t.node, collection: t.collection });
      else if (t.why !== 'lacks delegator') this.events.record('delegator-rebuilt', `delegator of ${t.channel} moved to node ${t.node} (replica ${t.replica}, ${t.why})`, { node: t.node, collection: t.collection });
      else this.events.record('delegator-started', `delegator of ${t.channel} started on node ${t.node} (replica ${t.replica})`, { node: t.node, collection: t.collection });
    }
  }

  /** Gauges that describe the cluster as the coordinator sees it after a pass; fully served targets become current. */
  private observe(): void {
    const snap = this.dist.snapshot();
    for (const n of snap.nodes.values()) {
      const before = this.lastState.get(n.id);
      if (n.state === 'suspect' && before !== undefined && before !== 'suspect') {
        this.events.record('node-suspect', `${n.role} ${n.id} does not answer distribution pulls (${n.failures} failed)`, { node: n.id });
        this.remember(n.id, n.dist, 'not answering');
      }
      if (n.state === 'gone') this.lastState.delete(n.id);
      else this.lastState.set(n.id, n.state);
    }
    sessionsGauge.reset();
    for (const n of snap.nodes.values()) {
      if (n.state === 'gone') continue;
      const state = n.stopping ? 'stopping' : n.state === 'healthy' ? 'alive' : n.state;
      sessionsGauge.inc({ role: n.role, state });
    }
    loadProgress.reset();
    segmentsGauge.reset();
    for (const c of this.catalog.all()) {
      if (!c.load) continue;
      const t = this.targets.next(c);
      const reps = this.replicasOf(c);
      const info = loadInfo(t, reps, snap);
      loadProgress.set({ collection: c.name }, info.progress);
      const served = servedEverywhere(t, reps, snap);
      segmentsGauge.set({ collection: c.name, state: 'served' }, served);
      segmentsGauge.set({ collection: c.name, state: 'pending' }, t.segments.length - served);
      if (info.progress >= 100) this.targets.promote(t);
      if (info.progress >= 100 && !this.fullyLoaded.has(c.collectionID)) {
        this.fullyLoaded.add(c.collectionID);
        this.events.record('collection-loaded', `collection ${c.name} loaded: ${t.segments.length} segment(s) on ${reps.length} replica(s)`, { collection: c.collectionID });
      }
    }
  }

  /** Forgets a released or dropped collection's replicas and targets. */
  async forget(collectionID: number, dropped: boolean): Promise<void> {
    this.targets.drop(collectionID, dropped);
    this.fullyLoaded.delete(collectionID);
    this.moves.forget(collectionID);
    await this.replicas.remove(collectionID);
  }

  // ---------------------------------------------------------------- task execution

  private async run(t: Task): Promise<void> {
    const cfg = this.cfg;
    const bounded = <T>(p: Promise<T>, ms: number): Promise<T> => within(p, ms, `${t.kind} on node ${t.node}`);
    if (t.kind === 'dn-watch' || t.kind === 'dn-unwatch' || t.kind === 'index') {
      const dn = this.dist.dataNode(t.node);
      if (!dn) throw new KiteError('NodeOffline', `data node ${t.node} is gone`);
      if (t.kind === 'dn-watch') {
        const cp = await this.targets.checkpoint(t.collection, t.channel);
        await bounded(dn.WatchChannel({ collection_id: t.collection, channel: t.channel, replica_id: 0, from_offset: cp?.offset ?? 0 }), cfg.nodeRpcTimeoutMs);
      } else if (t.kind === 'dn-unwatch') {
        await bounded(dn.UnwatchChannel({ collection_id: t.collection, channel: t.channel, replica_id: 0 }), cfg.nodeRpcTimeoutMs);
      } else {
        await bounded(dn.BuildIndexes({ collection_id: t.collection, segment_ids: [t.segment], index_ids: [t.index] }, { timeoutMs: cfg.indexTimeoutMs }), cfg.indexTimeoutMs);
      }
      return;
    }
    const qn = this.dist.queryNode(t.node);
    if (!qn) throw new KiteError('NodeOffline', `query node ${t.node} is gone`);
    switch (t.kind) {
      case 'load':
        this.log.info({ segment: t.segment, node: t.node, replica: t.replica, why: t.why }, 'loading segment');
        await bounded(qn.LoadSegments({ collection_id: t.collection, replica_id: t.replica, segment_ids: [t.segment] }, { timeoutMs: cfg.loadTimeoutMs }), cfg.loadTimeoutMs);
        return;
      case 'release':
        await bounded(qn.ReleaseSegments({ collection_id: t.collection, replica_id: t.replica, segment_ids: t.segments }), cfg.nodeRpcTimeoutMs);
        return;
      case 'watch':
        this.log.info({ channel: t.channel, node: t.node, replica: t.replica, from: t.from, why: t.why }, 'starting delegator');
        await bounded(qn.WatchChannel({ collection_id: t.collection, channel: t.channel, replica_id: t.replica, from_offset: t.from }, { timeoutMs: cfg.watchTimeoutMs }), cfg.watchTimeoutMs);
        return;
      case 'unwatch':
        await bounded(qn.UnwatchChannel({ collection_id: t.collection, channel: t.channel, replica_id: t.replica }), cfg.nodeRpcTimeoutMs);
        return;
      case 'sync':
        await bounded(qn.SyncDistribution(t.req), cfg.nodeRpcTimeoutMs);
        return;
    }
  }
}
