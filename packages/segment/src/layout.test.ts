import { KiteError } from '@kite/common';
import { aliasOfKey, codecs, databaseOfKey, idAfter, keys, segmentKeyIds, type DatabaseRecord, type PublishedReplica, type SessionRecord } from './layout';
import { dbOf } from './meta';

const ROOT = 'kite';

test('keys: sessions, the active coordinator, leaders and replicas sit where every process looks', () => {
  expect(keys.session(ROOT, 'querynode', 7)).toBe('kite/session/querynode-7');
  expect(keys.session(ROOT, 'querynode', 7).startsWith(keys.roleSessions(ROOT, 'querynode'))).toBe(true);
  expect(keys.session(ROOT, 'querynode', 7).startsWith(keys.sessions(ROOT))).toBe(true);
  expect(keys.coordinatorSession(ROOT)).toBe('kite/session/querycoord');
  // A coordinator process's own session is not the exclusive key, and not under the query nodes' prefix.
  expect(keys.session(ROOT, 'querycoord', 3)).toBe('kite/session/querycoord-3');
  expect(keys.session(ROOT, 'querycoord', 3).startsWith(keys.roleSessions(ROOT, 'querynode'))).toBe(false);
  expect(keys.leaders(ROOT, 42)).toBe('kite/leaders/42');
  expect(keys.replica(ROOT, 42)).toBe('kite/meta/replica/42');
  expect(keys.segment(ROOT, 1, 2).startsWith(keys.segments(ROOT, 1))).toBe(true);
  expect(keys.segments(ROOT, 1).startsWith(keys.segments(ROOT))).toBe(true);
  // Collection 1's prefix does not take in collection 10's segments.
  expect(keys.segment(ROOT, 10, 2).startsWith(keys.segments(ROOT, 1))).toBe(false);
});

test('idAfter reads the id a key ends with, and refuses anything else', () => {
  expect(idAfter(keys.allLeaders(ROOT), keys.leaders(ROOT, 1234))).toBe(1234);
  expect(idAfter(keys.replicas(ROOT), keys.replica(ROOT, 9))).toBe(9);
  for (const bad of ['kite/leaders/', 'kite/leaders/12x', 'kite/other/12', 'kite/leaders/1/2']) {
    expect(() => idAfter(keys.allLeaders(ROOT), bad)).toThrow(KiteError);
  }
});

test('segmentKeyIds reads the collection and segment of a segment key, and refuses anything else', () => {
  expect(segmentKeyIds(ROOT, keys.segment(ROOT, 448000000000001, 448000000000002))).toEqual({ collectionID: 448000000000001, segmentID: 448000000000002 });
  expect(segmentKeyIds('a/b', keys.segment('a/b', 10, 7))).toEqual({ collectionID: 10, segmentID: 7 });
  for (const bad of ['kite/meta/segment/1', 'kite/meta/segment/1/', 'kite/meta/segment/1/2/3', 'kite/meta/segment/x/2', 'kite/meta/checkpoint/1/2', 'other/meta/segment/1/2']) {
    expect(() => segmentKeyIds(ROOT, bad)).toThrow(KiteError);
  }
});

test('aliasOfKey reads the database and alias of an alias key, and refuses anything else', () => {
  // Aliases of "default" keep the key they had before databases existed: stored aliases stay readable.
  expect(keys.alias(ROOT, 'books_v2')).toBe('kite/meta/alias/books_v2');
  expect(keys.alias(ROOT, 'books_v2', 'default')).toBe('kite/meta/alias/books_v2');
  expect(aliasOfKey(ROOT, keys.alias(ROOT, 'books_v2'))).toEqual({ db: 'default', alias: 'books_v2' });
  expect(aliasOfKey(ROOT, 'kite/meta/alias/books_v2')).toEqual({ db: 'default', alias: 'books_v2' });
  expect(aliasOfKey(ROOT, keys.alias(ROOT, 'books_v2', 'shop'))).toEqual({ db: 'shop', alias: 'books_v2' });
  for (const bad of ['kite/meta/alias/', 'kite/meta/alias/a/', 'kite/meta/alias//b', 'kite/meta/alias/a/b/c', 'kite/meta/collection/1', 'other/meta/alias/a']) {
    expect(() => aliasOfKey(ROOT, bad)).toThrow(KiteError);
  }
});

test('databaseOfKey reads the name of a database key; a database record round-trips and a collection without dbName stays readable', () => {
  expect(databaseOfKey(ROOT, keys.database(ROOT, 'shop'))).toBe('shop');
  for (const bad of ['kite/meta/database/', 'kite/meta/database/a/b', 'kite/meta/alias/a']) expect(() => databaseOfKey(ROOT, bad)).toThrow(KiteError);
  const db: DatabaseRecord = { name: 'shop', id: 7, createdTs: '123', properties: { 'database.max.collections': '3' } };
  expect(codecs.database.decode(codecs.database.encode(db), 'k')).toEqual(db);
  expect(() => codecs.database.decode(JSON.stringify({ name: 'x', id: 1, createdTs: '1' }), 'k')).toThrow(/properties/);
  const old = { collectionID: 1, shardsNum: 1, name: 'c', topic: 't', fields: [], indexes: [] };
  expect(dbOf(codecs.collection.decode(JSON.stringify(old), 'k'))).toBe('default');
  expect(dbOf(codecs.collection.decode(JSON.stringify({ ...old, dbName: 'shop' }), 'k'))).toBe('shop');
  expect(() => codecs.collection.decode(JSON.stringify({ ...old, dbName: 5 }), 'k')).toThrow(/dbName/);
});

test('codecs: values round-trip', () => {
  const session: SessionRecord = {
    serverID: 3, role: 'querynode', address: '127.0.0.1:1', metricsAddress: '127.0.0.1:2', version: 'v', startedAt: 5, stopping: false,
  };
  expect(codecs.session.decode(codecs.session.encode(session), 'k')).toEqual(session);
  const leaders: PublishedReplica[] = [{ replica_id: 1, node_ids: [3, 4], shards: [{ channel: 'c#0', node_id: 3, address: 'a', serviceable: true }] }];
  expect(codecs.leaders.decode(codecs.leaders.encode(leaders), 'k')).toEqual(leaders);
  expect(codecs.replicas.decode(codecs.replicas.encode([{ replicaID: 1, nodes: [2] }]), 'k')).toEqual([{ replicaID: 1, nodes: [2] }]);
  expect(codecs.checkpoint.decode(codecs.checkpoint.encode({ channel: 'c#0', offset: 10, ts: '99' }), 'k')).toEqual({ channel: 'c#0', offset: 10, ts: '99' });
  expect(codecs.counter.decode(codecs.counter.encode(17), 'k')).toBe(17);
});

test('codecs: a damaged value is a non-retriable error naming the key and what is wrong', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => codecs.session.decode('{not json', 'kite/session/querynode-1'), /kite\/session\/querynode-1 is not a session \(not JSON/],
    [() => codecs.session.decode('[]', 'k1'), /k1 is not a session: not an object/],
    [() => codecs.session.decode('{"serverID":"3"}', 'k2'), /k2 is not a session: field serverID is not a number/],
    [() => codecs.leaders.decode('{}', 'k3'), /k3 is not a shard leader list: not a list/],
    [() => codecs.leaders.decode('[{"replica_id":1,"node_ids":[]}]', 'k4'), /k4 is not a shard leader list: item 0: field shards is not a list/],
    [() => codecs.segment.decode('{"segmentID":1}', 'k5'), /k5 is not a segment: field collectionID is not a number/],
    [() => codecs.counter.decode('-1', 'k6'), /k6 is not a counter/],
    [() => codecs.counter.decode('1e3', 'k7'), /k7 is not a counter/],
  ];
  for (const [fn, message] of cases) {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(KiteError);
    expect((caught as KiteError).message).toMatch(message);
    expect((caught as KiteError).retriable).toBe(false);
  }
});
