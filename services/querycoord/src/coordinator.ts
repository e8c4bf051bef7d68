import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore, WatchEvent } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import { channelsOf, codecs, idAfter, keys, type ReplicaRecord, type CollectionMeta, type SegmentMeta, type ChannelCheckpoint } from '@kite/segment';
import { connect, OK_STATUS, type Client, type DataNodeApi, type DistributionResponse, type QueryCoordApi, type QueryNodeApi } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { SessionView, type SessionInfo } from '@kite/session';
import { counter, gauge, histogram } from '@kite/observe';
import { Catalog } from './catalog';

const tasksInflight = gauge('kite_querycoord_tasks_inflight', 'tasks the scheduler is running or waiting to see take effect');
const taskOutcomes = counter('kite_querycoord_tasks_total', 'tasks run, by type and outcome', ['type', 'outcome']);
const sessionsGauge = gauge('kite_querycoord_sessions', 'node sessions by role and state (alive, suspect, stopping)', ['role', 'state']);
const nodeEvents = counter('kite_querycoord_node_events_total', 'node lifecycle events: joined, suspect (failed pull), recovered, down (session gone)', ['role', 'event']);
const loadProgress = gauge('kite_querycoord_load_progress_percent', 'load progress of each loaded collection', ['collection']);
const segmentsGauge = gauge('kite_querycoord_segments', 'flushed segments of loaded collections, by serving state', ['collection', 'state']);
const tickDuration = histogram('kite_querycoord_reconcile_duration_seconds', 'one reconcile pass (pull, check, schedule)');
import { IdAllocator, Tso } from './tso';

interface NodeState {
  info: SessionInfo;
  qn?: Client<QueryNodeApi>;
  dn?: Client<DataNodeApi>;
  dist?: DistributionResponse;
  /** Consecutive failed distribution pulls; a node with any is kept out of placement and routing. */
  failures: number;
}

type Replica = ReplicaRecord;


/**
 * The query coordinator: DDL and the timestamp oracle, and a reconcile loop in the manner of Milvus's querycoordv2.
 * The *target* (what must be served: every channel of a loaded collection by a delegator in each replica, every
 * flushed segment by a node of each replica, every channel by a data node) is compared each tick with the
 * *distribution* the nodes report; checkers emit tasks (watch/unwatch, load/release, sync) that run as RPCs, and a
 * task counts as done only when a later pull shows it.
 */
export class Coordinator implements QueryCoordApi {
  readonly tso: Tso;
  readonly ids: IdAllocator;
  readonly catalog: Catalog;
  private readonly view: SessionView;
  private readonly nodes = new Map<number, NodeState>();
  private readonly segments = new Map<number, Map<number, SegmentMeta>>();
  private readonly replicas = new Map<number, Replica[]>();
  private readonly inflight = new Map<string, number>();
  private readonly synced = new Map<string, string>();
  private readonly lastPlace = new Map<string, M.SealedPlacement>();
  private readonly published = new Map<number, string>();
  /** Watch tasks in flight: where each delegator is being started (counted as there by the channel balancer). */
  private readonly watching = new Map<string, { node: number; channel: string; replica: number }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;
  private closeSegWatch: (() => Promise<void>) | undefined;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    objects: ObjectStore,
    private readonly log: Logger,
  ) {
    const root = cfg.common.rootPath;
    this.tso = new Tso(store, root);
    this.ids = new IdAllocator(store, root);
    this.catalog = new Catalog(store, wal, objects, root, this.ids, this.tso, log.child({ part: 'catalog' }));
    this.view = new SessionView(store, root);
  }

  private get root(): string {
    return this.cfg.common.rootPath;
  }

  async start(): Promise<void> {
    await this.tso.start();
    await this.catalog.start();
    const reps = await this.store.getPrefix(keys.replicas(this.root));
    for (const kv of reps.kvs) this.replicas.set(idAfter(keys.replicas(this.root), kv.key), codecs.replicas.decode(kv.value, kv.key));
    const segs = await this.store.getPrefix(keys.segments(this.root));
    for (const kv of segs.kvs) this.putSegment(codecs.segment.decode(kv.value, kv.key));
    const w = await this.store.watchPrefix(keys.segments(this.root), segs.revision + 1, {
      onEvents: (evs: WatchEvent[]) => {
        for (const ev of evs) {
          if (ev.type === 'put') this.putSegment(codecs.segment.decode(ev.kv.value, ev.kv.key));
          else {
            const [coll, seg] = ev.key.slice(keys.segments(this.root).length).split('/').map(Number);
            this.segments.get(coll!)?.delete(seg!);
          }
        }
        this.trigger();
      },
      onResync: (snap) => {
        this.segments.clear();
        for (const kv of snap.kvs) this.putSegment(codecs.segment.decode(kv.value, kv.key));
      },
    });
    this.closeSegWatch = () => w.close();
    this.view.on('up', (s: SessionInfo) => this.addNode(s));
    this.view.on('down', (s: SessionInfo) => this.removeNode(s));
    await this.view.start();
    for (const s of this.view.sessions.values()) this.addNode(s);
    this.timer = setInterval(() => this.trigger(), this.cfg.querycoord.checkIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.closeSegWatch?.();
    await this.view.close();
    for (const n of this.nodes.values()) {
      n.qn?.close();
      n.dn?.close();
    }
  }

  private putSegment(s: SegmentMeta): void {
    let m = this.segments.get(s.collectionID);
    if (!m) this.segments.set(s.collectionID, (m = new Map()));
    m.set(s.segmentID, s);
  }

  private addNode(s: SessionInfo): void {
    if (this.nodes.has(s.serverID) || (s.role !== 'querynode' && s.role !== 'datanode')) return;
    const n: NodeState = { info: s, failures: 0 };
    if (s.role === 'querynode') n.qn = connect('QueryNode', s.address, 10000);
    else n.dn = connect('DataNode', s.address, 10000);
    this.nodes.set(s.serverID, n);
    this.log.info({ node: s.serverID, role: s.role, address: s.address }, 'node joined');
    nodeEvents.inc({ role: s.role, event: 'joined' });
    this.trigger();
  }

  private removeNode(s: SessionInfo): void {
    const n = this.nodes.get(s.serverID);
    if (!n) return;
    n.qn?.close();
    n.dn?.close();
    this.nodes.delete(s.serverID);
    for (const [coll, reps] of this.replicas) {
      let changed = false;
      for (const r of reps) {
        const before = r.nodes.length;
        r.nodes = r.nodes.filter((id) => id !== s.serverID);
        changed ||= before !== r.nodes.length;
      }
      if (changed) void this.saveReplicas(coll, reps);
    }
    this.log.warn({ node: s.serverID, role: s.role }, 'node session gone; reassigning its work');
    nodeEvents.inc({ role: s.role, event: 'down' });
    this.trigger();
  }

  /** Runs one reconcile pass soon; repeated triggers while a pass runs collapse into the next tick. */
  trigger(): void {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    setImmediate(() => {
      this.tick()
        .catch((e: unknown) => this.log.error({ err: String(e) }, 'reconcile pass failed'))
        .finally(() => {
          this.ticking = false;
        });
    });
  }

  private healthy(role: 'querynode' | 'datanode'): NodeState[] {
    return [...this.nodes.values()].filter((n) => n.info.role === role && n.failures === 0 && !n.info.stopping && n.dist);
  }

  private async pull(): Promise<void> {
    await Promise.all(
      [...this.nodes.values()].map(async (n) => {
        try {
          const api = n.qn ?? n.dn!;
          n.dist = await api.GetDistribution({}, { timeoutMs: 3000 });
          if (n.failures > 0) nodeEvents.inc({ role: n.info.role, event: 'recovered' });
          n.failures = 0;
          const cur = this.view.get(n.info.role, n.info.serverID);
          if (cur) n.info = cur;
        } catch (e) {
          n.failures++;
          if (n.failures === 1) nodeEvents.inc({ role: n.info.role, event: 'suspect' });
          if (n.failures === 1) this.log.warn({ node: n.info.serverID, err: String(e) }, 'distribution pull failed; node out of routing');
        }
      }),
    );
  }

  /** Runs a task once at a time per key; a task whose effect a later pull does not show is retried after `retryMs`. */
  private runTask(key: string, fn: () => Promise<unknown>, retryMs = 10000): void {
    const started = this.inflight.get(key);
    if (started !== undefined && Date.now() - started < retryMs) return;
    this.inflight.set(key, Date.now());
    const type = key.slice(0, key.indexOf('/'));
    fn().then(
      () => {
        taskOutcomes.inc({ type, outcome: 'ok' });
        // The RPCs return once the work is done, so the next pull shows it; the key is free for new work.
        this.inflight.delete(key);
        this.trigger();
      },
      (e: unknown) => {
        taskOutcomes.inc({ type, outcome: 'failed' });
        this.log.warn({ task: key, err: String(e) }, 'task failed');
        this.inflight.delete(key);
      },
    );
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

  /** Gauges that describe the cluster as the coordinator sees it after a pass. */
  private observe(): void {
    // Tasks whose effect showed up long ago are forgotten so the gauge counts what is pending.
    for (const [k, t] of this.inflight) if (Date.now() - t > 600000) this.inflight.delete(k);
    tasksInflight.set(this.inflight.size);
    sessionsGauge.reset();
    for (const n of this.nodes.values()) {
      const state = n.info.stopping ? 'stopping' : n.failures > 0 ? 'suspect' : 'alive';
      sessionsGauge.inc({ role: n.info.role, state });
    }
    loadProgress.reset();
    segmentsGauge.reset();
    for (const c of this.catalog.all()) {
      if (!c.load) continue;
      const info = this.loadInfo(c);
      loadProgress.set({ collection: c.name }, info.progress);
      const reps = this.replicas.get(c.collectionID) ?? [];
      const target = this.targetSegments(c);
      const served = target.filter((s) => reps.every((r) => this.placement(c, r).has(s.segmentID))).length;
      segmentsGauge.set({ collection: c.name, state: 'served' }, served);
      segmentsGauge.set({ collection: c.name, state: 'pending' }, target.length - served);
    }
  }

  private async reconcile(): Promise<void> {
    await this.pull();
    // A delegator being started counts as there until a pull shows it (or its node is gone).
    for (const [key, w] of this.watching) {
      const n = this.nodes.get(w.node);
      if (!n?.dist || n.dist.channels.some((ch) => ch.channel === w.channel && ch.replica_id === w.replica)) this.watching.delete(key);
    }
    await this.checkDataChannels();
    const loaded = this.catalog.all().filter((c) => c.load);
    for (const c of loaded) {
      await this.checkReplicas(c);
      for (const r of this.replicas.get(c.collectionID) ?? []) {
        this.checkSegments(c, r);
        await this.checkChannels(c, r);
        this.checkLeaders(c, r);
      }
    }
    this.checkReleases(new Set(loaded.map((c) => c.collectionID)));
    this.checkIndexes();
    await this.publishLeaders(loaded);
  }

  // ---------------------------------------------------------------- checkers

  private async checkpoint(coll: number, channel: string): Promise<ChannelCheckpoint | undefined> {
    const kv = await this.store.get(keys.checkpoint(this.root, coll, channel));
    return kv ? codecs.checkpoint.decode(kv.value, kv.key) : undefined;
  }

  /** Every channel of every collection is consumed by exactly one healthy data node. */
  private async checkDataChannels(): Promise<void> {
    const dns = this.healthy('datanode');
    if (dns.length === 0) return;
    const owners = new Map<string, number[]>();
    for (const n of dns) for (const ch of n.dist!.channels) owners.set(ch.channel, [...(owners.get(ch.channel) ?? []), n.info.serverID]);
    const wanted = new Set<string>();
    const assigned = new Map<number, number>();
    for (const c of this.catalog.all()) {
      for (const channel of channelsOf(c)) {
        wanted.add(channel);
        const has = owners.get(channel) ?? [];
        if (has.length > 0) {
          for (const extra of has.slice(1)) {
            const n = this.nodes.get(extra)!;
            this.runTask(`dn-unwatch/${channel}/${extra}`, () => n.dn!.UnwatchChannel({ collection_id: c.collectionID, channel, replica_id: 0 }));
          }
          continue;
        }
        // Count assignments made in this pass too, so a new collection's channels spread over the data nodes.
        const load = (n: NodeState): number => n.dist!.channels.length + (assigned.get(n.info.serverID) ?? 0);
        const target = dns.reduce((a, b) => (load(b) < load(a) ? b : a));
        assigned.set(target.info.serverID, (assigned.get(target.info.serverID) ?? 0) + 1);
        const cp = await this.checkpoint(c.collectionID, channel);
        this.runTask(`dn-watch/${channel}`, () =>
          target.dn!.WatchChannel({ collection_id: c.collectionID, channel, replica_id: 0, from_offset: cp?.offset ?? 0 }),
        );
      }
    }
    for (const n of dns) {
      for (const ch of n.dist!.channels) {
        if (!wanted.has(ch.channel)) {
          this.runTask(`dn-unwatch/${ch.channel}/${n.info.serverID}`, () => n.dn!.UnwatchChannel({ collection_id: ch.collection_id, channel: ch.channel, replica_id: 0 }));
        }
      }
    }
  }

  private async saveReplicas(coll: number, reps: Replica[]): Promise<void> {
    this.replicas.set(coll, reps);
    await this.store.put(keys.replica(this.root, coll), codecs.replicas.encode(reps));
  }

  /**
   * Each replica gets a disjoint set of live query nodes; new nodes join the replica with the fewest. A stopping
   * node stays a member (it serves until its work has moved) but gets no new work. A replica left with no node
   * borrows one from the replica with the most.
   */
  private async checkReplicas(c: CollectionMeta): Promise<void> {
    const want = c.load!.replicaNumber;
    let reps = this.replicas.get(c.collectionID);
    if (!reps || reps.length !== want) {
      reps = [];
      for (let i = 0; i < want; i++) reps.push({ replicaID: c.collectionID * 10 + i + 1, nodes: [] });
    }
    const qns = [...this.nodes.values()].filter((n) => n.info.role === 'querynode');
    const live = new Set(qns.map((n) => n.info.serverID));
    const joinable = qns.filter((n) => !n.info.stopping).map((n) => n.info.serverID).sort((a, b) => a - b);
    let changed = false;
    for (const r of reps) {
      const kept = r.nodes.filter((id) => live.has(id));
      if (kept.length !== r.nodes.length) {
        r.nodes = kept;
        changed = true;
      }
    }
    const used = new Set(reps.flatMap((r) => r.nodes));
    const active = (r: Replica): number => r.nodes.filter((id) => !this.nodes.get(id)?.info.stopping).length;
    for (const id of joinable) {
      if (used.has(id)) continue;
      const smallest = reps.reduce((a, b) => (active(b) < active(a) ? b : a));
      smallest.nodes.push(id);
      used.add(id);
      changed = true;
    }
    for (const r of reps) {
      if (active(r) > 0) continue;
      const donor = reps.reduce((a, b) => (active(b) > active(a) ? b : a));
      if (active(donor) < 2) continue;
      const moved = donor.nodes.filter((id) => !this.nodes.get(id)?.info.stopping).pop()!;
      donor.nodes = donor.nodes.filter((id) => id !== moved);
      r.nodes.push(moved);
      changed = true;
      this.log.warn({ collection: c.name, node: moved, from: donor.replicaID, to: r.replicaID }, 'replica had no node left: borrowed one');
    }
    if (changed || !this.replicas.has(c.collectionID)) await this.saveReplicas(c.collectionID, reps);
  }

  private targetSegments(c: CollectionMeta): SegmentMeta[] {
    return [...(this.segments.get(c.collectionID)?.values() ?? [])].filter((s) => s.numRows > 0);
  }

  /** Replica members that answer distribution pulls (stopping ones included: they still serve). */
  private replicaNodes(r: Replica): NodeState[] {
    return r.nodes.map((id) => this.nodes.get(id)).filter((n): n is NodeState => !!n && n.failures === 0 && !!n.dist && !!n.qn);
  }

  /** Members that may take new work. */
  private activeNodes(r: Replica): NodeState[] {
    return this.replicaNodes(r).filter((n) => !n.info.stopping);
  }

  /** Where each segment is loaded within the replica, on the given nodes (all nodes holding it). */
  private holders(c: CollectionMeta, r: Replica, nodes: NodeState[]): Map<number, NodeState[]> {
    const out = new Map<number, NodeState[]>();
    for (const n of nodes) {
      for (const s of n.dist!.segments) {
        if (s.collection_id !== c.collectionID || s.replica_id !== r.replicaID) continue;
        out.set(s.segment_id, [...(out.get(s.segment_id) ?? []), n]);
      }
    }
    return out;
  }

  /** One serving node per segment: an active holder when there is one. */
  private placement(c: CollectionMeta, r: Replica): Map<number, NodeState> {
    const out = new Map<number, NodeState>();
    for (const [seg, ns] of this.holders(c, r, this.replicaNodes(r))) out.set(seg, ns.find((n) => !n.info.stopping) ?? ns[0]!);
    return out;
  }

  private rowsOn(n: NodeState): number {
    return n.dist!.segments.reduce((s, x) => s + x.num_rows, 0);
  }

  private checkSegments(c: CollectionMeta, r: Replica): void {
    const active = this.activeNodes(r);
    if (active.length === 0) return;
    const onActive = this.holders(c, r, active);
    const all = this.holders(c, r, this.replicaNodes(r));
    const rows = new Map<number, number>(active.map((n) => [n.info.serverID, this.rowsOn(n)]));
    const lightest = (): NodeState => active.reduce((a, b) => ((rows.get(b.info.serverID) ?? 0) < (rows.get(a.info.serverID) ?? 0) ? b : a));
    const target = this.targetSegments(c);
    const targetIds = new Set(target.map((s) => s.segmentID));
    const load = (s: SegmentMeta, dest: NodeState, why: string): void => {
      rows.set(dest.info.serverID, (rows.get(dest.info.serverID) ?? 0) + s.numRows);
      this.runTask(`load/${r.replicaID}/${s.segmentID}`, () => {
        this.log.info({ segment: s.segmentID, node: dest.info.serverID, replica: r.replicaID, why }, 'loading segment');
        return dest.qn!.LoadSegments({ collection_id: c.collectionID, replica_id: r.replicaID, segment_ids: [s.segmentID] }, { timeoutMs: 120000 });
      });
    };
    // Lacking segments (new, or on a dead or stopping node) go to the least loaded active node.
    for (const s of target) if (!onActive.has(s.segmentID)) load(s, lightest(), all.has(s.segmentID) ? 'moving off a stopping node' : 'lacks segment');
    // Balance: move one segment at a time from the heaviest to the lightest node when the gap is large.
    if (active.length > 1 && ![...this.inflight.keys()].some((k) => k.startsWith(`load/${r.replicaID}/`))) {
      const heavy = active.reduce((a, b) => ((rows.get(b.info.serverID) ?? 0) > (rows.get(a.info.serverID) ?? 0) ? b : a));
      const light = lightest();
      const gap = (rows.get(heavy.info.serverID) ?? 0) - (rows.get(light.info.serverID) ?? 0);
      const candidate = heavy.dist!.segments
        .filter((s) => s.collection_id === c.collectionID && s.replica_id === r.replicaID && (onActive.get(s.segment_id)?.length ?? 0) === 1)
        .sort((a, b) => a.num_rows - b.num_rows)
        .find((s) => s.num_rows * 2 <= gap);
      const meta = candidate && this.segments.get(c.collectionID)?.get(candidate.segment_id);
      if (meta) load(meta, light, 'balance');
    }
    // Release copies nobody needs: not in the target, or also served by an active node elsewhere.
    for (const n of this.replicaNodes(r)) {
      const extra = n.dist!.segments.filter((s) => {
        if (s.collection_id !== c.collectionID || s.replica_id !== r.replicaID) return false;
        if (!targetIds.has(s.segment_id)) return true;
        const others = (onActive.get(s.segment_id) ?? []).filter((o) => o !== n);
        return others.length > 0 && (n.info.stopping || this.preferredHolder(others.concat(n), rows) !== n);
      });
      if (extra.length) {
        this.runTask(`release/${r.replicaID}/${n.info.serverID}/${extra.map((s) => s.segment_id).join(',')}`, () =>
          n.qn!.ReleaseSegments({ collection_id: c.collectionID, replica_id: r.replicaID, segment_ids: extra.map((s) => s.segment_id) }),
        );
      }
    }
  }

  /** Of several active nodes holding a segment, the one that keeps it: the least loaded. */
  private preferredHolder(ns: NodeState[], rows: Map<number, number>): NodeState {
    return ns.filter((n) => !n.info.stopping).reduce((a, b) => ((rows.get(b.info.serverID) ?? 0) < (rows.get(a.info.serverID) ?? 0) ? b : a));
  }

  /**
   * The offset below which the replica serves a channel from sealed segments: the end of the longest run of
   * segments, from offset 0, that are all loaded somewhere in the replica.
   */
  private watermark(c: CollectionMeta, channel: string, placed: Map<number, NodeState>): number {
    const segs = [...(this.segments.get(c.collectionID)?.values() ?? [])].filter((s) => s.channel === channel).sort((a, b) => a.startOffset - b.startOffset);
    let w = 0;
    for (const s of segs) {
      if (s.startOffset > w) break;
      if (s.numRows > 0 && !placed.has(s.segmentID)) break;
      w = Math.max(w, s.endOffset);
    }
    return w;
  }

  private delegators(c: CollectionMeta, r: Replica, channel: string): NodeState[] {
    return this.replicaNodes(r).filter((n) => n.dist!.channels.some((ch) => ch.channel === channel && ch.replica_id === r.replicaID));
  }

  private channelOn(n: NodeState, r: Replica, channel: string): M.ChannelDist | undefined {
    return n.dist!.channels.find((ch) => ch.channel === channel && ch.replica_id === r.replicaID);
  }

  private async checkChannels(c: CollectionMeta, r: Replica): Promise<void> {
    const active = this.activeNodes(r);
    if (active.length === 0) return;
    const placed = this.placement(c, r);
    // A node's delegators: those it reports plus those being started on it, so one pass never moves two channels
    // to the same light node on stale counts (which made the hand-over move them back: a watch/unwatch ping-pong).
    const count = (n: NodeState): number =>
      n.dist!.channels.length +
      [...this.watching.values()].filter((w) => w.node === n.info.serverID && !n.dist!.channels.some((ch) => ch.channel === w.channel && ch.replica_id === w.replica)).length;
    const lightest = (): NodeState => active.reduce((a, b) => (count(b) < count(a) ? b : a));
    for (const channel of channelsOf(c)) {
      const ds = this.delegators(c, r, channel);
      const activeDs = ds.filter((n) => !n.info.stopping);
      const serving = activeDs.filter((n) => this.channelOn(n, r, channel)!.serviceable);
      // Hand-over: once an active delegator serves, others (stopping nodes, balancing leftovers) are unwatched.
      if (serving.length > 0 && ds.length > 1) {
        const keep = serving.reduce((a, b) => (count(b) < count(a) ? b : a));
        for (const extra of ds.filter((n) => n !== keep)) {
          this.runTask(`unwatch/${r.replicaID}/${channel}/${extra.info.serverID}`, () =>
            extra.qn!.UnwatchChannel({ collection_id: c.collectionID, channel, replica_id: r.replicaID }),
          );
        }
      }
      if (activeDs.length > 0) {
        // Balance delegators: one more on the lightest node when the gap is two or more.
        const heavyHolder = activeDs[0]!;
        const light = lightest();
        if (activeDs.length === 1 && serving.length === 1 && count(heavyHolder) - count(light) >= 2) {
          this.watch(c, r, channel, light, this.watermark(c, channel, placed), 'balance');
        }
        continue;
      }
      // Start a delegator once the channel's sealed segments are in place, so it replays only what they lack.
      const channelPending = this.targetSegments(c).some((s) => s.channel === channel && !placed.has(s.segmentID));
      if (channelPending && ds.length === 0 && this.targetSegments(c).some((s) => !placed.has(s.segmentID) && this.segmentLoadable(s))) continue;
      this.watch(c, r, channel, lightest(), this.watermark(c, channel, placed), ds.length ? 'moving off a stopping node' : 'lacks delegator');
    }
  }

  /** Whether a segment can be loaded now (some active node could take it); used to avoid waiting forever. */
  private segmentLoadable(s: SegmentMeta): boolean {
    const key = [...this.inflight.keys()].find((k) => k.startsWith('load/') && k.endsWith(`/${s.segmentID}`));
    return key !== undefined;
  }

  private watch(c: CollectionMeta, r: Replica, channel: string, dest: NodeState, from: number, why: string): void {
    const key = `watch/${r.replicaID}/${channel}`;
    this.runTask(key, () => {
      this.log.info({ channel, node: dest.info.serverID, replica: r.replicaID, from, why }, 'starting delegator');
      // Kept until a pull shows the delegator on the node (see reconcile), or dropped when the task fails.
      this.watching.set(key, { node: dest.info.serverID, channel, replica: r.replicaID });
      return dest.qn!.WatchChannel({ collection_id: c.collectionID, channel, replica_id: r.replicaID, from_offset: from }, { timeoutMs: 60000 }).catch((e: unknown) => {
        this.watching.delete(key);
        throw e;
      });
    });
  }

  /**
   * Tells each delegator where the channel's sealed segments are and the watermark they cover. A segment whose
   * node failed keeps its last known place (searches fail over to another replica or retry) until it is loaded
   * elsewhere: a delegator never silently serves fewer rows, and its watermark never goes back.
   */
  private checkLeaders(c: CollectionMeta, r: Replica): void {
    const placed = this.placement(c, r);
    for (const channel of channelsOf(c)) {
      for (const leader of this.delegators(c, r, channel)) {
        const reported = this.channelOn(leader, r, channel)!;
        const sealed: M.SealedPlacement[] = [];
        for (const s of this.segments.get(c.collectionID)?.values() ?? []) {
          if (s.channel !== channel || s.numRows === 0) continue;
          const n = placed.get(s.segmentID);
          const key = `${r.replicaID}/${s.segmentID}`;
          if (n) this.lastPlace.set(key, { segment_id: s.segmentID, node_id: n.info.serverID, address: n.info.address, end_offset: s.endOffset });
          const p = this.lastPlace.get(key);
          if (p && (n || s.endOffset <= reported.watermark)) sealed.push(p);
        }
        sealed.sort((a, b) => a.segment_id - b.segment_id);
        const watermark = Math.max(this.watermark(c, channel, placed), reported.watermark);
        const req: M.SyncDistributionRequest = { collection_id: c.collectionID, channel, replica_id: r.replicaID, sealed, watermark };
        const sig = JSON.stringify(req);
        const key = `${leader.info.serverID}/${r.replicaID}/${channel}`;
        // Sent again until the delegator reports serviceable: a delegator started anew on the same node (after an
        // unwatch) has the same key and signature but has not been told.
        if (this.synced.get(key) === sig && reported.watermark === watermark && reported.serviceable) continue;
        this.synced.set(key, sig);
        leader.qn!.SyncDistribution(req).catch((e: unknown) => {
          this.synced.delete(key);
          this.log.warn({ channel, err: String(e) }, 'sync distribution failed');
        });
      }
    }
  }

  /** Segments and channels on nodes that no loaded collection's replica holds them for are released. */
  private checkReleases(loaded: Set<number>): void {
    for (const n of this.nodes.values()) {
      if (!n.qn || !n.dist || n.failures) continue;
      const member = (coll: number, replica: number): boolean =>
        loaded.has(coll) && (this.replicas.get(coll) ?? []).some((r) => r.replicaID === replica && r.nodes.includes(n.info.serverID));
      const byReplica = new Map<number, { coll: number; ids: number[] }>();
      for (const s of n.dist.segments) {
        if (member(s.collection_id, s.replica_id)) continue;
        const e = byReplica.get(s.replica_id) ?? { coll: s.collection_id, ids: [] };
        e.ids.push(s.segment_id);
        byReplica.set(s.replica_id, e);
      }
      for (const [replica, { coll, ids }] of byReplica) {
        this.runTask(`release/${replica}/${n.info.serverID}/${ids.join(',')}`, () =>
          n.qn!.ReleaseSegments({ collection_id: coll, replica_id: replica, segment_ids: ids }),
        );
      }
      for (const ch of n.dist.channels) {
        if (member(ch.collection_id, ch.replica_id)) continue;
        this.runTask(`unwatch/${ch.replica_id}/${ch.channel}/${n.info.serverID}`, () =>
          n.qn!.UnwatchChannel({ collection_id: ch.collection_id, channel: ch.channel, replica_id: ch.replica_id }),
        );
      }
    }
  }

  /** Segments that lack a file for the collection's current index get one built by a data node. */
  private checkIndexes(): void {
    const dns = this.healthy('datanode');
    if (dns.length === 0) return;
    for (const c of this.catalog.all()) {
      for (const idx of c.indexes) {
        const missing = [...(this.segments.get(c.collectionID)?.values() ?? [])].filter(
          (s) => s.numRows > 0 && !s.indexes.some((f) => f.indexID === idx.indexID),
        );
        for (const s of missing) {
          const dn = dns[s.segmentID % dns.length]!;
          this.runTask(`index/${s.segmentID}/${idx.indexID}`, () => dn.dn!.BuildIndexes({ collection_id: c.collectionID, segment_ids: [s.segmentID] }, { timeoutMs: 600000 }), 600000);
        }
      }
    }
  }

  // ---------------------------------------------------------------- API

  async AllocTimestamp(r: M.AllocRequest): Promise<M.AllocResponse> {
    const count = Math.max(1, r.count);
    const ts = await this.tso.alloc(count);
    return { status: OK_STATUS, start: ts.toString(), count };
  }

  async AllocIds(r: M.AllocRequest): Promise<M.AllocResponse> {
    const count = Math.max(1, r.count);
    return { status: OK_STATUS, start: String(await this.ids.alloc(count)), count };
  }

  async CreateCollection(r: M.CreateCollectionRequest): Promise<M.CollectionIdResponse> {
    const id = await this.catalog.createCollection(r);
    for (let i = 1; i < r.num_partitions; i++) await this.catalog.createPartition(r.name, `_default_${i}`);
    this.trigger();
    return { status: OK_STATUS, collection_id: id };
  }

  async DropCollection(r: M.CollectionNameRequest): Promise<M.StatusResponse> {
    const c = await this.catalog.dropCollection(r.name);
    if (c) {
      this.replicas.delete(c.collectionID);
      this.segments.delete(c.collectionID);
      await this.store.delete(keys.replica(this.root, c.collectionID));
    }
    this.trigger();
    return { status: OK_STATUS };
  }

  async CreatePartition(r: M.PartitionRequest): Promise<M.StatusResponse> {
    await this.catalog.createPartition(r.collection_name, r.partition_name);
    return { status: OK_STATUS };
  }

  async DropPartition(r: M.PartitionRequest): Promise<M.StatusResponse> {
    await this.catalog.dropPartition(r.collection_name, r.partition_name);
    return { status: OK_STATUS };
  }

  async CreateIndex(r: M.CreateIndexRequest): Promise<M.StatusResponse> {
    await this.catalog.createIndex(r.collection_name, r.field_name, r.index_name, r.params);
    this.trigger();
    return { status: OK_STATUS };
  }

  async DropIndex(r: M.DropIndexRequest): Promise<M.StatusResponse> {
    await this.catalog.dropIndex(r.collection_name, r.field_name, r.index_name);
    return { status: OK_STATUS };
  }

  async ChangeAlias(r: M.AliasRequest): Promise<M.StatusResponse> {
    await this.catalog.changeAlias(r.op, r.alias, r.collection_name);
    return { status: OK_STATUS };
  }

  async AlterCollection(r: M.AlterCollectionRequest): Promise<M.StatusResponse> {
    await this.catalog.alter(r.collection_name, r.properties);
    return { status: OK_STATUS };
  }

  async LoadCollection(r: M.LoadRequest): Promise<M.StatusResponse> {
    const c = this.catalog.get(r.collection_name);
    for (const f of c.fields.filter((x) => x.dataType === 'FloatVector')) {
      if (!c.indexes.some((i) => i.fieldName === f.name)) {
        throw new KiteError('IndexNotFound', `there is no vector index on field: [${f.name}], please create index firstly: collection=${c.name}`);
      }
    }
    const replicaNumber = r.replica_number > 0 ? r.replica_number : 1;
    const qns = [...this.nodes.values()].filter((n) => n.info.role === 'querynode' && !n.info.stopping).length;
    if (replicaNumber > qns) {
      throw new KiteError('ParameterInvalid', `replica_number ${replicaNumber} exceeds the ${qns} available query nodes; lower it or add query nodes`);
    }
    if (c.load && c.load.replicaNumber !== replicaNumber) {
      throw new KiteError('ParameterInvalid', `collection ${c.name} is loaded with ${c.load.replicaNumber} replicas; release it before loading with ${replicaNumber}`);
    }
    let partitionIDs: number[] = [];
    const all = r.partition_names.length === 0;
    if (!all) {
      for (const p of r.partition_names) {
        const meta = c.partitions.find((x) => x.name === p);
        if (!meta) throw new KiteError('PartitionNotFound', `partition not found[partition=${p}]`);
        partitionIDs.push(meta.partitionID);
      }
      if (c.load && !c.load.all) partitionIDs = [...new Set([...c.load.partitionIDs, ...partitionIDs])];
    }
    await this.catalog.setLoad(c.name, { replicaNumber, all: all || (c.load?.all ?? false), partitionIDs });
    this.trigger();
    return { status: OK_STATUS };
  }

  async ReleaseCollection(r: M.ReleaseRequest): Promise<M.StatusResponse> {
    const c = this.catalog.get(r.collection_name);
    if (!c.load) return { status: OK_STATUS };
    if (r.partition_names.length > 0) {
      const drop = new Set(r.partition_names.map((p) => c.partitions.find((x) => x.name === p)?.partitionID));
      const current = c.load.all ? c.partitions.map((p) => p.partitionID) : c.load.partitionIDs;
      const left = current.filter((id) => !drop.has(id));
      if (left.length > 0) {
        await this.catalog.setLoad(c.name, { ...c.load, all: false, partitionIDs: left });
        return { status: OK_STATUS };
      }
    }
    await this.catalog.setLoad(c.name, undefined);
    this.replicas.delete(c.collectionID);
    await this.store.delete(keys.replica(this.root, c.collectionID));
    this.trigger();
    return { status: OK_STATUS };
  }

  async GetLoadInfo(r: M.CollectionNameRequest): Promise<M.LoadInfoResponse> {
    return this.loadInfo(this.catalog.get(r.name));
  }

  private loadInfo(c: CollectionMeta): M.LoadInfoResponse {
    if (!c.load) return { status: OK_STATUS, state: 'NotLoad', progress: 0, replica_number: 0, loaded_partition_ids: [] };
    const reps = this.replicas.get(c.collectionID) ?? [];
    const target = this.targetSegments(c);
    const channels = channelsOf(c);
    let done = 0;
    let total = 0;
    for (const r2 of reps) {
      const placed = this.placement(c, r2);
      total += target.length + channels.length;
      // A segment not loaded yet still counts as served while a serviceable delegator holds its rows as growing
      // data (its watermark is at or below the segment's start and it consumed past the segment's end).
      const growing = (seg: SegmentMeta): boolean =>
        this.delegators(c, r2, seg.channel).some((n) => {
          const ch = this.channelOn(n, r2, seg.channel)!;
          return ch.serviceable && ch.watermark <= seg.startOffset && ch.consumed_offset >= seg.endOffset;
        });
      done += target.filter((s) => placed.has(s.segmentID) || growing(s)).length;
      for (const ch of channels) {
        if (this.delegators(c, r2, ch).some((n) => n.dist!.channels.some((x) => x.channel === ch && x.replica_id === r2.replicaID && x.serviceable))) done++;
      }
    }
    if (reps.length === 0) total = 1;
    const progress = total === 0 ? 100 : Math.floor((done * 100) / total);
    const partitionIDs = c.load.all ? c.partitions.map((p) => p.partitionID) : c.load.partitionIDs;
    return {
      status: OK_STATUS,
      state: progress >= 100 ? 'Loaded' : 'Loading',
      progress,
      replica_number: c.load.replicaNumber,
      loaded_partition_ids: partitionIDs,
    };
  }

  async GetShardLeaders(r: M.CollectionNameRequest): Promise<M.ShardLeadersResponse> {
    const c = this.catalog.get(r.name);
    if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]`);
    return { status: OK_STATUS, replicas: this.leadersOf(c) };
  }

  /** Each replica's delegators, serviceable ones first; nodes failing their pulls are left out (out of routing). */
  private leadersOf(c: CollectionMeta): M.ReplicaInfo[] {
    const replicas: M.ReplicaInfo[] = [];
    for (const rep of this.replicas.get(c.collectionID) ?? []) {
      const shards: M.ShardLeader[] = [];
      for (const channel of channelsOf(c)) {
        const ds = this.delegators(c, rep, channel).map((n) => ({ n, ch: this.channelOn(n, rep, channel)! }));
        ds.sort((a, b) => Number(b.ch.serviceable) - Number(a.ch.serviceable) || Number(a.n.info.stopping) - Number(b.n.info.stopping));
        for (const { n, ch } of ds) shards.push({ channel, node_id: n.info.serverID, address: n.info.address, serviceable: ch.serviceable });
      }
      replicas.push({ replica_id: rep.replicaID, node_ids: rep.nodes, shards });
    }
    return replicas;
  }

  /** Publishes shard leaders to `<root>/leaders/<collection>` when they change, so proxies are told at once. */
  private async publishLeaders(loaded: CollectionMeta[]): Promise<void> {
    const live = new Set<number>();
    for (const c of loaded) {
      live.add(c.collectionID);
      const value = codecs.leaders.encode(this.leadersOf(c));
      if (this.published.get(c.collectionID) === value) continue;
      await this.store.put(keys.leaders(this.root, c.collectionID), value);
      this.published.set(c.collectionID, value);
    }
    for (const id of [...this.published.keys()]) {
      if (live.has(id)) continue;
      await this.store.delete(keys.leaders(this.root, id));
      this.published.delete(id);
    }
  }

  async GetIndexProgress(r: M.DropIndexRequest): Promise<M.IndexProgressResponse> {
    const c = this.catalog.get(r.collection_name);
    const idx = c.indexes.find((i) => (r.index_name ? i.indexName === r.index_name : !r.field_name || i.fieldName === r.field_name));
    if (!idx) throw new KiteError('IndexNotFound', `index not found[collection=${c.name}${r.index_name ? `, index=${r.index_name}` : ''}]`);
    const segs = this.targetSegments(c);
    const built = segs.filter((s) => s.indexes.some((f) => f.indexID === idx.indexID));
    return {
      status: OK_STATUS,
      total_rows: segs.reduce((s, x) => s + x.numRows, 0),
      indexed_rows: built.reduce((s, x) => s + x.numRows, 0),
      pending_segments: segs.length - built.length,
    };
  }
}
