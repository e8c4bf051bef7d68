/**
 * Network partitions (test/chaos/netns.ts): one cluster of 3 query nodes, 2 proxies and a collection of 3000 rows
 * in 2 shards loaded with 2 replicas, under Strong searches, 10-row inserts and count(*) through the Node SDK (no
 * SDK retries, 10 s deadlines). Query node Q and proxy P2 run in network namespaces of their own (joined to each
 * other by a veth pair); everything else runs on the host. Three partitions, each healed before the next, in this
 * order:
 *
 *   b. (run first, while Q may still be a shard leader) Q keeps its etcd lease (and Kafka) but nothing reaches it
 *      and it reaches nothing else. Reads go to the other replica; the coordinator, whose distribution pulls fail,
 *      marks Q suspect, takes it out of routing and places its work on the other members of its replica; after the
 *      heal Q answers again under the same serverID and the duplicate copies are released.
 *   a. Q cannot reach etcd; the proxies and the coordinator still reach Q. Its lease expires: Q must drop its work
 *      (fencing) and hold none while cut off; the coordinator reassigns it; after the heal Q registers again under
 *      a new serverID and gets work.
 *   c. P2 cannot reach one query node of the host (the other proxy and the coordinator can): P2's reads go around it.
 *
 * After each: every acknowledged row is there exactly once, no search failed, the published shard leaders never
 * name a cut-off node while it is cut off, and once healed every channel has one delegator and every segment one
 * copy per replica. The figures print at the end (docs/failover.md, "Network partitions", quotes them).
 */
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { PublishedReplica } from '@kite/segment';
import { readJson, readSessions, ROOT } from '../cluster/inspect';
import { sleep } from '../harness/util';
import { ChaosCluster, httpJson, type ComponentEntry } from './chaos';
import { expectNothingFailedOrLost } from './goals';
import { NetLab, unavailableReason, type Namespace } from './netns';
import { clientsOn, describeResult, runFault, secondsUntil, setupCollection, type FaultResult, type Fixture } from './scenarios';
import { nodeDistribution, ProxyClient, searchFor } from './workload';

jest.setTimeout(240_000);

const reason = unavailableReason();
if (reason) console.warn(`[partition] skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

let lab: NetLab;
let nsQ: Namespace;
let nsP: Namespace;
let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;
let Q: ComponentEntry;
let P2: ComponentEntry;
const open: ProxyClient[] = [];
const reports: string[] = [];

const TTL_S = 3;

/** The shard leaders the coordinator publishes for the collection. */
async function leaders(): Promise<PublishedReplica[]> {
  return (await readJson<PublishedReplica[]>(chaos.cluster.etcdEndpoints, `${ROOT}/leaders/${fx.collectionID}`)) ?? [];
}

/** Node ids the published leaders name (as a shard leader), over every replica. */
function leaderNodes(ls: PublishedReplica[]): Set<number> {
  return new Set(ls.flatMap((r) => r.shards.map((s) => s.node_id)));
}

async function sessionLive(serverID: number): Promise<boolean> {
  return (await readSessions(chaos.cluster.etcdEndpoints)).some((s) => s.key.endsWith(`/querynode-${serverID}`));
}

/** What a query node holds of the collection; undefined when it does not answer. */
async function holdings(c: ComponentEntry): Promise<{ segments: number; channels: number; nodeID: number } | undefined> {
  try {
    const d = await nodeDistribution('QueryNode', chaos.address(c), 1500);
    return {
      segments: d.segments.filter((s) => Number(s.collection_id) === fx.collectionID).length,
      channels: d.channels.filter((s) => Number(s.collection_id) === fx.collectionID).length,
      nodeID: Number(d.node_id),
    };
  } catch {
    return undefined;
  }
}

/** What a query node holds of the collection, as `<replica>/<segment>` and `<replica>/<channel>` keys. */
async function heldKeys(c: ComponentEntry): Promise<{ segments: string[]; channels: string[] }> {
  const d = await nodeDistribution('QueryNode', chaos.address(c), 1500);
  return {
    segments: d.segments.filter((s) => Number(s.collection_id) === fx.collectionID).map((s) => `${s.replica_id}/${s.segment_id}`),
    channels: d.channels.filter((s) => Number(s.collection_id) === fx.collectionID).map((s) => `${s.replica_id}/${s.channel}`),
  };
}

/** Whether the query nodes other than `victim` hold every one of `keys` (channels: a serviceable delegator). */
async function coveredByOthers(victim: ComponentEntry, keys: { segments: string[]; channels: string[] }): Promise<boolean> {
  const segs = new Set<string>();
  const chans = new Set<string>();
  for (const qn of chaos.live('querynode')) {
    if (qn === victim) continue;
    const d = await nodeDistribution('QueryNode', chaos.address(qn), 1500).catch(() => undefined);
    for (const s of d?.segments ?? []) segs.add(`${s.replica_id}/${s.segment_id}`);
    for (const ch of d?.channels ?? []) if (ch.serviceable) chans.add(`${ch.replica_id}/${ch.channel}`);
  }
  return keys.segments.every((k) => segs.has(k)) && keys.channels.every((k) => chans.has(k));
}

/** The value of the coordinator's metric line that starts with `prefix` and contains every one of `parts`. */
async function coordinatorMetric(prefix: string, ...parts: string[]): Promise<number> {
  const coord = chaos.components('querycoord')[0]!;
  const text = await (await fetch(`http://127.0.0.1:${coord.metrics}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(prefix) && parts.every((p) => l.includes(p)));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The coordinator's count of query nodes in `state` (its kite_querycoord_sessions gauge). */
function coordinatorSessions(state: string): Promise<number> {
  return coordinatorMetric('kite_querycoord_sessions{', 'role="querynode"', `state="${state}"`);
}

/** Reconcile passes the coordinator has run. */
function reconcilePasses(): Promise<number> {
  return coordinatorMetric('kite_querycoord_reconcile_duration_seconds_count');
}

/**
 * Settled ownership: on the query nodes that answer, every (replica, channel) has exactly one delegator and every
 * (replica, segment) exactly one copy. Returns '' when so, else what is doubled or missing.
 */
async function ownershipProblem(): Promise<string> {
  const delegators = new Map<string, number[]>();
  const copies = new Map<string, number[]>();
  for (const qn of chaos.live('querynode')) {
    const d = await nodeDistribution('QueryNode', chaos.address(qn), 1500);
    for (const ch of d.channels) if (Number(ch.collection_id) === fx.collectionID) {
      const k = `${ch.replica_id}/${ch.channel}`;
      delegators.set(k, [...(delegators.get(k) ?? []), Number(d.node_id)]);
    }
    for (const s of d.segments) if (Number(s.collection_id) === fx.collectionID) {
      const k = `${s.replica_id}/${s.segment_id}`;
      copies.set(k, [...(copies.get(k) ?? []), Number(d.node_id)]);
    }
  }
  const problems: string[] = [];
  for (const [k, ns] of delegators) if (ns.length !== 1) problems.push(`channel ${k} delegators on ${ns.join(',')}`);
  for (const [k, ns] of copies) if (ns.length !== 1) problems.push(`segment ${k} on ${ns.join(',')}`);
  if (delegators.size !== 2 * fx.replicaIDs.length) problems.push(`${delegators.size} delegators for ${fx.replicaIDs.length} replicas x 2 channels`);
  return problems.slice(0, 4).join('; ');
}

/**
 * Polls every 250 ms while a partition lasts: whether the published leaders name `node` (they must not once it is
 * out) and what `victim` holds. Stop it to get the samples.
 */
class PartitionWatch {
  leaderSamples: { at: number; names: boolean }[] = [];
  holdingSamples: { at: number; h: { segments: number; channels: number } | undefined }[] = [];
  private stopped = false;
  private loop: Promise<void>;

  constructor(node: number, victim: ComponentEntry | undefined) {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        const ls = await leaders().catch(() => undefined);
        if (ls) this.leaderSamples.push({ at, names: leaderNodes(ls).has(node) });
        if (victim) this.holdingSamples.push({ at, h: await holdings(victim) });
        await sleep(250);
      }
    })();
  }

  /** Samples in [from, to) in which the leaders named the node. */
  namedBetween(from: number, to = Number.MAX_SAFE_INTEGER): number {
    return this.leaderSamples.filter((s) => s.at >= from && s.at < to && s.names).length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

function clients(address: string): ReturnType<typeof clientsOn> {
  const c = clientsOn(address);
  open.push(...c.all);
  return c;
}

/** A proxy's counter `name`, summed by the value of `label` ('' sums everything). */
async function proxyCounter(p: ComponentEntry, name: string, label = ''): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${p.host ?? '127.0.0.1'}:${p.metrics}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const k = label ? (new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '') : 'all';
    out[k] = (out[k] ?? 0) + Number(line.split(' ').pop());
  }
  return out;
}

function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => v !== 0));
}

/** The host query node (not Q) that is a shard leader of the collection and holds the most of it. */
async function busiestHostQueryNode(): Promise<ComponentEntry> {
  let best: { c: ComponentEntry; score: number } | undefined;
  for (const qn of chaos.live('querynode')) {
    if (qn === Q) continue;
    const h = await holdings(qn);
    const score = (h?.channels ?? 0) * 1000 + (h?.segments ?? 0);
    if (!best || score > best.score) best = { c: qn, score };
  }
  if (!best || best.score < 1000) throw new Error('no query node on the host is a shard leader of the collection');
  return best.c;
}

/** After a healed partition: settled ownership (one delegator per channel, one copy per segment, per replica). */
async function settledSeconds(since: number): Promise<{ seconds: number | undefined; problem: string }> {
  let problem = '';
  const seconds = await secondsUntil(since, 90_000, async () => (problem = await ownershipProblem()) === '');
  return { seconds, problem };
}

const s1 = (x: number | undefined): string | number => (x === undefined ? 'never' : Number(x.toFixed(1)));

suite(`network partitions${reason ? ` (skipped: ${reason})` : ''}`, () => {
  beforeAll(async () => {
    lab = await NetLab.create();
    if (lab.leftovers.length) reports.push(`removed leftovers of earlier runs: ${lab.leftovers.join(', ')}`);
    nsQ = await lab.namespace();
    nsP = await lab.namespace();
    await lab.link(nsQ, nsP);
    chaos = await ChaosCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, sessionTtlSeconds: TTL_S, env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '500' } });
    [Q, P2] = await Promise.all([
      chaos.addComponent('querynode', 'ready', 120_000, { netns: nsQ.name, host: nsQ.address }),
      chaos.addComponent('proxy', 'ready', 120_000, { netns: nsP.name, host: nsP.address }),
    ]);
    admin = new MilvusClient({ address: `127.0.0.1:${chaos.info.proxy.grpc}`, timeout: 60_000, logLevel: 'error' });
    await admin.connectPromise;
    fx = await setupCollection(chaos, admin, 'chaos_partition', { rows: 3000, shards: 2, replicas: 2, seed: 404 });
    // Q must hold part of the collection for case a and b to mean anything.
    const held = await secondsUntil(Date.now(), 60_000, async () => ((await holdings(Q))?.segments ?? 0) > 0);
    if (held === undefined) throw new Error(`query node ${Q.serverID} in ${nsQ.name} got no segment of the collection`);
    reports.push(`[partition] Q = querynode-${Q.serverID} at ${chaos.address(Q)} (${nsQ.name}); P2 = proxy-${P2.serverID} at ${chaos.address(P2)} (${nsP.name})`);
  }, 600_000);

  afterAll(async () => {
    console.log(reports.join('\n'));
    await Promise.all(open.map((c) => c.close()));
    await admin?.closeConnection().catch(() => undefined);
    try {
      if (nsQ) await nsQ.healAll();
      if (nsP) await nsP.healAll();
      if (chaos) {
        const errors = chaos.grep(/"level":(50|60)/, 15);
        if (errors.length) console.warn(`error lines in the cluster logs:\n${errors.join('\n')}`);
        await chaos.dispose();
      }
    } finally {
      await lab?.dispose();
    }
  }, 240_000);

  function common(r: FaultResult): void {
    expectNothingFailedOrLost(r);
    expect(r.searches.sent).toBeGreaterThan(20);
  }

  test('b. a query node that keeps its lease but that nothing reaches: reads go to the other replica, its work moves, duplicates go after the heal', async () => {
    const id = Q.serverID;
    const before = await holdings(Q);
    const held = await heldKeys(Q);
    const etcdPorts = chaos.cluster.etcdEndpoints.map((e) => Number(new URL(e).port));
    const kafkaPorts = chaos.cluster.kafkaBrokers.map((b) => Number(b.split(':').pop()));
    let watch: PartitionWatch | undefined;
    let healAt = 0;
    let cutAt = 0;
    const leaseKept: boolean[] = [];
    const r = await runFault({
      name: 'b. query node unreachable by proxies, coordinator and peers; keeps its etcd lease; 2 replicas',
      goal: 'zero failed searches; out of the leaders while cut; its work placed elsewhere in its replica; one owner after the heal',
      fixture: fx,
      load: clients(chaos.address(chaos.components('proxy')[0]!)),
      checker: open[open.length - 1]!,
      inject: async () => {
        watch = new PartitionWatch(id, undefined);
        cutAt = Date.now();
        await nsQ.cut('nothing reaches the query node; it reaches etcd and Kafka only', { inboundPorts: [Q.grpc], allHostPortsExcept: [...etcdPorts, ...kafkaPorts] });
        return { victim: `querynode-${id}`, victimSegments: before?.segments ?? 0, victimChannels: before?.channels ?? 0 };
      },
      observe: async (faultAt) => {
        const suspectSeconds = await secondsUntil(faultAt, 30_000, async () => (await coordinatorSessions('suspect')) > 0);
        const outOfLeadersSeconds = await secondsUntil(faultAt, 30_000, async () => !leaderNodes(await leaders()).has(id));
        const members = (await leaders()).filter((rep) => rep.node_ids.includes(id));
        const others = members.flatMap((rep) => rep.node_ids).filter((n) => n !== id);
        // Its work is placed on the other members of its replica, if it has any.
        const reassignedSeconds = others.length ? await secondsUntil(faultAt, 60_000, () => coveredByOthers(Q, held)) : undefined;
        // Cut off for 5 TTLs in all: its lease must hold throughout (it still reaches etcd).
        const passes0 = await reconcilePasses();
        const since = Date.now();
        while (Date.now() < faultAt + 5 * TTL_S * 1000) {
          leaseKept.push(await sessionLive(id));
          await sleep(500);
        }
        const passesPerSecond = ((await reconcilePasses()) - passes0) / ((Date.now() - since) / 1000);
        healAt = Date.now();
        await nsQ.healAll();
        const backSeconds = await secondsUntil(healAt, 60_000, async () => (await holdings(Q)) !== undefined && (await coordinatorSessions('suspect')) === 0);
        await watch!.stop();
        return {
          suspectSeconds: s1(suspectSeconds),
          outOfLeadersSeconds: s1(outOfLeadersSeconds),
          replicaMembers: members.map((rep) => `${rep.replica_id}:[${rep.node_ids.join(',')}]`).join(' '),
          reassignedSeconds: others.length ? s1(reassignedSeconds) : 'no other member',
          answersAgainSecondsAfterHeal: s1(backSeconds),
          reconcilePassesPerSecondWhileCut: Number(passesPerSecond.toFixed(2)),
        };
      },
      minWindowMs: 10_000,
      maxMs: 240_000,
    });
    const settled = await settledSeconds(healAt);
    r.notes.settledSecondsAfterHeal = s1(settled.seconds);
    r.notes.sameServerID = (await chaos.ready(Q)).serverID === id;
    // From the first sample without Q (after the cut) until the heal, no sample may name it again.
    const firstOut = watch!.leaderSamples.find((x) => x.at >= cutAt && !x.names)?.at;
    r.notes.leadersNamedQWhileCut = firstOut === undefined ? 'never out' : watch!.namedBetween(firstOut, healAt);
    reports.push(describeResult(r));
    common(r);
    expect(leaseKept.length).toBeGreaterThan(0);
    expect(leaseKept.every(Boolean)).toBe(true);
    expect(r.notes.suspectSeconds).toEqual(expect.any(Number));
    expect(r.notes.outOfLeadersSeconds).toEqual(expect.any(Number));
    expect(r.notes.leadersNamedQWhileCut).toBe(0);
    if (r.notes.reassignedSeconds !== 'no other member') expect(r.notes.reassignedSeconds).toEqual(expect.any(Number));
    // The unreachable node holds one reconcile pass for the pull timeout, not every pass (checkIntervalMs 500 ms).
    expect(r.notes.reconcilePassesPerSecondWhileCut as number).toBeGreaterThan(1);
    expect(r.notes.answersAgainSecondsAfterHeal).toEqual(expect.any(Number));
    expect(settled.problem).toBe('');
  });

  test('a. a query node cut off from etcd drops its work when its lease expires, holds none while cut off, and rejoins after the heal', async () => {
    const oldID = Q.serverID;
    const before = await holdings(Q);
    const held = await heldKeys(Q);
    const etcdPorts = chaos.cluster.etcdEndpoints.map((e) => Number(new URL(e).port));
    let watch: PartitionWatch | undefined;
    let goneAt = 0;
    let healAt = 0;
    const r = await runFault({
      name: 'a. query node cut off from etcd (reachable by proxies and coordinator), 2 replicas',
      goal: 'fenced within the TTL; holds nothing without a lease; reassigned; rejoins after the heal; zero failed searches',
      fixture: fx,
      load: clients(chaos.address(chaos.components('proxy')[0]!)),
      checker: open[open.length - 1]!,
      inject: async () => {
        watch = new PartitionWatch(oldID, Q);
        await nsQ.cut('query node -> etcd', { to: etcdPorts.map((port) => ({ host: '127.0.0.1', port })) });
        return { victim: `querynode-${oldID}`, victimSegments: before?.segments ?? 0, victimChannels: before?.channels ?? 0 };
      },
      observe: async (faultAt) => {
        const fencedSeconds = await secondsUntil(faultAt, 30_000, async () => {
          const h = await holdings(Q);
          return !h || (h.segments === 0 && h.channels === 0);
        });
        const sessionGoneSeconds = await secondsUntil(faultAt, 30_000, async () => !(await sessionLive(oldID)));
        goneAt = faultAt + (sessionGoneSeconds ?? 30) * 1000;
        const reassignedSeconds = await secondsUntil(faultAt, 60_000, async () => !leaderNodes(await leaders()).has(oldID) && (await coveredByOthers(Q, held)));
        // Stay cut off for two more TTLs: Q keeps failing to register and must keep holding nothing.
        await sleep(2 * TTL_S * 1000);
        healAt = Date.now();
        await nsQ.healAll();
        const rejoinSeconds = await secondsUntil(healAt, 60_000, async () => {
          const st = await chaos.ready(Q);
          return st.ready && st.serverID !== oldID && st.serverID > 0;
        });
        const st = await chaos.ready(Q);
        Q.serverID = st.serverID;
        chaos.save();
        const workSeconds = await secondsUntil(healAt, 90_000, async () => ((await holdings(Q))?.segments ?? 0) > 0);
        await watch!.stop();
        return {
          fencedSeconds: s1(fencedSeconds),
          sessionGoneSeconds: s1(sessionGoneSeconds),
          reassignedSeconds: s1(reassignedSeconds),
          rejoinSecondsAfterHeal: s1(rejoinSeconds),
          workSecondsAfterHeal: s1(workSeconds),
          newServerID: Q.serverID,
        };
      },
      minWindowMs: 10_000,
      maxMs: 240_000,
    });
    const w = watch!;
    // Fencing: from the moment its session was gone until the heal, Q answered with nothing (or not at all).
    const stale = w.holdingSamples.filter((s) => s.at >= goneAt && s.at < healAt && s.h && (s.h.segments > 0 || s.h.channels > 0));
    const settled = await settledSeconds(Date.now());
    r.notes.staleHoldingSamples = `${stale.length}/${w.holdingSamples.filter((s) => s.at >= goneAt && s.at < healAt).length}`;
    r.notes.leadersNamedQAfterSessionGone = w.namedBetween(goneAt + 1000);
    r.notes.settledSecondsAfterTest = s1(settled.seconds);
    reports.push(describeResult(r));
    common(r);
    expect(r.notes.fencedSeconds).toEqual(expect.any(Number));
    expect(r.notes.fencedSeconds as number).toBeLessThanOrEqual(TTL_S + 2);
    expect(stale).toEqual([]);
    expect(r.notes.leadersNamedQAfterSessionGone).toBe(0);
    expect(r.notes.reassignedSeconds).toEqual(expect.any(Number));
    expect(r.notes.rejoinSecondsAfterHeal).toEqual(expect.any(Number));
    expect(r.notes.newServerID).not.toBe(oldID);
    expect(r.notes.workSecondsAfterHeal).toEqual(expect.any(Number));
    expect(settled.problem).toBe('');
  });

  test('c. a proxy cut off from one query node reads around it', async () => {
    const victim = await busiestHostQueryNode();
    const p2 = chaos.address(P2);
    const searchers = [new ProxyClient([p2], 10_000), new ProxyClient([p2], 10_000)];
    const counter = new ProxyClient([p2], 10_000);
    const inserter = new ProxyClient([p2], 10_000);
    const checker = new ProxyClient([chaos.address(chaos.components('proxy')[0]!)], 30_000);
    open.push(...searchers, counter, inserter, checker);
    // Warm P2 up (connections, caches): it served nothing in the cases before.
    for (const row of fx.probes.slice(0, 4)) await searchFor(searchers[0]!, fx.name, row).catch(() => undefined);
    const counters = async (): Promise<Record<string, Record<string, number>>> => ({
      hedges: await proxyCounter(P2, 'kite_proxy_hedged_requests_total', 'outcome'),
      ejections: await proxyCounter(P2, 'kite_proxy_outlier_ejections_total', 'reason'),
      retries: await proxyCounter(P2, 'kite_proxy_retries_total', 'reason'),
    });
    const before = await counters();
    const r = await runFault({
      name: `c. proxy P2 cut off from query node ${victim.serverID} (a shard leader), 2 replicas`,
      goal: 'zero failed searches, queries and inserts through P2',
      fixture: fx,
      load: { searchers, counter, inserter },
      checker,
      inject: async () => {
        await nsP.cut('proxy 2 -> one query node', { to: [{ host: '127.0.0.1', port: victim.grpc }] });
        return { victim: `querynode-${victim.serverID}` };
      },
      observe: async (faultAt) => {
        // Cut off for 15 s (5 TTLs: long past any lease-driven change; the lease is not involved here).
        while (Date.now() < faultAt + 15_000) await sleep(250);
        await nsP.healAll();
        return { cutSeconds: s1((Date.now() - faultAt) / 1000) };
      },
      minWindowMs: 15_000,
      maxMs: 240_000,
    });
    const after = await counters();
    for (const k of Object.keys(after)) r.notes[k] = JSON.stringify(minus(after[k]!, before[k]!));
    r.notes.p2Ready = (await httpJson(P2.metrics, '/ready', 1000, P2.host)).status === 200;
    reports.push(describeResult(r));
    common(r);
  });
});
