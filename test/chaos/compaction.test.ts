/**
 * kill -9 of the data node running a compaction plan, under continuous Strong searches, inserts and count(*) through
 * the Node SDK, on a cluster of 2 query nodes (2 replicas), 2 data nodes, 1 proxy, session TTL 3 s, with garbage
 * collection on a short grace period. The plan must complete on the other data node (it is sent again), searches
 * keep complete answers all along (through the kill, the handoff to the result and the removal of the sources'
 * files), every acknowledged row is there once, sealed segments hold each row once, and the sources' files go.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { readSegments } from '../cluster/inspect';
import { flushAndWait } from '../cluster/scenario';
import { sleep } from '../harness/util';
import { eventually, expectOk } from '../standalone/helpers';
import { ChaosCluster } from './chaos';
import { clientsOn, setupCollection, type Fixture } from './scenarios';
import { INTACT, intact, verifyData, Workload, type ProxyClient } from './workload';

jest.setTimeout(600_000);

let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;
let proxy = '';
const open: ProxyClient[] = [];

beforeAll(async () => {
  chaos = await ChaosCluster.start({
    querynodes: 2,
    datanodes: 2,
    proxies: 1,
    sessionTtlSeconds: 3,
    env: {
      KITE_DATANODE_SEGMENT_MAX_ROWS: '1000',
      KITE_COMPACTION_ENABLED: 'false',
      KITE_COMPACTION_CHECK_INTERVAL_MS: '500',
      KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '1000',
      KITE_COMPACTION_GC_GRACE_SECONDS: '5',
      KITE_COMPACTION_GC_INTERVAL_SECONDS: '1',
    },
  });
  proxy = `127.0.0.1:${chaos.info.proxy.grpc}`;
  admin = new MilvusClient({ address: proxy, timeout: 60_000, logLevel: 'error' });
  await admin.connectPromise;
  // A slow index build makes the plan run long enough for the kill to land in it.
  fx = await setupCollection(chaos, admin, 'chaos_compact', { rows: 10_000, shards: 1, replicas: 2, seed: 404, hnsw: { M: 48, efConstruction: 400 } });
}, 600_000);

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await admin?.closeConnection().catch(() => undefined);
  if (chaos) {
    const errors = chaos.grep(/"level":(50|60)/, 15);
    if (errors.length) console.warn(`error lines in the cluster logs:\n${errors.join('\n')}`);
    await chaos.dispose();
  }
}, 180_000);

/** Segment ids of a collection with files in the local object store. */
function segmentDirs(collectionID: number): Set<number> {
  const out = new Set<number>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === 'segments' && path.basename(dir) === String(collectionID) && path.basename(path.dirname(dir)) === 'collections') {
        for (const s of fs.readdirSync(p, { withFileTypes: true })) if (s.isDirectory() && fs.readdirSync(path.join(p, s.name)).length > 0) out.add(Number(s.name));
      } else walk(p);
    }
  };
  walk(chaos.cluster.objectsDir);
  return out;
}

/** The JSON log lines of a component that mention a compaction. */
function planLines(log: string, compactionID: string): { msg: string; sources?: number[] }[] {
  const out: { msg: string; sources?: number[] }[] = [];
  for (const l of fs.readFileSync(log, 'utf8').split('\n')) {
    if (!l.includes(`"compaction":${compactionID}`)) continue;
    try {
      out.push(JSON.parse(l) as { msg: string; sources?: number[] });
    } catch {
      // a line cut by the kill
    }
  }
  return out;
}

test('kill -9 of the data node running a compaction under load: completes elsewhere, searches stay complete, each row once, sources collected', async () => {
  const c = clientsOn(proxy);
  open.push(...c.all);
  const w = new Workload({ collection: fx.name, searchers: c.searchers, inserter: c.inserter, counter: c.counter, probes: fx.probes, data: fx.data });
  w.start();
  let faultAt = 0;
  let sources: number[] = [];
  let stateAtKill = '';
  let completedOn: string[] = [];
  try {
    await sleep(3000);
    const res = await admin.compact({ collection_name: fx.name });
    expectOk(res.status, 'compact');
    const id = String(res.compactionID);
    const runner = await eventually('a data node starts the plan', async () => chaos.live('datanode').find((d) => planLines(d.log, id).some((l) => l.msg === 'compaction plan started')), 120_000);
    faultAt = Date.now();
    await chaos.kill9(runner);
    stateAtKill = String((await admin.getCompactionState({ compactionID: id })).state);
    sources = planLines(runner.log, id).find((l) => l.msg === 'compaction plan started')?.sources ?? [];
    await eventually('the plan completed on the other data node', async () => {
      completedOn = chaos.components('datanode').filter((d) => planLines(d.log, id).some((l) => l.msg === 'compaction plan completed')).map((d) => `datanode-${d.serverID}`);
      return completedOn.length > 0 ? true : undefined;
    }, 300_000);
    expect(completedOn).not.toContain(`datanode-${runner.serverID}`);
    await eventually('the sources\' files collected', async () => {
      const dirs = segmentDirs(fx.collectionID);
      return sources.every((s) => !dirs.has(s)) ? true : undefined;
    }, 180_000);
    // Load goes on a little after the collection.
    await sleep(3000);
  } finally {
    await w.stop();
  }
  const searches = w.stats('search', faultAt);
  const counts = w.stats('count', faultAt);
  const inserts = w.stats('insert', faultAt);
  console.log(`[chaos] compaction kill -9: plan sources ${sources.join(',')}, state at kill ${stateAtKill}, completed on ${completedOn.join(',')}; searches ${searches.sent} sent ${searches.failed} failed, count(*) ${counts.sent}/${counts.failed}, inserts ${inserts.sent}/${inserts.failed}`);
  expect(stateAtKill).toBe('Executing');
  expect(sources.length).toBeGreaterThan(1);
  expect(searches.errors).toEqual([]);
  expect(searches.failed).toBe(0);
  expect(searches.sent).toBeGreaterThan(20);
  expect(counts.failed).toBe(0);
  expect(inserts.failed).toBe(0);
  const verify = await verifyData(c.checker, fx.name, fx.data, fx.probes);
  expect(intact(verify)).toEqual(INTACT);
  // Sealed, the segment records hold every acknowledged row exactly once (a doubled plan would count its rows twice).
  await flushAndWait(admin, fx.name, 120_000);
  const sealedRows = (await readSegments(chaos.cluster.etcdEndpoints, fx.collectionID)).reduce((a, s) => a + s.numRows, 0);
  expect(sealedRows).toBe(fx.data.acked());
});
