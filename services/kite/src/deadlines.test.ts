/* eslint-disable @typescript-eslint/no-explicit-any -- SDK responses are untyped here */
// Every call ends: Kite standalone in this process on a WAL whose appends the test can make fail or hang, driven
// through the official Node SDK. An insert that cannot reach the WAL answers within the server-side bound (or the
// client's deadline) with a retriable status naming the channel and the cause, and the server keeps serving.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger } from '@kite/common';
import type { ChannelRef, Wal, WalMessage } from '@kite/wal';
import { openBackends } from './backends';
import { startStandalone, type Standalone } from './standalone';

jest.mock(require.resolve('@zilliz/milvus2-sdk-node/dist/milvus/bulkwriter'), () => ({}));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { MilvusClient, DataType } = require('@zilliz/milvus2-sdk-node') as { MilvusClient: new (cfg: object) => any; DataType: Record<string, number> };

jest.setTimeout(120_000);

type Mode = 'ok' | 'refuse' | 'hang' | 'hang-end-offset';
let mode: Mode = 'ok';
const hung: (() => void)[] = [];

/** The embedded WAL with appends that fail as Kafka's do when a partition has no leader, or never answer. */
function faulty(inner: Wal): Wal {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'endOffset') {
        return async (ref: ChannelRef) => {
          if (mode === 'hang-end-offset') await new Promise<void>((resolve) => hung.push(resolve));
          return target.endOffset(ref);
        };
      }
      if (prop !== 'append') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return async (ref: ChannelRef, messages: WalMessage[]) => {
        if (mode === 'refuse') throw new Error('This server does not host this topic-partition');
        if (mode === 'hang') await new Promise<void>((resolve) => hung.push(resolve));
        return target.append(ref, messages);
      };
    },
  });
}

const WRITE_BOUND_MS = 1500;
const READ_BOUND_MS = 2500;
let dir = '';
let server: Standalone;
let client: any;

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-deadlines-'));
  const cfg = loadConfig({
    env: {},
    overrides: {
      common: { dataDir: dir, listenHost: '127.0.0.1', advertiseHost: '127.0.0.1' },
      proxy: { port: 0, metricsPort: 0, writeTimeoutMs: WRITE_BOUND_MS, defaultTimeoutMs: READ_BOUND_MS },
    },
  });
  server = await startStandalone(cfg, silentLogger, async (c, log, setting) => {
    const b = await openBackends(c, log, setting);
    return { ...b, wal: faulty(b.wal) };
  });
  client = new MilvusClient({ address: `127.0.0.1:${server.port}`, timeout: 30_000, logLevel: 'error' });
  const res = await client.createCollection({
    collection_name: 'c',
    fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'v', data_type: DataType.FloatVector, dim: 4 },
    ],
  });
  expect(res.error_code).toBe('Success');
});

afterAll(async () => {
  mode = 'ok';
  for (const r of hung.splice(0)) r();
  client?.closeConnection?.();
  await server?.stop();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const rows = (from: number, n: number): object[] => Array.from({ length: n }, (_, i) => ({ id: from + i, v: [i, 1, 2, 3] }));

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await p;
  return { value, ms: Date.now() - t0 };
}

async function serverStillServes(): Promise<void> {
  const d = await client.describeCollection({ collection_name: 'c' });
  expect(d.status.error_code).toBe('Success');
  const h = await client.checkHealth();
  expect(h.isHealthy).toBe(true);
}

test('an insert whose WAL append is refused fails with a retriable status naming the channel and the cause', async () => {
  mode = 'refuse';
  const { value: res, ms } = await timed(client.insert({ collection_name: 'c', data: rows(0, 10) }));
  expect(res.status.error_code).not.toBe('Success');
  expect(res.status.retriable).toBe(true);
  expect(res.status.reason).toMatch(/^WAL channel kite-dml-\d+#0 unavailable: This server does not host this topic-partition$/);
  expect(ms).toBeLessThan(WRITE_BOUND_MS + 5000);
  mode = 'ok';
  await serverStillServes();
});

test('an insert whose WAL append never answers ends at the server-side bound, and later inserts work', async () => {
  mode = 'hang';
  const { value: res, ms } = await timed(client.insert({ collection_name: 'c', data: rows(100, 10) }));
  expect(res.status.error_code).not.toBe('Success');
  expect(res.status.retriable).toBe(true);
  expect(res.status.reason).toMatch(/^WAL channel kite-dml-\d+#0 unavailable: no acknowledgement within \d+ ms$/);
  // It waited for the bound (not failing early), and not much longer (a busy machine gets a generous margin).
  expect(ms).toBeGreaterThanOrEqual(WRITE_BOUND_MS - 200);
  expect(ms).toBeLessThan(WRITE_BOUND_MS + 5000);
  mode = 'ok';
  await serverStillServes();
  const ok = await client.insert({ collection_name: 'c', data: rows(200, 10) });
  expect(ok.status.error_code).toBe('Success');
  expect(ok.insert_cnt).toBe('10');
});

test("a client deadline shorter than the server's bound ends the call at the client's deadline", async () => {
  mode = 'hang';
  const { value: res, ms } = await timed(client.insert({ collection_name: 'c', data: rows(300, 10), timeout: 400 }).catch((e: Error) => e));
  // Either the SDK's own deadline error or the server's answer at that deadline: never a hang.
  const text = res instanceof Error ? res.message : String(res.status?.reason);
  expect(text).toMatch(/deadline|DEADLINE_EXCEEDED|no acknowledgement/i);
  expect(ms).toBeLessThan(WRITE_BOUND_MS);
  mode = 'ok';
  await serverStillServes();
});

test('a Strong search whose WAL end offset never arrives ends at the read bound naming the channel', async () => {
  expect((await client.createIndex({ collection_name: 'c', field_name: 'v', index_type: 'FLAT', metric_type: 'L2', params: {} })).error_code).toBe('Success');
  expect((await client.loadCollectionSync({ collection_name: 'c' })).error_code).toBe('Success');
  mode = 'hang-end-offset';
  const { value: res, ms } = await timed(client.search({ collection_name: 'c', data: [[1, 1, 2, 3]], limit: 3, consistency_level: 'Strong' }));
  expect(res.status.error_code).not.toBe('Success');
  expect(res.status.retriable).toBe(true);
  expect(res.status.reason).toMatch(/^WAL channel kite-dml-\d+#0 unavailable: no end offset within \d+ ms$/);
  expect(ms).toBeGreaterThanOrEqual(READ_BOUND_MS - 200);
  expect(ms).toBeLessThan(READ_BOUND_MS + 5000);
  mode = 'ok';
  for (const r of hung.splice(0)) r();
  const ok = await client.search({ collection_name: 'c', data: [[1, 1, 2, 3]], limit: 3, consistency_level: 'Strong' });
  expect(ok.status.error_code).toBe('Success');
  expect(ok.results.length).toBe(3);
});
