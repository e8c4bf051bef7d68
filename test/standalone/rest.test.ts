/**
 * Milvus's RESTful API v2 on the HTTP port of a Kite standalone, with plain HTTP requests (Node's fetch) shaped as
 * the examples of Milvus's REST documentation: quick and full-schema collection creation, insert, query, search,
 * get, delete, upsert, hybrid search, indexes, partitions, aliases, databases, and the errors Milvus answers with
 * (HTTP 200 and `{"code": <Milvus code>, "message": ...}`). What REST writes is read back through the official Node
 * SDK on the gRPC port, and what the SDK writes through REST; a second server runs with authorization on.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { ConsistencyLevelEnum, LoadState, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { dynamicValue, eventually, expectOk, flushAndWait } from './helpers';

jest.setTimeout(120_000);

const STRONG = ConsistencyLevelEnum.Strong;

interface Answer {
  code: number;
  data?: unknown;
  message?: string;
  topks?: number[];
  httpStatus: number;
}

/** POST /v2/vectordb/<path> with a JSON body (or raw text), as curl in Milvus's documentation does. */
async function rest(server: Standalone, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${server.metricsPort}/v2/vectordb/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const json = (await res.json()) as Omit<Answer, 'httpStatus'>;
  return { ...json, httpStatus: res.status };
}

/** The answer's data after checking it succeeded (code 0, HTTP 200). */
async function ok<T = unknown>(server: Standalone, path: string, body: unknown, headers?: Record<string, string>): Promise<T> {
  const a = await rest(server, path, body, headers);
  if (a.code !== 0 || a.httpStatus !== 200) throw new Error(`${path} ${JSON.stringify(body).slice(0, 200)}: ${JSON.stringify(a)}`);
  return a.data as T;
}

type Row = Record<string, unknown>;
const byId = (rows: Row[], key = 'id'): Row[] => [...rows].sort((a, b) => Number(a[key]) - Number(b[key]));

/** The ten rows of the insert example in Milvus's REST documentation (a dynamic `color` key besides id and vector). */
const DOC_ROWS: Row[] = [
  { id: 0, vector: [0.3580376395471989, -0.6023495712049978, 0.18414012509913835, -0.26286205330961354, 0.9029438446296592], color: 'pink_8682' },
  { id: 1, vector: [0.19886812562848388, 0.06023560599112088, 0.6976963061752597, 0.2614474506242501, 0.838729485096104], color: 'red_7025' },
  { id: 2, vector: [0.43742130801983836, -0.5597502546264526, 0.6457887650909682, 0.7894058910881185, 0.20785793220625592], color: 'orange_6781' },
  { id: 3, vector: [0.3172005263489739, 0.9719044792798428, -0.36981146090600725, -0.4860894583077995, 0.95791889146345], color: 'pink_9298' },
  { id: 4, vector: [0.4452349528804562, -0.8757026943054742, 0.8220779437047674, 0.46406290649483184, 0.30337481143159106], color: 'red_4794' },
  { id: 5, vector: [0.985825131989184, -0.8144651566660419, 0.6299267002202009, 0.1206906911183383, -0.1446277761879955], color: 'yellow_4222' },
  { id: 6, vector: [0.8371977790571115, -0.015764369584852833, -0.31062937026679327, -0.562666951622192, -0.8984947637863987], color: 'red_9392' },
  { id: 7, vector: [-0.33445148015177995, -0.2567135004164067, 0.8987539745369246, 0.9402995886420709, 0.5378064918413052], color: 'grey_8510' },
  { id: 8, vector: [0.39524717779832685, 0.4000257286739164, -0.5890507376891594, -0.8650502298996872, -0.6140360785406336], color: 'white_9381' },
  { id: 9, vector: [0.5718280481994695, 0.24070317428066512, -0.3737913482606834, -0.06726932177492717, -0.6980531863104885], color: 'purple_4976' },
];

/** Each vector as the float32 values the server stores (what both APIs read back). */
const f32 = (v: unknown): number[] => Array.from(Float32Array.from(v as number[]));

describe('RESTful API v2, authorization off', () => {
  let server: Standalone;
  let client: MilvusClient;

  beforeAll(async () => {
    server = await startStandalone();
    client = new MilvusClient({ address: server.address, timeout: 60_000 });
    await client.connectPromise;
  }, 150_000);

  afterAll(async () => {
    await client?.closeConnection().catch(() => undefined);
    await server?.dispose();
  });

  it('quick create: Int64 "id", FloatVector "vector" of the dimension, dynamic field on, indexed with the metric and loaded', async () => {
    expect(await ok(server, 'collections/create', { collectionName: 'quick_setup', dimension: 5 })).toEqual({});
    const d = await client.describeCollection({ collection_name: 'quick_setup' });
    expectOk(d.status, 'describeCollection');
    expect(d.schema.enable_dynamic_field).toBe(true);
    const [id, vector] = d.schema.fields;
    expect(id).toMatchObject({ name: 'id', data_type: 'Int64', is_primary_key: true, autoID: false });
    expect(vector).toMatchObject({ name: 'vector', data_type: 'FloatVector', dim: '5' });
    const idx = await client.describeIndex({ collection_name: 'quick_setup' });
    expectOk(idx.status, 'describeIndex');
    expect(idx.index_descriptions[0]!.params).toEqual(expect.arrayContaining([{ key: 'metric_type', value: 'COSINE' }]));
    await eventually('quick_setup loaded', async () => ((await client.getLoadState({ collection_name: 'quick_setup' })).state === LoadState.LoadStateLoaded ? true : undefined));
    expect(await ok(server, 'collections/get_load_state', { collectionName: 'quick_setup' })).toEqual({ loadState: 'LoadStateLoaded', loadProgress: 100 });

    const described = await ok<Row>(server, 'collections/describe', { collectionName: 'quick_setup' });
    expect(described).toMatchObject({ collectionName: 'quick_setup', autoId: false, enableDynamicField: true, load: 'LoadStateLoaded', consistencyLevel: 'Bounded' });
    expect(described.fields).toEqual([
      expect.objectContaining({ name: 'id', type: 'Int64', primaryKey: true }),
      expect.objectContaining({ name: 'vector', type: 'FloatVector', params: [{ key: 'dim', value: '5' }] }),
    ]);
    expect(described.indexes).toEqual([{ fieldName: 'vector', indexName: 'vector', metricType: 'COSINE' }]);
    expect(await ok(server, 'collections/has', { collectionName: 'quick_setup' })).toEqual({ has: true });
    expect(await ok(server, 'collections/has', { collectionName: 'no_such' })).toEqual({ has: false });
    expect(await ok(server, 'collections/list', {})).toContain('quick_setup');
  });

  it('insert (the documentation rows) is read back by the SDK; query with a filter, get and search match the SDK', async () => {
    expect(await ok(server, 'entities/insert', { collectionName: 'quick_setup', data: DOC_ROWS })).toEqual({ insertCount: 10, insertIds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    const sdkRows = await client.query({ collection_name: 'quick_setup', filter: 'id >= 0', output_fields: ['id', 'vector', 'color'], consistency_level: STRONG });
    expectOk(sdkRows.status, 'query');
    expect(byId(sdkRows.data).map((r) => [Number(r.id), dynamicValue(r, 'color'), f32(r.vector)])).toEqual(DOC_ROWS.map((r) => [r.id, r.color, f32(r.vector)]));

    // A Bounded read sees the rows within the staleness bound; polled.
    const filtered = await eventually('REST query sees the rows', async () => {
      const rows = await ok<Row[]>(server, 'entities/query', { collectionName: 'quick_setup', filter: 'color like "red%"', outputFields: ['color'], limit: 3 });
      return rows.length === 3 ? rows : undefined;
    });
    const sdkRed = await client.query({ collection_name: 'quick_setup', filter: 'color like "red%"', output_fields: ['color'], limit: 3, consistency_level: STRONG });
    expect(byId(filtered)).toEqual(byId(sdkRed.data.map((r) => ({ id: Number(r.id), color: dynamicValue(r, 'color') }))));

    const got = await ok<Row[]>(server, 'entities/get', { collectionName: 'quick_setup', id: [1, 3], outputFields: ['id', 'vector', 'color'] });
    expect(byId(got).map((r) => [r.id, r.color, f32(r.vector)])).toEqual([1, 3].map((i) => [i, DOC_ROWS[i]!.color, f32(DOC_ROWS[i]!.vector)]));
    // Int64 as decimal strings on request (Accept-Type-Allow-Int64: false).
    expect(await ok(server, 'entities/get', { collectionName: 'quick_setup', id: 1, outputFields: ['id'] }, { 'Accept-Type-Allow-Int64': 'false' })).toEqual([{ id: '1' }]);

    const query = [0.3580376395471989, -0.6023495712049978, 0.18414012509913835, -0.26286205330961354, 0.9029438446296592];
    const hits = await rest(server, 'entities/search', { collectionName: 'quick_setup', data: [query], annsField: 'vector', limit: 3, outputFields: ['color'], searchParams: { metricType: 'COSINE' }, consistencyLevel: 'Strong' });
    expect(hits.code).toBe(0);
    expect(hits.topks).toEqual([3]);
    const sdkHits = await client.search({ collection_name: 'quick_setup', data: [query], anns_field: 'vector', limit: 3, output_fields: ['color'], consistency_level: STRONG });
    expectOk(sdkHits.status, 'search');
    const restHits = hits.data as Row[];
    expect(restHits.map((h) => [h.id, h.color])).toEqual(sdkHits.results.map((h) => [Number(h.id), dynamicValue(h, 'color')]));
    restHits.forEach((h, i) => expect(h.distance as number).toBeCloseTo(sdkHits.results[i]!.score, 5));
    expect(restHits[0]).toMatchObject({ id: 0, color: 'pink_8682' });
  });

  it('delete by filter and upsert change what the SDK reads', async () => {
    expect(await ok(server, 'entities/delete', { collectionName: 'quick_setup', filter: 'id in [0, 1]' })).toEqual({ deleteCount: 2 });
    expect(await ok(server, 'entities/upsert', { collectionName: 'quick_setup', data: [{ id: 2, vector: [0.1, 0.2, 0.3, 0.4, 0.5], color: 'green_1' }] })).toEqual({ upsertCount: 1, upsertIds: [2] });
    const rows = await client.query({ collection_name: 'quick_setup', filter: 'id < 3', output_fields: ['id', 'color'], consistency_level: STRONG });
    expectOk(rows.status, 'query');
    expect(rows.data.map((r) => [Number(r.id), dynamicValue(r, 'color')])).toEqual([[2, 'green_1']]);
    const count = await ok<Row[]>(server, 'entities/query', { collectionName: 'quick_setup', filter: '', outputFields: ['count(*)'], consistencyLevel: 'Strong' });
    expect(count).toEqual([{ 'count(*)': 8 }]);
  });

  it('full schema with index parameters: fields and types as the SDK describes them; rows the SDK writes read through REST', async () => {
    const body = {
      collectionName: 'custom_setup',
      schema: {
        autoId: false,
        enabledDynamicField: false,
        fields: [
          { fieldName: 'my_id', dataType: 'Int64', isPrimary: true },
          { fieldName: 'my_vector', dataType: 'FloatVector', elementTypeParams: { dim: '5' } },
          { fieldName: 'my_varchar', dataType: 'VarChar', isClusteringKey: true, elementTypeParams: { max_length: 512 } },
          { fieldName: 'tags', dataType: 'Array', elementDataType: 'Int64', elementTypeParams: { max_capacity: 4 } },
          { fieldName: 'info', dataType: 'JSON', nullable: true },
        ],
      },
      indexParams: [
        { fieldName: 'my_vector', metricType: 'L2', indexName: 'my_vector', indexType: 'AUTOINDEX' },
        { fieldName: 'my_id', indexName: 'my_id', indexType: 'STL_SORT' },
      ],
    };
    expect(await ok(server, 'collections/create', body)).toEqual({});
    const d = await client.describeCollection({ collection_name: 'custom_setup' });
    expectOk(d.status, 'describeCollection');
    expect(d.schema.enable_dynamic_field).toBe(false);
    expect(d.schema.fields.map((f) => [f.name, f.data_type, f.is_primary_key])).toEqual([
      ['my_id', 'Int64', true],
      ['my_vector', 'FloatVector', false],
      ['my_varchar', 'VarChar', false],
      ['tags', 'Array', false],
      ['info', 'JSON', false],
    ]);
    expect(d.schema.fields[2]).toMatchObject({ max_length: '512', is_clustering_key: true });
    expect(d.schema.fields[3]).toMatchObject({ element_type: 'Int64', max_capacity: '4' });
    expect(d.schema.fields[4]).toMatchObject({ nullable: true });
    const idx = await client.describeIndex({ collection_name: 'custom_setup', field_name: 'my_vector' });
    expectOk(idx.status, 'describeIndex');
    expect(idx.index_descriptions[0]!.params).toEqual(expect.arrayContaining([{ key: 'metric_type', value: 'L2' }]));
    await eventually('custom_setup loaded', async () => ((await client.getLoadState({ collection_name: 'custom_setup' })).state === LoadState.LoadStateLoaded ? true : undefined));

    const ins = await client.insert({
      collection_name: 'custom_setup',
      data: [
        { my_id: 7, my_vector: [1, 0, 0, 0, 0], my_varchar: 'seven', tags: [1, 2], info: { k: 'v' } },
        { my_id: 8, my_vector: [0, 1, 0, 0, 0], my_varchar: 'eight', tags: [], info: null },
      ],
    });
    expectOk(ins.status, 'insert');
    const rows = await ok<Row[]>(server, 'entities/query', { collectionName: 'custom_setup', filter: 'my_id > 0', outputFields: ['*'], consistencyLevel: 'Strong' });
    expect(byId(rows, 'my_id')).toEqual([
      { my_id: 7, my_vector: [1, 0, 0, 0, 0], my_varchar: 'seven', tags: [1, 2], info: { k: 'v' } },
      { my_id: 8, my_vector: [0, 1, 0, 0, 0], my_varchar: 'eight', tags: [], info: null },
    ]);

    // Two rows through REST too (Int64 primary key as a decimal string is accepted), checked through the SDK.
    await ok(server, 'entities/insert', { collectionName: 'custom_setup', data: [{ my_id: '9', my_vector: [0, 0, 1, 0, 0], my_varchar: 'nine', tags: [9], info: [1, 2] }] });
    const sdk = await client.get({ collection_name: 'custom_setup', ids: [9], output_fields: ['my_varchar', 'tags', 'info'], consistency_level: STRONG });
    expectOk(sdk.status, 'get');
    // The SDK reads Int64 values as decimal strings.
    expect(sdk.data).toEqual([expect.objectContaining({ my_varchar: 'nine', tags: ['9'], info: [1, 2] })]);

    const hybrid = await ok<Row[]>(server, 'entities/hybrid_search', {
      collectionName: 'custom_setup',
      search: [
        { data: [[1, 0, 0, 0, 0]], annsField: 'my_vector', limit: 2, params: { metricType: 'L2' } },
        { data: [[0, 0, 1, 0, 0]], annsField: 'my_vector', limit: 2, filter: 'my_id > 7' },
      ],
      rerank: { strategy: 'rrf', params: { k: 10 } },
      limit: 3,
      outputFields: ['my_varchar'],
      consistencyLevel: 'Strong',
    });
    expect(hybrid.map((h) => h.my_varchar).sort()).toEqual(['eight', 'nine', 'seven']);
  });

  it('indexes: create, list, describe and drop, as the SDK sees them', async () => {
    await ok(server, 'collections/create', {
      collectionName: 'idx_coll',
      schema: { fields: [{ fieldName: 'id', dataType: 'Int64', isPrimary: true }, { fieldName: 'v', dataType: 'FloatVector', elementTypeParams: { dim: 4 } }] },
    });
    expect(await ok(server, 'indexes/list', { collectionName: 'idx_coll' })).toEqual([]);
    await ok(server, 'indexes/create', { collectionName: 'idx_coll', indexParams: [{ metricType: 'IP', fieldName: 'v', indexName: 'v_idx', indexType: 'HNSW', params: { M: 8, efConstruction: 64 } }] });
    const sdk = await client.describeIndex({ collection_name: 'idx_coll', index_name: 'v_idx' });
    expectOk(sdk.status, 'describeIndex');
    expect(sdk.index_descriptions[0]).toMatchObject({ field_name: 'v', index_name: 'v_idx' });
    expect(await ok(server, 'indexes/list', { collectionName: 'idx_coll' })).toEqual(['v_idx']);
    expect(await ok(server, 'indexes/describe', { collectionName: 'idx_coll', indexName: 'v_idx' })).toEqual([
      expect.objectContaining({ fieldName: 'v', indexName: 'v_idx', indexType: 'HNSW', metricType: 'IP', indexState: 'Finished', failReason: '' }),
    ]);
    await ok(server, 'indexes/drop', { collectionName: 'idx_coll', indexName: 'v_idx' });
    expect(await ok(server, 'indexes/list', { collectionName: 'idx_coll' })).toEqual([]);
    const gone = await rest(server, 'indexes/describe', { collectionName: 'idx_coll', indexName: 'v_idx' });
    expect(gone).toMatchObject({ code: 700, httpStatus: 200 });
  });

  it('partitions: create, has, list, load, release, get_stats and drop', async () => {
    await ok(server, 'partitions/create', { collectionName: 'quick_setup', partitionName: 'p_rest' });
    expect(await ok(server, 'partitions/has', { collectionName: 'quick_setup', partitionName: 'p_rest' })).toEqual({ has: true });
    expect(await ok(server, 'partitions/has', { collectionName: 'quick_setup', partitionName: 'p_none' })).toEqual({ has: false });
    expect(await ok(server, 'partitions/list', { collectionName: 'quick_setup' })).toEqual(['_default', 'p_rest']);
    const sdk = await client.showPartitions({ collection_name: 'quick_setup' });
    expect(sdk.partition_names).toEqual(['_default', 'p_rest']);
    await ok(server, 'entities/insert', { collectionName: 'quick_setup', partitionName: 'p_rest', data: [{ id: 100, vector: [1, 1, 1, 1, 1] }, { id: 101, vector: [1, 1, 1, 1, 2] }] });
    await flushAndWait(client, 'quick_setup');
    expect(await ok(server, 'partitions/get_stats', { collectionName: 'quick_setup', partitionName: 'p_rest' })).toEqual({ rowCount: 2 });
    const inPartition = await ok<Row[]>(server, 'entities/query', { collectionName: 'quick_setup', filter: 'id >= 0', partitionNames: ['p_rest'], outputFields: ['id'], consistencyLevel: 'Strong' });
    expect(byId(inPartition)).toEqual([{ id: 100 }, { id: 101 }]);
    await ok(server, 'partitions/release', { collectionName: 'quick_setup', partitionNames: ['p_rest'] });
    await ok(server, 'partitions/load', { collectionName: 'quick_setup', partitionNames: ['p_rest'] });
    await ok(server, 'collections/release', { collectionName: 'quick_setup' });
    expect(await ok(server, 'collections/get_load_state', { collectionName: 'quick_setup' })).toEqual({ loadState: 'LoadStateNotLoad' });
    await ok(server, 'partitions/drop', { collectionName: 'quick_setup', partitionName: 'p_rest' });
    expect((await client.hasPartition({ collection_name: 'quick_setup', partition_name: 'p_rest' })).value).toBe(false);
    await ok(server, 'collections/load', { collectionName: 'quick_setup' });
    await eventually('quick_setup loaded again', async () => ((await client.getLoadState({ collection_name: 'quick_setup' })).state === LoadState.LoadStateLoaded ? true : undefined));
  });

  it('aliases: create, describe, list, alter and drop; collections: rename, get_stats and drop', async () => {
    await ok(server, 'aliases/create', { collectionName: 'quick_setup', aliasName: 'bob' });
    expect(await ok(server, 'aliases/describe', { aliasName: 'bob' })).toEqual({ aliasName: 'bob', collectionName: 'quick_setup', dbName: 'default' });
    expect(await ok(server, 'aliases/list', { collectionName: 'quick_setup' })).toEqual(['bob']);
    expect((await client.describeAlias({ alias: 'bob', collection_name: 'quick_setup' })).collection).toBe('quick_setup');
    // Reads through the alias.
    expect(await ok(server, 'entities/get', { collectionName: 'bob', id: 2, outputFields: ['color'] })).toEqual([{ id: 2, color: 'green_1' }]);
    await ok(server, 'aliases/alter', { collectionName: 'custom_setup', aliasName: 'bob' });
    expect((await client.describeAlias({ alias: 'bob', collection_name: 'custom_setup' })).collection).toBe('custom_setup');
    await ok(server, 'aliases/drop', { aliasName: 'bob' });
    expect(await rest(server, 'aliases/describe', { aliasName: 'bob' })).toMatchObject({ code: 1600 });

    await flushAndWait(client, 'custom_setup');
    expect(await ok(server, 'collections/get_stats', { collectionName: 'custom_setup' })).toEqual({ rowCount: 3 });
    await ok(server, 'collections/rename', { collectionName: 'idx_coll', newCollectionName: 'idx_renamed' });
    expect((await client.hasCollection({ collection_name: 'idx_renamed' })).value).toBe(true);
    await ok(server, 'collections/drop', { collectionName: 'idx_renamed' });
    expect((await client.hasCollection({ collection_name: 'idx_renamed' })).value).toBe(false);
  });

  it('databases: create, list, describe, collections in it, drop', async () => {
    await ok(server, 'databases/create', { dbName: 'rest_db' });
    expect(await ok(server, 'databases/list', {})).toEqual(expect.arrayContaining(['default', 'rest_db']));
    expect(await ok(server, 'databases/describe', { dbName: 'rest_db' })).toMatchObject({ dbName: 'rest_db' });
    await ok(server, 'collections/create', { dbName: 'rest_db', collectionName: 'in_db', dimension: 2 });
    expect(await ok(server, 'collections/list', { dbName: 'rest_db' })).toEqual(['in_db']);
    expect((await client.listCollections({ db_name: 'rest_db' })).data.map((c) => c.name)).toEqual(['in_db']);
    expect(await rest(server, 'collections/list', { dbName: 'no_db' })).toMatchObject({ code: 800 });
    await ok(server, 'collections/drop', { dbName: 'rest_db', collectionName: 'in_db' });
    await ok(server, 'databases/drop', { dbName: 'rest_db' });
    expect(await ok(server, 'databases/list', {})).not.toContain('rest_db');
  });

  it('errors: Milvus codes with HTTP 200, messages naming the field; unknown endpoints answer HTTP 404', async () => {
    const missing = await rest(server, 'collections/describe', {});
    expect(missing).toMatchObject({ httpStatus: 200, code: 1802 });
    expect(missing.message).toMatch(/collectionName/);
    const wrongType = await rest(server, 'entities/query', { collectionName: 'quick_setup', limit: 'ten' });
    expect(wrongType).toMatchObject({ code: 1801 });
    expect(wrongType.message).toMatch(/limit/);
    expect(await rest(server, 'collections/list', '{"dbName": ')).toMatchObject({ httpStatus: 200, code: 1801 });
    expect(await rest(server, 'collections/create', { collectionName: 'no_schema' })).toMatchObject({ code: 1802 });

    const badDim = await rest(server, 'entities/insert', { collectionName: 'quick_setup', data: [{ id: 50, vector: [0.1, 0.2, 0.3] }] });
    expect(badDim).toMatchObject({ httpStatus: 200, code: 1804 });
    expect(badDim.message).toMatch(/row 0, field "vector": the vector has 3 values but the field's dim is 5/);
    const badQuery = await rest(server, 'entities/search', { collectionName: 'quick_setup', data: [[0.1, 0.2]] });
    expect(badQuery).toMatchObject({ code: 1100 });
    expect(badQuery.message).toMatch(/dim is 5/);
    const badFilter = await rest(server, 'entities/query', { collectionName: 'quick_setup', filter: 'id >' });
    expect(badFilter).toMatchObject({ code: 1100 });

    const unknown = await rest(server, 'entities/query', { collectionName: 'no_such_collection', filter: 'id > 0' });
    expect(unknown).toMatchObject({ httpStatus: 200, code: 100 });
    expect(unknown.message).toMatch(/collection not found/);
    expect(await rest(server, 'entities/insert', { collectionName: 'no_such_collection', data: [{ id: 1 }] })).toMatchObject({ code: 100 });

    const nowhere = await rest(server, 'collections/frobnicate', {});
    expect(nowhere).toMatchObject({ httpStatus: 404, code: 404 });
    expect(nowhere.message).toMatch(/no such endpoint: POST \/v2\/vectordb\/collections\/frobnicate/);
    // Nothing was written by the refused inserts.
    const rows = await client.query({ collection_name: 'quick_setup', filter: 'id == 50', output_fields: ['id'], consistency_level: STRONG });
    expect(rows.data).toEqual([]);
    // The metrics endpoint still answers beside the API.
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).status).toBe(200);
  });
});

describe('RESTful API v2, authorization on', () => {
  let server: Standalone;
  let root: MilvusClient;
  const ROOT = { Authorization: 'Bearer root:Milvus' };

  beforeAll(async () => {
    server = await startStandalone({ env: { KITE_SECURITY_AUTHORIZATION_ENABLED: 'true' }, clientOptions: { username: 'root', password: 'Milvus' } });
    root = new MilvusClient({ address: server.address, timeout: 60_000, username: 'root', password: 'Milvus' });
    await root.connectPromise;
  }, 150_000);

  afterAll(async () => {
    await root?.closeConnection().catch(() => undefined);
    await server?.dispose();
  });

  it('needs "Authorization: Bearer user:password": missing or wrong credentials answer 1800, a user without the privilege 1401', async () => {
    const none = await rest(server, 'collections/list', {});
    expect(none).toMatchObject({ httpStatus: 200, code: 1800 });
    expect(none.message).toMatch(/missing authorization in header/);
    const wrong = await rest(server, 'collections/list', {}, { Authorization: 'Bearer root:not-the-password' });
    expect(wrong).toMatchObject({ code: 1800 });
    expect(wrong.message).toMatch(/auth check failure/);

    expect(await ok(server, 'collections/create', { collectionName: 'secured', dimension: 2 }, ROOT)).toEqual({});
    expect(await ok(server, 'entities/insert', { collectionName: 'secured', data: [{ id: 1, vector: [0.5, 0.5], tag: 'a' }] }, ROOT)).toEqual({ insertCount: 1, insertIds: [1] });
    const sdk = await root.query({ collection_name: 'secured', filter: 'id == 1', output_fields: ['tag'], consistency_level: STRONG });
    expectOk(sdk.status, 'query');
    expect(sdk.data.map((r) => dynamicValue(r, 'tag'))).toEqual(['a']);
    expect(await ok(server, 'entities/query', { collectionName: 'secured', filter: 'id == 1', outputFields: ['tag'], consistencyLevel: 'Strong' }, ROOT)).toEqual([{ id: 1, tag: 'a' }]);

    // A user with no role may log in but not read the collection.
    expectOk(await root.createUser({ username: 'reader', password: 'reader-pw-1' }), 'createUser');
    const denied = await rest(server, 'entities/query', { collectionName: 'secured', filter: 'id == 1' }, { Authorization: 'Bearer reader:reader-pw-1' });
    expect(denied).toMatchObject({ httpStatus: 200, code: 1401 });
    expect(await rest(server, 'collections/drop', { collectionName: 'secured' }, { Authorization: 'Bearer reader:reader-pw-1' })).toMatchObject({ code: 1401 });
    expect((await root.hasCollection({ collection_name: 'secured' })).value).toBe(true);
    // Refusals are counted by Milvus code like every other answer.
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/kite_proxy_requests_total\{method="ShowCollections",status="1800"\} [1-9]/);
    expect(metrics).toMatch(/kite_proxy_requests_total\{method="Query",status="1401"\} [1-9]/);
  });
});
