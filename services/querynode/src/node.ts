import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { Expr, SchemaInfo } from '@kite/expr';
import type { HostContext, Hosted } from '@kite/host';
import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import {
  codecs, concatBatches, decodeBatch, encodeBatch, firstByPk, keys, takeBatch, type CollectionMeta, type Column, type ColumnBatch, type SegmentMeta,
} from '@kite/segment';
import { addService, OK_STATUS, type Client } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { MetaCache, type Session } from '@kite/session';
import { addTermStats, decodeBm25Query, decodeSparseQueries, decodeTermStats, distinctTerms, encodeTermStats, type TermStats } from '@kite/sparse';
import { mergeSearchHits, searchExtras } from './range';
import { compileFilter, DeleteSet, querySource, searchSource, termStatsOf, type FilterFields, type Filters, type SearchSpec } from './exec';
import { Delegator } from './delegator';
import { SealedDeltas } from './deltas';
import { fanOut, Peers } from './fanout';
import { observeHoldings, timeSegmentLoad } from './metrics';
import { SealedSegment } from './segments';
import { LoadLimiter, segmentLoadBytes } from './load-limit';
import { collectionArrival, waitForHandOver } from './waits';
import { hiddenUpTo, skipSegment } from './visibility';

/** Longest filter (with its parameters) the query node keeps parsed between requests, in characters. */
const MAX_CACHED_FILTER = 64 * 1024;

export function schemaInfo(c: CollectionMeta): SchemaInfo {
  return {
    fields: c.fields.filter((f) => !f.isDynamic).map((f) => ({ name: f.name, type: f.dataType, isPrimaryKey: f.isPrimaryKey, nullable: f.nullable, typeParams: f.typeParams, ...(f.elementType ? { elementType: f.elementType } : {}) })),
    enableDynamicField: c.enableDynamicField,
  };
}

/**
 * A query node: holds sealed segments (as a worker) and shard delegators (as a leader), and executes searches and
 * queries on them. Its gRPC server and session are the host's (@kite/host).
 */
export class QueryNode implements M.QueryNodeApi, Hosted {
  readonly role = 'querynode' as const;
  /** Its session is marked stopping first, so the coordinator moves its segments and channels away. */
  readonly announceStopping = true;
  readonly segments = new Map<number, SealedSegment>();
  readonly delegators = new Map<string, Delegator>();
  private readonly deltas: SealedDeltas;
  private readonly peers: Peers;
  private readonly exprCache = new Map<string, Expr>();
  /** Bounds the sealed-segment loads in flight (count and estimated bytes). */
  readonly loads: LoadLimiter;
  /** Emits `changed` when segments or channels are released here (a stopping node waits for that). */
  private readonly work = new EventEmitter();
  readonly meta: MetaCache;
  session: Session | undefined;
  address = '';
  /** Incremented by each lease loss: an assignment that began under an older lease is undone when it completes. */
  private leaseEpoch = 0;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly objects: ObjectStore,
    private readonly log: Logger,
  ) {
    this.meta = new MetaCache(store, cfg.common.rootPath);
    this.deltas = new SealedDeltas(cfg.common.rootPath, store, objects, this.meta, (channel) =>
      [...this.segments.values()].filter((s) => s.meta.channel === channel).map((s) => ({ segmentID: s.meta.segmentID, pkIndex: s.pkIndex })),
    cfg.querynode.deletePruneMinSize);
    this.peers = new Peers(cfg.querynode.peerCallTimeoutMs);
    this.loads = new LoadLimiter(cfg.querynode.loadConcurrency, cfg.querynode.loadMemoryBytes);
  }

  get nodeID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  /** Before serving: the catalogue and segment cache, and index refreshes as records change. */
  async prepare(): Promise<void> {
    await this.meta.start();
    this.meta.on('segment', (s: SegmentMeta | undefined, coll: number, segID: number) => {
      const loaded = this.segments.get(segID);
      if (s && loaded) {
        const c = this.meta.byID(coll);
        if (c) loaded.refreshIndexes(c, this.objects, s).catch((e: unknown) => this.log.warn({ segment: segID, err: String(e) }, 'index refresh failed'));
      }
    });
    this.meta.on('collection', (c: CollectionMeta | undefined) => {
      if (!c) return;
      for (const d of this.delegators.values()) if (d.coll.collectionID === c.collectionID) {
        d.coll = c;
        d.growing.setCollection(c);
      }
      for (const seg of this.segments.values()) if (seg.meta.collectionID === c.collectionID) void seg.refreshIndexes(c, this.objects).catch(() => undefined);
    });
  }

  addServices(server: grpc.Server): void {
    addService(server, 'QueryNode', this);
  }

  attach(ctx: HostContext): void {
    this.address = ctx.address;
    this.session = ctx.session;
  }

  /** Fencing: a node whose lease expired drops everything it was assigned; the host then registers it anew. */
  async sessionLost(): Promise<void> {
    this.leaseEpoch++;
    this.log.error('lease lost: releasing all segments and channels, then re-registering');
    // Synchronously, before any await: the loss is declared from a timer, which on a process resumed after a pause
    // runs before the requests that queued up meanwhile, so none of them finds a stale delegator or segment.
    const delegators = [...this.delegators.values()];
    const segments = [...this.segments.values()];
    this.delegators.clear();
    this.segments.clear();
    for (const d of delegators) await d.stop();
    for (const s of segments) s.free();
  }

  /**
   * Graceful stop (the session is already marked `stopping`): wait while the coordinator moves segments and
   * delegators to other nodes (searches keep being served here meanwhile), for at most querynode.gracefulStopMs and
   * never past `deadline`, then drop what is left. With no other query node there is nowhere to go.
   */
  async drain(deadline: number): Promise<void> {
    const outcome = await waitForHandOver({
      store: this.store,
      root: this.cfg.common.rootPath,
      self: this.nodeID,
      hasWork: () => this.segments.size > 0 || this.delegators.size > 0,
      work: this.work,
      deadline: Math.min(deadline, Date.now() + this.cfg.querynode.gracefulStopMs),
      log: this.log,
    });
    if (outcome === 'timeout') this.log.warn('graceful stop timed out with work still assigned');
    for (const d of this.delegators.values()) await d.stop();
    for (const s of this.segments.values()) s.free();
  }

  async close(): Promise<void> {
    this.peers.close();
    await this.meta.close();
  }

  // ---------------------------------------------------------------- assignments

  /**
   * Fencing of assignments: a node whose lease is lost (until it has registered again under a new serverID) takes
   * no work and reports no distribution. Otherwise a node cut off from etcd but reachable by the coordinator would
   * report itself empty, be given work again in the moment before etcd expires its session, and keep that work,
   * unowned and unseen, after the coordinator has forgotten it. Returns the lease epoch the call runs under.
   */
  private leased(what: string): number {
    if (this.session && !this.session.live) {
      throw new KiteError('ServiceNotReady', `query node ${this.nodeID} refuses ${what}: its session lease is lost and it has not registered again yet`);
    }
    return this.leaseEpoch;
  }

  /** True when the lease was lost while an assignment that began under `epoch` was running. */
  private lostSince(epoch: number): boolean {
    return epoch !== this.leaseEpoch || (this.session !== undefined && !this.session.live);
  }

  async WatchChannel(r: M.WatchChannelRequest): Promise<M.StatusResponse> {
    const epoch = this.leased(`to watch channel ${r.channel}`);
    const key = `${r.replica_id}/${r.channel}`;
    if (this.delegators.has(key)) return { status: OK_STATUS };
    const c = this.meta.byID(r.collection_id) ?? (await this.reloadCollection(r.collection_id));
    if (this.lostSince(epoch)) throw new KiteError('ServiceNotReady', `query node ${this.nodeID} lost its lease while watch of ${r.channel} was starting`);
    const d = new Delegator(c, r.channel, r.replica_id, r.from_offset, this.wal, this.log.child({ channel: r.channel }));
    this.delegators.set(key, d);
    await d.start();
    if (this.lostSince(epoch)) {
      // sessionLost() cleared the map while the delegator was starting; make sure it does not run on.
      if (this.delegators.get(key) === d) this.delegators.delete(key);
      await d.stop();
      throw new KiteError('ServiceNotReady', `query node ${this.nodeID} lost its lease while watch of ${r.channel} was starting`);
    }
    this.log.info({ channel: r.channel, replica: r.replica_id, from: r.from_offset }, 'watching channel');
    return { status: OK_STATUS };
  }

  /** A collection this node has not seen yet: waits (querynode.collectionWaitMs) for the watch to deliver it. */
  private reloadCollection(id: number): Promise<CollectionMeta> {
    return collectionArrival(this.meta, id, this.cfg.querynode.collectionWaitMs);
  }

  async UnwatchChannel(r: M.ChannelRequest): Promise<M.StatusResponse> {
    const key = `${r.replica_id}/${r.channel}`;
    const d = this.delegators.get(key);
    if (d) {
      this.delegators.delete(key);
      await d.stop();
      this.work.emit('changed');
    }
    return { status: OK_STATUS };
  }

  async LoadSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    const epoch = this.leased(`to load segments ${r.segment_ids.join(',')}`);
    const c = this.meta.byID(r.collection_id) ?? (await this.reloadCollection(r.collection_id));
    // The segments of a request (and of concurrent requests: the coordinator sends several) load in parallel, within
    // the node's load bounds (querynode.loadConcurrency, querynode.loadMemoryBytes).
    const results = await Promise.allSettled(r.segment_ids.map((id) => this.loadSegment(c, r.replica_id, id, epoch)));
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    return { status: OK_STATUS };
  }

  private async loadSegment(c: CollectionMeta, replicaID: number, id: number, epoch: number): Promise<void> {
    const held = this.segments.get(id);
    if (held) {
      held.replicas.add(replicaID);
      return;
    }
    let meta = this.meta.segment(c.collectionID, id);
    if (!meta) {
      const kv = await this.store.get(keys.segment(this.cfg.common.rootPath, c.collectionID, id));
      if (!kv) throw new KiteError('SegmentLoadFailed', `segment ${id} has no record`);
      meta = codecs.segment.decode(kv.value, kv.key);
    }
    const m = meta;
    await this.loads.run(segmentLoadBytes(m, c), async () => {
      const loaded = this.segments.get(id); // by a concurrent request meanwhile
      if (loaded) {
        loaded.replicas.add(replicaID);
        return;
      }
      try {
        const end = timeSegmentLoad();
        const seg = await SealedSegment.load(m, replicaID, c, this.objects, this.cfg.querynode.filterCacheEntries);
        end();
        if (this.lostSince(epoch)) {
          seg.free();
          throw new KiteError('ServiceNotReady', `query node ${this.nodeID} lost its lease while segment ${id} was loading`);
        }
        const raced = this.segments.get(id);
        if (raced) {
          raced.replicas.add(replicaID);
          seg.free();
        } else this.segments.set(id, seg);
      } catch (e) {
        if (e instanceof KiteError && e.kind === 'ServiceNotReady') throw e;
        throw new KiteError('SegmentLoadFailed', `segment ${id} failed to load: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  async ReleaseSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    for (const id of r.segment_ids) {
      const s = this.segments.get(id);
      if (!s) continue;
      // The copy goes once no replica it serves here is left.
      s.replicas.delete(r.replica_id);
      if (s.replicas.size === 0) {
        this.segments.delete(id);
        s.free();
      }
    }
    this.deltas.forgetUnheld();
    this.work.emit('changed');
    return { status: OK_STATUS };
  }

  async SyncDistribution(r: M.SyncDistributionRequest): Promise<M.StatusResponse> {
    this.leased(`to sync the distribution of ${r.channel}`);
    const d = this.delegators.get(`${r.replica_id}/${r.channel}`);
    if (!d) throw new KiteError('ChannelNotAvailable', `no delegator for channel ${r.channel} on node ${this.nodeID}`);
    d.sync(r.sealed, r.watermark);
    return { status: OK_STATUS };
  }

  async GetDistribution(): Promise<M.DistributionResponse> {
    // Without a lease it holds nothing and its serverID is stale: the coordinator sees it as not answering.
    this.leased('to report a distribution');
    observeHoldings(this.segments, this.delegators, this.deltas.size);
    return {
      status: OK_STATUS,
      node_id: this.nodeID,
      channels: [...this.delegators.values()].map((d) => ({
        collection_id: d.coll.collectionID,
        channel: d.channel,
        replica_id: d.replicaID,
        consumed_offset: d.consumed,
        watermark: d.watermark,
        growing_rows: d.growing.numRows,
        serviceable: d.serviceable,
      })),
      segments: [...this.segments.values()].flatMap((s) =>
        [...s.replicas].map((replica) => ({
          collection_id: s.meta.collectionID,
          segment_id: s.meta.segmentID,
          replica_id: replica,
          num_rows: s.meta.numRows,
          channel: s.meta.channel,
        })),
      ),
      indexing_segments: [],
    };
  }

  // ---------------------------------------------------------------- reads

  /** The request's filter, compiled; `shared` when it is the node's kept object for this filter (see Filters). */
  private expr(c: CollectionMeta, r: FilterFields): { expr: Expr; shared: boolean } | undefined {
    if (!r.filter.trim() && !r.filter_plan) return undefined;
    const key = `${c.collectionID}/${c.fields.length}/${r.filter_plan || `${r.filter}/${r.filter_params}`}`;
    const kept = this.exprCache.get(key);
    if (kept) return { expr: kept, shared: true };
    const e = compileFilter(schemaInfo(c), r, this.cfg.proxy.maxFilterLength);
    if (!e) return undefined;
    // Long filters (id lists) are compiled per request: a thousand of them cached would hold gigabytes.
    if (key.length > MAX_CACHED_FILTER) return { expr: e, shared: false };
    if (this.exprCache.size > 1000) this.exprCache.clear();
    this.exprCache.set(key, e);
    return { expr: e, shared: true };
  }

  /** Makes sure the delta logs of every segment of `channel` that ends at or below `watermark` are applied. */
  private channelDeltas(c: CollectionMeta, channel: string, watermark: number): Promise<DeleteSet> {
    return this.deltas.upTo(c, channel, watermark);
  }

  private filters(c: CollectionMeta, r: FilterFields & { partition_ids: number[]; timeout_ms: number }, deletes: DeleteSet[]): Filters {
    const compiled = this.expr(c, r);
    const deadline = Date.now() + (r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs);
    const hidden = hiddenUpTo(c);
    const withDefault = c.fields.filter((x) => x.defaultValue !== undefined);
    return {
      expr: compiled?.expr, exprShared: compiled?.shared ?? false, partitions: r.partition_ids.length ? new Set(r.partition_ids) : undefined, deletes, deadline,
      ...(hidden === undefined ? {} : { hiddenUpTo: hidden }),
      ...(withDefault.length === 0 ? {} : { defaults: new Map(withDefault.map((x) => [x.name, x])) }),
    };
  }

  private requestDeletes(buf: Buffer): DeleteSet {
    const set = new DeleteSet();
    if (buf.length) set.addBatch(decodeBatch(buf));
    return set;
  }

  private spec(c: CollectionMeta, r: M.SearchRequest): SearchSpec {
    const field = c.fields.find((f) => f.name === r.anns_field);
    if (!field) throw new KiteError('ParameterInvalid', `anns_field ${r.anns_field} does not exist`);
    if (field.dataType === 'SparseFloatVector') {
      const rows = decodeSparseQueries(r.sparse_queries);
      if (rows.length !== r.nq) throw new KiteError('ParameterInvalid', `the request carries ${rows.length} sparse queries for nq ${r.nq}`);
      const drop = r.search_params.drop_ratio_search;
      return {
        field: field.name, metric: r.metric_type, k: r.topk, nq: r.nq, queries: { kind: 'sparse', rows },
        params: { dropRatioSearch: drop === undefined ? undefined : Number(drop), bm25: r.bm25_stats ? decodeBm25Query(r.bm25_stats) : undefined },
        outputs: r.output_fields, extras: searchExtras(r.search_params),
      };
    }
    const dim = Number(field.typeParams.dim);
    if (field.dataType === 'BinaryVector') {
      const data = Uint8Array.from(r.vectors);
      if (data.length !== (r.nq * dim) / 8) throw new KiteError('DimensionMismatch', `binary query vectors have ${(data.length * 8) / Math.max(1, r.nq)} bits, field ${field.name} has dim ${dim}`);
      const nprobe = r.search_params.nprobe === undefined ? undefined : Number(r.search_params.nprobe);
      return { field: field.name, metric: r.metric_type, k: r.topk, nq: r.nq, queries: { kind: 'binary', data }, params: { nprobe }, outputs: r.output_fields, extras: searchExtras(r.search_params) };
    }
    const queries = new Float32Array(r.vectors.buffer.slice(r.vectors.byteOffset, r.vectors.byteOffset + r.vectors.byteLength));
    if (queries.length !== r.nq * dim) throw new KiteError('DimensionMismatch', `query vectors have ${queries.length / Math.max(1, r.nq)} dimensions, field ${field.name} has ${dim}`);
    const num = (k: string): number | undefined => (r.search_params[k] === undefined ? undefined : Number(r.search_params[k]));
    return { field: field.name, metric: r.metric_type, k: r.topk, nq: r.nq, queries: { kind: 'dense', data: queries }, params: { nprobe: num('nprobe'), ef: num('ef') }, outputs: r.output_fields, extras: searchExtras(r.search_params) };
  }

  // ---------------------------------------------------------------- search and query

  async Search(r: M.SearchRequest): Promise<M.SearchResponse> {
    const c = this.meta.mustByID(r.collection_id);
    if (r.bm25_stats_only) return this.termStats(c, r);
    const spec = this.spec(c, r);
    if (!r.delegator) return { status: OK_STATUS, hits: encodeBatch(await this.searchSegments(c, r, spec)) };
    const d = this.delegatorFor(r.replica_id, r.channel);
    await d.waitConsumed(r.min_consumed_offset, Math.max(1000, r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs));
    await d.growing.settle();
    let remote: Promise<ColumnBatch>[] = [];
    // The sealed segments' nodes are asked when the growing rows' search starts, with the same watermark.
    const growing = searchSource(d.growing, spec, this.filters(c, r, [d.deletes]), () => {
      remote = this.fanOut(d, (ids, watermark, deletes) => ({ ...r, delegator: false, segment_ids: ids, watermark, deletes }), (client, req) =>
        // This node's own segments: their hits as they are, not encoded and decoded again.
        client === this
          ? this.searchSegments(c, req, spec)
          : client.Search(req, { timeoutMs: r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs }).then((x) => decodeBatch(x.hits)),
      );
    });
    const mine = await growing.catch(async (e: unknown) => {
      await Promise.allSettled(remote);
      throw e;
    });
    const parts = [mine, ...(await Promise.all(remote))];
    return { status: OK_STATUS, hits: encodeBatch(mergeSearchHits(parts, r.nq, r.topk, r.metric_type, spec.extras ?? {})) };
  }

  /** A worker's part of a search: the hits of the listed sealed segments, merged. */
  private async searchSegments(c: CollectionMeta, r: M.SearchRequest, spec: SearchSpec): Promise<ColumnBatch> {
    const deletes = [await this.channelDeltas(c, r.channel, r.watermark), this.requestDeletes(r.deletes)];
    const f = this.filters(c, r, deletes);
    const parts: ColumnBatch[] = [];
    for (const id of r.segment_ids) {
      const seg = this.segments.get(id);
      if (!seg) throw new KiteError('SegmentLoadFailed', `segment ${id} is not loaded on node ${this.nodeID}`, { retriable: true });
      if (skipSegment(seg.meta, f)) continue;
      try {
        parts.push(await searchSource(seg, spec, f));
      } catch (e) {
        // The filter yields while it runs, so the segment may have been released (its index freed) meanwhile.
        if (this.segments.get(id) !== seg) {
          throw new KiteError('SegmentLoadFailed', `segment ${id} was released from node ${this.nodeID} during the search`, { retriable: true, cause: e });
        }
        throw e;
      }
    }
    return mergeSearchHits(parts, r.nq, r.topk, r.metric_type, spec.extras ?? {});
  }

  /**
   * The first phase of a BM25 search: the live rows, their total length and the document frequency of the query's
   * terms, over the channel (a delegator: its growing rows plus its sealed segments, fanned out as a search is) or
   * over the listed segments (a worker). The proxy sums the channels' answers into the collection-wide figures.
   */
  private async termStats(c: CollectionMeta, r: M.SearchRequest): Promise<M.SearchResponse> {
    const terms = distinctTerms(decodeSparseQueries(r.sparse_queries));
    const reply = (parts: TermStats[]): M.SearchResponse => ({ status: OK_STATUS, hits: Buffer.alloc(0), bm25_stats: encodeTermStats(addTermStats(parts, terms.length)) });
    if (!r.delegator) {
      const deletes = [await this.channelDeltas(c, r.channel, r.watermark), this.requestDeletes(r.deletes)];
      const parts: TermStats[] = [];
      for (const id of r.segment_ids) {
        const seg = this.segments.get(id);
        if (!seg) throw new KiteError('SegmentLoadFailed', `segment ${id} is not loaded on node ${this.nodeID}`, { retriable: true });
        parts.push(termStatsOf(seg, r.anns_field, terms, deletes, hiddenUpTo(c)));
      }
      return reply(parts);
    }
    const d = this.delegatorFor(r.replica_id, r.channel);
    await d.waitConsumed(r.min_consumed_offset, Math.max(1000, r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs));
    await d.growing.settle();
    // As for a search: the growing rows' view is taken, then the fan-out goes with the same watermark.
    const local = termStatsOf(d.growing, r.anns_field, terms, [d.deletes], hiddenUpTo(c));
    const remote = fanOut<M.SearchRequest, QueryNode, TermStats>(d, { node: this, address: this.address }, this.peers,
      (ids, watermark, deletes) => ({ ...r, delegator: false, segment_ids: ids, watermark, deletes }),
      async (client, req) => decodeTermStats((await client.Search(req, { timeoutMs: r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs })).bm25_stats ?? ''));
    return reply(await Promise.all([local, ...remote]));
  }

  private delegatorFor(replica: number, channel: string): Delegator {
    const d = this.delegators.get(`${replica}/${channel}`);
    if (!d) throw new KiteError('ChannelNotAvailable', `channel ${channel} has no delegator on node ${this.nodeID}`);
    if (!d.serviceable) throw new KiteError('ChannelNotAvailable', `channel ${channel} on node ${this.nodeID} is not serviceable yet (replaying its WAL or waiting for its sealed-segment list)`);
    return d;
  }

  /** Sends one request per node holding sealed segments of the delegator's channel; the local node is called directly. */
  private fanOut<Req>(
    d: Delegator,
    make: (ids: number[], watermark: number, deletes: Buffer) => Req,
    call: (client: Client<M.QueryNodeApi> | QueryNode, req: Req) => Promise<ColumnBatch>,
  ): Promise<ColumnBatch>[] {
    return fanOut<Req, QueryNode>(d, { node: this, address: this.address }, this.peers, make, call);
  }

  async Query(r: M.QueryRequest): Promise<M.QueryResponse> {
    const c = this.meta.mustByID(r.collection_id);
    if (!r.delegator) {
      const deletes = [await this.channelDeltas(c, r.channel, r.watermark), this.requestDeletes(r.deletes)];
      const f = this.filters(c, r, deletes);
      const parts: ColumnBatch[] = [];
      let count = 0;
      for (const id of r.segment_ids) {
        const seg = this.segments.get(id);
        if (!seg) throw new KiteError('SegmentLoadFailed', `segment ${id} is not loaded on node ${this.nodeID}`, { retriable: true });
        if (skipSegment(seg.meta, f)) continue;
        const res = await querySource(seg, r.output_fields, f, r.limit > 0 && !r.order_by_pk ? r.limit - count : r.limit, r.count_only, r.order_by_pk);
        count += res.count;
        if (res.rows.numRows) parts.push(res.rows);
        if (!r.count_only && !r.order_by_pk && r.limit > 0 && count >= r.limit) break;
      }
      let rows = parts.length ? concatBatches(parts) : { numRows: 0, columns: new Map<string, Column>() };
      if (r.order_by_pk) rows = firstByPk(rows, r.limit);
      return { status: OK_STATUS, rows: encodeBatch(rows), count: r.count_only ? count : rows.numRows };
    }
    const d = this.delegatorFor(r.replica_id, r.channel);
    await d.waitConsumed(r.min_consumed_offset, Math.max(1000, r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs));
    await d.growing.settle();
    // querySource takes its view of the growing rows when called; the fan-out right after uses the same watermark.
    const local = querySource(d.growing, r.output_fields, this.filters(c, r, [d.deletes]), r.limit, r.count_only, r.order_by_pk);
    let count = 0;
    const remote = this.fanOut(d, (ids, watermark, deletes) => ({ ...r, delegator: false, segment_ids: ids, watermark, deletes }), async (client, req) => {
      const x = await client.Query(req, { timeoutMs: r.timeout_ms || this.cfg.querynode.defaultRequestTimeoutMs });
      count += x.count;
      return decodeBatch(x.rows);
    });
    const [mine, ...others] = await Promise.all([local, ...remote]);
    count += mine.count;
    const parts: ColumnBatch[] = mine.rows.numRows ? [mine.rows] : [];
    for (const b of others) if (b.numRows) parts.push(b);
    if (r.count_only) return { status: OK_STATUS, rows: Buffer.alloc(0), count };
    let rows = parts.length ? concatBatches(parts) : { numRows: 0, columns: new Map<string, Column>() };
    if (r.order_by_pk) rows = firstByPk(rows, r.limit);
    else if (r.limit > 0 && rows.numRows > r.limit) {
      rows = takeBatch(rows, Array.from({ length: r.limit }, (_, i) => i));
    }
    return { status: OK_STATUS, rows: encodeBatch(rows), count: rows.numRows };
  }
}
