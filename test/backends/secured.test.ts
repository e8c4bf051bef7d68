/**
 * Kite on backends that want credentials, through `bin/kite standalone` and the official Node SDK: etcd with
 * authentication enabled, Kafka through a SASL_PLAINTEXT listener (SCRAM-SHA-256), and the object store under a
 * root path in a directory another cluster shares. Wrong credentials stop the start (or the first write) with a
 * message naming the setting to fix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { runKite } from '../cluster/launcher';
import { enableEtcdAuth, startEtcd, startKafka, type EtcdServer, type KafkaServer } from '../harness';
import { freePort, makeTempDir, removeTempDir } from '../harness/util';
import { eventually } from '../standalone/helpers';
import { startStandalone, type Standalone } from '../support/kite';

jest.setTimeout(300_000);

const ETCD_USER = { name: 'kite', password: 'etcd-secret' };
const KAFKA_USER = { username: 'kite', password: 'kafka-secret' };
const DEADLINE_MS = 90_000;

let etcd: EtcdServer;
let kafka: KafkaServer;
let dir: string;
let shared: string;

beforeAll(async () => {
  dir = makeTempDir('secured-backends');
  shared = path.join(dir, 'objects');
  [etcd, kafka] = await Promise.all([
    startEtcd({ dataDir: path.join(dir, 'etcd') }),
    startKafka({ dataDir: path.join(dir, 'kafka'), sasl: KAFKA_USER }),
  ]);
  await enableEtcdAuth(etcd.endpoints, 'root-secret', [ETCD_USER]);
}, 300_000);

afterAll(async () => {
  await Promise.all([etcd?.stop(), kafka?.stop()]);
  if (dir) removeTempDir(dir);
});

/** The environment of a Kite on the secured backends; `over` replaces single variables. */
function env(rootPath: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    KITE_COMMON_ROOT_PATH: rootPath,
    KITE_META_TYPE: 'etcd',
    KITE_META_ETCD_ENDPOINTS: etcd.endpoints.join(','),
    KITE_META_ETCD_USER_NAME: ETCD_USER.name,
    KITE_META_ETCD_PASSWORD: ETCD_USER.password,
    KITE_WAL_TYPE: 'kafka',
    KITE_WAL_KAFKA_BROKERS: kafka.saslBrokers.join(','),
    KITE_WAL_KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
    KITE_WAL_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
    KITE_WAL_KAFKA_SASL_USERNAME: KAFKA_USER.username,
    KITE_WAL_KAFKA_SASL_PASSWORD: KAFKA_USER.password,
    KITE_STORAGE_PATH: shared,
    KITE_STORAGE_ROOT_PATH: rootPath,
    ...over,
  };
}

/** Every file under `root`, relative, sorted. */
function files(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(root, f)).isFile())
    .sort();
}

describe('kite standalone on etcd with auth, Kafka with SASL and an object root path', () => {
  let server: Standalone | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  it('serves inserts and searches; its objects stay under its root path', async () => {
    server = await startStandalone({ env: env('cluster-a') });
    const client = new MilvusClient({ address: server.address, timeout: 60_000 });
    try {
      const created = await client.createCollection({
        collection_name: 'secured',
        fields: [
          { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
          { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
        ],
      });
      expect(created.error_code).toBe('Success');
      await client.createIndex({ collection_name: 'secured', field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' });
      await client.loadCollection({ collection_name: 'secured' });
      const rows = Array.from({ length: 50 }, (_, i) => ({ id: i, vector: [i, i + 1, i + 2, i + 3] }));
      const inserted = await client.insert({ collection_name: 'secured', data: rows });
      expect(inserted.status.error_code).toBe('Success');
      const flushed = await client.flush({ collection_names: ['secured'] });
      expect(flushed.status.error_code).toBe('Success');
      const res = await client.search({ collection_name: 'secured', data: [[7, 8, 9, 10]], limit: 1, consistency_level: 'Strong' as never });
      expect(res.status.error_code).toBe('Success');
      expect(String(res.results[0]?.id)).toBe('7');
    } finally {
      await client.closeConnection();
    }
    // Everything this cluster wrote to the shared directory is under cluster-a/.
    const top = fs.readdirSync(shared).filter((f) => f !== '.kite-tmp');
    expect(top).toEqual(['cluster-a']);
    expect(files(path.join(shared, 'cluster-a')).length).toBeGreaterThan(0);
  });

  it('refuses to start with a wrong etcd password, naming meta.etcdPassword', async () => {
    const r = await runKite(
      ['standalone', '--data-dir', makeTempDir('secured-wrong-etcd'), '--port', String(await freePort()), '--metrics-port', '0'],
      { ...process.env, ...env('cluster-b', { KITE_META_ETCD_PASSWORD: 'not-the-etcd-pw' }) },
      DEADLINE_MS,
    );
    expect(r.code).not.toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain('meta.etcdPassword');
    expect(r.stderr).toContain('refused the user name or password');
    expect(r.stdout + r.stderr).not.toContain('not-the-etcd-pw'); // no password in the output
  });

  it('refuses to start with a wrong Kafka password, naming wal.kafkaSaslPassword', async () => {
    const r = await runKite(
      ['standalone', '--data-dir', makeTempDir('secured-wrong-kafka'), '--port', String(await freePort()), '--metrics-port', '0'],
      { ...process.env, ...env('cluster-c', { KITE_WAL_KAFKA_SASL_PASSWORD: 'not-the-kafka-pw' }) },
      DEADLINE_MS,
    );
    expect(r.code).not.toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain('wal.kafkaSaslPassword');
    expect(r.stderr).toContain('refused the SASL SCRAM-SHA-256 login');
    expect(r.stdout + r.stderr).not.toContain('not-the-kafka-pw');
  });
});

describe('two clusters sharing one object directory under different storage.rootPath', () => {
  const servers: Standalone[] = [];
  afterAll(async () => {
    for (const s of servers) await s.dispose();
  });

  /** Creates `name` (4-d vectors, FLAT), inserts 20 rows and flushes them, so segment files are written. */
  async function fill(client: MilvusClient, name: string): Promise<void> {
    expect(
      (
        await client.createCollection({
          collection_name: name,
          fields: [
            { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
            { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
          ],
        })
      ).error_code,
    ).toBe('Success');
    await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' });
    await client.loadCollection({ collection_name: name });
    const rows = Array.from({ length: 20 }, (_, i) => ({ id: i, vector: [i, i, i, i] }));
    expect((await client.insert({ collection_name: name, data: rows })).status.error_code).toBe('Success');
    expect((await client.flush({ collection_names: [name] })).status.error_code).toBe('Success');
  }

  it('a drop in one leaves the other\'s objects', async () => {
    const objects = path.join(dir, 'shared-two');
    const [a, b] = await Promise.all(
      ['a', 'b'].map((root) => startStandalone({ env: { KITE_STORAGE_PATH: objects, KITE_STORAGE_ROOT_PATH: `cluster-${root}` } })),
    );
    servers.push(a!, b!);
    const ca = new MilvusClient({ address: a!.address, timeout: 60_000 });
    const cb = new MilvusClient({ address: b!.address, timeout: 60_000 });
    try {
      // The same collection in each: each cluster numbers its collections itself, so the keys collide
      // (collections/<same id>/...), which is what a shared bucket without root paths would mix up.
      await fill(ca, 'shared');
      await fill(cb, 'shared');
      // Flush answers once the segments are sealed; their files are written right after.
      const written = (root: string): Promise<string[]> =>
        eventually(`segment files under ${root}`, async () => {
          const found = files(path.join(objects, root)).filter((f) => f.endsWith('.kcb'));
          return found.length > 0 ? found : undefined;
        });
      await written('cluster-a');
      const bFiles = await written('cluster-b');

      expect((await ca.dropCollection({ collection_name: 'shared' })).error_code).toBe('Success');
      expect(files(path.join(objects, 'cluster-a')).filter((f) => f.startsWith('collections'))).toEqual([]);
      // B's files are all there (B may have added an index file meanwhile).
      expect(files(path.join(objects, 'cluster-b'))).toEqual(expect.arrayContaining(bFiles));
      const res = await cb.query({ collection_name: 'shared', filter: 'id >= 0', output_fields: ['id'], consistency_level: 'Strong' as never });
      expect(res.status.error_code).toBe('Success');
      expect(res.data).toHaveLength(20);
    } finally {
      await ca.closeConnection();
      await cb.closeConnection();
    }
  });
});
