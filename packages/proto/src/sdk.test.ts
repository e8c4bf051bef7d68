/* eslint-disable @typescript-eslint/no-explicit-any -- the SDK is untyped here and the stub handles raw requests */
// The real Node SDK (@zilliz/milvus2-sdk-node 2.6.17) against a stub MilvusService served from Kite's protos:
// which RPCs each high-level call makes, what the requests look like after decoding, and that the SDK accepts the
// responses shaped as docs/milvus-wire-notes.md describes.
import * as grpc from '@grpc/grpc-js';
import {
  decodeCollectionSchema,
  decodePlaceholderGroup,
  milvusServiceDefinition,
  type CollectionSchema,
  type FieldDataOut,
  type InsertRequest,
  type QueryRequest,
  type SearchRequest,
} from './index';

// The SDK's index also loads its bulk writer (parquet -> thrift -> an ESM-only uuid) that jest cannot require;
// it plays no part in the gRPC client.
jest.mock(require.resolve('@zilliz/milvus2-sdk-node/dist/milvus/bulkwriter'), () => ({}));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { MilvusClient } = require('@zilliz/milvus2-sdk-node') as { MilvusClient: new (cfg: object) => any };

type Call = { method: string; request: any; metadata: Record<string, unknown> };

/** A tiny in-memory stand-in for Kite's proxy, just enough for the SDK's client-side logic. */
class StubMilvus {
  calls: Call[] = [];
  collections = new Map<string, { schema: CollectionSchema; rows: InsertRequest[]; level: string }>();

  handlers(): grpc.UntypedServiceImplementation {
    const impl: Record<string, (req: any) => object> = {
      Connect: () => ({ status: {}, identifier: '4242', server_info: { build_tags: 'v2.6.0-kite', deploy_mode: 'STANDALONE' } }),
      GetVersion: () => ({ status: {}, version: 'v2.6.0' }),
      DescribeCollection: (req) => {
        const c = this.collections.get(req.collection_name);
        if (!c) {
          return { status: { error_code: 'UnexpectedError', code: 100, reason: `can't find collection[database=default][collection=${req.collection_name}]` } };
        }
        return {
          status: {},
          schema: { ...c.schema, fields: c.schema.fields.map((f, i) => ({ ...f, fieldID: 100 + i })) },
          collectionID: '449923838128193537',
          collection_name: req.collection_name,
          consistency_level: c.level,
          shards_num: 1,
          update_timestamp: '449923838128193538',
          update_timestamp_str: '449923838128193538',
          db_name: 'default',
        };
      },
      CreateCollection: (req) => {
        const schema = decodeCollectionSchema(req.schema);
        this.collections.set(req.collection_name, { schema, rows: [], level: req.consistency_level });
        return {};
      },
      CreateIndex: () => ({}),
      LoadCollection: () => ({}),
      GetLoadingProgress: () => ({ status: {}, progress: 100 }),
      Insert: (req: InsertRequest) => {
        this.collections.get(req.collection_name)?.rows.push(req);
        const pk = req.fields_data.find((f) => f.field_name === 'id');
        return { status: {}, IDs: { int_id: { data: pk?.scalars?.long_data?.data ?? [] } }, insert_cnt: req.num_rows, timestamp: '449923838128193600' };
      },
      Search: (req: SearchRequest) => {
        const nq = Number(req.nq);
        // One hit per query: id 7+i, score 0.5+i; output fields as the SDK asked, '*' expanded like Milvus.
        const fields: FieldDataOut[] = [
          { type: 'Int64', field_name: 'id', scalars: { long_data: { data: Array.from({ length: nq }, (_, i) => 7 + i) } } },
          { type: 'FloatVector', field_name: 'vector', vectors: { dim: 4, float_vector: { data: Array.from({ length: nq * 4 }, (_, i) => i) } } },
          { type: 'JSON', field_name: '$meta', is_dynamic: true, scalars: { json_data: { data: Array.from({ length: nq }, () => Buffer.from('{"color":"red"}')) } } },
        ];
        return {
          status: {},
          results: {
            num_queries: nq, top_k: 1, topks: Array(nq).fill(1), scores: Array.from({ length: nq }, (_, i) => 0.5 + i),
            ids: { int_id: { data: Array.from({ length: nq }, (_, i) => 7 + i) } },
            fields_data: fields, output_fields: ['id', 'vector', 'color'], primary_field_name: 'id',
          },
          collection_name: req.collection_name,
          session_ts: '449923838128193601',
        };
      },
      Query: (req: QueryRequest) => {
        if (req.output_fields.includes('count(*)')) {
          const n = this.collections.get(req.collection_name)?.rows.reduce((s, r) => s + r.num_rows, 0) ?? 0;
          return { status: {}, fields_data: [{ type: 'Int64', field_name: 'count(*)', scalars: { long_data: { data: [n] } } }], output_fields: ['count(*)'] };
        }
        return {
          status: {},
          fields_data: [
            { type: 'Int64', field_name: 'id', scalars: { long_data: { data: ['1', '2'] } } },
            { type: 'JSON', field_name: '$meta', is_dynamic: true, scalars: { json_data: { data: [Buffer.from('{"color":"red"}'), Buffer.from('{}')] } } },
          ],
          output_fields: ['id', 'color'],
          primary_field_name: 'id',
        };
      },
      Delete: () => ({ status: {}, delete_cnt: 2, timestamp: '449923838128193602' }),
      DropCollection: (req) => {
        this.collections.delete(req.collection_name);
        return {};
      },
    };
    const out: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(milvusServiceDefinition())) {
      out[method] = (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        this.calls.push({ method, request: call.request, metadata: call.metadata.getMap() });
        const fn = impl[method];
        cb(null, fn ? fn(call.request) : { status: { error_code: 'UnexpectedError', code: 1, reason: `stub has no ${method}` } });
      };
    }
    return out;
  }

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

describe('Node SDK 2.6.17 against Kite protos', () => {
  const stub = new StubMilvus();
  const server = new grpc.Server();
  let client: any;

  beforeAll(async () => {
    server.addService(milvusServiceDefinition(), stub.handlers());
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new MilvusClient({ address: `127.0.0.1:${port}`, logLevel: 'error', maxRetries: 0 });
    await client.connectPromise;
  });

  afterAll(async () => {
    await client?.closeConnection();
    server.forceShutdown();
  });

  const since = (n: number): string[] => stub.methods().slice(n);

  it('connects with Connect only, sending client_info, and keeps the identifier', () => {
    expect(stub.methods()).toEqual(['Connect']);
    const req = stub.calls[0]?.request;
    expect(req.client_info).toMatchObject({ sdk_type: 'nodejs', sdk_version: '2.6.17' });
    expect(client.connectStatus).toBe(1); // CONNECTED: needs a non-zero identifier
  });

  it('quick-setup createCollection: DescribeCollection, CreateCollection, CreateIndex, LoadCollection, GetLoadingProgress', async () => {
    const n = stub.calls.length;
    await client.createCollection({ collection_name: 'quick', dimension: 4 });
    expect(since(n)).toEqual(['DescribeCollection', 'CreateCollection', 'CreateIndex', 'LoadCollection', 'GetLoadingProgress']);
    const create = stub.calls[n + 1]!;
    expect(create.metadata.dbname).toBe('default');
    expect(create.metadata.identifier).toBe('4242');
    expect(create.request.consistency_level).toBe('Bounded');
    const schema = decodeCollectionSchema(create.request.schema);
    expect(schema.enable_dynamic_field).toBe(true);
    expect(schema.fields.map((f) => [f.name, f.data_type, f.is_primary_key, f.autoID, f.type_params])).toEqual([
      ['id', 'Int64', true, false, []],
      ['vector', 'FloatVector', false, false, [{ key: 'dim', value: '4' }]],
    ]);
    const index = stub.calls[n + 2]!.request;
    expect(index).toMatchObject({ collection_name: 'quick', field_name: 'vector', index_name: '' });
    expect(index.extra_params).toEqual([{ key: 'metric_type', value: 'COSINE' }]);
  });

  it('insert: DescribeCollection (then cached), Insert with $meta and schema_timestamp', async () => {
    const n = stub.calls.length;
    const res = await client.insert({ collection_name: 'quick', data: [{ id: 1, vector: [1, 2, 3, 4], color: 'red' }, { id: 2, vector: [5, 6, 7, 8] }] });
    expect(since(n)).toEqual(['DescribeCollection', 'Insert']);
    expect(res.IDs.int_id.data).toEqual(['1', '2']);
    const req = stub.calls[n + 1]!.request as InsertRequest;
    expect(req.num_rows).toBe(2);
    expect(req.schema_timestamp).toBe('449923838128193538');
    expect(req.fields_data.map((f) => [f.field_name, f.type, f.is_dynamic])).toEqual([
      ['id', 'Int64', false], ['vector', 'FloatVector', false], ['$meta', 'JSON', true],
    ]);
    expect(req.fields_data[0]?.scalars?.long_data?.data).toEqual(['1', '2']);
    expect(req.fields_data[1]?.vectors).toMatchObject({ dim: '4', float_vector: { data: [1, 2, 3, 4, 5, 6, 7, 8] } });
    expect(req.fields_data[2]?.scalars?.json_data?.data.map((b) => JSON.parse(b.toString()))).toEqual([{ color: 'red' }, {}]);
  });

  it('search: only Search (schema cached); params as strings; results formatted from ids, scores and $meta', async () => {
    await client.insert({ collection_name: 'quick', data: [{ id: 3, vector: [0, 0, 0, 1] }] });
    const n = stub.calls.length;
    const res = await client.search({ collection_name: 'quick', data: [[0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]], limit: 3, filter: 'id > 0', output_fields: ['*'], params: { ef: 64 } });
    expect(since(n)).toEqual(['Search']);
    const req = stub.calls[n]!.request as SearchRequest;
    expect(req.search_input).toBe('placeholder_group');
    expect(req).toMatchObject({ collection_name: 'quick', dsl: 'id > 0', dsl_type: 'BoolExprV1', nq: '2', output_fields: ['*'], consistency_level: 'Bounded', use_default_consistency: false, guarantee_timestamp: '0' });
    expect(Object.fromEntries(req.search_params.map((kv) => [kv.key, kv.value]))).toEqual({
      anns_field: 'vector', params: '{"ef":64}', topk: '3', offset: '0', metric_type: '', ignore_growing: 'false', ef: '64',
    });
    const group = decodePlaceholderGroup(req.placeholder_group!);
    expect(group.placeholders).toHaveLength(1);
    expect(group.placeholders[0]?.tag).toBe('$0');
    expect(group.placeholders[0]?.type).toBe('FloatVector');
    expect(group.placeholders[0]?.values.map((b) => Array.from(new Float32Array(new Uint8Array(b).buffer)))).toEqual([
      [Math.fround(0.1), Math.fround(0.2), Math.fround(0.3), Math.fround(0.4)], [1, 1, 1, 1],
    ]);
    // output_fields names absent from fields_data ("color") are read from $meta.
    expect(res.results).toEqual([
      [{ score: 0.5, id: '7', vector: [0, 1, 2, 3], color: 'red' }],
      [{ score: 1.5, id: '8', vector: [4, 5, 6, 7], color: 'red' }],
    ]);
  });

  it('query: Query with output_fields ["*"] by default; count(*) reads one Int64 cell', async () => {
    const n = stub.calls.length;
    const rows = await client.query({ collection_name: 'quick', filter: 'id > 0', limit: 10 });
    const count = await client.count({ collection_name: 'quick' });
    expect(since(n)).toEqual(['Query', 'Query']);
    const q = stub.calls[n]!.request as QueryRequest;
    expect(q).toMatchObject({ expr: 'id > 0', output_fields: ['*'], consistency_level: 'Strong', use_default_consistency: false });
    expect(q.query_params).toEqual([{ key: 'limit', value: '10' }]);
    expect((stub.calls[n + 1]!.request as QueryRequest).output_fields).toEqual(['count(*)']);
    expect(rows.data).toEqual([{ id: '1', $meta: { color: 'red' } }, { id: '2', $meta: {} }]);
    expect(count.data).toBe(3);
  });

  it('delete by ids: DescribeCollection twice (pk name, pk type), then Delete with an expression', async () => {
    const n = stub.calls.length;
    await client.delete({ collection_name: 'quick', ids: [1, 2] });
    expect(since(n)).toEqual(['DescribeCollection', 'DescribeCollection', 'Delete']);
    expect(stub.calls[n + 2]!.request).toMatchObject({ collection_name: 'quick', expr: 'id in [1,2]' });
  });

  it('hasCollection reads a not-found DescribeCollection status as false', async () => {
    expect((await client.hasCollection({ collection_name: 'nope' })).value).toBe(false);
    expect((await client.hasCollection({ collection_name: 'quick' })).value).toBe(true);
  });

  it('dropCollection: DropCollection only', async () => {
    const n = stub.calls.length;
    await client.dropCollection({ collection_name: 'quick' });
    expect(since(n)).toEqual(['DropCollection']);
  });
});
