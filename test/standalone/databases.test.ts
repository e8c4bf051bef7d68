/**
 * Databases through the official Node SDK, unchanged: the same collection name in two databases is two collections
 * (rows, search, query, aliases isolated), chosen by the client's `database` option, `useDatabase`, or a request's
 * `db_name`; create/list/describe/alter/drop with Milvus's rules; an unknown database refused with code 800.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { expectFailure, expectOk } from './helpers';

jest.setTimeout(120_000);

const NAME = 'shared_name';
const DIM = 4;

let server: Standalone;
let client: MilvusClient;
const others: MilvusClient[] = [];

function clientOf(database?: string): MilvusClient {
  const c = new MilvusClient({ address: server.address, timeout: 60_000, ...(database ? { database } : {}) });
  others.push(c);
  return c;
}

beforeAll(async () => {
  server = await startStandalone();
  client = new MilvusClient({ address: server.address, timeout: 60_000 });
  await client.connectPromise;
}, 150_000);

afterAll(async () => {
  for (const c of [client, ...others]) await c?.closeConnection().catch(() => undefined);
  if (server && !server.running) console.error(`kite standalone is not running at the end of the suite; log tail:\n${server.logTail(6000)}`);
  await server?.dispose();
});

/** A loaded collection NAME in `c`'s database with rows `ids`, each vector [id, 0, 0, 0]. */
async function seed(c: MilvusClient, ids: number[], what: string): Promise<void> {
  expectOk(
    await c.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
      consistency_level: 'Strong',
    }),
    `createCollection(${what})`,
  );
  expectOk((await c.insert({ collection_name: NAME, data: ids.map((id) => ({ id, vector: [id, 0, 0, 0] })) })).status, `insert(${what})`);
  expectOk(await c.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' }), `createIndex(${what})`);
  expectOk(await c.loadCollectionSync({ collection_name: NAME }), `load(${what})`);
}

async function idsOf(c: MilvusClient, what: string, extra: { db_name?: string } = {}): Promise<number[]> {
  const res = await c.query({ collection_name: NAME, filter: 'id >= 0', output_fields: ['id'], consistency_level: 'Strong' as never, ...extra });
  expectOk(res.status, `query(${what})`);
  return res.data.map((r) => Number(r.id)).sort((a, b) => a - b);
}

async function nearest(c: MilvusClient, what: string): Promise<number[]> {
  const res = await c.search({ collection_name: NAME, data: [[0, 0, 0, 0]], anns_field: 'vector', limit: 10, output_fields: ['id'], consistency_level: 'Strong' as never });
  expectOk(res.status, `search(${what})`);
  return res.results.map((h) => Number(h.id)).sort((a, b) => a - b);
}

test('create and list databases; names follow Milvus rules; a duplicate is refused', async () => {
  expectOk(await client.createDatabase({ db_name: 'db_a' }), 'createDatabase(db_a)');
  expectOk(await client.createDatabase({ db_name: 'db_b' }), 'createDatabase(db_b)');
  const list = await client.listDatabases();
  expectOk(list.status, 'listDatabases');
  expect(list.db_names).toEqual(['default', 'db_a', 'db_b']);
  expect(new Set(list.db_ids).size).toBe(3);

  const dup = await expectFailure('createDatabase(db_a) again', () => client.createDatabase({ db_name: 'db_a' }));
  expect(dup.message).toContain('database already exist: db_a');
  const bad = await expectFailure('createDatabase(1bad)', () => client.createDatabase({ db_name: '1bad' }));
  expect(bad.message).toMatch(/invalid database name "1bad"/);
});

test('the same collection name in two databases: rows, search and query are isolated', async () => {
  const a = clientOf('db_a');
  await seed(a, [1, 2, 3], 'db_a');
  const b = clientOf();
  await b.connectPromise;
  expectOk(await b.useDatabase({ db_name: 'db_b' }), 'useDatabase(db_b)');
  await seed(b, [100, 200], 'db_b');

  expect(await idsOf(a, 'db_a')).toEqual([1, 2, 3]);
  expect(await idsOf(b, 'db_b')).toEqual([100, 200]);
  expect(await nearest(a, 'db_a')).toEqual([1, 2, 3]);
  expect(await nearest(b, 'db_b')).toEqual([100, 200]);
  // A request's db_name wins over the connection's database.
  expect(await idsOf(client, 'default client, db_name db_b', { db_name: 'db_b' })).toEqual([100, 200]);

  // "default" does not see either.
  const has = await client.hasCollection({ collection_name: NAME });
  expectOk(has.status, 'hasCollection(default)');
  expect(has.value).toBe(false);
  const shown = await a.showCollections();
  expectOk(shown.status, 'showCollections(db_a)');
  expect(shown.data.map((c) => c.name)).toEqual([NAME]);
  const desc = await b.describeCollection({ collection_name: NAME });
  expectOk(desc.status, 'describeCollection(db_b)');
  expect(desc.db_name).toBe('db_b');
  const descA = await a.describeCollection({ collection_name: NAME });
  expect(descA.collectionID).not.toBe(desc.collectionID);

  // Aliases are scoped by database.
  expectOk(await a.createAlias({ collection_name: NAME, alias: 'pick' }), 'createAlias(db_a)');
  expectOk(await b.createAlias({ collection_name: NAME, alias: 'pick' }), 'createAlias(db_b)');
  const viaA = await a.query({ collection_name: 'pick', filter: 'id >= 0', output_fields: ['id'] });
  expect(viaA.data.map((r) => Number(r.id)).sort((x, y) => x - y)).toEqual([1, 2, 3]);
  const aliasesB = await b.listAliases({ collection_name: NAME });
  expectOk(aliasesB.status, 'listAliases(db_b)');
  expect(aliasesB.aliases).toEqual(['pick']);
  expect((await client.listAliases({ collection_name: NAME })).aliases ?? []).toEqual([]);
  expectOk(await b.dropAlias({ alias: 'pick' }), 'dropAlias(db_b)');
  expect((await a.describeAlias({ alias: 'pick', collection_name: NAME })).collection).toBe(NAME);
  expectOk(await a.dropAlias({ alias: 'pick' }), 'dropAlias(db_a)');
});

test('describe and alter a database; unknown properties are refused', async () => {
  const d = await client.describeDatabase({ db_name: 'db_a' });
  expectOk(d.status, 'describeDatabase(db_a)');
  expect(d.db_name).toBe('db_a');
  expect(d.properties).toEqual([]);
  expectOk(await client.alterDatabase({ db_name: 'db_a', properties: { 'database.max.collections': 5 } }), 'alterDatabase(db_a)');
  const after = await client.describeDatabase({ db_name: 'db_a' });
  expect(after.properties).toEqual([{ key: 'database.max.collections', value: '5' }]);
  const unknown = await expectFailure('alterDatabase(replica number)', () => client.alterDatabase({ db_name: 'db_a', properties: { 'database.replica.number': 2 } }));
  expect(unknown.message).toMatch(/database property "database.replica.number" is not supported/);
  const def = await client.describeDatabase({ db_name: 'default' });
  expectOk(def.status, 'describeDatabase(default)');
  expect(def.db_name).toBe('default');
});

test('an unknown database is refused with code 800 on every call', async () => {
  const res = await client.describeCollection({ collection_name: NAME, db_name: 'nope' } as never);
  expect(res.status.code).toBe(800);
  expect(res.status.reason).toContain('database not found[database=nope]');
  const q = await expectFailure('query(nope)', () => client.query({ collection_name: NAME, filter: 'id >= 0', db_name: 'nope' } as never));
  expect(q.message).toContain('database not found[database=nope]');
  const d = await expectFailure('describeDatabase(nope)', () => client.describeDatabase({ db_name: 'nope' }));
  expect(d.message).toContain('database not found[database=nope]');
});

test('drop: a non-empty database is refused, "default" cannot be dropped, an emptied one goes', async () => {
  const notEmpty = await expectFailure('dropDatabase(db_a)', () => client.dropDatabase({ db_name: 'db_a' }));
  expect(notEmpty.message).toMatch(/not empty, must drop all collections/);
  const def = await expectFailure('dropDatabase(default)', () => client.dropDatabase({ db_name: 'default' }));
  expect(def.message).toContain('can not drop default database');

  const a = clientOf('db_a');
  expectOk(await a.dropCollection({ collection_name: NAME }), 'dropCollection(db_a)');
  expectOk(await client.dropDatabase({ db_name: 'db_a' }), 'dropDatabase(db_a)');
  expect((await client.listDatabases()).db_names).toEqual(['default', 'db_b']);
  // db_b's collection of the same name is untouched.
  const b = clientOf('db_b');
  expect(await idsOf(b, 'db_b after db_a dropped')).toEqual([100, 200]);
  // The default database keeps working.
  expectOk(
    await client.createCollection({
      collection_name: NAME,
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'vector', data_type: DataType.FloatVector, dim: DIM },
      ],
    }),
    'createCollection(default)',
  );
  expect((await client.hasCollection({ collection_name: NAME })).value).toBe(true);
  expect(server.running).toBe(true);
});
