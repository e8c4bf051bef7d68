/**
 * The endpoints of the RESTful API v2, by path under /v2/vectordb: each one's body (a zod schema, field names as
 * in Milvus's REST documentation), the MilvusService method it is authenticated as, and what it does with the
 * handlers. Field names and defaults follow Milvus's REST server: `dbName` (default "default"), `collectionName`,
 * `partitionName(s)`, `filter`, `outputFields`, `limit`, `offset`, `annsField`, `searchParams`, ...
 */
import { z } from 'zod';
import { KiteError, clip } from '@kite/common';
import { DATA_TYPES, encodeMessage, type MilvusMethodName } from '@kite/proto';
import type { Decoded } from './invoke';
import { columnsToRows, f32, queryVectors, rowCount, rowsToColumns, schemaOf, type Schema } from './rows';

export interface EndpointContext {
  /** The database the call acts in (dbName, default "default"). */
  db: string;
  /** Int64 values answered as decimal strings (header Accept-Type-Allow-Int64: false). */
  int64AsText: boolean;
  /** Calls a MilvusService handler; the answer is the decoded response, a failed status is thrown. */
  invoke(method: MilvusMethodName, request: object, authorize?: boolean): Promise<Decoded>;
}

export interface Endpoint {
  /** The method the call is authenticated as (its deadline class too). */
  method: MilvusMethodName;
  schema: z.ZodTypeAny;
  /** Database endpoints act on the database they name, not within it. */
  databaseFree?: boolean;
  /** The answer's fields besides `code` (`{ data }` when absent). */
  run(body: unknown, ctx: EndpointContext): Promise<Record<string, unknown> | undefined>;
}

const name = z.string().min(1, 'must not be empty');
const db = { dbName: z.string().optional() };
const coll = { ...db, collectionName: name };
const partitions = z.array(z.string()).optional();
const consistency = z.enum(['Strong', 'Session', 'Bounded', 'Eventually', 'Customized']).optional();
const jsonObject = z.record(z.unknown());

/** An endpoint with its body's type from its schema. */
function ep<S extends z.ZodTypeAny>(method: MilvusMethodName, schema: S, run: (body: z.infer<S>, ctx: EndpointContext) => Promise<Record<string, unknown> | undefined>, databaseFree = false): Endpoint {
  return { method, schema, run: run as unknown as Endpoint['run'], databaseFree };
}

const data = (value: unknown): Record<string, unknown> => ({ data: value });
const kv = (o: Record<string, unknown> | undefined): { key: string; value: string }[] =>
  Object.entries(o ?? {}).map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v) }));
const pairs = (list: unknown): { key: string; value: string }[] => (list as { key: string; value: string }[] | undefined) ?? [];
const statValue = (res: Decoded, key: string): number => Number(pairs(res.stats).find((p) => p.key === key)?.value ?? 0);

const invalid = (message: string): KiteError => new KiteError('ParameterInvalid', message);

async function describe(ctx: EndpointContext, collectionName: string, authorize = false): Promise<Decoded> {
  return ctx.invoke('DescribeCollection', { db_name: ctx.db, collection_name: collectionName }, authorize);
}

async function schemaFor(ctx: EndpointContext, collectionName: string): Promise<Schema> {
  return schemaOf(await describe(ctx, collectionName));
}

// ---------------------------------------------------------------------------------------------------------------
// collections/create

const fieldSchema = z.object({
  fieldName: name,
  dataType: z.string(),
  elementDataType: z.string().optional(),
  isPrimary: z.boolean().optional(),
  isPartitionKey: z.boolean().optional(),
  isClusteringKey: z.boolean().optional(),
  nullable: z.boolean().optional(),
  defaultValue: z.unknown().optional(),
  description: z.string().optional(),
  elementTypeParams: jsonObject.optional(),
});

const indexParam = z.object({
  fieldName: name,
  indexName: z.string().optional(),
  metricType: z.string().optional(),
  indexType: z.string().optional(),
  params: jsonObject.optional(),
});

const createCollection = z.object({
  ...coll,
  description: z.string().optional(),
  dimension: z.number().int().positive().optional(),
  metricType: z.string().optional(),
  idType: z.enum(['Int64', 'VarChar']).optional(),
  autoID: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
  primaryFieldName: z.string().optional(),
  vectorFieldName: z.string().optional(),
  schema: z
    .object({
      autoId: z.boolean().optional(),
      enableDynamicField: z.boolean().optional(),
      enabledDynamicField: z.boolean().optional(),
      fields: z.array(fieldSchema).min(1, 'needs at least the primary key and a vector field'),
      functions: z
        .array(
          z.object({
            name,
            type: z.string(),
            description: z.string().optional(),
            inputFieldNames: z.array(z.string()),
            outputFieldNames: z.array(z.string()),
            params: jsonObject.optional(),
          }),
        )
        .optional(),
    })
    .optional(),
  indexParams: z.array(indexParam).optional(),
  params: jsonObject.optional(),
});

function dataType(field: string, type: string): string {
  // Milvus's REST server also takes the names in any case ("int64", "FLOATVECTOR").
  const found = Object.keys(DATA_TYPES).find((t) => t.toLowerCase() === type.toLowerCase());
  if (!found || found === 'None') throw invalid(`field ${field}: dataType "${clip(type, 64)}" is not a Milvus data type; use one of Bool, Int8, Int16, Int32, Int64, Float, Double, VarChar, JSON, Array, FloatVector, BinaryVector, Float16Vector, BFloat16Vector, SparseFloatVector, Int8Vector`);
  return found;
}

function defaultValue(type: string, v: unknown): object | undefined {
  if (v === undefined || v === null) return undefined;
  switch (type) {
    case 'Bool':
      return { bool_data: v };
    case 'Int8':
    case 'Int16':
    case 'Int32':
      return { int_data: v };
    case 'Int64':
      return { long_data: typeof v === 'number' || typeof v === 'string' ? String(v) : v };
    case 'Float':
      return { float_data: v };
    case 'Double':
      return { double_data: v };
    default:
      return { string_data: typeof v === 'string' ? v : JSON.stringify(v) };
  }
}

type CreateBody = z.infer<typeof createCollection>;

/** The collection's schema (as CollectionSchema's fields) and the indexes to create: quick form or full `schema`. */
function collectionSchema(b: CreateBody): { schema: object; indexes: z.infer<typeof indexParam>[] } {
  const p = b.params ?? {};
  if (b.schema) {
    const s = b.schema;
    const fields = s.fields.map((f) => {
      const type = dataType(f.fieldName, f.dataType);
      const element = f.elementDataType ? dataType(f.fieldName, f.elementDataType) : undefined;
      if (type === 'Array' && !element) throw new KiteError('RestParameterMissing', `missing required parameters: field ${f.fieldName} of type Array needs elementDataType`);
      return {
        name: f.fieldName,
        description: f.description ?? '',
        data_type: type,
        element_type: element ?? 'None',
        is_primary_key: f.isPrimary ?? false,
        autoID: (f.isPrimary ?? false) && (s.autoId ?? false),
        is_partition_key: f.isPartitionKey ?? false,
        is_clustering_key: f.isClusteringKey ?? false,
        nullable: f.nullable ?? false,
        type_params: kv(f.elementTypeParams),
        default_value: defaultValue(type, f.defaultValue) ?? null,
      };
    });
    const functions = (s.functions ?? []).map((fn) => ({
      name: fn.name,
      description: fn.description ?? '',
      type: fn.type,
      input_field_names: fn.inputFieldNames,
      output_field_names: fn.outputFieldNames,
      params: kv(fn.params),
    }));
    const dynamic = s.enableDynamicField ?? s.enabledDynamicField ?? false;
    return {
      schema: { name: b.collectionName, description: b.description ?? '', autoID: s.autoId ?? false, enable_dynamic_field: dynamic, fields, functions },
      indexes: b.indexParams ?? [],
    };
  }
  if (b.dimension === undefined) throw new KiteError('RestParameterMissing', 'missing required parameters: dimension (quick create) or schema (custom schema) is required');
  const pk = b.primaryFieldName || 'id';
  const vec = b.vectorFieldName || 'vector';
  if (pk === vec) throw invalid(`primaryFieldName and vectorFieldName are both "${clip(pk, 64)}": give them different names`);
  const idType = b.idType ?? 'Int64';
  const autoID = b.autoID === true || b.autoID === 'true';
  const pkParams = idType === 'VarChar' ? [{ key: 'max_length', value: String(p.max_length ?? 65535) }] : [];
  return {
    schema: {
      name: b.collectionName,
      description: b.description ?? '',
      autoID,
      enable_dynamic_field: p.enableDynamicField === undefined ? true : p.enableDynamicField === true || p.enableDynamicField === 'true',
      fields: [
        { name: pk, data_type: idType, is_primary_key: true, autoID, type_params: pkParams },
        { name: vec, data_type: 'FloatVector', type_params: [{ key: 'dim', value: String(b.dimension) }] },
      ],
    },
    indexes: [{ fieldName: vec, indexName: vec, metricType: b.metricType ?? 'COSINE', indexType: 'AUTOINDEX' }],
  };
}

function indexRequest(ctx: EndpointContext, collectionName: string, i: z.infer<typeof indexParam>): object {
  const params = { ...(i.params ?? {}) };
  const indexType = i.indexType ?? (typeof params.index_type === 'string' ? params.index_type : 'AUTOINDEX');
  delete params.index_type;
  const extra = [{ key: 'index_type', value: indexType }];
  if (i.metricType) extra.push({ key: 'metric_type', value: i.metricType });
  if (Object.keys(params).length) extra.push({ key: 'params', value: JSON.stringify(params) });
  return { db_name: ctx.db, collection_name: collectionName, field_name: i.fieldName, index_name: i.indexName ?? '', extra_params: extra };
}

const LOAD_STATES = new Set(['LoadStateNotExist', 'LoadStateNotLoad', 'LoadStateLoading', 'LoadStateLoaded']);

async function loadState(ctx: EndpointContext, collectionName: string, partitionNames: string[] = []): Promise<Record<string, unknown>> {
  const res = await ctx.invoke('GetLoadState', { db_name: ctx.db, collection_name: collectionName, partition_names: partitionNames });
  const state = String(res.state);
  if (state === 'LoadStateNotExist') throw new KiteError('CollectionNotFound', `collection not found[collection=${clip(collectionName, 128)}]`);
  if (state !== 'LoadStateLoading' && state !== 'LoadStateLoaded') return { loadState: LOAD_STATES.has(state) ? state : 'LoadStateNotLoad' };
  const progress = await ctx.invoke('GetLoadingProgress', { db_name: ctx.db, collection_name: collectionName, partition_names: partitionNames });
  const pct = Number(progress.progress);
  return { loadState: pct >= 100 ? 'LoadStateLoaded' : 'LoadStateLoading', loadProgress: pct };
}

// ---------------------------------------------------------------------------------------------------------------
// entities

const rowsBody = z.object({
  ...coll,
  data: z.union([z.array(z.unknown()).min(1, 'needs at least one row'), jsonObject]),
  partitionName: z.string().optional(),
});

const consistencyOf = (level: string | undefined): object => (level ? { consistency_level: level, use_default_consistency: false } : { use_default_consistency: true });

/** The dynamic field's keys to answer: those the request named, or all of them for "*" or no output fields. */
const dynamicKeys = (requested: readonly string[] | undefined): Set<string> | undefined =>
  !requested?.length || requested.includes('*') || requested.includes('$meta') ? undefined : new Set(requested);

const outputOf = (res: Decoded, ctx: EndpointContext, requested: readonly string[] | undefined): Record<string, unknown>[] => {
  const cols = (res.fields_data as Decoded[] | undefined) ?? [];
  return columnsToRows(cols, rowCount(cols), ctx.int64AsText, dynamicKeys(requested));
};

const idsOut = (ids: unknown, ctx: EndpointContext): unknown[] => {
  // Int64 keys of a write's answer may be numbers (see write.ts), of other answers decimal strings.
  const i = ids as { int_id?: { data: (string | number)[] }; str_id?: { data: string[] } } | null;
  if (i?.int_id) return i.int_id.data.map((x) => (ctx.int64AsText ? String(x) : Number(x)));
  return i?.str_id?.data ?? [];
};

async function write(body: z.infer<typeof rowsBody>, ctx: EndpointContext, upsert: boolean): Promise<Record<string, unknown>> {
  const schema = await schemaFor(ctx, body.collectionName);
  const rows = Array.isArray(body.data) ? body.data : [body.data];
  const fields_data = rowsToColumns(schema, rows, upsert);
  const method = upsert ? 'Upsert' : 'Insert';
  const res = await ctx.invoke(method, { db_name: ctx.db, collection_name: body.collectionName, partition_name: body.partitionName ?? '', fields_data, num_rows: rows.length });
  const ids = idsOut(res.IDs, ctx);
  return upsert ? data({ upsertCount: Number(res.upsert_cnt), upsertIds: ids }) : data({ insertCount: Number(res.insert_cnt), insertIds: ids });
}

/** `pk in [...]` for the ids of a get or delete (one id or a list; Int64 as numbers or decimal strings). */
function idFilter(schema: Schema, id: unknown): string {
  const ids = Array.isArray(id) ? id : [id];
  if (ids.length === 0) throw new KiteError('RestParameterMissing', 'missing required parameters: id must name at least one primary key');
  const pk = schema.primary;
  const text = ids.map((v) => {
    if (pk.data_type === 'Int64') {
      if ((typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v))) return String(v);
    } else if (typeof v === 'string') return JSON.stringify(v);
    throw new KiteError('ParameterInvalid', `id ${clip(JSON.stringify(v) ?? String(v), 64)} is not a value of the primary key ${pk.name} (${pk.data_type})`);
  });
  return `${pk.name} in [${text.join(', ')}]`;
}

const searchParams = z
  .object({
    metricType: z.string().optional(),
    params: jsonObject.optional(),
  })
  .passthrough();

const subSearch = {
  data: z.array(z.unknown()).min(1, 'needs at least one query vector'),
  annsField: z.string().optional(),
  filter: z.string().optional(),
  limit: z.number().int().positive().optional(),
  offset: z.number().int().nonnegative().optional(),
  groupingField: z.string().optional(),
  searchParams: searchParams.optional(),
  params: searchParams.optional(),
};

const searchBody = z.object({
  ...coll,
  ...subSearch,
  outputFields: z.array(z.string()).optional(),
  partitionNames: partitions,
  consistencyLevel: consistency,
  roundDecimal: z.number().int().optional(),
});

const hybridBody = z.object({
  ...coll,
  search: z.array(z.object(subSearch)).min(1, 'needs at least one search'),
  rerank: z.object({ strategy: z.enum(['rrf', 'weighted']), params: jsonObject.optional() }),
  limit: z.number().int().positive().optional(),
  offset: z.number().int().nonnegative().optional(),
  outputFields: z.array(z.string()).optional(),
  partitionNames: partitions,
  consistencyLevel: consistency,
});

/** Milvus's REST server answers at most 100 hits or rows when the request names no limit. */
const DEFAULT_LIMIT = 100;

function searchRequest(ctx: EndpointContext, schema: Schema, collectionName: string, s: z.infer<z.ZodObject<typeof subSearch>>, limit: number): object {
  const vectorFields = schema.fields.filter((f) => f.data_type.endsWith('Vector'));
  const anns = s.annsField ?? (vectorFields.length === 1 ? vectorFields[0]!.name : undefined);
  if (anns === undefined) throw new KiteError('RestParameterMissing', `missing required parameters: annsField is required, the collection has several vector fields (${vectorFields.map((f) => f.name).join(', ')})`);
  const field = vectorFields.find((f) => f.name === anns);
  if (!field) throw invalid(`annsField "${clip(anns, 128)}" is not a vector field of ${clip(collectionName, 128)}; name one of ${vectorFields.map((f) => f.name).join(', ')}`);
  const { type, values } = queryVectors(field, s.data, (what) => invalid(`data: ${what}`));
  // Search parameters come as `searchParams` (search) or `params` (a hybrid search's sub-search), both of the form
  // {metricType, params: {...}, <other search params>}.
  const { metricType, params, ...rest } = { ...(s.params ?? {}), ...(s.searchParams ?? {}) } as z.infer<typeof searchParams>;
  const inner = { ...(params ?? {}) };
  const kvs = [
    { key: 'anns_field', value: anns },
    { key: 'topk', value: String(limit) },
    { key: 'params', value: JSON.stringify(inner) },
    ...(metricType ? [{ key: 'metric_type', value: metricType }] : []),
    ...(s.offset ? [{ key: 'offset', value: String(s.offset) }] : []),
    ...(s.groupingField ? [{ key: 'group_by_field', value: s.groupingField }] : []),
    ...kv(rest as Record<string, unknown>),
  ];
  return {
    db_name: ctx.db,
    collection_name: collectionName,
    dsl: s.filter ?? '',
    dsl_type: 'BoolExprV1',
    placeholder_group: encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [{ tag: '$0', type, values }] }),
    search_params: kvs,
    nq: values.length,
  };
}

/** Hits as Milvus's REST server lists them: every query's hits in turn, each row with its key, distance and outputs. */
function hits(res: Decoded, schema: Schema, ctx: EndpointContext, requested: readonly string[] | undefined): Record<string, unknown> {
  const r = res.results as Decoded | null;
  if (!r) return { data: [], topks: [] };
  const ids = idsOut(r.ids, ctx);
  const scores = (r.scores as number[] | undefined) ?? [];
  const cols = (r.fields_data as Decoded[] | undefined) ?? [];
  // Without output fields a hit carries its key and distance only.
  const rows = requested?.length ? columnsToRows(cols, ids.length, ctx.int64AsText, dynamicKeys(requested)) : ids.map(() => ({}));
  const pk = (r.primary_field_name as string | undefined) || schema.primary.name;
  const out = rows.map((row, i) => ({ ...row, [pk]: ids[i], distance: f32(scores[i] ?? NaN) }));
  return { data: out, topks: ((r.topks as string[] | undefined) ?? []).map(Number) };
}

// ---------------------------------------------------------------------------------------------------------------
// The endpoints

const partitionBody = z.object({ ...coll, partitionName: name });
const partitionsBody = z.object({ ...coll, partitionNames: z.array(name).min(1, 'needs at least one partition') });
const aliasBody = z.object({ ...db, aliasName: name });
const aliasCollectionBody = z.object({ ...coll, aliasName: name });
const indexBody = z.object({ ...coll, indexName: name });
const dbBody = z.object({ dbName: name, properties: jsonObject.optional() });

export const ENDPOINTS: Record<string, Endpoint> = {
  'collections/create': ep('CreateCollection', createCollection, async (b, ctx) => {
    const { schema, indexes } = collectionSchema(b);
    const p = b.params ?? {};
    const properties = kv({
      ...(p.ttlSeconds !== undefined ? { 'collection.ttl.seconds': p.ttlSeconds } : {}),
      ...(p.mmap_enabled !== undefined ? { 'mmap.enabled': p.mmap_enabled } : {}),
    });
    await ctx.invoke('CreateCollection', {
      db_name: ctx.db,
      collection_name: b.collectionName,
      schema: encodeMessage('milvus.proto.schema.CollectionSchema', schema),
      shards_num: Number(p.shardsNum ?? 1),
      consistency_level: typeof p.consistencyLevel === 'string' ? p.consistencyLevel : 'Bounded',
      properties,
      num_partitions: p.partitionsNum !== undefined ? String(p.partitionsNum) : '0',
    });
    // As Milvus: with index parameters (always for the quick form) the collection is indexed and loaded.
    if (indexes.length) {
      for (const i of indexes) await ctx.invoke('CreateIndex', indexRequest(ctx, b.collectionName, i));
      await ctx.invoke('LoadCollection', { db_name: ctx.db, collection_name: b.collectionName });
    }
    return undefined;
  }),
  'collections/describe': ep('DescribeCollection', z.object(coll), async (b, ctx) => {
    const d = await describe(ctx, b.collectionName, true);
    const schema = schemaOf(d);
    const s = d.schema as Decoded;
    const indexes = await ctx.invoke('DescribeIndex', { db_name: ctx.db, collection_name: b.collectionName }, false).catch(() => ({ index_descriptions: [] }) as Decoded);
    const state = await loadState(ctx, b.collectionName).catch(() => ({ loadState: '' }));
    const partitions = await ctx.invoke('ShowPartitions', { db_name: ctx.db, collection_name: b.collectionName }, false).catch(() => ({ partition_names: [] }) as Decoded);
    return data({
      collectionName: d.collection_name,
      collectionID: Number(d.collectionID),
      description: s.description,
      autoId: schema.primary.autoID,
      enableDynamicField: schema.dynamic,
      fields: schema.fields.map((f) => ({
        name: f.name,
        type: f.data_type,
        ...(f.data_type === 'Array' ? { elementType: f.element_type } : {}),
        primaryKey: f.is_primary_key,
        partitionKey: (f as unknown as Decoded).is_partition_key,
        clusteringKey: (f as unknown as Decoded).is_clustering_key,
        autoId: f.autoID,
        nullable: f.nullable,
        description: (f as unknown as Decoded).description,
        id: Number((f as unknown as Decoded).fieldID),
        params: f.type_params,
      })),
      functions: ((s.functions as Decoded[] | undefined) ?? []).map((fn) => ({
        name: fn.name,
        type: fn.type,
        description: fn.description,
        inputFieldNames: fn.input_field_names,
        outputFieldNames: fn.output_field_names,
        params: fn.params,
      })),
      indexes: ((indexes.index_descriptions as Decoded[] | undefined) ?? []).map((i) => ({
        fieldName: i.field_name,
        indexName: i.index_name,
        metricType: pairs(i.params).find((x) => x.key === 'metric_type')?.value ?? '',
      })),
      load: state.loadState,
      shardsNum: d.shards_num,
      partitionsNum: ((partitions.partition_names as string[] | undefined) ?? []).length,
      consistencyLevel: d.consistency_level,
      aliases: d.aliases,
      properties: d.properties,
      dbName: d.db_name || ctx.db,
    });
  }),
  'collections/list': ep('ShowCollections', z.object(db), async (_b, ctx) => {
    const res = await ctx.invoke('ShowCollections', { db_name: ctx.db });
    return data(res.collection_names);
  }),
  'collections/has': ep('HasCollection', z.object(coll), async (b, ctx) => {
    const res = await ctx.invoke('HasCollection', { db_name: ctx.db, collection_name: b.collectionName });
    return data({ has: res.value === true });
  }),
  'collections/drop': ep('DropCollection', z.object(coll), async (b, ctx) => {
    await ctx.invoke('DropCollection', { db_name: ctx.db, collection_name: b.collectionName });
    return undefined;
  }),
  'collections/rename': ep('RenameCollection', z.object({ ...coll, newCollectionName: name, newDbName: z.string().optional() }), async (b, ctx) => {
    await ctx.invoke('RenameCollection', { db_name: ctx.db, oldName: b.collectionName, newName: b.newCollectionName, newDBName: b.newDbName ?? '' });
    return undefined;
  }),
  'collections/get_stats': ep('GetCollectionStatistics', z.object(coll), async (b, ctx) => {
    const res = await ctx.invoke('GetCollectionStatistics', { db_name: ctx.db, collection_name: b.collectionName });
    return data({ rowCount: statValue(res, 'row_count') });
  }),
  'collections/get_load_state': ep('GetLoadState', z.object({ ...coll, partitionNames: partitions }), async (b, ctx) => data(await loadState(ctx, b.collectionName, b.partitionNames))),
  'collections/load': ep('LoadCollection', z.object(coll), async (b, ctx) => {
    await ctx.invoke('LoadCollection', { db_name: ctx.db, collection_name: b.collectionName });
    return undefined;
  }),
  'collections/release': ep('ReleaseCollection', z.object(coll), async (b, ctx) => {
    await ctx.invoke('ReleaseCollection', { db_name: ctx.db, collection_name: b.collectionName });
    return undefined;
  }),

  'entities/insert': ep('Insert', rowsBody, (b, ctx) => write(b, ctx, false)),
  'entities/upsert': ep('Upsert', rowsBody, (b, ctx) => write(b, ctx, true)),
  'entities/delete': ep('Delete', z.object({ ...coll, filter: z.string().optional(), id: z.unknown().optional(), partitionName: z.string().optional() }), async (b, ctx) => {
    let filter = b.filter ?? '';
    if (!filter.trim()) {
      if (b.id === undefined) throw new KiteError('RestParameterMissing', 'missing required parameters: filter is required (for example "id in [1, 2]")');
      filter = idFilter(await schemaFor(ctx, b.collectionName), b.id);
    }
    const res = await ctx.invoke('Delete', { db_name: ctx.db, collection_name: b.collectionName, partition_name: b.partitionName ?? '', expr: filter });
    return data({ deleteCount: Number(res.delete_cnt ?? 0) });
  }),
  'entities/query': ep(
    'Query',
    z.object({
      ...coll,
      filter: z.string().optional(),
      outputFields: z.array(z.string()).optional(),
      limit: z.number().int().positive().optional(),
      offset: z.number().int().nonnegative().optional(),
      partitionNames: partitions,
      consistencyLevel: consistency,
    }),
    async (b, ctx) => {
      const outputs = b.outputFields ?? ['*'];
      const count = outputs.some((o) => o.replace(/\s/g, '').toLowerCase() === 'count(*)');
      const params = [
        ...(!count ? [{ key: 'limit', value: String(b.limit ?? DEFAULT_LIMIT) }] : []),
        ...(b.offset ? [{ key: 'offset', value: String(b.offset) }] : []),
      ];
      const res = await ctx.invoke('Query', {
        db_name: ctx.db, collection_name: b.collectionName, expr: b.filter ?? '', output_fields: outputs, partition_names: b.partitionNames ?? [], query_params: params, ...consistencyOf(b.consistencyLevel),
      });
      return data(outputOf(res, ctx, outputs));
    },
  ),
  'entities/get': ep(
    'Query',
    z.object({ ...coll, id: z.unknown(), outputFields: z.array(z.string()).optional(), partitionNames: partitions, consistencyLevel: consistency }),
    async (b, ctx) => {
      if (b.id === undefined || b.id === null) throw new KiteError('RestParameterMissing', 'missing required parameters: id is required (one primary key or a list)');
      const schema = await schemaFor(ctx, b.collectionName);
      const res = await ctx.invoke('Query', {
        db_name: ctx.db, collection_name: b.collectionName, expr: idFilter(schema, b.id), output_fields: b.outputFields ?? ['*'], partition_names: b.partitionNames ?? [], ...consistencyOf(b.consistencyLevel),
      });
      return data(outputOf(res, ctx, b.outputFields));
    },
  ),
  'entities/search': ep('Search', searchBody, async (b, ctx) => {
    const schema = await schemaFor(ctx, b.collectionName);
    const req = searchRequest(ctx, schema, b.collectionName, b, b.limit ?? DEFAULT_LIMIT);
    const extra = b.roundDecimal !== undefined ? [{ key: 'round_decimal', value: String(b.roundDecimal) }] : [];
    const res = await ctx.invoke('Search', {
      ...req,
      search_params: [...(req as { search_params: object[] }).search_params, ...extra],
      output_fields: b.outputFields ?? [],
      partition_names: b.partitionNames ?? [],
      ...consistencyOf(b.consistencyLevel),
    });
    return hits(res, schema, ctx, b.outputFields);
  }),
  'entities/hybrid_search': ep('HybridSearch', hybridBody, async (b, ctx) => {
    const schema = await schemaFor(ctx, b.collectionName);
    const requests = b.search.map((s) => searchRequest(ctx, schema, b.collectionName, s, s.limit ?? b.limit ?? DEFAULT_LIMIT));
    const rankParams = [
      { key: 'strategy', value: b.rerank.strategy },
      { key: 'params', value: JSON.stringify(b.rerank.params ?? (b.rerank.strategy === 'rrf' ? { k: 60 } : {})) },
      { key: 'limit', value: String(b.limit ?? DEFAULT_LIMIT) },
      ...(b.offset ? [{ key: 'offset', value: String(b.offset) }] : []),
    ];
    const res = await ctx.invoke('HybridSearch', {
      db_name: ctx.db, collection_name: b.collectionName, requests, rank_params: rankParams, output_fields: b.outputFields ?? [], partition_names: b.partitionNames ?? [], ...consistencyOf(b.consistencyLevel),
    });
    return hits(res, schema, ctx, b.outputFields);
  }),

  'indexes/create': ep('CreateIndex', z.object({ ...coll, indexParams: z.array(indexParam).min(1, 'needs at least one index') }), async (b, ctx) => {
    for (const i of b.indexParams) await ctx.invoke('CreateIndex', indexRequest(ctx, b.collectionName, i));
    return undefined;
  }),
  'indexes/describe': ep('DescribeIndex', indexBody, async (b, ctx) => {
    const res = await ctx.invoke('DescribeIndex', { db_name: ctx.db, collection_name: b.collectionName, index_name: b.indexName });
    return data(
      ((res.index_descriptions as Decoded[] | undefined) ?? []).map((i) => {
        const p = pairs(i.params);
        return {
          fieldName: i.field_name,
          indexName: i.index_name,
          indexType: p.find((x) => x.key === 'index_type')?.value ?? '',
          metricType: p.find((x) => x.key === 'metric_type')?.value ?? '',
          indexState: i.state,
          totalRows: Number(i.total_rows),
          indexedRows: Number(i.indexed_rows),
          pendingRows: Number(i.pending_index_rows),
          failReason: i.index_state_fail_reason,
        };
      }),
    );
  }),
  'indexes/list': ep('DescribeIndex', z.object({ ...coll, fieldName: z.string().optional() }), async (b, ctx) => {
    try {
      const res = await ctx.invoke('DescribeIndex', { db_name: ctx.db, collection_name: b.collectionName, field_name: b.fieldName ?? '' });
      return data(((res.index_descriptions as Decoded[] | undefined) ?? []).map((i) => i.index_name));
    } catch (e) {
      // A collection without indexes lists none (DescribeIndex answers IndexNotFound, code 700).
      if ((e as { code?: number }).code === 700) return data([]);
      throw e;
    }
  }),
  'indexes/drop': ep('DropIndex', indexBody, async (b, ctx) => {
    await ctx.invoke('DropIndex', { db_name: ctx.db, collection_name: b.collectionName, index_name: b.indexName });
    return undefined;
  }),

  'partitions/create': ep('CreatePartition', partitionBody, async (b, ctx) => {
    await ctx.invoke('CreatePartition', { db_name: ctx.db, collection_name: b.collectionName, partition_name: b.partitionName });
    return undefined;
  }),
  'partitions/drop': ep('DropPartition', partitionBody, async (b, ctx) => {
    await ctx.invoke('DropPartition', { db_name: ctx.db, collection_name: b.collectionName, partition_name: b.partitionName });
    return undefined;
  }),
  'partitions/has': ep('HasPartition', partitionBody, async (b, ctx) => {
    const res = await ctx.invoke('HasPartition', { db_name: ctx.db, collection_name: b.collectionName, partition_name: b.partitionName });
    return data({ has: res.value === true });
  }),
  'partitions/list': ep('ShowPartitions', z.object(coll), async (b, ctx) => {
    const res = await ctx.invoke('ShowPartitions', { db_name: ctx.db, collection_name: b.collectionName });
    return data(res.partition_names);
  }),
  'partitions/load': ep('LoadPartitions', partitionsBody, async (b, ctx) => {
    await ctx.invoke('LoadPartitions', { db_name: ctx.db, collection_name: b.collectionName, partition_names: b.partitionNames });
    return undefined;
  }),
  'partitions/release': ep('ReleasePartitions', partitionsBody, async (b, ctx) => {
    await ctx.invoke('ReleasePartitions', { db_name: ctx.db, collection_name: b.collectionName, partition_names: b.partitionNames });
    return undefined;
  }),
  'partitions/get_stats': ep('GetPartitionStatistics', partitionBody, async (b, ctx) => {
    const res = await ctx.invoke('GetPartitionStatistics', { db_name: ctx.db, collection_name: b.collectionName, partition_name: b.partitionName });
    return data({ rowCount: statValue(res, 'row_count') });
  }),

  'aliases/create': ep('CreateAlias', aliasCollectionBody, async (b, ctx) => {
    await ctx.invoke('CreateAlias', { db_name: ctx.db, collection_name: b.collectionName, alias: b.aliasName });
    return undefined;
  }),
  'aliases/alter': ep('AlterAlias', aliasCollectionBody, async (b, ctx) => {
    await ctx.invoke('AlterAlias', { db_name: ctx.db, collection_name: b.collectionName, alias: b.aliasName });
    return undefined;
  }),
  'aliases/drop': ep('DropAlias', aliasBody, async (b, ctx) => {
    await ctx.invoke('DropAlias', { db_name: ctx.db, alias: b.aliasName });
    return undefined;
  }),
  'aliases/list': ep('ListAliases', z.object({ ...db, collectionName: z.string().optional() }), async (b, ctx) => {
    const res = await ctx.invoke('ListAliases', { db_name: ctx.db, collection_name: b.collectionName ?? '' });
    return data(res.aliases);
  }),
  'aliases/describe': ep('DescribeAlias', aliasBody, async (b, ctx) => {
    const res = await ctx.invoke('DescribeAlias', { db_name: ctx.db, alias: b.aliasName });
    return data({ aliasName: res.alias, collectionName: res.collection, dbName: res.db_name || ctx.db });
  }),

  'databases/create': ep('CreateDatabase', dbBody, async (b, ctx) => {
    await ctx.invoke('CreateDatabase', { db_name: b.dbName, properties: kv(b.properties) });
    return undefined;
  }, true),
  'databases/drop': ep('DropDatabase', z.object({ dbName: name }), async (b, ctx) => {
    await ctx.invoke('DropDatabase', { db_name: b.dbName });
    return undefined;
  }, true),
  'databases/list': ep('ListDatabases', z.object({}), async (_b, ctx) => data((await ctx.invoke('ListDatabases', {})).db_names), true),
  'databases/describe': ep('DescribeDatabase', z.object({ dbName: name }), async (b, ctx) => {
    const res = await ctx.invoke('DescribeDatabase', { db_name: b.dbName });
    return data({ dbName: res.db_name, dbID: Number(res.dbID), properties: res.properties });
  }, true),
  'databases/alter': ep('AlterDatabase', z.object({ dbName: name, properties: jsonObject }), async (b, ctx) => {
    await ctx.invoke('AlterDatabase', { db_name: b.dbName, properties: kv(b.properties) });
    return undefined;
  }, true),
};
