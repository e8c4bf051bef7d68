import { KiteError, clip } from '@kite/common';
import { decodeCollectionSchema, type CollectionSchema } from '@kite/proto';
import { channelsOf, codecs, dbOf, hiddenUpTo, keys } from '@kite/segment';
import type { Handlers, ProxyCore } from './core';
import { DEFAULT_KEY_PARTITIONS, MAX_KEY_PARTITIONS, checkIsolation, partitionKeyField } from './partition-key';
import { intParam } from './read-plan';
import { checkName, checkProperties, collectionSchemaToWire, consistencyLevelOf, schemaToFields } from './schema';
import { OK, kvs, utcOf } from './status';

/** Milvus's proxy.maxShardNum. */
const MAX_SHARDS = 16;

/**
 * num_partitions of a new collection: with a partition key, 1..1024 (default 16, Milvus 2.4+'s default); without
 * one it must be unset, as Milvus refuses it then.
 */
function keyPartitionCount(hasKey: boolean, n: number, name: string): number {
  if (!Number.isFinite(n) || !Number.isInteger(n)) throw new KiteError('ParameterInvalid', `num_partitions must be a whole number, got ${clip(String(n), 32)}`);
  if (!hasKey) {
    if (n !== 0) throw new KiteError('ParameterInvalid', 'num_partitions should only be specified with partition key field enabled');
    return 0;
  }
  if (n < 0) throw new KiteError('ParameterInvalid', 'the specified partitions should be greater than 0 if partition key is used');
  if (n > MAX_KEY_PARTITIONS) throw new KiteError('ParameterInvalid', `partition number (${n}) exceeds max configuration (${MAX_KEY_PARTITIONS}), collection: ${clip(name, 128)}`);
  return n === 0 ? DEFAULT_KEY_PARTITIONS : n;
}

/**
 * Collections, partitions, aliases, load and release: checked here, carried out by the coordinator; a change the
 * coordinator acknowledged is visible through this proxy when the call returns (ProxyCore.synced).
 */
export function ddlHandlers(core: ProxyCore): Handlers {
  const { meta, coordinator } = core;
  const qc = () => coordinator.api();
  const within = (ctx: { deadline: number }) => coordinator.within(ctx.deadline);

  return {
    async CreateCollection(r, ctx) {
      checkName('collection', r.collection_name);
      let schema: CollectionSchema;
      try {
        schema = decodeCollectionSchema(r.schema ?? Buffer.alloc(0));
      } catch (e) {
        throw new KiteError('ParameterInvalid', `schema is not a valid serialized CollectionSchema: ${(e as Error).message}`);
      }
      const { fields, dynamic, description, functions } = schemaToFields(schema, r.collection_name);
      const props = kvs(r.properties);
      checkProperties(props);
      checkIsolation(props, fields.some((f) => f.is_partition_key));
      const shards = intParam('shards_num', Number(r.shards_num ?? 0), 0, MAX_SHARDS, 0) || 1;
      const numPartitions = keyPartitionCount(fields.some((f) => f.is_partition_key), Number(r.num_partitions ?? 0), r.collection_name);
      await qc().CreateCollection({
        name: r.collection_name, description, fields, enable_dynamic_field: dynamic,
        shards_num: shards,
        consistency_level: String(r.consistency_level || 'Bounded'), properties: props, num_partitions: numPartitions, db_name: ctx.db,
        functions: functions.map((f) => ({
          name: f.name, id: f.id, description: f.description, type: f.type, input_field_names: f.inputFieldNames, output_field_names: f.outputFieldNames, params: f.params,
        })),
      }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async DropCollection(r, ctx) {
      await qc().DropCollection({ name: r.collection_name, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async HasCollection(r, ctx) {
      return { status: OK, value: !!meta.find(r.collection_name, ctx.db) };
    },

    async DescribeCollection(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      return {
        status: OK,
        schema: collectionSchemaToWire(c),
        collectionID: String(c.collectionID),
        virtual_channel_names: channelsOf(c),
        physical_channel_names: channelsOf(c),
        created_timestamp: c.createdTs,
        created_utc_timestamp: utcOf(c.createdTs),
        shards_num: c.shardsNum,
        aliases: meta.aliasesOf(c.name, dbOf(c)),
        start_positions: [],
        consistency_level: consistencyLevelOf(c.consistencyLevel),
        collection_name: c.name,
        properties: Object.entries(c.properties).map(([key, value]) => ({ key, value })),
        db_name: dbOf(c),
        num_partitions: String(c.partitions.length),
        update_timestamp: c.schemaTs ?? c.createdTs,
        update_timestamp_str: c.schemaTs ?? c.createdTs,
        db_id: String((await core.database(ctx, dbOf(c))).id),
      };
    },

    async ShowCollections(r, ctx) {
      let list = meta.all(ctx.db);
      if (r.collection_names?.length) list = list.filter((c) => r.collection_names.includes(c.name));
      const loads = await Promise.all(list.map((c) => (c.load ? qc().GetLoadInfo({ name: c.name, db_name: ctx.db }, within(ctx)).then((x) => x.progress).catch(() => 0) : 0)));
      return {
        status: OK,
        collection_names: list.map((c) => c.name),
        collection_ids: list.map((c) => String(c.collectionID)),
        created_timestamps: list.map((c) => c.createdTs),
        created_utc_timestamps: list.map((c) => utcOf(c.createdTs)),
        inMemory_percentages: loads,
        query_service_available: loads.map((p) => p >= 100),
        shards_num: list.map((c) => c.shardsNum),
      };
    },

    async AlterCollection(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const props = kvs(r.properties);
      checkIsolation(props, !!partitionKeyField(c));
      const deleteKeys = (r.delete_keys ?? []).filter((k) => k !== '');
      if (Object.keys(props).length > 0 && deleteKeys.length > 0) {
        throw new KiteError('ParameterInvalid', 'can not provide properties and deletekeys at the same time; send two alter calls');
      }
      checkProperties(props);
      await qc().AlterCollection({ collection_name: r.collection_name, properties: props, db_name: ctx.db, delete_keys: deleteKeys }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async RenameCollection(r, ctx) {
      checkName('collection', r.newName);
      if (r.newDBName) await core.database(ctx, r.newDBName);
      await qc().RenameCollection({ db_name: ctx.db, old_name: r.oldName, new_name: r.newName, new_db_name: r.newDBName ?? '' }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async TruncateCollection(r, ctx) {
      await core.collection(r.collection_name, ctx);
      await qc().TruncateCollection({ collection_name: r.collection_name, db_name: ctx.db }, within(ctx));
      // Cached timestamps predate the truncate: writes from now on take fresh ones, so they stay visible.
      core.tso.reset();
      await core.synced(ctx);
      return { status: OK };
    },

    async GetCollectionStatistics(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const segs = await core.store.getPrefix(keys.segments(core.cfg.common.rootPath, c.collectionID));
      // Segments wholly before a truncate or the TTL hold no visible rows (the rest is counted as stored, an estimate
      // as in Milvus).
      const cut = hiddenUpTo(c) ?? 0n;
      const rows = segs.kvs.map((kv) => codecs.segment.decode(kv.value, kv.key)).filter((s) => BigInt(s.maxTs || '0') > cut).reduce((n, s) => n + s.numRows, 0);
      return { status: OK, stats: [{ key: 'row_count', value: String(rows) }] };
    },

    async CreatePartition(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      if (partitionKeyField(c)) throw new KiteError('ParameterInvalid', 'disable create partition if partition key mode is used');
      await qc().CreatePartition({ collection_name: c.name, partition_name: r.partition_name, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async DropPartition(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      if (partitionKeyField(c)) throw new KiteError('ParameterInvalid', 'disable drop partition if partition key mode is used');
      await qc().DropPartition({ collection_name: c.name, partition_name: r.partition_name, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async HasPartition(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      return { status: OK, value: c.partitions.some((p) => p.name === r.partition_name) };
    },

    async ShowPartitions(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const info = await qc().GetLoadInfo({ name: c.name, db_name: ctx.db }, within(ctx));
      const loaded = new Set(info.loaded_partition_ids);
      return {
        status: OK,
        partition_names: c.partitions.map((p) => p.name),
        partitionIDs: c.partitions.map((p) => String(p.partitionID)),
        created_timestamps: c.partitions.map((p) => p.createdTs),
        created_utc_timestamps: c.partitions.map((p) => utcOf(p.createdTs)),
        inMemory_percentages: c.partitions.map((p) => (loaded.has(p.partitionID) ? info.progress : 0)),
      };
    },

    async LoadCollection(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      await qc().LoadCollection({ collection_name: c.name, replica_number: Number(r.replica_number) || 1, partition_names: [], db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async LoadPartitions(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      if (partitionKeyField(c)) throw new KiteError('ParameterInvalid', 'disable load partitions if partition key mode is used');
      await qc().LoadCollection({ collection_name: c.name, replica_number: Number(r.replica_number) || 1, partition_names: r.partition_names ?? [], db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async ReleaseCollection(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      await qc().ReleaseCollection({ collection_name: c.name, partition_names: [], db_name: ctx.db }, within(ctx));
      core.router.forget(c.collectionID);
      await core.synced(ctx);
      return OK;
    },

    async ReleasePartitions(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      if (partitionKeyField(c)) throw new KiteError('ParameterInvalid', 'disable release partitions if partition key mode is used');
      await qc().ReleaseCollection({ collection_name: c.name, partition_names: r.partition_names ?? [], db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async GetLoadState(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const info = await qc().GetLoadInfo({ name: c.name, db_name: ctx.db }, within(ctx));
      const state = info.state === 'Loaded' ? 'LoadStateLoaded' : info.state === 'Loading' ? 'LoadStateLoading' : 'LoadStateNotLoad';
      return { status: OK, state };
    },

    async GetLoadingProgress(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const info = await qc().GetLoadInfo({ name: c.name, db_name: ctx.db }, within(ctx));
      if (info.state === 'NotLoad') throw new KiteError('CollectionNotLoaded', `collection not loaded[collection=${c.name}]`);
      return { status: OK, progress: String(info.progress), refresh_progress: String(info.progress) };
    },

    async GetReplicas(r, ctx) {
      const byID = meta.byID(Number(r.collectionID));
      // An id names a collection of the call's database only: another database's collections stay out of sight.
      const c = byID && dbOf(byID) === ctx.db ? byID : await core.collection(r.collection_name, ctx);
      const res = await qc().GetShardLeaders({ name: c.name, db_name: dbOf(c) }, within(ctx));
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
    },

    async CreateAlias(r, ctx) {
      checkName('alias', r.alias);
      await qc().ChangeAlias({ op: 'create', alias: r.alias, collection_name: r.collection_name, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async AlterAlias(r, ctx) {
      await qc().ChangeAlias({ op: 'alter', alias: r.alias, collection_name: r.collection_name, db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async DropAlias(r, ctx) {
      await qc().ChangeAlias({ op: 'drop', alias: r.alias, collection_name: '', db_name: ctx.db }, within(ctx));
      await core.synced(ctx);
      return OK;
    },

    async DescribeAlias(r, ctx) {
      const hit = meta.allAliases(ctx.db).find(([a]) => a === r.alias);
      if (!hit) throw new KiteError('AliasNotFound', `alias not found[database=${clip(ctx.db, 128)}][alias=${clip(String(r.alias), 128)}]`);
      return { status: OK, db_name: ctx.db, alias: r.alias, collection: hit[1] };
    },

    async ListAliases(r, ctx) {
      const list = meta.allAliases(ctx.db).filter(([, t]) => !r.collection_name || t === r.collection_name);
      return { status: OK, db_name: ctx.db, collection_name: r.collection_name ?? '', aliases: list.map(([a]) => a) };
    },
  };
}
