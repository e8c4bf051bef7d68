/**
 * Permissions across proxies in cluster mode (security.authorizationEnabled): a grant or revoke made through one
 * proxy applies on the other within a second, because every proxy's permission cache follows the meta store's
 * watch; a user created through one proxy logs in through the other, and a deleted one is refused there.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { DataType, MilvusClient, RbacObjects } from '@zilliz/milvus2-sdk-node';
import { eventually, expectOk } from '../standalone/helpers';
import { KiteCluster } from './launcher';

jest.setTimeout(180_000);

const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;
/** The bound for a revoke to reach every proxy. */
const PROPAGATION_MS = 1000;

let cluster: KiteCluster;
const clients: MilvusClient[] = [];

function connect(address: string, username: string, password: string): MilvusClient {
  const c = new MilvusClient({ address, username, password, timeout: 30_000, maxRetries: 0 });
  clients.push(c);
  return c;
}

/** The gRPC code a call fails with, or 0 when it answers. */
async function codeOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

/** Polls `call` every 20 ms until it fails with `code`; returns how long that took (ms), or throws after `limitMs`. */
async function msUntil(code: number, call: () => Promise<unknown>, limitMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const got = await codeOf(call);
    const ms = Date.now() - start;
    if (got === code) return ms;
    if (ms > limitMs) throw new Error(`still answering with code ${got} after ${ms} ms (expected ${code})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  cluster = await KiteCluster.start({ querynodes: 1, datanodes: 1, proxies: 2, env: { KITE_SECURITY_AUTHORIZATION_ENABLED: 'true' } });
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.closeConnection().catch(() => undefined)));
  await cluster?.dispose();
}, 180_000);

test('a grant and a revoke through one proxy apply on the other within a second', async () => {
  const [a, b] = cluster.proxyAddresses;
  const rootA = connect(a!, 'root', 'Milvus');
  expectOk(
    await rootA.createCollection({
      collection_name: 'auth_cluster',
      fields: [
        { name: 'id', data_type: DataType.Int64, is_primary_key: true },
        { name: 'v', data_type: DataType.FloatVector, dim: 4 },
      ],
    }),
    'createCollection',
  );
  expectOk(await rootA.createUser({ username: 'erin', password: 'erin-pw-1' }), 'createUser erin (proxy A)');
  expectOk(await rootA.createRole({ roleName: 'reader' }), 'createRole reader');
  expectOk(await rootA.addUserToRole({ username: 'erin', roleName: 'reader' }), 'addUserToRole');

  // erin logs in through proxy B (created through A) and has no GetLoadState privilege yet.
  const erinB = connect(b!, 'erin', 'erin-pw-1');
  const loadState = () => erinB.getLoadState({ collection_name: 'auth_cluster' });
  expect(await codeOf(loadState)).toBe(PERMISSION_DENIED);

  const grant = { roleName: 'reader', object: RbacObjects.Collection, objectName: 'auth_cluster', privilegeName: 'GetLoadState' as const };
  expectOk(await rootA.grantPrivilege(grant), 'grant GetLoadState (proxy A)');
  const grantMs = await msUntil(0, loadState, 10_000);
  expectOk(await rootA.revokePrivilege(grant), 'revoke GetLoadState (proxy A)');
  const revokeMs = await msUntil(PERMISSION_DENIED, loadState, 10_000);
  console.log(`grant applied on the other proxy after ${grantMs} ms, revoke after ${revokeMs} ms`);
  expect(grantMs).toBeLessThan(PROPAGATION_MS);
  expect(revokeMs).toBeLessThan(PROPAGATION_MS);
});

test('a user deleted through one proxy is refused by the other', async () => {
  const [a, b] = cluster.proxyAddresses;
  const rootA = connect(a!, 'root', 'Milvus');
  const erinB = connect(b!, 'erin', 'erin-pw-1');
  expectOk((await erinB.showCollections()).status, 'erin through B');
  expectOk(await rootA.deleteUser({ username: 'erin' }), 'deleteUser erin (proxy A)');
  await eventually('erin refused through B', async () => ((await codeOf(() => erinB.showCollections())) === UNAUTHENTICATED ? true : undefined), 10_000);
});
