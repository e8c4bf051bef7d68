/**
 * A cluster whose object storage is S3 (a real MinIO server): data nodes flush segments and indexes into the
 * bucket, query nodes load them from it, and searches and counts are right. The bucket is listed through
 * S3ObjectStore and matched against the segment records in etcd.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { S3ObjectStore } from '@kite/objectstore';
import { startS3Server, type S3Server } from '../harness';
import { waitIndexBuilt } from '../standalone/helpers';
import { readSegments } from './inspect';
import { KiteCluster } from './launcher';
import { Model, count, createCollection, createHnswIndex, flushAndWait, insertRows, loadAndWait, makeRows, meanRecall, search } from './scenario';

jest.setTimeout(240_000);

const NAME = 'cluster_s3';
const BUCKET = 'kite-cluster-test';
let s3: S3Server;
let s3Dir: string;
let cluster: KiteCluster;
let client: MilvusClient | undefined;
const model = new Model();
const rows = makeRows(1500, 0, 7);

beforeAll(async () => {
  s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-s3-cluster-'));
  s3 = await startS3Server({ dataDir: s3Dir });
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 1,
    env: {
      KITE_DATANODE_SEGMENT_MAX_ROWS: '500',
      KITE_STORAGE_TYPE: 's3',
      KITE_STORAGE_S3_ENDPOINT: s3.endpoint,
      KITE_STORAGE_S3_BUCKET: BUCKET,
      KITE_STORAGE_S3_REGION: s3.region,
      KITE_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
      KITE_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      KITE_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    },
  });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
  await s3?.stop().catch(() => undefined);
  fs.rmSync(s3Dir, { recursive: true, force: true });
}, 180_000);

test('segments and indexes are flushed to the bucket and served from it', async () => {
  const c = client!;
  const collectionID = await createCollection(c, NAME, 2);
  await insertRows(c, NAME, model, rows, 500);
  await flushAndWait(c, NAME);
  await createHnswIndex(c, NAME);
  await waitIndexBuilt(c, NAME, 'vector', 120_000);
  await loadAndWait(c, NAME);

  expect(await count(c, NAME)).toBe(rows.length);
  const queries = rows.slice(0, 20).map((r) => r.vector);
  const hits = await search(c, NAME, queries, 10);
  expect(meanRecall(model, queries, hits, 10)).toBeGreaterThanOrEqual(0.9);

  const store = await S3ObjectStore.open({
    endpoint: s3.endpoint, bucket: BUCKET, region: s3.region, accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey, forcePathStyle: true, createBucket: false,
  });
  try {
    const keys = new Set((await store.list(`collections/${collectionID}/`)).map((o) => o.key));
    const segments = (await readSegments(cluster.etcdEndpoints, collectionID)).filter((s) => s.numRows > 0);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    for (const s of segments) {
      expect(keys.has(s.dataKey)).toBe(true);
      for (const f of s.indexes) if (f.key) expect(keys.has(f.key)).toBe(true);
    }
    expect(segments.some((s) => s.indexes.some((f) => f.key))).toBe(true);
  } finally {
    await store.close();
  }
  // Nothing went to the local object directory.
  const local = path.join(cluster.dataDir, 'objects', 'collections');
  expect(fs.existsSync(local) ? fs.readdirSync(local) : []).toEqual([]);
});
