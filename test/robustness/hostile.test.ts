/**
 * Hostile and malformed input against Kite standalone (a real `bin/kite standalone` process). Every implemented
 * MilvusService RPC gets undecodable bytes, and the data path gets what a careless or hostile client sends: wrong
 * types, NaN and Infinity, wrong dimensions, huge and deeply nested filters and JSON, pathological LIKE patterns,
 * absurd limits, topk, nq, nprobe and ef, unicode and path-like names, and a message over the size limit. For each:
 * the answer is a non-success status naming the field (or, for an oversized message, gRPC's refusal naming the
 * limit), the process answers /healthz within its health-check deadline, and a control collection's rows are intact.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import * as grpc from '@grpc/grpc-js';
import { ConsistencyLevelEnum, DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { encodeFloatVectorPlaceholderGroup, encodeMessage, milvusServiceDefinition } from '@kite/proto';
import { startStandalone, type Standalone } from '../support/kite';
import { clusteredVectors, expectOk } from '../standalone/helpers';

jest.setTimeout(120_000);

const STRONG = ConsistencyLevelEnum.Strong;
const CONTROL = 'control';
const VICTIM = 'victim';
/** A loaded, empty collection with a wide vector field. */
const WIDE = 'wide';
const WIDE_DIM = 1024;
const DIM = 8;
const ROWS = 400;
/** What a Kubernetes probe would allow: /healthz must answer within this long after every hostile call. */
const HEALTH_DEADLINE_MS = 2_000;
/** Largest reply a refused request may get: echoed input is clipped. */
const MAX_ERROR_REPLY_CHARS = 8_192;

let server: Standalone;
let client: MilvusClient;
let raw: grpc.Client;
const def = milvusServiceDefinition();
const vectors = clusteredVectors(ROWS, DIM, 7);

interface Status {
  code?: number;
  error_code?: string | number;
  reason?: string;
}

/** Calls a MilvusService method with raw request bytes; resolves with the decoded response or the gRPC error. */
function rawCall(method: string, bytes: Buffer, timeoutMs = 30_000): Promise<{ res?: Record<string, unknown>; err?: grpc.ServiceError }> {
  const m = def[method]!;
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      m.path, (b: Buffer) => b, m.responseDeserialize, bytes, new grpc.Metadata(), { deadline: Date.now() + timeoutMs },
      (err, res) => resolve(err ? { err } : { res: res as Record<string, unknown> }),
    );
  });
}

function encodeRequest(method: string, value: object): Buffer {
  return def[method]!.requestSerialize(value);
}

/** The Milvus status of a response: the response itself for Status-only methods, else its `status`. */
function statusOf(res: Record<string, unknown>): Status {
  return ('status' in res && res.status ? res.status : res) as Status;
}

function expectRefused(res: Record<string, unknown> | undefined, pattern: RegExp, what: string): Status {
  expect(res).toBeDefined();
  const st = statusOf(res!);
  if (st.code === 0 || st.code === undefined) throw new Error(`${what}: expected an error status, got success: ${JSON.stringify(res).slice(0, 300)}`);
  expect(st.reason ?? '').toMatch(pattern);
  expect(JSON.stringify(res).length).toBeLessThan(MAX_ERROR_REPLY_CHARS);
  return st;
}

/** The status of an SDK call, whether the SDK returns it or throws it (the Node SDK throws on some refusals). */
async function sdkStatus(call: Promise<unknown>): Promise<Status> {
  const res = await call.catch((e: unknown) => e);
  if (res instanceof Error) throw res;
  const st = statusOf(res as Record<string, unknown>);
  expect(st.code).not.toBe(0);
  return st;
}

async function healthzWithin(ms: number): Promise<void> {
  const t0 = Date.now();
  const r = await fetch(`http://127.0.0.1:${server.metricsPort}/healthz`, { signal: AbortSignal.timeout(ms) });
  expect(r.ok).toBe(true);
  expect(Date.now() - t0).toBeLessThan(ms);
}

/** The control collection still holds every row, and a search still finds a row by its own vector. */
async function controlIntact(): Promise<void> {
  const count = await client.query({ collection_name: CONTROL, filter: '', output_fields: ['count(*)'], consistency_level: STRONG });
  expectOk(count.status, 'count(*) on the control collection');
  expect(Number(count.data[0]!['count(*)'])).toBe(ROWS);
  const hit = await client.search({ collection_name: CONTROL, data: [vectors[123]!], limit: 1, consistency_level: STRONG });
  expectOk(hit.status, 'search on the control collection');
  expect(String(hit.results[0]!.id)).toBe('123');
}

beforeAll(async () => {
  server = await startStandalone({ env: { KITE_PROXY_MAX_MESSAGE_BYTES: String(16 << 20) } });
  client = new MilvusClient({ address: server.address, timeout: 60_000, logLevel: 'error' });
  await client.connectPromise;
  raw = new grpc.Client(server.address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 128 << 20,
    'grpc.max_receive_message_length': 128 << 20,
  });
  for (const name of [CONTROL, VICTIM]) {
    expectOk(await client.createCollection({
      collection_name: name,
      consistency_level: 'Strong',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 's', data_type: DataType.VarChar, max_length: 65535 },
        { name: 'j', data_type: DataType.JSON },
        { name: 'v', data_type: DataType.FloatVector, dim: DIM },
      ],
    }), `create ${name}`);
  }
  const res = await client.insert({
    collection_name: CONTROL,
    data: vectors.map((v, id) => ({ id, s: `row ${id}`, j: { n: id }, v })),
  });
  expectOk(res.status, 'insert control rows');
  // The victim holds one 60,000-character VarChar for the LIKE patterns.
  expectOk((await client.insert({ collection_name: VICTIM, data: [{ id: 1, s: 'a'.repeat(60_000), j: {}, v: vectors[0]! }] })).status, 'insert victim row');
  expectOk(await client.createCollection({
    collection_name: WIDE,
    fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'v', data_type: DataType.FloatVector, dim: WIDE_DIM }],
  }), 'create wide');
  expectOk(await client.createIndex({ collection_name: WIDE, field_name: 'v', index_type: 'FLAT', metric_type: 'L2', params: {} }), 'index wide');
  expectOk(await client.loadCollectionSync({ collection_name: WIDE }), 'load wide');
  for (const name of [CONTROL, VICTIM]) {
    expectOk(await client.createIndex({ collection_name: name, field_name: 'v', index_type: 'HNSW', metric_type: 'L2', params: { M: 8, efConstruction: 64 } }), `index ${name}`);
    expectOk(await client.loadCollectionSync({ collection_name: name }), `load ${name}`);
  }
  await controlIntact();
}, 150_000);

afterAll(async () => {
  raw?.close();
  await client?.closeConnection().catch(() => undefined);
  await server?.dispose();
});

afterEach(async () => {
  await healthzWithin(HEALTH_DEADLINE_MS);
});

describe('undecodable bytes', () => {
  // A tag for field number 0 with wire type 7: no message has a field 0, so every decoder skips it by its wire type,
  // and wire type 7 does not exist. (A length-delimited field 1 with an overlong length is not enough: protobufjs
  // reads a string field past the end without complaint, so a request whose field 1 is a string decodes to defaults.)
  const garbage = Buffer.from([0x07, 0xff, 0xff]);
  const methods = Object.keys(def).filter((m) => !/^(Connect|GetVersion)$/.test(m));

  test('no request type decodes these bytes', () => {
    const decoded = methods.filter((m) => {
      try {
        def[m]!.requestDeserialize(garbage);
        return true;
      } catch {
        return false;
      }
    });
    expect(decoded).toEqual([]);
  });

  test.each(methods)('%s answers a Milvus status naming the malformed request', async (method) => {
    const { res, err } = await rawCall(method, garbage);
    expect(err).toBeUndefined();
    expectRefused(res, new RegExp(`${method} request is not a valid protobuf message|is not supported by Kite`), method);
  });

  test('a truncated Insert, a schema that is not a CollectionSchema and a placeholder group that is not one', async () => {
    const insert = encodeRequest('Insert', { collection_name: CONTROL, num_rows: 1, fields_data: [{ field_name: 'id', type: 'Int64', scalars: { long_data: { data: ['1'] } } }] });
    expectRefused((await rawCall('Insert', insert.subarray(0, insert.length - 3))).res, /not a valid protobuf message/, 'truncated insert');
    const create = encodeRequest('CreateCollection', { collection_name: 'x', schema: Buffer.from([0x22, 0xff, 0x01]) });
    expectRefused((await rawCall('CreateCollection', create)).res, /schema is not a valid serialized CollectionSchema/, 'bad schema');
    const search = encodeRequest('Search', { collection_name: CONTROL, placeholder_group: Buffer.from([0x0a, 0x7f]), search_params: [{ key: 'topk', value: '3' }] });
    expectRefused((await rawCall('Search', search)).res, /placeholder_group is not a valid serialized PlaceholderGroup/, 'bad placeholder group');
  });
});

describe('wrong types and bad vectors in inserts', () => {
  const insertRaw = (fields: object[], numRows = 1): Buffer => encodeRequest('Insert', { collection_name: CONTROL, num_rows: numRows, fields_data: fields });
  const id = { field_name: 'id', type: 'Int64', scalars: { long_data: { data: ['9001'] } } };
  const s = { field_name: 's', type: 'VarChar', scalars: { string_data: { data: ['x'] } } };
  const j = { field_name: 'j', type: 'JSON', scalars: { json_data: { data: [Buffer.from('{}')] } } };
  const v = (data: number[], dim = DIM) => ({ field_name: 'v', type: 'FloatVector', vectors: { dim, float_vector: { data } } });

  test.each([
    ['strings in the Int64 primary key', [{ field_name: 'id', type: 'Int64', scalars: { string_data: { data: ['1'] } } }, s, j, v(vectors[0]!)], /field "id"/],
    ['numbers in the VarChar field', [id, { field_name: 's', type: 'VarChar', scalars: { long_data: { data: ['5'] } } }, j, v(vectors[0]!)], /field "s"/],
    ['NaN in a vector', [id, s, j, v([NaN, 0, 0, 0, 0, 0, 0, 0])], /field "v".*(NaN|finite)/],
    ['Infinity in a vector', [id, s, j, v([Infinity, 0, 0, 0, 0, 0, 0, 0])], /field "v".*(Infinity|finite)/],
    ['a vector of the wrong dimension', [id, s, j, v([1, 2, 3], 3)], /field "v".*dim/],
    ['a field sent twice', [id, s, s, j, v(vectors[0]!)], /field "s" is sent twice/],
    ['a field not in the schema', [id, s, j, v(vectors[0]!), { field_name: '../../etc/passwd', type: 'Int64', scalars: { long_data: { data: ['1'] } } }], /field "\.\.\/\.\.\/etc\/passwd" is not in the schema/],
    ['JSON nested 10,000 levels deep', [id, s, { field_name: 'j', type: 'JSON', scalars: { json_data: { data: [Buffer.from('['.repeat(10_000) + ']'.repeat(10_000))] } } }, v(vectors[0]!)], /field "j".*more than 1024 levels/],
    ['a 1 MB JSON value', [id, s, { field_name: 'j', type: 'JSON', scalars: { json_data: { data: [Buffer.from(JSON.stringify({ a: 'x'.repeat(1 << 20) }))] } } }, v(vectors[0]!)], /field "j".*at most 65536 bytes/],
    ['invalid JSON', [id, s, { field_name: 'j', type: 'JSON', scalars: { json_data: { data: [Buffer.from('{"a":')] } } }, v(vectors[0]!)], /field "j".*not valid JSON/],
  ])('%s is refused', async (_what, fields, pattern) => {
    expectRefused((await rawCall('Insert', insertRaw(fields))).res, pattern, String(_what));
  });
});

describe('searches', () => {
  const searchRaw = (over: Record<string, unknown>, params: Record<string, string> = {}, queries: number[][] = [vectors[1]!]): Buffer =>
    encodeRequest('Search', {
      collection_name: CONTROL, dsl: '', dsl_type: 'BoolExprV1', nq: queries.length,
      placeholder_group: encodeFloatVectorPlaceholderGroup(queries),
      search_params: Object.entries({ anns_field: 'v', topk: '5', metric_type: 'L2', params: '{}', ...params }).map(([key, value]) => ({ key, value })),
      ...over,
    });

  test.each([
    ['limit 1e9', {}, { topk: '1000000000' }, /limit \(topk\)/],
    ['limit -5', {}, { topk: '-5' }, /limit \(topk\)/],
    ['offset NaN', {}, { offset: 'NaN' }, /offset/],
    ['ef 10^9', {}, { params: '{"ef": 1000000000}' }, /ef must be in \[1, 32768\]/],
    ['ef "lots"', {}, { params: '{"ef": "lots"}' }, /ef must be an integer/],
    ['ef below limit', {}, { params: '{"ef": 2}' }, /ef \(2\) must be >= topk \(5\)/],
    ['nprobe on an HNSW index is ignored as in Milvus, but a range_filter beyond the radius', {}, { params: '{"nprobe": 99999999, "radius": 5, "range_filter": 9}' }, /range_filter must be less than radius for L2/],
    ['radius "far"', {}, { params: '{"radius": "far"}' }, /radius/],
    ['group_by_field naming no field', {}, { group_by_field: 'no_such_field' }, /group_by_field no_such_field is not a field/],
    ['group_size 10^6', {}, { group_by_field: 'id', group_size: '1000000' }, /group_size must be an integer in \[1, 1024\]/],
    ['a search iterator batch of 0', {}, { iterator: 'True', search_iter_v2: 'True', search_iter_batch_size: '0' }, /search_iter_batch_size must be an integer in \[1, 16384\]/],
    ['nq that disagrees with the vectors', { nq: 7 }, {}, /nq is 7 but the request carries 1/],
    ['placeholder type 999', { placeholder_group: encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [{ tag: '$0', type: 999, values: [Buffer.alloc(DIM * 4)] }] }) }, {}, /placeholder type 999/],
    ['a query vector of the wrong dimension', { placeholder_group: encodeFloatVectorPlaceholderGroup([[1, 2, 3]]), nq: 1 }, {}, /dimension 3.*dim 8/],
    ['Infinity in a query vector', { placeholder_group: encodeFloatVectorPlaceholderGroup([[Infinity, 0, 0, 0, 0, 0, 0, 0]]), nq: 1 }, {}, /finite/],
    ['a filter nested 10,000 levels', { dsl: '('.repeat(10_000) + 'id > 0' + ')'.repeat(10_000) }, {}, /nest/i],
    ['a 2 MB filter', { dsl: 'id > 0 or '.repeat(200_000) + 'id > 0' }, {}, /filter.*(long|length|characters)/i],
    ['an unknown anns_field with a unicode name', {}, { anns_field: '向量/../x' }, /anns_field "向量\/\.\.\/x" is not a vector field/],
  ])('%s is refused', async (_what, over, params, pattern) => {
    expectRefused((await rawCall('Search', searchRaw(over, params))).res, pattern, String(_what));
  });

  test('100,000 query vectors of dim 8 are refused without holding the memory they would need', async () => {
    const queries = Array.from({ length: 100_000 }, (_, i) => vectors[i % ROWS]!);
    const { res } = await rawCall('Search', searchRaw({}, { topk: '100' }, queries));
    expectRefused(res, /nq \(number of query vectors\) is 100000: it must be at most 16384/, 'nq 100000');
  });

  test('16,384 queries with limit 100 (over the result bound) are refused; the largest allowed search answers', async () => {
    const many = Array.from({ length: 16_384 }, (_, i) => vectors[i % ROWS]!);
    expectRefused((await rawCall('Search', searchRaw({}, { topk: '100' }, many))).res, /nq x \(limit \+ offset\) is 1638400: one search returns at most 262144 hits/, 'result bound');
    const { res } = await rawCall('Search', searchRaw({}, { topk: '16' }, many));
    expect(statusOf(res!).code).toBe(0);
    expect(Number((res!.results as { num_queries: string }).num_queries)).toBe(16_384);
  });

  test('vectors in the output of a search are bounded by the reply size', async () => {
    const many = Array.from({ length: 16_384 }, (_, i) => vectors[i % ROWS]!);
    const { res } = await rawCall('Search', searchRaw({ output_fields: ['v'] }, { topk: '16' }, many));
    expect(statusOf(res!).code).toBe(0);
    // A wide vector field: 2,048 x 128 hits x 1024 x 4 bytes would be 1 GiB.
    expectRefused((await rawCall('Search', encodeRequest('Search', {
      collection_name: WIDE, nq: 2048, output_fields: ['v'],
      placeholder_group: encodeFloatVectorPlaceholderGroup(Array.from({ length: 2048 }, () => Array.from({ length: WIDE_DIM }, () => 0.5))),
      search_params: [{ key: 'topk', value: '128' }],
    }))).res, /returning vectors with 262144 hits takes 1073741824 bytes, more than a reply may hold/, 'wide vectors');
  });
});

describe('queries and filters', () => {
  const queryRaw = (over: Record<string, unknown>, params: Record<string, string> = {}): Buffer =>
    encodeRequest('Query', {
      collection_name: CONTROL, expr: 'id >= 0', output_fields: ['id'],
      query_params: Object.entries(params).map(([key, value]) => ({ key, value })), ...over,
    });

  test.each([
    ['limit -1', {}, { limit: '-1' }, /limit "-1" is invalid/],
    ['limit "abc"', {}, { limit: 'abc' }, /limit "abc" is invalid/],
    ['limit 1e30', {}, { limit: '1e30' }, /limit "1e30" is invalid/],
    ['offset "NaN"', {}, { limit: '10', offset: 'NaN' }, /offset "NaN" is invalid/],
    ['offset + limit over 16384', {}, { limit: '16384', offset: '1' }, /offset \+ limit is 16385/],
    ['ignore_growing', {}, { limit: '5', ignore_growing: 'true' }, /"ignore_growing" is not supported/],
    ['a filter naming no field', { expr: 'no_such_field > 1' }, {}, /no_such_field/],
    ['a 10,000-deep JSON path', { expr: 'j' + '["k"]'.repeat(10_000) + ' > 1' }, {}, /nest|deep|path/i],
    ['a 10,000-deep list', { expr: 'id in ' + '['.repeat(10_000) + '1' + ']'.repeat(10_000) }, {}, /nest|deep/i],
    ['db_name of a database that does not exist', { db_name: 'no_such_db' }, { limit: '5' }, /database not found\[database=no_such_db\]/],
    ['a 1 MB collection name', { collection_name: 'c'.repeat(1 << 20) }, { limit: '5' }, /invalid collection name "c{128}\.\.\. \(1048448 more characters\)"/],
  ])('%s is refused', async (_what, over, params, pattern) => {
    expectRefused((await rawCall('Query', queryRaw(over, params))).res, pattern, String(_what));
  });

  test('an Int64 list template filter (id in {ids}) is accepted', async () => {
    const res = await client.query({ collection_name: CONTROL, filter: 'id in {ids}', exprValues: { ids: [3, 5, 8] }, output_fields: ['id'], consistency_level: STRONG });
    expectOk(res.status, 'id in {ids}');
    expect(res.data.map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([3, 5, 8]);
  });

  test.each(['%a%a%b', '%a%b', '%a_a%a_b%', '%' + 'a%'.repeat(200) + 'b'])(
    'LIKE "%s" on a 60,000-character VarChar answers promptly while /healthz stays responsive',
    async (pattern) => {
      const t0 = Date.now();
      const probes: Promise<void>[] = [];
      const timer = setInterval(() => probes.push(healthzWithin(HEALTH_DEADLINE_MS)), 100);
      try {
        const res = await client.query({ collection_name: VICTIM, filter: `s like "${pattern}"`, output_fields: ['id'], consistency_level: STRONG });
        expectOk(res.status, `like ${pattern}`);
        expect(res.data).toEqual([]);
      } finally {
        clearInterval(timer);
      }
      await Promise.all(probes);
      expect(Date.now() - t0).toBeLessThan(5_000);
    },
  );
});

describe('names, properties and DDL parameters', () => {
  test.each([
    ['名前'],
    ['../../etc/passwd'],
    ['a/b'],
    ['nul\u0000byte'],
    ['x'.repeat(256)],
  ])('collection name %j is refused by name', async (name) => {
    const st = await sdkStatus(client.createCollection({ collection_name: name, fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'v', data_type: DataType.FloatVector, dim: 4 }] }));
    expect(st.reason).toMatch(/collection name/);
  });

  test('an empty collection name (which the SDK would not send) is refused by name', async () => {
    expectRefused((await rawCall('DescribeCollection', encodeRequest('DescribeCollection', { collection_name: '' }))).res, /collection name should not be empty/, 'empty name');
  });

  test('partition, alias and index names with paths and unicode are refused', async () => {
    expect((await sdkStatus(client.createPartition({ collection_name: CONTROL, partition_name: '../p' }))).reason).toMatch(/partition name/);
    expect((await sdkStatus(client.createAlias({ collection_name: CONTROL, alias: 'ａｌｉａｓ' }))).reason).toMatch(/alias name/);
  });

  test('collection.ttl.seconds -1 and 1e6 shards are refused; a positive TTL is accepted (and dropped again)', async () => {
    const fields = [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'v', data_type: DataType.FloatVector, dim: 4 }];
    const ttl = await sdkStatus(client.createCollection({ collection_name: 'ttl_neg', fields, properties: { 'collection.ttl.seconds': -1 } }));
    expect(ttl.reason).toMatch(/collection.ttl.seconds must be a whole number of seconds >= 0/);
    expect((await client.alterCollectionProperties({ collection_name: CONTROL, properties: { 'collection.ttl.seconds': 3600 } })).error_code).toBe('Success');
    expect((await client.dropCollectionProperties({ collection_name: CONTROL, properties: ['collection.ttl.seconds'] })).error_code).toBe('Success');
    const shards = await sdkStatus(client.createCollection({ collection_name: 'many_shards', fields, shards_num: 1_000_000 }));
    expect(shards.reason).toMatch(/shards_num/);
    expect((await client.hasCollection({ collection_name: 'many_shards' })).value).toBe(false);
  });

  test('a message over the size limit is refused by gRPC naming the limit, and the server keeps serving', async () => {
    const huge = Buffer.alloc(20 << 20, 0x61);
    const { err } = await rawCall('Query', encodeRequest('Query', { collection_name: CONTROL, expr: huge.toString('latin1') }));
    expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/larger than max/i);
  });
});

describe('finally', () => {
  test('after all of it, the control collection is intact and the server still runs', async () => {
    await controlIntact();
    expect(server.running).toBe(true);
  });
});
