/**
 * `bin/kite cluster rolling-restart` under continuous Strong searches, inserts and count(*) through the Node SDK, on
 * one cluster of 2 query nodes, 2 data nodes, 2 coordinators (the second a standby, started by the test as
 * `cluster up` starts one), 2 proxies, session TTL 3 s, and one collection `chaos_roll` (2 shards, 2 replicas).
 * The command restarts every component one at a time, each with a graceful stop, waiting for the new process to
 * have its work back before the next.
 *
 * The clients know both proxies: the Milvus SDKs take one address, so each load client here is a `TwoProxyClient`
 * (below) — two Node SDK clients, one per proxy, which sends a request to the other proxy when the one it uses
 * answers "unavailable" (the connection is refused or closes before the request is sent, or the proxy answers
 * that it is stopping / not ready). An insert is sent again only when it certainly did not reach a proxy, so a
 * retried insert can never be stored twice (the integrity check would see a duplicate).
 *
 * Asserted: zero failed searches (an error or an incomplete result), zero failed inserts, zero failed count(*)s,
 * every acknowledged row there exactly once afterwards, every component restarted (new pid) and none died. The
 * per-component restart times the command reports are printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import type { RestartRecord } from '@kite/cli';
import { runKite, type ClusterFile } from '../cluster/launcher';
import { sleep } from '../harness/util';
import { ChaosCluster, running } from './chaos';
import { setupCollection, type Fixture } from './scenarios';
import { deadComponents, INTACT, intact, ProxyClient, statsOf, verifyData, Workload } from './workload';

jest.setTimeout(1_500_000);

/** A failed call that never reached a proxy (safe to send again, even an insert). */
function notSent(err: unknown): boolean {
  const e = err as { code?: number; message?: string; details?: string };
  return /ECONNREFUSED|No connection established|failed to connect|Name resolution/i.test(`${e?.message ?? ''} ${e?.details ?? ''}`);
}

/** The proxy is unreachable, closed the call, or is going away (a search may be sent again). */
function unavailable(err: unknown): boolean {
  const e = err as { code?: number; message?: string; details?: string };
  return e?.code === 14 || e?.code === 1 || notSent(err) || /UNAVAILABLE|Connection dropped|GOAWAY|stopping|not ready/i.test(`${e?.message ?? ''} ${e?.details ?? ''}`);
}

/** A Milvus status that says the proxy is stopping or not ready (the request was not executed). */
function refusedStatus(res: unknown): boolean {
  const st = (res as { status?: { error_code?: string | number; code?: number; reason?: string } } | undefined)?.status;
  if (!st) return false;
  return /stopping|not ready|NotReady|ServiceUnavailable|is shutting down/i.test(`${st.reason ?? ''} ${String(st.error_code ?? '')}`);
}

/**
 * A client that knows both proxies: two Node SDK clients; a request goes to the current one and, when that proxy
 * is unavailable, to the other (which becomes current). Inserts move only when they were certainly not sent.
 */
class TwoProxyClient extends ProxyClient {
  private readonly clients: MilvusClient[];
  private current = 0;
  /** Requests that went to the other proxy after the first answered unavailable. */
  moves = 0;

  constructor(addresses: string[], first: number, label: string, private readonly idempotent: boolean) {
    super(addresses, 10_000, false, label);
    this.clients = addresses.map((address) => {
      const c = new MilvusClient({ address, timeout: 10_000, maxRetries: 0, logLevel: 'error' });
      c.connectPromise.catch(() => undefined);
      return c;
    });
    this.current = first;
  }

  override get address(): string {
    return this.addresses[this.current]!;
  }

  override async call<T>(fn: (c: MilvusClient) => Promise<T>): Promise<T> {
    // Alternates between the proxies until one answers, within the call deadline (a restart takes seconds).
    const deadline = Date.now() + 30_000;
    for (;;) {
      const i = this.current;
      const last = Date.now() > deadline;
      try {
        const res = await fn(this.clients[i]!);
        if (!last && refusedStatus(res)) {
          this.moveFrom(i);
          continue;
        }
        return res;
      } catch (err) {
        if (last || !(this.idempotent ? unavailable(err) : notSent(err))) throw err;
        this.moveFrom(i);
        await sleep(100);
      }
    }
  }

  /**
   * Moves to the other proxy; the one that failed gets a fresh SDK client, as the old one's channel stays in
   * gRPC's reconnect backoff (failing fast with "No connection established") for a while after its proxy is back.
   */
  private moveFrom(i: number): void {
    if (this.current !== i) return;
    const old = this.clients[i]!;
    old.closeConnection().catch(() => undefined);
    const c = new MilvusClient({ address: this.addresses[i]!, timeout: 10_000, maxRetries: 0, logLevel: 'error' });
    c.connectPromise.catch(() => undefined);
    this.clients[i] = c;
    this.current = (i + 1) % this.clients.length;
    this.moves++;
  }

  override async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.closeConnection().catch(() => undefined)));
    await super.close();
  }
}

/** Failed requests by kind and error text (ports and numbers dropped), for the report. */
function failureKinds(load: Workload): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of load.samples.filter((x) => !x.ok)) {
    const key = `${s.kind}: ${(s.error ?? '?').replace(/\d+/g, 'N').slice(0, 90)}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;

beforeAll(async () => {
  chaos = await ChaosCluster.start({
    querynodes: 2,
    datanodes: 2,
    proxies: 2,
    sessionTtlSeconds: 3,
    env: { KITE_DATANODE_SEGMENT_MAX_ROWS: '500' },
  });
  await chaos.addComponent('querycoord', 'healthz');
  admin = new MilvusClient({ address: `127.0.0.1:${chaos.info.proxy.grpc}`, timeout: 60_000, logLevel: 'error' });
  await admin.connectPromise;
  fx = await setupCollection(chaos, admin, 'chaos_roll', { rows: 3000, shards: 2, replicas: 2, seed: 404 });
}, 480_000);

afterAll(async () => {
  await admin?.closeConnection().catch(() => undefined);
  if (chaos) {
    const errors = chaos.grep(/"level":(50|60)/, 15);
    if (errors.length) console.warn(`error lines in the cluster logs:\n${errors.join('\n')}`);
    await chaos.dispose();
  }
}, 240_000);

test('rolling restart of every component under search and insert load: nothing fails, nothing is lost', async () => {
  const proxies = chaos.components('proxy').map((p) => chaos.address(p));
  expect(proxies).toHaveLength(2);
  const before = chaos.info.components.map((c) => ({ role: c.role, pid: c.pid }));
  const searchers = [new TwoProxyClient(proxies, 0, 'S0', true), new TwoProxyClient(proxies, 1, 'S1', true)];
  const inserter = new TwoProxyClient(proxies, 0, 'I', false);
  const counter = new TwoProxyClient(proxies, 1, 'C', true);
  const all = [...searchers, inserter, counter];
  const load = new Workload({ collection: fx.name, searchers, inserter, counter, probes: fx.probes, data: fx.data, maxPerLoop: 100_000 });
  try {
    load.start();
    // A baseline: the load runs on the whole cluster first.
    const baselineUntil = Date.now() + 60_000;
    while (load.window('search').length < 20 && Date.now() < baselineUntil) await sleep(200);
    const baseline = load.stats('search');
    const t0 = Date.now();
    const res = await runKite(['cluster', 'rolling-restart', '--data-dir', chaos.dataDir], process.env, 1_200_000);
    const rollMs = Date.now() - t0;
    // Some load on the restarted cluster too.
    const after = load.window('search').length;
    const postUntil = Date.now() + 60_000;
    while (load.window('search').length < after + 20 && Date.now() < postUntil) await sleep(200);
    await load.stop();
    // cluster.json now names the new processes: the launcher's `cluster down` must stop those.
    chaos.cluster.info = JSON.parse(fs.readFileSync(path.join(chaos.dataDir, 'cluster.json'), 'utf8')) as ClusterFile;

    console.log(`[rolling] bin/kite cluster rolling-restart: exit ${res.code} after ${(rollMs / 1000).toFixed(1)} s\n${res.stderr.trim()}`);
    expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr }).toEqual({ code: 0, stderr: '' });
    const summary = JSON.parse(res.stdout) as { restarts: RestartRecord[]; totalSeconds: number };
    const times = summary.restarts.map(
      (r) =>
        `  ${r.role.padEnd(10)} ${String(r.oldServerID).padStart(3)} -> ${String(r.serverID).padEnd(3)} stop ${r.stopSeconds.toFixed(1)} s${r.killed ? ' (SIGKILL)' : ''}, ready ${r.readySeconds.toFixed(1)} s, settled ${r.settleSeconds.toFixed(1)} s, total ${r.totalSeconds.toFixed(1)} s — ${r.settled}`,
    );
        const searches = statsOf(load.window('search', t0, t0 + rollMs));
    const inserts = statsOf(load.window('insert', t0, t0 + rollMs));
    const counts = statsOf(load.window('count', t0, t0 + rollMs));
    const everySearch = load.stats('search');
    const everyInsert = load.stats('insert');
    const everyCount = load.stats('count');
    const verify = await verifyData(counter, fx.name, fx.data, fx.probes, 120_000);
    const dead = deadComponents(chaos);
    const fmt = (s: ReturnType<typeof statsOf>): string => `${s.sent} sent, ${s.failed} failed, p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms${s.errors.length ? ` (${s.errors.join(' | ')})` : ''}`;
    console.log(
      [
        `[rolling] per-component restart times (${summary.totalSeconds.toFixed(1)} s in all):`,
        ...times,
        `  baseline searches: ${fmt(baseline)}`,
        `  during the restart: searches ${fmt(searches)}`,
        `  during the restart: inserts ${fmt(inserts)}`,
        `  during the restart: count(*) ${fmt(counts)}`,
        `  whole run: searches ${everySearch.sent}/${everySearch.failed} failed, inserts ${everyInsert.sent}/${everyInsert.failed} failed, count(*) ${everyCount.sent}/${everyCount.failed} failed`,
        `  failures by kind: ${JSON.stringify(failureKinds(load))}`,
        `  requests moved to the other proxy: ${all.map((c) => `${c.label} ${c.moves}`).join(', ')}`,
        `  verify: acked ${verify.acked}, count(*) ${verify.count}, distinct ${verify.distinct}, missing ${verify.missing.length}, duplicates ${verify.duplicates.length}, failed-but-stored ${verify.failedButStored}`,
        ...(dead.length ? [`  dead: ${dead.join(', ')}`] : []),
      ].join('\n'),
    );

    // Every component was restarted once, in the order the command documents, and runs now.
    expect(summary.restarts.map((r) => r.role)).toEqual(['querynode', 'querynode', 'datanode', 'datanode', 'querycoord', 'querycoord', 'proxy', 'proxy']);
    for (const b of before) expect(running(b.pid)).toBe(false);
    expect(summary.restarts.filter((r) => r.pid === r.oldPid || !running(r.pid))).toEqual([]);
    expect(dead).toEqual([]);
    expect(summary.restarts.filter((r) => r.killed).map((r) => `${r.role}-${r.oldServerID}`)).toEqual([]);
    // The load ran through the whole restart, on both proxies.
    expect(searches.sent).toBeGreaterThan(50);
    expect(inserts.sent).toBeGreaterThan(20);
    expect({ searchesFailed: everySearch.failed, insertsFailed: everyInsert.failed, countsFailed: everyCount.failed, errors: [...everySearch.errors, ...everyInsert.errors, ...everyCount.errors] }).toEqual({
      searchesFailed: 0,
      insertsFailed: 0,
      countsFailed: 0,
      errors: [],
    });
    expect(intact(verify)).toEqual(INTACT);
    expect(verify.count).toBe(verify.acked);
  } finally {
    await load.stop().catch(() => undefined);
    await Promise.all(all.map((c) => c.close()));
  }
});
