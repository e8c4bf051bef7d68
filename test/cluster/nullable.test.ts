/**
 * Nullable fields, default values and AddCollectionField in cluster mode (a proxy, the coordinator, two query nodes
 * and a data node as separate processes, etcd and Kafka): NULLs and defaults through the Kafka WAL, sealed segments
 * on other query nodes and the delegators' growing rows; a field added to the loaded two-shard collection reaches
 * every query node (old rows read NULL or the default, filters on the new field), checked against the rows inserted.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { eventually, expectOk } from '../standalone/helpers';
import { KiteCluster } from './launcher';

jest.setTimeout(420_000);

let cluster: KiteCluster;
let client: MilvusClient;

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 2, datanodes: 1, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '100' } });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000 });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

const NAME = 'cl_nullable';
const vec = (i: number): number[] => [Math.sin(i), Math.cos(i), (i % 7) / 7, 1];

async function rows(filter: string, output: string[]): Promise<Record<string, unknown>[]> {
  const res = await client.query({ collection_name: NAME, filter, output_fields: output, limit: 16384, consistency_level: 'Strong' as never });
  expectOk(res.status, `query ${filter}`);
  return res.data;
}

test('NULLs, defaults and an added field across query nodes, sealed and growing rows', async () => {
  expectOk(
    await client.createCollection({
      collection_name: NAME, shards_num: 2, consistency_level: 'Strong',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
        { name: 'n', data_type: DataType.Int64, nullable: true },
        { name: 's', data_type: DataType.VarChar, max_length: 8, nullable: true, default_value: 'dflt' },
      ] as never,
    }),
    'create',
  );
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), 'index');
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'n', index_type: 'STL_SORT' }), 'n index');
  expectOk(await client.loadCollectionSync({ collection_name: NAME }), 'load');

  const truth = new Map<number, { n: number | null; s: string; extra: number }>();
  const batch = (from: number, count: number, withExtra: boolean) =>
    Array.from({ length: count }, (_, k) => {
      const i = from + k;
      const r: Record<string, unknown> = { id: i, vector: vec(i), n: i % 3 === 0 ? null : i, s: i % 4 === 0 ? null : `s${i % 5}` };
      if (withExtra && i % 2 === 0) r.extra = i;
      truth.set(i, { n: i % 3 === 0 ? null : i, s: i % 4 === 0 ? 'dflt' : `s${i % 5}`, extra: withExtra && i % 2 === 0 ? i : -1 });
      return r;
    });
  // 300 rows: sealed segments of 100 rows on both shards; then 40 growing ones.
  expectOk((await client.insert({ collection_name: NAME, data: batch(0, 300, false) as never })).status, 'insert');
  expectOk((await client.flushSync({ collection_names: [NAME] })).status, 'flush');
  expectOk((await client.insert({ collection_name: NAME, data: batch(300, 40, false) as never })).status, 'insert growing');

  expectOk(await client.addCollectionField({ collection_name: NAME, field: { name: 'extra', data_type: DataType.Int64, nullable: true, default_value: -1 } as never }), 'add field');
  // The Node SDK builds inserts from a cached DescribeCollection and refuses a row naming a field it does not know
  // (client-side, "some field does not exist"), on Milvus too: describe again after adding the field.
  expectOk((await client.describeCollection({ collection_name: NAME })).status, 'describe');
  expectOk((await client.insert({ collection_name: NAME, data: batch(400, 60, true) as never })).status, 'insert with extra');

  const check = async (): Promise<true | undefined> => {
    const got = await rows('id >= 0', ['n', 's', 'extra']);
    expect(got.length).toBe(truth.size);
    for (const r of got) {
      const w = truth.get(Number(r.id))!;
      expect({ id: Number(r.id), n: r.n === null ? null : Number(r.n), s: r.s, extra: Number(r.extra) }).toEqual({ id: Number(r.id), ...w });
    }
    const cases: [string, (w: { n: number | null; s: string; extra: number }) => boolean][] = [
      ['n is null', (w) => w.n === null],
      ['n > 150', (w) => w.n !== null && w.n > 150],
      ['n != 7', (w) => w.n !== null && w.n !== 7],
      ['s == "dflt"', (w) => w.s === 'dflt'],
      ['extra == -1', (w) => w.extra === -1],
      ['extra >= 0', (w) => w.extra >= 0],
    ];
    for (const [filter, pred] of cases) {
      const ids = (await rows(filter, ['id'])).map((r) => Number(r.id)).sort((a, b) => a - b);
      const want = [...truth].filter(([, w]) => pred(w)).map(([id]) => id).sort((a, b) => a - b);
      expect({ filter, ids }).toEqual({ filter, ids: want });
    }
    return true;
  };
  await check();
  // Sealed again (the growing rows of both schemas move to segment files) and read back the same.
  expectOk((await client.flushSync({ collection_names: [NAME] })).status, 'flush 2');
  await eventually('rows after the second flush', async () => ((await rows('id >= 0', ['id'])).length === truth.size ? true : undefined));
  await check();
});
