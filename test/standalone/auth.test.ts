/**
 * Authentication (security.authorizationEnabled) through the official Node SDK: root logs in with the default
 * password, a wrong or missing password is refused with gRPC UNAUTHENTICATED and Milvus's message, users are
 * created, listed, re-passworded and deleted with the SDK's user calls, and a deleted user or an old password stops
 * working. A server with authorization off (the default) still answers a client that sends no credentials.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient, RbacObjects } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk } from './helpers';

jest.setTimeout(120_000);

const UNAUTHENTICATED = 16;
const PERMISSION_DENIED = 7;
const AUTH_FAILED = /auth check failure, please check username and password are correct/;

let server: Standalone;
const clients: MilvusClient[] = [];

function connect(username?: string, password?: string): MilvusClient {
  const c = new MilvusClient({ address: server.address, timeout: 30_000, maxRetries: 0, ...(username === undefined ? {} : { username, password }) });
  clients.push(c);
  return c;
}

/** The call is refused as Milvus refuses bad credentials: a gRPC UNAUTHENTICATED error with Milvus's message. */
async function expectUnauthenticated(call: () => Promise<unknown>, message: RegExp = AUTH_FAILED): Promise<void> {
  let error: unknown;
  try {
    const res = await call();
    throw new Error(`expected UNAUTHENTICATED, got an answer: ${JSON.stringify(res)}`);
  } catch (e) {
    error = e;
  }
  const err = error as { code?: number; details?: string; message?: string };
  expect(`${err.code}: ${err.details ?? err.message}`).toMatch(new RegExp(`^${UNAUTHENTICATED}: .*${message.source}`));
}

/** The call is refused as Milvus refuses a call its user has no privilege for: gRPC PERMISSION_DENIED. */
async function expectDenied(call: () => Promise<unknown>, message: RegExp): Promise<void> {
  let error: unknown;
  try {
    const res = await call();
    throw new Error(`expected PERMISSION_DENIED, got an answer: ${JSON.stringify(res)}`);
  } catch (e) {
    error = e;
  }
  const err = error as { code?: number; details?: string; message?: string };
  expect(`${err.code}: ${err.details ?? err.message}`).toMatch(new RegExp(`^${PERMISSION_DENIED}: .*${message.source}`));
}

/** A client whose login (the SDK's Connect) and a later call are both refused with UNAUTHENTICATED. */
async function expectRefusedLogin(username: string | undefined, password: string | undefined, message: RegExp = AUTH_FAILED): Promise<void> {
  const c = connect(username, password);
  await expectUnauthenticated(() => c.connectPromise, message);
  await expectUnauthenticated(() => c.showCollections(), message);
}

beforeAll(async () => {
  server = await startStandalone({ env: { KITE_SECURITY_AUTHORIZATION_ENABLED: 'true' } });
}, 150_000);

afterAll(async () => {
  for (const c of clients) await c.closeConnection().catch(() => undefined);
  await server?.dispose();
});

describe('authentication on', () => {
  it('root logs in with the default password "Milvus"; CheckHealth and GetVersion need no credentials', async () => {
    const root = connect('root', 'Milvus');
    await root.connectPromise;
    const list = await root.showCollections();
    expectOk(list.status, 'showCollections as root');
    const anon = connect();
    expect((await anon.checkHealth()).isHealthy).toBe(true);
    expect((await anon.getVersion()).version).toBeTruthy();
  });

  it('a wrong password, an unknown user and missing credentials are refused with UNAUTHENTICATED', async () => {
    await expectRefusedLogin('root', 'not-the-password');
    await expectRefusedLogin('nobody', 'whatever1');
    // Without credentials Connect answers (SDKs probe a server with it); every other call is refused.
    const anon = connect();
    await anon.connectPromise;
    await expectUnauthenticated(() => anon.showCollections(), /missing authorization in header/);
    const create = anon.createCollection({
      collection_name: 'auth_anon',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'v', data_type: DataType.FloatVector, dim: 4 },
      ],
    });
    await expectUnauthenticated(() => create, /missing authorization in header/);
    expect((await connect('root', 'Milvus').hasCollection({ collection_name: 'auth_anon' })).value).toBe(false);
    // Refused calls are counted by Milvus code like every other answer.
    const metrics = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/kite_proxy_requests_total\{method="ShowCollections",status="1400"\} [1-9]/);
  });

  it('root creates a user who can then log in; ListCredUsers lists both', async () => {
    const root = connect('root', 'Milvus');
    expectOk(await root.createUser({ username: 'alice', password: 'alice-pw-1' }), 'createUser alice');
    const again = await root.createUser({ username: 'alice', password: 'alice-pw-1' });
    expect(again.error_code).not.toBe('Success');
    expect(again.reason).toMatch(/user alice already exists/);
    const users = await root.listUsers();
    expectOk(users.status, 'listUsers');
    expect(users.usernames).toEqual(['alice', 'root']);
    expectOk((await connect('alice', 'alice-pw-1').showCollections()).status, 'showCollections as alice');
  });

  it('bad credential requests name the field: a short password, an invalid name, deleting root', async () => {
    const root = connect('root', 'Milvus');
    const short = await root.createUser({ username: 'bob', password: '123' });
    expect(short.reason).toMatch(/password must be 6 to 256 characters long/);
    const badName = await root.createUser({ username: '1bob', password: 'bob-pw-12' });
    expect(badName.reason).toMatch(/username "1bob" is not valid/);
    const dropRoot = await root.deleteUser({ username: 'root' });
    expect(dropRoot.reason).toMatch(/user root cannot be deleted/);
  });

  it('a user without CreateOwnership/DropOwnership cannot create or delete users (PERMISSION_DENIED)', async () => {
    const alice = connect('alice', 'alice-pw-1');
    await expectDenied(() => alice.createUser({ username: 'mallory', password: 'mallory-pw' }), /PrivilegeCreateOwnership: permission deny to alice in the `default` database/);
    await expectDenied(() => alice.deleteUser({ username: 'alice' }), /PrivilegeDropOwnership: permission deny to alice/);
  });

  it('a changed password works at once and the old one is refused; the old password must be given', async () => {
    const alice = connect('alice', 'alice-pw-1');
    const wrongOld = await alice.updateUser({ username: 'alice', oldPassword: 'not-alice-pw', newPassword: 'alice-pw-2' });
    expect(wrongOld.reason).toMatch(/old password not correct for alice/);
    expectOk(await alice.updateUser({ username: 'alice', oldPassword: 'alice-pw-1', newPassword: 'alice-pw-2' }), 'updateUser alice');
    await expectRefusedLogin('alice', 'alice-pw-1');
    expectOk((await connect('alice', 'alice-pw-2').showCollections()).status, 'showCollections with the new password');
  });

  it('a deleted user is refused', async () => {
    const root = connect('root', 'Milvus');
    const alice = connect('alice', 'alice-pw-2');
    expectOk((await alice.showCollections()).status, 'alice before the delete');
    expectOk(await root.deleteUser({ username: 'alice' }), 'deleteUser alice');
    await eventually('alice refused after her delete', async () => {
      await expectUnauthenticated(() => alice.showCollections());
      return true;
    }, 10_000);
    expect((await root.listUsers()).usernames).toEqual(['root']);
  });

  it('repeated failed logins lock the user out from that address, even with the right password', async () => {
    const root = connect('root', 'Milvus');
    expectOk(await root.createUser({ username: 'carol', password: 'carol-pw-1' }), 'createUser carol');
    // security.maxLoginFailures defaults to 5 within a minute; each refused client below fails twice (Connect, then
    // showCollections), so the sixth attempt is already locked out.
    for (let i = 0; i < 3; i++) await expectRefusedLogin('carol', `wrong-pw-${i}`, /auth check failure|too many failed logins/);
    await expectRefusedLogin('carol', 'carol-pw-1', /too many failed logins for user carol from 127\.0\.0\.1/);
    // Other users from the same address are not affected.
    expectOk((await connect('root', 'Milvus').showCollections()).status, 'root while carol is locked out');
  });
});

describe('RBAC', () => {
  const FIELDS = [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true },
    { name: 'v', data_type: DataType.FloatVector, dim: 4 },
  ];
  const row = (id: number) => [{ id, v: [1, 2, 3, id] }];

  it('a user without Insert cannot insert; granted Insert through a role it can; revoked it cannot again', async () => {
    const root = connect('root', 'Milvus');
    expectOk(await root.createCollection({ collection_name: 'auth_rbac', fields: FIELDS }), 'createCollection auth_rbac');
    expectOk(await root.createUser({ username: 'dave', password: 'dave-pw-1' }), 'createUser dave');
    const dave = connect('dave', 'dave-pw-1');
    // The public role lets every user describe collections, nothing more.
    expectOk((await dave.describeCollection({ collection_name: 'auth_rbac' })).status, 'describeCollection as dave');
    await expectDenied(() => dave.insert({ collection_name: 'auth_rbac', data: row(1) }), /PrivilegeInsert: permission deny to dave in the `default` database/);
    await expectDenied(() => dave.createCollection({ collection_name: 'auth_dave', fields: FIELDS }), /PrivilegeCreateCollection: permission deny to dave/);

    expectOk(await root.createRole({ roleName: 'writer' }), 'createRole writer');
    expectOk(await root.grantPrivilege({ roleName: 'writer', object: RbacObjects.Collection, objectName: 'auth_rbac', privilegeName: 'Insert' }), 'grant Insert');
    await expectDenied(() => dave.insert({ collection_name: 'auth_rbac', data: row(2) }), /PrivilegeInsert: permission deny to dave/);
    expectOk(await root.addUserToRole({ username: 'dave', roleName: 'writer' }), 'addUserToRole');
    expectOk((await dave.insert({ collection_name: 'auth_rbac', data: row(3) })).status, 'insert as dave with Insert');
    // The grant is on auth_rbac only, and on Insert only.
    await expectDenied(() => dave.delete({ collection_name: 'auth_rbac', filter: 'id == 3' }), /PrivilegeDelete: permission deny to dave/);

    const grants = await root.listGrants({ roleName: 'writer' });
    expectOk(grants.status, 'listGrants');
    expect(grants.entities.map((g) => [g.object.name, g.object_name, g.db_name, g.grantor.privilege.name, g.grantor.user.name])).toEqual([
      ['Collection', 'auth_rbac', 'default', 'Insert', 'root'],
    ]);
    const user = await root.describeUser({ username: 'dave', includeRoleInfo: true });
    expectOk(user.status, 'describeUser');
    expect(user.results.map((r) => [r.user.name, r.roles.map((x) => x.name)])).toEqual([['dave', ['writer']]]);
    const roles = await root.listRoles({ includeUserInfo: true });
    expect(roles.results.map((r) => [r.role.name, r.users.map((u) => u.name)])).toEqual([
      ['admin', []],
      ['public', []],
      ['writer', ['dave']],
    ]);

    expectOk(await root.revokePrivilege({ roleName: 'writer', object: RbacObjects.Collection, objectName: 'auth_rbac', privilegeName: 'Insert' }), 'revoke Insert');
    await expectDenied(() => dave.insert({ collection_name: 'auth_rbac', data: row(4) }), /PrivilegeInsert: permission deny to dave/);
  });

  it('wildcards: Insert on every collection; the admin role may do anything; roles cannot be managed by others', async () => {
    const root = connect('root', 'Milvus');
    const dave = connect('dave', 'dave-pw-1');
    expectOk(await root.grantPrivilege({ roleName: 'writer', object: RbacObjects.Collection, objectName: '*', privilegeName: 'Insert' }), 'grant Insert on *');
    expectOk((await dave.insert({ collection_name: 'auth_rbac', data: row(5) })).status, 'insert with Insert on *');
    await expectDenied(() => dave.createRole({ roleName: 'sneaky' }), /PrivilegeCreateOwnership: permission deny to dave/);
    await expectDenied(() => dave.grantPrivilege({ roleName: 'writer', object: RbacObjects.Global, objectName: '*', privilegeName: '*' }), /PrivilegeManageOwnership/);
    expectOk(await root.addUserToRole({ username: 'dave', roleName: 'admin' }), 'dave becomes admin');
    expectOk(await dave.createCollection({ collection_name: 'auth_dave', fields: FIELDS }), 'createCollection as admin');
    expectOk(await root.removeUserFromRole({ username: 'dave', roleName: 'admin' }), 'dave no longer admin');
    await expectDenied(() => dave.dropCollection({ collection_name: 'auth_dave' }), /PrivilegeDropCollection: permission deny to dave/);
  });

  it('bad grants name the field; a role with privileges is dropped only with force', async () => {
    const root = connect('root', 'Milvus');
    const bad = await root.grantPrivilege({ roleName: 'writer', object: RbacObjects.Collection, objectName: 'auth_rbac', privilegeName: 'CreateCollection' as 'Insert' });
    expect(bad.reason).toMatch(/privilege "CreateCollection" does not apply to Collection objects/);
    const noRole = await root.grantPrivilege({ roleName: 'nope', object: RbacObjects.Collection, objectName: 'auth_rbac', privilegeName: 'Insert' });
    expect(noRole.reason).toMatch(/role nope does not exist/);
    const drop = await root.dropRole({ roleName: 'writer' });
    expect(drop.reason).toMatch(/role writer still has 1 privilege\(s\)/);
    expect((await root.dropRole({ roleName: 'admin' })).reason).toMatch(/the built-in role admin cannot be dropped/);
  });

  it('a privilege group granted on a collection gives its privileges there; listed, changed, dropped once revoked', async () => {
    const root = connect('root', 'Milvus');
    expectOk(await root.createUser({ username: 'gina', password: 'gina-pw-1' }), 'createUser gina');
    const gina = connect('gina', 'gina-pw-1');
    expectOk(await root.createRole({ roleName: 'grouped' }), 'createRole grouped');
    expectOk(await root.addUserToRole({ username: 'gina', roleName: 'grouped' }), 'addUserToRole');
    expectOk(await root.createPrivilegeGroup({ group_name: 'rw' }), 'createPrivilegeGroup');
    expectOk(await root.addPrivilegesToGroup({ group_name: 'rw', privileges: ['Insert', 'Delete'] }), 'addPrivilegesToGroup');
    const groups = await root.listPrivilegeGroups();
    expect(groups.privilege_groups.map((g) => [g.group_name, g.privileges.map((p) => p.name)])).toEqual([['rw', ['Delete', 'Insert']]]);
    await expectDenied(() => gina.insert({ collection_name: 'auth_rbac', data: row(10) }), /PrivilegeInsert: permission deny to gina/);
    const grant = { role: 'grouped', privilege: 'rw', db_name: 'default', collection_name: 'auth_rbac' };
    expectOk(await root.grantPrivilegeV2(grant), 'grantPrivilegeV2 rw');
    expectOk((await gina.insert({ collection_name: 'auth_rbac', data: row(10) })).status, 'insert through the group');
    expectOk((await gina.delete({ collection_name: 'auth_rbac', filter: 'id == 10' })).status, 'delete through the group');
    await expectDenied(() => gina.insert({ collection_name: 'auth_dave', data: row(11) }), /PrivilegeInsert: permission deny to gina/);
    expectOk(await root.removePrivilegesFromGroup({ group_name: 'rw', privileges: ['Delete'] }), 'removePrivilegesFromGroup');
    await expectDenied(() => gina.delete({ collection_name: 'auth_rbac', filter: 'id == 10' }), /PrivilegeDelete: permission deny to gina/);
    expect((await root.dropPrivilegeGroup({ group_name: 'rw' })).reason).toMatch(/privilege group rw is granted to a role/);
    expectOk(await root.revokePrivilegeV2(grant), 'revokePrivilegeV2 rw');
    expectOk(await root.dropPrivilegeGroup({ group_name: 'rw' }), 'dropPrivilegeGroup');
    await expectDenied(() => gina.insert({ collection_name: 'auth_rbac', data: row(12) }), /PrivilegeInsert: permission deny to gina/);
  });
});
