/**
 * Faults of the other processes under continuous Strong searches, inserts and count(*) through the Node SDK, on one
 * cluster of 2 query nodes, 2 data nodes, 2 proxies and (from the coordinator test on) 2 coordinators, session
 * TTL 3 s, one collection `chaos_cmp` (2 shards, 1 replica): kill -9 of a data node, of a proxy and of the active
 * coordinator, then crash-restarts of etcd and of the Kafka broker. Each test leaves the cluster whole again.
 *
 * After every fault: every acknowledged insert is found exactly once (count(*) and ids through query), searches for
 * known vectors find their rows, and (unless stated) no other component died.
 *
 * KNOWN SERVER BUG that can fail any test here at random (see querynode.test.ts, SIGTERM test): a delegator moved by
 * the coordinator's delegator balancing (which runs in steady state too) can serve without its sealed segments —
 * searches miss rows and count(*) is short (seen once right after the etcd restart: count(*) 2031 of 3860).
 */
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { readJson, ROOT } from '../cluster/inspect';
import { ChaosCluster } from './chaos';
import {
  activeCoordinator,
  backendRestart,
  clientsOn,
  coordinatorKill,
  dataNodeKill,
  describeResult,
  proxyKill,
  setupCollection,
  type Fixture,
} from './scenarios';
import { INTACT, intact, type ProxyClient } from './workload';

jest.setTimeout(240_000);

const SHARDS = 2;
let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;
let proxy = '';
const open: ProxyClient[] = [];
const reports: string[] = [];

function clients(): ReturnType<typeof clientsOn> {
  const c = clientsOn(proxy);
  open.push(...c.all);
  return c;
}

beforeAll(async () => {
  chaos = await ChaosCluster.start({
    querynodes: 2,
    datanodes: 2,
    proxies: 2,
    sessionTtlSeconds: 3,
    env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '500' },
  });
  proxy = `127.0.0.1:${chaos.info.proxy.grpc}`;
  admin = new MilvusClient({ address: proxy, timeout: 60_000, logLevel: 'error' });
  await admin.connectPromise;
  fx = await setupCollection(chaos, admin, 'chaos_cmp', { rows: 3000, shards: SHARDS, replicas: 1, seed: 303 });
}, 420_000);

// Each test starts with the whole cluster: whatever a fault took down is started again.
afterEach(async () => {
  const healed = await chaos?.heal();
  if (healed?.length) reports.push(`  (restarted after the test: ${healed.join(', ')})`);
}, 120_000);

afterAll(async () => {
  console.log(reports.join('\n'));
  await Promise.all(open.map((c) => c.close()));
  await admin?.closeConnection().catch(() => undefined);
  if (chaos) {
    const errors = chaos.grep(/"level":(50|60)/, 15);
    if (errors.length) console.warn(`error lines in the cluster logs:\n${errors.join('\n')}`);
    await chaos.dispose();
  }
}, 180_000);

test('kill -9 of a data node: its channels move, nothing is lost, nothing is counted twice', async () => {
  const r = await dataNodeKill({
    fixture: fx,
    clients: clients(),
    admin,
    shards: SHARDS,
    name: 'kill -9 data node, 2 data nodes',
    goal: 'channels move; every acknowledged row once',
  });
  reports.push(`${describeResult(r)}\n  sealed rows after flush ${r.sealedRows}, rows ${r.rowsAfterFlush}`);
  expect(r.notes.channelsMovedSeconds).toEqual(expect.any(Number));
  // Data nodes are on neither the write nor the read path: nothing fails.
  expect(r.searches.failed).toBe(0);
  expect(r.counts.failed).toBe(0);
  expect(r.inserts.failed).toBe(0);
  expect(intact(r.verify)).toEqual(INTACT);
  expect(r.sealedRows).toBe(r.rowsAfterFlush);
  expect(r.dead).toEqual([]);
});

test('kill -9 of one of two proxies: clients of the other see no failure, a client of the killed one reconnects', async () => {
  const [survivor, victim] = chaos.components('proxy');
  const r = await proxyKill({
    fixture: fx,
    survivor: survivor!,
    victim: victim!,
    name: 'kill -9 proxy, 2 proxies',
    goal: 'no failure through the other proxy',
  });
  reports.push(`${describeResult(r)}\n  client B reconnected after ${r.reconnectSeconds ?? 'never'} s; B searches ${r.clientB.searches.failed}/${r.clientB.searches.sent} failed, B inserts ${r.clientB.inserts.failed}/${r.clientB.inserts.sent} failed`);
  expect(r.clientA.searches.errors).toEqual([]);
  expect(r.clientA.searches.failed).toBe(0);
  expect(r.clientA.counts.failed).toBe(0);
  expect(r.clientA.searches.sent).toBeGreaterThan(10);
  expect(r.reconnectSeconds).toBeDefined();
  expect(r.reconnectSeconds!).toBeLessThan(10);
  // After reconnecting, B's requests succeed again.
  const late = r.workload.window('search', r.faultAt + (r.reconnectSeconds ?? 0) * 1000 + 500, undefined, 'B');
  expect(late.length).toBeGreaterThan(10);
  expect(late.filter((s) => !s.ok)).toEqual([]);
  expect(intact(r.verify)).toEqual(INTACT);
  expect(r.dead).toEqual([]);
});

// KNOWN SERVER BUGS (services/proxy/src/proxy.ts, services/querycoord/src/server.ts; reported to the lead):
// - the proxy's shard-leader cache entry expires 30 s after the last leader change although the coordinator
//   publishes leaders through etcd; an expired entry makes every search and query call GetShardLeaders on the
//   coordinator, and that call sits outside onChannel's retry loop, so a dead coordinator fails them at once
//   ("QueryCoord at … unreachable") instead of being retried until the deadline;
// - a standby that wins the exclusive session key publishes its address before it registers the QueryCoord gRPC
//   service (it recovers state first), so proxies get "12 UNIMPLEMENTED … GetShardLeaders / AllocTimestamp".
// The zero-failed-searches assertion below fails until these are fixed.
test('kill -9 of the active coordinator with a standby: queries keep flowing, the standby takes over, DDL works', async () => {
  await chaos.addComponent('querycoord', 'healthz');
  const before = await activeCoordinator(chaos);
  const r = await coordinatorKill({
    fixture: fx,
    clients: clients(),
    admin,
    // The kill comes after 31 s without a shard-leader change or request, and the load starts right after it:
    // the proxies' cached shard leaders are older than their 30 s expiry, as in a quiet steady state.
    leadersStableMs: 31_000,
    name: 'kill -9 active coordinator, 1 standby',
    goal: 'searches keep flowing; standby takes over; DDL works',
  });
  reports.push(`${describeResult(r)}\n  DDL after takeover: ${r.ddl}`);
  expect(r.notes.takeoverSeconds).toEqual(expect.any(Number));
  const now = await readJson<{ serverID: number }>(chaos.cluster.etcdEndpoints, `${ROOT}/session/querycoord`);
  expect(now?.serverID).not.toBe(before.serverID);
  expect(r.searches.errors).toEqual([]);
  expect(r.searches.failed).toBe(0);
  expect(r.counts.failed).toBe(0);
  expect(r.ddl).toBe('ok');
  expect(intact(r.verify)).toEqual(INTACT);
  expect(r.dead).toEqual([]);
});

// etcd is started again at once (kill -9, then the same command: about 0.1–0.5 s without etcd), shorter than the
// session TTL: no lease is lost.
test('crash-restart of etcd: every acknowledged row survives and the cluster serves again', async () => {
  const r = await backendRestart({
    fixture: fx,
    clients: clients(),
    backend: 'etcd',
    downMs: 0,
    name: 'kill -9 + restart etcd',
    goal: 'served again; nothing lost',
  });
  reports.push(describeResult(r));
  expect(r.servedSeconds).toBeDefined();
  expect(intact(r.verify)).toEqual(INTACT);
  await activeCoordinator(chaos); // some coordinator is active
  expect(r.dead).toEqual([]);
});

// An etcd outage longer than the session TTL: every process loses its lease. Query and data nodes drop what they
// served, the active coordinator steps down; once etcd is back every process registers again (retrying with
// backoff while etcd is down), a coordinator becomes active and reassigns everything. Until a fix in this session,
// nodes tried to re-register once, during the outage, and the coordinator exited, so nothing was served again.
test('etcd down for longer than the session TTL: every process rejoins and the cluster serves again', async () => {
  const r = await backendRestart({
    fixture: fx,
    clients: clients(),
    backend: 'etcd',
    downMs: 4000,
    name: 'etcd down 4 s (TTL 3 s)',
    goal: 'served again; nothing lost; no process exits',
  });
  reports.push(describeResult(r));
  expect(r.servedSeconds).toBeDefined();
  expect(intact(r.verify)).toEqual(INTACT);
  await activeCoordinator(chaos);
  expect(r.dead).toEqual([]);
}, 240_000);

test('crash-restart of Kafka: every acknowledged row survives and the cluster serves again', async () => {
  const r = await backendRestart({
    fixture: fx,
    clients: clients(),
    backend: 'kafka',
    downMs: 0,
    name: 'kill -9 + restart Kafka',
    goal: 'served again; nothing lost',
  });
  reports.push(describeResult(r));
  expect(r.servedSeconds).toBeDefined();
  expect(intact(r.verify)).toEqual(INTACT);
  expect(r.dead).toEqual([]);
});
