import * as grpc from '@grpc/grpc-js';
import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { Expr, SchemaInfo } from '@kite/expr';
import type { MetaStore } from '@kite/metastore';
import type { ObjectStore } from '@kite/objectstore';
import type { Wal } from '@kite/wal';
import {
  codecs, concatBatches, decodeBatch, encodeBatch, firstByPk, keys, mergeHits, takeBatch, type CollectionMeta, type Column, type ColumnBatch, type SegmentMeta,
} from '@kite/segment';
import { addService, bindServer, connect, OK_STATUS, SERVER_OPTIONS, type Client } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { MetaCache, Session } from '@kite/session';
import { gauge, histogram } from '@kite/observe';
import { compileFilter, DeleteSet, querySource, searchSource, type FilterFields, type Filters, type SearchSpec } from './exec';

const segmentsGauge = gauge('kite_querynode_segments', 'segments on this query node by state (sealed: loaded; growing: delegator channels)', ['state']);
const rowsGauge = gauge('kite_querynode_rows', 'rows held by state (sealed, growing)', ['state']);
const delegatorsGauge = gauge('kite_querynode_delegators', 'shard delegators by state (serviceable, replaying)', ['state']);
const loadDuration = histogram('kite_querynode_segment_load_duration_seconds', 'time to load one sealed segment with its index', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
import { Delegator } from './delegator';
import { SealedSegment } from './segments';

/** Longest filter (with its parameters) the query node keeps parsed between requests, in characters. */
const MAX_CACHED_FILTER = 64 * 1024;

export function schemaInfo(c: CollectionMeta): SchemaInfo {
  return {
    fields: c.fields.filter((f) => !f.isDynamic).map((f) => ({ name: f.name, type: f.dataType, isPrimaryKey: f.isPrimaryKey })),
    enableDynamicField: c.enableDynamicField,
  };
}

interface ChannelDeltas {
  applied: Set<number>;
  set: DeleteSet;
}

/**
 * A query node: holds sealed segments (as a worker) and shard delegators (as a leader), and executes searches and
 * queries on them.
 */
export class QueryNode implements M.QueryNodeApi {
  readonly segments = new Map<number, SealedSegment>();
  readonly delegators = new Map<string, Delegator>();
  private readonly deltas = new Map<string, ChannelDeltas>();
  private readonly peers = new Map<string, Client<M.QueryNodeApi>>();
  private readonly exprCache = new Map<string, Expr>();
  readonly meta: MetaCache;
  session: Session | undefined;
  private server: grpc.Server | undefined;
  address = '';

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly objects: ObjectStore,
    private readonly log: Logger,
  ) {
    this.meta = new MetaCache(store, cfg.common.rootPath);
  }

  get nodeID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  async start(port = this.cfg.querynode.port): Promise<void> {
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
    this.server = new grpc.Server(SERVER_OPTIONS);
    addService(this.server, 'QueryNode', this);
    const bound = await bindServer(this.server, this.cfg.common.listenHost, port);
    this.address = `${this.cfg.common.advertiseHost}:${bound}`;
    this.session = new Session(this.store, this.cfg.common.rootPath, this.cfg.common.sessionTtlSeconds, {
      role: 'querynode', address: this.address, metricsAddress: '',
    }, this.log);
    this.session.on('lost', () => void this.onSessionLost());
    await this.session.register();
  }

  /** Fencing: a node whose lease expired drops everything it was assigned and joins again as a new node. */
  private async onSessionLost(): Promise<void> {
    this.log.error('lease lost: releasing all segments and channels, then re-registering');
    // Synchronously, before any await: the loss is declared from a timer, which on a process resumed after a pause
    // runs before the requests that queued up meanwhile, so none of them finds a stale delegator or segment.
    const delegators = [...this.delegators.values()];
    const segments = [...this.segments.values()];
    this.delegators.clear();
    this.segments.clear();
    for (const d of delegators) await d.stop();
    for (const s of segments) s.free();
    await this.session?.rejoin();
  }

  /**
   * Graceful stop: mark the session `stopping`, wait while the coordinator moves segments and delegators to other
   * nodes (searches keep being served here meanwhile), then leave. With no other query node there is nowhere to go.
   */
  async stop(graceMs = 30000): Promise<void> {
    await this.session?.markStopping().catch(() => undefined);
    // Peers that could take the work: live query nodes not stopping themselves (re-read each round, since a whole
    // cluster may be stopping at once).
    const others = (): Promise<number> =>
      this.store
        .getPrefix(keys.roleSessions(this.cfg.common.rootPath, 'querynode'))
        .then((r) => r.kvs.map((kv) => codecs.session.decode(kv.value, kv.key)).filter((x) => x.serverID !== this.nodeID && !x.stopping).length)
        .catch(() => 0);
    const deadline = Date.now() + graceMs;
    let peers = await others();
    while (peers > 0 && (this.segments.size > 0 || this.delegators.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      peers = await others();
    }
    if (this.segments.size + this.delegators.size > 0 && peers > 0) this.log.warn('graceful stop timed out with work still assigned');
    for (const d of this.delegators.values()) await d.stop();
    for (const s of this.segments.values()) s.free();
    for (const p of this.peers.values()) p.close();
    await this.meta.close();
    await this.session?.revoke();
    this.server?.forceShutdown();
  }

  private expr(c: CollectionMeta, r: FilterFields): Expr | undefined {
    if (!r.filter.trim() && !r.filter_plan) return undefined;
    const key = `${c.collectionID}/${c.fields.length}/${r.filter_plan || `${r.filter}/${r.filter_params}`}`;
    let e = this.exprCache.get(key);
    if (!e) {
      e = compileFilter(schemaInfo(c), r, this.cfg.proxy.maxFilterLength);
      if (!e) return undefined;
      // Long filters (id lists) are compiled per request: a thousand of them cached would hold gigabytes.
      if (key.length <= MAX_CACHED_FILTER) {
        if (this.exprCache.size > 1000) this.exprCache.clear();
        this.exprCache.set(key, e);
      }
    }
    return e;
  }

  // ---------------------------------------------------------------- assignments

  async WatchChannel(r: M.WatchChannelRequest): Promise<M.StatusResponse> {
    const key = `${r.replica_id}/${r.channel}`;
    if (this.delegators.has(key)) return { status: OK_STATUS };
    const c = this.meta.byID(r.collection_id) ?? (await this.reloadCollection(r.collection_id));
    const d = new Delegator(c, r.channel, r.replica_id, r.from_offset, this.wal, this.log.child({ channel: r.channel }));
    this.delegators.set(key, d);
    await d.start();
    this.log.info({ channel: r.channel, replica: r.replica_id, from: r.from_offset }, 'watching channel');
    return { status: OK_STATUS };
  }

  private async reloadCollection(id: number): Promise<CollectionMeta> {
    await new Promise((res) => setTimeout(res, 200));
    return this.meta.mustByID(id);
  }

  async UnwatchChannel(r: M.ChannelRequest): Promise<M.StatusResponse> {
    const key = `${r.replica_id}/${r.channel}`;
    const d = this.delegators.get(key);
    if (d) {
      this.delegators.delete(key);
      await d.stop();
    }
    return { status: OK_STATUS };
  }

  async LoadSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    const c = this.meta.byID(r.collection_id) ?? (await this.reloadCollection(r.collection_id));
    for (const id of r.segment_ids) {
      if (this.segments.has(id)) continue;
      let meta = this.meta.segment(r.collection_id, id);
      if (!meta) {
        const kv = await this.store.get(keys.segment(this.cfg.common.rootPath, r.collection_id, id));
        if (!kv) throw new KiteError('SegmentLoadFailed', `segment ${id} has no record`);
        meta = codecs.segment.decode(kv.value, kv.key);
      }
      try {
        const end = loadDuration.startTimer();
        const seg = await SealedSegment.load(meta, r.replica_id, c, this.objects);
        end();
        this.segments.set(id, seg);
      } catch (e) {
        throw new KiteError('SegmentLoadFailed', `segment ${id} failed to load: ${(e as Error).message}`, { cause: e });
      }
    }
    return { status: OK_STATUS };
  }

  async ReleaseSegments(r: M.SegmentsRequest): Promise<M.StatusResponse> {
    for (const id of r.segment_ids) {
      const s = this.segments.get(id);
      if (s) {
        this.segments.delete(id);
        s.free();
      }
    }
    return { status: OK_STATUS };
  }

  async SyncDistribution(r: M.SyncDistributionRequest): Promise<M.StatusResponse> {
    const d = this.delegators.get(`${r.replica_id}/${r.channel}`);
    if (!d) throw new KiteError('ChannelNotAvailable', `no delegator for channel ${r.channel} on node ${this.nodeID}`);
    d.sync(r.sealed, r.watermark);
    return { status: OK_STATUS };
  }

  private observe(): void {
    segmentsGauge.set({ state: 'sealed' }, this.segments.size);
    segmentsGauge.set({ state: 'growing' }, this.delegators.size);
    rowsGauge.set({ state: 'sealed' }, [...this.segments.values()].reduce((s, x) => s + x.meta.numRows, 0));
    rowsGauge.set({ state: 'growing' }, [...this.delegators.values()].reduce((s, d) => s + d.growing.numRows, 0));
    const ds = [...this.delegators.values()];
    delegatorsGauge.set({ state: 'serviceable' }, ds.filter((d) => d.serviceable).length);
    delegatorsGauge.set({ state: 'replaying' }, ds.filter((d) => !d.serviceable).length);
  }

  async GetDistribution(): Promise<M.DistributionResponse> {
    this.observe();
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
      segments: [...this.segments.values()].map((s) => ({
        collection_id: s.meta.collectionID,
        segment_id: s.meta.segmentID,
        replica_id: s.replicaID,
        num_rows: s.meta.numRows,
        channel: s.meta.channel,
      })),
      indexing_segments: [],
    };
  }

  // ---------------------------------------------------------------- deletes for sealed segments

  /** Makes sure the delta logs of every segment of `channel` that ends at or below `watermark` are applied. */
  private async channelDeltas(c: CollectionMeta, channel: string, watermark: number): Promise<DeleteSet> {
    let d = this.deltas.get(channel);
    if (!d) this.deltas.set(channel, (d = { applied: new Set(), set: new DeleteSet() }));
    let segs = this.meta.segmentsOf(c.collectionID).filter((s) => s.channel === channel);
    const covered = (list: SegmentMeta[]): number => {
      let w = 0;
      for (const s of [...list].sort((a, b) => a.startOffset - b.startOffset)) {
        if (s.startOffset > w) break;
        w = Math.max(w, s.endOffset);
      }
      return w;
    };
    if (covered(segs) < watermark) {
      const fresh = await this.store.getPrefix(keys.segments(this.cfg.common.rootPath, c.collectionID));
      segs = fresh.kvs.map((kv) => codecs.segment.decode(kv.value, kv.key)).filter((s) => s.channel === channel);
    }
    for (const s of segs) {
      if (s.endOffset > watermark || d.applied.has(s.segmentID)) continue;
      if (s.deltaKey) d.set.addBatch(decodeBatch(await this.objects.get(s.deltaKey)));
      d.applied.add(s.segmentID);
    }
    return d.set;
  }

  private filters(c: CollectionMeta, r: FilterFields & { partition_ids: number[]; timeout_ms: number }, deletes: DeleteSet[]): Filters {
    const expr = this.expr(c, r);
    const deadline = Date.now() + (r.timeout_ms || 10000);
    return { expr, partitions: r.partition_ids.length ? new Set(r.partition_ids) : undefined, deletes, deadline };
  }

  private requestDeletes(buf: Buffer): DeleteSet {
    const set = new DeleteSet();
    if (buf.length) set.addBatch(decodeBatch(buf));
    return set;
  }

  private spec(c: CollectionMeta, r: M.SearchRequest): SearchSpec {
    const field = c.fields.find((f) => f.name === r.anns_field);
    if (!field) throw new KiteError('ParameterInvalid', `anns_field ${r.anns_field} does not exist`);
    const dim = Number(field.typeParams.dim);
    const queries = new Float32Array(r.vectors.buffer.slice(r.vectors.byteOffset, r.vectors.byteOffset + r.vectors.byteLength));
    if (queries.length !== r.nq * dim) throw new KiteError('DimensionMismatch', `query vectors have ${queries.length / Math.max(1, r.nq)} dimensions, field ${field.name} has ${dim}`);
    const num = (k: string): number | undefined => (r.search_params[k] === undefined ? undefined : Number(r.search_params[k]));
    return { field: field.name, metric: r.metric_type, k: r.topk, nq: r.nq, queries, params: { nprobe: num('nprobe'), ef: num('ef') }, outputs: r.output_fields };
  }

  // ---------------------------------------------------------------- search and query

  async Search(r: M.SearchRequest): Promise<M.SearchResponse> {
    const c = this.meta.mustByID(r.collection_id);
    const spec = this.spec(c, r);
    if (!r.delegator) {
      const deletes = [await this.channelDeltas(c, r.channel, r.watermark), this.requestDeletes(r.deletes)];
      const f = this.filters(c, r, deletes);
      const parts: ColumnBatch[] = [];
      for (const id of r.segment_ids) {
        const seg = this.segments.get(id);
        if (!seg) throw new KiteError('SegmentLoadFailed', `segment ${id} is not loaded on node ${this.nodeID}`, { retriable: true });
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
      return { status: OK_STATUS, hits: encodeBatch(mergeHits(parts, r.nq, r.topk, r.metric_type)) };
    }
    const d = this.delegatorFor(r.replica_id, r.channel);
    await d.waitConsumed(r.min_consumed_offset, Math.max(1000, r.timeout_ms || 10000));
    await d.growing.settle();
    let remote: Promise<ColumnBatch>[] = [];
    // The sealed segments' nodes are asked when the growing rows' search starts, with the same watermark.
    const growing = searchSource(d.growing, spec, this.filters(c, r, [d.deletes]), () => {
      remote = this.fanOut(d, (ids, watermark, deletes) => ({ ...r, delegator: false, segment_ids: ids, watermark, deletes }), (client, req) =>
        client.Search(req, { timeoutMs: r.timeout_ms || 10000 }).then((x) => decodeBatch(x.hits)),
      );
    });
    const mine = await growing.catch(async (e: unknown) => {
      await Promise.allSettled(remote);
      throw e;
    });
    const parts = [mine, ...(await Promise.all(remote))];
    return { status: OK_STATUS, hits: encodeBatch(mergeHits(parts, r.nq, r.topk, r.metric_type)) };
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
    const byNode = new Map<string, number[]>();
    for (const s of d.sealed) byNode.set(s.address, [...(byNode.get(s.address) ?? []), s.segment_id]);
    if (byNode.size === 0) return [];
    const deletes = encodeBatch(d.recentDeleteBatch());
    return [...byNode].map(([address, ids]) => {
      const req = make(ids, d.watermark, deletes);
      let peer: Client<M.QueryNodeApi> | QueryNode | undefined = address === this.address ? this : this.peers.get(address);
      if (!peer) this.peers.set(address, (peer = connect('QueryNode', address)));
      const p = call(peer, req);
      // The caller awaits these only after its own part (a search of the growing rows) is done: a peer that fails
      // sooner must not count as an unhandled rejection, which ends the process. The caller still sees the error.
      p.catch(() => undefined);
      return p;
    });
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
    await d.waitConsumed(r.min_consumed_offset, Math.max(1000, r.timeout_ms || 10000));
    await d.growing.settle();
    // querySource takes its view of the growing rows when called; the fan-out right after uses the same watermark.
    const local = querySource(d.growing, r.output_fields, this.filters(c, r, [d.deletes]), r.limit, r.count_only, r.order_by_pk);
    let count = 0;
    const remote = this.fanOut(d, (ids, watermark, deletes) => ({ ...r, delegator: false, segment_ids: ids, watermark, deletes }), async (client, req) => {
      const x = await client.Query(req, { timeoutMs: r.timeout_ms || 10000 });
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
