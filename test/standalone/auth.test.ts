/**
 * Authentication (security.authorizationEnabled) through the official Node SDK: root logs in with the default
 * password, a wrong or missing password is refused with gRPC UNAUTHENTICATED and Milvus's message, users are
 * created, listed, re-passworded and deleted with the SDK's user calls, and a deleted user or an old password stops
 * working. A server with authorization off (the default) still answers a client that sends no credentials.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { startStandalone, type Standalone } from '../support/kite';
import { eventually, expectOk } from './helpers';

jest.setTimeout(120_000);

const UNAUTHENTICATED = 16;
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
  });

  it('root creates a user who can then log in and work; ListCredUsers lists both', async () => {
    const root = connect('root', 'Milvus');
    expectOk(await root.createUser({ username: 'alice', password: 'alice-pw-1' }), 'createUser alice');
    const again = await root.createUser({ username: 'alice', password: 'alice-pw-1' });
    expect(again.error_code).not.toBe('Success');
    expect(again.reason).toMatch(/user alice already exists/);
    const users = await root.listUsers();
    expectOk(users.status, 'listUsers');
    expect(users.usernames).toEqual(['alice', 'root']);

    const alice = connect('alice', 'alice-pw-1');
    const created = await alice.createCollection({
      collection_name: 'auth_alice',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'v', data_type: DataType.FloatVector, dim: 4 },
      ],
    });
    expectOk(created, 'createCollection as alice');
    const ins = await alice.insert({ collection_name: 'auth_alice', data: [{ id: 1, v: [1, 2, 3, 4] }] });
    expectOk(ins.status, 'insert as alice');
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

  it('only root creates or deletes users', async () => {
    const alice = connect('alice', 'alice-pw-1');
    const res = await alice.createUser({ username: 'mallory', password: 'mallory-pw' });
    expect(res.error_code).not.toBe('Success');
    expect(res.reason).toMatch(/CreateCredential needs the root user/);
    const del = await alice.deleteUser({ username: 'alice' });
    expect(del.reason).toMatch(/DeleteCredential needs the root user/);
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
