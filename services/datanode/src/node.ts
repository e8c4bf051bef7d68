import type * as grpc from '@grpc/grpc-js';
import { KiteError, type KiteConfig, type Logger } from '@kite/common';
import type { HostContext, Hosted } from '@kite/host';
import { BinaryIndex, VectorIndex, type BinaryIndexType, type BinaryMetric, type IndexType, type MetricType } from '@kite/faiss';
import type { MetaStore } from '@kite/metastore';
import { SparseIndex, type SparseIndexType } from '@kite/sparse';
import { jsonCastType, parseJsonPath, ScalarIndex, type Column as ExprColumn } from '@kite/expr';
import type { ObjectStore } from '@kite/objectstore';
import { parseChannel, type Subscription, type Wal, type WalRecord } from '@kite/wal';
import {
  absentFieldColumn, applyDefault, SCALAR_TYPES, codecs, concatBatches, fieldStatsOf, tsRange, floatVectors, decodeBatch, decodeWalMsg, encodeBatch, keys, PARTITION,
  type ChannelCheckpoint, type Column, type CollectionMeta, type ColumnBatch, type IndexMeta, type SegmentIndexFile, type SegmentMeta,
} from '@kite/segment';
import { addService, connect, OK_STATUS, type Client } from '@kite/rpc';
import type * as M from '@kite/rpc';
import { MetaCache, type Session } from '@kite/session';
import { counter, gauge, histogram } from '@kite/observe';
import { runPlan, type CompactorHost } from './compactor';
import { runImport, type ImportHost } from './import';

const flushed = counter('kite_datanode_segments_flushed_total', 'segments sealed and flushed to object storage', []);
const flushedRows = counter('kite_datanode_rows_flushed_total', 'rows flushed to object storage', []);
/** Compare-and-set attempts to record a segment's new index files while other builds of it write too. */
const INDEX_WRITE_ATTEMPTS = 5;
const flushDuration = histogram('kite_datanode_flush_duration_seconds', 'sealing one segment: columns, delete log, indexes, commit', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]);
const indexDuration = histogram('kite_datanode_index_build_duration_seconds', 'building one segment index', ['index_type'], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);
const bufferedRows = gauge('kite_datanode_buffered_rows', 'rows consumed but not yet flushed', ['channel']);
const channelsGauge = gauge('kite_datanode_channels', 'channels this data node consumes');

/** Builds one index file for a segment's vector column; segments too small to train an IVF index get none (exact search). */
export async function buildIndex(idx: IndexMeta, vectors: Extract<Column, { kind: 'vector' }>): Promise<Buffer | undefined> {
  const n = vectors.data.length / vectors.dim;
  const nlist = Number(idx.params.nlist ?? 128);
  if (idx.indexType.startsWith('IVF') && n < Math.max(1000, nlist * 8)) return undefined;
  const params: Record<string, number> = {};
  for (const [k, v] of Object.entries(idx.params)) params[k] = Number(v);
  const index = VectorIndex.create({ indexType: idx.indexType as IndexType, metric: idx.metricType as MetricType, dim: vectors.dim, params });
  try {
    if (!index.isTrained) await index.train(vectors.data);
    const ids = new BigInt64Array(n);
    for (let i = 0; i < n; i++) ids[i] = BigInt(i);
    await index.add(vectors.data, ids);
    return await index.serialize();
  } finally {
    index.free();
  }
}

/**
 * Builds one binary index file for a segment's BinaryVector column; segments too small to train BIN_IVF_FLAT get none
 * (exact search over BIN_FLAT), by the same rule as the float IVF indexes.
 */
export async function buildBinaryIndex(idx: IndexMeta, col: Extract<Column, { kind: 'binary' }>): Promise<Buffer | undefined> {
  const n = col.data.length / (col.dim / 8);
  const nlist = Number(idx.params.nlist ?? 128);
  if (idx.indexType === 'BIN_IVF_FLAT' && n < Math.max(1000, nlist * 8)) return undefined;
  const index = BinaryIndex.create({ indexType: idx.indexType as BinaryIndexType, metric: idx.metricType as BinaryMetric, dim: col.dim, nlist });
  try {
    await index.train(col.data);
    const ids = new BigInt64Array(n);
    for (let i = 0; i < n; i++) ids[i] = BigInt(i);
    await index.add(col.data, ids);
    return await index.serialize();
  } finally {
    index.free();
  }
}

/** Builds a segment's sparse inverted index file (SPARSE_INVERTED_INDEX or SPARSE_WAND; both search the same postings). */
export async function buildSparseIndex(idx: IndexMeta, rows: Extract<Column, { kind: 'sparse' }>): Promise<Buffer> {
  const index = await SparseIndex.buildAsync(rows.data, {
    indexType: idx.indexType as SparseIndexType,
    metric: idx.metricType === 'BM25' ? 'BM25' : 'IP',
    dropRatioBuild: Number(idx.params.drop_ratio_build ?? 0),
  });
  return index.serialize();
}

/**
 * Builds a segment's scalar index file (INVERTED, STL_SORT, Trie and BITMAP are all built as the sorted index with
 * postings of @kite/expr, which the filter evaluator reads). The sort yields to the event loop before it starts only;
 * a segment of a million rows sorts in about a second.
 */
export async function buildScalarIndex(col: Exclude<Column, { kind: 'vector' | 'packed' | 'binary' | 'sparse' | 'json' | 'array' }>): Promise<Buffer> {
  await new Promise((resolve) => setImmediate(resolve));
  return ScalarIndex.build(col).serialize();
}

/**
 * Builds a segment's JSON path index file (json_path / json_cast_type): the values of the cast type at the path, in
 * the same sorted index with postings, rows without such a value left out (@kite/expr ScalarIndex.buildJsonPath).
 */
export async function buildJsonPathIndex(idx: IndexMeta, col: Extract<Column, { kind: 'json' }>): Promise<Buffer> {
  await new Promise((resolve) => setImmediate(resolve));
  const cast = jsonCastType(idx.params.json_cast_type ?? '');
  if (cast === undefined) throw new KiteError('IndexNotSupported', `index ${idx.indexName} on JSON field ${idx.fieldName} has json_cast_type ${idx.params.json_cast_type ?? '(none)'}, which this data node does not build`);
  return ScalarIndex.buildJsonPath(col as ExprColumn, parseJsonPath(idx.params.json_path ?? '', idx.fieldName), cast).serialize();
}

/**
 * One channel's writer: consumes the WAL from the checkpoint, buffers rows and deletes, and seals them into a
 * segment (columns + delete log + indexes in object storage, then the segment record and the new checkpoint in one
 * meta store transaction guarded by the checkpoint's version, so a writer that lost the channel cannot commit).
 */
class ChannelWriter {
  private inserts: ColumnBatch[] = [];
  private deletes: ColumnBatch[] = [];
  private rows = 0;
  private start: number;
  private consumed: number;
  private lastTs = 0n;
  private lastInsertAt = 0;
  private sub: Subscription | undefined;
  private cpVersion = 0;
  private idle: NodeJS.Timeout | undefined;
  private sealing: Promise<void> = Promise.resolve();
  stopped = false;

  constructor(
    private readonly dn: DataNode,
    readonly collectionID: number,
    readonly channel: string,
    from: number,
  ) {
    this.start = from;
    this.consumed = from;
  }

  get offset(): number {
    return this.consumed;
  }

  get buffered(): number {
    return this.rows;
  }

  async run(): Promise<void> {
    const kv = await this.dn.store.get(keys.checkpoint(this.dn.root, this.collectionID, this.channel));
    this.cpVersion = kv ? kv.version : 0;
    if (kv) {
      const cp = codecs.checkpoint.decode(kv.value, kv.key);
      this.start = this.consumed = cp.offset;
    }
    this.sub = this.dn.wal.subscribe(parseChannel(this.channel), this.consumed, (recs) => this.consume(recs), {
      maxBatch: 512,
      onError: (e) => this.dn.log.warn({ channel: this.channel, err: e.message }, 'data node read failed; retrying'),
    });
    this.idle = setInterval(() => {
      if (this.rows + this.deletes.length > 0 && Date.now() - this.lastInsertAt >= this.dn.cfg.datanode.sealIdleMs) void this.requestSeal();
    }, Math.min(this.dn.cfg.datanode.sealCheckIntervalMs, this.dn.cfg.datanode.sealIdleMs));
  }

  private async consume(recs: WalRecord[]): Promise<void> {
    for (const r of recs) {
      const m = decodeWalMsg(r.value);
      this.consumed = r.offset + 1;
      if (m.ts > this.lastTs) this.lastTs = m.ts;
      if (m.collectionID !== this.collectionID) continue;
      if (m.type === 'insert') {
        this.inserts.push(m.batch);
        this.rows += m.batch.numRows;
        this.lastInsertAt = Date.now();
        bufferedRows.set({ channel: this.channel }, this.rows);
        if (this.rows >= this.dn.cfg.datanode.segmentMaxRows) await this.requestSeal();
      } else if (m.type === 'delete') {
        this.deletes.push(m.batch);
        this.lastInsertAt = Date.now();
      } else {
        await this.requestSeal();
      }
    }
  }

  /** Seals run one at a time, from the consume loop (size, flush marker) or the idle timer. */
  private requestSeal(): Promise<void> {
    this.sealing = this.sealing.then(() => this.seal()).catch((e: unknown) => this.dn.log.error({ channel: this.channel, err: String(e) }, 'seal failed'));
    return this.sealing;
  }

  /** Seals everything consumed when it starts; records consumed meanwhile stay buffered for the next segment. */
  private async seal(): Promise<void> {
    if (this.stopped) return;
    const endOffset = this.consumed;
    const endTs = this.lastTs;
    if (endOffset === this.start) return;
    const endTimer = flushDuration.startTimer();
    const inserts = this.inserts.slice();
    const deletes = this.deletes.slice();
    const c = this.dn.meta.byID(this.collectionID);
    if (!c) return; // dropped
    const segID = Number((await this.dn.coord().AllocIds({ count: 1 })).start);
    const prefix = `collections/${this.collectionID}/segments/${segID}`;
    const data = inserts.length ? concatBatches(inserts) : undefined;
    const delta = deletes.length ? concatBatches(deletes) : undefined;
    if (data) await this.dn.objects.put(`${prefix}/data.kcb`, encodeBatch(data));
    if (delta) await this.dn.objects.put(`${prefix}/delta.kcb`, encodeBatch(delta));
    const indexes = data ? await this.dn.buildIndexes(c, segID, data) : [];
    const { minTs, maxTs } = data ? tsRange(data) : { minTs: 0n, maxTs: 0n };
    // The partitions present, so query nodes skip a segment none of whose partitions a read covers.
    const partitionIDs = data ? [...new Set(Array.from((data.columns.get(PARTITION) as Extract<Column, { kind: 'int64' }>).data, Number))].sort((a, b) => a - b) : [];
    const seg: SegmentMeta = {
      segmentID: segID,
      collectionID: this.collectionID,
      channel: this.channel,
      startOffset: this.start,
      endOffset,
      numRows: data?.numRows ?? 0,
      dataKey: data ? `${prefix}/data.kcb` : '',
      deltaKey: delta ? `${prefix}/delta.kcb` : '',
      numDeletes: delta?.numRows ?? 0,
      indexes,
      maxTs: maxTs.toString(),
      ...(data ? { minTs: minTs.toString(), partitionIDs, fieldStats: fieldStatsOf(c, data) } : {}),
      createdAt: Date.now(),
    };
    const cp: ChannelCheckpoint = { channel: this.channel, offset: endOffset, ts: endTs.toString() };
    const cpKey = keys.checkpoint(this.dn.root, this.collectionID, this.channel);
    const res = await this.dn.store.txn(
      [{ key: cpKey, target: 'version', op: '==', value: this.cpVersion }],
      [
        { type: 'put', key: keys.segment(this.dn.root, this.collectionID, segID), value: codecs.segment.encode(seg) },
        { type: 'put', key: cpKey, value: codecs.checkpoint.encode(cp) },
      ],
    );
    if (!res.succeeded) {
      this.dn.log.error({ channel: this.channel }, 'checkpoint moved under us: another data node owns the channel; stopping');
      await this.dn.objects.deletePrefix(`${prefix}/`).catch(() => 0);
      void this.stop();
      return;
    }
    this.cpVersion++;
    this.inserts = this.inserts.slice(inserts.length);
    this.deletes = this.deletes.slice(deletes.length);
    this.rows -= data?.numRows ?? 0;
    endTimer();
    flushed.inc();
    flushedRows.inc(seg.numRows);
    bufferedRows.set({ channel: this.channel }, this.rows);
    this.start = endOffset;
    this.dn.log.info({ channel: this.channel, segment: segID, rows: seg.numRows, deletes: seg.numDeletes, endOffset }, 'segment flushed');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idle) clearInterval(this.idle);
    await this.sub?.close();
  }
}

/**
 * A data node: consumes the channels the coordinator assigns and seals them into segments. Its gRPC server and
 * session are the host's (@kite/host).
 */
export class DataNode implements M.DataNodeApi, Hosted {
  readonly role = 'datanode' as const;
  /** Its session is marked stopping first, so the coordinator moves its channels away. */
  readonly announceStopping = true;
  readonly meta: MetaCache;
  private readonly writers = new Map<string, ChannelWriter>();
  private coordClient: Client<M.QueryCoordApi> | undefined;
  session: Session | undefined;
  port = 0;

  constructor(
    readonly cfg: KiteConfig,
    readonly store: MetaStore,
    readonly wal: Wal,
    readonly objects: ObjectStore,
    readonly log: Logger,
  ) {
    this.meta = new MetaCache(store, cfg.common.rootPath);
  }

  get root(): string {
    return this.cfg.common.rootPath;
  }

  /** The active coordinator, found through its exclusive session key. */
  coord(): Client<M.QueryCoordApi> {
    if (!this.coordClient) throw new KiteError('ServiceNotReady', 'no coordinator known yet');
    return this.coordClient;
  }

  private async findCoordinator(): Promise<void> {
    const kv = await this.store.get(keys.coordinatorSession(this.root));
    if (!kv) return;
    const addr = codecs.activeCoordinator.decode(kv.value, kv.key).address;
    if (this.coordClient?.address !== addr) {
      this.coordClient?.close();
      this.coordClient = connect('QueryCoord', addr, this.cfg.datanode.coordCallTimeoutMs);
    }
  }

  /** Before serving: the catalogue cache and the coordinator's address, both kept current by watches. */
  async prepare(): Promise<void> {
    await this.meta.start();
    await this.findCoordinator();
    const watch = await this.store.watchPrefix(keys.coordinatorSession(this.root), (await this.store.getPrefix(keys.coordinatorSession(this.root))).revision + 1, {
      onEvents: () => void this.findCoordinator(),
      onResync: () => void this.findCoordinator(),
    });
    this.closeWatch = () => watch.close();
    this.meta.on('collection', (c: CollectionMeta | undefined, id: number) => {
      if (!c) for (const [k, w] of this.writers) if (w.collectionID === id) {
        this.writers.delete(k);
        void w.stop();
      }
    });
  }

  addServices(server: grpc.Server): void {
    addService(server, 'DataNode', this);
  }

  attach(ctx: HostContext): void {
    this.port = ctx.port;
    this.session = ctx.session;
  }

  private closeWatch: (() => Promise<void>) | undefined;

  /** Fencing: stops every writer before the host registers a new session. */
  async sessionLost(): Promise<void> {
    // Synchronously first (see QueryNode.sessionLost): no writer seals after the loss is declared.
    const writers = [...this.writers.values()];
    this.writers.clear();
    for (const w of writers) w.stopped = true;
    for (const w of writers) await w.stop();
  }

  /** Graceful stop: its writers stop consuming (what they buffered is replayed from the checkpoint by the next owner). */
  async drain(): Promise<void> {
    for (const w of this.writers.values()) await w.stop();
  }

  async close(): Promise<void> {
    await this.closeWatch?.();
    await this.meta.close();
    this.coordClient?.close();
  }

  async buildIndexes(c: CollectionMeta, segID: number, data: ColumnBatch, have: SegmentIndexFile[] = []): Promise<SegmentIndexFile[]> {
    const out: SegmentIndexFile[] = [...have];
    for (const idx of c.indexes) {
      if (out.some((f) => f.indexID === idx.indexID)) continue;
      // Rows written before a field was added read NULL, or its default value: index them so (a segment without
      // the column gets an index of NULLs, with no postings, or of the default).
      const stored = data.columns.get(idx.fieldName);
      const field = c.fields.find((f) => f.name === idx.fieldName);
      const col = field !== undefined && (field.nullable || field.defaultValue !== undefined) && SCALAR_TYPES.includes(field.dataType)
        ? stored ? applyDefault(stored, field) : absentFieldColumn(field, data.numRows)
        : stored;
      if (!col || col.kind === 'array' || (col.kind === 'json' && idx.params.json_path === undefined)) continue;
      const t0 = Date.now();
      const endIndex = indexDuration.startTimer({ index_type: idx.indexType });
      const buf = col.kind === 'sparse'
        ? await buildSparseIndex(idx, col)
        : col.kind === 'binary'
          ? await buildBinaryIndex(idx, col)
          : col.kind === 'vector' || col.kind === 'packed'
            ? await buildIndex(idx, floatVectors(col))
            : col.kind === 'json'
              ? await buildJsonPathIndex(idx, col)
              : await buildScalarIndex(col);
      endIndex();
      const ext = col.kind === 'sparse' ? 'sparse' : col.kind === 'binary' ? 'fbin' : col.kind === 'vector' || col.kind === 'packed' ? 'faiss' : 'scalar';
      const key = buf ? `collections/${c.collectionID}/segments/${segID}/index-${idx.indexID}.${ext}` : '';
      if (buf) await this.objects.put(key, buf);
      out.push({ fieldName: idx.fieldName, indexID: idx.indexID, key, bytes: buf?.length ?? 0 });
      this.log.info({ segment: segID, index: idx.indexType, rows: data.numRows, ms: Date.now() - t0 }, buf ? 'index built' : 'segment too small to index: exact search');
    }
    return out.filter((f) => c.indexes.some((i) => i.indexID === f.indexID));
  }

  async WatchChannel(r: M.WatchChannelRequest): Promise<M.StatusResponse> {
    if (this.writers.has(r.channel)) return { status: OK_STATUS };
    const w = new ChannelWriter(this, r.collection_id, r.channel, r.from_offset);
    this.writers.set(r.channel, w);
    await w.run();
    this.log.info({ channel: r.channel, from: w.offset }, 'consuming channel');
    return { status: OK_STATUS };
  }

  async UnwatchChannel(r: M.ChannelRequest): Promise<M.StatusResponse> {
    const w = this.writers.get(r.channel);
    if (w) {
      this.writers.delete(r.channel);
      await w.stop();
    }
    return { status: OK_STATUS };
  }

  async GetDistribution(): Promise<M.DistributionResponse> {
    channelsGauge.set(this.writers.size);
    return {
      status: OK_STATUS,
      node_id: this.session?.info?.serverID ?? 0,
      channels: [...this.writers.values()].filter((w) => !w.stopped).map((w) => ({
        collection_id: w.collectionID,
        channel: w.channel,
        replica_id: 0,
        consumed_offset: w.offset,
        watermark: 0,
        growing_rows: w.buffered,
        serviceable: true,
      })),
      segments: [],
      indexing_segments: [],
    };
  }

  /** Plans running here, by key: a repeated request for one waits for the run in progress. */
  private readonly compacting = new Map<string, Promise<unknown>>();
  /** Plans run one at a time on a node (each holds its sources' rows in memory). */
  private compactChain: Promise<unknown> = Promise.resolve();

  /** Runs a compaction plan (compactor.ts) and answers when it is completed or failed; a conflict fails retriably. */
  async Compact(r: M.CompactPlanRequest): Promise<M.StatusResponse> {
    const key = keys.compactionPlan(this.root, r.compaction_id, r.plan_id);
    let run = this.compacting.get(key);
    if (!run) {
      const host: CompactorHost = {
        root: this.root,
        store: this.store,
        objects: this.objects,
        log: this.log,
        collection: (id) => this.meta.byID(id),
        allocIds: async (count) => Number((await this.coord().AllocIds({ count })).start),
        buildIndexes: (c, segID, data) => this.buildIndexes(c, segID, data),
        opts: { maxSegmentRows: this.cfg.compaction.maxSegmentRows, clusteringSegmentRows: this.cfg.compaction.clusteringSegmentRows },
      };
      run = this.compactChain.catch(() => undefined).then(() => runPlan(host, key));
      this.compactChain = run;
      this.compacting.set(key, run);
      void run.catch(() => undefined).finally(() => this.compacting.delete(key));
    }
    await run;
    return { status: OK_STATUS };
  }

  /** Import tasks running here, by id: a repeated request for one waits for the run in progress. */
  private readonly importing = new Map<number, Promise<unknown>>();

  /** Runs a bulk import task (import.ts) and answers when it completed, failed or gave way to another run. */
  async Import(r: M.ImportTaskRequest): Promise<M.StatusResponse> {
    const id = Number(r.task_id);
    let run = this.importing.get(id);
    if (!run) {
      const host: ImportHost = {
        root: this.root,
        store: this.store,
        objects: this.objects,
        log: this.log,
        collection: (cid) => this.meta.byID(cid),
        allocIds: async (count) => Number((await this.coord().AllocIds({ count })).start),
        allocTimestamp: async () => BigInt((await this.coord().AllocTimestamp({ count: 1 })).start),
        buildIndexes: (c, segID, data) => this.buildIndexes(c, segID, data),
        segmentMaxRows: this.cfg.bulkImport.segmentMaxRows,
      };
      run = runImport(host, id);
      this.importing.set(id, run);
      void run.catch(() => undefined).finally(() => this.importing.delete(id));
    }
    await run;
    return { status: OK_STATUS };
  }

  async BuildIndexes(r: M.BuildIndexesRequest): Promise<M.StatusResponse> {
    const c = this.meta.byID(r.collection_id);
    if (!c) throw new KiteError('CollectionNotFound', `collection ${r.collection_id} not found`);
    // An index created a moment ago may not have reached this node's catalogue yet: building nothing and answering
    // OK would leave the coordinator waiting for a file that never comes, so fail retriably instead.
    const unknown = (r.index_ids ?? []).filter((x) => !c.indexes.some((i) => i.indexID === Number(x)));
    if (unknown.length) {
      throw new KiteError('ServiceNotReady', `data node does not know index ${unknown.join(', ')} of collection ${c.name} yet; retry`, { retriable: true });
    }
    for (const id of r.segment_ids) await this.indexSegment(c, id);
    return { status: OK_STATUS };
  }

  /**
   * Builds the index files a sealed segment lacks and records them in its segment record. Builds of one segment can
   * overlap: a collection with several vector fields gets one build task per index, each building what is missing
   * when it starts. The record is written with a compare-and-set; when another build wrote it first, the record is
   * read again and this build's files are added to what is there (a lost write would leave the index pending until
   * the coordinator gives up on the task, minutes later). A write that keeps losing fails retriably.
   */
  private async indexSegment(c: CollectionMeta, id: number): Promise<void> {
    const key = keys.segment(this.root, c.collectionID, id);
    let data: ColumnBatch | undefined;
    let mine: SegmentIndexFile[] = [];
    for (let attempt = 0; attempt < INDEX_WRITE_ATTEMPTS; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) return;
      const seg = codecs.segment.decode(kv.value, kv.key);
      if (!seg.dataKey) return;
      data ??= decodeBatch(await this.objects.get(seg.dataKey));
      const have = [...seg.indexes, ...mine.filter((f) => !seg.indexes.some((x) => x.indexID === f.indexID))];
      const indexes = await this.buildIndexes(c, id, data, have);
      mine = indexes.filter((f) => !seg.indexes.some((x) => x.indexID === f.indexID));
      if (mine.length === 0 && indexes.length === seg.indexes.length) return;
      const res = await this.store.txn(
        [{ key, target: 'modRevision', op: '==', value: kv.modRevision }],
        [{ type: 'put', key, value: codecs.segment.encode({ ...seg, indexes }) }],
      );
      if (res.succeeded) return;
      this.log.info({ segment: id, attempt }, 'segment record changed while its indexes were built; merging and writing again');
    }
    throw new KiteError('ServiceUnavailable', `segment ${id}: its record kept changing while its index files were recorded; the build is retried`, { retriable: true });
  }
}
