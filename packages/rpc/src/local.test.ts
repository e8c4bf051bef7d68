import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { KiteError } from '@kite/common';
import { registry } from '@kite/observe';
import { addService, bindServer, connect, PROTO_ROOT, serveInProcess, type Client } from './rpc';
import { messageConverter, type LocalRegistration } from './local';
import type { QueryNodeApi, QueryRequest, SearchRequest } from './messages';
import { useInternalSecret } from './security';

/**
 * The same calls through the in-process path and through gRPC, against one server: the answers, the requests the
 * handler sees, the errors, deadlines, a stop with calls in flight and the server metrics must be the same.
 */
type Handler = (r: unknown, ctx: { deadline: number }) => Promise<unknown>;
let behave: { Search: Handler; Query: Handler };
const seen: unknown[] = [];

const impl = {
  Search: (r: SearchRequest, ctx: { deadline: number }) => (seen.push(r), behave.Search(r, ctx)),
  Query: (r: QueryRequest, ctx: { deadline: number }) => (seen.push(r), behave.Query(r, ctx)),
} as unknown as QueryNodeApi;

let server: grpc.Server;
let port: number;
let registration: LocalRegistration | undefined;
let local: Client<QueryNodeApi>;
let remote: Client<QueryNodeApi>;

beforeAll(async () => {
  useInternalSecret('local-test-secret');
  server = new grpc.Server();
  addService(server, 'QueryNode', impl);
  port = await bindServer(server, '127.0.0.1', 0);
  // In process under one name; the other name reaches the same server over gRPC.
  registration = serveInProcess(server, `127.0.0.1:${port}`);
  local = connect('QueryNode', `127.0.0.1:${port}`, 5000);
  remote = connect('QueryNode', `localhost:${port}`, 5000);
});

afterAll(() => {
  registration?.close(true);
  local.close();
  remote.close();
  server.forceShutdown();
  useInternalSecret('');
});

beforeEach(() => {
  seen.length = 0;
  behave = { Search: async () => ({ status: { code: 0, kind: '', reason: '', retriable: false } }), Query: async () => ({}) };
});

/** What `fn` settles with on each client: [local, remote]. */
async function both<T>(fn: (c: Client<QueryNodeApi>) => Promise<T>): Promise<[PromiseSettledResult<T>, PromiseSettledResult<T>]> {
  const a = await Promise.allSettled([fn(local)]);
  const b = await Promise.allSettled([fn(remote)]);
  return [a[0]!, b[0]!];
}

function errorOf(r: PromiseSettledResult<unknown>): { name: string; kind: string; code: number; message: string; retriable: boolean } {
  if (r.status !== 'rejected') throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  const e = r.reason as KiteError;
  expect(e).toBeInstanceOf(KiteError);
  return { name: e.name, kind: e.kind, code: e.code, message: e.message, retriable: e.retriable };
}

test('a partial request and response come out as protobuf makes them: defaults, conversions, no unknown fields', async () => {
  behave.Search = async () => ({ hits: new Uint8Array([1, 2, 3]), extra: 'dropped', status: null });
  const request = {
    collection_id: 7,
    channel: 'ch#0',
    topk: 10.7,
    vectors: new Uint8Array(new Float32Array([0.5, -1]).buffer),
    segment_ids: [1, 2],
    search_params: { ef: '64' },
    not_in_the_proto: { x: 1 },
  } as unknown as SearchRequest;
  const [a, b] = await both((c) => c.Search(request));
  expect(a.status).toBe('fulfilled');
  expect(b.status).toBe('fulfilled');
  const [ra, rb] = [(a as PromiseFulfilledResult<unknown>).value, (b as PromiseFulfilledResult<unknown>).value];
  expect(ra).toEqual(rb);
  expect(Buffer.isBuffer((ra as { hits: unknown }).hits)).toBe(true);
  expect(seen).toHaveLength(2);
  expect(seen[0]).toEqual(seen[1]);
  const got = seen[0] as SearchRequest & Record<string, unknown>;
  expect(got.topk).toBe(10);
  expect(got.filter).toBe('');
  expect(got.partition_ids).toEqual([]);
  expect(got.not_in_the_proto).toBeUndefined();
  expect(Buffer.isBuffer(got.vectors)).toBe(true);
  expect(Buffer.isBuffer(got.deletes) && got.deletes.length === 0).toBe(true);
});

test('in process, bytes are shared rather than copied, and the caller changing its request later does not reach the handler', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  behave.Query = async () => (await gate, { rows: Buffer.from('xy'), count: 2 });
  const deletes = Buffer.from([9, 9]);
  const request = { collection_id: 1, channel: 'a', deletes, output_fields: ['id'] } as unknown as QueryRequest;
  const call = local.Query(request);
  request.channel = 'b';
  request.output_fields.push('late');
  release();
  await expect(call).resolves.toEqual({ status: null, rows: Buffer.from('xy'), count: 2 });
  const got = seen[0] as QueryRequest;
  expect(got.channel).toBe('a');
  expect(got.output_fields).toEqual(['id']);
  expect(got.deletes.buffer).toBe(deletes.buffer);
});

test('errors: a KiteError, a non-retriable one made retriable, and a plain Error become the same KiteError both ways', async () => {
  for (const thrown of [
    new KiteError('CollectionNotFound', 'collection not found[collection=x]'),
    new KiteError('Internal', 'flaky', { retriable: true }),
    new Error('boom'),
  ]) {
    behave.Search = async () => {
      throw thrown;
    };
    const [a, b] = await both((c) => c.Search({} as SearchRequest));
    expect(errorOf(a)).toEqual(errorOf(b));
  }
  behave.Query = async () => ({ status: { code: 65535, kind: 'ChannelNotAvailable', reason: 'no', retriable: true } });
  const [a, b] = await both((c) => c.Query({} as QueryRequest));
  expect(errorOf(a)).toEqual(errorOf(b));
  expect(errorOf(a).retriable).toBe(true);
});

test('a call that does not answer ends at its deadline with the same DeadlineExceeded; the handler sees that deadline', async () => {
  const deadlines: number[] = [];
  behave.Search = (_r, ctx) => (deadlines.push(ctx.deadline - Date.now()), new Promise(() => undefined));
  const t0 = Date.now();
  const [a, b] = await both((c) => c.Search({} as SearchRequest, { timeoutMs: 300 }));
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(errorOf(a)).toEqual({ ...errorOf(b), message: errorOf(b).message.replace('localhost', '127.0.0.1') });
  expect(errorOf(a).kind).toBe('DeadlineExceeded');
  expect(deadlines).toHaveLength(2);
  for (const left of deadlines) expect(left > 0 && left <= 300).toBe(true);
});

test('the server metrics count in-process calls as they count gRPC calls', async () => {
  const count = async (status: string): Promise<number> => {
    const m = (await registry.getSingleMetric('kite_querynode_requests_total')?.get())?.values ?? [];
    return m.filter((v) => v.labels.method === 'Query' && v.labels.status === status).reduce((s, v) => s + v.value, 0);
  };
  const ok0 = await count('0');
  await local.Query({} as QueryRequest);
  expect(await count('0')).toBe(ok0 + 1);
  await remote.Query({} as QueryRequest);
  expect(await count('0')).toBe(ok0 + 2);
});

test('a server stopped at once fails in-process calls in flight with a retriable NodeOffline, as gRPC does', async () => {
  const s2 = new grpc.Server();
  addService(s2, 'QueryNode', { Query: () => new Promise(() => undefined) } as unknown as QueryNodeApi);
  const p2 = await bindServer(s2, '127.0.0.1', 0);
  const reg = serveInProcess(s2, `127.0.0.1:${p2}`)!;
  const l2 = connect('QueryNode', `127.0.0.1:${p2}`, 5000);
  const r2 = connect('QueryNode', `localhost:${p2}`, 5000);
  try {
    const calls = [l2.Query({} as QueryRequest), r2.Query({} as QueryRequest)];
    const settled = Promise.allSettled(calls);
    // Both calls reached the handler before the stop.
    await new Promise((r) => setTimeout(r, 300));
    reg.close(true);
    s2.forceShutdown();
    const [a, b] = await settled;
    expect(errorOf(a!).kind).toBe('NodeOffline');
    expect(errorOf(b!).kind).toBe('NodeOffline');
    expect(errorOf(a!).retriable).toBe(errorOf(b!).retriable);
    // After the stop, calls go to the closed port and fail as a remote caller's do.
    const after = await Promise.allSettled([l2.Query({} as QueryRequest, { timeoutMs: 2000 })]);
    expect(errorOf(after[0]!).kind).toBe('NodeOffline');
  } finally {
    l2.close();
    r2.close();
  }
});

test('every internal message converts in process as a protobuf round trip decodes it', () => {
  const def = protoLoader.loadSync(path.join(PROTO_ROOT, 'kite', 'internal.proto'), {
    keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, oneofs: true, bytes: Buffer,
  });
  const types = def as unknown as Record<string, { type?: Descriptor }>;
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  interface Descriptor { name: string; field: { name: string; label: string; type: string; typeName: string }[]; nestedType?: Descriptor[]; options?: { mapEntry?: boolean } | null }
  const find = (scope: Descriptor, typeName: string): Descriptor => {
    const bare = typeName.replace(/^\./, '');
    return scope.nestedType?.find((n) => n.name === bare) ?? types[bare]?.type ?? types[`kite.internal.${bare}`]!.type!;
  };
  const scalar = (type: string): unknown => {
    switch (type) {
      case 'TYPE_INT64': return Math.floor((rnd() - 0.5) * 2 ** 40);
      case 'TYPE_UINT32': return Math.floor(rnd() * 2 ** 31);
      case 'TYPE_INT32': return Math.floor((rnd() - 0.5) * 2 ** 20);
      case 'TYPE_FLOAT': case 'TYPE_DOUBLE': return rnd() * 100 - 50;
      case 'TYPE_BOOL': return rnd() < 0.5;
      case 'TYPE_STRING': return `s${Math.floor(rnd() * 1000)}`;
      case 'TYPE_BYTES': return new Uint8Array(Array.from({ length: Math.floor(rnd() * 5) }, () => Math.floor(rnd() * 256)));
      default: throw new Error(`no sample for ${type}`);
    }
  };
  const sample = (d: Descriptor, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = { not_a_field: 1 };
    for (const f of d.field) {
      if (rnd() < 0.3) continue; // absent: the default
      if (f.type === 'TYPE_MESSAGE') {
        const t = find(d, f.typeName);
        if (t.options?.mapEntry) out[f.name] = Object.fromEntries(Array.from({ length: Math.floor(rnd() * 3) }, (_, i) => [`k${i}`, `v${i}`]));
        else if (depth > 3) continue;
        else if (f.label === 'LABEL_REPEATED') out[f.name] = Array.from({ length: Math.floor(rnd() * 3) }, () => sample(t, depth + 1));
        else out[f.name] = sample(t, depth + 1);
      } else if (f.label === 'LABEL_REPEATED') out[f.name] = Array.from({ length: Math.floor(rnd() * 4) }, () => scalar(f.type));
      else out[f.name] = scalar(f.type);
    }
    return out;
  };
  // Every request and response type of the three services, with grpc-js's own (de)serializers.
  const pkg = (grpc.loadPackageDefinition(def).kite as grpc.GrpcObject).internal as grpc.GrpcObject;
  const codecs = new Map<string, { serialize: (v: unknown) => Buffer; deserialize: (b: Buffer) => unknown }>();
  for (const svc of ['QueryCoord', 'QueryNode', 'DataNode']) {
    const service = (pkg[svc] as grpc.ServiceClientConstructor).service as unknown as Record<string, {
      requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown;
      requestType: { type: { name: string } }; responseType: { type: { name: string } };
    }>;
    for (const m of Object.values(service)) {
      codecs.set(`kite.internal.${m.requestType.type.name}`, { serialize: m.requestSerialize, deserialize: m.requestDeserialize });
      codecs.set(`kite.internal.${m.responseType.type.name}`, { serialize: m.responseSerialize, deserialize: m.responseDeserialize });
    }
  }
  expect(codecs.size).toBeGreaterThan(30);
  for (const [name, codec] of codecs) {
    const convert = messageConverter(types as never, name);
    for (let i = 0; i < 20; i++) {
      const v = sample(types[name]!.type!, 0);
      expect([name, convert(v)]).toEqual([name, codec.deserialize(codec.serialize(v))]);
    }
  }
});
