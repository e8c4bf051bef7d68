import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError, silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { LocalObjectStore } from '@kite/objectstore';
import type { CreateCollectionRequest } from '@kite/rpc';
import { codecs, keys } from '@kite/segment';
import { EmbeddedWal } from '@kite/wal';
import { Catalog, MAX_DATABASES } from './catalog';
import { IdAllocator, Tso } from './tso';

const ROOT = 'catalog-test';

let dir = '';
let meta: EmbeddedMetaStore;
let wal: EmbeddedWal;
let objects: LocalObjectStore;
let catalog: Catalog;

function open(): Catalog {
  return new Catalog(meta, wal, objects, ROOT, new IdAllocator(meta, ROOT, 100), new Tso(meta, ROOT, { windowMs: 60_000, renewBeforeMs: 500 }), silentLogger);
}

function request(name: string, db = ''): CreateCollectionRequest {
  return {
    name, description: '', enable_dynamic_field: false, shards_num: 1, consistency_level: 'Bounded', properties: {}, num_partitions: 0, db_name: db,
    fields: [
      { field_id: 100, name: 'id', data_type: 'Int64', is_primary_key: true, auto_id: false, description: '', type_params: {}, is_dynamic: false, is_partition_key: false, nullable: false },
    ],
  };
}

async function failure(p: Promise<unknown>): Promise<KiteError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(KiteError);
  return e as KiteError;
}

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-catalog-'));
  meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  wal = await EmbeddedWal.open(path.join(dir, 'wal'));
  objects = await LocalObjectStore.open(path.join(dir, 'objects'));
  catalog = open();
  await catalog.start();
});
afterEach(async () => {
  await wal.close();
  await meta.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

test('the same collection name in two databases is two collections; aliases are scoped by database', async () => {
  await catalog.createDatabase('shop', {});
  const a = await catalog.createCollection(request('books'));
  const b = await catalog.createCollection(request('books', 'shop'));
  expect(a).not.toBe(b);
  expect(catalog.find('books', '')?.collectionID).toBe(a);
  expect(catalog.find('books', 'default')?.collectionID).toBe(a);
  expect(catalog.find('books', 'shop')?.collectionID).toBe(b);
  // "default" collections are stored as before databases existed (no dbName); others carry theirs.
  const stored = await meta.get(keys.collection(ROOT, b));
  expect(codecs.collection.decode(stored!.value, stored!.key).dbName).toBe('shop');
  expect(codecs.collection.decode((await meta.get(keys.collection(ROOT, a)))!.value, 'k').dbName).toBeUndefined();

  await catalog.changeAlias('create', 'b1', 'books', 'shop');
  expect(catalog.find('b1', 'shop')?.collectionID).toBe(b);
  expect(catalog.find('b1', 'default')).toBeUndefined();
  await catalog.changeAlias('create', 'b1', 'books', '');
  expect(catalog.find('b1', 'default')?.collectionID).toBe(a);

  const err = await failure(catalog.changeAlias('create', 'x', 'books', 'nope'));
  expect(err.kind).toBe('DatabaseNotFound');
  expect(err.message).toContain('database not found[database=nope]');
  expect((await failure(catalog.createCollection(request('c', 'nope')))).kind).toBe('DatabaseNotFound');

  // A restarted coordinator reads the same catalogue back.
  const again = open();
  await again.start();
  expect(again.find('books', 'shop')?.collectionID).toBe(b);
  expect(again.find('b1', 'shop')?.collectionID).toBe(b);
  expect(again.find('b1', 'default')?.collectionID).toBe(a);
  expect(again.database('shop')?.name).toBe('shop');

  expect((await failure(catalog.dropCollection('books', 'shop'))).message).toMatch(/still has alias "b1"/);
  await catalog.changeAlias('drop', 'b1', '', 'shop');
  expect(catalog.find('b1', 'default')?.collectionID).toBe(a); // the alias of the other database stays
  await catalog.dropCollection('books', 'shop');
  expect(catalog.find('books', 'shop')).toBeUndefined();
  expect(catalog.find('books', 'default')?.collectionID).toBe(a);
});

test('create, alter and drop databases with Milvus rules', async () => {
  for (const bad of ['', '1abc', 'a-b', 'x'.repeat(65), 'a/b']) {
    expect((await failure(catalog.createDatabase(bad, {}))).kind).toBe('DatabaseNameInvalid');
  }
  await catalog.createDatabase('_x'.padEnd(64, 'y'), {});
  await catalog.createDatabase('shop', {});
  const dup = await failure(catalog.createDatabase('shop', {}));
  expect(dup.kind).toBe('DatabaseAlreadyExists');
  expect(dup.message).toBe('database already exist: shop');
  expect((await failure(catalog.createDatabase('default', {}))).kind).toBe('DatabaseAlreadyExists');

  expect((await failure(catalog.createDatabase('p', { 'database.replica.number': '2' }))).message).toMatch(/database property "database.replica.number" is not supported/);
  await catalog.alterDatabase('shop', { 'database.max.collections': '1' }, []);
  expect(catalog.database('shop')?.properties).toEqual({ 'database.max.collections': '1' });
  expect((await failure(catalog.alterDatabase('shop', { 'database.force.deny.writing': 'true' }, []))).kind).toBe('ParameterInvalid');
  expect((await failure(catalog.alterDatabase('shop', { 'database.max.collections': 'many' }, []))).kind).toBe('ParameterInvalid');
  expect((await failure(catalog.alterDatabase('nope', {}, []))).kind).toBe('DatabaseNotFound');
  await catalog.createCollection(request('one', 'shop'));
  expect((await failure(catalog.createCollection(request('two', 'shop')))).message).toMatch(/database.max.collections/);
  await catalog.alterDatabase('shop', {}, ['database.max.collections']);
  expect(catalog.database('shop')?.properties).toEqual({});
  // "default" can be altered too (stored once altered).
  await catalog.alterDatabase('default', { 'database.max.collections': '10' }, []);
  expect(catalog.database('')?.properties).toEqual({ 'database.max.collections': '10' });

  const notEmpty = await failure(catalog.dropDatabase('shop'));
  expect(notEmpty.message).toMatch(/not empty, must drop all collections/);
  expect((await failure(catalog.dropDatabase('default'))).message).toBe('can not drop default database');
  await catalog.dropCollection('one', 'shop');
  await catalog.dropDatabase('shop');
  expect(catalog.database('shop')).toBeUndefined();
  await catalog.dropDatabase('shop'); // dropping a missing database succeeds, as in Milvus
  expect(await meta.get(keys.database(ROOT, 'shop'))).toBeUndefined();
});

test('at most MAX_DATABASES databases, "default" included', async () => {
  for (let i = 1; i < MAX_DATABASES; i++) await catalog.createDatabase(`d${i}`, {});
  const err = await failure(catalog.createDatabase('one_more', {}));
  expect(err.kind).toBe('DatabaseNumLimitExceeded');
  expect(err.code).toBe(801);
});

test('a collection is never left in a database a concurrent DropDatabase removed', async () => {
  for (let round = 0; round < 5; round++) {
    const db = `race_${round}`;
    await catalog.createDatabase(db, {});
    const [created, dropped] = await Promise.allSettled([catalog.createCollection(request('c', db)), catalog.dropDatabase(db)]);
    // Either the collection came first (the drop is refused: not empty) or the drop did (the create: not found).
    expect([created.status, dropped.status].sort()).toEqual(['fulfilled', 'rejected']);
    if (dropped.status === 'fulfilled') expect(catalog.all(db)).toEqual([]);
    else expect(catalog.database(db)).toBeDefined();
  }
});
