import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSchema, silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { grantCovers, normalizePrivilege, objectNamesOf } from './privileges';
import { Rbac } from './rbac';

describe('privilege matching', () => {
  const ask = { objectType: 'Collection' as const, objectName: 'books', dbName: 'default', privilege: 'Insert' };
  it.each([
    [{ objectType: 'Collection', objectName: 'books', dbName: 'default', privilege: 'Insert' }, true],
    [{ objectType: 'Collection', objectName: '*', dbName: 'default', privilege: 'Insert' }, true],
    [{ objectType: 'Collection', objectName: 'books', dbName: '*', privilege: 'Insert' }, true],
    [{ objectType: 'Collection', objectName: 'books', dbName: 'default', privilege: '*' }, true],
    [{ objectType: 'Collection', objectName: 'films', dbName: 'default', privilege: 'Insert' }, false],
    [{ objectType: 'Collection', objectName: 'books', dbName: 'other', privilege: 'Insert' }, false],
    [{ objectType: 'Collection', objectName: 'books', dbName: 'default', privilege: 'Delete' }, false],
    [{ objectType: 'Global', objectName: '*', dbName: '*', privilege: '*' }, false],
  ])('%p covers Insert on default.books: %p', (grant, expected) => {
    expect(grantCovers(grant, ask)).toBe(expected);
  });

  it('normalizes privilege names and refuses one of another object type', () => {
    expect(normalizePrivilege('Collection', 'PrivilegeInsert')).toBe('Insert');
    expect(normalizePrivilege('Global', 'All')).toBe('*');
    expect(() => normalizePrivilege('Collection', 'CreateCollection')).toThrow(/does not apply to Collection objects/);
  });

  it('finds the objects a request names', () => {
    expect(objectNamesOf('Insert', 'Collection', { collection_name: 'c' })).toEqual(['c']);
    expect(objectNamesOf('Flush', 'Collection', { collection_names: ['a', 'b'] })).toEqual(['a', 'b']);
    expect(objectNamesOf('SelectUser', 'User', { user: { name: 'u' } })).toEqual(['u']);
    expect(objectNamesOf('CreateCollection', 'Global', { collection_name: 'c' })).toEqual(['*']);
  });
});

describe('Rbac', () => {
  let dir: string;
  let store: EmbeddedMetaStore;
  const opened: Rbac[] = [];
  const cfg = ConfigSchema.parse({});
  const open = async (): Promise<Rbac> => {
    const r = new Rbac(cfg, store, silentLogger);
    await r.start();
    opened.push(r);
    return r;
  };
  const insert = { collection_name: 'books', db_name: '' };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-rbac-'));
    store = await EmbeddedMetaStore.open(dir);
  });
  afterEach(async () => {
    for (const r of opened.splice(0)) await r.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('root and admin may do anything; public may describe; others need a grant through a role, in the right database', async () => {
    const r = await open();
    expect(() => r.check('root', 'Insert', insert, undefined)).not.toThrow();
    expect(() => r.check('u', 'DescribeCollection', { collection_name: 'books' }, undefined)).not.toThrow();
    expect(() => r.check('u', 'Insert', insert, undefined)).toThrow('PrivilegeInsert: permission deny to u in the `default` database');
    await r.createRole('writer');
    await r.grant({ role: 'writer', objectType: 'Collection', objectName: 'books', dbName: 'default', privilege: 'Insert', grantor: 'root' });
    await r.addUserToRole('u', 'writer');
    expect(() => r.check('u', 'Insert', insert, undefined)).not.toThrow();
    expect(() => r.check('u', 'Insert', insert, 'other')).toThrow('permission deny to u in the `other` database');
    expect(() => r.check('u', 'Insert', { collection_name: 'films', db_name: '' }, undefined)).toThrow(/PrivilegeInsert/);
    await r.addUserToRole('v', 'admin');
    expect(() => r.check('v', 'DropCollection', { collection_name: 'books' }, undefined)).not.toThrow();
  });

  it('a revoke through one copy reaches another through the watch', async () => {
    const here = await open();
    const there = await open();
    await there.createRole('writer');
    await there.addUserToRole('u', 'writer');
    const g = { role: 'writer', objectType: 'Collection' as const, objectName: '*', dbName: '*', privilege: 'Insert', grantor: 'root' };
    await there.grant(g);
    const until = async (cond: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!cond() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
      expect(cond()).toBe(true);
    };
    await until(() => here.allowed('u', { objectType: 'Collection', objectName: 'x', dbName: 'default', privilege: 'Insert' }));
    await there.revoke(g);
    await until(() => !here.allowed('u', { objectType: 'Collection', objectName: 'x', dbName: 'default', privilege: 'Insert' }));
  });

  it('a privilege group granted on a database covers its privileges on every object there, and follows its changes', async () => {
    const r = await open();
    await r.createRole('team');
    await r.addUserToRole('u', 'team');
    await r.createGroup('rw');
    await r.changeGroup('rw', ['Insert', 'Query'], true);
    await r.grant({ role: 'team', objectType: 'Global', objectName: '*', dbName: 'default', privilege: 'rw', grantor: 'root' });
    const ask = (privilege: string, dbName = 'default') => r.allowed('u', { objectType: 'Collection', objectName: 'any', dbName, privilege });
    expect([ask('Insert'), ask('Query'), ask('Delete'), ask('Insert', 'other')]).toEqual([true, true, false, false]);
    await r.changeGroup('rw', ['Insert'], false);
    expect(ask('Insert')).toBe(false);
    await expect(r.dropGroup('rw')).rejects.toThrow(/privilege group rw is granted to a role/);
  });

  it('drops a role with privileges only with force, and the built-in roles never', async () => {
    const r = await open();
    await r.createRole('writer');
    await expect(r.createRole('writer')).rejects.toThrow(/role writer already exists/);
    await r.grant({ role: 'writer', objectType: 'Global', objectName: '*', dbName: 'default', privilege: 'CreateCollection', grantor: 'root' });
    await r.addUserToRole('u', 'writer');
    await expect(r.dropRole('writer', false)).rejects.toThrow(/still has 1 privilege/);
    await r.dropRole('writer', true);
    expect(r.roles()).toEqual(['admin', 'public']);
    expect(r.rolesOf('u')).toEqual([]);
    expect(r.grantsOf('writer')).toEqual([]);
    await expect(r.dropRole('admin', true)).rejects.toThrow(/built-in role admin cannot be dropped/);
  });
});
