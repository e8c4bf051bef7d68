/* eslint-disable @typescript-eslint/no-explicit-any -- the tests probe decoded wire objects dynamically */
// Wire compatibility of proto/milvus/*.proto with the official Node SDK's descriptor
// (@zilliz/milvus2-sdk-node 2.6.17, dist/milvus/proto-json/milvus.js, which pymilvus 2.6.17's generated code matches).
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { MILVUS_SERVICE_NAME, loadMilvusPackage, milvusProtobufRoot } from './index';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sdkJson = require('@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus').default as protobuf.INamespace;

const sdkRoot = protobuf.Root.fromJSON(sdkJson);
sdkRoot.resolveAll();
const ourRoot = milvusProtobufRoot();

/** Fields of SDK messages Kite deliberately leaves out (unserved features); everything else must be declared. */
const OMITTED: Record<string, string[]> = {
  'milvus.proto.milvus.FlushResponse': ['channel_cps'],
  // Milvus 2.6's streaming-service details of FlushAll; the SDKs wait on flush_all_ts without them.
  'milvus.proto.milvus.FlushAllResponse': ['flush_all_msgs', 'cluster_info'],
  'milvus.proto.milvus.FlushCollectionResult': ['channel_cps'],
  'milvus.proto.schema.SearchResultData': ['highlight_results'],
};

/** The RPCs the brief requires, plus AllocTimestamp (pymilvus's create_index calls it) and HybridSearch. */
const REQUIRED_RPCS = [
  'Connect', 'GetVersion', 'CheckHealth', 'GetComponentStates', 'CreateCollection', 'DescribeCollection',
  'HasCollection', 'ShowCollections', 'DropCollection', 'GetCollectionStatistics', 'AlterCollection',
  'CreatePartition', 'ShowPartitions', 'HasPartition', 'DropPartition', 'LoadPartitions', 'ReleasePartitions',
  'GetPartitionStatistics', 'CreateIndex', 'DescribeIndex', 'DropIndex', 'GetIndexState', 'GetIndexBuildProgress',
  'LoadCollection', 'GetLoadState', 'GetLoadingProgress', 'ReleaseCollection', 'Insert', 'Upsert', 'Delete', 'Flush',
  'GetFlushState', 'Search', 'Query', 'CreateAlias', 'DropAlias', 'AlterAlias', 'DescribeAlias', 'ListAliases',
  'GetReplicas', 'ListDatabases', 'DescribeDatabase', 'AllocTimestamp', 'HybridSearch',
];

function collect(ns: protobuf.NamespaceBase, types: protobuf.Type[], enums: protobuf.Enum[], services: protobuf.Service[]): void {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) {
      types.push(obj);
      collect(obj, types, enums, services);
    } else if (obj instanceof protobuf.Enum) enums.push(obj);
    else if (obj instanceof protobuf.Service) services.push(obj);
    else if (obj instanceof protobuf.Namespace) collect(obj, types, enums, services);
  }
}

const allTypes: protobuf.Type[] = [];
const ourEnums: protobuf.Enum[] = [];
const ourServices: protobuf.Service[] = [];
collect(ourRoot.lookup('milvus.proto') as protobuf.Namespace, allTypes, ourEnums, ourServices);
/** Kite's own stand-ins for the messages of RPCs it does not serve; not part of Milvus's descriptor. */
const isStandIn = (t: protobuf.ReflectionObject | null | undefined): boolean => !!t && /\.KiteUnsupported(Request|Response)$/.test(t.fullName);
const ourTypes = allTypes.filter((t) => !isStandIn(t));

const name = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, '');

/** A field's wire identity: number, label, scalar type or referenced type's full name, map key, oneof, packing. */
function describeField(f: protobuf.Field): Record<string, unknown> {
  return {
    id: f.id,
    repeated: f.repeated,
    map: f.map ? (f as unknown as protobuf.MapField).keyType : null,
    type: f.resolvedType ? f.resolvedType.fullName : f.type,
    oneof: f.partOf ? f.partOf.name : null,
    packed: f.repeated ? f.packed : null,
  };
}

describe('proto/milvus against the Node SDK descriptor', () => {
  it('declares something in each package', () => {
    expect(ourTypes.length).toBeGreaterThan(100);
    expect(ourEnums.length).toBeGreaterThan(10);
    expect(ourServices.map(name)).toEqual([MILVUS_SERVICE_NAME]);
  });

  it.each(ourTypes.map((t) => [name(t), t] as const))('message %s matches field by field', (full, ours) => {
    const sdk = sdkRoot.lookupType(full);
    for (const f of ours.fieldsArray) {
      const theirs = sdk.fields[f.name];
      if (theirs === undefined) throw new Error(`${full}.${f.name} is not in the SDK's descriptor`);
      expect({ field: f.name, ...describeField(f) }).toEqual({ field: f.name, ...describeField(theirs) });
    }
  });

  it.each(ourTypes.map((t) => [name(t), t] as const))('message %s leaves out only the documented fields', (full, ours) => {
    const sdk = sdkRoot.lookupType(full);
    const missing = sdk.fieldsArray.map((f) => f.name).filter((n) => ours.fields[n] === undefined);
    expect(missing).toEqual(OMITTED[full] ?? []);
  });

  it.each(ourEnums.map((e) => [name(e), e] as const))('enum %s values match', (full, ours) => {
    const sdk = sdkRoot.lookupEnum(full);
    for (const [valueName, num] of Object.entries(ours.values)) {
      expect({ value: valueName, num: sdk.values[valueName] }).toEqual({ value: valueName, num });
    }
    expect(ours.values[Object.keys(ours.values)[0] ?? '']).toBe(0);
  });

  it('every declared RPC exists in the SDK service with the same request and response types', () => {
    const ours = ourRoot.lookupService(MILVUS_SERVICE_NAME);
    const sdk = sdkRoot.lookupService(MILVUS_SERVICE_NAME);
    for (const m of ours.methodsArray) {
      const theirs = sdk.methods[m.name];
      if (theirs === undefined) throw new Error(`rpc ${m.name} is not in the SDK's MilvusService`);
      m.resolve();
      theirs.resolve();
      if (isStandIn(m.resolvedRequestType)) {
        // An unserved RPC: any request decodes as the empty stand-in; the response must be wire-compatible with
        // the SDK's (common.Status itself, or field 1 `status` of type common.Status).
        const sdkResp = theirs.resolvedResponseType!;
        if (isStandIn(m.resolvedResponseType)) {
          const f = sdkResp.fieldsById[1];
          expect([m.name, f?.name, f?.resolvedType?.fullName]).toEqual([m.name, 'status', '.milvus.proto.common.Status']);
        } else {
          expect([m.name, m.resolvedResponseType?.fullName]).toEqual([m.name, sdkResp.fullName]);
        }
        expect([!!m.requestStream, !!m.responseStream]).toEqual([!!theirs.requestStream, !!theirs.responseStream]);
        continue;
      }
      expect([m.name, m.resolvedRequestType?.fullName, m.resolvedResponseType?.fullName, !!m.requestStream, !!m.responseStream]).toEqual([
        theirs.name,
        theirs.resolvedRequestType?.fullName,
        theirs.resolvedResponseType?.fullName,
        !!theirs.requestStream,
        !!theirs.responseStream,
      ]);
    }
  });

  it('serves every required RPC, and the loaded grpc definition uses the full Milvus paths', () => {
    const ours = ourRoot.lookupService(MILVUS_SERVICE_NAME);
    expect(REQUIRED_RPCS.filter((m) => ours.methods[m] === undefined)).toEqual([]);
    const def = loadMilvusPackage()[MILVUS_SERVICE_NAME] as unknown as Record<string, { path: string }>;
    for (const m of REQUIRED_RPCS) expect(def[m]?.path).toBe(`/milvus.proto.milvus.MilvusService/${m}`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Round trips through the real (de)serializers: the SDK's side built from its descriptor with the Node SDK's own
// loader options, Kite's side from loadMilvusPackage().

type Codec = {
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): Record<string, unknown>;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): Record<string, unknown>;
};

const sdkPkg = protoLoader.fromJSON(sdkJson as protobuf.INamespace, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const sdkService = sdkPkg[MILVUS_SERVICE_NAME] as unknown as Record<string, Codec>;
const ourService = loadMilvusPackage()[MILVUS_SERVICE_NAME] as unknown as Record<string, Codec>;

function codec(svc: Record<string, Codec>, method: string): Codec {
  const c = svc[method];
  if (c === undefined) throw new Error(`no method ${method}`);
  return c;
}

/** Sends a request from the SDK side to Kite's side. */
function toServer(method: string, req: object): Record<string, unknown> {
  return codec(ourService, method).requestDeserialize(codec(sdkService, method).requestSerialize(req));
}

/** Sends a response from Kite's side to the SDK side. */
function toClient(method: string, res: object): Record<string, unknown> {
  return codec(sdkService, method).responseDeserialize(codec(ourService, method).responseSerialize(res));
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);

/** Every value `sub` holds is also in `sup` (which may have more keys: fields Kite leaves out). */
function expectContained(sub: unknown, sup: unknown, at = '$'): void {
  if (isPlain(sub)) {
    if (!isPlain(sup)) throw new Error(`${at}: expected an object, got ${JSON.stringify(sup)}`);
    for (const [k, v] of Object.entries(sub)) expectContained(v, sup[k], `${at}.${k}`);
  } else if (Array.isArray(sub)) {
    if (!Array.isArray(sup) || sup.length !== sub.length) throw new Error(`${at}: expected an array of ${sub.length}, got ${JSON.stringify(sup)}`);
    sub.forEach((v, i) => expectContained(v, sup[i], `${at}[${i}]`));
  } else if (sub instanceof Uint8Array) {
    if (!(sup instanceof Uint8Array) || !Buffer.from(sub).equals(Buffer.from(sup))) throw new Error(`${at}: bytes differ`);
  } else if (sub !== sup) {
    throw new Error(`${at}: ${JSON.stringify(sub)} !== ${JSON.stringify(sup)}`);
  }
}

/** Decodes the same bytes with both descriptors; Kite's view must be contained in the SDK's. */
function sameView(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const opts = { longs: String, enums: String, defaults: true, oneofs: true, arrays: true };
  const a = ourRoot.lookupType(typeName);
  const b = sdkRoot.lookupType(typeName);
  const ours = a.toObject(a.decode(bytes), opts);
  expectContained(ours, b.toObject(b.decode(bytes), opts));
  return ours;
}

const f32 = (xs: number[]): Buffer => Buffer.from(Float32Array.from(xs).buffer);

describe('round trips', () => {
  it('InsertRequest with every served field type reaches the server intact', () => {
    const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
    // Built the way the Node SDK's _insert builds it (Data.js buildColumnData).
    const req = {
      collection_name: 'c1',
      partition_name: 'p1',
      num_rows: 2,
      schema_timestamp: '449923838128193537',
      fields_data: [
        { type: 'Int64', field_name: 'id', is_dynamic: false, scalars: { long_data: { data: ['9007199254740993', '-5'] } }, valid_data: [] },
        { type: 'Bool', field_name: 'b', is_dynamic: false, scalars: { bool_data: { data: [true, false] } }, valid_data: [] },
        { type: 'Int8', field_name: 'i8', is_dynamic: false, scalars: { int_data: { data: [-128, 127] } }, valid_data: [] },
        { type: 'Int16', field_name: 'i16', is_dynamic: false, scalars: { int_data: { data: [-32768, 32767] } }, valid_data: [] },
        { type: 'Int32', field_name: 'i32', is_dynamic: false, scalars: { int_data: { data: [-2147483648, 2147483647] } }, valid_data: [] },
        { type: 'Float', field_name: 'f', is_dynamic: false, scalars: { float_data: { data: [1.5, -0.25] } }, valid_data: [] },
        { type: 'Double', field_name: 'd', is_dynamic: false, scalars: { double_data: { data: [Math.PI, -1e300] } }, valid_data: [] },
        { type: 'VarChar', field_name: 's', is_dynamic: false, scalars: { string_data: { data: ['héllo', ''] } }, valid_data: [] },
        // nullable: values for valid rows only, one flag per row
        { type: 'VarChar', field_name: 'ns', is_dynamic: false, scalars: { string_data: { data: ['x'] } }, valid_data: [false, true] },
        { type: 'JSON', field_name: 'j', is_dynamic: false, scalars: { json_data: { data: [json({ a: 1 }), json([1, 'x'])] } }, valid_data: [] },
        {
          type: 'Array', field_name: 'arr', is_dynamic: false, valid_data: [],
          scalars: { array_data: { element_type: 'Int64', data: [{ long_data: { data: ['1', '2'] } }, { long_data: { data: [] } }] } },
        },
        {
          type: 'Array', field_name: 'tags', is_dynamic: false, valid_data: [],
          scalars: { array_data: { element_type: 'VarChar', data: [{ string_data: { data: ['a'] } }, { string_data: { data: ['b', 'c'] } }] } },
        },
        { type: 'FloatVector', field_name: 'vec', is_dynamic: false, vectors: { dim: 3, float_vector: { data: [0.5, 1, 2, 3, 4, 5] } }, valid_data: [] },
        { type: 'JSON', field_name: '$meta', is_dynamic: true, scalars: { json_data: { data: [json({ color: 'red' }), json({})] } }, valid_data: [] },
      ],
    };
    const got = toServer('Insert', req);
    expect(got).toMatchObject({ collection_name: 'c1', partition_name: 'p1', num_rows: 2, schema_timestamp: '449923838128193537', db_name: '', base: null, hash_keys: [] });
    expect(got._namespace).toBeUndefined();
    const fd = got.fields_data as Array<Record<string, any>>;
    expect(fd.map((f) => [f.field_name, f.type, f.field])).toEqual([
      ['id', 'Int64', 'scalars'], ['b', 'Bool', 'scalars'], ['i8', 'Int8', 'scalars'], ['i16', 'Int16', 'scalars'],
      ['i32', 'Int32', 'scalars'], ['f', 'Float', 'scalars'], ['d', 'Double', 'scalars'], ['s', 'VarChar', 'scalars'],
      ['ns', 'VarChar', 'scalars'], ['j', 'JSON', 'scalars'], ['arr', 'Array', 'scalars'], ['tags', 'Array', 'scalars'],
      ['vec', 'FloatVector', 'vectors'], ['$meta', 'JSON', 'scalars'],
    ]);
    const byName = Object.fromEntries(fd.map((f) => [f.field_name as string, f]));
    expect(byName.id?.scalars).toEqual({ data: 'long_data', long_data: { data: ['9007199254740993', '-5'] } });
    expect(byName.b?.scalars.bool_data.data).toEqual([true, false]);
    expect(byName.i8?.scalars.int_data.data).toEqual([-128, 127]);
    expect(byName.i32?.scalars.int_data.data).toEqual([-2147483648, 2147483647]);
    expect(byName.f?.scalars.float_data.data).toEqual([1.5, -0.25]);
    expect(byName.d?.scalars.double_data.data).toEqual([Math.PI, -1e300]);
    expect(byName.s?.scalars.string_data.data).toEqual(['héllo', '']);
    expect(byName.ns?.valid_data).toEqual([false, true]);
    expect(byName.ns?.scalars.string_data.data).toEqual(['x']);
    expect((byName.j?.scalars.json_data.data as Buffer[]).map((b) => JSON.parse(b.toString()))).toEqual([{ a: 1 }, [1, 'x']]);
    expect(Buffer.isBuffer(byName.j?.scalars.json_data.data[0])).toBe(true);
    expect(byName.arr?.scalars.array_data).toEqual({
      element_type: 'Int64',
      data: [{ data: 'long_data', long_data: { data: ['1', '2'] } }, { data: 'long_data', long_data: { data: [] } }],
    });
    expect(byName.tags?.scalars.array_data.data[1]).toEqual({ data: 'string_data', string_data: { data: ['b', 'c'] } });
    expect(byName.vec?.vectors).toEqual({ dim: '3', data: 'float_vector', float_vector: { data: [0.5, 1, 2, 3, 4, 5] } });
    expect(byName.$meta?.is_dynamic).toBe(true);
    // Kite's view of the same bytes is contained in the SDK's.
    sameView('milvus.proto.milvus.InsertRequest', codec(sdkService, 'Insert').requestSerialize(req));
  });

  it('SearchRequest as the Node SDK builds it: search_params strings and a PlaceholderGroup', () => {
    // buildSearchRequest + buildSearchParams + buildPlaceholderGroupBytes, Node SDK 2.6.17.
    const PlaceholderGroup = sdkRoot.lookupType('milvus.proto.common.PlaceholderGroup');
    const group = PlaceholderGroup.encode(PlaceholderGroup.create({ placeholders: [{ tag: '$0', type: 101, values: [f32([1, 2]), f32([3, 4])] }] })).finish();
    const req = {
      collection_name: 'c1',
      partition_names: [],
      output_fields: ['*'],
      nq: 2,
      dsl: 'age > 3',
      dsl_type: 1,
      search_params: [
        { key: 'anns_field', value: 'vector' },
        { key: 'params', value: '{"nprobe":8}' },
        { key: 'topk', value: 10 },
        { key: 'offset', value: 0 },
        { key: 'metric_type', value: '' },
        { key: 'ignore_growing', value: false },
        { key: 'nprobe', value: 8 },
      ],
      consistency_level: 'Bounded',
      placeholder_group: Buffer.from(group),
      expr_template_values: { lim: { int64_val: 3 }, names: { array_val: { string_data: { data: ['a', 'b'] } } } },
    };
    const got = toServer('Search', req) as Record<string, any>;
    expect(got.search_input).toBe('placeholder_group');
    expect(got.ids).toBeUndefined();
    expect(got.nq).toBe('2');
    expect(got.dsl_type).toBe('BoolExprV1');
    expect(got.consistency_level).toBe('Bounded');
    expect(got.use_default_consistency).toBe(false);
    expect(got.guarantee_timestamp).toBe('0');
    expect(got.output_fields).toEqual(['*']);
    // Numbers and booleans arrive as their String() forms.
    expect(Object.fromEntries((got.search_params as Array<{ key: string; value: string }>).map((kv) => [kv.key, kv.value]))).toEqual({
      anns_field: 'vector', params: '{"nprobe":8}', topk: '10', offset: '0', metric_type: '', ignore_growing: 'false', nprobe: '8',
    });
    expect(got.expr_template_values).toEqual({
      lim: { val: 'int64_val', int64_val: '3' },
      names: { val: 'array_val', array_val: { data: 'string_data', string_data: { data: ['a', 'b'] } } },
    });
    const decodedGroup = sameView('milvus.proto.common.PlaceholderGroup', got.placeholder_group as Buffer) as Record<string, any>;
    expect(decodedGroup.placeholders[0].tag).toBe('$0');
    expect(decodedGroup.placeholders[0].type).toBe('FloatVector');
    expect(decodedGroup.placeholders[0].values.map((b: Buffer) => Array.from(new Float32Array(new Uint8Array(b).buffer)))).toEqual([[1, 2], [3, 4]]);
  });

  it('SearchRequest by primary keys uses the ids member of the search_input oneof', () => {
    const got = toServer('Search', { collection_name: 'c', nq: 2, ids: { str_id: { data: ['a', 'b'] } }, namespace: 'tenant1' }) as Record<string, any>;
    expect(got.search_input).toBe('ids');
    expect(got.ids).toEqual({ id_field: 'str_id', str_id: { data: ['a', 'b'] } });
    expect(got.placeholder_group).toBeUndefined();
    expect(got.namespace).toBe('tenant1');
    expect(got._namespace).toBe('namespace');
  });

  it('HybridSearchRequest as the Node SDK builds it: SearchRequests, rank_params and a Function ranker', () => {
    // buildSearchRequest for a hybrid search (data entries with anns_field), Node SDK 2.6.17.
    const PlaceholderGroup = sdkRoot.lookupType('milvus.proto.common.PlaceholderGroup');
    const group = (v: number[]): Buffer => Buffer.from(PlaceholderGroup.encode(PlaceholderGroup.create({ placeholders: [{ tag: '$0', type: 101, values: [f32(v)] }] })).finish());
    const sub = (field: string, v: number[], dsl: string) => ({
      collection_name: 'c1', partition_names: ['p1'], output_fields: ['*'], nq: 1, dsl, dsl_type: 1, consistency_level: 'Strong',
      search_params: [{ key: 'anns_field', value: field }, { key: 'params', value: '{}' }, { key: 'topk', value: 12 }, { key: 'offset', value: 2 }],
      placeholder_group: group(v),
    });
    const req = {
      collection_name: 'c1', partition_names: ['p1'], requests: [sub('dense_a', [1, 2], 'grp != 3'), sub('dense_b', [3, 4, 5], '')],
      output_fields: ['*'], consistency_level: 'Strong',
      rank_params: [{ key: 'strategy', value: 'rrf' }, { key: 'params', value: '{"k":30}' }, { key: 'round_decimal', value: -1 }, { key: 'limit', value: 6 }, { key: 'offset', value: 2 }],
      function_score: { functions: [{ name: 'f', type: 'Rerank', input_field_names: ['ts'], output_field_names: [], params: [{ key: 'reranker', value: 'decay' }] }], params: [] },
    };
    const got = toServer('HybridSearch', req) as Record<string, any>;
    expect(got.collection_name).toBe('c1');
    expect(got.partition_names).toEqual(['p1']);
    expect(got.consistency_level).toBe('Strong');
    expect(got.use_default_consistency).toBe(false);
    expect(got.requests).toHaveLength(2);
    expect(got.requests[0].search_input).toBe('placeholder_group');
    expect(got.requests[0].dsl).toBe('grp != 3');
    expect(Object.fromEntries(got.requests[1].search_params.map((kv: { key: string; value: string }) => [kv.key, kv.value]))).toEqual({ anns_field: 'dense_b', params: '{}', topk: '12', offset: '2' });
    expect(Object.fromEntries(got.rank_params.map((kv: { key: string; value: string }) => [kv.key, kv.value]))).toEqual({ strategy: 'rrf', params: '{"k":30}', round_decimal: '-1', limit: '6', offset: '2' });
    expect(got.function_score.functions[0]).toMatchObject({ name: 'f', type: 'Rerank', input_field_names: ['ts'], params: [{ key: 'reranker', value: 'decay' }] });
    sameView('milvus.proto.milvus.HybridSearchRequest', codec(sdkService, 'HybridSearch').requestSerialize(req));
  });

  it('HybridSearchRequest as pymilvus 2.6.17 serializes it (bytes from Prepare.hybrid_search_request_with_ranker)', () => {
    // WeightedRanker(0.3, 0.7) over two AnnSearchRequests with filters, template values, round_decimal=3, offset=2.
    const weighted = Buffer.from(
      '1a0163220270312ac0011a0163220270312a0867727020213d203332120a100a02243010651a080000003f0000803f38014a090a04746f706b1201374a120a0d726f756e645f646563696d616c1201334a170a0e69676e6f72655f67726f77696e67120546616c73654a0b0a066f66667365741201324a110a0b6d65747269635f7479706512024c324a150a0a616e6e735f6669656c64120764656e73655f614a260a06706172616d73121c7b226566223a36342c226d65747269635f74797065223a224c32227d60012ad1011a0163220270312a0a7473203e3d207b6c6f7d32160a140a02243010651a0c0000803f000000400000404038014a090a04746f706b1201374a120a0d726f756e645f646563696d616c1201334a170a0e69676e6f72655f67726f77696e67120546616c73654a0b0a066f66667365741201324a110a0b6d65747269635f7479706512024c324a150a0a616e6e735f6669656c64120764656e73655f624a260a06706172616d73121c7b226566223a36342c226d65747269635f74797065223a224c32227d60019201080a026c6f1202102832140a0873747261746567791208776569676874656432310a06706172616d7312277b2277656967687473223a5b302e332c302e375d2c226e6f726d5f73636f7265223a747275657d320a0a056c696d697412013532120a0d726f756e645f646563696d616c120133320b0a066f66667365741201325203677270',
      'hex',
    );
    const got = sameView('milvus.proto.milvus.HybridSearchRequest', weighted) as Record<string, any>;
    expect(got.output_fields).toEqual(['grp']);
    expect(got.partition_names).toEqual(['p1']);
    expect(got.requests.map((r: Record<string, any>) => r.dsl)).toEqual(['grp != 3', 'ts >= {lo}']);
    expect(got.requests[1].expr_template_values).toEqual({ lo: { val: 'int64_val', int64_val: '40' } });
    const kv = (list: { key: string; value: string }[]) => Object.fromEntries(list.map((p) => [p.key, p.value]));
    expect(kv(got.requests[0].search_params)).toMatchObject({ anns_field: 'dense_a', topk: '7', round_decimal: '3', offset: '2', ignore_growing: 'False' });
    expect(kv(got.rank_params)).toEqual({ strategy: 'weighted', params: '{"weights":[0.3,0.7],"norm_score":true}', limit: '5', round_decimal: '3', offset: '2' });
    // A Function ranker (decay): rank_params carry the page only, the function travels in function_score.
    const decay = Buffer.from(
      '1a01632ac0011a0163220270312a0867727020213d203332120a100a02243010651a080000003f0000803f38014a090a04746f706b1201374a120a0d726f756e645f646563696d616c1201334a170a0e69676e6f72655f67726f77696e67120546616c73654a0b0a066f66667365741201324a110a0b6d65747269635f7479706512024c324a150a0a616e6e735f6669656c64120764656e73655f614a260a06706172616d73121c7b226566223a36342c226d65747269635f74797065223a224c32227d6001320a0a056c696d697412013532130a0d726f756e645f646563696d616c12022d31320b0a066f666673657412013060016a4d0a4b0a016420032a0274734a110a08726572616e6b6572120564656361794a110a0866756e6374696f6e120567617573734a0d0a066f726967696e12033130304a0b0a057363616c6512023430',
      'hex',
    );
    const got2 = sameView('milvus.proto.milvus.HybridSearchRequest', decay) as Record<string, any>;
    expect(got2.use_default_consistency).toBe(true);
    expect(kv(got2.rank_params)).toEqual({ limit: '5', round_decimal: '-1', offset: '0' });
    expect(got2.function_score.functions[0].type).toBe('Rerank');
    expect(kv(got2.function_score.functions[0].params)).toEqual({ reranker: 'decay', function: 'gauss', origin: '100', scale: '40' });
  });

  it('QueryRequest as pymilvus builds it', () => {
    const got = toServer('Query', {
      collection_name: 'c',
      expr: "id in ['a','b']",
      output_fields: ['count(*)'],
      guarantee_timestamp: '1',
      use_default_consistency: true,
      consistency_level: 0,
      query_params: [{ key: 'limit', value: '5' }, { key: 'ignore_growing', value: 'False' }, { key: 'reduce_stop_for_best', value: 'False' }],
    }) as Record<string, any>;
    expect(got).toMatchObject({ expr: "id in ['a','b']", output_fields: ['count(*)'], guarantee_timestamp: '1', use_default_consistency: true, consistency_level: 'Strong' });
    expect(got.query_params).toHaveLength(3);
  });

  it('CreateCollectionRequest carries a CollectionSchema that Kite decodes', () => {
    const CollectionSchema = sdkRoot.lookupType('milvus.proto.schema.CollectionSchema');
    const schema = CollectionSchema.encode(CollectionSchema.fromObject({
      name: 'c',
      enable_dynamic_field: true,
      fields: [
        { name: 'id', data_type: 'VarChar', is_primary_key: true, autoID: false, type_params: [{ key: 'max_length', value: '64' }] },
        { name: 'vector', data_type: 'FloatVector', type_params: [{ key: 'dim', value: '768' }] },
        { name: 'age', data_type: 'Int32', nullable: true, default_value: { int_data: 18 } },
        { name: 'tags', data_type: 'Array', element_type: 'VarChar', type_params: [{ key: 'max_capacity', value: '4' }, { key: 'max_length', value: '8' }] },
      ],
    })).finish();
    const got = toServer('CreateCollection', { collection_name: 'c', schema, consistency_level: 2, shards_num: 2, properties: [{ key: 'collection.ttl.seconds', value: '60' }] }) as Record<string, any>;
    expect(got.consistency_level).toBe('Bounded');
    expect(got.num_partitions).toBe('0');
    const decoded = sameView('milvus.proto.schema.CollectionSchema', got.schema as Buffer) as Record<string, any>;
    expect(decoded.enable_dynamic_field).toBe(true);
    expect(decoded.fields.map((f: Record<string, unknown>) => [f.name, f.data_type, f.element_type, f.is_primary_key, f.nullable])).toEqual([
      ['id', 'VarChar', 'None', true, false],
      ['vector', 'FloatVector', 'None', false, false],
      ['age', 'Int32', 'None', false, true],
      ['tags', 'Array', 'VarChar', false, false],
    ]);
    expect(decoded.fields[2].default_value).toEqual({ data: 'int_data', int_data: 18 });
    expect(decoded.fields[0].default_value).toBeNull();
  });

  it('DescribeCollectionResponse reaches the SDK as it reads it', () => {
    const got = toClient('DescribeCollection', {
      status: {},
      schema: {
        name: 'c', enable_dynamic_field: true,
        fields: [
          { fieldID: 100, name: 'id', is_primary_key: true, data_type: 'Int64', autoID: true },
          { fieldID: 101, name: 'vector', data_type: 'FloatVector', type_params: [{ key: 'dim', value: '4' }] },
        ],
      },
      collectionID: '449923838128193537',
      consistency_level: 'Bounded',
      collection_name: 'c',
      update_timestamp: '449923838128193538',
      update_timestamp_str: '449923838128193538',
      shards_num: 1,
      aliases: ['a1'],
      properties: [],
      db_name: 'default',
    }) as Record<string, any>;
    expect(got.status).toMatchObject({ error_code: 'Success', code: 0 });
    expect(got.collectionID).toBe('449923838128193537');
    expect(got.consistency_level).toBe('Bounded');
    expect(got.schema.fields[1]).toMatchObject({ name: 'vector', data_type: 'FloatVector', fieldID: '101', type_params: [{ key: 'dim', value: '4' }] });
    expect(got.schema.fields[0].autoID).toBe(true);
    expect(got.schema.struct_array_fields).toEqual([]);
    expect(got.update_timestamp_str).toBe('449923838128193538');
  });

  it('SearchResults reach the SDK with ids, scores, topks and typed result columns', () => {
    const got = toClient('Search', {
      status: {},
      results: {
        num_queries: 2, top_k: 2, topks: [2, 1], scores: [0.5, 0.25, 1],
        ids: { int_id: { data: ['7', '9', '11'] } },
        output_fields: ['age', 'color'],
        primary_field_name: 'id',
        fields_data: [
          { type: 'Int32', field_name: 'age', scalars: { int_data: { data: [1, 2, 3] } } },
          { type: 'JSON', field_name: '$meta', is_dynamic: true, scalars: { json_data: { data: [Buffer.from('{"color":"red"}'), Buffer.from('{}'), Buffer.from('{}')] } } },
          { type: 'FloatVector', field_name: 'vector', vectors: { dim: 2, float_vector: { data: [1, 2, 3, 4, 5, 6] } } },
        ],
      },
      collection_name: 'c',
      session_ts: '5',
    }) as Record<string, any>;
    const r = got.results;
    expect(r.topks).toEqual(['2', '1']);
    expect(r.ids).toEqual({ id_field: 'int_id', int_id: { data: ['7', '9', '11'] } });
    expect(r.scores).toEqual([0.5, 0.25, 1]);
    expect(r.primary_field_name).toBe('id');
    expect(r.fields_data.map((f: Record<string, any>) => [f.field_name, f.type, f.field, f.scalars?.data ?? f.vectors?.data])).toEqual([
      ['age', 'Int32', 'scalars', 'int_data'], ['$meta', 'JSON', 'scalars', 'json_data'], ['vector', 'FloatVector', 'vectors', 'float_vector'],
    ]);
    expect(r.fields_data[2].vectors.dim).toBe('2');
  });

  it('an empty result column still names its kind (pymilvus rejects a column without one)', () => {
    const got = toClient('Query', {
      status: {},
      fields_data: [
        { type: 'Int64', field_name: 'id', scalars: { long_data: { data: [] } } },
        { type: 'FloatVector', field_name: 'v', vectors: { dim: 8, float_vector: { data: [] } } },
      ],
      output_fields: ['id', 'v'],
    }) as Record<string, any>;
    expect(got.fields_data[0].scalars.data).toBe('long_data');
    expect(got.fields_data[1].vectors).toMatchObject({ data: 'float_vector', dim: '8' });
  });

  it('count(*) comes back as one Int64 column', () => {
    const got = toClient('Query', {
      status: {},
      fields_data: [{ type: 'Int64', field_name: 'count(*)', scalars: { long_data: { data: ['42'] } } }],
      output_fields: ['count(*)'],
    }) as Record<string, any>;
    expect(got.fields_data[0]).toMatchObject({ field_name: 'count(*)', type: 'Int64', scalars: { long_data: { data: ['42'] } } });
  });

  it('a failed status carries both the legacy and the new code', () => {
    const got = toClient('DescribeCollection', {
      status: { error_code: 'UnexpectedError', code: 100, reason: "can't find collection[database=default][collection=x]", extra_info: { is_input_error: 'true' } },
    }) as Record<string, any>;
    expect(got.status).toEqual({
      error_code: 'UnexpectedError', code: 100, reason: "can't find collection[database=default][collection=x]",
      retriable: false, detail: '', extra_info: { is_input_error: 'true' },
    });
    expect(got.schema).toBeNull();
  });

  it('Connect, MutationResult, FlushResponse, index and load responses round-trip', () => {
    expect(toClient('Connect', { status: {}, server_info: { build_tags: 'v2.6.0-kite', deploy_mode: 'STANDALONE' }, identifier: '1234' })).toMatchObject({
      identifier: '1234', server_info: { build_tags: 'v2.6.0-kite', deploy_mode: 'STANDALONE' },
    });
    expect(toClient('Insert', { status: {}, IDs: { str_id: { data: ['a', 'b'] } }, insert_cnt: 2, succ_index: [0, 1], timestamp: '449923838128193537' })).toMatchObject({
      IDs: { id_field: 'str_id', str_id: { data: ['a', 'b'] } }, insert_cnt: '2', succ_index: [0, 1], timestamp: '449923838128193537',
    });
    expect(toClient('Flush', { status: {}, coll_segIDs: { c: { data: ['1', '2'] } }, coll_flush_ts: { c: '77' } })).toMatchObject({
      coll_segIDs: { c: { data: ['1', '2'] } }, coll_flush_ts: { c: '77' },
    });
    expect(toClient('DescribeIndex', {
      status: {},
      index_descriptions: [{ index_name: 'vector', field_name: 'vector', state: 'Finished', params: [{ key: 'index_type', value: 'AUTOINDEX' }], total_rows: 10, indexed_rows: 10 }],
    })).toMatchObject({ index_descriptions: [{ index_name: 'vector', state: 'Finished', total_rows: '10', indexed_rows: '10', pending_index_rows: '0' }] });
    expect(toClient('GetLoadingProgress', { status: {}, progress: 100 })).toMatchObject({ progress: '100' });
    expect(toClient('GetLoadState', { status: {}, state: 'LoadStateLoaded' })).toMatchObject({ state: 'LoadStateLoaded' });
    expect(toClient('ShowCollections', { status: {}, collection_names: ['a'], collection_ids: ['1'], inMemory_percentages: [100] })).toMatchObject({
      collection_names: ['a'], collection_ids: ['1'], inMemory_percentages: ['100'],
    });
    expect(toClient('CheckHealth', { status: {}, isHealthy: true, quota_states: ['ReadLimited'] })).toMatchObject({ isHealthy: true, quota_states: ['ReadLimited'] });
    expect(toClient('GetComponentStates', { state: { nodeID: 1, role: 'proxy', state_code: 'Healthy' }, status: {} })).toMatchObject({
      state: { nodeID: '1', role: 'proxy', state_code: 'Healthy' },
    });
  });

  it('requests with no body decode to defaults', () => {
    expect(toServer('GetVersion', {})).toEqual({});
    expect(toServer('ListDatabases', {})).toEqual({ base: null });
    expect(toServer('Connect', { client_info: { sdk_type: 'nodejs', sdk_version: '2.6.17', reserved: { a: 'b' } } })).toEqual({
      base: null,
      client_info: { sdk_type: 'nodejs', sdk_version: '2.6.17', local_time: '', user: '', host: '', reserved: { a: 'b' } },
    });
    expect(toServer('GetFlushState', { segmentIDs: ['1', '2'], collection_name: 'c', flush_ts: '9' })).toEqual({
      segmentIDs: ['1', '2'], flush_ts: '9', db_name: '', collection_name: 'c',
    });
  });
});
