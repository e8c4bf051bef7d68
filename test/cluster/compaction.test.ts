/**
 * Compaction in cluster mode (separate processes): two query nodes serving two replicas, two data nodes. Reads run
 * all through a compaction, its handoff on both replicas, and a kill -9 of the data node running the plan: none
 * fails, misses or duplicates a row; the plan completes on the other data node and the rows are there once.
 */
jest.mock('uuid', () => jest.requireActual('../support/uuid-shim'));

import { readFileSync } from 'node:fs';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { eventually, expectOk, waitIndexBuilt } from '../standalone/helpers';
import { KiteCluster } from './launcher';
import { Model, count, createCollection, allIds, diffIds, flushAndWait, insertRows, loadAndWait, makeRows } from './scenario';

jest.setTimeout(600_000);

const NAME = 'cluster_compaction';
const ROWS = 12_000;

let cluster: KiteCluster;
let client: MilvusClient;
const model = new Model();

beforeAll(async () => {
  cluster = await KiteCluster.start({
    querynodes: 2,
    datanodes: 2,
    proxies: 1,
    env: {
      KITE_DATANODE_SEGMENT_MAX_ROWS: '2000',
      KITE_DATANODE_SEAL_IDLE_MS: '600000',
      KITE_COMPACTION_ENABLED: 'false',
      KITE_COMPACTION_CHECK_INTERVAL_MS: '500',
      KITE_COMPACTION_SOURCE_RELEASE_GRACE_MS: '1000',
    },
  });
  client = new MilvusClient({ address: cluster.address, timeout: 60_000, logLevel: 'info' });
  await client.connectPromise;
}, 300_000);

afterAll(async () => {
  await client?.closeConnection().catch(() => undefined);
  await cluster?.dispose();
}, 180_000);

async function metric(re: RegExp): Promise<number> {
  let sum = 0;
  for (const c of cluster.components('querycoord')) {
    const text = await (await fetch(`http://127.0.0.1:${c.metrics}/metrics`)).text();
    for (const m of text.matchAll(re)) sum += Number(m[1]);
  }
  return sum;
}

test('reads through a compaction and a kill -9 of its data node: never failed, missing or doubled', async () => {
  await createCollection(client, NAME, 1);
  const rows = makeRows(ROWS, 0, 41);
  await insertRows(client, NAME, model, rows, 2000);
  await flushAndWait(client, NAME);
  const deleted = rows.filter((r) => r.id % 5 === 0).map((r) => r.id);
  for (let i = 0; i < deleted.length; i += 1000) {
    expectOk((await client.delete({ collection_name: NAME, filter: `id in [${deleted.slice(i, i + 1000).join(',')}]` })).status, 'delete');
  }
  model.remove(deleted);
  await flushAndWait(client, NAME);
  // A slow index build makes the plan run long enough for the kill to land in it.
  expectOk(await client.createIndex({ collection_name: NAME, field_name: 'vector', index_type: 'HNSW', metric_type: 'L2', params: { M: 48, efConstruction: 500 } }), 'index');
  await waitIndexBuilt(client, NAME, 'vector', 300_000);
  await loadAndWait(client, NAME, 2, 300_000);
  const served = (): Promise<number> => metric(new RegExp(`kite_querycoord_segments\\{collection="${NAME}",state="served"\\} (\\d+)`, 'g'));
  const pending = (): Promise<number> => metric(new RegExp(`kite_querycoord_segments\\{collection="${NAME}",state="pending"\\} (\\d+)`, 'g'));
  await eventually('6 segments served', async () => ((await served()) === 6 && (await pending()) === 0 ? true : undefined), 120_000);

  let stop = false;
  let reads = 0;
  const failures: string[] = [];
  const reader = (async () => {
    while (!stop) {
      try {
        const d = diffIds(model, await allIds(client, NAME, ROWS, 4000));
        if (d.missing.length || d.extra.length || d.wrongN.length) failures.push(`ids differ: ${JSON.stringify(d)}`);
        const n = await count(client, NAME);
        if (n !== model.rows.size) failures.push(`count ${n}, expected ${model.rows.size}`);
        reads++;
      } catch (e) {
        failures.push(`read failed: ${(e as Error).message}`);
      }
    }
  })();
  try {
    const res = await client.compact({ collection_name: NAME });
    expectOk(res.status, 'compact');
    const id = String(res.compactionID);
    // The data node that runs the plan logs it; kill it while the plan executes.
    const runner = await eventually('a data node starts the plan', async () =>
      cluster.components('datanode').find((c) => readFileSync(c.log, 'utf8').includes(`"compaction":${id}`)), 120_000);
    process.kill(runner.pid, 'SIGKILL');
    const state = await client.getCompactionState({ compactionID: id });
    expect(String(state.state)).toBe('Executing');
    await eventually('compaction completed on the other data node', async () => {
      const s = await client.getCompactionState({ compactionID: id });
      return String(s.state) === 'Completed' ? s : undefined;
    }, 300_000);
    const plans = await client.getCompactionStateWithPlans({ compactionID: id });
    expect(plans.mergeInfos).toHaveLength(1);
    await eventually('the result served by both replicas', async () => ((await served()) === 1 && (await pending()) === 0 ? true : undefined), 300_000);
    const until = Date.now() + 4000;
    await eventually('sources released under reads', async () => (Date.now() > until ? true : undefined), 60_000);
  } finally {
    stop = true;
    await reader;
  }
  expect(failures.slice(0, 5)).toEqual([]);
  expect(reads).toBeGreaterThan(3);
  expect(diffIds(model, await allIds(client, NAME, ROWS, 4000))).toEqual({ missing: [], extra: [], wrongN: [] });
  expect(Number((await client.getCollectionStatistics({ collection_name: NAME })).data.row_count)).toBe(model.rows.size);
});
