/* eslint-disable @typescript-eslint/no-explicit-any */
import * as grpc from '@grpc/grpc-js';
import CircuitBreaker from 'opossum';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { KiteError, clip, shardOf, toKiteError, type KiteConfig, type Logger } from '@kite/common';
import { encodeParams, parseExpr, primaryKeyTerms, templateParams } from '@kite/expr';
import type { MetaStore } from '@kite/metastore';
import { milvusProtobufRoot, milvusServiceDefinition } from '@kite/proto';
import { bindServer, connect, type Client, type QueryCoordApi, type QueryNodeApi, type ShardLeader } from '@kite/rpc';
import {
  channelsOf, columnToFieldData, decodeBatch, emptyColumn, encodeWalMsg, fieldDataToColumn, mergeHits, pickDynamicKeys,
  codecs, concatBatches, firstByPk, idAfter, takeBatch, META, PARTITION, PK, QUERY, SCORE, TS, keys,
  type CollectionMeta, type Column, type ColumnBatch, type FieldMeta,
} from '@kite/segment';
import { counter, gauge, histogram } from '@kite/observe';
import { KITE_VERSION, MetaCache, Session } from '@kite/session';
import { channelName, parseChannel, type ChannelRef, type Wal } from '@kite/wal';
import { intParam, planQuery, planSearch } from './read-plan';
import { READ_METHODS, beforeDeadline, checkDatabase, remainingMs, requestDeadline, withDeadline, type RequestContext } from './request';
import { checkName, checkProperties, collectionSchemaToWire, schemaToFields } from './schema';
import { schemaInfo } from './util';

type Leader = ShardLeader & { replica_id: number };

/** Milvus's proxy.maxShardNum and rootCoord.maxPartitionNum. */
const MAX_SHARDS = 16;
const MAX_PARTITIONS = 1024;
const OK = { error_code: 'Success', reason: '', code: 0, retriable: false, detail: '', extra_info: {} };
/** Longest error text a reply carries: messages that echo user input stay small whatever the input's size. */
const MAX_REASON = 2048;

const requests = counter('kite_proxy_requests_total', 'MilvusService requests by method and status code', ['method', 'status']);
const latency = histogram('kite_proxy_request_duration_seconds', 'MilvusService request latency', ['method']);
const rowsInserted = counter('kite_proxy_rows_inserted_total', 'rows acknowledged by Insert and Upsert', ['collection']);
const rowsDeleted = counter('kite_proxy_rows_deleted_total', 'rows deleted by Delete and Upsert', ['collection']);
const searchNq = histogram('kite_proxy_search_nq', 'query vectors per Search request', [], [1, 2, 5, 10, 20, 50, 100, 500, 1000]);
const searchTopk = histogram('kite_proxy_search_topk', 'limit + offset per Search request', [], [1, 5, 10, 20, 50, 100, 500, 1000, 16384]);
const breakerState = gauge('kite_proxy_circuit_breaker_state', 'per query node: 0 closed, 1 half-open, 2 open', ['node']);
const retries = counter('kite_proxy_retries_total', 'reads retried on another replica or after refreshing shard leaders', ['reason']);

let legacyNames: Record<number, string> | undefined;
function legacyName(n: number): string {
  legacyNames ??= milvusProtobufRoot().lookupEnum('milvus.proto.common.ErrorCode').valuesById;
  return legacyNames[n] ?? 'UnexpectedError';
}

export function statusOf(e: unknown): any {
  const k = toKiteError(e);
  const reason = clip(k.message, MAX_REASON);
  return { error_code: legacyName(k.legacyCode), reason, code: k.code, retriable: k.retriable, detail: reason, extra_info: {} };
}

const kvs = (list: { key: string; value: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((p) => [p.key, p.value]));

/** Methods whose response is a bare common.Status (their errors are the response itself). */
const STATUS_ONLY = new Set(
  milvusProtobufRoot()
    .lookupService('milvus.proto.milvus.MilvusService')
    .methodsArray.filter((m) => (m.resolve(), m.resolvedResponseType?.fullName === '.milvus.proto.common.Status'))
    .map((m) => m.name),
);

/**
 * The proxy: Milvus's public MilvusService. It validates requests against the schema, assigns ids and timestamps,
 * writes changes to the WAL (acknowledged once durable there), and routes reads to the shard delegators, retrying
 * on another replica when one fails.
 */
export class Proxy {
  readonly meta: MetaCache;
  private coordClient: Client<QueryCoordApi> | undefined;
  private readonly nodes = new Map<string, Client<QueryNodeApi>>();
  private readonly breakers = new Map<string, CircuitBreaker<[() => Promise<unknown>], unknown>>();
  private readonly leaders = new Map<number, Leader[][]>();
  private readonly coordRetry = retry(handleWhen((e) => toKiteError(e).retriable), {
    maxAttempts: Number.MAX_SAFE_INTEGER,
    backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }),
  });
  private readonly flushTickets = new Map<string, { collectionID: number; ts: bigint }>();
  private server: grpc.Server | undefined;
  private session: Session | undefined;
  private rr = 0;
  port = 0;

  constructor(
    private readonly cfg: KiteConfig,
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly log: Logger,
  ) {
    this.meta = new MetaCache(store, cfg.common.rootPath, false);
  }

  /** Ready: registered and knows the active coordinator. */
  ready(): boolean {
    return !!this.coordClient && !!this.session?.info;
  }

  get serverID(): number {
    return this.session?.info?.serverID ?? 0;
  }

  /** The rest of the request's time, as the timeout of a coordinator call. */
  private within(ctx: RequestContext): { timeoutMs: number } {
    return { timeoutMs: remainingMs(ctx.deadline, 50) };
  }

  private coord(): Client<QueryCoordApi> {
    if (!this.coordClient) throw new KiteError('ServiceNotReady', 'the query coordinator is not available yet; retry shortly');
    return this.coordClient;
  }

  private async findCoordinator(): Promise<void> {
    const kv = await this.store.get(keys.coordinatorSession(this.cfg.common.rootPath));
    if (!kv) return;
    const addr = codecs.activeCoordinator.decode(kv.value, kv.key).address;
    if (this.coordClient?.address !== addr) {
      this.coordClient?.close();
      this.coordClient = connect('QueryCoord', addr);
    }
  }

  async start(port = this.cfg.proxy.port): Promise<number> {
    await this.meta.start();
    await this.findCoordinator();
    const key = keys.coordinatorSession(this.cfg.common.rootPath);
    const snap = await this.store.getPrefix(key);
    await this.store.watchPrefix(key, snap.revision + 1, { onEvents: () => void this.findCoordinator(), onResync: () => void this.findCoordinator() });
    await this.followLeaders();
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': this.cfg.proxy.maxMessageBytes,
      'grpc.max_send_message_length': this.cfg.proxy.maxSendMessageBytes,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1000,
    });
    const def = tolerantDefinition(milvusServiceDefinition());
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(def)) {
      const fn = (this as unknown as Record<string, (r: any, ctx: RequestContext) => Promise<any>>)[method];
      const read = READ_METHODS.has(method);
      const boundMs = read ? this.cfg.proxy.defaultTimeoutMs : this.cfg.proxy.writeTimeoutMs;
      const boundName = `${read ? 'proxy.defaultTimeoutMs' : 'proxy.writeTimeoutMs'} = ${boundMs} ms`;
      handlers[method] = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        if (typeof fn !== 'function') {
          const e = new KiteError('Unimplemented', `${method} is not supported by Kite`);
          cb(null, STATUS_ONLY.has(method) ? statusOf(e) : { status: statusOf(e) });
          return;
        }
        if (isMalformed(call.request)) {
          requests.inc({ method, status: '1100' });
          const e = new KiteError('ParameterInvalid', `the ${method} request is not a valid protobuf message: ${call.request.error}`);
          cb(null, STATUS_ONLY.has(method) ? statusOf(e) : { status: statusOf(e) });
          return;
        }
        const end = latency.startTimer({ method });
        const ctx: RequestContext = { method, deadline: requestDeadline(call.getDeadline(), boundMs) };
        const run = async (): Promise<any> => {
          const db = call.metadata.get('dbname')[0];
          checkDatabase(method, call.request, typeof db === 'string' ? db : undefined);
          return withDeadline(ctx, fn.call(this, call.request, ctx), boundName);
        };
        run().then(
          (res) => {
            end();
            requests.inc({ method, status: '0' });
            cb(null, res);
          },
          (err: unknown) => {
            end();
            const k = toKiteError(err);
            requests.inc({ method, status: String(k.code) });
            if (k.kind === 'Internal') this.log.error({ method, err: k.message, stack: k.stack }, 'request failed');
            cb(null, STATUS_ONLY.has(method) ? statusOf(k) : { status: statusOf(k) });
          },
        );
      };
    }
    this.server.addService(def, handlers);
    this.port = await bindServer(this.server, this.cfg.common.listenHost, port);
    this.session = new Session(this.store, this.cfg.common.rootPath, this.cfg.common.sessionTtlSeconds, {
      role: 'proxy', address: `${this.cfg.common.advertiseHost}:${this.port}`, metricsAddress: '',
    }, this.log);
    this.session.on('lost', () => {
      // A proxy holds no assignments: it only needs a live session again.
      void this.session?.rejoin();
    });
    await this.session.register();
    return this.port;
  }

  async stop(): Promise<void> {
    await this.session?.revoke();
    await new Promise<void>((r) => (this.server ? this.server.tryShutdown(() => r()) : r()));
    for (const n of this.nodes.values()) n.close();
    for (const b of this.breakers.values()) b.shutdown();
    this.coordClient?.close();
    await this.meta.close();
  }

  // ---------------------------------------------------------------- connection and health

  async Connect(): Promise<any> {
    return { status: OK, server_info: { build_tags: KITE_VERSION, build_time: '', git_commit: '', go_version: 'node', deploy_mode: 'standalone', reserved: {} }, identifier: (Date.now() % 1_000_000) + 1 };
  }
  async GetVersion(): Promise<any> {
    return { status: OK, version: KITE_VERSION };
  }
  async CheckHealth(): Promise<any> {
    const healthy = !!this.coordClient;
    return { status: OK, isHealthy: healthy, reasons: healthy ? [] : ['no query coordinator'], quota_states: [] };
  }
  async GetComponentStates(): Promise<any> {
    return { state: { nodeID: String(this.session?.info?.serverID ?? 0), role: 'Proxy', state_code: 'Healthy', extra_info: [] }, subcomponent_states: [], status: OK };
  }
  async AllocTimestamp(_r: any, ctx: RequestContext): Promise<any> {
    return { status: OK, timestamp: (await this.allocTs(ctx.deadline)).toString() };
  }

  async ListDatabases(): Promise<any> {
    return { status: OK, db_names: ['default'], created_timestamp: ['0'], db_ids: ['1'] };
  }
  /** Any database name other than "default" was refused before this runs (checkDatabase). */
  async DescribeDatabase(): Promise<any> {
    return { status: OK, db_name: 'default', dbID: '1', created_timestamp: '0', properties: [] };
  }

  // ---------------------------------------------------------------- DDL

  private async collection(name: string): Promise<CollectionMeta> {
    checkName('collection', name);
    const c = this.meta.find(name);
    if (c) return c;
    await new Promise((r) => setTimeout(r, 50)); // a DDL just acknowledged may still be on its way through the watch
    return this.meta.get(name);
  }

  /** Waits until the watch-backed cache reflects a DDL the coordinator acknowledged. */
  private async settle(check: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  }

  async CreateCollection(r: any, ctx: RequestContext): Promise<any> {
    checkName('collection', r.collection_name);
    let schema: any;
    try {
      const type = milvusProtobufRoot().lookupType('milvus.proto.schema.CollectionSchema');
      schema = type.toObject(type.decode(r.schema ?? Buffer.alloc(0)), { longs: String, enums: String, defaults: true, arrays: true });
    } catch (e) {
      throw new KiteError('ParameterInvalid', `schema is not a valid serialized CollectionSchema: ${(e as Error).message}`);
    }
    const { fields, dynamic, description } = schemaToFields(schema, r.collection_name);
    const props = kvs(r.properties);
    checkProperties(props);
    const shards = intParam('shards_num', Number(r.shards_num ?? 0), 0, MAX_SHARDS, 0) || 1;
    const numPartitions = intParam('num_partitions', Number(r.num_partitions ?? 0), 0, MAX_PARTITIONS, 0);
    await this.coord().CreateCollection({
      name: r.collection_name, description, fields, enable_dynamic_field: dynamic,
      shards_num: shards,
      consistency_level: r.consistency_level || 'Bounded', properties: props, num_partitions: numPartitions,
    }, this.within(ctx));
    await this.settle(() => !!this.meta.find(r.collection_name));
    return OK;
  }

  async DropCollection(r: any, ctx: RequestContext): Promise<any> {
    await this.coord().DropCollection({ name: r.collection_name }, this.within(ctx));
    await this.settle(() => !this.meta.find(r.collection_name));
    return OK;
  }

  async HasCollection(r: any): Promise<any> {
    return { status: OK, value: !!this.meta.find(r.collection_name) };
  }

  async DescribeCollection(r: any): Promise<any> {
    const c = await this.collection(r.collection_name);
    return {
      status: OK,
      schema: collectionSchemaToWire(c),
      collectionID: String(c.collectionID),
      virtual_channel_names: channelsOf(c),
      physical_channel_names: channelsOf(c),
      created_timestamp: c.createdTs,
      created_utc_timestamp: String(Number(BigInt(c.createdTs) >> 18n)),
      shards_num: c.shardsNum,
      aliases: this.meta.aliasesOf(c.name),
      start_positions: [],
      consistency_level: c.consistencyLevel,
      collection_name: c.name,
      properties: Object.entries(c.properties).map(([key, value]) => ({ key, value })),
      db_name: 'default',
      num_partitions: String(c.partitions.length),
      update_timestamp: c.createdTs,
      update_timestamp_str: c.createdTs,
      db_id: '1',
    };
  }

  async ShowCollections(r: any, ctx: RequestContext): Promise<any> {
    let list = this.meta.all();
    if (r.collection_names?.length) list = list.filter((c) => r.collection_names.includes(c.name));
    const loads = await Promise.all(list.map((c) => (c.load ? this.coord().GetLoadInfo({ name: c.name }, this.within(ctx)).then((x) => x.progress).catch(() => 0) : 0)));
    return {
      status: OK,
      collection_names: list.map((c) => c.name),
      collection_ids: list.map((c) => String(c.collectionID)),
      created_timestamps: list.map((c) => c.createdTs),
      created_utc_timestamps: list.map((c) => String(Number(BigInt(c.createdTs) >> 18n))),
      inMemory_percentages: loads,
      query_service_available: loads.map((p) => p >= 100),
      shards_num: list.map((c) => c.shardsNum),
    };
  }

  async AlterCollection(r: any, ctx: RequestContext): Promise<any> {
    await this.collection(r.collection_name);
    const props = kvs(r.properties);
    checkProperties(props);
    await this.coord().AlterCollection({ collection_name: r.collection_name, properties: props }, this.within(ctx));
    return OK;
  }

  async GetCollectionStatistics(r: any): Promise<any> {
    const c = await this.collection(r.collection_name);
    const segs = await this.store.getPrefix(keys.segments(this.cfg.common.rootPath, c.collectionID));
    const rows = segs.kvs.reduce((s, kv) => s + codecs.segment.decode(kv.value, kv.key).numRows, 0);
    return { status: OK, stats: [{ key: 'row_count', value: String(rows) }] };
  }

  async CreatePartition(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().CreatePartition({ collection_name: c.name, partition_name: r.partition_name }, this.within(ctx));
    await this.settle(() => !!this.meta.find(c.name)?.partitions.some((p) => p.name === r.partition_name));
    return OK;
  }

  async DropPartition(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().DropPartition({ collection_name: c.name, partition_name: r.partition_name }, this.within(ctx));
    await this.settle(() => !this.meta.find(c.name)?.partitions.some((p) => p.name === r.partition_name));
    return OK;
  }

  async HasPartition(r: any): Promise<any> {
    const c = await this.collection(r.collection_name);
    return { status: OK, value: c.partitions.some((p) => p.name === r.partition_name) };
  }

  async ShowPartitions(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const info = await this.coord().GetLoadInfo({ name: c.name }, this.within(ctx));
    const loaded = new Set(info.loaded_partition_ids);
    return {
      status: OK,
      partition_names: c.partitions.map((p) => p.name),
      partitionIDs: c.partitions.map((p) => String(p.partitionID)),
      created_timestamps: c.partitions.map((p) => p.createdTs),
      created_utc_timestamps: c.partitions.map((p) => String(Number(BigInt(p.createdTs) >> 18n))),
      inMemory_percentages: c.partitions.map((p) => (loaded.has(p.partitionID) ? info.progress : 0)),
    };
  }

  async GetPartitionStatistics(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const p = c.partitions.find((x) => x.name === r.partition_name);
    if (!p) throw new KiteError('PartitionNotFound', `partition not found[partition=${clip(String(r.partition_name), 128)}]`);
    const res = await this.queryRows(c, { partitions: [p.partitionID], countOnly: true, level: 'Strong', deadline: ctx.deadline });
    return { status: OK, stats: [{ key: 'row_count', value: String(res.count) }] };
  }

  async LoadCollection(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().LoadCollection({ collection_name: c.name, replica_number: Number(r.replica_number) || 1, partition_names: [] }, this.within(ctx));
    return OK;
  }

  async LoadPartitions(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().LoadCollection({ collection_name: c.name, replica_number: Number(r.replica_number) || 1, partition_names: r.partition_names ?? [] }, this.within(ctx));
    return OK;
  }

  async ReleaseCollection(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().ReleaseCollection({ collection_name: c.name, partition_names: [] }, this.within(ctx));
    this.leaders.delete(c.collectionID);
    return OK;
  }

  async ReleasePartitions(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().ReleaseCollection({ collection_name: c.name, partition_names: r.partition_names ?? [] }, this.within(ctx));
    return OK;
  }

  async GetLoadState(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const info = await this.coord().GetLoadInfo({ name: c.name }, this.within(ctx));
    const state = info.state === 'Loaded' ? 'LoadStateLoaded' : info.state === 'Loading' ? 'LoadStateLoading' : 'LoadStateNotLoad';
    return { status: OK, state };
  }

  async GetLoadingProgress(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const info = await this.coord().GetLoadInfo({ name: c.name }, this.within(ctx));
    if (info.state === 'NotLoad') throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]`);
    return { status: OK, progress: String(info.progress), refresh_progress: String(info.progress) };
  }

  async GetReplicas(r: any, ctx: RequestContext): Promise<any> {
    const c = this.meta.byID(Number(r.collectionID)) ?? (await this.collection(r.collection_name));
    const res = await this.coord().GetShardLeaders({ name: c.name }, this.within(ctx));
    return {
      status: OK,
      replicas: res.replicas.map((rep) => ({
        replicaID: String(rep.replica_id),
        collectionID: String(c.collectionID),
        partition_ids: c.partitions.map((p) => String(p.partitionID)),
        shard_replicas: rep.shards.map((s) => ({ leaderID: String(s.node_id), leader_addr: s.address, dm_channel_name: s.channel, node_ids: rep.node_ids.map(String) })),
        node_ids: rep.node_ids.map(String),
        resource_group_name: '__default_resource_group',
        num_outbound_node: {},
      })),
    };
  }

  async CreateAlias(r: any, ctx: RequestContext): Promise<any> {
    checkName('alias', r.alias);
    await this.coord().ChangeAlias({ op: 'create', alias: r.alias, collection_name: r.collection_name }, this.within(ctx));
    await this.settle(() => this.meta.find(r.alias)?.name === r.collection_name);
    return OK;
  }
  async AlterAlias(r: any, ctx: RequestContext): Promise<any> {
    await this.coord().ChangeAlias({ op: 'alter', alias: r.alias, collection_name: r.collection_name }, this.within(ctx));
    await this.settle(() => this.meta.find(r.alias)?.name === r.collection_name);
    return OK;
  }
  async DropAlias(r: any, ctx: RequestContext): Promise<any> {
    await this.coord().ChangeAlias({ op: 'drop', alias: r.alias, collection_name: '' }, this.within(ctx));
    await this.settle(() => !this.meta.allAliases().some(([a]) => a === r.alias));
    return OK;
  }
  async DescribeAlias(r: any): Promise<any> {
    const hit = this.meta.allAliases().find(([a]) => a === r.alias);
    if (!hit) throw new KiteError('AliasNotFound', `alias not found[database=default][alias=${clip(String(r.alias), 128)}]`);
    return { status: OK, db_name: 'default', alias: r.alias, collection: hit[1] };
  }
  async ListAliases(r: any): Promise<any> {
    const list = this.meta.allAliases().filter(([, t]) => !r.collection_name || t === r.collection_name);
    return { status: OK, db_name: 'default', collection_name: r.collection_name ?? '', aliases: list.map(([a]) => a) };
  }

  // ---------------------------------------------------------------- indexes

  async CreateIndex(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const params = kvs(r.extra_params);
    await this.coord().CreateIndex({ collection_name: c.name, field_name: r.field_name, index_name: r.index_name ?? '', params }, this.within(ctx));
    await this.settle(() => !!this.meta.find(c.name)?.indexes.some((i) => i.fieldName === r.field_name));
    return OK;
  }

  async DescribeIndex(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const list = c.indexes.filter((i) => (!r.index_name || i.indexName === r.index_name) && (!r.field_name || i.fieldName === r.field_name));
    if (list.length === 0) throw new KiteError('IndexNotFound', `index not found[collection=${c.name}]`);
    const descs = await Promise.all(list.map(async (i) => {
      const p = await this.coord().GetIndexProgress({ collection_name: c.name, field_name: i.fieldName, index_name: i.indexName }, this.within(ctx));
      // As Milvus 2.4+ answers: index_type and metric_type, then each build parameter the user set as its own key.
      const built = i.userParams ?? (i.requestedIndexType === 'AUTOINDEX' ? {} : i.params);
      const params = [
        { key: 'index_type', value: i.requestedIndexType },
        { key: 'metric_type', value: i.metricType },
        ...Object.entries(built).map(([key, value]) => ({ key, value })),
      ];
      return {
        index_name: i.indexName, indexID: String(i.indexID), params, field_name: i.fieldName,
        indexed_rows: String(p.indexed_rows), total_rows: String(p.total_rows), state: p.pending_segments > 0 ? 'InProgress' : 'Finished',
        index_state_fail_reason: '', pending_index_rows: String(p.total_rows - p.indexed_rows),
      };
    }));
    return { status: OK, index_descriptions: descs };
  }

  async GetIndexState(r: any, ctx: RequestContext): Promise<any> {
    const d = await this.DescribeIndex(r, ctx);
    const busy = (d.index_descriptions as { state: string }[]).some((x) => x.state !== 'Finished');
    return { status: OK, state: busy ? 'InProgress' : 'Finished', fail_reason: '' };
  }

  async GetIndexBuildProgress(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const p = await this.coord().GetIndexProgress({ collection_name: c.name, field_name: r.field_name ?? '', index_name: r.index_name ?? '' }, this.within(ctx));
    return { status: OK, indexed_rows: String(p.indexed_rows), total_rows: String(p.total_rows) };
  }

  async DropIndex(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.coord().DropIndex({ collection_name: c.name, field_name: r.field_name ?? '', index_name: r.index_name ?? '' }, this.within(ctx));
    return OK;
  }

  // ---------------------------------------------------------------- writes

  private async allocTs(deadline: number): Promise<bigint> {
    return BigInt((await this.onCoordinator(deadline, (qc, timeoutMs) => qc.AllocTimestamp({ count: 1 }, { timeoutMs }))).start);
  }

  /**
   * A coordinator call on the data path (timestamps, ids, shard leaders): retriable failures (the coordinator
   * unreachable, or a standby still taking over) are retried with backoff (50 ms doubling to 1 s) until the
   * request's deadline, so a coordinator failover delays inserts and searches instead of failing them. Each attempt
   * goes to the coordinator the exclusive session key names at that moment and gets the time left as its timeout.
   */
  private onCoordinator<T>(deadline: number, fn: (qc: Client<QueryCoordApi>, timeoutMs: number) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(remainingMs(deadline));
    let last: unknown;
    return this.coordRetry
      .execute(async () => {
        try {
          return await fn(this.coord(), remainingMs(deadline, 50));
        } catch (err) {
          last = err;
          throw err;
        }
      }, signal)
      .catch((err: unknown) => {
        // Out of time while backing off: say so, with the coordinator's own error, which says more than "cancelled".
        if (!signal.aborted) throw err;
        const why = last === undefined ? 'no answer' : toKiteError(last).message;
        throw new KiteError('ServiceUnavailable', `the query coordinator did not answer before the deadline: ${why}`, { cause: last });
      });
  }

  private partitionID(c: CollectionMeta, name: string | undefined): number {
    const p = c.partitions.find((x) => x.name === (name || '_default'));
    if (!p) throw new KiteError('PartitionNotFound', `partition not found[partition=${clip(String(name), 128)}]`);
    return p.partitionID;
  }

  /** Builds the rows of an insert or upsert as one batch with $pk, $ts, $partition, the fields and $meta. */
  private async buildRows(c: CollectionMeta, r: any, ts: bigint, upsert: boolean, deadline: number): Promise<ColumnBatch> {
    const fds: any[] = r.fields_data ?? [];
    const numRows = Number(r.num_rows) || (fds[0] ? this.rowsOf(fds[0]) : 0);
    if (numRows <= 0) throw new KiteError('ParameterInvalid', 'the request has no rows: num_rows is 0');
    const byName = new Map<string, any>();
    for (const fd of fds) {
      const name = fd.is_dynamic ? META : fd.field_name;
      if (!c.fields.some((f) => f.name === name)) {
        throw new KiteError('ParameterInvalid', `field "${clip(String(fd.field_name), 128)}" is not in the schema of collection ${c.name}${c.enableDynamicField ? '' : ' (the dynamic field is disabled)'}`);
      }
      if (byName.has(name)) throw new KiteError('ParameterInvalid', `field "${clip(String(fd.field_name), 128)}" is sent twice in one request: send each field once`);
      byName.set(name, fd);
    }
    const columns = new Map<string, Column>();
    const pkf = c.fields.find((f) => f.isPrimaryKey)!;
    for (const f of c.fields) {
      const fd = byName.get(f.name);
      if (f.isPrimaryKey && f.autoID && !upsert) {
        if (fd) throw new KiteError('ParameterInvalid', `field "${f.name}" is an auto-ID primary key: do not pass it, Kite assigns it`);
        continue;
      }
      if (!fd) {
        if (f.isDynamic) {
          columns.set(META, { kind: 'json', data: Array.from({ length: numRows }, () => ({})) });
          continue;
        }
        throw new KiteError('ParameterMissing', `field "${f.name}" is missing: every row needs a value for it`);
      }
      columns.set(f.isDynamic ? META : f.name, fieldDataToColumn(fd, f, numRows));
    }
    let pk: Column;
    if (pkf.autoID && !upsert) {
      const start = Number((await this.onCoordinator(deadline, (qc, timeoutMs) => qc.AllocIds({ count: numRows }, { timeoutMs }))).start);
      const ids = new BigInt64Array(numRows);
      for (let i = 0; i < numRows; i++) ids[i] = BigInt(start + i);
      pk = { kind: 'int64', data: ids };
    } else {
      pk = columns.get(pkf.name)!;
      if (pk.kind === 'string' && pk.data.some((s) => s === '')) throw new KiteError('ParameterInvalid', `primary key "${pkf.name}" must not be empty`);
    }
    columns.set(PK, pk);
    columns.set(TS, { kind: 'int64', data: new BigInt64Array(numRows).fill(ts) });
    columns.set(PARTITION, { kind: 'int64', data: new BigInt64Array(numRows).fill(BigInt(this.partitionID(c, r.partition_name))) });
    if (pkf.autoID && !upsert) columns.set(pkf.name, pk);
    return { numRows, columns };
  }

  private rowsOf(fd: any): number {
    const s = fd.scalars;
    if (s) {
      const d = s[s.data];
      return d?.data?.length ?? 0;
    }
    const v = fd.vectors;
    return v?.float_vector ? v.float_vector.data.length / Number(v.dim) : 0;
  }

  /** Splits rows by shard and appends one message per channel; resolves once every append is durable. */
  private async appendByShard(c: CollectionMeta, batch: ColumnBatch, type: 'insert' | 'delete', ts: bigint, deadline: number): Promise<void> {
    const pk = batch.columns.get(PK)!;
    const groups: number[][] = Array.from({ length: c.shardsNum }, () => []);
    for (let i = 0; i < batch.numRows; i++) groups[shardOf(pk.kind === 'int64' ? pk.data[i]! : (pk.data as string[])[i]!, c.shardsNum)]!.push(i);
    await Promise.all(groups.map(async (rows, shard) => {
      if (rows.length === 0) return;
      const part = rows.length === batch.numRows ? batch : takeBatch(batch, rows);
      const value = encodeWalMsg({ type, collectionID: c.collectionID, ts, batch: part });
      await this.appendBefore({ topic: c.topic, partition: shard }, value, deadline);
    }));
  }

  /**
   * One WAL append bounded by the request's deadline. The WAL retries a broker that is restarting by itself (the
   * Kafka producer resends the same batch, so a retry never writes a row twice); the proxy only stops waiting at the
   * deadline. Either way the client gets a retriable error naming the channel and the cause; an append that
   * timed out may still land, as with any timed-out write.
   */
  private async appendBefore(ref: ChannelRef, value: Buffer, deadline: number): Promise<void> {
    await onWal(ref, beforeDeadline(this.wal.append(ref, [{ value }]), deadline, 'acknowledgement'));
  }

  private idsOf(pk: Column): any {
    return pk.kind === 'int64'
      ? { int_id: { data: Array.from(pk.data, (v) => v.toString()) }, id_field: 'int_id' }
      : { str_id: { data: pk.kind === 'string' ? pk.data : [] }, id_field: 'str_id' };
  }

  private mutation(pk: Column, n: number, ts: bigint, extra: Record<string, number>): any {
    return {
      status: OK, IDs: this.idsOf(pk), succ_index: Array.from({ length: n }, (_, i) => i), err_index: [],
      acknowledged: true, insert_cnt: '0', delete_cnt: '0', upsert_cnt: '0', timestamp: ts.toString(),
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])),
    };
  }

  async Insert(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const ts = await this.allocTs(ctx.deadline);
    const batch = await this.buildRows(c, r, ts, false, ctx.deadline);
    await this.appendByShard(c, batch, 'insert', ts, ctx.deadline);
    rowsInserted.inc({ collection: c.name }, batch.numRows);
    return this.mutation(batch.columns.get(PK)!, batch.numRows, ts, { insert_cnt: batch.numRows });
  }

  async Upsert(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const ts = await this.allocTs(ctx.deadline);
    const batch = await this.buildRows(c, r, ts, true, ctx.deadline);
    const pk = batch.columns.get(PK)!;
    const del: ColumnBatch = { numRows: batch.numRows, columns: new Map<string, Column>([[PK, pk], [TS, batch.columns.get(TS)!]]) };
    // Same timestamp: the delete removes older versions of these keys, never the rows written with it.
    await this.appendByShard(c, del, 'delete', ts, ctx.deadline);
    await this.appendByShard(c, batch, 'insert', ts, ctx.deadline);
    rowsInserted.inc({ collection: c.name }, batch.numRows);
    return this.mutation(pk, batch.numRows, ts, { upsert_cnt: batch.numRows });
  }

  async Delete(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    const expr = r.expr ?? '';
    if (!expr.trim()) throw new KiteError('ParameterInvalid', 'delete needs a filter expression, for example "id in [1, 2]"');
    const parsed = this.parseFilter(c, expr, templateParams(r.expr_template_values));
    const pkf = c.fields.find((f) => f.isPrimaryKey)!;
    const terms = r.partition_name ? undefined : primaryKeyTerms(parsed);
    let pk: Column;
    if (terms) {
      pk = pkf.dataType === 'Int64' ? { kind: 'int64', data: BigInt64Array.from(terms.map((t) => BigInt(t))) } : { kind: 'string', data: terms.map(String) };
    } else {
      const parts = r.partition_name ? [this.partitionID(c, r.partition_name)] : [];
      const res = await this.queryRows(c, { filter: expr, partitions: parts, level: 'Strong', tparams: templateParams(r.expr_template_values), deadline: ctx.deadline });
      pk = res.rows.columns.get(PK) ?? emptyColumn(pkf);
    }
    const n = pk.kind === 'int64' || pk.kind === 'string' ? pk.data.length : 0;
    const ts = await this.allocTs(ctx.deadline);
    if (n > 0) {
      const del: ColumnBatch = { numRows: n, columns: new Map<string, Column>([[PK, pk], [TS, { kind: 'int64', data: new BigInt64Array(n).fill(ts) }]]) };
      await this.appendByShard(c, del, 'delete', ts, ctx.deadline);
      rowsDeleted.inc({ collection: c.name }, n);
    }
    // pymilvus reports IDs instead of delete_count when IDs are set, so a delete answers with the count alone.
    const res = this.mutation(pk, n, ts, { delete_cnt: n });
    res.IDs = pkf.dataType === 'Int64' ? { int_id: { data: [] }, id_field: 'int_id' } : { str_id: { data: [] }, id_field: 'str_id' };
    res.succ_index = [];
    return res;
  }

  async Flush(r: any, ctx: RequestContext): Promise<any> {
    const segIDs: Record<string, any> = {};
    const flushTs: Record<string, string> = {};
    const sealTimes: Record<string, string> = {};
    for (const name of r.collection_names ?? []) {
      const c = await this.collection(name);
      const ts = await this.allocTs(ctx.deadline);
      const value = encodeWalMsg({ type: 'flush', collectionID: c.collectionID, ts });
      await Promise.all(channelsOf(c).map((ch) => this.appendBefore(parseChannel(ch), value, ctx.deadline)));
      const ticket = ts.toString();
      this.flushTickets.set(ticket, { collectionID: c.collectionID, ts });
      segIDs[name] = { data: [ticket] };
      flushTs[name] = ticket;
      sealTimes[name] = String(Math.floor(Date.now() / 1000));
    }
    return { status: OK, db_name: 'default', coll_segIDs: segIDs, flush_coll_segIDs: {}, coll_seal_times: sealTimes, coll_flush_ts: flushTs, channel_cps: {} };
  }

  private async flushedAt(c: CollectionMeta, ts: bigint): Promise<boolean> {
    for (const ch of channelsOf(c)) {
      const kv = await this.store.get(keys.checkpoint(this.cfg.common.rootPath, c.collectionID, ch));
      const cp = kv ? codecs.checkpoint.decode(kv.value, kv.key) : undefined;
      if (cp && BigInt(cp.ts) >= ts) continue;
      const end = await this.wal.endOffset(parseChannel(ch));
      if ((cp?.offset ?? 0) >= end) continue;
      return false;
    }
    return true;
  }

  async GetFlushState(r: any): Promise<any> {
    const checks: { c: CollectionMeta; ts: bigint }[] = [];
    if (r.collection_name && Number(r.flush_ts) > 0) checks.push({ c: await this.collection(r.collection_name), ts: BigInt(r.flush_ts) });
    for (const id of r.segmentIDs ?? []) {
      const t = this.flushTickets.get(String(id));
      const c = t ? this.meta.byID(t.collectionID) : undefined;
      if (t && c) checks.push({ c, ts: t.ts });
    }
    for (const { c, ts } of checks) if (!(await this.flushedAt(c, ts))) return { status: OK, flushed: false };
    return { status: OK, flushed: true };
  }

  // ---------------------------------------------------------------- reads

  private async ensureLoaded(c: CollectionMeta): Promise<void> {
    if (!c.load) throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]: call load_collection first`);
  }

  /**
   * The partitions a read covers: the named ones, each of which must be loaded, or else every loaded partition
   * (an empty list means all, when the whole collection is loaded).
   */
  private readPartitions(c: CollectionMeta, names: string[] | undefined): number[] {
    const load = c.load!;
    const loaded = load.all ? undefined : new Set(load.partitionIDs);
    if (names && names.length) {
      return names.map((n) => {
        const id = this.partitionID(c, n);
        if (loaded && !loaded.has(id)) throw new KiteError('CollectionNotLoaded', `partition not loaded[partition=${clip(n, 128)}]: load it first`);
        return id;
      });
    }
    return loaded ? [...loaded] : [];
  }

  /**
   * Shard leaders: the copy the meta store watch keeps current (the coordinator publishes every change), else, and
   * on `refresh` after a failed call, read again from the published key; the coordinator is asked only for a
   * collection it has not published yet. So searches need no coordinator while it fails over.
   */
  private async shardLeaders(c: CollectionMeta, refresh: boolean, deadline: number): Promise<Leader[][]> {
    const cached = this.leaders.get(c.collectionID);
    if (cached && !refresh) return cached;
    const kv = await this.store.get(keys.leaders(this.cfg.common.rootPath, c.collectionID)).catch(() => undefined);
    let replicas: Leader[][];
    if (kv) replicas = parseLeaders(kv.value, kv.key);
    else {
      const res = await this.onCoordinator(deadline, (qc, timeoutMs) => qc.GetShardLeaders({ name: c.name }, { timeoutMs }));
      replicas = res.replicas.map((r) => r.shards.map((s) => ({ ...s, replica_id: r.replica_id })));
    }
    this.leaders.set(c.collectionID, replicas);
    return replicas;
  }

  /** The coordinator publishes shard leaders when they change; the cache takes them at once instead of expiring. */
  private async followLeaders(): Promise<void> {
    const prefix = keys.allLeaders(this.cfg.common.rootPath);
    const put = (k: string, v: string): void => {
      this.leaders.set(idAfter(prefix, k), parseLeaders(v, k));
    };
    const snap = await this.store.getPrefix(prefix);
    for (const kv of snap.kvs) put(kv.key, kv.value);
    await this.store.watchPrefix(prefix, snap.revision + 1, {
      onEvents: (evs) => {
        for (const e of evs) {
          if (e.type === 'put') put(e.kv.key, e.kv.value);
          else this.leaders.delete(idAfter(prefix, e.key));
        }
      },
      onResync: (s2) => {
        this.leaders.clear();
        for (const kv of s2.kvs) put(kv.key, kv.value);
      },
    });
  }

  /**
   * A circuit breaker per query node (opossum): after repeated retriable failures it opens and calls to that node
   * fail at once (the proxy tries another replica), then half-opens to probe. User errors do not count.
   */
  private breaker(address: string): CircuitBreaker<[() => Promise<unknown>], unknown> {
    let b = this.breakers.get(address);
    if (!b) {
      b = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
        timeout: false,
        errorThresholdPercentage: 50,
        volumeThreshold: 3,
        rollingCountTimeout: 10000,
        resetTimeout: 2000,
        errorFilter: (err: unknown) => !toKiteError(err).retriable,
      });
      b.on('open', () => {
        breakerState.set({ node: address }, 2);
        this.log.warn({ node: address }, 'circuit breaker open');
      });
      b.on('halfOpen', () => breakerState.set({ node: address }, 1));
      b.on('close', () => breakerState.set({ node: address }, 0));
      breakerState.set({ node: address }, 0);
      this.breakers.set(address, b);
    }
    return b;
  }

  private node(address: string): Client<QueryNodeApi> {
    let n = this.nodes.get(address);
    if (!n) this.nodes.set(address, (n = connect('QueryNode', address)));
    return n;
  }

  /**
   * Calls `fn` on the channel's delegator in some replica: on a failure it tries the next replica at once, then
   * refreshes the leaders and retries with backoff until the deadline. The error names the channel and why.
   */
  private async onChannel<T>(c: CollectionMeta, channel: string, deadline: number, fn: (n: Client<QueryNodeApi>, leader: Leader) => Promise<T>): Promise<T> {
    let refresh = false;
    let lastErr: KiteError | undefined;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const replicas = await this.shardLeaders(c, refresh, deadline);
      const candidates = replicas.map((shards) => shards.find((s) => s.channel === channel && s.serviceable)).filter((s): s is Leader => !!s);
      const start = this.rr++;
      for (let i = 0; i < candidates.length; i++) {
        const leader = candidates[(start + i) % candidates.length]!;
        try {
          return (await this.breaker(leader.address).fire(() => fn(this.node(leader.address), leader))) as T;
        } catch (e) {
          lastErr = (e as { code?: string }).code === 'EOPENBREAKER'
            ? new KiteError('NodeOffline', `node ${leader.address} is failing (circuit open)`)
            : toKiteError(e);
          if (!lastErr.retriable) throw lastErr;
          retries.inc({ reason: lastErr.kind });
        }
      }
      refresh = true;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
    throw new KiteError('ChannelNotAvailable', `channel ${channel} of collection ${c.name}: no replica answered in time${lastErr ? ` (last error: ${lastErr.message})` : ' (no serviceable delegator)'}`);
  }

  private async minOffsets(c: CollectionMeta, level: string, deadline: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const strong = level === 'Strong' || level === 'Session';
    for (const ch of channelsOf(c)) {
      const ref = parseChannel(ch);
      out.set(ch, strong ? await onWal(ref, beforeDeadline(this.wal.endOffset(ref), deadline, 'end offset')) : 0);
    }
    return out;
  }

  private consistency(c: CollectionMeta, r: any): string {
    if (r.use_default_consistency || !r.consistency_level) return c.consistencyLevel;
    return r.consistency_level;
  }

  /** Output fields as stored column names; dynamic keys are returned through $meta and picked afterwards. */
  private outputs(c: CollectionMeta, requested: string[], withVectors: boolean): { columns: string[]; dynamicKeys: string[] | 'all'; names: string[] } {
    const cols = new Set<string>();
    const dyn: string[] = [];
    let allDyn = false;
    for (const raw of requested) {
      const name = raw.trim();
      if (!name) continue;
      if (name === '*') {
        for (const f of c.fields) if (!f.isDynamic && (withVectors || f.dataType !== 'FloatVector')) cols.add(f.name);
        if (c.enableDynamicField) allDyn = true;
        continue;
      }
      const f = c.fields.find((x) => x.name === name && !x.isDynamic);
      if (f) cols.add(f.name);
      else if (name === META && c.enableDynamicField) allDyn = true;
      else if (c.enableDynamicField) dyn.push(name);
      else throw new KiteError('ParameterInvalid', `field ${clip(name, 128)} not exist: output_fields must name fields of collection ${c.name}`);
    }
    if (allDyn || dyn.length) cols.add(META);
    return { columns: [...cols], dynamicKeys: allDyn ? 'all' : dyn, names: [...cols].filter((x) => x !== META).concat(allDyn ? [META] : dyn) };
  }

  private fieldData(c: CollectionMeta, batch: ColumnBatch, columns: string[], dynamicKeys: string[] | 'all'): any[] {
    const out: any[] = [];
    for (const name of columns) {
      const f = c.fields.find((x) => (name === META ? x.isDynamic : x.name === name)) as FieldMeta;
      let col = batch.columns.get(name) ?? emptyColumn(f);
      if (name === META) col = pickDynamicKeys(col, dynamicKeys);
      out.push(columnToFieldData(col, f));
    }
    return out;
  }

  async Search(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.ensureLoaded(c);
    const plan = planSearch(c, r, this.cfg.proxy.maxSearchResults);
    const { field, metric, limit, offset, topk, nq, vectors, filter, roundDecimal, searchParams } = plan;
    const tparams = templateParams(r.expr_template_values);
    if (filter) this.parseFilter(c, filter, tparams);
    const partitions = this.readPartitions(c, r.partition_names);
    const out = this.outputs(c, r.output_fields ?? [], true);
    // Vectors in the output are the one part of a result whose size the hit bound does not cap (dim up to 32768).
    const vectorBytes = out.columns.reduce((sum, name) => {
      const f = c.fields.find((x) => x.name === name);
      return sum + (f?.dataType === 'FloatVector' ? Number(f.typeParams.dim) * 4 : 0);
    }, 0);
    if (vectorBytes * nq * topk > this.cfg.proxy.maxSendMessageBytes) {
      throw new KiteError('ParameterInvalid', `returning vectors with ${nq * topk} hits takes ${vectorBytes * nq * topk} bytes, more than a reply may hold (proxy.maxSendMessageBytes ${this.cfg.proxy.maxSendMessageBytes}); leave the vector out of output_fields or ask for fewer hits`);
    }
    // Milvus returns the primary key among the output fields of every hit; the SDKs read the id from there.
    const pkName = c.fields.find((f) => f.isPrimaryKey)!.name;
    if (!out.columns.includes(pkName)) out.columns.unshift(pkName);
    if (!out.names.includes(pkName)) out.names.unshift(pkName);
    searchNq.observe(nq);
    searchTopk.observe(topk);
    const level = this.consistency(c, r);
    const deadline = ctx.deadline;
    const minOffsets = await this.minOffsets(c, level, deadline);
    const parts = await Promise.all(channelsOf(c).map((channel) =>
      this.onChannel(c, channel, deadline, async (n, leader) => {
        const res = await n.Search({
          collection_id: c.collectionID, channel, replica_id: leader.replica_id, delegator: true, segment_ids: [], anns_field: field.name,
          metric_type: metric, topk, nq, vectors, filter, filter_params: encodeParams(tparams),
          partition_ids: partitions, search_params: searchParams, output_fields: out.columns,
          min_consumed_offset: minOffsets.get(channel) ?? 0, watermark: 0, deletes: Buffer.alloc(0),
          timeout_ms: Math.max(100, deadline - Date.now()),
        }, { timeoutMs: Math.max(100, deadline - Date.now()) });
        return decodeBatch(res.hits);
      }),
    ));
    const merged = mergeHits(parts, nq, topk, metric);
    const q = merged.columns.get(QUERY) as Extract<Column, { kind: 'int' }> | undefined;
    const pick: number[] = [];
    const topks: number[] = [];
    for (let qi = 0, i = 0; qi < nq; qi++) {
      let seen = 0;
      let kept = 0;
      while (q && i < merged.numRows && q.data[i] === qi) {
        if (seen >= offset && kept < limit) {
          pick.push(i);
          kept++;
        }
        seen++;
        i++;
      }
      topks.push(kept);
    }
    const page = takeBatch(merged, pick);
    const scoreCol = page.columns.get(SCORE) as Extract<Column, { kind: 'float' }> | undefined;
    let scores = scoreCol ? Array.from(scoreCol.data) : [];
    if (roundDecimal >= 0) scores = scores.map((s) => Number(s.toFixed(roundDecimal)));
    const pkf = c.fields.find((f) => f.isPrimaryKey)!;
    const pkCol = page.columns.get(PK) ?? emptyColumn(pkf);
    const ids = this.idsOf(pkCol);
    return {
      status: OK,
      results: {
        num_queries: String(nq), top_k: String(limit), fields_data: this.fieldData(c, page, out.columns, out.dynamicKeys),
        scores, ids, topks: topks.map(String), output_fields: out.names, primary_field_name: pkf.name, distances: [], recalls: [], all_search_count: String(page.numRows),
      },
      collection_name: c.name,
      session_ts: '0',
    };
  }

  /**
   * Runs a query on every channel and concatenates the rows; with `orderByPk` (a query with a limit) merges them in
   * primary-key order and keeps the first `limit`.
   */
  private async queryRows(c: CollectionMeta, q: QueryRowsOptions): Promise<{ rows: ColumnBatch; count: number }> {
    const { filter = '', columns = [], partitions, limit = 0, countOnly = false, level, tparams, deadline, orderByPk = false } = q;
    await this.ensureLoaded(c);
    const minOffsets = await this.minOffsets(c, level, deadline);
    const res = await Promise.all(channelsOf(c).map((channel) =>
      this.onChannel(c, channel, deadline, async (n, leader) => {
        const x = await n.Query({
          collection_id: c.collectionID, channel, replica_id: leader.replica_id, delegator: true, segment_ids: [], filter,
          filter_params: encodeParams(tparams), partition_ids: partitions, output_fields: columns,
          limit, count_only: countOnly, min_consumed_offset: minOffsets.get(channel) ?? 0, watermark: 0,
          deletes: Buffer.alloc(0), timeout_ms: Math.max(100, deadline - Date.now()), order_by_pk: orderByPk,
        }, { timeoutMs: Math.max(100, deadline - Date.now()) });
        return { rows: x.rows.length ? decodeBatch(x.rows) : { numRows: 0, columns: new Map() }, count: x.count };
      }),
    ));
    const nonEmpty = res.map((x) => x.rows).filter((b) => b.numRows > 0);
    let rows: ColumnBatch = nonEmpty.length ? concatBatches(nonEmpty) : { numRows: 0, columns: new Map() };
    if (orderByPk) rows = firstByPk(rows, limit);
    return { rows, count: res.reduce((s, x) => s + x.count, 0) };
  }

  async Query(r: any, ctx: RequestContext): Promise<any> {
    const c = await this.collection(r.collection_name);
    await this.ensureLoaded(c);
    const { limit, offset, filter, countOnly } = planQuery(r);
    const tparams = templateParams(r.expr_template_values);
    if (filter) this.parseFilter(c, filter, tparams);
    const partitions = this.readPartitions(c, r.partition_names);
    const level = this.consistency(c, r);
    const deadline = ctx.deadline;
    if (countOnly) {
      const res = await this.queryRows(c, { filter, partitions, countOnly: true, level, tparams, deadline });
      return {
        status: OK, collection_name: c.name, output_fields: ['count(*)'],
        fields_data: [{ type: 'Int64', field_name: 'count(*)', field_id: '0', is_dynamic: false, valid_data: [], field: 'scalars', scalars: { data: 'long_data', long_data: { data: [String(res.count)] } } }],
      };
    }
    const pkf = c.fields.find((f) => f.isPrimaryKey)!;
    const requested: string[] = r.output_fields ?? [];
    const out = this.outputs(c, requested.length ? requested : [pkf.name], true);
    if (!out.columns.includes(pkf.name)) out.columns.unshift(pkf.name);
    if (!out.names.includes(pkf.name)) out.names.unshift(pkf.name);
    const res = await this.queryRows(c, { filter, columns: out.columns, partitions, limit: limit > 0 ? limit + offset : 0, level, tparams, deadline, orderByPk: limit > 0 });
    let rows = res.rows;
    if (offset > 0 || (limit > 0 && rows.numRows > limit)) {
      const end = limit > 0 ? Math.min(rows.numRows, offset + limit) : rows.numRows;
      rows = takeBatch(rows, Array.from({ length: Math.max(0, end - offset) }, (_, i) => offset + i));
    }
    return { status: OK, collection_name: c.name, output_fields: out.names, fields_data: this.fieldData(c, rows, out.columns, out.dynamicKeys) };
  }

  /** Parses a filter against the collection's schema, so that a bad filter fails here rather than on every node. */
  private parseFilter(c: CollectionMeta, filter: string, tparams: Record<string, unknown> | undefined): ReturnType<typeof parseExpr> {
    try {
      return parseExpr(filter, schemaInfo(c), tparams, { maxLength: this.cfg.proxy.maxFilterLength });
    } catch (e) {
      throw new KiteError('ExpressionInvalid', `cannot parse expression: ${clip(filter, 512)}: ${(e as Error).message}`);
    }
  }
}

/** What the service definition hands a handler in place of a request whose bytes could not be decoded. */
interface Malformed {
  [MALFORMED]: true;
  error: string;
}
const MALFORMED = Symbol('malformed request');
const isMalformed = (r: unknown): r is Malformed => typeof r === 'object' && r !== null && MALFORMED in r;

/**
 * The service definition with request decoding that does not throw: grpc-js would answer a malformed request with a
 * bare INTERNAL status; the handler answers it with a Milvus status naming the request instead.
 */
function tolerantDefinition(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = {
      ...m,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return m.requestDeserialize(bytes);
        } catch (e) {
          return { [MALFORMED]: true, error: clip((e as Error).message, 256) } satisfies Malformed;
        }
      },
    };
  }
  return out as grpc.ServiceDefinition;
}

/**
 * A WAL call's failure as the client sees it: a retriable error naming the channel and the cause (a WAL error that
 * is the caller's fault, such as a message over the size limit, passes through).
 */
async function onWal<T>(ref: ChannelRef, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const k = toKiteError(err);
    if (!k.retriable && k.kind !== 'Internal') throw k;
    throw new KiteError('ServiceUnavailable', `WAL channel ${channelName(ref)} unavailable: ${k.message}`, { cause: err, retriable: true });
  }
}

interface QueryRowsOptions {
  filter?: string;
  /** Output columns (stored names); none for a count or for primary keys alone. */
  columns?: string[];
  partitions: number[];
  /** Rows per channel, 0 = all. */
  limit?: number;
  countOnly?: boolean;
  level: string;
  tparams?: Record<string, unknown>;
  deadline: number;
  orderByPk?: boolean;
}

/** The value of `<root>/leaders/<collection>` as the coordinator publishes it, one list of shards per replica. */
function parseLeaders(v: string, key: string): Leader[][] {
  return codecs.leaders.decode(v, key).map((r) => r.shards.map((sh) => ({ ...sh, replica_id: r.replica_id })));
}
