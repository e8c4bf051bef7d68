/**
 * Replicated etcd and Kafka (`cluster up --etcd-members 3 --kafka-brokers 3`, docs/failover.md): under continuous
 * Strong searches, inserts and count(*) through the Node SDK, kill -9 of the etcd leader, then of the Kafka broker
 * that leads a partition of the collection's WAL topic. Neither is started again: two etcd members keep the quorum,
 * two brokers keep min.insync.replicas 2 and the controller quorum.
 *
 * After each fault: no search, insert or count(*) failed (the load's clients make no retries of their own: the SDK's
 * retries are off, maxRetries 0), every acknowledged insert is found exactly once (Strong reads by id), and the
 * longest gap between two acknowledged inserts, which spans the fault, stays under MAX_INSERT_GAP_MS.
 */
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { Kafka, logLevel } from 'kafkajs';
import { sleep } from '../harness/util';
import { ChaosCluster, running } from './chaos';
import { clientsOn, describeResult, runFault, setupCollection, type FaultResult, type Fixture } from './scenarios';
import { expectNothingFailedOrLost } from './goals';
import { type ProxyClient, type Workload } from './workload';

jest.setTimeout(300_000);

const SHARDS = 2;
/** Bound on the longest pause of acknowledged inserts across a fault: etcd elects in ~1 s, Kafka fences in 3 s. */
const MAX_INSERT_GAP_MS = 15_000;

let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;
const open: ProxyClient[] = [];
const reports: string[] = [];

type Member = NonNullable<ChaosCluster['info']['etcd']['members']>[number];
type Broker = NonNullable<ChaosCluster['info']['kafka']['nodes']>[number];

/** The etcd member that is the Raft leader now, by its status API (member id in the header == leader). */
async function etcdLeader(members: Member[]): Promise<Member | undefined> {
  for (const m of members) {
    if (!running(m.pid)) continue;
    try {
      const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
      if (body.leader && body.header?.member_id === body.leader) return m;
    } catch {
      // not answering: not the leader
    }
  }
  return undefined;
}

/** Partition leaders and replica counts of the collection's WAL topic (`kite-dml-<id>`), through kafkajs admin. */
async function walTopic(brokers: string[], collectionID: number): Promise<{ topic: string; leaders: number[]; replicas: number[]; isr: number[] }> {
  const kafka = new Kafka({ clientId: 'kite-chaos-test', brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10_000 });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topic = `kite-dml-${collectionID}`;
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    const parts = md.topics[0]!.partitions;
    return { topic, leaders: parts.map((p) => p.leader), replicas: parts.map((p) => p.replicas.length), isr: parts.map((p) => p.isr.length) };
  } finally {
    await admin.disconnect();
  }
}

async function kill9(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  while (running(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} survived SIGKILL`);
    await sleep(20);
  }
}

/** The longest time without an acknowledged insert between the first and the last one of the load. */
function longestInsertGap(w: Workload): { ms: number; at: number } {
  const acked = w.window('insert').filter((s) => s.ok).map((s) => s.end).sort((a, b) => a - b);
  let gap = { ms: 0, at: 0 };
  for (let i = 1; i < acked.length; i++) if (acked[i]! - acked[i - 1]! > gap.ms) gap = { ms: acked[i]! - acked[i - 1]!, at: acked[i - 1]! };
  return gap;
}

/** Records the fault's result and its longest gap between acknowledged inserts in the suite's report. */
function reportInsertGap(r: FaultResult): { ms: number; at: number } {
  const gap = longestInsertGap(r.workload);
  reports.push(`${describeResult(r)}\n  longest gap between acknowledged inserts: ${gap.ms} ms (${gap.at >= r.faultAt - 1000 ? 'at the fault' : 'before the fault'})`);
  return gap;
}

/** The goals both faults share: no search, insert or count failed, writes resumed in time, every acknowledged row is there. */
function expectWritesResumed(r: FaultResult, gap: { ms: number }): void {
  expectNothingFailedOrLost(r);
  expect(r.inserts.sent).toBeGreaterThan(5);
  expect(gap.ms).toBeLessThan(MAX_INSERT_GAP_MS);
}

function clients(): ReturnType<typeof clientsOn> {
  const c = clientsOn(`127.0.0.1:${chaos.info.proxy.grpc}`);
  open.push(...c.all);
  return c;
}

/** The fault under load: `inject` kills a process; the load runs on for at least 20 s after it. */
function underLoad(name: string, goal: string, inject: () => Promise<Record<string, string | number>>): Promise<FaultResult> {
  const c = clients();
  return runFault({
    name,
    goal,
    fixture: fx,
    load: { searchers: c.searchers, inserter: c.inserter, counter: c.counter },
    checker: c.checker,
    inject,
    preMs: 5000,
    minWindowMs: 20_000,
    maxMs: 90_000,
  });
}

beforeAll(async () => {
  chaos = await ChaosCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, etcdMembers: 3, kafkaBrokers: 3, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '1000' } });
  reports.push(`[chaos] cluster up with 3 etcd members and 3 Kafka brokers: ${(chaos.cluster.upTimesMs[0]! / 1000).toFixed(1)} s`);
  admin = new MilvusClient({ address: `127.0.0.1:${chaos.info.proxy.grpc}`, timeout: 60_000, logLevel: 'error' });
  await admin.connectPromise;
  fx = await setupCollection(chaos, admin, 'chaos_repl', { rows: 2000, shards: SHARDS, replicas: 1, seed: 404 });
}, 480_000);

afterAll(async () => {
  console.log(reports.join('\n'));
  await Promise.all(open.map((c) => c.close()));
  await admin?.closeConnection().catch(() => undefined);
  if (chaos) await chaos.dispose();
}, 180_000);

test('cluster up with 3 members each: every endpoint in the config, the WAL topic on 3 replicas', async () => {
  const info = chaos.info;
  expect(info.etcd.members?.length).toBe(3);
  expect(info.etcd.endpoints).toHaveLength(3);
  expect(info.kafka.nodes?.length).toBe(3);
  expect(info.kafka.brokers).toHaveLength(3);
  const t = await walTopic(info.kafka.brokers, fx.collectionID);
  expect(t.replicas).toEqual(Array(SHARDS).fill(3));
  expect(t.isr).toEqual(Array(SHARDS).fill(3));
  expect(await etcdLeader(info.etcd.members!)).toBeDefined();
});

test('kill -9 of the etcd leader: no request fails, no acknowledged row is lost, inserts pause briefly', async () => {
  const members = chaos.info.etcd.members!;
  const leader = await etcdLeader(members);
  if (!leader) throw new Error('no etcd member reports itself as leader');
  const r = await underLoad('kill -9 etcd leader, 3 members', 'nothing fails; nothing lost', async () => {
    await kill9(leader.pid);
    const t0 = Date.now();
    let next: Member | undefined;
    while (!(next = await etcdLeader(members)) && Date.now() - t0 < 30_000) await sleep(100);
    return { victim: leader.name, newLeader: next?.name ?? 'none', electedSeconds: (Date.now() - t0) / 1000 };
  });
  const gap = reportInsertGap(r);
  expect(r.notes.newLeader).not.toBe('none');
  expectWritesResumed(r, gap);
});

test('kill -9 of the Kafka broker leading a WAL partition: no request fails, no acknowledged row is lost', async () => {
  const nodes = chaos.info.kafka.nodes!;
  const before = await walTopic(chaos.info.kafka.brokers, fx.collectionID);
  const victim = nodes.find((n) => n.nodeId === before.leaders[0]) as Broker | undefined;
  if (!victim) throw new Error(`partition 0 of ${before.topic} is led by ${before.leaders[0]}, not a broker of cluster.json`);
  const r = await underLoad('kill -9 Kafka partition leader, 3 brokers', 'nothing fails; nothing lost', async () => {
    await kill9(victim.pid);
    const t0 = Date.now();
    const live = nodes.filter((n) => n.nodeId !== victim.nodeId).map((n) => `127.0.0.1:${n.port}`);
    let leaders: number[] = before.leaders;
    while (leaders.includes(victim.nodeId) && Date.now() - t0 < 60_000) {
      await sleep(250);
      leaders = await walTopic(live, fx.collectionID).then((t) => t.leaders, () => leaders);
    }
    return { victim: victim.nodeId, leadersBefore: before.leaders.join(','), leadersAfter: leaders.join(','), leaderMovedSeconds: (Date.now() - t0) / 1000 };
  });
  const gap = reportInsertGap(r);
  expect(String(r.notes.leadersAfter).split(',').map(Number)).not.toContain(victim.nodeId);
  expect(r.inserts.errors).toEqual([]);
  expectWritesResumed(r, gap);
});
