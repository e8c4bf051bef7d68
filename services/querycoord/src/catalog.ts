import { KiteError, clip, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { Wal } from '@kite/wal';
import type { ObjectStore } from '@kite/objectstore';
import { aliasOfKey, codecs, keys, type CollectionMeta, type FieldMeta, type IndexMeta, type LoadMeta } from '@kite/segment';
import { validateIndexParams, type IndexType } from '@kite/faiss';
import type { CreateCollectionRequest } from '@kite/rpc';
import type { IdAllocator, Tso } from './tso';

const INDEX_TYPES: IndexType[] = ['FLAT', 'IVF_FLAT', 'IVF_SQ8', 'IVF_PQ', 'HNSW'];
const METRICS = ['L2', 'IP', 'COSINE'] as const;
/** AUTOINDEX resolves to HNSW with these build parameters (Milvus's own AUTOINDEX is graph-based too). */
const AUTOINDEX_PARAMS = { M: '16', efConstruction: '200' };

/**
 * The collection catalogue: collections, partitions, indexes and aliases. The coordinator is its only writer; every
 * change is written to the meta store before it is acknowledged, and readers (proxies, nodes) watch the keys.
 */
export class Catalog {
  private readonly byId = new Map<number, CollectionMeta>();
  private readonly aliases = new Map<string, string>();

  constructor(
    private readonly store: MetaStore,
    private readonly wal: Wal,
    private readonly objects: ObjectStore,
    private readonly root: string,
    private readonly ids: IdAllocator,
    private readonly tso: Tso,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const colls = await this.store.getPrefix(keys.collections(this.root));
    for (const kv of colls.kvs) {
      const c = codecs.collection.decode(kv.value, kv.key);
      this.byId.set(c.collectionID, c);
    }
    const aliases = await this.store.getPrefix(keys.aliases(this.root));
    for (const kv of aliases.kvs) this.aliases.set(aliasOfKey(this.root, kv.key), kv.value);
  }

  all(): CollectionMeta[] {
    return [...this.byId.values()];
  }

  byID(id: number): CollectionMeta | undefined {
    return this.byId.get(id);
  }

  /** Resolves a collection name or alias. */
  find(name: string): CollectionMeta | undefined {
    const real = this.aliases.get(name) ?? name;
    for (const c of this.byId.values()) if (c.name === real) return c;
    return undefined;
  }

  get(name: string): CollectionMeta {
    const c = this.find(name);
    if (!c) throw new KiteError('CollectionNotFound', `collection not found[collection=${name}]`);
    return c;
  }

  private async save(c: CollectionMeta): Promise<void> {
    await this.store.put(keys.collection(this.root, c.collectionID), codecs.collection.encode(c));
    this.byId.set(c.collectionID, c);
  }

  async createCollection(r: CreateCollectionRequest): Promise<number> {
    const existing = this.find(r.name);
    if (this.aliases.has(r.name)) {
      throw new KiteError('AliasCollectionNameConflict', `"${r.name}" is an alias; pick another collection name`);
    }
    const fields: FieldMeta[] = r.fields.map((f) => ({
      fieldID: f.field_id,
      name: f.name,
      dataType: f.data_type as FieldMeta['dataType'],
      isPrimaryKey: f.is_primary_key,
      autoID: f.auto_id,
      description: f.description,
      typeParams: f.type_params,
      isDynamic: f.is_dynamic,
      isPartitionKey: f.is_partition_key,
      nullable: f.nullable,
    }));
    if (existing) {
      const same =
        JSON.stringify(existing.fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.typeParams])) ===
        JSON.stringify(fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.typeParams]));
      if (same) return existing.collectionID; // Milvus treats an identical re-create as success
      throw new KiteError('CollectionAlreadyExists', `collection ${r.name} already exists with a different schema; drop it first or use another name`);
    }
    const id = await this.ids.alloc(1);
    const ts = (await this.tso.alloc(1)).toString();
    const topic = `${this.root}-dml-${id}`;
    const shards = r.shards_num > 0 ? r.shards_num : 1;
    await this.wal.createTopic(topic, shards);
    const partitionID = await this.ids.alloc(1);
    const c: CollectionMeta = {
      collectionID: id,
      name: r.name,
      description: r.description,
      fields,
      enableDynamicField: r.enable_dynamic_field,
      shardsNum: shards,
      topic,
      partitions: [{ partitionID, name: '_default', createdTs: ts }],
      indexes: [],
      consistencyLevel: r.consistency_level || 'Bounded',
      properties: r.properties,
      createdTs: ts,
    };
    await this.save(c);
    this.log.info({ collection: r.name, id, shards }, 'collection created');
    return id;
  }

  async dropCollection(name: string): Promise<CollectionMeta | undefined> {
    const c = this.find(name);
    if (!c) return undefined; // Milvus: dropping a missing collection succeeds
    if (this.aliases.get(name)) throw new KiteError('ParameterInvalid', `"${name}" is an alias; drop the alias or name the collection`);
    for (const [alias, target] of this.aliases) {
      if (target === c.name) {
        throw new KiteError('ParameterInvalid', `collection ${c.name} still has alias "${alias}"; drop the alias first`);
      }
    }
    await this.store.delete(keys.collection(this.root, c.collectionID));
    this.byId.delete(c.collectionID);
    await this.store.deletePrefix(keys.segments(this.root, c.collectionID));
    await this.store.deletePrefix(keys.checkpoints(this.root, c.collectionID));
    await this.wal.deleteTopic(c.topic).catch((e: unknown) => this.log.warn({ err: String(e) }, 'topic delete failed'));
    await this.objects.deletePrefix(`collections/${c.collectionID}/`).catch(() => 0);
    this.log.info({ collection: c.name }, 'collection dropped');
    return c;
  }

  async createPartition(collection: string, partition: string): Promise<void> {
    const c = this.get(collection);
    if (c.partitions.some((p) => p.name === partition)) return;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(partition)) {
      throw new KiteError('ParameterInvalid', `invalid partition name "${partition}": use letters, digits and underscores, starting with a letter or underscore`);
    }
    const id = await this.ids.alloc(1);
    const ts = (await this.tso.alloc(1)).toString();
    await this.save({ ...c, partitions: [...c.partitions, { partitionID: id, name: partition, createdTs: ts }] });
  }

  async dropPartition(collection: string, partition: string): Promise<void> {
    const c = this.get(collection);
    if (partition === '_default') throw new KiteError('ParameterInvalid', 'the _default partition cannot be dropped');
    const p = c.partitions.find((x) => x.name === partition);
    if (!p) return;
    if (c.load && (c.load.all || c.load.partitionIDs.includes(p.partitionID))) {
      throw new KiteError('ParameterInvalid', `partition ${partition} is loaded; release it before dropping`);
    }
    await this.save({ ...c, partitions: c.partitions.filter((x) => x.name !== partition) });
  }

  async createIndex(collection: string, fieldName: string, indexName: string, params: Record<string, string>): Promise<void> {
    const c = this.get(collection);
    const field = c.fields.find((f) => f.name === fieldName);
    if (!field) throw new KiteError('ParameterInvalid', `cannot create index on non-existent field: ${fieldName}`);
    if (field.dataType !== 'FloatVector') {
      throw new KiteError('IndexNotSupported', `field ${fieldName} is ${field.dataType}: Kite indexes FloatVector fields only (scalar filters need no index)`);
    }
    const requested = (params.index_type ?? 'AUTOINDEX').toUpperCase();
    const metric = (params.metric_type ?? 'COSINE').toUpperCase();
    if (!(METRICS as readonly string[]).includes(metric)) {
      throw new KiteError('IndexNotSupported', `metric_type "${metric}" is not supported for FloatVector; use L2, IP or COSINE`);
    }
    const indexType = requested === 'AUTOINDEX' ? 'HNSW' : requested;
    if (!(INDEX_TYPES as string[]).includes(indexType)) {
      throw new KiteError('IndexNotSupported', `index_type "${requested}" is not supported; use one of ${[...INDEX_TYPES, 'AUTOINDEX'].join(', ')}`);
    }
    // What the user set, flattened as Milvus keeps it: top-level keys and those of the `params` JSON, as strings.
    const user: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) if (!['index_type', 'metric_type', 'params'].includes(k)) user[k] = v;
    if (params.params) {
      let inner: unknown;
      try {
        inner = JSON.parse(params.params);
      } catch {
        throw new KiteError('ParameterInvalid', `index params "${clip(params.params, 128)}" are not valid JSON`);
      }
      if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw new KiteError('ParameterInvalid', 'index params "params" must be a JSON object');
      Object.assign(user, inner);
    }
    const build: Record<string, unknown> = requested === 'AUTOINDEX' ? { ...AUTOINDEX_PARAMS, ...user } : user;
    let validated: Record<string, number | undefined>;
    try {
      validated = validateIndexParams(indexType as IndexType, Number(field.typeParams.dim), build) as Record<string, number | undefined>;
    } catch (e) {
      throw new KiteError('IndexNotSupported', `invalid ${indexType} parameters: ${(e as Error).message}`);
    }
    const stored: Record<string, string> = {};
    for (const [k, v] of Object.entries(validated)) if (v !== undefined) stored[k] = String(v);
    const name = indexName || fieldName;
    const existing = c.indexes.find((i) => i.fieldName === fieldName);
    if (existing) {
      const same = existing.indexType === indexType && existing.metricType === metric && JSON.stringify(existing.params) === JSON.stringify(stored);
      if (same && existing.indexName === name) return;
      throw new KiteError('IndexDuplicate', `at most one distinct index is allowed per field: field ${fieldName} already has index "${existing.indexName}" (${existing.indexType}, ${existing.metricType}); drop it first`);
    }
    if (c.indexes.some((i) => i.indexName === name)) {
      throw new KiteError('IndexDuplicate', `index name "${name}" is already used in collection ${c.name}`);
    }
    const idx: IndexMeta = {
      indexID: await this.ids.alloc(1),
      indexName: name,
      fieldName,
      fieldID: field.fieldID,
      indexType,
      requestedIndexType: requested,
      metricType: metric as IndexMeta['metricType'],
      params: stored,
      userParams: Object.fromEntries(Object.entries(user).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
      createdTs: (await this.tso.alloc(1)).toString(),
    };
    await this.save({ ...c, indexes: [...c.indexes, idx] });
  }

  async dropIndex(collection: string, fieldName: string, indexName: string): Promise<void> {
    const c = this.get(collection);
    const idx = c.indexes.find((i) => (indexName ? i.indexName === indexName : i.fieldName === fieldName));
    if (!idx) return;
    if (c.load) throw new KiteError('ParameterInvalid', `index ${idx.indexName} cannot be dropped while collection ${c.name} is loaded; release it first`);
    await this.save({ ...c, indexes: c.indexes.filter((i) => i !== idx) });
  }

  async changeAlias(op: 'create' | 'alter' | 'drop', alias: string, collection: string): Promise<void> {
    if (op === 'drop') {
      if (!this.aliases.has(alias)) return;
      await this.store.delete(keys.alias(this.root, alias));
      this.aliases.delete(alias);
      return;
    }
    const target = this.get(collection);
    if (this.aliases.has(collection)) throw new KiteError('ParameterInvalid', `"${collection}" is an alias; an alias must point at a collection`);
    if ([...this.byId.values()].some((c) => c.name === alias)) {
      throw new KiteError('AliasCollectionNameConflict', `alias "${alias}" collides with a collection name`);
    }
    const cur = this.aliases.get(alias);
    if (op === 'create' && cur !== undefined && cur !== target.name) {
      throw new KiteError('AliasAlreadyExists', `alias "${alias}" already points at collection ${cur}; use alter_alias to move it`);
    }
    if (op === 'alter' && cur === undefined) throw new KiteError('AliasNotFound', `alias "${alias}" does not exist; create it first`);
    await this.store.put(keys.alias(this.root, alias), target.name);
    this.aliases.set(alias, target.name);
  }

  aliasesOf(name: string): string[] {
    return [...this.aliases].filter(([, t]) => t === name).map(([a]) => a);
  }

  async alter(collection: string, properties: Record<string, string>): Promise<void> {
    const c = this.get(collection);
    await this.save({ ...c, properties: { ...c.properties, ...properties } });
  }

  async setLoad(collection: string, load: LoadMeta | undefined): Promise<CollectionMeta> {
    const c = this.get(collection);
    const next = { ...c, load };
    if (!load) delete next.load;
    await this.save(next);
    return next;
  }
}
