/**
 * Schema evolution through the official Node SDK: TruncateCollection (count 0 after, new rows visible, still
 * truncated after kill -9 and restart), RenameCollection (aliases follow, load state kept; into another database),
 * dropCollectionProperties, the collection TTL hiding expired rows from search, query and count(*), and
 * AddCollectionField refusing a field that is not nullable.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectFailure, expectOk } from './helpers';

jest.setTimeout(240_000);

let server: Standalone;
let client: MilvusClient;

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

const rows = (ids: number[]) => ids.map((id) => ({ id, vector: [id, 0, 0, 0] }));

async function create(name: string, properties?: Record<string, string>, db_name?: string): Promise<void> {
  expectOk(
    await client.createCollection({
      collection_name: name, consistency_level: 'Strong', ...(db_name ? { db_name } : {}), ...(properties ? { properties } : {}),
      fields: [{ name: 'id', data_type: DataType.Int64, is_primary_key: true }, { name: 'vector', data_type: DataType.FloatVector, dim: 4 }],
    }),
    `create ${name}`,
  );
  expectOk(await client.createIndex({ collection_name: name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2', ...(db_name ? { db_name } : {}) }), `index ${name}`);
  expectOk(await client.loadCollectionSync({ collection_name: name, ...(db_name ? { db_name } : {}) }), `load ${name}`);
}

async function count(name: string, db_name?: string): Promise<number> {
  const res = await client.query({ collection_name: name, filter: '', output_fields: ['count(*)'], consistency_level: 'Strong' as never, ...(db_name ? { db_name } : {}) });
  expectOk(res.status, `count ${name}`);
  return Number(res.data[0]!['count(*)']);
}

async function ids(name: string, db_name?: string): Promise<number[]> {
  const res = await client.query({ collection_name: name, filter: 'id >= 0', output_fields: ['id'], consistency_level: 'Strong' as never, ...(db_name ? { db_name } : {}) });
  expectOk(res.status, `query ${name}`);
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

test('truncate drops every row, keeps index and load state, and stays truncated after kill -9', async () => {
  await create('evo_trunc');
  expectOk((await client.insert({ collection_name: 'evo_trunc', data: rows([...Array(200).keys()]) })).status, 'insert');
  expectOk((await client.flushSync({ collection_names: ['evo_trunc'] })).status, 'flush');
  expectOk((await client.insert({ collection_name: 'evo_trunc', data: rows([200, 201]) })).status, 'insert growing');
  expect(await count('evo_trunc')).toBe(202);
  expectOk((await client.truncateCollection({ collection_name: 'evo_trunc' })).status, 'truncate');
  expect(await count('evo_trunc')).toBe(0);
  const s = await client.search({ collection_name: 'evo_trunc', data: [[1, 0, 0, 0]], limit: 5, consistency_level: 'Strong' as never });
  expectOk(s.status, 'search');
  expect(s.results).toEqual([]);
  expectOk((await client.insert({ collection_name: 'evo_trunc', data: rows([7]) })).status, 'insert after truncate');
  expect(await ids('evo_trunc')).toEqual([7]);
  await server.kill9();
  await server.restart();
  await client.closeConnection();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
  await eventually('loaded after restart', async () => ((await client.getLoadState({ collection_name: 'evo_trunc' })).state === 'LoadStateLoaded' ? true : undefined));
  expect(await ids('evo_trunc')).toEqual([7]);
});

test('rename keeps rows, load state and aliases; a collection without aliases moves to another database', async () => {
  await create('evo_old');
  expectOk((await client.insert({ collection_name: 'evo_old', data: rows([1, 2, 3]) })).status, 'insert');
  expectOk(await client.createAlias({ collection_name: 'evo_old', alias: 'evo_alias' }), 'alias');
  expectOk(await client.renameCollection({ collection_name: 'evo_old', new_collection_name: 'evo_new' }), 'rename');
  expect((await client.hasCollection({ collection_name: 'evo_old' })).value).toBe(false);
  expect((await client.getLoadState({ collection_name: 'evo_new' })).state).toBe('LoadStateLoaded');
  expect(await ids('evo_alias')).toEqual([1, 2, 3]);
  expect((await client.describeAlias({ collection_name: 'evo_new', alias: 'evo_alias' })).collection).toBe('evo_new');
  const refused = await expectFailure('rename with aliases into another db', async () => {
    expectOk(await client.createDatabase({ db_name: 'evo_db' }), 'create db');
    return client.renameCollection({ collection_name: 'evo_new', new_collection_name: 'evo_moved', new_db_name: 'evo_db' });
  });
  expect(refused.message).toMatch(/has aliases/);
  expectOk(await client.dropAlias({ alias: 'evo_alias' }), 'drop alias');
  expectOk(await client.renameCollection({ collection_name: 'evo_new', new_collection_name: 'evo_moved', new_db_name: 'evo_db' }), 'rename across');
  expect(await ids('evo_moved', 'evo_db')).toEqual([1, 2, 3]);
  expect((await client.hasCollection({ collection_name: 'evo_new' })).value).toBe(false);
});

test('dropCollectionProperties drops; the collection TTL hides expired rows from every read', async () => {
  await create('evo_ttl', { 'collection.ttl.seconds': '2' });
  expectOk((await client.insert({ collection_name: 'evo_ttl', data: rows([...Array(50).keys()]) })).status, 'insert');
  expectOk((await client.flushSync({ collection_names: ['evo_ttl'] })).status, 'flush');
  await eventually('rows expire', async () => ((await count('evo_ttl')) === 0 ? true : undefined), 60_000);
  expect(await ids('evo_ttl')).toEqual([]);
  const s = await client.search({ collection_name: 'evo_ttl', data: [[1, 0, 0, 0]], limit: 5, consistency_level: 'Strong' as never });
  expect(s.results).toEqual([]);
  expectOk(await client.dropCollectionProperties({ collection_name: 'evo_ttl', properties: ['collection.ttl.seconds'] }), 'drop ttl');
  const d = await client.describeCollection({ collection_name: 'evo_ttl' });
  expect(d.properties.map((p) => p.key)).not.toContain('collection.ttl.seconds');
  // Without a TTL nothing is expired (no compaction purged the rows): they read again.
  expect(await count('evo_ttl')).toBe(50);
});

test('AddCollectionField refuses a field that is not nullable, with Milvus\'s message (nullable.test.ts covers the rest)', async () => {
  await create('evo_add');
  const out = await expectFailure('addCollectionField', () =>
    client.addCollectionField({ collection_name: 'evo_add', field: { name: 'extra', data_type: DataType.Int64 } as never }));
  expect(out.message).toMatch(/added field must be nullable, please check it, field name = extra/);
});
