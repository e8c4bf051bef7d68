import { KiteError, clip, type Logger } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import type { Wal } from '@kite/wal';
import type { ObjectStore } from '@kite/objectstore';
import { DEFAULT_DB, isDenseType, aliasOfKey, codecs, databaseOfKey, dbOf, keys, type CollectionMeta, type DatabaseRecord, type FieldMeta, type IndexMeta, type LoadMeta, type PartitionMeta } from '@kite/segment';
import { validateIndexParams, type IndexType } from '@kite/faiss';
import type { CreateCollectionRequest, FieldSchema } from '@kite/rpc';
import type { IdAllocator, Tso } from './tso';
import { isBm25Output, sparseIndexParams, SPARSE_INDEX_TYPES } from './sparse-index';
import { isScalarIndexField, sameJsonPath, scalarIndexSpec } from './scalar-index';
import { binaryIndexParams } from './binary-index';

const INDEX_TYPES: IndexType[] = ['FLAT', 'IVF_FLAT', 'IVF_SQ8', 'IVF_PQ', 'HNSW'];
const METRICS = ['L2', 'IP', 'COSINE'] as const;
/** AUTOINDEX resolves to HNSW with these build parameters (Milvus's own AUTOINDEX is graph-based too). */
const AUTOINDEX_PARAMS = { M: '16', efConstruction: '200' };
/** Milvus's rootCoord.maxDatabaseNum. */
export const MAX_DATABASES = 64;
/** Milvus's database name rule: letters, digits and underscores, first a letter or underscore, at most 64. */
const DB_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/**
 * The database properties Kite implements; any other key is refused rather than stored and ignored.
 * database.max.collections: the most collections the database may hold (Milvus's key; enforced on CreateCollection).
 */
export const DATABASE_PROPERTIES: ReadonlySet<string> = new Set(['database.max.collections']);

/** '' (a request that names no database) is "default". */
const dbName = (db: string | undefined): string => db || DEFAULT_DB;

function checkDatabaseName(name: string): void {
  if (!DB_NAME.test(name)) {
    throw new KiteError('DatabaseNameInvalid', `invalid database name "${clip(name, 128)}": use at most 64 letters, digits and underscores, starting with a letter or underscore`);
  }
}

function checkDatabaseProperties(props: Record<string, string>): void {
  for (const [k, v] of Object.entries(props)) {
    if (!DATABASE_PROPERTIES.has(k)) {
      throw new KiteError('ParameterInvalid', `database property "${clip(k, 128)}" is not supported by Kite; supported: ${[...DATABASE_PROPERTIES].join(', ')}`);
    }
    if (k === 'database.max.collections' && !/^\d{1,9}$/.test(v)) {
      throw new KiteError('ParameterInvalid', `database property database.max.collections must be a non-negative integer, got "${clip(v, 64)}"`);
    }
  }
}

/**
 * The collection catalogue: databases, collections, partitions, indexes and aliases. The coordinator is its only
 * writer; every change is written to the meta store before it is acknowledged, and readers (proxies, nodes) watch the
 * keys. Collections and aliases are scoped by database ('' = "default"); collection ids are unique across databases.
 */
export class Catalog {
  private readonly byId = new Map<number, CollectionMeta>();
  /** Database -> alias -> collection name. */
  private readonly aliasesByDb = new Map<string, Map<string, string>>();
  private readonly databases = new Map<string, DatabaseRecord>();
  /**
   * Changes that read a database and then write under it run one after another, so a collection or alias is never
   * created in a database a concurrent DropDatabase has just found empty and removed.
   */
  private serial: Promise<unknown> = Promise.resolve();

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

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
    for (const kv of aliases.kvs) {
      const { db, alias } = aliasOfKey(this.root, kv.key);
      this.aliasMap(db).set(alias, kv.value);
    }
    const dbs = await this.store.getPrefix(keys.databases(this.root));
    for (const kv of dbs.kvs) this.databases.set(databaseOfKey(this.root, kv.key), codecs.database.decode(kv.value, kv.key));
  }

  private aliasMap(db: string): Map<string, string> {
    let m = this.aliasesByDb.get(db);
    if (!m) this.aliasesByDb.set(db, (m = new Map()));
    return m;
  }

  /** A database; "default" always exists. */
  database(name: string | undefined): DatabaseRecord | undefined {
    const n = dbName(name);
    return this.databases.get(n) ?? (n === DEFAULT_DB ? { name: DEFAULT_DB, id: 1, createdTs: '0', properties: {} } : undefined);
  }

  /** The database named, or DatabaseNotFound (Milvus's code 800). */
  private mustDatabase(name: string | undefined): DatabaseRecord {
    const d = this.database(name);
    if (!d) throw new KiteError('DatabaseNotFound', `database not found[database=${clip(dbName(name), 128)}]`);
    return d;
  }

  createDatabase(name: string, properties: Record<string, string>): Promise<void> {
    return this.inTurn(() => this.createDatabaseNow(name, properties));
  }

  private async createDatabaseNow(name: string, properties: Record<string, string>): Promise<void> {
    checkDatabaseName(name);
    checkDatabaseProperties(properties);
    if (this.database(name)) throw new KiteError('DatabaseAlreadyExists', `database already exist: ${name}`);
    const count = new Set([DEFAULT_DB, ...this.databases.keys()]).size;
    if (count >= MAX_DATABASES) {
      throw new KiteError('DatabaseNumLimitExceeded', `database number (${count}) exceeds max configuration (${MAX_DATABASES}); drop a database first`);
    }
    const d: DatabaseRecord = { name, id: await this.ids.alloc(1), createdTs: (await this.tso.alloc(1)).toString(), properties };
    await this.store.put(keys.database(this.root, name), codecs.database.encode(d));
    this.databases.set(name, d);
    this.log.info({ database: name, id: d.id }, 'database created');
  }

  /** Milvus: dropping a missing database succeeds; "default" cannot be dropped; a database with collections is refused. */
  dropDatabase(name: string): Promise<void> {
    return this.inTurn(() => this.dropDatabaseNow(name));
  }

  private async dropDatabaseNow(name: string): Promise<void> {
    if (name === DEFAULT_DB) throw new KiteError('ParameterInvalid', 'can not drop default database');
    if (!this.databases.has(name)) return;
    const held = this.all(name);
    if (held.length > 0) {
      throw new KiteError('ParameterInvalid', `database:${name} not empty, must drop all collections before drop database (it holds ${held.length}: ${held.slice(0, 5).map((c) => c.name).join(', ')})`);
    }
    await this.store.delete(keys.database(this.root, name));
    this.databases.delete(name);
    this.aliasesByDb.delete(name);
    this.log.info({ database: name }, 'database dropped');
  }

  alterDatabase(name: string, set: Record<string, string>, deleteKeys: string[]): Promise<void> {
    return this.inTurn(() => this.alterDatabaseNow(name, set, deleteKeys));
  }

  private async alterDatabaseNow(name: string, set: Record<string, string>, deleteKeys: string[]): Promise<void> {
    const d = this.mustDatabase(name);
    checkDatabaseProperties(set);
    const properties = { ...d.properties, ...set };
    for (const k of deleteKeys) delete properties[k];
    const next = { ...d, properties };
    await this.store.put(keys.database(this.root, d.name), codecs.database.encode(next));
    this.databases.set(d.name, next);
  }

  /** Every collection, or those of database `db`. */
  all(db?: string): CollectionMeta[] {
    const list = [...this.byId.values()];
    return db === undefined ? list : list.filter((c) => dbOf(c) === dbName(db));
  }

  byID(id: number): CollectionMeta | undefined {
    return this.byId.get(id);
  }

  /** Resolves a collection name or alias within database `db` ('' = default). */
  find(name: string, db: string): CollectionMeta | undefined {
    const d = dbName(db);
    const real = this.aliasesByDb.get(d)?.get(name) ?? name;
    for (const c of this.byId.values()) if (c.name === real && dbOf(c) === d) return c;
    return undefined;
  }

  get(name: string, db: string): CollectionMeta {
    const c = this.find(name, db);
    if (!c) {
      this.mustDatabase(db);
      throw new KiteError('CollectionNotFound', `collection not found[database=${clip(dbName(db), 128)}][collection=${clip(name, 128)}]`);
    }
    return c;
  }

  private async save(c: CollectionMeta): Promise<void> {
    await this.store.put(keys.collection(this.root, c.collectionID), codecs.collection.encode(c));
    this.byId.set(c.collectionID, c);
  }

  /** A partition-key collection's partitions `_default_0` .. `_default_{n-1}` (n checked by the proxy). */
  private async keyPartitions(n: number, ts: string): Promise<PartitionMeta[]> {
    const count = n > 0 ? n : 16;
    const start = await this.ids.alloc(count);
    return Array.from({ length: count }, (_, i) => ({ partitionID: start + i, name: `_default_${i}`, createdTs: ts }));
  }

  createCollection(r: CreateCollectionRequest): Promise<number> {
    return this.inTurn(() => this.createCollectionNow(r));
  }

  private async createCollectionNow(r: CreateCollectionRequest): Promise<number> {
    const db = this.mustDatabase(r.db_name);
    const existing = this.find(r.name, db.name);
    if (this.aliasesByDb.get(db.name)?.has(r.name)) {
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
      ...(f.is_clustering_key ? { isClusteringKey: true } : {}),
      ...(f.data_type === 'Array' && f.element_type ? { elementType: f.element_type as FieldMeta['dataType'] } : {}),
      ...defaultOf(f),
    }));
    if (existing) {
      const sameFunctions =
        JSON.stringify((existing.functions ?? []).map((f) => [f.name, f.inputFieldNames, f.outputFieldNames])) ===
        JSON.stringify((r.functions ?? []).map((f) => [f.name, f.input_field_names, f.output_field_names]));
      const same =
        sameFunctions &&
        JSON.stringify(existing.fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.typeParams, f.nullable, f.defaultValue ?? null])) ===
          JSON.stringify(fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.typeParams, f.nullable, f.defaultValue ?? null]));
      if (same) return existing.collectionID; // Milvus treats an identical re-create as success
      throw new KiteError('CollectionAlreadyExists', `collection ${r.name} already exists with a different schema; drop it first or use another name`);
    }
    const max = db.properties['database.max.collections'];
    if (max !== undefined && this.all(db.name).length >= Number(max)) {
      throw new KiteError('ParameterInvalid', `database ${db.name} holds ${this.all(db.name).length} collections, its database.max.collections; drop one or raise the property`);
    }
    const id = await this.ids.alloc(1);
    const ts = (await this.tso.alloc(1)).toString();
    const topic = `${this.root}-dml-${id}`;
    const shards = r.shards_num > 0 ? r.shards_num : 1;
    await this.wal.createTopic(topic, shards);
    const c: CollectionMeta = {
      collectionID: id,
      name: r.name,
      description: r.description,
      fields,
      enableDynamicField: r.enable_dynamic_field,
      shardsNum: shards,
      topic,
      partitions: fields.some((f) => f.isPartitionKey)
        ? await this.keyPartitions(r.num_partitions, ts)
        : [{ partitionID: await this.ids.alloc(1), name: '_default', createdTs: ts }],
      indexes: [],
      consistencyLevel: r.consistency_level || 'Bounded',
      properties: r.properties,
      createdTs: ts,
    };
    if (r.functions?.length) {
      c.functions = r.functions.map((f) => ({
        name: f.name, id: f.id, description: f.description, type: 'BM25', inputFieldNames: f.input_field_names, outputFieldNames: f.output_field_names, params: f.params,
      }));
    }
    // "default" collections are stored without dbName, as before databases existed.
    if (db.name !== DEFAULT_DB) c.dbName = db.name;
    await this.save(c);
    this.log.info({ collection: r.name, id, shards }, 'collection created');
    return id;
  }

  async dropCollection(name: string, db: string): Promise<CollectionMeta | undefined> {
    this.mustDatabase(db);
    const c = this.find(name, db);
    if (!c) return undefined; // Milvus: dropping a missing collection succeeds
    const aliases = this.aliasesByDb.get(dbName(db)) ?? new Map<string, string>();
    if (aliases.get(name)) throw new KiteError('ParameterInvalid', `"${name}" is an alias; drop the alias or name the collection`);
    for (const [alias, target] of aliases) {
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

  async createPartition(collection: string, partition: string, db: string): Promise<void> {
    const c = this.get(collection, db);
    if (c.partitions.some((p) => p.name === partition)) return;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(partition)) {
      throw new KiteError('ParameterInvalid', `invalid partition name "${partition}": use letters, digits and underscores, starting with a letter or underscore`);
    }
    const id = await this.ids.alloc(1);
    const ts = (await this.tso.alloc(1)).toString();
    await this.save({ ...c, partitions: [...c.partitions, { partitionID: id, name: partition, createdTs: ts }] });
  }

  async dropPartition(collection: string, partition: string, db: string): Promise<void> {
    const c = this.get(collection, db);
    if (partition === '_default') throw new KiteError('ParameterInvalid', 'the _default partition cannot be dropped');
    const p = c.partitions.find((x) => x.name === partition);
    if (!p) return;
    if (c.load && (c.load.all || c.load.partitionIDs.includes(p.partitionID))) {
      throw new KiteError('ParameterInvalid', `partition ${partition} is loaded; release it before dropping`);
    }
    await this.save({ ...c, partitions: c.partitions.filter((x) => x.name !== partition) });
  }

  async createIndex(collection: string, fieldName: string, indexName: string, params: Record<string, string>, db: string): Promise<void> {
    const c = this.get(collection, db);
    const field = c.fields.find((f) => f.name === fieldName);
    if (!field) throw new KiteError('ParameterInvalid', `cannot create index on non-existent field: ${fieldName}`);
    if (isScalarIndexField(field)) return this.createScalarIndex(c, field, indexName, params);
    if (!isDenseType(field.dataType) && field.dataType !== 'SparseFloatVector' && field.dataType !== 'BinaryVector') {
      throw new KiteError('IndexNotSupported', `field ${fieldName} is ${field.dataType}: no index type of Kite applies to it`);
    }
    const sparse = field.dataType === 'SparseFloatVector';
    const binary = field.dataType === 'BinaryVector';
    const requested = (params.index_type ?? 'AUTOINDEX').toUpperCase();
    const metric = (params.metric_type ?? (sparse ? (isBm25Output(c, fieldName) ? 'BM25' : 'IP') : binary ? 'HAMMING' : 'COSINE')).toUpperCase();
    if (!sparse && !binary && !(METRICS as readonly string[]).includes(metric)) {
      throw new KiteError('IndexNotSupported', `metric_type "${metric}" is not supported for ${field.dataType} field ${fieldName}; use L2, IP or COSINE`);
    }
    let indexType = requested === 'AUTOINDEX' ? (sparse ? 'SPARSE_INVERTED_INDEX' : 'HNSW') : requested;
    if (binary) {
      // Checked with its parameters below.
    } else if (sparse) {
      if (!(SPARSE_INDEX_TYPES as readonly string[]).includes(indexType)) {
        throw new KiteError('IndexNotSupported', `index_type "${requested}" is not supported for SparseFloatVector field ${fieldName}; use one of ${[...SPARSE_INDEX_TYPES, 'AUTOINDEX'].join(', ')}`);
      }
    } else if (field.dataType === 'Int8Vector' && indexType !== 'HNSW') {
      // Milvus 2.6 indexes Int8Vector fields with HNSW only.
      throw new KiteError('IndexNotSupported', `index_type "${requested}" is not supported for Int8Vector field ${fieldName}; use HNSW or AUTOINDEX`);
    } else if (!(INDEX_TYPES as string[]).includes(indexType)) {
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
    let validated: Record<string, number | undefined>;
    if (binary) {
      const b = binaryIndexParams(fieldName, requested, metric, user);
      indexType = b.indexType;
      validated = b.params;
    } else if (sparse) {
      validated = sparseIndexParams(c, fieldName, metric, user);
    } else {
      const build: Record<string, unknown> = requested === 'AUTOINDEX' ? { ...AUTOINDEX_PARAMS, ...user } : user;
      try {
        validated = validateIndexParams(indexType as IndexType, Number(field.typeParams.dim), build) as Record<string, number | undefined>;
      } catch (e) {
        throw new KiteError('IndexNotSupported', `invalid ${indexType} parameters: ${(e as Error).message}`);
      }
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

  /** A scalar index (INVERTED, STL_SORT, Trie, BITMAP, AUTOINDEX): checked as Milvus does, no metric. */
  private async createScalarIndex(c: CollectionMeta, field: FieldMeta, indexName: string, params: Record<string, string>): Promise<void> {
    const requested = (params.index_type ?? 'AUTOINDEX').toUpperCase();
    if (params.metric_type) {
      throw new KiteError('ParameterInvalid', `metric_type is only valid for vector indexes; field ${field.name} is ${field.dataType}: remove metric_type`);
    }
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
    const spec = scalarIndexSpec(field, requested, user);
    const name = indexName || field.name;
    // A JSON field takes one index per path and cast type (several per field); other fields one index.
    const existing = c.indexes.find((i) => i.fieldName === field.name && sameJsonPath(i.params, spec.params, field.name));
    if (existing) {
      const same = existing.indexType === spec.indexType && existing.requestedIndexType === requested && JSON.stringify(existing.params) === JSON.stringify(spec.params);
      if (same && existing.indexName === name) return;
      if (spec.params.json_path !== undefined) {
        throw new KiteError('IndexDuplicate', `JSON field ${field.name} already has index "${existing.indexName}" on json_path ${existing.params.json_path} with json_cast_type ${existing.params.json_cast_type}; drop it first`);
      }
      throw new KiteError('IndexDuplicate', `at most one distinct index is allowed per field: field ${field.name} already has index "${existing.indexName}" (${existing.indexType}); drop it first`);
    }
    if (c.indexes.some((i) => i.indexName === name)) {
      throw new KiteError('IndexDuplicate', `index name "${name}" is already used in collection ${c.name}`);
    }
    const idx: IndexMeta = {
      indexID: await this.ids.alloc(1),
      indexName: name,
      fieldName: field.name,
      fieldID: field.fieldID,
      indexType: spec.indexType,
      requestedIndexType: requested,
      metricType: '',
      params: spec.params,
      userParams: Object.fromEntries(Object.entries(user).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
      createdTs: (await this.tso.alloc(1)).toString(),
    };
    await this.save({ ...c, indexes: [...c.indexes, idx] });
  }

  async dropIndex(collection: string, fieldName: string, indexName: string, db: string): Promise<void> {
    const c = this.get(collection, db);
    const idx = c.indexes.find((i) => (indexName ? i.indexName === indexName : i.fieldName === fieldName));
    if (!idx) return;
    if (c.load) throw new KiteError('ParameterInvalid', `index ${idx.indexName} cannot be dropped while collection ${c.name} is loaded; release it first`);
    await this.save({ ...c, indexes: c.indexes.filter((i) => i !== idx) });
  }

  changeAlias(op: 'create' | 'alter' | 'drop', alias: string, collection: string, db: string): Promise<void> {
    return this.inTurn(() => this.changeAliasNow(op, alias, collection, db));
  }

  private async changeAliasNow(op: 'create' | 'alter' | 'drop', alias: string, collection: string, db: string): Promise<void> {
    const d = this.mustDatabase(db).name;
    const aliases = this.aliasMap(d);
    if (op === 'drop') {
      if (!aliases.has(alias)) return;
      await this.store.delete(keys.alias(this.root, alias, d));
      aliases.delete(alias);
      return;
    }
    const target = this.get(collection, d);
    if (aliases.has(collection)) throw new KiteError('ParameterInvalid', `"${collection}" is an alias; an alias must point at a collection`);
    if (this.all(d).some((c) => c.name === alias)) {
      throw new KiteError('AliasCollectionNameConflict', `alias "${alias}" collides with a collection name`);
    }
    const cur = aliases.get(alias);
    if (op === 'create' && cur !== undefined && cur !== target.name) {
      throw new KiteError('AliasAlreadyExists', `alias "${alias}" already points at collection ${cur}; use alter_alias to move it`);
    }
    if (op === 'alter' && cur === undefined) throw new KiteError('AliasNotFound', `alias "${alias}" does not exist; create it first`);
    await this.store.put(keys.alias(this.root, alias, d), target.name);
    aliases.set(alias, target.name);
  }

  aliasesOf(name: string, db: string): string[] {
    return [...(this.aliasesByDb.get(dbName(db)) ?? [])].filter(([, t]) => t === name).map(([a]) => a);
  }

  alter(collection: string, properties: Record<string, string>, db: string, deleteKeys: string[] = []): Promise<void> {
    return this.inTurn(async () => {
      const c = this.get(collection, db);
      const next = { ...c.properties, ...properties };
      for (const k of deleteKeys) delete next[k];
      await this.save({ ...c, properties: next });
    });
  }

  /**
   * Renames a collection, within its database or into another one (Milvus's rules: the new name is free in the
   * target database and is no alias there; a collection with aliases cannot move to another database). Data, load
   * state and ids stay: everything else is keyed by the collection id. Aliases in the same database keep pointing.
   */
  rename(db: string, oldName: string, newName: string, newDb: string): Promise<void> {
    return this.inTurn(async () => {
      const from = this.mustDatabase(db).name;
      const to = this.mustDatabase(newDb || from).name;
      if (this.aliasesByDb.get(from)?.has(oldName)) {
        throw new KiteError('ParameterInvalid', `"${clip(oldName, 128)}" is an alias; rename the collection it points at (${this.aliasesByDb.get(from)!.get(oldName)})`);
      }
      const c = this.get(oldName, from);
      if (from === to && oldName === newName) throw new KiteError('ParameterInvalid', `collection ${clip(oldName, 128)} already has the name ${clip(newName, 128)}`);
      if (this.find(newName, to)) {
        throw new KiteError('ParameterInvalid', `duplicated new collection name ${clip(newName, 128)} in database ${clip(to, 128)} with other collection name or alias`);
      }
      const aliases = this.aliasesOf(c.name, from);
      if (from !== to && aliases.length > 0) {
        throw new KiteError('ParameterInvalid', `fail to rename collection ${c.name} to database ${to}: it has aliases (${aliases.join(', ')}); drop them first`);
      }
      const next: CollectionMeta = { ...c, name: newName };
      if (to === DEFAULT_DB) delete next.dbName;
      else next.dbName = to;
      await this.save(next);
      for (const a of aliases) {
        await this.store.put(keys.alias(this.root, a, from), newName);
        this.aliasMap(from).set(a, newName);
      }
      this.log.info({ from: `${from}.${oldName}`, to: `${to}.${newName}`, id: c.collectionID }, 'collection renamed');
    });
  }

  /**
   * Appends a field (AddCollectionField; the proxy checked it is a nullable scalar). Its id follows the largest one;
   * rows written before read NULL, or its default value.
   */
  addField(collection: string, db: string, f: FieldSchema, ts: bigint): Promise<void> {
    return this.inTurn(async () => {
      const c = this.get(collection, db);
      if (c.fields.some((x) => x.name === f.name)) throw new KiteError('ParameterInvalid', `duplicate field name: ${clip(f.name, 128)}`);
      const fieldID = Math.max(...c.fields.map((x) => x.fieldID)) + 1;
      const field: FieldMeta = {
        fieldID, name: f.name, dataType: f.data_type as FieldMeta['dataType'], isPrimaryKey: false, autoID: false,
        description: f.description, typeParams: f.type_params, isDynamic: false, isPartitionKey: false, nullable: true,
        ...defaultOf(f),
      };
      // The dynamic field stays last, as in a created collection.
      const dyn = c.fields.filter((x) => x.isDynamic);
      await this.save({ ...c, fields: [...c.fields.filter((x) => !x.isDynamic), field, ...dyn], schemaTs: ts.toString() });
      this.log.info({ collection: c.name, id: c.collectionID, field: f.name, fieldID }, 'field added');
    });
  }

  /** Sets and removes a field's type params (the proxy checks which: max_length of a VarChar, mmap.enabled). */
  alterField(collection: string, db: string, field: string, set: Record<string, string>, deleteKeys: string[]): Promise<void> {
    return this.inTurn(async () => {
      const c = this.get(collection, db);
      if (!c.fields.some((f) => f.name === field && !f.isDynamic)) {
        throw new KiteError('ParameterInvalid', `field ${clip(field, 128)} does not exist in collection ${c.name}`);
      }
      const fields = c.fields.map((f) => {
        if (f.name !== field) return f;
        const typeParams = { ...f.typeParams, ...set };
        for (const k of deleteKeys) delete typeParams[k];
        return { ...f, typeParams };
      });
      await this.save({ ...c, fields });
    });
  }

  /** Truncates a collection: rows written at or before `ts` are gone for every reader (CollectionMeta.truncatedTs). */
  truncate(collection: string, db: string, ts: bigint): Promise<void> {
    return this.inTurn(async () => {
      const c = this.get(collection, db);
      const prev = BigInt(c.truncatedTs ?? '0');
      await this.save({ ...c, truncatedTs: (ts > prev ? ts : prev).toString() });
      this.log.info({ collection: c.name, id: c.collectionID, ts: ts.toString() }, 'collection truncated');
    });
  }

  async setLoad(collection: string, load: LoadMeta | undefined, db: string): Promise<CollectionMeta> {
    const c = this.get(collection, db);
    const next = { ...c, load };
    if (!load) delete next.load;
    await this.save(next);
    return next;
  }
}

/** The default value of an internal FieldSchema (JSON text) as FieldMeta keeps it. */
function defaultOf(f: FieldSchema): Pick<FieldMeta, 'defaultValue'> {
  if (!f.default_value) return {};
  return { defaultValue: JSON.parse(f.default_value) as NonNullable<FieldMeta['defaultValue']> };
}
