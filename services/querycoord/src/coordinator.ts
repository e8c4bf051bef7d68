import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import { OK_STATUS, type QueryCoordApi } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { SessionView, type SessionInfo } from '@kite/session';
import { annFields, keys } from '@kite/segment';
import { activeNodes, rowsOn } from './distribution';
import { loadInfo } from './progress';
import type { Task } from './tasks';
import { Catalog } from './catalog';
import { CompactionManager } from './compaction';
import { GarbageCollector } from './gc';
import { HistoryCompactor } from './meta-history';
import { ImportManager } from './import';
import { grpcConnector, type NodeConnector } from './nodes';
import { Reconciler } from './reconciler';
import { IdAllocator, Tso } from './tso';

/**
 * The query coordinator: DDL (the catalogue), the timestamp oracle and id allocator, and the reconcile loop
 * (reconciler.ts) in the manner of Milvus's querycoordv2: a target manager (what must be served), a distribution
 * manager (what nodes report), checkers that compare them and plan tasks, and one scheduler that runs the tasks and
 * counts one done only when a later distribution pull shows it.
 */
export class Coordinator implements QueryCoordApi {
  readonly tso: Tso;
  readonly ids: IdAllocator;
  readonly catalog: Catalog;
  readonly reconciler: Reconciler;
  readonly compaction: CompactionManager;
  readonly gc: GarbageCollector;
  readonly history: HistoryCompactor;
  readonly imports: ImportManager;
  private readonly view: SessionView;
  /** How long a LoadBalance call waits for its moves when the caller set no timeout. */
  private readonly balanceTimeoutMs: number;
  /** When this coordinator started serving (its term as the active one). */
  private startedAt = 0;

  constructor(
    cfg: KiteConfig,
    store: MetaStore,
    wal: Wal,
    objects: ObjectStore,
    log: Logger,
    /** How nodes are reached (gRPC unless a test passes fakes). */
    connector: NodeConnector = grpcConnector(cfg.querycoord.nodeRpcTimeoutMs),
  ) {
    const root = cfg.common.rootPath;
    const qc = cfg.querycoord;
    this.balanceTimeoutMs = qc.loadTimeoutMs;
    this.tso = new Tso(store, root, { windowMs: qc.tsoWindowMs, renewBeforeMs: qc.tsoRenewBeforeMs });
    this.ids = new IdAllocator(store, root, qc.idBatchSize);
    this.catalog = new Catalog(store, wal, objects, root, this.ids, this.tso, log.child({ part: 'catalog' }));
    this.view = new SessionView(store, root);
    this.reconciler = new Reconciler({ ...cfg.querycoord, sourceReleaseGraceMs: cfg.compaction.sourceReleaseGraceMs }, store, root, this.catalog, connector, log, (role, id) => this.view.get(role, id));
    this.compaction = new CompactionManager(cfg.compaction, {
      store, root, metaTimeoutMs: qc.metaTimeoutMs, allocIds: (n) => this.ids.alloc(n), collections: () => this.catalog.all(),
      targets: this.reconciler.targets, dist: this.reconciler.dist, replicas: (id) => this.reconciler.replicas.get(id) ?? [], log: log.child({ part: 'compaction' }),
    });
    this.gc = new GarbageCollector(cfg.compaction, {
      store, objects, root, metaTimeoutMs: qc.metaTimeoutMs, snapshot: () => this.reconciler.dist.snapshot(),
      queryNodes: () => this.reconciler.dist.members('querynode'), log: log.child({ part: 'gc' }),
    });
    this.history = new HistoryCompactor(store, {
      intervalSeconds: cfg.meta.etcdCompactionIntervalSeconds, retainRevisions: cfg.meta.etcdCompactionRetainRevisions, probeKey: keys.tso(root),
    }, log.child({ part: 'meta-history' }));
    this.imports = new ImportManager(cfg.bulkImport, { store, root, metaTimeoutMs: qc.metaTimeoutMs, dist: this.reconciler.dist, log: log.child({ part: 'import' }) });
  }

  async start(): Promise<void> {
    await this.tso.start();
    await this.catalog.start();
    await this.reconciler.start();
    this.view.on('up', (s: SessionInfo) => this.reconciler.nodeUp(s));
    this.view.on('update', (s: SessionInfo) => this.reconciler.nodeUpdated(s));
    this.view.on('down', (s: SessionInfo) => this.reconciler.nodeDown(s));
    await this.view.start();
    for (const s of this.view.sessions.values()) this.reconciler.nodeUp(s);
    await this.compaction.start();
    this.gc.start();
    this.history.start();
    this.imports.start();
    this.startedAt = Date.now();
    this.reconciler.events.record('coordinator-started', 'this coordinator became the active one');
  }

  async stop(): Promise<void> {
    this.history.stop();
    this.gc.stop();
    this.compaction.stop();
    this.imports.stop();
    await this.reconciler.stop();
    await this.view.close();
  }

  /** Runs one reconcile pass soon. */
  trigger(): void {
    this.reconciler.trigger();
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
    for (let i = 1; i < r.num_partitions; i++) await this.catalog.createPartition(r.name, `_default_${i}`, r.db_name);
    this.trigger();
    return { status: OK_STATUS, collection_id: id };
  }

  async DropCollection(r: M.CollectionNameRequest): Promise<M.StatusResponse> {
    const c = await this.catalog.dropCollection(r.name, r.db_name);
    if (c) await this.reconciler.forget(c.collectionID, true);
    this.trigger();
    return { status: OK_STATUS };
  }

  async CreatePartition(r: M.PartitionRequest): Promise<M.StatusResponse> {
    await this.catalog.createPartition(r.collection_name, r.partition_name, r.db_name);
    return { status: OK_STATUS };
  }

  async DropPartition(r: M.PartitionRequest): Promise<M.StatusResponse> {
    await this.catalog.dropPartition(r.collection_name, r.partition_name, r.db_name);
    return { status: OK_STATUS };
  }

  async CreateIndex(r: M.CreateIndexRequest): Promise<M.StatusResponse> {
    await this.catalog.createIndex(r.collection_name, r.field_name, r.index_name, r.params, r.db_name);
    this.trigger();
    return { status: OK_STATUS };
  }

  async DropIndex(r: M.DropIndexRequest): Promise<M.StatusResponse> {
    await this.catalog.dropIndex(r.collection_name, r.field_name, r.index_name, r.db_name);
    return { status: OK_STATUS };
  }

  async ChangeAlias(r: M.AliasRequest): Promise<M.StatusResponse> {
    await this.catalog.changeAlias(r.op, r.alias, r.collection_name, r.db_name);
    return { status: OK_STATUS };
  }

  async CreateDatabase(r: M.DatabaseRequest): Promise<M.StatusResponse> {
    await this.catalog.createDatabase(r.db_name, r.properties);
    return { status: OK_STATUS };
  }

  async DropDatabase(r: M.DatabaseRequest): Promise<M.StatusResponse> {
    await this.catalog.dropDatabase(r.db_name);
    return { status: OK_STATUS };
  }

  async AlterDatabase(r: M.DatabaseRequest): Promise<M.StatusResponse> {
    await this.catalog.alterDatabase(r.db_name, r.properties, r.delete_keys);
    return { status: OK_STATUS };
  }

  async AlterCollection(r: M.AlterCollectionRequest): Promise<M.StatusResponse> {
    await this.catalog.alter(r.collection_name, r.properties, r.db_name, r.delete_keys ?? []);
    return { status: OK_STATUS };
  }

  async RenameCollection(r: M.RenameCollectionRequest): Promise<M.StatusResponse> {
    await this.catalog.rename(r.db_name, r.old_name, r.new_name, r.new_db_name);
    return { status: OK_STATUS };
  }

  async AlterField(r: M.AlterFieldRequest): Promise<M.StatusResponse> {
    await this.catalog.alterField(r.collection_name, r.db_name, r.field_name, r.properties, r.delete_keys ?? []);
    return { status: OK_STATUS };
  }

  async AddField(r: M.AddFieldRequest): Promise<M.StatusResponse> {
    if (!r.field) throw new KiteError('ParameterInvalid', 'AddField needs a field');
    // A fresh timestamp marks the schema change: inserts built from an older schema are refused (SchemaMismatch).
    await this.catalog.addField(r.collection_name, r.db_name, r.field, await this.tso.alloc(1));
    return { status: OK_STATUS };
  }

  async TruncateCollection(r: M.TruncateCollectionRequest): Promise<M.StatusResponse> {
    // A fresh oracle timestamp: every write acknowledged before this call has a smaller one.
    const ts = await this.tso.alloc(1);
    await this.catalog.truncate(r.collection_name, r.db_name, ts);
    return { status: OK_STATUS };
  }

  async ManualCompaction(r: M.ManualCompactionRequest): Promise<M.ManualCompactionResponse> {
    const c = this.catalog.byID(r.collection_id);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collection=${r.collection_id}]`);
    const { compactionID, plans } = await this.compaction.manual(c, r.clustering);
    return { status: OK_STATUS, compaction_id: compactionID, plan_count: plans };
  }

  async LoadCollection(r: M.LoadRequest): Promise<M.StatusResponse> {
    const c = this.catalog.get(r.collection_name, r.db_name);
    for (const f of annFields(c)) {
      if (!c.indexes.some((i) => i.fieldName === f.name)) {
        throw new KiteError('IndexNotFound', `there is no vector index on field: [${f.name}], please create index firstly: collection=${c.name}`);
      }
    }
    const replicaNumber = r.replica_number > 0 ? r.replica_number : 1;
    const qns = this.reconciler.dist.members('querynode').filter((n) => !n.stopping).length;
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
    await this.catalog.setLoad(c.name, { replicaNumber, all: all || (c.load?.all ?? false), partitionIDs }, r.db_name);
    this.trigger();
    return { status: OK_STATUS };
  }

  async ReleaseCollection(r: M.ReleaseRequest): Promise<M.StatusResponse> {
    const c = this.catalog.get(r.collection_name, r.db_name);
    if (!c.load) return { status: OK_STATUS };
    if (r.partition_names.length > 0) {
      const drop = new Set(r.partition_names.map((p) => c.partitions.find((x) => x.name === p)?.partitionID));
      const current = c.load.all ? c.partitions.map((p) => p.partitionID) : c.load.partitionIDs;
      const left = current.filter((id) => !drop.has(id));
      if (left.length > 0) {
        await this.catalog.setLoad(c.name, { ...c.load, all: false, partitionIDs: left }, r.db_name);
        return { status: OK_STATUS };
      }
    }
    await this.catalog.setLoad(c.name, undefined, r.db_name);
    await this.reconciler.forget(c.collectionID, false);
    this.trigger();
    return { status: OK_STATUS };
  }

  async GetLoadInfo(r: M.CollectionNameRequest): Promise<M.LoadInfoResponse> {
    return this.reconciler.loadInfo(this.catalog.get(r.name, r.db_name));
  }

  async GetShardLeaders(r: M.CollectionNameRequest): Promise<M.ShardLeadersResponse> {
    const c = this.catalog.get(r.name, r.db_name);
    if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]`);
    return { status: OK_STATUS, replicas: this.reconciler.leaders(c) };
  }

  async GetIndexProgress(r: M.DropIndexRequest): Promise<M.IndexProgressResponse> {
    const c = this.catalog.get(r.collection_name, r.db_name);
    const idx = c.indexes.find((i) => (r.index_name ? i.indexName === r.index_name : !r.field_name || i.fieldName === r.field_name));
    if (!idx) throw new KiteError('IndexNotFound', `index not found[collection=${c.name}${r.index_name ? `, index=${r.index_name}` : ''}]`);
    const segs = this.reconciler.targets.next(c).segments;
    const built = segs.filter((s) => s.indexes.some((f) => f.indexID === idx.indexID));
    return {
      status: OK_STATUS,
      total_rows: segs.reduce((s, x) => s + x.numRows, 0),
      indexed_rows: built.reduce((s, x) => s + x.numRows, 0),
      pending_segments: segs.length - built.length,
    };
  }

  /**
   * LoadBalance: the collection's sealed segments on `src_node` (or the listed ones) move to `dst_nodes` of the same
   * replica (the least loaded first), or to the other active members of that replica when none are named. Answers
   * once every move is done: loaded on its destination, searched there, and released from the source.
   */
  async LoadBalance(r: M.BalanceRequest): Promise<M.StatusResponse> {
    const c = this.catalog.byID(r.collection_id);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collection=${r.collection_id}]`);
    if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]: load it before balancing its segments`);
    const snap = this.reconciler.dist.snapshot();
    const src = snap.nodes.get(r.src_node);
    if (!src || src.role !== 'querynode' || src.state === 'gone') {
      throw new KiteError('ParameterInvalid', `src_nodeID ${r.src_node} is not a query node of this cluster: pass the id of a query node holding the segments (GetQuerySegmentInfo lists them)`);
    }
    const replica = (this.reconciler.replicas.get(c.collectionID) ?? []).find((x) => x.nodes.includes(r.src_node));
    if (!replica) throw new KiteError('ParameterInvalid', `src_nodeID ${r.src_node} serves no replica of collection ${c.name}`);
    const active = activeNodes(snap, replica).filter((n) => n.id !== r.src_node);
    let dsts = active;
    if (r.dst_nodes.length > 0) {
      dsts = [];
      for (const id of new Set(r.dst_nodes)) {
        const n = active.find((x) => x.id === id);
        if (!n) {
          const why = id === r.src_node ? 'is the source node' : replica.nodes.includes(id) ? 'is not serving (joining, suspect or stopping)' : `is not in replica ${replica.replicaID} of the source node (members: ${replica.nodes.join(', ')})`;
          throw new KiteError('ParameterInvalid', `dst_nodeIDs: node ${id} ${why}; pass active query nodes of the source node's replica, or none to let the coordinator choose`);
        }
        dsts.push(n);
      }
    }
    if (dsts.length === 0) throw new KiteError('ParameterInvalid', `replica ${replica.replicaID} of collection ${c.name} has no other active query node to move segments to; add a query node`);
    const onSrc = (src.dist?.segments ?? []).filter((s) => s.collection_id === c.collectionID && s.replica_id === replica.replicaID);
    const target = this.reconciler.targets.next(c);
    let chosen = onSrc;
    if (r.segment_ids.length > 0) {
      chosen = [];
      for (const id of new Set(r.segment_ids)) {
        const s = onSrc.find((x) => x.segment_id === id);
        if (!s || !target.all.has(id)) throw new KiteError('ParameterInvalid', `sealed_segmentIDs: segment ${id} is not a sealed segment of collection ${c.name} loaded on node ${r.src_node}`);
        chosen.push(s);
      }
    }
    const rows = new Map(dsts.map((n) => [n.id, rowsOn(n)]));
    const moves = [...chosen]
      .sort((a, b) => b.num_rows - a.num_rows)
      .map((s) => {
        const dst = dsts.reduce((a, b) => ((rows.get(b.id) ?? 0) < (rows.get(a.id) ?? 0) ? b : a));
        rows.set(dst.id, (rows.get(dst.id) ?? 0) + s.num_rows);
        return { collection: c.collectionID, replica: replica.replicaID, segment: s.segment_id, rows: s.num_rows, src: r.src_node, dst: dst.id };
      });
    if (moves.length === 0) return { status: OK_STATUS };
    const done = this.reconciler.moves.start(moves, r.timeout_ms > 0 ? r.timeout_ms : this.balanceTimeoutMs);
    this.trigger();
    await done;
    return { status: OK_STATUS };
  }

  /**
   * The cluster as this coordinator sees it, for the web UI: every node it knows (not gone) with the segments and
   * channels it last reported, each loaded collection's progress and replicas, the scheduler's tasks and the newest
   * `max_events` events (all kept when 0).
   */
  async GetClusterView(r: M.ClusterViewRequest): Promise<M.ClusterViewResponse> {
    const snap = this.reconciler.dist.snapshot();
    const nodes = [...snap.nodes.values()]
      .filter((n) => n.state !== 'gone')
      .sort((a, b) => a.id - b.id)
      .map((n) => ({
        node_id: n.id,
        role: n.role,
        address: n.address,
        state: n.stopping ? 'stopping' : n.state,
        state_since_ms: n.since,
        segments: n.dist?.segments ?? [],
        channels: n.dist?.channels ?? [],
      }));
    const collections = this.catalog
      .all()
      .filter((c) => c.load)
      .map((c) => {
        const info = loadInfo(this.reconciler.targets.next(c), this.reconciler.replicas.get(c.collectionID) ?? [], snap);
        const replicas = (this.reconciler.replicas.get(c.collectionID) ?? []).map((x) => ({ replica_id: x.replicaID, node_ids: [...x.nodes] }));
        return { collection_id: c.collectionID, load_state: info.state, progress: info.progress, replicas };
      });
    const tasks = this.reconciler.scheduler
      .pending()
      .sort((a, b) => a.created - b.created)
      .map((p) => ({ kind: p.task.kind, node_id: p.task.node, collection_id: collectionOf(p.task), state: p.state, created_ms: p.created, detail: taskDetail(p.task) }));
    const events = this.reconciler.events.recent(r.max_events > 0 ? r.max_events : undefined).map((e) => ({
      seq: e.seq, at_ms: e.atMs, kind: e.kind, node_id: e.nodeId, collection_id: e.collectionId, message: e.message,
    }));
    return { status: OK_STATUS, nodes, collections, tasks, events, coordinator_started_ms: this.startedAt };
  }

  /** The nodes the coordinator knows and the segments each reports loaded (of one collection, or all). */
  async GetPlacement(r: M.PlacementRequest): Promise<M.PlacementResponse> {
    const snap = this.reconciler.dist.snapshot();
    const nodes = [...snap.nodes.values()]
      .filter((n) => n.state !== 'gone')
      .map((n) => ({
        node_id: n.id,
        role: n.role,
        address: n.address,
        state: n.stopping ? 'stopping' : n.state,
        segments: (n.dist?.segments ?? []).filter((s) => r.collection_id === 0 || s.collection_id === r.collection_id),
      }));
    return { status: OK_STATUS, nodes };
  }
}

function collectionOf(t: Task): number {
  return t.kind === 'sync' ? t.req.collection_id : t.collection;
}

/** What a task does, in a few words. */
function taskDetail(t: Task): string {
  switch (t.kind) {
    case 'load':
      return `segment ${t.segment} (${t.rows} rows, replica ${t.replica}): ${t.why}`;
    case 'release':
      return `segment(s) ${t.segments.join(', ')} (replica ${t.replica})`;
    case 'watch':
      return `channel ${t.channel} (replica ${t.replica}) from offset ${t.from}: ${t.why}`;
    case 'unwatch':
      return `channel ${t.channel} (replica ${t.replica})`;
    case 'dn-watch':
    case 'dn-unwatch':
      return `channel ${t.channel}`;
    case 'sync':
      return `channel ${t.req.channel} (replica ${t.req.replica_id})`;
    case 'index':
      return `segment ${t.segment}, index ${t.index}`;
  }
}
